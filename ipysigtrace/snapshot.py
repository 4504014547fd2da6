"""The snapshot: plain data describing every thread's stack at one moment.

Everything downstream (renderers, the kernel glue, a server, a command line, a browser)
speaks this model or its JSON form. It uses the standard library only, so any process can
read a dump without importing IPython or Jupyter.

JSON form, version 1 (``StackSnapshot.to_dict``)::

    {
      "format": "ipysigtrace.snapshot",
      "version": 1,
      "time": 1764320000.123,          # seconds since the epoch, when the frames were frozen
      "pid": 4242,
      "trigger": "signal",             # signal | magic | request | timer | ...
      "kind": "rich",                  # rich: from the watcher; raw: parsed faulthandler text
      "cell_thread": 139872,           # ident of the thread running a cell, or null
      "freeze_seconds": 0.0004,        # time spent freezing frames
      "threads": [
        {
          "ident": 139872, "native_id": 4242, "name": "MainThread", "daemon": false,
          "is_main": true, "runs_cell": true, "service": false, "state": "running",
          "frames": [                  # outermost first, the frame running now last
            {"filename": "/tmp/ipykernel_1/123.py", "lineno": 3, "function": "spin",
             "line": "while True: pass", "label": "Cell In[7]", "kind": "cell",
             "repeat": 0, "span": 1, "cell_id": "7f3c..."}
          ]
        }
      ]
    }

``kind`` of a frame is one of ``cell`` (code typed in a cell), ``user`` (any other code),
``library`` (standard library and installed packages) or ``machinery`` (the kernel's own
frames: ipykernel, IPython's run_cell, asyncio, tornado, zmq), which views hide by default.
A thread is a ``service`` thread when it runs the kernel's own code (IOPub, Control,
Heartbeat, history saving): views hide those by default.
``tasks`` of a thread: the pending asyncio tasks of the event loop that runs on it, each
``{"name", "awaiting", "frames"}`` with its coroutine chain (outermost first) in
``frames``, so that a cell suspended in an ``await`` shows where it waits.
``repeat``/``span``: this frame and the ``span - 1`` frames after it repeated ``repeat``
more times right after them; those repeats are folded away (deep recursion).
``locals``, only when asked for and only for ``cell`` and ``user`` frames: a list of
``{"name", "type", "value"}``, the value shown without running user code (``values.py``);
null when not captured.
``context``, for ``cell`` and ``user`` frames: a few source lines around ``lineno``, the
first of them being line ``context_start``.
``cell_id`` is the front end's id of the cell a ``cell`` frame comes from, when the front end
sent one (JupyterLab and Notebook 7 do), so a view can jump to that cell; else "".
``verdict`` of a thread, comparing it with the previous snapshot the kernel took
(``verdict.py``): ``first`` (no earlier snapshot of it), ``moving`` (its stack, a line or a
safe local changed; ``changed`` says what, e.g. "line 12 → 14 in spin"), ``still`` (the
same place with the same locals since ``still_since``, seconds since the epoch), or ""
when nobody judged (older snapshots, raw dumps). ``cell_started`` of the snapshot: when the
running cell started (seconds since the epoch), null when no cell runs or it is not known.
``held_by`` of a thread waiting for an RLock: the thread that holds it, "worker-1 (ident
1398)", when that is known without running user code (``capture.rlock_owner``); else "".
``processes`` of the snapshot: the process's descendants (its workers, and theirs), each
``{"pid", "parent", "command", "note", "forked", "threads"}``: by PID and command line;
``threads``, in the same form as the snapshot's, are the stacks the process sent when
asked (``responder.py``), empty when it could not answer (``note`` says why); ``forked``:
it is a fork of its parent that runs no program of its own (its command line is its
parent's). Absent when there are none.
``dask`` of the snapshot, when the cell waits on a Dask client (``dasktasks.py``):
``{"scheduler", "note", "workers": [{"address", "tasks"}]}``, each task in the form of an
asyncio task, its ``name`` the task's key; ``note`` says why no worker is listed (the
scheduler did not answer in time, ...). Absent (null) when the cell waits on no Dask client.
The form a notebook keeps (``to_dict(compact=True)``, what a display bundle carries) says
the same in a tenth of the bytes: a field at its default is left out; a thread whose stack
(frames and tasks) repeats an earlier one's says ``"like": N``, and each field it leaves out
is that of thread N (the N-th of ``threads``, N below its own index); and with
``"trimmed": true`` on the snapshot, the kernel's own frames are not kept: each run of them
is one record of kind ``machinery`` whose ``elided`` says how many frames it stands for (a
kernel thread's frames, and those of the kernel's own asyncio tasks, are one such run), and
its ``filename``, ``lineno`` and ``function`` may be left out (they are empty).
Unknown keys are ignored when reading, so later versions may add fields. Everything else is
checked (``from_dict``): a snapshot comes from another process, which may be buggy or
hostile, so a field of the wrong type, at any depth, makes the whole snapshot unreadable
with a ValueError that names the field, never a TypeError in a renderer later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

FORMAT = "ipysigtrace.snapshot"
VERSION = 1
# A thread's verdict (``verdict.py``): not judged, the first snapshot of it, moving, still.
VERDICTS = ("", "first", "moving", "still")


@dataclass
class FrameRecord:
    """One frame of a thread's stack."""

    filename: str
    lineno: int
    function: str
    line: str = ""
    label: str = ""
    kind: str = "user"
    repeat: int = 0
    span: int = 1
    cell_id: str = ""
    locals: list[dict[str, str]] | None = None
    context: list[str] | None = None
    context_start: int = 0
    elided: int = 0  # > 0: not a frame, but this many of the kernel's frames left out

    @property
    def count(self) -> int:
        """How many frames of the stack this record stands for: folded repeats, or the
        kernel's frames that a trimmed snapshot left out."""
        return self.elided or 1 + self.repeat * self.span

    @property
    def location(self) -> str:
        """`Cell In[7], line 3` for a cell, `File "x.py", line 3` for anything else."""
        if self.label:
            return f"{self.label}, line {self.lineno}"
        return f'File "{self.filename}", line {self.lineno}'


@dataclass
class TaskStack:
    """A pending asyncio task: its coroutine chain, outermost first."""

    name: str
    frames: list[FrameRecord] = field(default_factory=list)
    awaiting: str = ""

    @property
    def is_machinery(self) -> bool:
        """True for the kernel's own tasks (no cell or user frame)."""
        return not any(f.kind in ("cell", "user") for f in self.frames)


@dataclass
class ThreadStack:
    """One thread and its frames, outermost first."""

    ident: int
    name: str
    native_id: int | None = None
    daemon: bool = False
    is_main: bool = False
    runs_cell: bool = False
    service: bool = False
    state: str = "running"
    frames: list[FrameRecord] = field(default_factory=list)
    tasks: list[TaskStack] = field(default_factory=list)
    verdict: str = ""
    still_since: float | None = None
    changed: str = ""
    held_by: str = ""

    @property
    def depth(self) -> int:
        """Number of frames, counting folded repeats and left-out ones."""
        return sum(f.count for f in self.frames)

    def visible_frames(self, show_machinery: bool = False) -> list[FrameRecord]:
        """The frames a view shows: without the kernel's machinery unless asked for."""
        if show_machinery:
            return list(self.frames)
        return [f for f in self.frames if f.kind != "machinery"]


@dataclass
class ProcessRecord:
    """A process that the snapshot's process started (or one of those did): a worker."""

    pid: int
    parent: int
    command: str = ""  # its command line, arguments joined by spaces, cut at MAX_COMMAND
    note: str = ""  # what else is known: "ended, not yet reaped"; why it has no stacks
    forked: bool = False  # a fork of its parent, running no program of its own
    threads: list[ThreadStack] = field(default_factory=list)  # its stacks, when it answered


@dataclass
class DaskWorker:
    """A worker of the Dask cluster that the cell waits on, and its running tasks."""

    address: str
    tasks: list[TaskStack] = field(default_factory=list)  # name: the task's key


@dataclass
class DaskReport:
    """What the scheduler of the cell's Dask client said its workers run (``dasktasks.py``)."""

    scheduler: str  # its address
    note: str = ""  # why no worker is listed: it did not answer in time, ...
    workers: list[DaskWorker] = field(default_factory=list)  # those that run tasks


@dataclass
class StackSnapshot:
    """Every thread's stack at one moment."""

    time: float
    pid: int
    threads: list[ThreadStack] = field(default_factory=list)
    trigger: str = "magic"
    kind: str = "rich"
    cell_thread: int | None = None
    freeze_seconds: float = 0.0
    note: str = ""
    cell_started: float | None = None
    trimmed: bool = False  # the kernel's own frames were left out (``without_internals``)
    processes: list[ProcessRecord] = field(default_factory=list)  # its child processes
    dask: DaskReport | None = None  # the tasks of the Dask cluster the cell waits on

    def to_dict(self, compact: bool = False) -> dict[str, Any]:
        """The versioned JSON-ready form; ``compact``: the form a notebook keeps (above)."""
        if compact:
            return {"format": FORMAT, "version": VERSION, **_Compact().snapshot(self)}
        return {"format": FORMAT, "version": VERSION, **_Plain().snapshot(self)}

    def without_internals(self) -> StackSnapshot:
        """A copy without the kernel's own frames: what views hide unless asked to show it.

        Each run of machinery frames becomes one record that counts them (``elided``); a
        kernel thread keeps its name and state, and its frames become one such record; so
        does each of the kernel's own asyncio tasks; a kernel thread keeps no tasks or verdict.
        The default views then read as they did.
        """
        stand_ins: dict[int, FrameRecord] = {}  # one record per count: threads share them

        def stand_in(count: int) -> list[FrameRecord]:
            if count == 0:
                return []
            if count not in stand_ins:
                stand_ins[count] = FrameRecord("", 0, "", kind="machinery", elided=count)
            return [stand_ins[count]]

        def kept(frames: list[FrameRecord]) -> list[FrameRecord]:
            out: list[FrameRecord] = []
            run = 0
            for frame in frames:
                if frame.kind == "machinery":
                    run += frame.count
                    continue
                out += stand_in(run)
                run = 0
                out.append(frame)
            return out + stand_in(run)

        def task(t: TaskStack) -> TaskStack:
            frames = stand_in(sum(f.count for f in t.frames)) if t.is_machinery else kept(t.frames)
            return replace(t, frames=frames)

        def thread(t: ThreadStack) -> ThreadStack:
            if t.service:  # its name and state, no frames, tasks or verdict
                return replace(t, frames=stand_in(t.depth), tasks=[], verdict="", still_since=None)
            return replace(t, frames=kept(t.frames), tasks=[task(x) for x in t.tasks])

        processes = [replace(p, threads=[thread(t) for t in p.threads]) for p in self.processes]
        threads = [thread(t) for t in self.threads]
        dask = self.dask and replace(
            self.dask,
            workers=[replace(w, tasks=[task(t) for t in w.tasks]) for w in self.dask.workers],
        )
        return replace(self, threads=threads, processes=processes, dask=dask, trimmed=True)

    def to_json(self, indent: int | None = None) -> str:
        """The versioned JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> StackSnapshot:
        """Read the JSON form; raises ValueError, naming the field, for anything that is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an ipysigtrace snapshot")
        version = data.get("version")
        if not isinstance(version, int) or not _is_int(version) or not 1 <= version <= VERSION:
            raise ValueError(f"unsupported snapshot version {version!r} (this reads {VERSION})")
        snapshot: StackSnapshot = _read(cls, data, "snapshot")
        return snapshot

    @classmethod
    def from_json(cls, text: str) -> StackSnapshot:
        """Read the JSON text; raises ValueError for anything that is not a snapshot."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("not an ipysigtrace snapshot: nested too deeply") from None
        return cls.from_dict(data)

    def thread(self, ident: int) -> ThreadStack | None:
        """The thread with this ident, if it was captured."""
        return next((t for t in self.threads if t.ident == ident), None)


class _Plain:
    """``dataclasses.asdict``'s result, made ten times faster for a thousand threads.

    asdict deep-copies field by field; here each record's fields are read by name, and a
    frame that many threads share (capture caches records) becomes one dict, made once.
    """

    def __init__(self) -> None:
        self.frames: dict[int, dict[str, Any]] = {}

    @staticmethod
    def fields(record: Any) -> dict[str, Any]:
        return {name: getattr(record, name) for name in _NAMES[type(record)]}

    def frame(self, frame: FrameRecord) -> dict[str, Any]:
        data = self.frames.get(id(frame))
        if data is None:
            data = self.frames[id(frame)] = self.fields(frame)
            if frame.locals is not None:
                data["locals"] = [dict(local) for local in frame.locals]
            if frame.context is not None:
                data["context"] = list(frame.context)
        return data

    def stack(self, stack: TaskStack | ThreadStack) -> dict[str, Any]:
        data = self.fields(stack)
        data["frames"] = [self.frame(f) for f in stack.frames]
        if isinstance(stack, ThreadStack):
            data["tasks"] = [self.stack(task) for task in stack.tasks]
        return data

    def threads(self, threads: list[ThreadStack]) -> list[dict[str, Any]]:
        return [self.stack(thread) for thread in threads]

    def process(self, process: ProcessRecord) -> dict[str, Any]:
        data = self.fields(process)
        data["threads"] = self.threads(process.threads)
        return data

    def dask(self, report: DaskReport | None) -> dict[str, Any] | None:
        if report is None:
            return None
        data = self.fields(report)
        data["workers"] = []
        for worker in report.workers:
            written = self.fields(worker)
            written["tasks"] = [self.stack(task) for task in worker.tasks]
            data["workers"].append(written)
        return data

    def snapshot(self, snapshot: StackSnapshot) -> dict[str, Any]:
        data = self.fields(snapshot)
        data["threads"] = self.threads(snapshot.threads)
        data["processes"] = [self.process(p) for p in snapshot.processes]
        data["dask"] = self.dask(snapshot.dask)
        return data


_RECORDS = (FrameRecord, TaskStack, ThreadStack, StackSnapshot, ProcessRecord)
_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in (*_RECORDS, DaskWorker, DaskReport)}
# What a record that stands for left-out frames leaves out (``elided`` says how many).
_STAND_IN = FrameRecord("", 0, "", kind="machinery")
_STAND_IN_FIELDS = {name: getattr(_STAND_IN, name) for name in _NAMES[FrameRecord]}
# Written even when a thread is ``like`` another: they tell the two apart.
_OWN = ("ident", "name", "native_id")


class _Compact(_Plain):
    """The form a notebook keeps: no field at its default, repeated stacks written once."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[int, str] = {}  # id of a frame record -> its JSON, to compare stacks

    @staticmethod
    def fields(record: Any) -> dict[str, Any]:
        defaults = _DEFAULTS[type(record)]  # what the reader fills in for a field left out
        if isinstance(record, FrameRecord) and record.elided:
            defaults = _STAND_IN_FIELDS
        out = {}
        for name in _NAMES[type(record)]:
            value = getattr(record, name)
            if name not in defaults or value != defaults[name]:
                out[name] = value
        return out

    def key(self, frames: list[FrameRecord]) -> tuple[str, ...]:
        """Frames by value: equal records (made once, or read from JSON) compare equal."""
        keys = []
        for frame in frames:
            key = self.keys.get(id(frame))
            if key is None:
                key = self.keys[id(frame)] = json.dumps(self.frame(frame), sort_keys=True)
            keys.append(key)
        return tuple(keys)

    def stack(self, stack: TaskStack | ThreadStack) -> dict[str, Any]:
        data = super().stack(stack)
        for name in ("frames", "tasks"):
            if data.get(name) == []:
                del data[name]
        return data

    def threads(self, stacks: list[ThreadStack]) -> list[dict[str, Any]]:
        threads: list[dict[str, Any]] = []
        first: dict[tuple[Any, ...], int] = {}  # a stack (frame records) -> its first thread
        for thread in stacks:
            key = (
                self.key(thread.frames),
                tuple((t.name, t.awaiting, self.key(t.frames)) for t in thread.tasks),
            )
            like = first.setdefault(key, len(threads))
            if like == len(threads) or not thread.frames:
                threads.append(self.stack(thread))
                continue
            base = stacks[like]
            written: dict[str, Any] = {name: getattr(thread, name) for name in _OWN}
            written["like"] = like
            for name in _NAMES[ThreadStack]:
                if name not in _OWN and name not in ("frames", "tasks"):
                    value = getattr(thread, name)
                    if value != getattr(base, name):
                        written[name] = value
            threads.append(written)
        return threads

    def process(self, process: ProcessRecord) -> dict[str, Any]:
        data = self.fields(process)
        if process.threads:
            data["threads"] = self.threads(process.threads)
        return data

    def snapshot(self, snapshot: StackSnapshot) -> dict[str, Any]:
        data = self.fields(snapshot)
        data["threads"] = self.threads(snapshot.threads)
        if snapshot.processes:
            data["processes"] = [self.process(p) for p in snapshot.processes]
        if snapshot.dask:
            data["dask"] = self.dask(snapshot.dask)
        return data


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[str | int, ...]:
    """A sort key that orders names as a reader does: worker-2 before worker-10.

    Text parts (case-folded) and numbers alternate, text first, so keys always compare.
    """
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))


# -- reading the JSON form ---------------------------------------------------------------

Check = Callable[[Any, str], Any]
REQUIRED = object()
# Integers in a snapshot are PIDs, thread idents and line numbers: 64 bits hold them all,
# and a renderer must never meet an int too long to print.
_INT_LIMIT = 2**64
# time.localtime and strftime accept these on every platform we run on (to the year 9999).
_LATEST_TIME = 253402300799.0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _wrong(where: str, wanted: str, value: Any) -> ValueError:
    return ValueError(f"{where}: expected {wanted}, got {type(value).__name__}")


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _wrong(where, "a string", value)
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong(where, "true or false", value)
    return value


def _int_from(least: int) -> Check:
    def check(value: Any, where: str) -> int:
        if not _is_int(value):
            raise _wrong(where, "an integer", value)
        if not least <= value < _INT_LIMIT:
            raise ValueError(f"{where}: {value} is out of range")
        return int(value)

    return check


_int = _int_from(-_INT_LIMIT)
_count = _int_from(0)


def _seconds(latest: float) -> Check:
    def check(value: Any, where: str) -> float:
        if not (_is_int(value) or isinstance(value, float)):
            raise _wrong(where, "a number", value)
        if not (math.isfinite(value) and 0 <= value <= latest):
            raise ValueError(f"{where}: {value!r} is out of range")
        return float(value)

    return check


def _one_of(allowed: tuple[str, ...]) -> Check:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"{where}: expected one of {', '.join(map(repr, allowed))}")
        return value

    return check


def _optional(check: Check) -> Check:
    return lambda value, where: None if value is None else check(value, where)


def _list(check: Check) -> Check:
    def read(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _wrong(where, "a list", value)
        return [check(item, f"{where}[{index}]") for index, item in enumerate(value)]

    return read


def _local(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _wrong(where, "an object", value)
    return {key: _str(value.get(key), f"{where}.{key}") for key in ("name", "type", "value")}


def _record(cls: type) -> Check:
    return lambda value, where: _read(cls, value, where)


def _frame(value: Any, where: str) -> FrameRecord:
    """A frame; one that stands for left-out frames (``elided``) may leave the rest out."""
    stands_in = isinstance(value, dict) and value.get("elided")
    frame: FrameRecord = _read(FrameRecord, value, where, base=_STAND_IN if stands_in else None)
    return frame


def _threads(value: Any, where: str) -> list[ThreadStack]:
    """The threads; one that is ``like`` an earlier one takes what it leaves out from it."""
    if not isinstance(value, list):
        raise _wrong(where, "a list", value)
    threads: list[ThreadStack] = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        like = item.get("like") if isinstance(item, dict) else None
        if like is None:
            threads.append(_read(ThreadStack, item, here))
            continue
        if not _is_int(like) or not 0 <= like < index:
            raise ValueError(f"{here}.like: expected the index of an earlier thread")
        threads.append(_read(ThreadStack, item, here, base=threads[like]))
    return threads


# Each field: how to check it, and its default when absent (REQUIRED: it must be there).
_FIELDS: dict[type, dict[str, tuple[Check, Any]]] = {
    FrameRecord: {
        "filename": (_str, REQUIRED),
        "lineno": (_count, REQUIRED),
        "function": (_str, REQUIRED),
        "line": (_str, ""),
        "label": (_str, ""),
        "kind": (_str, "user"),
        "repeat": (_count, 0),
        "span": (_int_from(1), 1),
        "cell_id": (_str, ""),
        "locals": (_optional(_list(_local)), None),
        "context": (_optional(_list(_str)), None),
        "context_start": (_count, 0),
        "elided": (_count, 0),
    },
    TaskStack: {
        "name": (_str, REQUIRED),
        "frames": (_list(_frame), []),
        "awaiting": (_str, ""),
    },
    ThreadStack: {
        "ident": (_int, REQUIRED),
        "name": (_str, REQUIRED),
        "native_id": (_optional(_int), None),
        "daemon": (_bool, False),
        "is_main": (_bool, False),
        "runs_cell": (_bool, False),
        "service": (_bool, False),
        "state": (_str, "running"),
        "frames": (_list(_frame), []),
        "tasks": (_list(_record(TaskStack)), []),
        "verdict": (_one_of(VERDICTS), ""),
        "still_since": (_optional(_seconds(_LATEST_TIME)), None),
        "changed": (_str, ""),
        "held_by": (_str, ""),
    },
    ProcessRecord: {
        "pid": (_int, REQUIRED),
        "parent": (_int, REQUIRED),
        "command": (_str, ""),
        "note": (_str, ""),
        "forked": (_bool, False),
        "threads": (_threads, []),
    },
    StackSnapshot: {
        "time": (_seconds(_LATEST_TIME), REQUIRED),
        "pid": (_int, REQUIRED),
        "threads": (_threads, []),
        "trigger": (_str, "magic"),
        "kind": (_str, "rich"),
        "cell_thread": (_optional(_int), None),
        "freeze_seconds": (_seconds(math.inf), 0.0),
        "note": (_str, ""),
        "cell_started": (_optional(_seconds(_LATEST_TIME)), None),
        "trimmed": (_bool, False),
        "processes": (_list(_record(ProcessRecord)), []),
        "dask": (_optional(_record(DaskReport)), None),
    },
    DaskWorker: {
        "address": (_str, REQUIRED),
        "tasks": (_list(_record(TaskStack)), []),
    },
    DaskReport: {
        "scheduler": (_str, REQUIRED),
        "note": (_str, ""),
        "workers": (_list(_record(DaskWorker)), []),
    },
}


# The defaults the reader fills in, which the compact writer therefore leaves out.
_DEFAULTS = {
    cls: {name: default for name, (_, default) in checks.items() if default is not REQUIRED}
    for cls, checks in _FIELDS.items()
}


def _read(cls: type, data: Any, where: str, base: Any = None) -> Any:
    """One record of the JSON form, every field checked; unknown keys are ignored. A field
    left out is ``base``'s when there is one, else its default."""
    if not isinstance(data, dict):
        raise _wrong(where, "an object", data)
    values = {}
    for name, (check, default) in _FIELDS[cls].items():
        if name in data:
            values[name] = check(data[name], f"{where}.{name}")
        elif base is not None:
            value = getattr(base, name)
            values[name] = list(value) if isinstance(value, list) else value
        elif default is REQUIRED:
            raise ValueError(f"{where}: {name} is missing")
        else:
            values[name] = list(default) if isinstance(default, list) else default
    return cls(**values)
