"""REST endpoints, keyed by kernel id (never by a PID from the client).

``GET  /ipysigtrace/api/kernels/<kernel_id>``       is ipysigtrace loaded, can it be signalled
``POST /ipysigtrace/api/kernels/<kernel_id>/dump``  the snapshot JSON

Every handler is authenticated and authorized like jupyter_server's own kernel actions
(resource ``kernels``). The dump is asked for on the kernel's control channel, which is
answered while a cell keeps the shell busy. A signal is sent only to the kernel process
itself, only when Linux says it catches that signal (``SigCgt``), so a kernel without
ipysigtrace is never killed by it. A remote kernel (behind a Kernel Gateway: no local PID) is
asked through the gateway and never signalled; only ipysigtrace loaded in it can answer.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..procinfo import catches
from ..rawdump import collect
from .ask import ask_kernel

KERNEL_ID = r"(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"
STATUS_TIMEOUT = 1.0
DUMP_TIMEOUT = 2.0
MIN_INTERVAL = 0.25  # seconds between two dumps of one kernel
RAW_TIMEOUT = 1.0
DEFAULT_SIGNAL = "SIGUSR2"
DEFAULT_RAW_SIGNAL = "SIGURG"
NOT_LOADED = (
    "ipysigtrace is not loaded in this kernel. Run %load_ext ipysigtrace in the notebook "
    "(once the kernel is idle), then ask again."
)
NO_ANSWER = (
    "The kernel did not answer within {timeout:g} s although ipysigtrace is loaded: native "
    "code probably holds the GIL, so no Python thread can run."
)
# A kernel without a local PID (behind a Kernel Gateway, or elsewhere) cannot be signalled.
REMOTE_NOT_LOADED = (
    "This kernel runs remotely (for example behind a Kernel Gateway), so the server cannot "
    "signal it: only ipysigtrace loaded in the kernel can answer. Run %load_ext ipysigtrace "
    "in the notebook (once the kernel is idle), or `ipysigtrace autoload enable` where the "
    "kernel runs, then ask again."
)
REMOTE_NO_ANSWER = (
    "The kernel answered before but not within {timeout:g} s. It runs remotely (for example "
    "behind a Kernel Gateway), so there is no raw dump: native code may hold the GIL, or the "
    "kernel was restarted without ipysigtrace."
)


class KernelState:
    """What the server remembers per kernel: its signal, and when it was last asked."""

    def __init__(self) -> None:
        self.facts: dict[str, dict[str, Any]] = {}  # the kernel's last status answer
        self.last: dict[str, float] = {}
        self.busy: set[str] = set()


def local_pid(manager: Any) -> int | None:
    """The kernel's PID when it runs on this machine (else None: a remote kernel)."""
    pid = getattr(getattr(manager, "provisioner", None), "pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


class KernelHandler(APIHandler):
    """Shared by the endpoints: find the kernel, reply with JSON."""

    auth_resource = "kernels"

    @property
    def state(self) -> KernelState:
        return self.settings["ipysigtrace_state"]

    def manager(self, kernel_id: str) -> Any:
        try:
            return self.kernel_manager.get_kernel(kernel_id)
        except KeyError:
            raise web.HTTPError(404, f"Kernel does not exist: {kernel_id}") from None

    def reply(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def remember(self, kernel_id: str, answer: dict[str, Any] | None) -> bool:
        """Keep what a kernel said about itself; True if it answered well."""
        if not answer or answer.get("status") != "ok":
            return False
        self.state.facts[kernel_id] = {k: answer.get(k) for k in ("signal", "raw_signal")}
        return True

    def signal_info(self, kernel_id: str, manager: Any, key: str = "signal") -> tuple[str, bool]:
        """(name of the kernel's signal, whether its process certainly catches it)."""
        default = DEFAULT_SIGNAL if key == "signal" else DEFAULT_RAW_SIGNAL
        name = str(self.state.facts.get(kernel_id, {}).get(key) or default)
        pid = local_pid(manager)
        signum = getattr(signal.Signals, name, None)
        return name, pid is not None and signum is not None and catches(pid, signum)

    async def raw_dump(self, kernel_id: str, manager: Any) -> dict[str, Any] | None:
        """Send the raw signal (only if the kernel catches it) and read faulthandler's dump."""
        _, can_raw = self.signal_info(kernel_id, manager, "raw_signal")
        pid = local_pid(manager)
        if not can_raw or pid is None:
            return None
        # The kernel process (its watcher thread) only, never its group; on a thread, the
        # wait blocks nothing. collect() makes the raw file's path itself from the PID.
        try:
            snapshot = await asyncio.to_thread(collect, jupyter_runtime_dir(), pid, RAW_TIMEOUT)
        except OSError:
            return None
        return snapshot.to_dict() if snapshot else None


class StatusHandler(KernelHandler):
    """Is ipysigtrace loaded in this kernel, and can it be signalled?"""

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        manager = self.manager(kernel_id)
        answer = await ask_kernel(manager, "status", STATUS_TIMEOUT)
        loaded = self.remember(kernel_id, answer)
        name, can_signal = self.signal_info(kernel_id, manager)
        _, can_raw = self.signal_info(kernel_id, manager, "raw_signal")
        if loaded:
            message = "ipysigtrace is loaded"
        elif can_signal:
            message = "the kernel does not answer, but catches " + name
        else:
            message = NOT_LOADED if local_pid(manager) is not None else REMOTE_NOT_LOADED
        self.reply(
            200,
            {
                "kernel_id": kernel_id,
                "loaded": loaded,
                "signal": name if (loaded or can_signal) else None,
                "can_signal": can_signal,
                "can_raw": can_raw,
                "message": message,
            },
        )


class DumpHandler(KernelHandler):
    """Every thread's stack, as snapshot JSON."""

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        manager = self.manager(kernel_id)
        state = self.state
        now = time.monotonic()
        if kernel_id in state.busy or now - state.last.get(kernel_id, -MIN_INTERVAL) < MIN_INTERVAL:
            self.set_header("Retry-After", "1")
            self.reply(429, {"message": "A dump of this kernel was just asked for; try again."})
            return
        try:
            options = json.loads(self.request.body or b"{}")
        except ValueError:
            options = None
        if not isinstance(options, dict):
            self.reply(400, {"message": 'The body must be a JSON object such as {"locals": true}.'})
            return
        state.busy.add(kernel_id)
        try:
            wanted = options.get("locals")
            wanted = wanted if wanted in (True, "repr") else False
            answer = await ask_kernel(manager, "dump", DUMP_TIMEOUT, locals=wanted)
        finally:
            state.busy.discard(kernel_id)
            state.last[kernel_id] = time.monotonic()
        snapshot = answer.get("snapshot") if self.remember(kernel_id, answer) else None
        if isinstance(snapshot, dict):
            self.reply(200, {"source": "control", "snapshot": snapshot})
            return
        raw = await self.raw_dump(kernel_id, manager)
        if raw is not None:
            self.reply(200, {"source": "raw", "snapshot": raw})
            return
        if local_pid(manager) is None:
            if kernel_id in state.facts:  # it answered once, so ipysigtrace was loaded
                self.reply(504, {"message": REMOTE_NO_ANSWER.format(timeout=DUMP_TIMEOUT)})
            else:
                self.reply(409, {"message": REMOTE_NOT_LOADED})
            return
        _, can_signal = self.signal_info(kernel_id, manager)
        if not can_signal:
            self.reply(409, {"message": NOT_LOADED})
            return
        self.reply(504, {"message": NO_ANSWER.format(timeout=DUMP_TIMEOUT)})


def handlers(base_url: str) -> list[tuple[str, type]]:
    """URL patterns of the endpoints under ``base_url``."""
    prefix = url_path_join(base_url, "ipysigtrace", "api", "kernels", KERNEL_ID)
    return [(prefix, StatusHandler), (url_path_join(prefix, "dump"), DumpHandler)]
