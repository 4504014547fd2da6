"""The checked reader of the snapshot's JSON form: each field's check and default.

A snapshot comes from another process, which may be buggy or hostile: every field, at any
depth, is checked here, and one of the wrong type makes the whole snapshot unreadable with
a ValueError that names it. Unknown keys are ignored, so later versions may add fields.
A field left out takes its default (``DEFAULTS``, which the compact writer therefore
leaves out too).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .snapshot import (
    VERDICTS,
    DaskReport,
    DaskWorker,
    FrameRecord,
    ProcessRecord,
    StackSnapshot,
    TaskStack,
    ThreadStack,
)

# What a record that stands for left-out frames leaves out (``elided`` says how many).
STAND_IN = FrameRecord("", 0, "", kind="machinery")

Check = Callable[[Any, str], Any]
REQUIRED = object()
# Integers in a snapshot are PIDs, thread idents and line numbers: 64 bits hold them all,
# and a renderer must never meet an int too long to print.
_INT_LIMIT = 2**64
# time.localtime and strftime accept these on every platform we run on (to the year 9999).
_LATEST_TIME = 253402300799.0


def is_int(value: Any) -> bool:
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
        if not is_int(value):
            raise _wrong(where, "an integer", value)
        if not least <= value < _INT_LIMIT:
            raise ValueError(f"{where}: {value} is out of range")
        return int(value)

    return check


_int = _int_from(-_INT_LIMIT)
_count = _int_from(0)


def _seconds(latest: float) -> Check:
    def check(value: Any, where: str) -> float:
        if not (is_int(value) or isinstance(value, float)):
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
    return lambda value, where: read_record(cls, value, where)


def _frame(value: Any, where: str) -> FrameRecord:
    """A frame; one that stands for left-out frames (``elided``) may leave the rest out."""
    stands_in = isinstance(value, dict) and value.get("elided")
    base = STAND_IN if stands_in else None
    frame: FrameRecord = read_record(FrameRecord, value, where, base=base)
    return frame


def _threads(
    value: Any, where: str, earlier: list[list[ThreadStack]] | None = None
) -> list[ThreadStack]:
    """The threads; one that is ``like`` an earlier one takes what it leaves out from it.
    A worker's thread may be like a thread of an earlier worker (``earlier``, the threads
    of the workers before it): ``"like": [worker, thread]``."""
    if not isinstance(value, list):
        raise _wrong(where, "a list", value)
    threads: list[ThreadStack] = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        like = item.get("like") if isinstance(item, dict) else None
        if like is None:
            threads.append(read_record(ThreadStack, item, here))
            continue
        if is_int(like) and 0 <= like < index:
            base = threads[like]
        elif (
            earlier is not None
            and isinstance(like, list)
            and len(like) == 2
            and all(is_int(n) for n in like)
            and 0 <= like[0] < len(earlier)
            and 0 <= like[1] < len(earlier[like[0]])
        ):
            base = earlier[like[0]][like[1]]
        else:
            raise ValueError(f"{here}.like: expected the index of an earlier thread")
        threads.append(read_record(ThreadStack, item, here, base=base))
    return threads


def _processes(value: Any, where: str) -> list[ProcessRecord]:
    """The workers, in order: each one's threads may be like an earlier one's."""
    if not isinstance(value, list):
        raise _wrong(where, "a list", value)
    processes: list[ProcessRecord] = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise _wrong(here, "an object", item)
        own = {key: value for key, value in item.items() if key != "threads"}
        read: ProcessRecord = read_record(ProcessRecord, own, here)
        earlier = [p.threads for p in processes]
        read.threads = _threads(item.get("threads", []), f"{here}.threads", earlier)
        processes.append(read)
    return processes


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
        "processes": (_processes, []),
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
DEFAULTS = {
    cls: {name: default for name, (_, default) in checks.items() if default is not REQUIRED}
    for cls, checks in _FIELDS.items()
}


def read_record(cls: type, data: Any, where: str, base: Any = None) -> Any:
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
