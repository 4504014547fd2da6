"""Test set-up: an isolated Jupyter environment and real kernels."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import KERNEL_NAME, Kernel


@pytest.fixture(scope="session", autouse=True)
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Private Jupyter and IPython directories, and a kernelspec for this interpreter."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "data" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "ipysigtrace tests", "language": "python"})
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
    yield root
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    """A fresh kernel for one test."""
    k = Kernel()
    yield k
    k.shutdown()


@pytest.fixture
def loaded(kernel: Kernel) -> Kernel:
    """A fresh kernel with ipysigtrace loaded."""
    reply = kernel.execute("%load_ext ipysigtrace")
    assert "handler and watcher installed" in reply.stdout, reply.messages
    return kernel
