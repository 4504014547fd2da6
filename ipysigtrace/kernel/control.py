"""Answers on ipykernel's control channel, while a cell keeps the shell busy.

``ControlHandler`` answers ``ipysigtrace_request`` messages on ipykernel's control
channel, which has its own thread and so answers while a cell keeps the shell busy; the
request travels through jupyter_server's websocket, so it reaches remote kernels too. A
kernel without ipysigtrace only logs the unknown message type: asking it is harmless.
ipykernel publishes busy and idle on IOPub around every control request; for ours it does
not (see ``ControlHandler.install``): jupyter_server takes execution state and last activity
from those, so a dump would make a busy kernel look idle, and a panel that refreshes would
keep an idle kernel from being culled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from ..protocol import REPLY, REQUEST, VERSION
from ..render.common import excerpt
from ..snapshot import StackSnapshot


class ControlHandler:
    """Answers ``ipysigtrace_request`` on the control channel, on ipykernel's control thread.

    Content of a request: ``{"action": "status"}`` or ``{"action": "dump"}`` (the default),
    with ``"locals": true`` for the locals of cell and user frames (shown safely), or
    ``"locals": "repr"`` to call their reprs (on disposable threads, with a time limit).
    The reply, ``ipysigtrace_reply``: ``{"status": "ok", "version": 1, "pid": ...,
    "signal": "SIGUSR2", "raw_file": "/run/.../ipysigtrace-PID.raw", "snapshot": {...}}``
    (the snapshot for a dump only), or
    ``{"status": "error", "message": ...}``. Other actions (``profile``, ``profile_result``)
    come from ``actions``.
    """

    def __init__(
        self,
        kernel: Any,
        snapshot: Callable[..., StackSnapshot],
        facts: Callable[[], dict[str, Any]],
        actions: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    ) -> None:
        self.kernel = kernel
        self.snapshot = snapshot
        self.facts = facts
        self.actions = actions or {}  # more actions: content -> what goes into the reply
        self.previous: Any = None
        self.publish_status: Any = None  # the kernel's own, while ours stands in front
        self.wrapped: Any = None  # an instance attribute that stood there before ours

    def install(self) -> None:
        """Add our message type to the kernel's control handlers; silence its status.

        ipykernel 6.5 to 7 call ``_publish_status(state, "control")`` around each control
        request, with that request as parent: an instance attribute of ours in front of the
        method drops those two for our message type only.
        """
        handlers = getattr(self.kernel, "control_handlers", None)
        if isinstance(handlers, dict):
            self.previous = handlers.get(REQUEST)
            handlers[REQUEST] = self.handle
        original = getattr(self.kernel, "_publish_status", None)
        if callable(original) and self.publish_status is None:
            self.publish_status = original
            self.wrapped = vars(self.kernel).get("_publish_status")
            self.kernel._publish_status = self._publish_status

    def uninstall(self) -> None:
        """Put back whatever handled the message type and published status before."""
        if self.publish_status is not None and (
            vars(self.kernel).get("_publish_status") == self._publish_status
        ):
            del self.kernel._publish_status  # the class's method again
            if self.wrapped is not None:
                self.kernel._publish_status = self.wrapped
        self.publish_status = self.wrapped = None
        handlers = getattr(self.kernel, "control_handlers", None)
        if not isinstance(handlers, dict) or handlers.get(REQUEST) != self.handle:
            return
        if self.previous is None:
            del handlers[REQUEST]
        else:
            handlers[REQUEST] = self.previous

    def _publish_status(self, status: str, channel: str, parent: Any = None) -> None:
        """ipykernel's ``_publish_status``, except around our own control requests."""
        original = self.publish_status
        if original is not None and channel == "control" and parent is None:
            current = self.kernel.get_parent("control") or {}
            if (current.get("header") or {}).get("msg_type") == REQUEST:
                return
        if original is not None:
            original(status, channel, parent)
        else:  # after uninstall, through a reference someone kept
            type(self.kernel)._publish_status(self.kernel, status, channel, parent)

    def handle(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Runs on the control thread while the shell may be busy."""
        content = parent.get("content") or {}
        if not isinstance(content, dict):
            content = {}
        action = content.get("action", "dump")
        reply: dict[str, Any] = {
            "status": "ok",
            "version": VERSION,
            "pid": os.getpid(),
            **self.facts(),
        }
        if action == "dump":
            wanted = content.get("locals")
            try:
                snapshot = self.snapshot(
                    "request", with_locals=wanted in (True, "repr"), user_reprs=wanted == "repr"
                )
                reply["snapshot"] = snapshot.to_dict()
            except Exception as exc:  # answer anyway: the asker would only time out
                reply = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
        elif action in self.actions:
            try:
                reply.update(self.actions[action](content))
            except Exception as exc:  # answer anyway
                reply = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
        elif action != "status":
            reply = {"status": "error", "message": f"unknown action {excerpt(repr(action))}"}
        self.kernel.session.send(stream, REPLY, reply, parent, ident)
