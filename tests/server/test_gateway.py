"""The server extension with kernels behind a real Jupyter Kernel Gateway.

A jupyter-kernel-gateway subprocess runs the kernels; a real jupyter_server (pytest-jupyter)
points at it with ``GatewayClient.url``, so it has no zmq connection and no PID. The test
talks to the kernel as a browser does, over the server's websocket, which the server
proxies to the gateway; the dump must come over the control channel through the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from jupyter_server.gateway.gateway_client import GatewayClient

from harness import BARE_KERNEL_NAME, KERNEL_NAME
from ipysigtrace.server.ask import behind_gateway
from ipysigtrace.server.handlers import local_pid
from ipysigtrace.snapshot import StackSnapshot

from .api import dump, dump_when_allowed, kernel_model, status_of

pytestmark = pytest.mark.server

# What kernels started by the gateway may inherit: the isolated Jupyter and IPython dirs.
KERNEL_ENV = [
    "HOME",
    "IPYTHONDIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTER_PATH",
    "JUPYTER_PLATFORM_DIRS",
    "JUPYTER_RUNTIME_DIR",
]
READY_TIMEOUT = 120  # seconds for the gateway to answer on a slow, shared machine


class Gateway:
    """A jupyter-kernel-gateway process on 127.0.0.1."""

    def __init__(self, log_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        self.log_path = log_path
        env = dict(os.environ)  # holds the isolated JUPYTER_* dirs of tests/conftest.py
        env.update(KG_AUTH_TOKEN=self.token, KG_ENV_PROCESS_WHITELIST=",".join(KERNEL_ENV))
        argv = [
            sys.executable,
            "-m",
            "kernel_gateway",
            "--KernelGatewayApp.ip=127.0.0.1",
            f"--KernelGatewayApp.port={self.port}",
            "--KernelGatewayApp.port_retries=0",
            f"--KernelGatewayApp.default_kernel_name={KERNEL_NAME}",
            "--JupyterWebsocketPersonality.list_kernels=True",
        ]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def get(self, *path: str) -> Any:
        """GET a JSON resource of the gateway's REST API."""
        request = urllib.request.Request(
            "/".join([self.url, *path]), headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the gateway exited ({self.process.returncode}):\n{self.log()}")
            try:
                self.get("api", "kernelspecs")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        pytest.fail(f"the gateway did not answer within {READY_TIMEOUT} s:\n{self.log()}")

    def children(self) -> list[int]:
        pids: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def stop(self) -> None:
        """SIGTERM (the gateway shuts its kernels down), then make sure nothing is left."""
        kernels = self.children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        for pid in kernels:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    process = Gateway(tmp_path_factory.mktemp("gateway") / "gateway.log")
    try:
        process.wait_until_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
def jp_server_config(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # GatewayClient is a singleton that outlives a server: a fresh one, configured below.
    GatewayClient.clear_instance()
    # It writes its launch timeout to os.environ and its class: restored after the test.
    monkeypatch.setenv("KERNEL_LAUNCH_TIMEOUT", "118")
    monkeypatch.setattr(GatewayClient, "KERNEL_LAUNCH_TIMEOUT", 118)
    return {
        "ServerApp": {"jpserver_extensions": {"ipysigtrace": True}},
        "GatewayClient": {
            "url": gateway.url,
            "auth_token": gateway.token,
            "request_timeout": 120.0,
        },
    }


@pytest.fixture
def server(jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Any]:
    """The server; its kernels are shut down on the gateway while it still knows the URL."""
    yield jp_serverapp
    jp_asyncio_loop.run_until_complete(jp_serverapp.kernel_manager.shutdown_all(now=True))
    GatewayClient.clear_instance()  # later tests get a server without a gateway


class Frontend:
    """What a browser does: one websocket to the server's /api/kernels/<id>/channels."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.session = Session()
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, jp_ws_fetch: Any, kernel_id: str) -> Frontend:
        params = {"session_id": uuid.uuid4().hex}
        return cls(await jp_ws_fetch("api", "kernels", kernel_id, "channels", params=params))

    async def execute(self, code: str, expression: str = "None") -> str:
        """Send code to run, with an expression to evaluate afterwards; the msg_id."""
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {"value": expression},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        message = self.session.msg("execute_request", content)
        message["channel"] = "shell"
        await self.ws.write_message(json.dumps(message, default=json_default))
        return message["header"]["msg_id"]

    async def wait_for(self, msg_id: str, msg_type: str, timeout: float = 60) -> dict[str, Any]:
        """The first message of this type for this request (earlier ones are kept)."""
        for message in self.seen:
            if message["msg_type"] == msg_type and message["parent_header"].get("msg_id") == msg_id:
                self.seen.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), left)
            except asyncio.TimeoutError:
                break
            assert raw is not None, "the server closed the front end's websocket"
            message = json.loads(raw)
            if message["msg_type"] == msg_type and message["parent_header"].get("msg_id") == msg_id:
                return message
            if message["msg_type"] in ("execute_reply", "execute_input"):
                self.seen.append(message)
        raise TimeoutError(f"no {msg_type} for {msg_id} within {timeout} s")

    async def run(self, code: str, expression: str = "None") -> str:
        """Run code; the value of the expression afterwards, as text."""
        reply = await self.wait_for(await self.execute(code, expression), "execute_reply")
        assert reply["content"]["status"] == "ok", reply["content"]
        return reply["content"]["user_expressions"]["value"]["data"]["text/plain"]

    async def run_after_error(self, expression: str) -> str:
        """The value of an expression right after a cell failed: ipykernel aborts requests
        that come while it is still dealing with the error; such a request is sent again."""
        while True:
            reply = await self.wait_for(await self.execute("", expression), "execute_reply")
            if reply["content"]["status"] != "aborted":
                assert reply["content"]["status"] == "ok", reply["content"]
                return reply["content"]["user_expressions"]["value"]["data"]["text/plain"]


async def start_kernel(jp_fetch: Any, server: Any, name: str = KERNEL_NAME) -> str:
    response = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": name}))
    kernel_id = json.loads(response.body)["id"]
    manager = server.kernel_manager.get_kernel(kernel_id)
    assert behind_gateway(manager) and local_pid(manager) is None, "not a remote kernel"
    return kernel_id


@contextlib.asynccontextmanager
async def remote_kernel(
    jp_fetch: Any, jp_ws_fetch: Any, server: Any, name: str = KERNEL_NAME
) -> AsyncIterator[tuple[str, Frontend]]:
    """A kernel started through the server on the gateway, with a front end; both end after.

    KERNEL_NAME loads ipysigtrace by itself, as a kernel in an environment where it is
    installed does; BARE_KERNEL_NAME has autoloading switched off.
    """
    kernel_id = await start_kernel(jp_fetch, server, name)
    frontend = await Frontend.open(jp_ws_fetch, kernel_id)
    try:
        yield kernel_id, frontend
    finally:
        frontend.ws.close()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")


def cell_functions(snapshot: StackSnapshot) -> list[str]:
    main = next((t for t in snapshot.threads if t.runs_cell), None)
    return [f.function for f in main.frames if f.kind == "cell"] if main else []


async def wait_for_connections(gateway: Gateway, kernel_id: str, count: int) -> None:
    """Until the gateway counts this many websockets on the kernel (closing is async)."""
    deadline = time.monotonic() + 60
    while (connections := gateway.get("api", "kernels", kernel_id)["connections"]) != count:
        assert time.monotonic() < deadline, f"{connections} websockets on the gateway, not {count}"
        await asyncio.sleep(0.2)


async def interrupt(jp_fetch: Any, frontend: Frontend, kernel_id: str, msg_id: str) -> None:
    """Interrupt the hung cell through the gateway, once, as a user does."""
    await jp_fetch("api", "kernels", kernel_id, "interrupt", method="POST", body="")
    reply = await frontend.wait_for(msg_id, "execute_reply", timeout=60)
    assert reply["content"]["ename"] == "KeyboardInterrupt"


async def test_dump_of_a_hung_cell_through_the_gateway(
    jp_fetch: Any, jp_ws_fetch: Any, server: Any, gateway: Gateway
) -> None:
    async with remote_kernel(jp_fetch, jp_ws_fetch, server) as (kernel_id, frontend):
        status = await status_of(jp_fetch, kernel_id)  # never told to load anything
        assert status["loaded"] is True, status
        assert status["can_signal"] is False and status["can_raw"] is False
        hung = await frontend.execute("def hang():\n    import time\n    time.sleep(600)\nhang()")
        await frontend.wait_for(hung, "execute_input")
        # The cell has started; it reaches hang() soon after: ask until the dump shows it.
        deadline = time.monotonic() + 60
        while True:
            code, body = await dump(jp_fetch, kernel_id)
            assert code in (200, 429), body
            if code == 200:
                assert body["source"] == "control"
                snapshot = StackSnapshot.from_dict(body["snapshot"])
                if cell_functions(snapshot) == ["<module>", "hang"]:
                    break
            assert time.monotonic() < deadline, f"the dump never showed hang(): {body}"
            await asyncio.sleep(0.5)
        main = next(t for t in snapshot.threads if t.runs_cell)
        assert (main.frames[-1].function, main.frames[-1].lineno) == ("hang", 3)
        # As the panel's auto-refresh does: every dump goes over one websocket of ours.
        ours = server.web_app.settings["ipysigtrace_state"].gateway.connections[kernel_id]
        for _ in range(4):
            code, _ = await dump_when_allowed(jp_fetch, kernel_id)
            assert code == 200
        assert server.web_app.settings["ipysigtrace_state"].gateway.connections[kernel_id] is ours
        assert gateway.get("api", "kernels", kernel_id)["connections"] == 2
        # Unused, it is closed; the front end's is untouched.
        await wait_for_connections(gateway, kernel_id, 1)
        await interrupt(jp_fetch, frontend, kernel_id, hung)
        assert await frontend.run_after_error("40 + 2") == "42", "the kernel runs the next cell"


async def test_remote_kernel_without_ipysigtrace_is_409_and_survives(
    jp_fetch: Any, jp_ws_fetch: Any, server: Any
) -> None:
    async with remote_kernel(jp_fetch, jp_ws_fetch, server, BARE_KERNEL_NAME) as (
        kernel_id,
        frontend,
    ):
        assert await frontend.run("x = 1", "x") == "1"
        status = await status_of(jp_fetch, kernel_id)
        assert status["loaded"] is False and status["can_signal"] is False
        code, body = await dump(jp_fetch, kernel_id)
        assert code == 409, body
        assert "Kernel Gateway" in body["message"] and "%load_ext ipysigtrace" in body["message"]
        assert body["message"] == status["message"]
        assert await frontend.run("", "40 + 2") == "42", "still alive"


async def test_remote_kernel_stuck_in_native_code_is_504(
    jp_fetch: Any, jp_ws_fetch: Any, server: Any
) -> None:
    async with remote_kernel(jp_fetch, jp_ws_fetch, server) as (kernel_id, frontend):
        assert (await status_of(jp_fetch, kernel_id))["loaded"] is True
        await frontend.execute("import itertools\nsum(itertools.repeat(1))")
        # Until the cell is inside sum(), the kernel answers; there no Python thread can run
        # (not even ipykernel's IOPub thread: waiting for execute_input could wait for ever).
        deadline = time.monotonic() + 60
        while (answer := await dump(jp_fetch, kernel_id))[0] in (200, 429):
            assert time.monotonic() < deadline, "the kernel kept answering"
            await asyncio.sleep(0.5)
        code, body = answer
        assert code == 504, body
        assert "Kernel Gateway" in body["message"] and "no raw dump" in body["message"]


async def test_a_dump_leaves_the_gateway_view_of_a_busy_kernel_alone(
    jp_fetch: Any, jp_ws_fetch: Any, server: Any, gateway: Gateway
) -> None:
    """The gateway's culler decides from the gateway's view (execution state, last activity),
    and the server shows the same view: a dump changes neither."""
    async with remote_kernel(jp_fetch, jp_ws_fetch, server) as (kernel_id, frontend):
        hung = await frontend.execute(
            "import time\nprint('sleeping', end='', flush=True)\ntime.sleep(600)"
        )
        await frontend.wait_for(hung, "stream")
        deadline = time.monotonic() + 60
        while (before := gateway.get("api", "kernels", kernel_id))["execution_state"] != "busy":
            assert time.monotonic() < deadline, before
            await asyncio.sleep(0.2)
        code, body = await dump(jp_fetch, kernel_id)
        assert code == 200 and body["source"] == "control", body
        # The busy status would come before the reply, so it would have been counted by now.
        assert gateway.get("api", "kernels", kernel_id)["last_activity"] == before["last_activity"]
        # A kernel_info_request on control after the dump: once its idle status is here, any
        # status about the dump would be too. (It is untracked: it changes no state.)
        probe = frontend.session.msg("kernel_info_request", {})
        probe["channel"] = "control"
        await frontend.ws.write_message(json.dumps(probe, default=json_default))
        about_dumps = []
        while True:
            raw = await asyncio.wait_for(frontend.ws.read_message(), 60)
            assert raw is not None, "the server closed the front end's websocket"
            message = json.loads(raw)
            parent = message["parent_header"]
            if message["msg_type"] != "status":
                continue
            if parent.get("msg_type") == "ipysigtrace_request":
                about_dumps.append(message["content"]["execution_state"])
            if (parent.get("msg_id"), message["content"]["execution_state"]) == (
                probe["header"]["msg_id"],
                "idle",
            ):
                break
        assert about_dumps == [], "the dump's own busy and idle reached IOPub"
        after = gateway.get("api", "kernels", kernel_id)
        assert after["execution_state"] == "busy", after
        shown = await kernel_model(jp_fetch, kernel_id)  # the list refreshes from the gateway
        assert shown is not None and shown["execution_state"] == "busy", shown
        assert shown["last_activity"] == after["last_activity"]
        await interrupt(jp_fetch, frontend, kernel_id, hung)
