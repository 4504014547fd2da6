"""The server's side of the control-channel request (see ``ipysigtrace.kernel``)."""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from jupyter_client.session import Session

REQUEST = "ipysigtrace_request"
REPLY = "ipysigtrace_reply"


async def ask_kernel(
    manager: Any, action: str, timeout: float, **options: Any
) -> dict[str, Any] | None:
    """Send ``ipysigtrace_request`` on the kernel's control channel; the reply or None.

    None means no answer in time: ipysigtrace is not loaded (the kernel ignores the
    unknown message type), or native code holds the GIL so no Python thread can answer.
    """
    # A session of our own: sockets take their identity from the session id, and a second
    # socket with the identity of the browser's connection would steal its replies.
    session = Session(key=manager.session.key, signature_scheme=manager.session.signature_scheme)
    client = manager.client(session=session)
    client.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
    try:
        message = client.session.msg(REQUEST, {"action": action, **options})
        msg_id = message["header"]["msg_id"]
        client.control_channel.send(message)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await client.control_channel.get_msg(timeout=left)
            except Empty:
                return None
            if reply["parent_header"].get("msg_id") == msg_id and reply["msg_type"] == REPLY:
                content = reply.get("content")
                return content if isinstance(content, dict) else None
        return None
    finally:
        # Only the control channel was opened: stop_channels() would open the others.
        client.control_channel.stop()
        client.context.destroy(linger=0)
