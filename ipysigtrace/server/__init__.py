"""The jupyter_server extension: endpoints that reach a kernel while its shell is busy."""

from __future__ import annotations

from typing import Any

from .handlers import KernelState, handlers


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Called by jupyter_server when the extension is enabled."""
    web_app = serverapp.web_app
    web_app.settings["ipysigtrace_state"] = KernelState()
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    serverapp.log.info("ipysigtrace: stack dump endpoints at /ipysigtrace/api/kernels/<id>")
