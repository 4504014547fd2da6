"""The kernel's runtime files: refused when planted, gone when the kernel goes, however it ends."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest
from jupyter_core.paths import jupyter_runtime_dir

from harness import Kernel

pytestmark = pytest.mark.kernel


def files_of(pid: int) -> list[str]:
    runtime = Path(jupyter_runtime_dir())
    return sorted(p.name for p in runtime.glob(f"ipysigtrace-{pid}.*"))


def test_a_fifo_planted_at_the_raw_path_is_refused_in_one_line(kernel: Kernel) -> None:
    raw = Path(jupyter_runtime_dir()) / f"ipysigtrace-{kernel.pid}.raw"
    os.mkfifo(raw)
    try:
        reply = kernel.execute("%load_ext ipysigtrace", timeout=30)  # does not hang
        assert "handler and watcher installed" in reply.stdout
        notes = [line for line in reply.stderr.splitlines() if line.strip()]
        assert len(notes) == 1 and "going on without raw dumps" in notes[0], reply.stderr
        assert "raw dumps:" not in kernel.execute("%stackdump --status").stdout
        assert stat.S_ISFIFO(raw.lstat().st_mode), "left as it was"
    finally:
        raw.unlink()


def test_files_go_at_a_normal_shutdown(loaded: Kernel) -> None:
    pid = loaded.pid
    assert files_of(pid) == [f"ipysigtrace-{pid}.{k}" for k in ("children", "json", "raw", "txt")]
    loaded.kc.stop_channels()
    loaded.km.shutdown_kernel(now=False)  # a shutdown_request: the kernel exits by itself
    assert files_of(pid) == []


def test_files_of_a_killed_kernel_go_when_another_kernel_starts(loaded: Kernel) -> None:
    pid = loaded.pid
    os.kill(pid, signal.SIGKILL)
    loaded.km.provisioner.process.wait()  # reaped, so the PID is gone
    assert files_of(pid), "nothing could remove them yet"
    other = Kernel()
    try:
        assert files_of(pid) == []
        assert files_of(other.pid)
    finally:
        other.shutdown()
