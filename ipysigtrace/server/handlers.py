"""REST endpoints, keyed by kernel id (never by a PID from the client).

``GET  /ipysigtrace/api/kernels/<kernel_id>``       is ipysigtrace loaded, can it be signalled
``POST /ipysigtrace/api/kernels/<kernel_id>/dump``  the snapshot JSON

Every handler is authenticated and authorized as jupyter_server authorizes the same thing on
a kernel (resource ``kernels``): the status is ``read``; a dump is ``execute``, as the
kernel websocket that runs code is (it can call user reprs and returns values).

The dump is asked for on the kernel's control channel, which is answered while a cell keeps
the shell busy. A signal is sent only to the kernel process itself, only when Linux says it
catches that signal (``SigCgt``), so a kernel without ipysigtrace is never killed by it. A
remote kernel (behind a Kernel Gateway: no local PID) is
asked through the gateway and never signalled; only ipysigtrace loaded in it can answer.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..identity import read_identity
from ..procinfo import catches
from ..rawdump import collect
from ..render.common import excerpt
from .ask import ask_kernel
from .gateway import GatewayConnections

KERNEL_ID = r"(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"
STATUS_TIMEOUT = 1.0
DUMP_TIMEOUT = 2.0
MIN_INTERVAL = 0.25  # seconds between two dumps of one kernel
RAW_TIMEOUT = 1.0
IDENTITY_POLL = 0.05  # seconds, on a server that cannot untrack our messages (may_ask)
DEFAULT_SIGNAL = "SIGUSR2"
DEFAULT_RAW_SIGNAL = "SIGURG"
# Bounds per kernel: MAX_ASKS requests under way at once, a dump every MIN_INTERVAL at most;
# each ask is one socket on a zmq context that all share (``ask.shared_context``).
MAX_ASKS = 2  # requests of one kernel under way at once (status and dump); more get 429
MAX_BODY = 4096  # bytes of a dump request's body
NOT_LOADED = (
    "ipysigtrace is not loaded in this kernel; load it with %load_ext ipysigtrace once the "
    "running cell ends."
)
NOT_RUNNING = "The kernel is not running: it stopped or died, and has not been restarted."
TOO_MANY = "Too many requests to this kernel at once; try again in a moment."
TOO_SOON = "A dump of this kernel was just asked for; try again."
BAD_BODY = 'The body must be a JSON object such as {"locals": true}.'

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


def refusal(answer: dict[str, Any]) -> str:
    """What to say of a kernel's answer that carries no snapshot."""
    message = answer.get("message")
    said = excerpt(message) if isinstance(message, str) and message else "no snapshot"
    return f"The kernel answered, but without a snapshot: {said}"


class KernelState:
    """What the server remembers per kernel: its signal, and when it was last asked."""

    def __init__(self) -> None:
        self.facts: dict[str, dict[str, Any]] = {}  # the kernel's last status answer
        self.last: dict[str, float] = {}
        self.busy: set[str] = set()  # kernels with a dump under way
        self.asking: dict[str, int] = {}  # requests under way, by kernel
        self.gateway = GatewayConnections()  # websockets to kernels behind a gateway

    def take(self, kernel_id: str) -> bool:
        """Count a request to the kernel in; False (take nothing) when MAX_ASKS are under way."""
        if self.asking.get(kernel_id, 0) >= MAX_ASKS:
            return False
        self.asking[kernel_id] = self.asking.get(kernel_id, 0) + 1
        return True

    def give(self, kernel_id: str) -> None:
        """Count a request out again."""
        left = self.asking.pop(kernel_id, 1) - 1
        if left > 0:
            self.asking[kernel_id] = left

    def forget(self, kernel_id: str) -> None:
        """The kernel stopped or restarted: what it said about itself may not hold."""
        self.facts.pop(kernel_id, None)
        self.last.pop(kernel_id, None)
        self.gateway.forget(kernel_id)


def body_object(body: bytes, field: str, bad: str) -> dict[str, Any] | str:
    """A request's body: a small JSON object with at most ``field``; else a one-line reason
    to refuse it (``bad`` says what the body must be)."""
    if len(body) > MAX_BODY:
        return f"The body has {len(body)} bytes; a request needs at most {MAX_BODY}."
    try:
        options = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: a deeply nested body
        return bad
    if not isinstance(options, dict):
        return bad
    unknown = [key for key in options if key != field]
    if unknown:
        return f'Unknown field {excerpt(repr(unknown[0]))} in the body; the one field is "{field}".'
    return options


def parse_options(body: bytes) -> dict[str, Any] | str:
    """The options of a dump request, or a one-line reason to refuse the body."""
    options = body_object(body, "locals", BAD_BODY)
    if isinstance(options, str):
        return options
    wanted = options.get("locals")
    if not (wanted is None or isinstance(wanted, bool) or wanted == "repr"):
        return f'"locals" is true, false or "repr", not {excerpt(repr(wanted))}.'
    return options


async def running(manager: Any) -> bool:
    """False for a local kernel whose process is gone (a remote one counts as running)."""
    if local_pid(manager) is None:
        return True
    return bool(await ensure_async(manager.is_alive()))


def local_pid(manager: Any) -> int | None:
    """The kernel's PID when it runs on this machine (else None: a remote kernel)."""
    pid = getattr(getattr(manager, "provisioner", None), "pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


class KernelHandler(APIHandler):
    """Shared by the endpoints: find the kernel, reply with JSON."""

    auth_resource = "kernels"

    @property
    def state(self) -> KernelState:
        state: KernelState = self.settings["ipysigtrace_state"]
        return state

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

    async def may_ask(self, kernel_id: str, manager: Any, timeout: float) -> bool:
        """Whether to send a request on the kernel's control channel.

        A local kernel is asked only once it shows that ipysigtrace is loaded: it published
        its identity, or it catches its dump signal. A kernel without ipysigtrace would
        answer the unknown request with busy and idle statuses and an error in its log.
        jupyter_server 2.15 and later can be told to leave those out of the kernel's
        activity (``untracked_message_types``); an older one takes that idle for the
        kernel's own, and its culler then kills a kernel in the middle of its cell. A kernel
        that is still starting gets up to ``timeout`` to show it, as it would to answer. A
        remote kernel (no local PID) is asked: the gateway's server tracks it.
        """
        pid = local_pid(manager)
        if pid is None:
            return True
        deadline = time.monotonic() + timeout
        while not (
            read_identity(jupyter_runtime_dir(), pid) is not None
            or self.signal_info(kernel_id, manager)[1]
        ):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(IDENTITY_POLL)
        return True

    def too_many(self, message: str = TOO_MANY) -> None:
        self.set_header("Retry-After", "1")
        self.reply(429, {"message": message})


class StatusHandler(KernelHandler):
    """Is ipysigtrace loaded in this kernel, and can it be signalled?"""

    @web.authenticated
    @authorized("read")
    async def get(self, kernel_id: str) -> None:
        manager = self.manager(kernel_id)
        if not self.state.take(kernel_id):
            self.too_many()
            return
        try:
            alive = await running(manager)
            asked = alive and await self.may_ask(kernel_id, manager, STATUS_TIMEOUT)
            answer = (
                await ask_kernel(manager, "status", STATUS_TIMEOUT, self.state.gateway)
                if asked
                else None
            )
        finally:
            self.state.give(kernel_id)
        loaded = self.remember(kernel_id, answer)
        name, can_signal = self.signal_info(kernel_id, manager)
        _, can_raw = self.signal_info(kernel_id, manager, "raw_signal")
        if loaded:
            message = "ipysigtrace is loaded"
        elif not alive:
            message = NOT_RUNNING
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
    @authorized("execute")
    async def post(self, kernel_id: str) -> None:
        manager = self.manager(kernel_id)
        options = parse_options(self.request.body)
        if isinstance(options, str):
            self.reply(400, {"message": options})
            return
        state = self.state
        now = time.monotonic()
        if kernel_id in state.busy or now - state.last.get(kernel_id, -MIN_INTERVAL) < MIN_INTERVAL:
            self.too_many(TOO_SOON)
            return
        if not state.take(kernel_id):
            self.too_many()
            return
        state.busy.add(kernel_id)
        try:
            if not await running(manager):
                self.reply(503, {"message": NOT_RUNNING})
                return
            wanted = options.get("locals") or False
            answer = (
                await ask_kernel(manager, "dump", DUMP_TIMEOUT, state.gateway, locals=wanted)
                if await self.may_ask(kernel_id, manager, DUMP_TIMEOUT)
                else None
            )
        finally:
            state.busy.discard(kernel_id)
            state.give(kernel_id)
            state.last[kernel_id] = time.monotonic()
        snapshot = answer.get("snapshot") if answer and self.remember(kernel_id, answer) else None
        if isinstance(snapshot, dict):
            self.reply(200, {"source": "control", "snapshot": snapshot})
            return
        if answer is not None:
            # It answered, so Python runs in it: no raw signal, whose dump walks the frames
            # of running threads without the GIL (README, "When native code holds the GIL").
            self.reply(502, {"message": refusal(answer)})
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
