"""Who may ask, how much a request may cost, and one clear line for bad input."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import pytest
from jupyter_core.utils import ensure_async
from jupyter_server.auth import Authorizer
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from ipysigtrace.server.handlers import MAX_BODY, NOT_RUNNING

from .api import dump, start_kernel, status_of, status_once_loaded

pytestmark = pytest.mark.server

REQUESTS = 300


class NoExecute(Authorizer):
    """May start and read kernels, but not run anything in them."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "kernels" and action == "execute")


class NoExecuteNoRead(Authorizer):
    """May start kernels, and nothing else with them."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "kernels" and action in ("execute", "read"))


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"jpserver_extensions": {"ipysigtrace": True}}
    authorizer = getattr(request, "param", None)
    if authorizer is not None:
        config["authorizer_class"] = authorizer
    return {"ServerApp": config}


@pytest.mark.parametrize("jp_server_config", [NoExecute], indirect=True)
async def test_a_dump_is_authorized_as_execute(jp_fetch: Any) -> None:
    kernel_id = await start_kernel(jp_fetch)
    for body in ("{}", json.dumps({"locals": "repr"})):
        code, answer = await dump(jp_fetch, kernel_id, body)
        assert code == 403, answer
    await status_once_loaded(jp_fetch, kernel_id)  # reading is allowed


@pytest.mark.parametrize("jp_server_config", [NoExecuteNoRead], indirect=True)
async def test_the_status_is_authorized_as_read(jp_fetch: Any) -> None:
    kernel_id = await start_kernel(jp_fetch)
    with pytest.raises(HTTPClientError) as error:
        await status_of(jp_fetch, kernel_id)
    assert error.value.code == 403
    assert (await dump(jp_fetch, kernel_id))[0] == 403


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


async def test_many_requests_at_once_cost_little(
    jp_fetch: Any, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    """300 status requests and a few dumps at once; the server runs in this process, so its
    fds and threads are this process's. Each request holds two sockets (client and server
    side); anything much beyond that is a cost per request that was not bounded."""
    kernel_id = await start_kernel(jp_fetch)
    await status_once_loaded(jp_fetch, kernel_id)
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}ipysigtrace/api/kernels/{kernel_id}"
    http = AsyncHTTPClient(force_instance=True, max_clients=REQUESTS + 20)
    base_fds, base_threads = open_fds(), threads()
    peak = [base_fds, base_threads]
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            peak[0], peak[1] = max(peak[0], open_fds()), max(peak[1], threads())
            await asyncio.sleep(0)

    async def one(i: int) -> int:
        dumping = i % 30 == 0
        response = await http.fetch(
            url + ("/dump" if dumping else ""),
            method="POST" if dumping else "GET",
            body="{}" if dumping else None,
            headers=jp_auth_header,
            raise_error=False,
            request_timeout=120,
        )
        if response.code == 429:
            assert "\n" not in json.loads(response.body)["message"]
        return response.code

    watcher = asyncio.create_task(watch())
    try:
        codes = await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    finally:
        done.set()
        await watcher
        http.close()
    assert set(codes) <= {200, 429}, sorted(set(codes))
    assert 200 in codes
    extra_fds = peak[0] - base_fds - 2 * REQUESTS
    assert extra_fds < 50, f"{peak[0] - base_fds} more fds at the peak"
    assert peak[1] - base_threads < 10, f"{peak[1] - base_threads} more threads at the peak"
    assert (await status_of(jp_fetch, kernel_id))["loaded"] is True, "and it still answers"


async def test_bad_bodies_get_one_line(jp_fetch: Any) -> None:
    kernel_id = await start_kernel(jp_fetch)
    nested = '{"locals": ' + "[" * 1500 + "]" * 1500 + "}"
    bodies = {
        # Refused as JSON where the parser gives up on the depth (RecursionError), else for
        # its value: the recursion limit of the server's process decides which.
        nested: ("JSON object", '"locals" is true, false or "repr", not [[['),
        "[1]": "JSON object",
        "{": "JSON object",
        json.dumps({"action": "\x1b]2;x\x07" + "a" * 3000}): "Unknown field 'action'",
        json.dumps({"\x1b]2;x\x07" + "a" * 3000: 1}): "Unknown field '\\x1b]2;x\\x07aaa",
        json.dumps({"locals": 5}): '"locals" is true, false or "repr", not 5.',
        json.dumps({"locals": "a" * (MAX_BODY + 1)}): f"at most {MAX_BODY}",
    }
    for body, said in bodies.items():
        code, answer = await dump(jp_fetch, kernel_id, body)
        message = answer["message"]
        assert code == 400, (body[:80], answer)
        expected = said if isinstance(said, tuple) else (said,)
        assert any(e in message for e in expected), message
        assert "\n" not in message and len(message) < 120, message
        assert "\x1b" not in message


async def test_a_killed_kernel_is_not_running(jp_fetch: Any, jp_serverapp: Any) -> None:
    kernel_id = await start_kernel(jp_fetch)
    await status_once_loaded(jp_fetch, kernel_id)
    manager = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    manager.stop_restarter()  # else the server starts it again
    os.kill(manager.provisioner.pid, signal.SIGKILL)
    while await ensure_async(manager.is_alive()):
        await asyncio.sleep(0.1)
    code, answer = await dump(jp_fetch, kernel_id)
    assert (code, answer["message"]) == (503, NOT_RUNNING)
    status = await status_of(jp_fetch, kernel_id)
    assert status["loaded"] is False and status["message"] == NOT_RUNNING
