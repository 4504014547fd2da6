"""Test set-up: an isolated Jupyter environment and real kernels."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import BARE_KERNEL_NAME, KERNEL_NAME, Kernel


@pytest.fixture(scope="session", autouse=True)
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Private Jupyter and IPython directories, and kernelspecs for this interpreter.

    KERNEL_NAME is a kernel as a user gets it after installing (ipysigtrace loads itself);
    BARE_KERNEL_NAME has autoloading switched off, as for a user who opted out.
    """
    root = tmp_path_factory.mktemp("jupyter")
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    for name, env in ((KERNEL_NAME, {}), (BARE_KERNEL_NAME, {"IPYSIGTRACE_AUTOLOAD": "0"})):
        spec = root / "data" / "kernels" / name
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": name, "language": "python", "env": env})
        )
    saved = dict(os.environ)
    os.environ.update(
        JUPYTER_PATH=str(root / "data"),
        JUPYTER_DATA_DIR=str(root / "data"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTER_CONFIG_DIR=str(root / "config"),
        IPYTHONDIR=str(root / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    os.environ.pop("IPYSIGTRACE_SIGNAL", None)
    os.environ.pop("IPYSIGTRACE_AUTOLOAD", None)
    # A shell without job control starts background commands with SIGINT ignored, and an
    # ignored signal stays ignored through exec: terminal IPython started from here would
    # then never see Ctrl-C. A handler of ours is reset to the default in every child.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield root
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    """A fresh kernel without ipysigtrace (autoloading off), for tests that load it."""
    k = Kernel(BARE_KERNEL_NAME)
    yield k
    k.shutdown()


@pytest.fixture
def loaded() -> Iterator[Kernel]:
    """A fresh kernel as a user gets it: ipysigtrace loaded itself at start."""
    k = Kernel()
    status = k.execute("%stackdump --status").stdout
    assert "watcher thread ipysigtrace-watcher: alive" in status, status
    yield k
    k.shutdown()


@pytest.fixture(autouse=True)
def signals_left_as_found() -> Iterator[None]:
    """No test leaves the test process's signal mask or handlers changed.

    Every process the suite starts (kernels, terminal IPython, the command line) inherits
    the mask through exec: a signal left blocked here would be blocked there too.
    """
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGUSR2)}
    yield
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask, "the signal mask changed"
    after = {sig: signal.getsignal(sig) for sig in handlers}
    assert after == handlers, "a signal handler changed"
