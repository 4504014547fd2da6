"""The server's side of the control-channel request (see ``ipysigtrace.kernel``).

A local kernel is asked over zmq. A kernel behind a Jupyter Kernel Gateway
(``GatewayClient.url``) has no zmq connection here: it is asked over a websocket to the
gateway (``gateway.py``).
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

import zmq.asyncio
from jupyter_client.session import Session
from jupyter_server.gateway.managers import GatewayKernelManager

from ..protocol import REQUEST, reply_to, request
from .gateway import GatewayConnections

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
    manager: Any, action: str, timeout: float, gateway: GatewayConnections, **options: Any
) -> dict[str, Any] | None:
    """Send ``ipysigtrace_request`` on the kernel's control channel; the reply or None.

    None means no answer in time: ipysigtrace is not loaded (the kernel ignores the
    unknown message type), or native code holds the GIL so no Python thread can answer.
    """
    content = request(action, **options)
    if behind_gateway(manager):
        return await gateway.ask(manager, content, timeout)
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
