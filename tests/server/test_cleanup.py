"""No leftovers: a kernel's runtime files go when the server stops, restarts or kills it.

A killed kernel cannot remove its own files; the server does, after the shutdown or the
restart, and at start for kernels that died before. Real files in the runtime directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ipysigtrace.runtime import KINDS, kernel_file
from ipysigtrace.server.cleanup import has_kernel_actions

from .api import start_kernel, status_once_loaded

pytestmark = pytest.mark.server


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def plant(runtime: Path, pid: int) -> list[Path]:
    paths = [Path(kernel_file(str(runtime), pid, kind)) for kind in KINDS]
    for path in paths:
        path.write_text(json.dumps({"pid": pid}))
        path.chmod(0o600)
    return paths


@pytest.fixture
def planted(jp_runtime_dir: Path) -> dict[str, list[Path]]:
    """Before the server starts: files of a dead kernel, of a live process, and a FIFO."""
    fifo = Path(kernel_file(str(jp_runtime_dir), dead_pid(), "raw"))
    os.mkfifo(fifo, 0o600)
    return {
        "stale": plant(jp_runtime_dir, dead_pid()),
        "kept": [*plant(jp_runtime_dir, os.getpid()), fifo],
    }


@pytest.fixture
def jp_server_config(planted: dict[str, list[Path]]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"ipysigtrace": True}}}


async def files_of(jp_fetch: Any, jp_serverapp: Any, kernel_id: str) -> tuple[int, list[Path]]:
    """A loaded kernel's PID and its files, which exist once it answers."""
    await status_once_loaded(jp_fetch, kernel_id)
    pid = jp_serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid
    paths = [Path(kernel_file(os.environ["JUPYTER_RUNTIME_DIR"], pid, kind)) for kind in KINDS]
    assert all(p.exists() for p in paths), paths
    return pid, paths


def kill(jp_serverapp: Any, kernel_id: str, pid: int) -> None:
    """SIGKILL the kernel as the OOM killer would; the server does not start it again."""
    jp_serverapp.kernel_manager.get_kernel(kernel_id).stop_restarter()
    os.kill(pid, 9)


async def until_gone(paths: list[Path], timeout: float = 60) -> None:
    """The server removes them after the action's event: wait for that, up to a limit."""
    deadline = time.monotonic() + timeout
    while any(p.exists() for p in paths):
        assert time.monotonic() < deadline, [p.name for p in paths if p.exists()]
        await asyncio.sleep(0.1)


async def test_stale_files_go_at_start(jp_serverapp: Any, planted: dict[str, list[Path]]) -> None:
    assert not any(p.exists() for p in planted["stale"])
    assert all(p.exists() for p in planted["kept"]), "a live process's files and a FIFO stay"


@pytest.mark.parametrize("action", ["delete", "restart"])
async def test_files_of_a_killed_kernel_go(jp_fetch: Any, jp_serverapp: Any, action: str) -> None:
    kernel_id = await start_kernel(jp_fetch)
    pid, paths = await files_of(jp_fetch, jp_serverapp, kernel_id)
    kill(jp_serverapp, kernel_id, pid)
    if action == "restart":
        await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="")
    else:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
        if not has_kernel_actions(jp_serverapp):
            # No event before jupyter_server 2.6: the next kernel to load cleans up.
            next_kernel = await start_kernel(jp_fetch)
            await files_of(jp_fetch, jp_serverapp, next_kernel)
            await until_gone(paths)
            await jp_fetch("api", "kernels", next_kernel, method="DELETE")
    await until_gone(paths)
    if action == "restart":
        new_pid, new_paths = await files_of(jp_fetch, jp_serverapp, kernel_id)
        assert new_pid != pid and all(p.exists() for p in new_paths), "the new kernel's stay"
