"""What a dump of a real kernel shows: the right thread first, real states, loop threads.

Groups of threads: test_hangs.test_three_hundred_idle_threads."""

from __future__ import annotations

import signal

import pytest

from harness import Kernel
from ipysigtrace.render import MIME_TYPE
from ipysigtrace.snapshot import StackSnapshot

pytestmark = pytest.mark.kernel

LIBC_READ = """\
import ctypes, os
libc = ctypes.CDLL(None)
read_end, write_end = os.pipe()
buffer = ctypes.create_string_buffer(1)
"""


def saved(data: dict) -> StackSnapshot:
    """The snapshot a display bundle carries (its compact form), read."""
    return StackSnapshot.from_dict(data[MIME_TYPE]["snapshot"])


def test_a_cell_blocked_in_libc_read_is_waiting_not_running(loaded: Kernel) -> None:
    code = LIBC_READ + "print('READING', flush=True)\nlibc.read(read_end, buffer, 1)"
    msg_id = loaded.submit(code)
    loaded.wait_for_stream(msg_id, "READING")
    # The cell may not yet be in read() when the marker arrives (still running, or still in
    # print's flush, waiting on an event): dump until it is.
    for _ in range(20):
        loaded.signal(signal.SIGUSR2)
        data = loaded.wait_for_display(msg_id, timeout=30)
        main = next(t for t in saved(data).threads if t.runs_cell)
        if main.state.startswith("waiting for I/O"):
            break
    assert main.state.startswith("waiting for I/O"), main.state
    assert "runs the cell: waiting for I/O" in data["text/plain"]
    loaded.interrupt_and_check(msg_id)


def test_a_stackdump_shows_the_waiting_threads_first(loaded: Kernel) -> None:
    setup = (
        "import threading\nheld = threading.Lock()\nheld.acquire()\n"
        "threading.Thread(target=lambda: held.acquire(), name='stuck', daemon=True).start()"
    )
    loaded.execute(setup)
    text = loaded.execute("%stackdump").displays[0]["text/plain"]
    headings = [line for line in text.splitlines() if line.startswith("Thread ")]
    assert headings[0].startswith("Thread stuck ") and "waiting for a lock" in headings[0]
    assert headings[-1].startswith("Thread MainThread") and "runs the cell" in headings[-1]
    html = loaded.execute("%stackdump").displays[0]["text/html"]
    stuck = html[: html.index("stuck")]
    assert stuck.rstrip().endswith("<summary>Thread <b>") and "<details open" in stuck[-80:]
    loaded.execute("held.release()")


def test_an_event_loop_thread_that_user_code_started_is_shown(loaded: Kernel) -> None:
    setup = (
        "import asyncio, threading\nloop = asyncio.new_event_loop()\n"
        "threading.Thread(target=loop.run_forever, name='user-loop', daemon=True).start()"
    )
    loaded.execute(setup)
    (data,) = loaded.execute("%stackdump").displays
    threads = {t.name: t for t in saved(data).threads}
    assert not threads["user-loop"].service
    assert "Thread user-loop " in data["text/plain"]
    assert threads["IOPub"].service and "IOPub" not in data["text/plain"].split("hidden")[0]
    loaded.execute("loop.call_soon_threadsafe(loop.stop)")
