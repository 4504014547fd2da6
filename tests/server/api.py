"""REST calls of ipysigtrace's endpoints and kernels through the server, for the server tests."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from tornado.httpclient import HTTPClientError

from harness import KERNEL_NAME
from ipysigtrace.server.handlers import MIN_INTERVAL


async def status_of(jp_fetch: Any, kernel_id: str) -> dict[str, Any]:
    """GET the kernel's status."""
    response = await jp_fetch("ipysigtrace", "api", "kernels", kernel_id)
    return json.loads(response.body)


async def status_once_loaded(jp_fetch: Any, kernel_id: str, timeout: float = 60) -> dict[str, Any]:
    """The status of a kernel that loads ipysigtrace as it starts, once it says so.

    A kernel the server has just started may still be starting: it gets STATUS_TIMEOUT to
    show that it loaded, and on a busy machine that can pass first ("not loaded", rightly).
    """
    deadline = time.monotonic() + timeout
    while not (status := await status_of(jp_fetch, kernel_id))["loaded"]:
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)
    return status


async def dump(jp_fetch: Any, kernel_id: str, body: str = "{}") -> tuple[int, dict[str, Any]]:
    """POST a dump request; (HTTP status, JSON body), errors included."""
    try:
        response = await jp_fetch(
            "ipysigtrace", "api", "kernels", kernel_id, "dump", method="POST", body=body
        )
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, json.loads(error.response.body)
    return response.code, json.loads(response.body)


async def dump_when_allowed(
    jp_fetch: Any, kernel_id: str, body: str = "{}", timeout: float = 60
) -> tuple[int, dict[str, Any]]:
    """POST a dump request as a client that honours "too soon" (429) does: asked again once
    the server's interval between two dumps of a kernel has passed."""
    deadline = time.monotonic() + timeout
    while (answer := await dump(jp_fetch, kernel_id, body))[0] == 429:
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(MIN_INTERVAL)
    return answer


async def start_kernel(jp_fetch: Any, name: str = KERNEL_NAME) -> str:
    """A kernel the server starts; KERNEL_NAME loads ipysigtrace by itself (installed)."""
    body = json.dumps({"name": name})
    response = await jp_fetch("api", "kernels", method="POST", body=body)
    return json.loads(response.body)["id"]


async def client_for(jp_serverapp: Any, kernel_id: str) -> Any:
    manager = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    return client


async def run(client: Any, code: str, expression: str = "None") -> str:
    """Run code; return the value of an expression evaluated afterwards, as text."""
    msg_id = client.execute(code, user_expressions={"value": expression})
    while True:
        reply = await client.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]["user_expressions"]["value"]["data"]["text/plain"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def kernel_model(jp_fetch: Any, kernel_id: str) -> dict[str, Any] | None:
    """The server's own view of the kernel (execution_state, last_activity), or None."""
    response = await jp_fetch("api", "kernels")
    return next((k for k in json.loads(response.body) if k["id"] == kernel_id), None)


async def wait_for_output(client: Any, msg_id: str, text: str) -> None:
    """Until the request's output shows ``text`` (a marker the cell prints)."""
    seen = ""
    while text not in seen:
        message = await client.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "stream":
            seen += message["content"]["text"]
