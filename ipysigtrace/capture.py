"""Capture every thread's stack in two phases: freeze, then resolve.

``freeze`` runs while the picture must stay consistent: it walks ``sys._current_frames()``
and keeps only code objects and line numbers. It does no I/O, calls no user code, takes no
lock and imports nothing, so it is safe on the watcher thread while another thread is stuck
holding any lock (an import lock, a stream lock, a logging lock).

``resolve`` runs afterwards and may be slower: it folds recursion, reads source lines
(``sources``: regular files of sane size only, never blocking, never importing), labels
cell frames and guesses what each thread is doing.

Everything ``resolve`` needs that could import a module is prepared when the extension
loads (``FrameClassifier`` is built then).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import CodeType
from typing import Any

from . import sources
from .asynciotasks import PendingTask, pending_tasks
from .classify import FrameClassifier, RawFrame, is_service, mark_beneath_cell
from .snapshot import FrameRecord, StackSnapshot, TaskStack, ThreadStack, natural_key
from .threadstate import guess_state, real_state
from .values import Repr, frame_namespace, safe_locals

CacheKey = tuple[RawFrame, str]

# Fold a run of frames when this many (or more) repeats of it sit back to back.
FOLD_MIN_REPEATS = 3
FOLD_MAX_SPAN = 4
CONTEXT_LINES = 2  # source lines shown before and after the current one (cell, user frames)
LOCALS_DEPTH = 30  # innermost frames per thread whose locals are kept


@dataclass
class FrozenStacks:
    """What ``freeze`` saw: raw stacks (outermost first) and thread attributes."""

    time: float
    stacks: dict[int, list[RawFrame]]
    threads: dict[int, tuple[str, int | None, bool]]
    main_ident: int | None
    seconds: float
    # With locals asked for: each stack's namespaces, aligned with its frames, for the
    # innermost LOCALS_DEPTH frames (None elsewhere).
    namespaces: dict[int, list[dict[str, Any] | None]] | None = None
    # Pending asyncio tasks by the thread that runs their loop.
    tasks: dict[int, list[PendingTask]] | None = None
    # Threads whose top frames were ours (``skip_top``: the signal handler, which waits for
    # the watcher): what the OS says of them is our wait, not theirs.
    in_handler: frozenset[int] = frozenset()


def freeze(
    skip_idents: Iterable[int] = (),
    skip_top: frozenset[CodeType] = frozenset(),
    with_locals: bool = False,
    task_locals: bool | None = None,
) -> FrozenStacks:
    """Walk every thread's frames now. Safe anywhere: no I/O, no locks, no user code.

    ``skip_idents`` leaves threads out (the watcher itself); ``skip_top`` drops frames of
    these code objects from the top of a stack (our own signal handler). ``with_locals``
    also keeps the innermost frames' namespaces, read by C code with no user code
    (``values.frame_namespace``); they are only formatted later, safely.
    """
    start = time.perf_counter()
    now = time.time()
    frames = sys._current_frames()
    # A plain copy of the registry, not threading.enumerate(): that takes a lock.
    active = dict(threading._active)  # type: ignore[attr-defined]
    skip = set(skip_idents)
    handled: set[int] = set()
    stacks: dict[int, list[RawFrame]] = {}
    namespaces: dict[int, list[dict[str, Any] | None]] = {}
    top = frame = None
    for ident, top in frames.items():
        if ident in skip:
            continue
        chain: list[RawFrame] = []
        spaces: list[dict[str, Any] | None] = []
        frame = top
        while frame is not None:
            chain.append((frame.f_code, frame.f_lineno or 0))
            if with_locals:
                spaces.append(frame_namespace(frame) if len(spaces) < LOCALS_DEPTH else None)
            frame = frame.f_back
        while chain and chain[0][0] in skip_top:
            handled.add(ident)
            del chain[0]
            if spaces:
                del spaces[0]
        chain.reverse()
        stacks[ident] = chain
        if with_locals:
            spaces.reverse()
            namespaces[ident] = spaces
    del frames, top, frame  # hold no frame (and so no locals) longer than needed
    threads = {}
    for ident, thread in active.items():
        # Private attributes: the public properties could be overridden by user code.
        threads[ident] = (
            str(getattr(thread, "_name", "?")),
            getattr(thread, "_native_id", None),
            bool(getattr(thread, "_daemonic", False)),
        )
    main = threading.main_thread()
    return FrozenStacks(
        time=now,
        stacks=stacks,
        threads=threads,
        main_ident=main.ident,
        seconds=time.perf_counter() - start,
        namespaces=namespaces if with_locals else None,
        tasks=pending_tasks(with_locals if task_locals is None else task_locals, LOCALS_DEPTH),
        in_handler=frozenset(handled),
    )


def fold(chain: list[RawFrame]) -> list[tuple[int, int, int]]:
    """Fold back-to-back repeats: returns (index, repeat, span) for each frame kept."""
    out: list[tuple[int, int, int]] = []
    i, n = 0, len(chain)
    while i < n:
        best_span, best_repeat = 1, 0
        for span in range(1, FOLD_MAX_SPAN + 1):
            block = chain[i : i + span]
            if len(block) < span:
                break
            repeat = 0
            j = i + span
            while chain[j : j + span] == block:
                repeat += 1
                j += span
            if repeat >= FOLD_MIN_REPEATS and repeat * span > best_repeat * best_span:
                best_span, best_repeat = span, repeat
        if best_repeat:
            out.append((i, best_repeat, best_span))
            out.extend((k, 0, 1) for k in range(i + 1, i + best_span))
            i += best_span * (best_repeat + 1)
        else:
            out.append((i, 0, 1))
            i += 1
    return out


def resolve(
    frozen: FrozenStacks,
    classifier: FrameClassifier,
    *,
    cell_thread: int | None = None,
    trigger: str = "magic",
    limit: int | None = None,
    reprs: Repr | None = None,
    in_handler: Callable[[], frozenset[int]] | None = None,
    pid: int | None = None,
) -> StackSnapshot:
    """Turn frozen stacks into a snapshot: fold, read source, label, classify.

    ``reprs``: call user reprs for locals (on disposable threads); else none is called.
    ``in_handler``: the threads inside our signal handler now (asked after the OS states
    are read): what the OS says of them is the handler's wait, so the frames' guess stays.
    ``pid``: the stacks are another process's (a worker's, ``children.py``): its threads'
    states are read from its /proc entries.
    """
    cache: dict[CacheKey, FrameRecord] = {}
    threads = []
    guesses: dict[int, str] = {}
    for ident, chain in frozen.stacks.items():
        name, native_id, daemon = frozen.threads.get(ident, (f"Thread-{ident}", None, False))
        spaces = frozen.namespaces.get(ident) if frozen.namespaces else None
        records = _records(chain, spaces, cache, classifier, reprs)
        if ident == cell_thread:
            mark_beneath_cell(records)
        tasks = [
            TaskStack(name, _records(coros, where, cache, classifier, reprs), awaiting)
            for name, coros, awaiting, where in (frozen.tasks or {}).get(ident, [])
        ]
        if limit is not None and limit >= 0:
            records = _limit(records, limit)
        guesses[ident] = guess_state(records)
        state = real_state(guesses[ident], native_id, pid)
        held_by = ""
        if state == LOCK_WAIT and spaces:
            owner = rlock_owner(chain, spaces, ident, cache, classifier)
            if owner is not None:
                held_by = f"{frozen.threads.get(owner, ('?',))[0]} (ident {owner})"
        threads.append(
            ThreadStack(
                ident=ident,
                name=name,
                native_id=native_id,
                daemon=daemon,
                is_main=ident == frozen.main_ident,
                runs_cell=ident == cell_thread,
                service=ident not in (cell_thread, frozen.main_ident)
                and is_service(records, classifier),
                state=state,
                frames=records,
                tasks=tasks,
                held_by=held_by,
            )
        )
    ours = frozen.in_handler | (in_handler() if in_handler else frozenset())
    for thread in threads:
        if thread.ident in ours:
            thread.state = guesses[thread.ident]
    threads.sort(key=lambda t: (not t.runs_cell, not t.is_main, t.service, natural_key(t.name)))
    return StackSnapshot(
        time=frozen.time,
        pid=os.getpid() if pid is None else pid,
        threads=threads,
        trigger=trigger,
        cell_thread=cell_thread,
        freeze_seconds=frozen.seconds,
    )


LOCK_WAIT = "waiting for a lock"
_C_RLOCK: type = threading._CRLock or type(None)  # type: ignore[attr-defined]
_PY_RLOCK: type = threading._PyRLock  # type: ignore[attr-defined]
_OWNER = re.compile(r" owner=(\d+) ")
_NAME = re.compile(r"[A-Za-z_]\w*")


def rlock_owner(
    chain: list[RawFrame],
    spaces: list[dict[str, Any] | None],
    ident: int,
    cache: dict[CacheKey, FrameRecord],
    classifier: FrameClassifier,
) -> int | None:
    """The thread that holds the RLock this thread waits for, when that is known without
    running user code; else None.

    The pure-Python RLock waits in its own ``acquire``, whose ``self`` holds ``_owner``.
    The C RLock waits in C: the innermost cell or user frame's line must name a local (or
    a module-level name) that is exactly a ``_thread.RLock``, whose C repr says its owner.
    Only exact types are read (no user ``__getattr__`` or ``__repr__`` runs), and only one
    held lock named on the line counts: with two, which one it waits for is a guess.
    """
    for index in range(len(chain) - 1, -1, -1):
        space = spaces[index] if index < len(spaces) else None
        code = chain[index][0]
        if space is None:
            continue
        me = _named(space, {"self"}).get("self") if code.co_name == "acquire" else None
        if type(me) is _PY_RLOCK:
            owner = vars(me).get("_owner")
            return owner if type(owner) is int and owner not in (0, ident) else None
        record = _cached(chain[index], cache, classifier)
        if record.kind not in ("cell", "user"):
            continue
        owners = set()
        for value in _named(space, set(_NAME.findall(record.line))).values():
            if type(value) is _C_RLOCK:
                found = _OWNER.search(repr(value))  # the C type's repr: no user code
                if found and int(found.group(1)) not in (0, ident):
                    owners.add(int(found.group(1)))
        return owners.pop() if len(owners) == 1 else None
    return None


def _named(space: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """The entries of a namespace with these names. Not ``space.get(name)``: a key that is
    not a str (``globals()[obj] = ...``) with the same hash would have its ``__eq__`` run."""
    return {k: v for k, v in list(space.items()) if type(k) is str and k in names}


def capture(
    classifier: FrameClassifier,
    *,
    cell_thread: int | None = None,
    trigger: str = "magic",
    skip_idents: Iterable[int] = (),
    skip_top: frozenset[CodeType] = frozenset(),
    limit: int | None = None,
    with_locals: bool = False,
    task_locals: bool | None = None,
    reprs: Repr | None = None,
    in_handler: Callable[[], frozenset[int]] | None = None,
) -> StackSnapshot:
    """Freeze, then resolve: the snapshot of every thread but those skipped.
    ``task_locals``: read asyncio tasks' locals too (default: as ``with_locals``)."""
    frozen = freeze(skip_idents, skip_top, with_locals or reprs is not None, task_locals)
    return resolve(
        frozen,
        classifier,
        cell_thread=cell_thread,
        trigger=trigger,
        limit=limit,
        reprs=reprs,
        in_handler=in_handler,
    )


def _records(
    chain: list[RawFrame],
    spaces: list[dict[str, Any] | None] | None,
    cache: dict[CacheKey, FrameRecord],
    classifier: FrameClassifier,
    reprs: Repr | None,
) -> list[FrameRecord]:
    """A thread's or a task's frames, folded, with the locals of its cell and user frames
    where ``spaces`` (aligned with ``chain``) has them."""
    records = []
    for index, repeat, span in fold(chain):
        raw = chain[index]
        record = _copy(_cached(raw, cache, classifier), repeat, span)
        space = spaces[index] if spaces else None
        if space is not None and record.kind in ("cell", "user"):
            shown = safe_locals(space, raw[0].co_name == "<module>", reprs)
            record = FrameRecord(**{**record.__dict__, "locals": shown})
        records.append(record)
    return records


def _cached(
    raw: RawFrame, cache: dict[CacheKey, FrameRecord], classifier: FrameClassifier
) -> FrameRecord:
    # Code objects that differ only in their file compare equal: the file is in the key.
    key = (raw, raw[0].co_filename)
    base = cache.get(key)
    if base is None:
        base = cache[key] = _record(raw, classifier)
    return base


def _record(raw: RawFrame, classifier: FrameClassifier) -> FrameRecord:
    code, lineno = raw
    filename = code.co_filename
    function = getattr(code, "co_qualname", code.co_name)
    label = classifier.label(filename)
    kind = "cell" if label else classifier.kind(filename, code.co_name)
    line = sources.line(filename, lineno).strip() if lineno else ""
    context, start = None, 0
    if kind in ("cell", "user") and lineno:
        found = sources.context(filename, lineno, CONTEXT_LINES)
        if found is not None:
            context, start = found
    return FrameRecord(
        filename=filename,
        lineno=lineno,
        function=function,
        line=line,
        label=label,
        kind=kind,
        cell_id=classifier.cell_id(label),
        context=context,
        context_start=start,
    )


def _copy(base: FrameRecord, repeat: int, span: int) -> FrameRecord:
    if not repeat:
        return base if base.repeat == 0 else FrameRecord(**{**base.__dict__, "repeat": 0})
    return FrameRecord(**{**base.__dict__, "repeat": repeat, "span": span})


def _limit(records: list[FrameRecord], limit: int) -> list[FrameRecord]:
    """Keep the innermost ``limit`` frames that views show (machinery frames are free)."""
    kept: list[FrameRecord] = []
    shown = 0
    for record in reversed(records):
        if record.kind != "machinery":
            if shown >= limit:
                break
            shown += 1
        kept.append(record)
    kept.reverse()
    return kept
