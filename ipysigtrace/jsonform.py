"""The snapshot's JSON form: the plain and the compact writer, and the way in to reading.

``StackSnapshot.to_dict`` and ``from_dict`` come here; the fields and their meaning are
``snapshot.py``'s, each field's check and default ``schema.py``'s.

The form a notebook keeps (``to_dict(compact=True)``, what a display bundle carries) says
the same in a tenth of the bytes: a field at its default is left out; a thread whose stack
(frames and tasks) repeats an earlier one's says ``"like": N``, and each field it leaves out
is that of thread N (the N-th of ``threads``, N below its own index); a thread of a worker
process may also say ``"like": [W, N]``, thread N of the W-th of ``processes`` (W below its
own index: a pool's workers mostly wait in the same place), which makes the snapshot
version 2 (one without is still written as version 1, for older readers); and with
``"trimmed": true`` on the snapshot, the kernel's own frames are not kept: each run of them
is one record of kind ``machinery`` whose ``elided`` says how many frames it stands for (a
kernel thread's frames, and those of the kernel's own asyncio tasks, are one such run), and
its ``filename``, ``lineno`` and ``function`` may be left out (they are empty).
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from .schema import DEFAULTS, STAND_IN, is_int, read_record
from .snapshot import (
    FORMAT,
    VERSION,
    DaskReport,
    DaskWorker,
    FrameRecord,
    ProcessRecord,
    StackSnapshot,
    TaskStack,
    ThreadStack,
)


def write(snapshot: StackSnapshot, compact: bool = False) -> dict[str, Any]:
    """The versioned JSON-ready form; ``compact``: the form a notebook keeps."""
    writer = _Compact() if compact else _Plain()
    data = writer.snapshot(snapshot)
    version = 2 if isinstance(writer, _Compact) and writer.across else 1
    return {"format": FORMAT, "version": version, **data}


def read(data: Any) -> StackSnapshot:
    """Read the JSON form; raises ValueError, naming the field, for anything that is not one."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not an ipysigtrace snapshot")
    version = data.get("version")
    if not isinstance(version, int) or not is_int(version) or not 1 <= version <= VERSION:
        raise ValueError(f"unsupported snapshot version {version!r} (this reads {VERSION})")
    snapshot: StackSnapshot = read_record(StackSnapshot, data, "snapshot")
    return snapshot


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
_STAND_IN_FIELDS = {name: getattr(STAND_IN, name) for name in _NAMES[FrameRecord]}
# Written even when a thread is ``like`` another: they tell the two apart.
_OWN = ("ident", "name", "native_id")


class _Compact(_Plain):
    """The form a notebook keeps: no field at its default, repeated stacks written once."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[int, str] = {}  # id of a frame record -> its JSON, to compare stacks
        # Workers' stacks, each by its first thread anywhere: (process index, thread index).
        self.in_processes: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.process_threads: list[list[ThreadStack]] = []
        self.across = False  # a thread is like one of an earlier worker (version 2)

    @staticmethod
    def fields(record: Any) -> dict[str, Any]:
        defaults = DEFAULTS[type(record)]  # what the reader fills in for a field left out
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

    def threads(
        self, stacks: list[ThreadStack], process: int | None = None
    ) -> list[dict[str, Any]]:
        """A list of threads; those of worker number ``process`` may also be ``like`` a
        thread of an earlier worker: ``"like": [worker, thread]`` (a pool's workers mostly
        have the same stacks)."""
        threads: list[dict[str, Any]] = []
        first: dict[tuple[Any, ...], int] = {}  # a stack (frame records) -> its first thread
        for thread in stacks:
            key = (
                self.key(thread.frames),
                tuple((t.name, t.awaiting, self.key(t.frames)) for t in thread.tasks),
            )
            like: int | list[int] = first.setdefault(key, len(threads))
            if like == len(threads) and process is not None and thread.frames:
                earlier = self.in_processes.setdefault(key, (process, len(threads)))
                if earlier[0] != process:
                    like = list(earlier)
            if like == len(threads) or not thread.frames:
                threads.append(self.stack(thread))
                continue
            if isinstance(like, list):
                base = self.process_threads[like[0]][like[1]]
                self.across = True
            else:
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
            data["threads"] = self.threads(process.threads, len(self.process_threads))
        self.process_threads.append(process.threads)
        return data

    def snapshot(self, snapshot: StackSnapshot) -> dict[str, Any]:
        data = self.fields(snapshot)
        data["threads"] = self.threads(snapshot.threads)
        if snapshot.processes:
            data["processes"] = [self.process(p) for p in snapshot.processes]
        if snapshot.dask:
            data["dask"] = self.dask(snapshot.dask)
        return data
