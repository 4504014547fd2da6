"""Which process is which kernel: the command line against real kernels, forked workers,
processes that catch our signals, kernel ids made of digits and connection files elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import Kernel

pytestmark = pytest.mark.kernel


def cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ipysigtrace.cli", *args]
    environ = {**os.environ, **env}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environ)


def runtime() -> Path:
    return Path(os.environ["JUPYTER_RUNTIME_DIR"])


NATIVE = """\
import itertools, time
def native():
    return sum(itertools.repeat(1))
time.sleep(0.3)
native()
"""


def test_the_raw_dump_uses_the_signal_the_kernel_published(kernel: Kernel) -> None:
    kernel.execute(
        "get_ipython().config.IPySigTrace.raw_signal = 'SIGRTMIN+1'\n%load_ext ipysigtrace"
    )
    identity = runtime() / f"ipysigtrace-{kernel.pid}.json"
    assert json.loads(identity.read_text())["raw_signal"] == "SIGRTMIN+1"
    kernel.submit(NATIVE)
    deadline = time.monotonic() + 60
    while True:  # a rich dump (from the control channel) until native code holds the GIL
        done = cli("dump", str(kernel.pid), "--timeout", "1")
        if "raw dump" in done.stdout:
            break
        assert time.monotonic() < deadline, done.stderr or done.stdout
    assert done.returncode == 0 and "in native" in done.stdout, done.stderr
    assert kernel.alive()
