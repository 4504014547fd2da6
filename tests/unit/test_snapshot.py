"""The data model and its versioned JSON form."""

from __future__ import annotations

import json

import pytest

from ipysigtrace.snapshot import FORMAT, VERSION, FrameRecord, StackSnapshot, ThreadStack


def sample() -> StackSnapshot:
    frames = [
        FrameRecord("/k/kernelapp.py", 10, "start", "loop()", kind="machinery"),
        FrameRecord("/tmp/ipykernel_1/1.py", 4, "dive", "return dive(n - 1)", "Cell In[3]", "cell"),
        FrameRecord("/tmp/ipykernel_1/1.py", 4, "dive", "x", "Cell In[3]", "cell", 4990, 1),
    ]
    main = ThreadStack(1, "MainThread", 42, False, True, True, False, "running", frames)
    other = ThreadStack(2, "IOPub", 43, True, service=True, state="waiting for I/O")
    return StackSnapshot(1.5, 42, [main, other], "signal", "rich", 1, 0.0004, "a note")


def test_round_trip() -> None:
    snapshot = sample()
    data = json.loads(snapshot.to_json())
    assert data["format"] == FORMAT and data["version"] == VERSION
    assert StackSnapshot.from_json(snapshot.to_json()) == snapshot


def test_unknown_keys_are_ignored_for_later_versions() -> None:
    data = sample().to_dict()
    data["added_later"] = 1
    data["threads"][0]["frames"][0]["column"] = 7
    assert StackSnapshot.from_dict(data) == sample()


@pytest.mark.parametrize(
    "data",
    [{}, {"format": "other"}, {"format": FORMAT, "version": VERSION + 1}, [], "text"],
)
def test_not_a_snapshot(data: object) -> None:
    with pytest.raises(ValueError):
        StackSnapshot.from_dict(data)  # type: ignore[arg-type]


def test_helpers() -> None:
    snapshot = sample()
    main = snapshot.thread(1)
    assert main is not None and snapshot.thread(99) is None
    assert main.depth == 3 + 4990
    assert [f.kind for f in main.visible_frames()] == ["cell", "cell"]
    assert main.frames[1].location == "Cell In[3], line 4"
    assert main.frames[0].location == 'File "/k/kernelapp.py", line 10'
