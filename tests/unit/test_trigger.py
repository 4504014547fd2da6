"""The trigger and the watcher with real signals, in this process (pytest's main thread).

The main thread blocks the dump signal once the trigger is installed (a dump must not cut
short the cell's system calls), so signals are sent to the process, as ``kill`` does, and
the kernel hands them to the watcher. ``signal.raise_signal`` would target the main thread.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ipysigtrace.capture import capture
from ipysigtrace.classify import FrameClassifier
from ipysigtrace.signals import SignalChoiceError, parse_signal
from ipysigtrace.snapshot import StackSnapshot
from ipysigtrace.trigger import SignalTrigger
from ipysigtrace.watcher import MIN_INTERVAL, THREAD_NAME, Watcher


class Recorder:
    """A dump function that captures like the extension does, and remembers."""

    def __init__(self) -> None:
        self.snapshots: list[tuple[str, StackSnapshot]] = []
        self.arrived = threading.Event()
        self.skip: list[int] = []

    def __call__(self, reason: str, done: object) -> None:
        self.snapshots.append((reason, capture(FrameClassifier(), skip_idents=self.skip)))
        self.arrived.set()
        done()  # type: ignore[operator]


@pytest.fixture
def running() -> Iterator[tuple[SignalTrigger, Watcher, Recorder]]:
    trigger = SignalTrigger(signal.SIGUSR2)
    trigger.install()
    recorder = Recorder()
    watcher = Watcher(trigger, recorder)
    watcher.start()
    recorder.skip.append(watcher.ident)  # type: ignore[arg-type]
    yield trigger, watcher, recorder
    trigger.uninstall()
    assert watcher.stop()
    trigger.close()


def test_a_real_signal_makes_one_dump(running: tuple[SignalTrigger, Watcher, Recorder]) -> None:
    _, watcher, recorder = running
    os.kill(os.getpid(), signal.SIGUSR2)
    assert recorder.arrived.wait(2)
    reason, snapshot = recorder.snapshots[0]
    assert reason == "signal"
    names = {t.name for t in snapshot.threads}
    assert "MainThread" in names and THREAD_NAME not in names
    assert watcher.thread.daemon and watcher.thread.name == THREAD_NAME
    assert watcher.thread.pydev_do_not_trace  # type: ignore[attr-defined]


def test_requests_and_storms_coalesce(running: tuple[SignalTrigger, Watcher, Recorder]) -> None:
    trigger, watcher, recorder = running
    start = time.monotonic()
    for _ in range(10_000):
        trigger.request()
    for _ in range(200):
        os.kill(os.getpid(), signal.SIGUSR2)
    elapsed = time.monotonic() - start
    time.sleep(0.3)
    bound = 2 + (elapsed + 0.3) / MIN_INTERVAL
    assert 1 <= len(recorder.snapshots) <= bound, f"{len(recorder.snapshots)} dumps"
    assert watcher.alive


def test_uninstall_restores_the_earlier_handler_and_wakeup_fd() -> None:
    calls: list[int] = []

    def earlier(signum: int, frame: object) -> None:
        calls.append(signum)

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    reader.setblocking(False)
    old_handler = signal.signal(signal.SIGUSR2, earlier)
    old_fd = signal.set_wakeup_fd(writer.fileno())
    try:
        trigger = SignalTrigger(signal.SIGUSR2)
        trigger.install()
        recorder = Recorder()
        watcher = Watcher(trigger, recorder)
        watcher.start()
        os.kill(os.getpid(), signal.SIGUSR2)
        assert recorder.arrived.wait(2)
        assert calls == [signal.SIGUSR2], "the earlier handler still runs"
        signal.signal(signal.SIGUSR1, lambda *a: None)
        signal.raise_signal(signal.SIGUSR1)
        time.sleep(0.2)
        assert reader.recv(16) == bytes([signal.SIGUSR1]), "other signals are forwarded"
        assert trigger.uninstall() == []
        assert watcher.stop()
        trigger.close()
        assert signal.getsignal(signal.SIGUSR2) is earlier
        assert signal.set_wakeup_fd(-1) == writer.fileno()
    finally:
        signal.signal(signal.SIGUSR2, old_handler)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        signal.set_wakeup_fd(old_fd)
        reader.close()
        writer.close()


def test_a_later_owner_is_left_alone_and_reported() -> None:
    trigger = SignalTrigger(signal.SIGUSR2)
    trigger.install()
    later = lambda *a: None  # noqa: E731
    signal.signal(signal.SIGUSR2, later)
    assert trigger.still_owned() == (False, "ours")
    notes = trigger.uninstall()
    trigger.close()
    assert any("another handler" in n for n in notes)
    assert signal.getsignal(signal.SIGUSR2) is later
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)


def test_install_from_another_thread_is_refused() -> None:
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            SignalTrigger(signal.SIGUSR2).install()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    assert errors and "main thread" in str(errors[0])
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL


@pytest.mark.parametrize("value", ["SIGUSR2", "usr2", "USR2", str(int(signal.SIGUSR2)), 12])
def test_parse_signal_accepts(value: str | int) -> None:
    assert parse_signal(value) == signal.SIGUSR2


@pytest.mark.parametrize(
    ("value", "number", "name"),
    [
        ("SIGRTMIN+1", signal.SIGRTMIN + 1, "SIGRTMIN+1"),  # the refusal message suggests it
        ("rtmin+3", signal.SIGRTMIN + 3, "SIGRTMIN+3"),
        ("SIGRTMAX-2", signal.SIGRTMAX - 2, "SIGRTMAX-2"),
        (str(signal.SIGRTMIN + 1), signal.SIGRTMIN + 1, "SIGRTMIN+1"),
        ("SIGRTMIN", signal.SIGRTMIN, "SIGRTMIN"),
        ("RTMAX", signal.SIGRTMAX, "SIGRTMAX"),
        ("SIGQUIT", signal.SIGQUIT, "SIGQUIT"),
    ],
)
def test_parse_signal_accepts_real_time_signals(value: str, number: int, name: str) -> None:
    sig = parse_signal(value)
    assert int(sig) == number and sig.name == name


def test_a_real_time_signal_makes_a_dump() -> None:
    sig = parse_signal("SIGRTMIN+1")
    trigger = SignalTrigger(sig)  # type: ignore[arg-type]
    trigger.install()
    recorder = Recorder()
    watcher = Watcher(trigger, recorder)
    watcher.start()
    try:
        os.kill(os.getpid(), sig)  # to the process, as kill does: the main thread blocks it
        assert recorder.arrived.wait(10)
        assert recorder.snapshots[0][0] == "signal"
    finally:
        trigger.uninstall()
        assert watcher.stop()
        trigger.close()
    assert signal.getsignal(sig) == signal.SIG_DFL


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("SIGINT", "interrupt"),
        ("kill", "cannot be caught"),
        ("SIGSTOP", "cannot be caught"),
        ("SIGSEGV", "crashes"),
        ("SIGALRM", "timers use it"),
        ("alrm", "timers use it"),
        ("SIGVTALRM", "sampling profilers use it"),
        ("SIGPROF", "profilers use it"),
        ("SIGWINCH", "every resize"),
        ("SIGPOLL", "asynchronous I/O"),
        ("SIGPWR", "garbage collectors"),
        ("SIGTRAP", "debuggers"),
        ("SIGRTMIN-1", "not a real-time signal: they go from SIGRTMIN to SIGRTMIN+"),
        ("SIGRTMAX+1", "not a real-time signal"),
        ("SIGRTMIN+99", "not a real-time signal"),
        (str(signal.SIGRTMIN - 1), "reserved by the C library"),
        ("nope", "unknown signal"),
        ("1000", "not a signal number"),
        ("", "unknown signal"),
    ],
)
def test_parse_signal_refuses(value: str, why: str) -> None:
    with pytest.raises(SignalChoiceError, match=why):
        parse_signal(value)


def test_the_handler_does_not_wait_without_a_watcher() -> None:
    trigger = SignalTrigger(signal.SIGUSR2, handoff=0.05)
    trigger.install()
    try:
        start = time.perf_counter()
        os.kill(os.getpid(), signal.SIGUSR2)
        waited = time.perf_counter() - start
        assert waited < 5, "bounded wait"  # generous: this is about not hanging
    finally:
        trigger.uninstall()
        trigger.close()
    assert os.getpid() == trigger.pid


def test_a_taken_wakeup_fd_still_gets_a_dump(
    running: tuple[SignalTrigger, Watcher, Recorder],
) -> None:
    """asyncio's add_signal_handler takes the wakeup fd (terminal IPython, at each prompt)."""
    trigger, _, recorder = running
    theirs_read, theirs_write = os.pipe()
    os.set_blocking(theirs_write, False)
    ours = signal.set_wakeup_fd(theirs_write)
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
        # The C handler wrote to their fd; their event loop wakes on it and the main thread
        # runs Python again, which runs our handler, which sends the request itself.
        assert select.select([theirs_read], [], [], 2)[0]
        assert recorder.arrived.wait(2), "the handler sent the request itself"
        assert os.read(theirs_read, 16) == bytes((signal.SIGUSR2,)), "their byte is theirs"
        assert trigger.still_owned() == (True, "other"), "their fd stays in place"
        time.sleep(MIN_INTERVAL * 4)
        assert len(recorder.snapshots) == 1, "one signal, one dump"
    finally:
        signal.set_wakeup_fd(ours)
        os.close(theirs_read)
        os.close(theirs_write)


def test_a_wakeup_fd_nobody_holds_is_taken_back(
    running: tuple[SignalTrigger, Watcher, Recorder],
) -> None:
    """asyncio's remove_signal_handler leaves no wakeup fd at all.

    The C handler then writes no byte, and the signal, blocked on the main thread, wakes
    nothing there: the handler sends the request itself when the main thread next checks
    for signals (here ``os.kill``'s own check; in a kernel, each cell's start takes the fd
    back too). Python 3.12 does not even flag a signal taken on another thread to the main
    thread's evaluation loop, so the check is made explicit rather than waited for.
    """
    trigger, _, recorder = running
    signal.set_wakeup_fd(-1)
    assert trigger.still_owned() == (True, "ours"), "taken back when the status is asked"
    signal.set_wakeup_fd(-1)
    os.kill(os.getpid(), signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while not recorder.arrived.wait(0.01):  # the watcher's thread may take it a bit later
        assert time.monotonic() < deadline, "the handler never sent the request"
        os.kill(os.getpid(), 0)  # the main thread checks for signals: the handler runs
    assert trigger.previous_wakeup_fd == -1, "what was there before is gone"
    assert signal.set_wakeup_fd(trigger._write_fd, warn_on_full_buffer=False) == (
        trigger._write_fd
    ), "taken back by the handler"
    recorder.arrived.clear()
    time.sleep(MIN_INTERVAL * 2)
    os.kill(os.getpid(), signal.SIGUSR2)  # the next one goes the usual way
    assert recorder.arrived.wait(2)
    assert [reason for reason, _ in recorder.snapshots] == ["signal", "signal"]
