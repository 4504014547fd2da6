"""The verdict (moving or still, and since when), on snapshots of real threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ipysigtrace.capture import capture
from ipysigtrace.classify import FrameClassifier
from ipysigtrace.live import Clock, live_header
from ipysigtrace.render import html, text
from ipysigtrace.snapshot import FrameRecord, ProcessRecord, StackSnapshot, ThreadStack
from ipysigtrace.verdict import Memory, cell_verdict, thread_text, without_locals

CLASSIFIER = FrameClassifier()


@dataclass
class Stepper:
    """A thread that waits at one line; each step adds one to its local ``count``."""

    thread: threading.Thread
    steps: queue.Queue[bool]
    counts: queue.Queue[int]

    def step(self) -> int:
        """Let it go round once; returns the new count once it is back at its wait."""
        self.steps.put(True)
        count = self.counts.get(timeout=5)
        parked_again(self.thread)
        return count


def _stepping(steps: queue.Queue[bool], counts: queue.Queue[int]) -> None:
    count = 0
    while steps.get():
        count += 1
        counts.put(count)


def parked_again(thread: threading.Thread) -> None:
    """Until the thread is back in its queue's wait (a condition, with a bound; no sleep)."""
    for _ in range(10_000):
        snapshot = capture(CLASSIFIER)
        found = snapshot.thread(thread.ident or 0)
        if found and found.frames and found.frames[-1].function.endswith("wait"):
            return
    raise AssertionError(f"{thread.name} never got back to its wait")


@pytest.fixture
def stepper() -> Iterator[Stepper]:
    steps: queue.Queue[bool] = queue.Queue()
    counts: queue.Queue[int] = queue.Queue()
    thread = threading.Thread(target=_stepping, args=(steps, counts), name="stepper", daemon=True)
    thread.start()
    parked_again(thread)
    yield Stepper(thread, steps, counts)
    steps.put(False)
    thread.join(5)


def judged(memory: Memory, cell_thread: int | None = None) -> StackSnapshot:
    snapshot = capture(CLASSIFIER, with_locals=True, cell_thread=cell_thread)
    memory.judge(snapshot)
    return snapshot


def of(snapshot: StackSnapshot, thread: threading.Thread) -> ThreadStack:
    found = snapshot.thread(thread.ident or 0)
    assert found is not None
    return found


def test_first_look_then_still_since_the_first_snapshot(stepper: Stepper) -> None:
    memory = Memory()
    first = judged(memory)
    assert of(first, stepper.thread).verdict == "first"
    assert thread_text(of(first, stepper.thread), first.time).startswith("first look")
    second = judged(memory)
    third = judged(memory)
    for later in (second, third):
        waiting = of(later, stepper.thread)
        assert waiting.verdict == "still", waiting.changed
        assert waiting.still_since == first.time, "still since the first snapshot that saw it"
    words = thread_text(of(third, stepper.thread), third.time)
    assert words.startswith("same place, same locals, for "), words


def test_a_rising_counter_at_the_same_line_is_moving(stepper: Stepper) -> None:
    memory = Memory()
    before = of(judged(memory), stepper.thread)
    assert stepper.step() == 1
    moved = judged(memory)
    after = of(moved, stepper.thread)
    assert after.frames[-1].lineno == before.frames[-1].lineno, "the same place..."
    assert after.verdict == "moving", "...but its count rose"
    assert "count" in after.changed and "_stepping" in after.changed
    assert after.still_since is None
    # Still again from the next snapshot on, since the one that saw the move.
    for _ in range(2):
        again = judged(memory)
        assert of(again, stepper.thread).verdict == "still"
        assert of(again, stepper.thread).still_since == moved.time


def test_a_snapshot_without_locals_is_not_still_against_one_with_them(stepper: Stepper) -> None:
    """The kernel always reads locals to judge; without them the place alone decides."""
    memory = Memory()
    with_locals = judged(memory)
    plain = capture(CLASSIFIER)
    memory.judge(plain)
    assert of(with_locals, stepper.thread).verdict == "first"
    assert of(plain, stepper.thread).verdict == "moving"


def test_a_snapshot_judged_late_changes_nothing(stepper: Stepper) -> None:
    """Two captures at once (the watcher and the control thread) may be judged out of order."""
    memory = Memory()
    first = judged(memory)
    late = capture(CLASSIFIER, with_locals=True)
    newer = judged(memory)
    memory.judge(late)
    assert of(late, stepper.thread).verdict == "still", "the same as since before it"
    assert of(late, stepper.thread).still_since == first.time
    assert of(newer, stepper.thread).still_since == first.time
    stepper.step()
    too_late = capture(CLASSIFIER, with_locals=True)
    moved = judged(memory)
    memory.judge(too_late)
    assert of(too_late, stepper.thread).verdict == "", "not sure: left unjudged"
    assert of(judged(memory), stepper.thread).still_since == moved.time, "memory unchanged"


def test_locals_read_to_judge_are_dropped(stepper: Stepper) -> None:
    snapshot = judged(Memory())
    assert any(f.locals is not None for t in snapshot.threads for f in t.frames)
    without_locals(snapshot)
    assert all(f.locals is None for t in snapshot.threads for f in t.frames)


def test_the_cell_line_and_the_live_header(stepper: Stepper) -> None:
    memory = Memory()
    ident = stepper.thread.ident
    first = capture(CLASSIFIER, with_locals=True, cell_thread=ident)
    first.cell_started = first.time - 65
    memory.judge(first)
    assert cell_verdict(first).startswith("cell running for 1 min 5 s · first look")
    second = judged(memory, cell_thread=ident)
    second.cell_started = first.cell_started
    header = live_header(second)
    assert "cell running for 1 min" in header and "same place, same locals, for" in header
    ended = judged(memory)  # no cell runs: cell_started stays None
    assert "no cell running" in live_header(ended) and "cell running for" not in live_header(ended)


def test_renderers_say_what_changed(stepper: Stepper) -> None:
    memory = Memory()
    judged(memory, cell_thread=stepper.thread.ident)
    stepper.step()
    snapshot = judged(memory, cell_thread=stepper.thread.ident)
    snapshot.cell_started = snapshot.time - 3
    assert "moving: local count in _stepping" in text.render(snapshot)
    assert "Cell running for 3 s · moving: local count" in text.render(snapshot)
    assert "moving: local count in _stepping" in html.render(snapshot)


def test_the_verdict_survives_json_and_old_snapshots_still_load(stepper: Stepper) -> None:
    memory = Memory()
    judged(memory)
    snapshot = judged(memory)
    snapshot.cell_started = snapshot.time - 1
    back = StackSnapshot.from_json(snapshot.to_json())
    assert of(back, stepper.thread).verdict == "still"
    assert of(back, stepper.thread).still_since == of(snapshot, stepper.thread).still_since
    assert back.cell_started == snapshot.cell_started
    data = snapshot.to_dict()
    del data["cell_started"]
    for thread in data["threads"]:
        for key in ("verdict", "still_since", "changed"):
            del thread[key]
    old = StackSnapshot.from_dict(data)
    assert old.cell_started is None and {t.verdict for t in old.threads} == {""}
    assert cell_verdict(old) == "", "nobody judged it: say nothing rather than 'no cell'"
    data["threads"][0]["verdict"] = "stuck"
    with pytest.raises(ValueError, match=r"threads\[0\]\.verdict"):
        StackSnapshot.from_dict(data)
    data["threads"][0]["verdict"] = "still"
    data["threads"][0]["still_since"] = -1
    with pytest.raises(ValueError, match="still_since"):
        StackSnapshot.from_dict(data)


def test_a_cell_that_ends_refreshes_live_views_once() -> None:
    clock = Clock(live_interval=2.0)
    refreshed: list[str] = []
    clock.cell_started(100.0)
    clock.cell_started(None)
    assert clock.next_due(105.0) is None, "no view was refreshed during that cell"
    clock.cell_started(110.0)
    clock.showing_cell = True  # a refresh during the cell
    clock.cell_started(None)
    assert clock.next_due(115.0) == 0.0, "due at once: the views still say a cell runs"
    clock.fire(115.0, lambda: refreshed.append("live"), lambda: refreshed.append("watchdog"))
    assert refreshed == ["live"]
    assert clock.next_due(116.0) is None, "and then nothing, until a cell starts"


@pytest.mark.parametrize("make", [threading.RLock, threading._PyRLock], ids=["C", "Python"])  # type: ignore[attr-defined]
def test_a_thread_waiting_for_an_rlock_names_its_owner(make: Any) -> None:
    lock = make()
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            release.wait()

    def waiter() -> None:
        with lock:
            pass

    owner = threading.Thread(target=holder, name="holder", daemon=True)
    owner.start()
    assert held.wait(5)
    blocked = threading.Thread(target=waiter, name="waiter", daemon=True)
    blocked.start()
    try:
        for _ in range(10_000):  # until it waits in the lock's acquire (a condition, bounded)
            snapshot = capture(CLASSIFIER, with_locals=True)
            thread = of(snapshot, blocked)
            if thread.state == "waiting for a lock" and (
                make is threading.RLock or thread.frames[-1].function.endswith("acquire")
            ):
                break
        assert thread.held_by == f"holder (ident {owner.ident})", thread
        assert of(snapshot, owner).held_by == "", "the holder waits on an event"
        assert "held by thread holder" in text.render(snapshot)
        assert capture(CLASSIFIER).thread(blocked.ident or 0).held_by == "", "needs the locals"  # type: ignore[union-attr]
    finally:
        release.set()
        owner.join(5)
        blocked.join(5)


def test_worker_threads_are_judged_apart_from_the_kernels_own() -> None:
    """A forked worker's main thread has the ident of the kernel's: each is judged by its
    process and ident, so the worker is still while the kernel's thread moves."""

    def at(line: int, pid: int, time: float) -> StackSnapshot:
        kernel = ThreadStack(1, "MainThread", frames=[FrameRecord("/k.py", line, "spin")])
        worker = ThreadStack(1, "MainThread", frames=[FrameRecord("/w.py", 4, "work")])
        process = ProcessRecord(pid, 4242, "python", forked=True, threads=[worker])
        return StackSnapshot(time, 4242, [kernel], processes=[process])

    memory = Memory()
    first, second = at(3, 4245, 100.0), at(5, 4245, 110.0)
    memory.judge(first)
    memory.judge(second)
    assert first.processes[0].threads[0].verdict == "first"
    kernel, worker = second.threads[0], second.processes[0].threads[0]
    assert kernel.verdict == "moving" and kernel.changed == "line 3 → 5 in spin"
    assert worker.verdict == "still" and worker.still_since == 100.0
    assert "same place, same locals, for 10 s" in text.render(second)
    # A worker that misses one answer is judged against its last one when it answers again.
    silent = at(5, 4245, 115.0)
    silent.processes[0].threads, silent.processes[0].note = [], "no answer within 0.5 s"
    memory.judge(silent)
    again = at(5, 4245, 118.0)
    memory.judge(again)
    assert again.processes[0].threads[0].still_since == 100.0
    # Another worker with that ident is a first look, not the same thread.
    third = at(5, 4246, 120.0)
    memory.judge(third)
    assert third.processes[0].threads[0].verdict == "first"
