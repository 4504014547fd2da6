"""The server's side of the control-channel request (see ``ipysigtrace.kernel``).

A local kernel is asked over zmq. A kernel behind a Jupyter Kernel Gateway
(``GatewayClient.url``) has no zmq connection here: it is asked over a websocket of our
own to the gateway's ``/api/kernels/<id>/channels``, with ``"channel": "control"`` in the
message, which the gateway passes to the kernel's control socket like any front end's.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from queue import Empty
from typing import Any

import zmq.asyncio
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from jupyter_server.gateway.gateway_client import GatewayClient
from jupyter_server.gateway.managers import GatewayKernelManager
from jupyter_server.utils import url_escape, url_path_join
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, WebSocketError, websocket_connect

from ..protocol import REQUEST, reply_to, request

GATEWAY_CONNECT_TIMEOUT = 5.0  # for the websocket to the gateway, before the kernel's timeout
MAX_MESSAGE = 100 * 1024 * 1024  # a snapshot of many threads with locals can be large


_context: zmq.asyncio.Context | None = None


def shared_context() -> zmq.asyncio.Context:
    """The one zmq context of every ask (a context per ask costs an I/O thread and fds)."""
    global _context
    if _context is None or _context.closed:
        _context = zmq.asyncio.Context()
    return _context


def close_context() -> None:
    """At server stop: close the shared context and its sockets."""
    global _context
    if _context is not None:
        _context.destroy(linger=0)
        _context = None


def behind_gateway(manager: Any) -> bool:
    """True for a kernel that runs behind a Jupyter Kernel (or Enterprise) Gateway."""
    return isinstance(manager, GatewayKernelManager)


async def ask_kernel(
    manager: Any, action: str, timeout: float, **options: Any
) -> dict[str, Any] | None:
    """Send ``ipysigtrace_request`` on the kernel's control channel; the reply or None.

    None means no answer in time: ipysigtrace is not loaded (the kernel ignores the
    unknown message type), or native code holds the GIL so no Python thread can answer.
    """
    content = request(action, **options)
    if behind_gateway(manager):
        return await _ask_through_gateway(manager, content, timeout)
    # A session of our own: sockets take their identity from the session id, and a second
    # socket with the identity of the browser's connection would steal its replies.
    session = Session(key=manager.session.key, signature_scheme=manager.session.signature_scheme)
    client = manager.client(session=session, context=shared_context())
    client.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
    try:
        message = client.session.msg(REQUEST, content)
        msg_id = message["header"]["msg_id"]
        client.control_channel.send(message)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await client.control_channel.get_msg(timeout=left)
            except Empty:
                return None
            answer = reply_to(reply, msg_id)
            if answer is not None:
                return answer
        return None
    finally:
        # Only the control channel was opened: stop_channels() would open the others.
        # Its socket is closed; the context is shared and stays.
        client.control_channel.stop()


async def _ask_through_gateway(
    manager: Any, content: dict[str, Any], timeout: float
) -> dict[str, Any] | None:
    """Ask over a websocket of our own to the gateway, closed before returning.

    Its own session id gives it its own zmq identity on the gateway, so it takes none of
    the browser's replies; iopub is a broadcast, so reading it here takes nothing away.
    The websocket gets ``GATEWAY_CONNECT_TIMEOUT`` to open; then the kernel has ``timeout``.
    """
    gateway = GatewayClient.instance()
    url = url_path_join(
        gateway.ws_url or "", gateway.kernels_endpoint, url_escape(manager.kernel_id), "channels"
    )
    url += f"?session_id={uuid.uuid4().hex}"
    args = gateway.load_connection_args()  # the gateway's auth headers and TLS settings
    args.update(connect_timeout=GATEWAY_CONNECT_TIMEOUT, request_timeout=GATEWAY_CONNECT_TIMEOUT)
    try:
        ws = await websocket_connect(HTTPRequest(url, **args), max_message_size=MAX_MESSAGE)
    except (OSError, HTTPClientError, WebSocketError) as error:
        manager.log.warning("ipysigtrace: could not reach the kernel's gateway: %s", error)
        return None
    try:
        message = Session().msg(REQUEST, content)
        message["channel"] = "control"
        msg_id = message["header"]["msg_id"]
        try:
            await ws.write_message(json.dumps(message, default=json_default))
        except WebSocketClosedError:
            return None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(ws.read_message(), left)
            except asyncio.TimeoutError:
                return None
            if raw is None:  # the gateway closed the websocket
                return None
            if isinstance(raw, str):  # bytes would be a binary frame: never our reply
                answer = reply_to(json.loads(raw), msg_id)
                if answer is not None:
                    return answer
        return None
    finally:
        ws.close()
