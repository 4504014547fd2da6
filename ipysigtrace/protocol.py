"""The control-channel protocol: what is asked of a loaded kernel, and how its answer is known.

A request is a Jupyter message of type ``ipysigtrace_request`` sent on the kernel's control
channel, whose content names an action::

    {"action": "status"}
    {"action": "dump", "locals": true}       # or "repr", or false (the default)
    {"action": "profile", ...}               # see profiling.py

The kernel answers with one ``ipysigtrace_reply`` whose parent header is the request's, and
whose content has ``"status": "ok"`` (with ``version`` and what the action gives) or
``"status": "error"`` and a one-line ``message``. A kernel without ipysigtrace does not
answer at all: it logs the unknown message type.

The kernel (kernel/control.py), the server (server/ask.py), the command line
(cli/asking.py) and the benchmark all speak it through this module; it imports nothing
from Jupyter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from queue import Empty
from typing import Any

REQUEST = "ipysigtrace_request"
REPLY = "ipysigtrace_reply"
VERSION = 1


def request(action: str, **options: Any) -> dict[str, Any]:
    """The content of a request for ``action``."""
    return {"action": action, **options}


def reply_to(reply: Any, msg_id: str) -> dict[str, Any] | None:
    """The content of an ``ipysigtrace_reply`` to ``msg_id``; None for any other message."""
    if not isinstance(reply, dict) or reply.get("msg_type") != REPLY:
        return None
    if (reply.get("parent_header") or {}).get("msg_id") != msg_id:
        return None
    content = reply.get("content")
    return content if isinstance(content, dict) else None


def replied_to(reply: Any, msg_id: str) -> bool:
    """Whether ``reply`` answers the message ``msg_id``, whatever its type."""
    parent = reply.get("parent_header") if isinstance(reply, dict) else None
    return isinstance(parent, dict) and parent.get("msg_id") == msg_id


def wait_for_reply(
    get_msg: Callable[[float], Any], msg_id: str, timeout: float, probe_id: str | None = None
) -> tuple[dict[str, Any] | None, bool]:
    """Read messages with ``get_msg(timeout)`` (which raises ``queue.Empty`` when none comes)
    until the reply to ``msg_id``: (its content, False); (None, True) if the message
    ``probe_id`` was answered first (a kernel answers control messages in order, so one that
    answers a probe sent behind ours does not know ours); (None, False) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            reply = get_msg(left)
        except Empty:
            break
        answer = reply_to(reply, msg_id)
        if answer is not None:
            return answer, False
        if probe_id is not None and replied_to(reply, probe_id):
            return None, True
    return None, False
