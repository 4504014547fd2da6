"""Thread states: the frames' guess checked against what Linux says, on real threads."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from ipysigtrace.threadstate import combine, os_state, real_state

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.mark.parametrize(
    ("os_says", "state"),
    [
        (("R", "", None), "running"),
        (("S", "futex_do_wait", False), "running"),  # the GIL, or a timed wait: the frames'
        (("S", "futex_do_wait", True), "waiting for a lock"),
        (("S", "anon_pipe_read", None), "waiting for I/O (anon_pipe_read)"),
        (("S", "hrtimer_nanosleep", None), "sleeping (hrtimer_nanosleep)"),
        (("D", "folio_wait_bit", None), "blocked uninterruptibly in the kernel (folio_wait_bit)"),
        (("S", "0", None), "running"),
    ],
)
def test_combine(os_says: tuple[str, str, bool | None], state: str) -> None:
    assert combine("running", *os_says) == state


def test_a_named_wait_is_left_as_the_frames_say() -> None:
    assert real_state("waiting on a queue", threading.get_native_id()) == "waiting on a queue"
    assert real_state("running", None) == "running"


@pytest.fixture
def blocked_in_c() -> Iterator[threading.Thread]:
    """A thread inside libc's read() on a pipe: C code, no Python line names the wait."""
    read_end, write_end = os.pipe()
    buffer = ctypes.create_string_buffer(1)
    started = threading.Event()

    def run() -> None:
        started.set()
        ctypes.CDLL(None).read(read_end, buffer, 1)

    thread = threading.Thread(target=run, name="reader", daemon=True)
    thread.start()
    started.wait()
    yield thread
    os.write(write_end, b"x")
    thread.join()
    os.close(read_end)
    os.close(write_end)


@linux
def test_a_thread_blocked_in_libc_read_is_not_running(blocked_in_c: threading.Thread) -> None:
    tid = blocked_in_c.native_id
    assert tid is not None
    # Until Linux says it sleeps in the pipe's read: before that it runs, waits for the GIL
    # (a futex), or faults libc's pages in, and each of those is rightly not "I/O".
    deadline = time.monotonic() + 60
    while "pipe" not in ((found := os_state(tid)) or ("", ""))[1]:
        assert time.monotonic() < deadline, f"the reader never blocked in read(): {found}"
    assert real_state("running", tid).startswith("waiting for I/O")


@linux
def test_this_thread_is_running() -> None:
    assert os_state(threading.get_native_id()) == ("R", "", None)
