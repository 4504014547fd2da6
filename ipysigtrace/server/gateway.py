"""Kernels behind a Jupyter Kernel Gateway: one websocket per kernel, kept while in use.

Such a kernel has no zmq connection here. It is asked over a websocket of ours to the
gateway's ``/api/kernels/<id>/channels``, with ``"channel": "control"`` in the message,
which the gateway passes to the kernel's control socket like any front end's. Its own
session id gives the websocket its own zmq identity on the gateway, so it takes none of
the browser's replies; iopub is a broadcast, so reading it here takes nothing away.

Opening a websocket costs the gateway a connection and the kernel a ``kernel_info``
request (the gateway's handshake), and the panel's auto-refresh asks every 2 s. So one
websocket per kernel carries every question, its replies matched to them by ``msg_id``;
it is closed after ``IDLE`` seconds without a question, when the gateway closes it (the
kernel ended), and at server stop.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from jupyter_server.gateway.gateway_client import GatewayClient
from jupyter_server.utils import url_escape, url_path_join
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketError,
    websocket_connect,
)

from ..protocol import REQUEST, reply_to

CONNECT_TIMEOUT = 5.0  # for the websocket to open, before the kernel's timeout
IDLE = 10.0  # seconds a websocket stays open after its last question
MAX_MESSAGE = 100 * 1024 * 1024  # a snapshot of many threads with locals can be large


class _Connection:
    """One open websocket to a kernel on the gateway, and the questions waiting on it."""

    def __init__(self, ws: WebSocketClientConnection) -> None:
        self.ws = ws
        self.waiting: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self.last = time.monotonic()
        self.reader = asyncio.ensure_future(self._read())

    @property
    def open(self) -> bool:
        return not self.reader.done()

    async def ask(self, content: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        message = Session().msg(REQUEST, content)
        message["channel"] = "control"
        msg_id = message["header"]["msg_id"]
        answer = self.waiting[msg_id] = asyncio.get_running_loop().create_future()
        try:
            await self.ws.write_message(json.dumps(message, default=json_default))
            return await asyncio.wait_for(answer, timeout)
        except (WebSocketClosedError, asyncio.TimeoutError):
            return None
        finally:
            del self.waiting[msg_id]
            self.last = time.monotonic()

    async def _read(self) -> None:
        try:
            while (raw := await self.ws.read_message()) is not None:
                if not isinstance(raw, str):  # a binary frame: never our reply
                    continue
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                parent = message.get("parent_header") if isinstance(message, dict) else None
                msg_id = parent.get("msg_id") if isinstance(parent, dict) else None
                answer = self.waiting.get(msg_id) if isinstance(msg_id, str) else None
                if answer is None or answer.done():
                    continue
                content = reply_to(message, str(msg_id))
                if content is not None:
                    answer.set_result(content)
        finally:  # closed by the gateway, or by us: whoever still waits gets no answer
            for answer in self.waiting.values():
                if not answer.done():
                    answer.set_result(None)

    def close(self) -> None:
        self.ws.close()


class GatewayConnections:
    """The open websocket of each remote kernel that was asked lately."""

    def __init__(self) -> None:
        self.connections: dict[str, _Connection] = {}
        self.opening: dict[str, asyncio.Lock] = {}

    async def ask(
        self, manager: Any, content: dict[str, Any], timeout: float
    ) -> dict[str, Any] | None:
        """The kernel's reply to ``content`` on its control channel, or None."""
        kernel_id = manager.kernel_id
        async with self.opening.setdefault(kernel_id, asyncio.Lock()):
            connection = self.connections.get(kernel_id)
            if connection is None or not connection.open:
                connection = await _connect(manager)
                if connection is None:
                    return None
                self.connections[kernel_id] = connection
        try:
            return await connection.ask(content, timeout)
        finally:
            asyncio.get_running_loop().call_later(IDLE, self._close_if_idle, kernel_id)

    def _close_if_idle(self, kernel_id: str) -> None:
        connection = self.connections.get(kernel_id)
        if connection is None:
            return
        if not connection.open or (
            not connection.waiting and time.monotonic() - connection.last >= IDLE - 0.01
        ):
            self.forget(kernel_id)

    def forget(self, kernel_id: str) -> None:
        """Close the kernel's websocket, if one is open (its kernel ended)."""
        connection = self.connections.pop(kernel_id, None)
        self.opening.pop(kernel_id, None)
        if connection is not None:
            connection.close()

    def close_all(self) -> None:
        """At server stop."""
        for kernel_id in list(self.connections):
            self.forget(kernel_id)


async def _connect(manager: Any) -> _Connection | None:
    gateway = GatewayClient.instance()
    url = url_path_join(
        gateway.ws_url or "", gateway.kernels_endpoint, url_escape(manager.kernel_id), "channels"
    )
    url += f"?session_id={uuid.uuid4().hex}"
    args = gateway.load_connection_args()  # the gateway's auth headers and TLS settings
    args.update(connect_timeout=CONNECT_TIMEOUT, request_timeout=CONNECT_TIMEOUT)
    try:
        ws = await websocket_connect(HTTPRequest(url, **args), max_message_size=MAX_MESSAGE)
    except (OSError, HTTPClientError, WebSocketError) as error:
        manager.log.warning("ipysigtrace: could not reach the kernel's gateway: %s", error)
        return None
    return _Connection(ws)
