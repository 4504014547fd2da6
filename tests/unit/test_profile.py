"""The sampler and the profile's views, on real threads of this process."""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipysigtrace import sampler as sampler_module
from ipysigtrace.classify import FrameClassifier
from ipysigtrace.profile import (
    Profile,
    ProfileFrame,
    ThreadProfile,
    own_stacks,
    top_functions,
)
from ipysigtrace.render.profile import bundle, render, speedscope, text
from ipysigtrace.sampler import MAX_DEPTH, Sampler

HOSTILE = "<img src=x onerror=alert(1)>\x1b]2;PWNED\x07\u202e"


def deep(k: int, ready: threading.Event, stop: threading.Event) -> None:
    if k:
        deep(k - 1, ready, stop)
    else:
        ready.set()
        stop.wait()


@pytest.fixture
def parked() -> Iterator[threading.Thread]:
    """A thread with a hostile name, 400 calls deep, waiting."""
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=deep, args=(400, ready, stop), name=HOSTILE, daemon=True)
    thread.start()
    ready.wait(10)
    yield thread
    stop.set()
    thread.join(10)


def sampled(rounds: int = 5, **options: object) -> Profile:
    sampler = Sampler(60, cell_thread=threading.get_ident(), **options)  # type: ignore[arg-type]
    for _ in range(rounds):
        sampler.sample()
    assert sampler.finish("stopped") and not sampler.finish("again")
    return sampler.resolve(FrameClassifier(), os.getpid())


def test_counts_by_stack_keeps_the_leaf_of_deep_stacks(parked: threading.Thread) -> None:
    profile = sampled()
    assert profile.ticks == 5 and profile.ended == "stopped"
    (thread,) = [t for t in profile.threads if t.ident == parked.ident]
    assert thread.samples == 5 and len(thread.stacks) == 1  # one stack, counted 5 times
    stack, count = thread.stacks[0]
    assert count == 5 and len(stack) == MAX_DEPTH
    # The innermost is kept (Python 3.10 has no co_qualname: a bare function name).
    assert profile.frames[stack[-1]].function == qualified("Condition.wait")
    assert profile.frames[stack[0]].function == qualified("Thread._bootstrap")  # outermost
    assert profile.cell_thread().ident == threading.get_ident()
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


def test_memory_is_bounded_by_distinct_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampler_module, "MAX_STACKS", 3)
    sampler = Sampler(60, cell_thread=threading.get_ident())

    def at_depth(k: int) -> None:
        if k:
            at_depth(k - 1)
        else:
            sampler.sample()

    for depth in range(10):
        at_depth(depth)
    profile = sampler.resolve(FrameClassifier(), os.getpid())
    assert sampler.distinct == 3 and sum(len(t.stacks) for t in profile.threads) == 3
    assert profile.dropped > 0 and profile.ticks == 10
    assert profile.cell_thread().samples == 10  # every sample is counted, placed or not
    assert "not placed" in text(profile)


def test_a_stack_names_its_own_functions_after_their_code_is_gone() -> None:
    # Stacks are keyed by the ids of code objects: a function compiled, sampled and
    # dropped must not lend its id to the next one (CPython reuses the memory at once).
    sampler = Sampler(60, cell_thread=threading.get_ident())
    for i in range(20):
        scope: dict[str, object] = {"sample": sampler.sample}
        exec(compile(f"def fresh_{i:02}():\n    sample()\n", "<fresh>", "exec"), scope)
        scope[f"fresh_{i:02}"]()  # type: ignore[operator]
        scope.clear()
        gc.collect()  # the function and its globals are a cycle
    profile = sampler.resolve(FrameClassifier(), os.getpid())
    thread = profile.cell_thread()
    assert thread is not None and thread.samples == 20
    leaves = sorted(profile.frames[stack[-2]].function for stack, _ in thread.stacks)
    assert leaves == [f"fresh_{i:02}" for i in range(20)]


def test_views_escape_what_the_kernel_names(parked: threading.Thread) -> None:
    profile = sampled()
    page = bundle(profile)["text/html"]
    assert "<img" not in page and "&lt;img src=x" in page and "\x1b" not in page
    assert "\\x1b]2;PWNED\\x07\\u202e" in page and "<script" not in page
    everything = render(profile, "text").replace(text(profile), "")
    assert everything == ""
    all_threads = text(profile, threads="all")
    assert "\x1b" not in all_threads and "\\x1b]2;PWNED" in all_threads


def test_speedscope_shape(parked: threading.Thread) -> None:
    data = json.loads(json.dumps(speedscope(sampled(3))))
    assert data["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = data["shared"]["frames"]
    assert all(set(f) == {"name", "file", "line"} for f in frames)
    for entry in data["profiles"]:
        assert entry["type"] == "sampled" and entry["unit"] == "none"
        assert len(entry["samples"]) == len(entry["weights"])
        assert sum(entry["weights"]) == entry["endValue"] == 3
        assert all(0 <= i < len(frames) for s in entry["samples"] for i in s)


def test_top_functions_own_and_total() -> None:
    profile = sampled(4)
    thread = profile.cell_thread()
    rows = top_functions(profile, thread.stacks, show_machinery=True)
    assert rows[0].own == 4 and rows[0].frame.function == qualified("Sampler.sample")
    assert any(r.frame.function == "sampled" and r.own == 0 and r.total == 4 for r in rows)
    # Our own frames are the kernel's machinery: hidden from the table unless asked for.
    hidden = top_functions(profile, own_stacks(profile, thread))
    assert all(r.frame.kind != "machinery" for r in hidden)


@pytest.mark.parametrize(
    "data",
    [None, {}, {"format": "ipysigtrace.profile", "version": 99}, {"format": "x"}],
)
def test_from_dict_refuses_in_one_line(data: object) -> None:
    with pytest.raises(ValueError) as caught:
        Profile.from_dict(data)
    assert "\n" not in str(caught.value)


def test_from_dict_refuses_a_stack_outside_the_table() -> None:
    data = sampled(1).to_dict()
    data["threads"][0]["stacks"][0]["frames"] = [len(data["frames"])]
    with pytest.raises(ValueError, match="not in the table"):
        Profile.from_dict(data)


def test_deadline_and_clock() -> None:
    sampler = Sampler(0.0, rate=50)
    assert sampler.interval == pytest.approx(0.02)
    assert sampler.tick(sampler.deadline + 1) and sampler.ended == "duration"
    assert sampler.due_in(0) is None and not sampler.tick(sys.float_info.max)


def qualified(name: str) -> str:
    """A function's name as capture gives it: qualified from 3.11, bare on 3.10."""
    return name if sys.version_info >= (3, 11) else name.rsplit(".", 1)[-1]


def fixture_profile() -> Profile:
    """``tests/fixtures/profile.json``: the lab extension's node tests read it (profiler.ts)."""
    frames = [
        ProfileFrame("dispatch", "/site-packages/ipykernel/kernelbase.py", 10, "machinery"),
        ProfileFrame("<module>", "/tmp/ipykernel_1/3.py", 9, "cell", "Cell In[3]"),
        ProfileFrame("hot", "/tmp/ipykernel_1/3.py", 1, "cell", "Cell In[3]"),
        ProfileFrame("cool", "/home/me/slow.py", 4, "user"),
        ProfileFrame("poll", "/site-packages/zmq/sugar/poll.py", 90, "machinery"),
    ]
    cell = ThreadProfile(
        1, "MainThread", 100, [((0, 1, 2), 70), ((0, 1, 3), 25), ((0, 1), 5)], runs_cell=True
    )
    other = ThreadProfile(2, "IOPub", 100, [((4,), 100)])
    return Profile(4242, 1764320000.0, 10.0, 10.0, 100, "duration", frames, [cell, other])


def test_the_profile_fixture_is_what_the_writer_writes() -> None:
    """If this fails after a deliberate change of the form, write the file anew."""
    path = Path(__file__).parent.parent / "fixtures" / "profile.json"
    profile = fixture_profile()
    assert json.loads(path.read_text()) == profile.to_dict()
    cell = profile.cell_thread()
    shares = [(r.frame.function, r.own) for r in top_functions(profile, cell.stacks)]
    assert shares[:3] == [("hot", 70), ("cool", 25), ("<module>", 5)]  # as profiler.ts says
