"""The question on a kernel's control channel, with a ``kernel_info_request`` behind it.

A kernel that answers the second but not ours has not loaded ipysigtrace, and is told so
at once rather than after the timeout. A session of our own: a socket's identity is its
session id, and one with the identity of another client would take its replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import UNREADABLE, Failure

KERNEL_INFO = "kernel_info_request"


@dataclass(frozen=True)
class Asked:
    """What came back on the control channel.

    ``answer``: the ipysigtrace_reply's content, or None. ``not_loaded``: the kernel
    answered the kernel_info_request sent behind ours and never ours, so it does not know
    ipysigtrace (a kernel handles control messages one at a time, in order).
    """

    answer: dict[str, Any] | None
    not_loaded: bool = False


def ask(info: dict[str, Any], action: str, timeout: float, **options: Any) -> Asked:
    """Ask a kernel, by its connection file's content, on its control channel."""
    from jupyter_client.blocking.client import BlockingKernelClient
    from jupyter_client.session import Session
    from traitlets import TraitError

    from ..protocol import REQUEST, request, wait_for_reply

    client = BlockingKernelClient()
    try:
        client.load_connection_info(info)  # type: ignore[arg-type]
    except (TypeError, ValueError, TraitError) as exc:
        raise Failure(UNREADABLE, f"not a usable connection file: {exc}") from None
    # A session of our own: a socket's identity is its session id (see server/ask.py).
    client.session = Session(
        key=client.session.key, signature_scheme=client.session.signature_scheme
    )
    client.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
    try:
        message = client.session.msg(REQUEST, request(action, **options))
        probe = client.session.msg(KERNEL_INFO, {})
        client.control_channel.send(message)
        client.control_channel.send(probe)
        answer, not_loaded = wait_for_reply(
            lambda left: client.control_channel.get_msg(timeout=left),
            message["header"]["msg_id"],
            timeout,
            probe_id=probe["header"]["msg_id"],
        )
        return Asked(answer, not_loaded=not_loaded)
    finally:
        client.control_channel.stop()
        client.context.destroy(linger=0)


def answered_pid(answer: dict[str, Any]) -> int | None:
    """The PID a kernel's reply gives for itself."""
    pid = answer.get("pid")
    return pid if type(pid) is int else None
