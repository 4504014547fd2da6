"""Looking changes nothing the server believes: a real server that culls idle kernels.

jupyter_server takes a kernel's execution state and last activity from its IOPub messages
and culls a kernel that is idle, and was inactive for ``cull_idle_timeout``. A dump of a
busy kernel must not make it look idle (it was culled in the middle of its cell), and a
panel that keeps asking an idle kernel must not keep it from being culled.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from harness import BARE_KERNEL_NAME

from .api import (
    client_for,
    dump,
    kernel_model,
    pid_alive,
    start_kernel,
    status_of,
    wait_for_output,
)

pytestmark = pytest.mark.server

# Seconds. Longer than a kernel takes to start and load ipysigtrace on a loaded machine
# (with 3, one was culled before it was ever asked), short enough for the tests to end.
CULL_IDLE = 10


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"ipysigtrace": True}},
        "MappingKernelManager": {"cull_idle_timeout": CULL_IDLE, "cull_interval": 1},
    }


async def until_culled(jp_fetch: Any, kernel_id: str, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while await kernel_model(jp_fetch, kernel_id) is not None:
        assert time.monotonic() < deadline, f"{what} was not culled"
        await asyncio.sleep(0.2)


def now() -> datetime:
    return datetime.now(timezone.utc)


def activity(model: dict[str, Any]) -> datetime:
    """A kernel model's last activity ("2026-12-04T21:21:38.052229Z")."""
    return datetime.fromisoformat(model["last_activity"].replace("Z", "+00:00"))


async def test_a_dumped_busy_kernel_stays_busy_and_is_not_culled(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    """A loaded kernel and one without ipysigtrace, both in a long cell, both asked; then an
    idle kernel started after the asking is culled, so the culler saw the two busy ones
    inactive for longer than the timeout: only their busy state kept them."""
    busy: dict[str, Any] = {}
    for name in (None, BARE_KERNEL_NAME):
        kernel_id = (
            await start_kernel(jp_fetch) if name is None else await start_kernel(jp_fetch, name)
        )
        client = await client_for(jp_serverapp, kernel_id)
        msg_id = client.execute(
            "import time\nprint('sleeping', end='', flush=True)\ntime.sleep(600)"
        )
        await wait_for_output(client, msg_id, "sleeping")
        while (model := await kernel_model(jp_fetch, kernel_id))["execution_state"] != "busy":
            await asyncio.sleep(0.1)
        busy[kernel_id] = client
    try:
        loaded, bare = busy
        # When each kernel is asked: activity after that would be the asking's. (Its cell's
        # own last message may reach the server some ms after our client saw the marker, so
        # the activity seen before asking is no exact baseline.)
        asked = {loaded: now()}
        code, body = await dump(jp_fetch, loaded)
        assert code == 200 and body["source"] == "control", body
        assert (await status_of(jp_fetch, loaded))["loaded"] is True
        asked[bare] = now()
        code, body = await dump(jp_fetch, bare)
        assert code == 409, body
        idle = await start_kernel(jp_fetch, BARE_KERNEL_NAME)
        await until_culled(jp_fetch, idle, "an idle kernel")
        model = await kernel_model(jp_fetch, loaded)
        assert model is not None, "the dumped busy kernel was culled"
        assert model["execution_state"] == "busy"
        assert activity(model) < asked[loaded], "the dump counted as activity"
        model = await kernel_model(jp_fetch, bare)
        assert model is not None and model["execution_state"] == "busy"
        assert activity(model) < asked[bare], "asking the bare kernel was activity"
        manager = jp_serverapp.kernel_manager.get_kernel(loaded)
        assert pid_alive(manager.provisioner.pid)
    finally:
        for kernel_id, client in busy.items():
            client.stop_channels()
            await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id, now=True)


async def test_an_idle_kernel_asked_again_and_again_is_culled(jp_fetch: Any) -> None:
    """As a panel on auto-refresh does: the status and a dump, every half second, until the
    culler takes the kernel (404); asking must not count as activity."""
    kernel_id = await start_kernel(jp_fetch)
    answered = 0
    deadline = time.monotonic() + 120
    while True:
        try:
            status = await status_of(jp_fetch, kernel_id)
        except HTTPClientError as error:
            assert error.code == 404, error
            break
        code, body = await dump(jp_fetch, kernel_id) if status["loaded"] else (0, status)
        if code not in (200, 429):  # asked while the culler shut it down
            assert code in (0, 404, 409, 503), body
            await until_culled(jp_fetch, kernel_id, "the kernel that stopped answering")
            break
        answered += 1
        assert time.monotonic() < deadline, "the kernel was never culled"
        await asyncio.sleep(0.5)  # the panel's refresh period (not a wait for an event)
    assert answered, "the kernel was culled before it was asked"
