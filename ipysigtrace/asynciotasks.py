"""The pending asyncio tasks of every event loop, by the thread that runs it.

A cell suspended in an ``await`` has no frame on its thread's stack below the loop: where
it waits is in the chain of coroutines its task awaits. That chain is read here the way
``capture.freeze`` reads a stack: attribute reads in C only (exact types; no user code, no
lock), at the same moment.
"""

from __future__ import annotations

import asyncio
from types import CoroutineType, FrameType, GeneratorType
from typing import Any

from .classify import RawFrame
from .values import frame_namespace, is_one_of

MAX_TASK_DEPTH = 200  # coroutines followed down one task's await chain
_AWAITED = {"FutureIter": "Future"}  # asyncio's C future iterator, as a user knows it

# A pending asyncio task: name, await chain (outermost first), what it awaits, and with
# locals asked for, each coroutine's namespace, aligned with the chain.
PendingTask = tuple[str, list[RawFrame], str, list[dict[str, Any] | None] | None]


def pending_tasks(
    with_locals: bool = False, locals_depth: int = 30
) -> dict[int, list[PendingTask]]:
    """Pending asyncio tasks by the thread running their loop; only attribute reads (and,
    ``with_locals``, each suspended coroutine's namespace, as ``freeze`` reads a frame's)."""
    registry = getattr(asyncio.tasks, "_scheduled_tasks", None)
    if registry is None:
        registry = getattr(asyncio.tasks, "_all_tasks", None)
    if registry is None:
        return {}
    for _ in range(3):  # the loop's thread may add a task while we copy the set
        try:
            tasks = list(registry)
            break
        except RuntimeError:
            continue
    else:
        return {}
    out: dict[int, list[PendingTask]] = {}
    exact = (asyncio.Task, getattr(asyncio.tasks, "_PyTask", asyncio.Task))
    for task in tasks:
        # asyncio's own Task types only: a subclass's attributes could be user properties.
        if not is_one_of(type(task), exact):
            continue
        thread = getattr(getattr(task, "_loop", None), "_thread_id", None)
        if getattr(task, "_state", None) != "PENDING" or thread is None:
            continue
        chain: list[RawFrame] = []
        coro_frames: list[FrameType] = []
        awaiting = ""
        coro = getattr(task, "_coro", None)
        # Only exact coroutine and generator types are followed: their attributes are
        # read in C, while an arbitrary awaitable's __getattr__ would be user code.
        while len(chain) < MAX_TASK_DEPTH:
            if type(coro) is CoroutineType:
                frame, inner = coro.cr_frame, coro.cr_await
            elif type(coro) is GeneratorType:
                frame, inner = coro.gi_frame, coro.gi_yieldfrom
            else:
                awaiting = _AWAITED.get(type(coro).__name__, type(coro).__name__)
                awaiting = awaiting if coro is not None else ""
                break
            if frame is None:
                break
            chain.append((frame.f_code, frame.f_lineno or 0))
            coro_frames.append(frame)
            coro = inner
        spaces = None
        if with_locals:  # the innermost coroutines' namespaces, as for a thread's frames
            inner_from = len(coro_frames) - locals_depth
            spaces = [
                frame_namespace(f) if i >= inner_from else None for i, f in enumerate(coro_frames)
            ]
        out.setdefault(thread, []).append((str(task.get_name()), chain, awaiting, spaces))
    return out
