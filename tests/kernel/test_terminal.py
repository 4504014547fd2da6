"""Terminal IPython: the dump goes to the terminal through the original stderr fd."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

SESSION = """\
%load_ext ipysigtrace
import os, signal, time
def waiting_here():
    os.kill(os.getpid(), signal.SIGUSR2); time.sleep(0.5)
waiting_here()
print("still", "alive")
print("blocked during a command:", signal.SIGUSR2 in signal.pthread_sigmask(signal.SIG_BLOCK, []))
%unload_ext ipysigtrace
import signal; print("restored", signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL)
exit
"""


def test_terminal_ipython(tmp_path) -> None:
    env = {**os.environ, "IPYTHONDIR": str(tmp_path), "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=NoColor"],
        input=SESSION,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "SIGUSR2 handler and watcher installed" in done.stdout
    assert "still alive" in done.stdout
    # While a command runs the main thread blocks the signal (a dump never cuts its
    # system calls short); at the prompt it does not (asyncio holds the wakeup fd there).
    assert "blocked during a command: True" in done.stdout
    assert "restored True" in done.stdout  # SIG_DFL
    dump = done.stderr
    assert "Stacks of process" in dump and "Thread MainThread" in dump
    assert "in waiting_here" in dump and "time.sleep(0.5)" in dump
    assert "Traceback" not in dump
