"""The jupyter_server extension: endpoints that reach a kernel while its shell is busy."""

from __future__ import annotations

from typing import Any

from ..protocol import REPLY, REQUEST
from .ask import close_context
from .cleanup import watch_kernels
from .handlers import KernelState, handlers
from .profiling import profile_handlers


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Called by jupyter_server when the extension is enabled."""
    web_app = serverapp.web_app
    # A kernel without ipysigtrace (or an older one) says busy and idle around our request:
    # the server must neither take a busy kernel for idle nor count it as activity. Servers
    # before jupyter_server 2.15 cannot be told so; a local kernel without ipysigtrace is
    # not asked at all (handlers.KernelHandler.may_ask).
    manager = serverapp.kernel_manager
    untracked = getattr(manager, "untracked_message_types", None)
    if isinstance(untracked, list):
        manager.untracked_message_types = [
            *untracked,
            *(t for t in (REQUEST, REPLY) if t not in untracked),
        ]
    state = KernelState()
    web_app.settings["ipysigtrace_state"] = state
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", handlers(base_url) + profile_handlers(base_url))
    watch_kernels(serverapp, state)
    serverapp.log.info("ipysigtrace: stack dump endpoints at /ipysigtrace/api/kernels/<id>")


def _unload_jupyter_server_extension(serverapp: Any) -> None:
    """Called by jupyter_server when it stops."""
    close_context()
    state = serverapp.web_app.settings.get("ipysigtrace_state")
    if isinstance(state, KernelState):
        state.gateway.close_all()
