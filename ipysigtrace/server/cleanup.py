"""Runtime files go with their kernel, whatever the server does to it.

A kernel removes its own files when it unloads ipysigtrace or exits normally. One that is
killed (a shutdown that had to SIGKILL it, a crash that the server restarts, a kill -9)
cannot, so the server removes them: when the extension starts, and after every shutdown
or restart of a kernel, which jupyter_server announces as a ``kernel_actions`` event
(REST delete and restart, culling, automatic restarts and server stop all go through it).
Servers before jupyter_server 2.6 have no such event (nor do they unload extensions, so a
timer of ours would outlive the server): there the files go when the next kernel loads
ipysigtrace, which removes stale files as it starts, or at the next server start.
``runtime.remove_stale`` removes only files of ours
whose process is gone or is another process now, so a live kernel's files, and anything
another user owns, stay.
"""

from __future__ import annotations

from typing import Any

from jupyter_core.paths import jupyter_runtime_dir

from ..runtime import remove_stale
from .handlers import KernelState

KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
ENDINGS = ("shutdown", "restart")


def clean(log: Any) -> None:
    """Remove the files of kernels that no longer run, and say so in the server's log."""
    removed = remove_stale(jupyter_runtime_dir())
    if removed:
        log.info("ipysigtrace: removed the runtime files of %d stopped kernels", len(removed))


def watch_kernels(serverapp: Any, state: KernelState) -> None:
    """Clean now, and after each shutdown or restart of a kernel."""
    clean(serverapp.log)

    async def on_action(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        if data.get("action") not in ENDINGS:
            return
        kernel_id = data.get("kernel_id")
        if isinstance(kernel_id, str):
            state.forget(kernel_id)
        clean(serverapp.log)

    if has_kernel_actions(serverapp):
        serverapp.event_logger.add_listener(schema_id=KERNEL_ACTIONS, listener=on_action)


def has_kernel_actions(serverapp: Any) -> bool:
    """Whether the server announces kernel shutdowns and restarts (jupyter_server 2.6+)."""
    schemas = getattr(getattr(serverapp, "event_logger", None), "schemas", None)
    return KERNEL_ACTIONS in getattr(schemas, "schema_ids", ())
