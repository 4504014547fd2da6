"""What the workers of a Dask cluster run, asked through the cell's own client.

When the thread that runs the cell waits in ``distributed``'s client (``client.gather``,
``future.result()``, ``dask.compute``), the dump asks the scheduler for the stack of every
task that runs on a worker, as ``Client.call_stack`` does, and shows them by worker. This
reaches workers of any cluster, on this machine or not; a worker process of this kernel
also answers for its whole process (``children.py``).

Unlike the rest of a dump, this runs library code: ``Client.sync`` queues the question on
the client's IO loop thread (never the cell's thread, which only waits for that loop) and
waits for the answer. It runs on a disposable thread with signals blocked, which the dump
waits for at most ``ASK_SECONDS``: a scheduler that does not answer costs the dump that
long, once; until that question ends, the next dumps do not ask again. Nothing is imported:
a kernel that has not imported ``distributed`` is never asked about it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
from typing import Any

from .capture import FrozenStacks, resolve
from .classify import FrameClassifier, RawFrame
from .foreign import Code, find_cells
from .signals import start_deaf
from .snapshot import DaskReport, DaskWorker, StackSnapshot, TaskStack

ASK_SECONDS = 1.0
MAX_WORKERS = 1000
MAX_TASKS = 2000  # in all
MAX_FRAMES = 500  # per task, innermost kept
NO_ANSWER = "no answer from the scheduler within {seconds:g} s"
STILL_ASKING = "not asked: the scheduler has not answered an earlier dump's question yet"
_CLIENT = os.path.join("distributed", "client.py")
_FRAME = re.compile(r'\s*File "([^\n]*)", line (\d+), in ([^\n]*)\n\t?(.*)', re.DOTALL)
# The frames of a worker thread before the task's own function: Dask's, and the thread's.
_WORKER = tuple(os.path.join(os.sep, name, "") for name in ("distributed", "dask"))
_THREADING = ("threading.py", os.path.join("concurrent", "futures", ""))
# What Client.sync raises when its callback_timeout passes (3.10: asyncio's own class).
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)


class DaskAsker:
    """Asks the cell's Dask client what its workers run; one question at a time."""

    def __init__(self, seconds: float = ASK_SECONDS) -> None:
        self.seconds = seconds
        self.asking: threading.Thread | None = None

    def ask(self, snapshot: StackSnapshot, classifier: FrameClassifier) -> None:
        """Add ``snapshot.dask`` when the cell's thread waits on a Dask client."""
        if not _waits_on_dask(snapshot):
            return
        client = _default_client()
        if client is None:
            return
        scheduler = getattr(getattr(client, "scheduler", None), "address", "")
        report = DaskReport(scheduler if isinstance(scheduler, str) else "")
        snapshot.dask = report
        if getattr(client, "asynchronous", False) is True:
            report.note = "not asked: an asynchronous client runs on the kernel's own loop"
            return
        if self.asking is not None and self.asking.is_alive():
            report.note = STILL_ASKING
            return
        answer: list[Any] = []
        thread = threading.Thread(
            target=_call_stack, args=(client, self.seconds, answer), name="ipysigtrace-dask"
        )
        thread.daemon = True
        start_deaf(thread)
        thread.join(self.seconds + 0.25)  # its own timeout ends it a little before
        if thread.is_alive() or not answer or isinstance(answer[0], _TIMEOUTS):
            self.asking = thread
            report.note = NO_ANSWER.format(seconds=self.seconds)
            return
        if isinstance(answer[0], BaseException):
            report.note = f"the scheduler's answer was an error: {_error_text(answer[0])}"
            return
        try:
            report.workers = _workers(answer[0], classifier)
        except ValueError as exc:
            report.note = f"the scheduler's answer could not be read ({str(exc)[:100]})"


def _waits_on_dask(snapshot: StackSnapshot) -> bool:
    thread = snapshot.thread(snapshot.cell_thread) if snapshot.cell_thread else None
    return thread is not None and any(f.filename.endswith(_CLIENT) for f in thread.frames)


def _default_client() -> Any:
    module = sys.modules.get("distributed.client")
    find = getattr(module, "_get_global_client", None)
    if not callable(find):
        return None
    try:
        return find()  # the client the cell made last (a dict lookup, no I/O)
    except Exception:
        return None


def _call_stack(client: Any, seconds: float, answer: list[Any]) -> None:
    try:
        call = client.scheduler.call_stack
        answer.append(client.sync(call, keys=None, callback_timeout=seconds))
    except BaseException as exc:  # library code: anything, and never into the dump
        answer.append(exc)


def _error_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def _workers(answer: Any, classifier: FrameClassifier) -> list[DaskWorker]:
    """The scheduler's answer, ``{worker: {key: [frame text, ...]}}``, checked and resolved."""
    if not isinstance(answer, dict) or len(answer) > MAX_WORKERS:
        raise ValueError(f"not a map of at most {MAX_WORKERS} workers")
    chains: dict[int, list[RawFrame]] = {}
    texts: dict[tuple[str, int], str] = {}  # each frame's line as the worker read it
    keys: list[tuple[str, str]] = []  # (worker, task key), by the chain's number
    for address, tasks in answer.items():
        if not isinstance(address, str) or not isinstance(tasks, dict):
            raise ValueError("a worker is not an address and its tasks")
        for key, frames in tasks.items():
            if len(keys) >= MAX_TASKS:
                raise ValueError(f"more than {MAX_TASKS} tasks")
            if not isinstance(frames, (list, tuple)):
                raise ValueError(f"{address}: the stack of a task is not a list")
            chain = _chain([_parse(frame) for frame in frames[-MAX_FRAMES:]])
            chains[len(keys)] = [raw for raw, _ in chain]
            texts.update(((raw[0].co_filename, raw[1]), line) for raw, line in chain)
            keys.append((address, key_text(key)))
    find_cells(list(chains.values()), classifier)
    names: dict[int, tuple[str, int | None, bool]] = {
        n: (key, None, False) for n, (_, key) in enumerate(keys)
    }
    resolved = resolve(FrozenStacks(0.0, chains, names, None, 0.0), classifier)
    workers: dict[str, DaskWorker] = {}
    for thread in resolved.threads:
        for record in thread.frames:
            line = texts.get((record.filename, record.lineno))
            if line and record.kind != "cell":
                record.line = line  # the worker's file, as the worker read it
        address = keys[thread.ident][0]
        worker = workers.setdefault(address, DaskWorker(address))
        worker.tasks.append(TaskStack(thread.name, thread.frames))
    return [workers[address] for address in sorted(workers)]


def _parse(frame: Any) -> tuple[RawFrame, str]:
    if not isinstance(frame, str):
        raise ValueError("a frame is not text")
    found = _FRAME.fullmatch(frame)
    if found is None:
        raise ValueError(f"a frame is not 'File ..., line N, in name': {frame[:60]!r}")
    filename, lineno, name, line = found.groups()
    return (Code(filename, name, name), int(lineno)), line.strip()  # type: ignore[return-value]


def _chain(parsed: list[tuple[RawFrame, str]]) -> list[tuple[RawFrame, str]]:
    """The task's frames from its own function on (Dask's frames before it left out)."""
    start = 0
    for index, ((code, _), _) in enumerate(parsed):
        filename = code.co_filename
        if filename.endswith(_THREADING) or any(part in filename for part in _WORKER):
            start = index + 1
        else:
            break
    return parsed[start:] or parsed[-1:]


def key_text(key: Any, depth: int = 0) -> str:
    """A task key as Dask writes it: 'slow-6f1c', or "('getitem-9a2b', 0, 1)"."""
    if isinstance(key, str):
        return key if depth == 0 else repr(key)
    if isinstance(key, bool) or not isinstance(key, (int, float, tuple, list)):
        return f"<{type(key).__name__}>"
    if isinstance(key, (int, float)):
        return repr(key)
    if depth > 3:
        return "(...)"
    inner = ", ".join(key_text(part, depth + 1) for part in key[:10])
    more = ", ..." if len(key) > 10 else ""
    return f"({inner}{',' if len(key) == 1 else ''}{more})"
