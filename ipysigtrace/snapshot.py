"""The snapshot: plain data describing every thread's stack at one moment.

Everything downstream (renderers, the kernel glue, a server, a command line, a browser)
speaks this model or its JSON form. It uses the standard library only, so any process can
read a dump without importing IPython or Jupyter.

JSON form, version 1 (``StackSnapshot.to_dict``; version 2 adds only a compact-form
reference between workers' threads, ``jsonform.py``)::

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
How the JSON form is written and read: ``jsonform.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

FORMAT = "ipysigtrace.snapshot"
# Version 2: a worker's thread may be ``like`` a thread of an earlier worker (``jsonform``);
# a snapshot that needs none of that is still written as version 1.
VERSION = 2
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
        """The versioned JSON-ready form; ``compact``: the form a notebook keeps."""
        from .jsonform import write

        return write(self, compact)

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
        from .jsonform import read

        return read(data)

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


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[str | int, ...]:
    """A sort key that orders names as a reader does: worker-2 before worker-10.

    Text parts (case-folded) and numbers alternate, text first, so keys always compare.
    """
    parts = _DIGITS.split(name)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
