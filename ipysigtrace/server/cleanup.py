"""Runtime files go with their kernel, whatever the server does to it.

A kernel removes its own files when it unloads ipysigtrace or exits normally. One that is
killed (a shutdown that had to SIGKILL it, a crash that the server restarts, a kill -9)
cannot, so the server removes them: when the extension starts, and after every shutdown
or restart of a kernel, which jupyter_server announces as a ``kernel_actions`` event
(REST delete and restart, culling, automatic restarts and server stop all go through it).
Servers before jupyter_server 2.6 have no such event: there the extension looks every
``SWEEP_INTERVAL`` seconds instead. ``runtime.remove_stale`` removes only files of ours
whose process is gone or is another process now, so a live kernel's files, and anything
another user owns, stay.
"""

from __future__ import annotations

from typing import Any

from jupyter_core.paths import jupyter_runtime_dir
from tornado.ioloop import PeriodicCallback

from ..runtime import remove_stale
from .handlers import KernelState

KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
ENDINGS = ("shutdown", "restart")
SWEEP_INTERVAL = 5.0  # seconds, where the server has no kernel_actions event
SWEEP = "ipysigtrace_sweep"  # its PeriodicCallback, in the web app's settings


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

    event_logger: Any = getattr(serverapp, "event_logger", None)
    schemas = getattr(getattr(event_logger, "schemas", None), "schema_ids", ())
    if KERNEL_ACTIONS in schemas:
        event_logger.add_listener(schema_id=KERNEL_ACTIONS, listener=on_action)
        return

    def sweep() -> None:
        running = set(serverapp.kernel_manager.list_kernel_ids())
        for kernel_id in [k for k in state.facts if k not in running]:
            state.forget(kernel_id)
        clean(serverapp.log)

    callback = PeriodicCallback(sweep, SWEEP_INTERVAL * 1000)
    serverapp.web_app.settings[SWEEP] = callback
    callback.start()


def stop_watching(serverapp: Any) -> None:
    """Stop the periodic sweep, if there is one."""
    callback = serverapp.web_app.settings.pop(SWEEP, None)
    if callback is not None:
        callback.stop()
