"""The server extension through a real jupyter_server, with real kernels."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from jupyter_core.paths import jupyter_runtime_dir
from tornado.httpclient import HTTPClientError

from harness import BARE_KERNEL_NAME
from ipysigtrace.server.handlers import NOT_LOADED
from ipysigtrace.snapshot import StackSnapshot

from .api import client_for, dump, dump_when_allowed, pid_alive, run, start_kernel, status_of

pytestmark = pytest.mark.server


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"ipysigtrace": True}}}


async def test_requests_need_a_token(
    jp_fetch: Any, http_server_client: Any, jp_base_url: str
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    for method, path, body in [
        ("GET", f"ipysigtrace/api/kernels/{kernel_id}", None),
        ("POST", f"ipysigtrace/api/kernels/{kernel_id}/dump", "{}"),
    ]:
        response = await http_server_client.fetch(
            f"{jp_base_url}{path}", method=method, body=body, raise_error=False
        )
        assert response.code == 403, (method, path, response.code)


async def test_unknown_kernel_is_404(jp_fetch: Any) -> None:
    code, body = await dump(jp_fetch, str(uuid.uuid4()))
    assert code == 404 and "does not exist" in body["message"]
    with pytest.raises(HTTPClientError) as error:
        await status_of(jp_fetch, str(uuid.uuid4()))
    assert error.value.code == 404


async def test_kernel_without_ipysigtrace_is_409_and_survives(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    kernel_id = await start_kernel(jp_fetch, BARE_KERNEL_NAME)
    client = await client_for(jp_serverapp, kernel_id)
    try:
        status = await status_of(jp_fetch, kernel_id)
        assert status["loaded"] is False and status["can_signal"] is False
        code, body = await dump(jp_fetch, kernel_id)
        assert (code, body["message"]) == (409, NOT_LOADED)
        assert status["message"] == NOT_LOADED
        assert await run(client, "", "40 + 2") == "42", "still alive"
    finally:
        client.stop_channels()


async def test_dump_of_a_hung_cell_with_a_child_process(jp_fetch: Any, jp_serverapp: Any) -> None:
    kernel_id = await start_kernel(jp_fetch)
    client = await client_for(jp_serverapp, kernel_id)
    try:
        status = await status_of(jp_fetch, kernel_id)  # never told to load anything
        assert status == {
            "kernel_id": kernel_id,
            "loaded": True,
            "signal": "SIGUSR2",
            "can_signal": True,
            "can_raw": True,
            "message": "ipysigtrace is loaded",
        }
        hung = client.execute(
            "import subprocess\nchild = subprocess.Popen(['sleep', '60'])\n"
            "def spin():\n    while True:\n        pass\nspin()"
        )
        deadline = time.monotonic() + 60
        while True:  # until the cell has got to spin() (before that it starts the child)
            code, body = await dump_when_allowed(jp_fetch, kernel_id)
            assert code == 200 and body["source"] == "control", body
            snapshot = StackSnapshot.from_dict(body["snapshot"])
            main = next((t for t in snapshot.threads if t.runs_cell), None)
            cells = [f.function for f in main.frames if f.kind == "cell"] if main else []
            if cells == ["<module>", "spin"]:
                break
            assert time.monotonic() < deadline, cells
        kernel_pid = snapshot.pid
        with open(f"/proc/{kernel_pid}/task/{kernel_pid}/children") as listing:
            children = listing.read().split()
        assert children and all(pid_alive(int(c)) for c in children)
        assert pid_alive(kernel_pid)
        code, _ = await dump(jp_fetch, kernel_id)
        assert code == 429, "a second dump right away is rate-limited"
        code, _ = await dump_when_allowed(jp_fetch, kernel_id)
        assert code == 200
        await jp_fetch("api", "kernels", kernel_id, "interrupt", method="POST", body="")
        while (reply := await client.get_shell_msg(timeout=30))["parent_header"]["msg_id"] != hung:
            pass
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        await asyncio.sleep(0.5)  # ipykernel aborts requests that arrive right after an error
        assert await run(client, "child.kill()", "40 + 2") == "42"
    finally:
        client.stop_channels()


async def test_raw_dump_when_native_code_holds_the_gil(jp_fetch: Any, jp_serverapp: Any) -> None:
    kernel_id = await start_kernel(jp_fetch)
    client = await client_for(jp_serverapp, kernel_id)
    try:
        status = await status_of(jp_fetch, kernel_id)
        assert status["can_raw"] is True
        code = "import itertools\ndef native():\n    return sum(itertools.repeat(1))\nnative()"
        client.execute(code)
        deadline = time.monotonic() + 60
        while True:  # a dump from the control channel until native code holds the GIL
            code, body = await dump_when_allowed(jp_fetch, kernel_id)
            assert code == 200, body
            if body["source"] == "raw":
                break
            assert time.monotonic() < deadline, "the kernel kept answering"
        snapshot = StackSnapshot.from_dict(body["snapshot"])
        assert snapshot.kind == "raw" and "holds the GIL" in snapshot.note
        main = next(t for t in snapshot.threads if t.runs_cell)
        assert [f.function for f in main.frames if f.kind == "cell"] == ["<module>", "native"]
        assert main.frames[-1].lineno == 3
        assert pid_alive(snapshot.pid), "the kernel survived the raw signal"
    finally:
        client.stop_channels()
        manager = jp_serverapp.kernel_manager
        await manager.shutdown_kernel(kernel_id, now=True)


async def test_an_answer_without_a_snapshot_is_passed_on_and_no_raw_signal_sent(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    client = await client_for(jp_serverapp, kernel_id)
    try:
        await run(client, "", "40 + 2")  # loaded, and has answered a status request
        broken = (
            "import ipysigtrace.extension as e\n"
            "def broken(*args, **kwargs):\n    raise RuntimeError('capture broke')\n"
            "e._active.control.snapshot = broken"
        )
        assert await run(client, broken, "40 + 2") == "42"
        pid = int(await run(client, "import os", "os.getpid()"))
        raw = Path(jupyter_runtime_dir(), f"ipysigtrace-{pid}.raw")
        before = raw.stat()
        code, body = await dump(jp_fetch, kernel_id)
        assert code == 502, body
        assert body["message"] == (
            "The kernel answered, but without a snapshot: RuntimeError: capture broke"
        )
        # The raw file is emptied before the raw signal is sent: untouched, none was sent.
        assert (raw.stat().st_mtime_ns, raw.stat().st_size) == (before.st_mtime_ns, 0)
        assert await run(client, "", "40 + 2") == "42", "still alive"
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id, now=True)


async def test_locals_and_a_bad_body(jp_fetch: Any, jp_serverapp: Any) -> None:
    kernel_id = await start_kernel(jp_fetch)
    client = await client_for(jp_serverapp, kernel_id)
    try:
        client.execute("def wait(seconds):\n    import time\n    time.sleep(seconds)\nwait(30)")
        deadline = time.monotonic() + 60
        while True:  # until the cell sleeps in wait() (before that it defines it)
            code, body = await dump_when_allowed(jp_fetch, kernel_id, json.dumps({"locals": True}))
            assert code == 200, body
            snapshot = StackSnapshot.from_dict(body["snapshot"])
            main = next((t for t in snapshot.threads if t.runs_cell), None)
            waiting = next((f for f in main.frames if f.function == "wait"), None) if main else None
            if waiting is not None and waiting.line.startswith("time.sleep"):
                break
            assert time.monotonic() < deadline, body
        assert {"name": "seconds", "type": "int", "value": "30"} in (waiting.locals or [])
        assert {"name": "time", "type": "module", "value": "<module 'time'>"} in waiting.locals
        # A body that is not an object is refused before any rate limit applies.
        with pytest.raises(HTTPClientError) as error:
            await jp_fetch(
                "ipysigtrace", "api", "kernels", kernel_id, "dump", method="POST", body="[1]"
            )
        assert error.value.code == 400
    finally:
        client.stop_channels()
        await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id, now=True)
