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

import asyncio
import os
import re
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import CodeType, CoroutineType, FrameType, GeneratorType
from typing import Any

from . import sources
from .snapshot import FrameRecord, StackSnapshot, TaskStack, ThreadStack, natural_key
from .threadstate import guess_state, real_state
from .values import Repr, frame_namespace, is_one_of, safe_locals

# A frame frozen: its code object and the line it is at.
RawFrame = tuple[CodeType, int]
CacheKey = tuple[RawFrame, str]

# Packages whose frames are the kernel's own machinery. Only modules that are already
# imported when the classifier is built count (the classifier never imports anything).
MACHINERY_MODULES = (
    "ipykernel",
    "ipykernel_launcher",
    "IPython",
    "jupyter_client",
    "traitlets",
    "tornado",
    "zmq",
    "asyncio",
    "anyio",
    "comm",
    "runpy",
    "prompt_toolkit",  # terminal IPython's prompt
    "ipysigtrace",
)
# The kernel's own packages: a thread that one of these started is a service thread (IOPub,
# Control, Heartbeat, history, terminal IPython's prompt, our watcher). Not asyncio or
# tornado: a library's event loop thread (Dask's) runs them too, and does the user's work.
KERNEL_MODULES = ("ipykernel", "IPython", "jupyter_client", "comm", "prompt_toolkit", "ipysigtrace")

# Fold a run of frames when this many (or more) repeats of it sit back to back.
FOLD_MIN_REPEATS = 3
FOLD_MAX_SPAN = 4
CONTEXT_LINES = 2  # source lines shown before and after the current one (cell, user frames)
LOCALS_DEPTH = 30  # innermost frames per thread whose locals are kept
MAX_TASK_DEPTH = 200  # coroutines followed down one task's await chain
_AWAITED = {"FutureIter": "Future"}  # asyncio's C future iterator, as a user knows it


# A pending asyncio task: name, await chain (outermost first), what it awaits, and with
# locals asked for, each coroutine's namespace, aligned with the chain.
PendingTask = tuple[str, list[RawFrame], str, list[dict[str, Any] | None] | None]


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
        tasks=pending_tasks(with_locals),
        in_handler=frozenset(handled),
    )


def pending_tasks(with_locals: bool = False) -> dict[int, list[PendingTask]]:
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
            inner_from = len(coro_frames) - LOCALS_DEPTH
            spaces = [
                frame_namespace(f) if i >= inner_from else None for i, f in enumerate(coro_frames)
            ]
        out.setdefault(thread, []).append((str(task.get_name()), chain, awaiting, spaces))
    return out


class FrameClassifier:
    """Sorts file names into cell, user, library and machinery; built at load time."""

    def __init__(
        self,
        labeler: Callable[[str], str | None] | None = None,
        machinery_modules: Iterable[str] = MACHINERY_MODULES,
        cell_ids: Callable[[str], str | None] | None = None,
    ) -> None:
        self.labeler = labeler
        self.cell_ids = cell_ids
        self.machinery = tuple(_module_roots(machinery_modules))
        self.kernel = tuple(_module_roots(KERNEL_MODULES))
        paths = sysconfig.get_paths()
        roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
        roots.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
        self.library = tuple(sorted(os.path.join(r, "") for r in roots if r))
        self.threading_file = threading.__file__

    def label(self, filename: str) -> str:
        """`Cell In[7]` for a file that holds a cell's code, else ''."""
        if self.labeler is None:
            return ""
        try:
            return self.labeler(filename) or ""
        except Exception:  # a labeler must never break a dump
            return ""

    def cell_id(self, label: str) -> str:
        """The front end's id of the cell with this label (`Cell In[7]`), or ''."""
        if self.cell_ids is None or not label:
            return ""
        try:
            return self.cell_ids(label) or ""
        except Exception:  # never break a dump
            return ""

    def kind(self, filename: str, function: str) -> str:
        """The kind of a frame that is not a cell: machinery, library or user."""
        if filename.startswith(self.machinery):
            return "machinery"
        if filename == self.threading_file and function in ("_bootstrap", "_bootstrap_inner"):
            return "machinery"
        if filename.startswith(self.library) or filename.startswith("<frozen "):
            return "library"
        return "user"


def _module_roots(names: Iterable[str]) -> list[str]:
    roots = []
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None) if module else None
        if not path:
            continue
        if os.path.basename(path) == "__init__.py":
            roots.append(os.path.join(os.path.dirname(path), ""))
        else:
            roots.append(path)
    return roots


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
                and _is_service(records, classifier),
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
    reprs: Repr | None = None,
    in_handler: Callable[[], frozenset[int]] | None = None,
) -> StackSnapshot:
    """Freeze, then resolve: the snapshot of every thread but those skipped."""
    frozen = freeze(skip_idents, skip_top, with_locals or reprs is not None)
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


def _is_service(records: list[FrameRecord], classifier: FrameClassifier) -> bool:
    """Does the thread run the kernel's code? Judged by its entry point.

    Skips the frames every thread has (threading's bootstrap and ``Thread.run``), library
    frames (decorators such as the ``decorator`` package's) and wrappers around
    ``Thread.run`` (ipykernel 6 wraps it to route output from threads): the first frame
    left says whose thread it is, and only the kernel's own packages make it a service
    thread (an event loop that a library started is not one).
    """
    threading_file = classifier.threading_file
    for index, record in enumerate(records):
        if record.filename == threading_file or record.kind == "library":
            continue
        inner = records[index + 1] if index + 1 < len(records) else None
        if record.kind == "machinery" and inner is not None and inner.filename == threading_file:
            continue
        return record.filename.startswith(classifier.kernel)
    return False


def mark_beneath_cell(records: list[FrameRecord]) -> None:
    """Everything beneath the first cell frame on the cell's thread is the kernel's own
    (and in a process forked there: ``children.py``)."""
    first = next((i for i, r in enumerate(records) if r.kind == "cell"), None)
    if first is None:
        return
    for i in range(first):
        if records[i].kind != "machinery":
            records[i] = FrameRecord(**{**records[i].__dict__, "kind": "machinery"})


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
