"""A kernel's dump lists the processes its cell started, by PID and command line, in real kernels.

The cell starts a multiprocessing pool (fork, then forkserver, whose workers are the
forkserver's children) and another program, and waits on them; every view of
the dump names each of them, and a command line that holds markup or escape sequences is
shown as text.
"""

from __future__ import annotations

import json

import pytest

from harness import Kernel
from ipysigtrace.render import MIME_TYPE
from ipysigtrace.snapshot import StackSnapshot

pytestmark = pytest.mark.kernel

HANG = """\
import json, multiprocessing, subprocess, sys, time
pool = multiprocessing.get_context({method!r}).Pool(2)
other = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(1000)", "<b>x</b>\\x1b[31m"]
)
result = pool.map_async(time.sleep, [10**6] * 2)  # a function the forkserver can import
while len(multiprocessing.active_children()) < 2:
    time.sleep(0.01)
print("PIDS", json.dumps([p.pid for p in pool._pool] + [other.pid]), flush=True)
result.get()
"""

CLEANUP = "pool.terminate(); other.kill(); other.wait(); pool.join()"


def started(kernel: Kernel, msg_id: str) -> list[int]:
    """The PIDs the cell printed: its pool's workers, then the other program."""
    pids: list[int] = json.loads(kernel.printed_line(msg_id, "PIDS "))
    return pids


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_dump_lists_the_cells_worker_processes(loaded: Kernel, method: str) -> None:
    msg_id = loaded.submit(HANG.format(method=method))
    *workers, other = started(loaded, msg_id)
    shows = [f"pid {p}" for p in workers] + [f"pid {other}: ", "time.sleep(1000) <b>x</b>"]
    content = loaded.dump_showing(msg_id, *shows)
    text = content["data"]["text/plain"]
    snapshot = StackSnapshot.from_dict(content["data"][MIME_TYPE]["snapshot"])
    listed = {p.pid: p for p in snapshot.processes}
    assert set(workers) | {other} <= set(listed), text
    assert "child processes (their own stacks are not in this dump)" in text
    assert listed[other].parent == snapshot.pid
    assert listed[other].command.endswith("time.sleep(1000) <b>x</b>\x1b[31m")
    # Text shows escapes as escapes; HTML shows markup as text.
    assert "\x1b" not in text and "\\x1b[31m" in text
    html = content["data"]["text/html"]
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    if method == "forkserver":
        # The workers are the forkserver's children, and say so.
        server = {listed[p].parent for p in workers}
        assert len(server) == 1 and server != {snapshot.pid}, text
        assert server <= set(listed), "the forkserver itself is listed"
        assert f"pid {workers[0]} (child of {server.pop()}):" in text
    else:
        assert all(listed[p].parent == snapshot.pid for p in workers)
    loaded.interrupt_and_check(msg_id)
    loaded.execute(CLEANUP)


def test_a_kernel_without_children_lists_none(loaded: Kernel) -> None:
    (data,) = loaded.execute("%stackdump").displays
    assert "Stacks of process" in data["text/plain"]
    assert "child process" not in data["text/plain"] + data["text/html"]
    assert "processes" not in data[MIME_TYPE]["snapshot"]
