"""The panel's "Profile 10 s" through a real jupyter_server and a real kernel: the running
cell is profiled without stopping it, the profile comes back as JSON, and it is shown
under the cell it profiled."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from harness import BARE_KERNEL_NAME
from ipysigtrace.profile import Profile, top_functions
from workloads import HOT_LOOP

from .api import client_for, start_kernel, wait_for_output

pytestmark = pytest.mark.server


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"ipysigtrace": True}}}


async def call(jp_fetch: Any, *path: str, body: str | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of a profile endpoint, errors included."""
    method = "POST" if body is not None else "GET"
    try:
        response = await jp_fetch("ipysigtrace", "api", "kernels", *path, method=method, body=body)
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, json.loads(error.response.body)
    return response.code, json.loads(response.body)


async def test_a_running_cell_is_profiled_and_shown_under_it(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    client = await client_for(jp_serverapp, kernel_id)
    try:
        code, body = await call(jp_fetch, kernel_id, "profile", body='{"seconds": 1}')
        assert (code, body["message"]) == (
            409,
            "No cell is running; a profile samples the running cell.",
        )
        busy = client.execute(HOT_LOOP)
        await wait_for_output(client, busy, "crunching")
        for bad, says in [
            ('{"seconds": "ten"}', '"seconds" is a number'),
            ('{"seconds": 1e9}', "between 0.1 and 600"),
            ('{"rate": 5}', "Unknown field"),
            ("[1]", "JSON object"),
            (" " * 5000 + "{}", "a request needs at most 4096"),
        ]:
            code, body = await call(jp_fetch, kernel_id, "profile", body=bad)
            assert code == 400 and says in body["message"], body
        code, started = await call(jp_fetch, kernel_id, "profile", body='{"seconds": 1.5}')
        assert code == 200 and started["seconds"] == 1.5, started
        # Asked again while it runs: it says so, and how long it has left.
        code, body = await call(jp_fetch, kernel_id, "profile", started["profile_id"])
        assert code == 200 and body["state"] in ("running", "done"), body
        deadline = time.monotonic() + 60
        while body["state"] != "done":
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.25)
            code, body = await call(jp_fetch, kernel_id, "profile", started["profile_id"])
            assert code == 200, body
        profile = Profile.from_dict(body["profile"])
        cell = next(t for t in profile.threads if t.runs_cell)
        (first, *_) = top_functions(profile, cell.stacks)
        assert first.frame.function in ("hot", "hot.<locals>.<genexpr>"), first
        # The kernel showed it under the cell it profiled, which is still running.
        while True:
            message = await client.get_iopub_msg(timeout=60)
            if message["msg_type"] == "display_data":
                break
        assert message["parent_header"]["msg_id"] == busy
        assert "text/html" in message["content"]["data"]
        code, body = await call(jp_fetch, kernel_id, "profile", "1-999")
        assert code == 404 and "No profile" in body["message"], body
        await jp_fetch("api", "kernels", kernel_id, "interrupt", method="POST", body="")
        while (reply := await client.get_shell_msg(timeout=30))["parent_header"]["msg_id"] != busy:
            pass
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        client.stop_channels()


async def test_a_kernel_without_ipysigtrace_is_409(jp_fetch: Any) -> None:
    kernel_id = await start_kernel(jp_fetch, BARE_KERNEL_NAME)
    code, body = await call(jp_fetch, kernel_id, "profile", body="{}")
    assert code == 409 and "not loaded" in body["message"], body


async def test_the_profile_endpoints_need_a_token(
    jp_fetch: Any, http_server_client: Any, jp_base_url: str
) -> None:
    kernel_id = await start_kernel(jp_fetch)
    for method, path, body in [
        ("POST", f"ipysigtrace/api/kernels/{kernel_id}/profile", "{}"),
        ("GET", f"ipysigtrace/api/kernels/{kernel_id}/profile/1-1", None),
    ]:
        response = await http_server_client.fetch(
            f"{jp_base_url}{path}", method=method, body=body, raise_error=False
        )
        assert response.code == 403, (method, path, response.code)
