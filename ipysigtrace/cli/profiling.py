"""``ipysigtrace profile``: a sampling profile of the cell a kernel runs now.

Two questions on the control channel: ``profile`` starts it (the kernel samples on its
watcher's clock) and answers with an id; ``profile_result``, asked every second, hands it
over once it has ended (its time is up, or the cell ended), or at once with ``stop`` after
Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from .asking import ask
from .errors import BAD_ANSWER, NO_ANSWER, NOT_LOADED, UNREADABLE, Failure
from .kernels import read_connection_file, resolve

FORMATS = ("text", "json", "speedscope")
POLL = 0.25  # seconds between two questions once the profile should have ended
GRACE = 30.0  # seconds past its end that a profile may take to be handed over


def command_profile(args: argparse.Namespace) -> int:
    from ..profile import Profile
    from ..render.common import ViewOptions
    from ..render.profile import render

    target = resolve(args.kernel)
    if target.connection is None:
        raise Failure(NOT_LOADED, f"{args.kernel} has no control channel (terminal IPython?)")
    info = read_connection_file(target.connection)
    started = _answer(info, args, "profile", seconds=args.seconds, rate=args.rate)
    profile_id = started.get("profile_id")
    if not isinstance(profile_id, str):
        raise Failure(BAD_ANSWER, f"{args.kernel} answered without a profile id")
    print(
        f"ipysigtrace: profiling the running cell of {args.kernel} for {args.seconds:g} s "
        f"at {args.rate:g} Hz (Ctrl-C ends it early)",
        file=sys.stderr,
    )
    data = _wait(info, args, profile_id)
    try:
        profile = Profile.from_dict(data)
    except ValueError as exc:
        raise Failure(BAD_ANSWER, f"the answer is not a profile: {exc}") from None
    out = render(profile, args.format, ViewOptions(show_machinery=args.all))
    if args.output:
        try:
            with open(os.path.expanduser(args.output), "w", encoding="utf-8") as file:
                file.write(out)
        except OSError as exc:
            raise Failure(UNREADABLE, f"cannot write {args.output}: {exc.strerror}") from None
        print(f"ipysigtrace: wrote the profile as {args.format} to {args.output}", file=sys.stderr)
    else:
        print(out, end="" if out.endswith("\n") else "\n", flush=True)
    return 0


def _wait(info: dict[str, Any], args: argparse.Namespace, profile_id: str) -> dict[str, Any]:
    """The finished profile, asked for every second (a cell that ends ends it early), and
    every POLL once it should have ended."""
    deadline = time.monotonic() + args.seconds
    stop = False
    while True:
        try:
            if not stop:
                left = deadline - time.monotonic()
                time.sleep(min(left, 1.0) if left > 0 else POLL)
            answer = _answer(info, args, "profile_result", profile_id=profile_id, stop=stop)
            profile = answer.get("profile")
            if answer.get("state") == "done" and isinstance(profile, dict):
                return profile
            if time.monotonic() > deadline + GRACE:
                raise Failure(NO_ANSWER, f"the profile did not end {GRACE:g} s after its time")
        except KeyboardInterrupt:
            if stop:
                raise
            stop = True  # one more question: end it now and hand over what it has


def _answer(
    info: dict[str, Any], args: argparse.Namespace, action: str, **options: object
) -> dict[str, Any]:
    asked = ask(info, action, args.timeout, **options)
    if asked.not_loaded:
        raise Failure(
            NOT_LOADED,
            f"kernel {args.kernel} has not loaded ipysigtrace (run %load_ext ipysigtrace in it)",
        )
    answer = asked.answer
    if answer is None:
        raise Failure(NO_ANSWER, f"no answer from {args.kernel} within {args.timeout:g} s")
    if answer.get("status") != "ok":
        message = answer.get("message")
        text = message[:300] if isinstance(message, str) else "an error without a message"
        raise Failure(BAD_ANSWER, f"{args.kernel}: {text}")
    return answer
