"""REST endpoints for a sampling profile of the cell a kernel runs now (the panel's button).

``POST /ipysigtrace/api/kernels/<kernel_id>/profile``               ``{"seconds": 10}``
``GET  /ipysigtrace/api/kernels/<kernel_id>/profile/<profile_id>``  its state, or the profile

The kernel samples on its watcher's clock (``ipysigtrace.profiling``) and, when the profile
ends (its time is up, or the cell ended), shows it under the cell it profiled, where a saved
notebook keeps it; the GET hands over its JSON. Both are authorized as a dump is
(``execute`` on ``kernels``): a profile reads the kernel's stacks.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from ..render.common import excerpt
from .ask import ask_kernel
from .handlers import (
    KERNEL_ID,
    NOT_LOADED,
    REMOTE_NOT_LOADED,
    KernelHandler,
    body_object,
    local_pid,
    running,
)

PROFILE_ID = r"(?P<profile_id>\d+-\d+)"
ASK_TIMEOUT = 2.0
LONGEST = 600.0  # seconds a profile may be asked for here
BAD_BODY = 'The body must be a JSON object such as {"seconds": 10}.'


def parse_seconds(body: bytes) -> float | str:
    """The profile's duration from the request's body, or a one-line reason to refuse it."""
    options = body_object(body, "seconds", BAD_BODY)
    if isinstance(options, str):
        return options
    seconds = options.get("seconds", 10)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return f'"seconds" is a number, not {excerpt(repr(seconds))}.'
    if not 0.1 <= seconds <= LONGEST:  # also refuses nan
        return f'"seconds" is between 0.1 and {LONGEST:g}.'
    return float(seconds)


class _ProfileHandler(KernelHandler):
    async def ask(
        self, kernel_id: str, action: str, refused: int = 409, **options: Any
    ) -> dict[str, Any] | None:
        """The kernel's answer; None once an error was sent instead (``refused``: the status
        for the kernel's own refusal)."""
        manager = self.manager(kernel_id)
        if not self.state.take(kernel_id):
            self.too_many()
            return None
        try:
            if not await running(manager):
                self.reply(503, {"message": "The kernel is not running."})
                return None
            answer = (
                await ask_kernel(manager, action, ASK_TIMEOUT, self.state.gateway, **options)
                if await self.may_ask(kernel_id, manager, ASK_TIMEOUT)
                else None
            )
        finally:
            self.state.give(kernel_id)
        if answer is None:
            remote = local_pid(manager) is None
            if kernel_id in self.state.facts:  # it answered before: it is busy in native code
                message = f"The kernel did not answer within {ASK_TIMEOUT:g} s."
                self.reply(504, {"message": message})
            else:
                self.reply(409, {"message": REMOTE_NOT_LOADED if remote else NOT_LOADED})
            return None
        if answer.get("status") != "ok":
            said = answer.get("message")
            text = said[:300].rstrip(".") if isinstance(said, str) else "The kernel refused"
            self.reply(refused, {"message": text[:1].upper() + text[1:] + "."})
            return None
        return answer


class ProfileHandler(_ProfileHandler):
    """Start profiling the running cell."""

    @web.authenticated
    @authorized("execute")
    async def post(self, kernel_id: str) -> None:
        seconds = parse_seconds(self.request.body)
        if isinstance(seconds, str):
            self.reply(400, {"message": seconds})
            return
        answer = await self.ask(kernel_id, "profile", seconds=seconds, show=True)
        if answer is not None:
            keys = ("profile_id", "seconds", "rate")
            self.reply(200, {key: answer.get(key) for key in keys})


class ProfileResultHandler(_ProfileHandler):
    """A profile's state: running (and for how long yet), or done with the profile."""

    @web.authenticated
    @authorized("execute")
    async def get(self, kernel_id: str, profile_id: str) -> None:
        answer = await self.ask(kernel_id, "profile_result", 404, profile_id=profile_id)
        if answer is None:
            return
        if answer.get("state") == "done" and isinstance(answer.get("profile"), dict):
            self.reply(200, {"state": "done", "profile": answer["profile"]})
        else:
            left = answer.get("seconds_left")
            seconds_left = left if isinstance(left, int | float) else 0
            self.reply(200, {"state": "running", "seconds_left": seconds_left})


def profile_handlers(base_url: str) -> list[tuple[str, type]]:
    """URL patterns of the profile endpoints under ``base_url``."""
    prefix = url_path_join(base_url, "ipysigtrace", "api", "kernels", KERNEL_ID, "profile")
    return [(prefix, ProfileHandler), (url_path_join(prefix, PROFILE_ID), ProfileResultHandler)]
