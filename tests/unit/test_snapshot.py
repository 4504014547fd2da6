"""The data model and its versioned JSON form, and how it refuses what is not one."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipysigtrace import schema
from ipysigtrace.render import FORMATS, ViewOptions, render
from ipysigtrace.snapshot import (
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


def sample() -> StackSnapshot:
    local = {"name": "n", "type": "int", "value": "3"}
    frames = [
        FrameRecord("/k/kernelapp.py", 10, "start", "loop()", kind="machinery"),
        FrameRecord(
            "/tmp/ipykernel_1/1.py", 4, "dive", "return dive(n - 1)", "Cell In[3]", "cell",
            locals=[local], context=["def dive(n):", "    return dive(n - 1)"], context_start=3,
        ),
        FrameRecord("/tmp/ipykernel_1/1.py", 4, "dive", "x", "Cell In[3]", "cell", 4990, 1),
    ]  # fmt: skip
    task = TaskStack("Task-1", [FrameRecord("/x.py", 2, "main", "await f")], "Future")
    main = ThreadStack(1, "MainThread", 42, False, True, True, False, "running", frames, [task])
    main.verdict, main.still_since = "still", 1.25
    other = ThreadStack(2, "IOPub", 43, True, service=True, state="waiting for I/O")
    other.verdict, other.changed = "moving", "line 3 → 4 in wait"
    snapshot = StackSnapshot(1.5, 42, [main, other], "signal", "rich", 1, 0.0004, "a note")
    snapshot.cell_started = 1.0
    return snapshot


def test_round_trip() -> None:
    snapshot = sample()
    data = json.loads(snapshot.to_json())
    # The plain form needs nothing of version 2 (a worker's thread like an earlier
    # worker's is only in the compact form), so older readers read it.
    assert data["format"] == FORMAT and data["version"] == 1 <= VERSION
    assert StackSnapshot.from_json(snapshot.to_json()) == snapshot


def test_unknown_keys_are_ignored_for_later_versions() -> None:
    data = sample().to_dict()
    data["added_later"] = 1
    data["threads"][0]["frames"][0]["column"] = 7
    assert StackSnapshot.from_dict(data) == sample()


def test_every_field_is_checked() -> None:
    for cls in (
        FrameRecord,
        TaskStack,
        ThreadStack,
        StackSnapshot,
        ProcessRecord,
        DaskReport,
        DaskWorker,
    ):
        assert set(schema._FIELDS[cls]) == {f.name for f in fields(cls)}, cls


def snapshot_with(path: tuple[Any, ...], value: Any = None, delete: bool = False) -> dict:
    data = sample().to_dict()
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


T0, F1 = ("threads", 0), ("threads", 0, "frames", 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "not an ipysigtrace snapshot"),
        ([], "not an ipysigtrace snapshot"),
        ("text", "not an ipysigtrace snapshot"),
        ({"format": "other"}, "not an ipysigtrace snapshot"),
        (snapshot_with(("version",), VERSION + 1), f"unsupported snapshot version {VERSION + 1}"),
        (snapshot_with(("version",), 0), "unsupported snapshot version 0"),
        (snapshot_with(("version",), -5), "unsupported snapshot version -5"),
        (snapshot_with(("version",), True), "unsupported snapshot version True"),
        (snapshot_with(("version",), "1"), "unsupported snapshot version '1'"),
        (snapshot_with(("version",), 1.0), "unsupported snapshot version 1.0"),
        (snapshot_with(("version",), delete=True), "unsupported snapshot version None"),
        (snapshot_with(("time",), "now"), "snapshot.time: expected a number, got str"),
        (snapshot_with(("time",), math.nan), "snapshot.time: nan is out of range"),
        (snapshot_with(("time",), 1e300), "snapshot.time: 1e+300 is out of range"),
        (snapshot_with(("time",), delete=True), "snapshot: time is missing"),
        (snapshot_with(("pid",), True), "snapshot.pid: expected an integer, got bool"),
        (snapshot_with(("pid",), 10**30), "snapshot.pid: 1000000000000000000000000000000 is out"),
        (snapshot_with(("threads",), {"0": {}}), "snapshot.threads: expected a list, got dict"),
        (snapshot_with(("note",), ["a"]), "snapshot.note: expected a string, got list"),
        (snapshot_with(("cell_thread",), "1"), "snapshot.cell_thread: expected an integer"),
        (snapshot_with(("cell_started",), "1"), "snapshot.cell_started: expected a number"),
        (snapshot_with((*T0, "verdict"), "stuck"), "snapshot.threads[0].verdict: expected one of"),
        (snapshot_with((*T0, "still_since"), -1.0), "threads[0].still_since: -1.0 is out of range"),
        (snapshot_with((*T0, "changed"), 3), "snapshot.threads[0].changed: expected a string"),
        (snapshot_with(T0, "MainThread"), "snapshot.threads[0]: expected an object, got str"),
        (snapshot_with((*T0, "name"), None), "snapshot.threads[0].name: expected a string"),
        (snapshot_with((*T0, "name"), delete=True), "snapshot.threads[0]: name is missing"),
        (snapshot_with((*T0, "daemon"), "no"), "snapshot.threads[0].daemon: expected true or"),
        (snapshot_with((*T0, "frames"), "f"), "snapshot.threads[0].frames: expected a list"),
        (snapshot_with((*T0, "tasks", 0, "frames"), {}), "threads[0].tasks[0].frames: expected"),
        (snapshot_with((*T0, "tasks", 0, "name"), 7), "threads[0].tasks[0].name: expected a str"),
        (snapshot_with((*F1, "lineno"), "4"), "threads[0].frames[1].lineno: expected an integer"),
        (snapshot_with((*F1, "lineno"), -1), "threads[0].frames[1].lineno: -1 is out of range"),
        (snapshot_with((*F1, "span"), 0), "threads[0].frames[1].span: 0 is out of range"),
        (snapshot_with((*F1, "locals"), {"n": 3}), "threads[0].frames[1].locals: expected a list"),
        (snapshot_with((*F1, "locals", 0), "n = 3"), "frames[1].locals[0]: expected an object"),
        (snapshot_with((*F1, "locals", 0, "value"), 3), "locals[0].value: expected a string"),
        (snapshot_with((*F1, "locals", 0, "type"), delete=True), "locals[0].type: expected a str"),
        (snapshot_with((*F1, "context", 1), None), "frames[1].context[1]: expected a string"),
        (snapshot_with((*F1, "function"), delete=True), "frames[1]: function is missing"),
    ],
)
def test_not_a_snapshot(data: Any, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        StackSnapshot.from_dict(data)
    assert message in str(raised.value)


@pytest.mark.parametrize("text", ["{", "[" * 100_000 + "]" * 100_000, '{"format": NaN}', "1e999"])
def test_not_json(text: str) -> None:
    with pytest.raises(ValueError):
        StackSnapshot.from_json(text)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: keys of objects and indexes of lists."""
    out = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        out.append((*path, key))
        out += paths(item, (*path, key))
    return out


def kind(value: Any) -> str:
    """The JSON type of a value, ints apart from floats and booleans."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return type(value).__name__


PLACES = paths(sample().to_dict())
# Fields that hold a number (an int where a float is expected is fine), and those that may
# be null.
NUMBERS = {"time", "freeze_seconds", "cell_started", "still_since"}
OPTIONAL = {"native_id", "cell_thread", "locals", "context", "cell_started", "still_since"}


@settings(max_examples=500, deadline=None, database=None)
@given(st.sampled_from(PLACES), JSON, st.booleans())
def test_any_malformed_snapshot_is_refused_with_a_value_error(
    path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    was = sample().to_dict()
    for key in path:
        was = was[key]
    data = snapshot_with(path, value, delete=delete and isinstance(path[-1], str))
    try:
        snapshot = StackSnapshot.from_dict(data)
    except ValueError:
        return  # the only error it may raise
    # Read: the same JSON types where types are fixed, and every view renders it.
    if not (delete or path[-1] in NUMBERS or path[-1] in OPTIONAL):
        assert kind(value) == kind(was), f"{path} took {value!r} for a {kind(was)}"
    for fmt in FORMATS:
        render(snapshot, fmt, ViewOptions(show_machinery=True))
    assert StackSnapshot.from_dict(snapshot.to_dict()) == snapshot


def test_helpers() -> None:
    snapshot = sample()
    main = snapshot.thread(1)
    assert main is not None and snapshot.thread(99) is None
    assert main.depth == 3 + 4990
    assert [f.kind for f in main.visible_frames()] == ["cell", "cell"]
    assert main.frames[1].location == "Cell In[3], line 4"
    assert main.frames[0].location == 'File "/k/kernelapp.py", line 10'


def test_to_dict_is_what_asdict_gives() -> None:
    """The fast JSON form holds exactly the fields, at every depth, that asdict gives."""
    shared = FrameRecord(
        "/x.py", 3, "f", "f()", locals=[{"name": "n", "type": "int", "value": "1"}]
    )
    task = TaskStack("Task-1", [shared], "Future")
    threads = [ThreadStack(i, f"t{i}", i, frames=[shared], tasks=[task]) for i in range(3)]
    snapshot = StackSnapshot(1764320000.0, 1, threads, "signal", cell_thread=1, note="n")
    data = snapshot.to_dict()
    assert data == {"format": "ipysigtrace.snapshot", "version": 1, **asdict(snapshot)}
    assert StackSnapshot.from_dict(json.loads(json.dumps(data))) == snapshot
