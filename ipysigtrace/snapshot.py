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
Unknown keys are ignored when reading, so later versions may add fields.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

FORMAT = "ipysigtrace.snapshot"
VERSION = 1


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

    @property
    def depth(self) -> int:
        """Number of frames, counting folded repeats."""
        return len(self.frames) + sum(f.repeat * f.span for f in self.frames)

    def visible_frames(self, show_machinery: bool = False) -> list[FrameRecord]:
        """The frames a view shows: without the kernel's machinery unless asked for."""
        if show_machinery:
            return list(self.frames)
        return [f for f in self.frames if f.kind != "machinery"]


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

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON-ready form."""
        data = asdict(self)
        return {"format": FORMAT, "version": VERSION, **data}

    def to_json(self, indent: int | None = None) -> str:
        """The versioned JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackSnapshot:
        """Read the JSON form; raises ValueError for anything that is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an ipysigtrace snapshot")
        version = data.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise ValueError(f"unsupported snapshot version {version!r} (this reads {VERSION})")

        def frames(items: list[dict[str, Any]]) -> list[FrameRecord]:
            return [FrameRecord(**_known(FrameRecord, f)) for f in items]

        threads = [
            ThreadStack(
                **_known(ThreadStack, t, skip={"frames", "tasks"}),
                frames=frames(t.get("frames", [])),
                tasks=[
                    TaskStack(
                        **_known(TaskStack, k, skip={"frames"}), frames=frames(k.get("frames", []))
                    )
                    for k in t.get("tasks", [])
                ],
            )
            for t in data.get("threads", [])
        ]
        return cls(**_known(cls, data, skip={"threads"}), threads=threads)

    @classmethod
    def from_json(cls, text: str) -> StackSnapshot:
        """Read the JSON text."""
        return cls.from_dict(json.loads(text))

    def thread(self, ident: int) -> ThreadStack | None:
        """The thread with this ident, if it was captured."""
        return next((t for t in self.threads if t.ident == ident), None)


def _known(cls: type, data: dict[str, Any], skip: frozenset[str] | set[str] = frozenset()) -> dict:
    names = {f.name for f in fields(cls)} - set(skip)
    return {k: v for k, v in data.items() if k in names}
