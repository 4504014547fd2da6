"""A dump does not cut short the cell's blocking calls, nor get in the way of its interrupt.

A signal that lands on a thread blocked in a system call makes the call fail with EINTR;
Python retries its own calls, C code often does not. The dump signal is blocked on the
main thread (and, in a kernel that loaded ipysigtrace at start, on every kernel thread),
so only the watcher takes it.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from harness import Kernel

pytestmark = pytest.mark.kernel

LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def hold_and_dump(kernel: Kernel, code: str, marker: str) -> str:
    """Run ``code``; once it prints ``marker`` (it is blocked), kill -USR2 the kernel twice
    and wait until both dumps are out. Returns the message id of the cell."""
    msg_id = kernel.submit(code)
    kernel.wait_for_stream(msg_id, marker)
    for _ in range(2):
        kernel.signal(signal.SIGUSR2)
        assert "runs the cell" in kernel.wait_for_display(msg_id, timeout=30)["text/plain"]
    return msg_id


def test_libc_sleep_is_not_cut_short(loaded: Kernel) -> None:
    code = (
        LIBC + "import time\nprint('SLEEPING', flush=True)\n"
        "start = time.monotonic()\nleft = libc.sleep(3)\n"
        "print('SLEPT', left, time.monotonic() - start >= 2.9)"
    )
    msg_id = hold_and_dump(loaded, code, "SLEEPING")
    reply = loaded.collect(msg_id, timeout=60)
    assert "SLEPT 0 True" in reply.stdout, reply.stdout


def test_libc_read_on_a_pipe_does_not_fail_with_eintr(loaded: Kernel, tmp_path: Path) -> None:
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    code = (
        LIBC + "import os\n"
        # Open for reading and writing: a read then waits for data instead of seeing EOF.
        f"fd = os.open({str(fifo)!r}, os.O_RDWR)\n"
        "buf = ctypes.create_string_buffer(1)\nprint('READING', flush=True)\n"
        "n = libc.read(fd, buf, 1)\nprint('READ', n, ctypes.get_errno(), buf.raw)"
    )
    msg_id = hold_and_dump(loaded, code, "READING")
    with open(fifo, "wb") as writer:  # only now does the cell's read have something
        writer.write(b"x")
    reply = loaded.collect(msg_id, timeout=60)
    assert "READ 1 0 b'x'" in reply.stdout, reply.stdout


def masks(kernel: Kernel) -> dict[str, tuple[bool, bool]]:
    """{thread name: (blocks SIGUSR2, blocks SIGINT)} of every thread of the kernel."""
    code = (
        "import os, threading\n"
        "names = {t.native_id: t.name for t in threading.enumerate()}\n"
        "masks = {}\n"
        "for tid in os.listdir('/proc/self/task'):\n"
        "    status = open(f'/proc/self/task/{tid}/status').read()\n"
        "    blocked = int(status.split('SigBlk:')[1].split()[0], 16)\n"
        "    masks[names.get(int(tid), 'native ' + tid)] = (\n"
        "        bool(blocked >> 11 & 1), bool(blocked >> 1 & 1))\n"
    )
    reply = kernel.execute(code + "import json\nprint(json.dumps(masks))", store_history=False)
    return {name: (usr2, sigint) for name, (usr2, sigint) in json.loads(reply.stdout).items()}


def test_only_the_watcher_takes_the_dump_signal_and_it_never_takes_sigint(
    loaded: Kernel,
) -> None:
    found = masks(loaded)
    assert found.pop("ipysigtrace-watcher") == (False, True)
    python_threads = {name: m for name, m in found.items() if not name.startswith("native ")}
    assert {"MainThread", "IOPub", "Control", "Heartbeat"} <= set(python_threads)
    # Loaded at kernel start: ipykernel's threads were started after the main thread blocked
    # the signal, so no thread but the watcher can be woken by it, nor take a SIGINT with it.
    assert all(usr2 for usr2, _ in found.values()), found


def test_load_and_unload_block_and_unblock_it_on_the_main_thread(kernel: Kernel) -> None:
    assert masks(kernel)["MainThread"] == (False, False)
    kernel.execute("%load_ext ipysigtrace")
    assert masks(kernel)["MainThread"] == (True, False)
    kernel.execute("%unload_ext ipysigtrace")
    assert masks(kernel)["MainThread"] == (False, False)
