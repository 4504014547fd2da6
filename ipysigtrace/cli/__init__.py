"""``ipysigtrace``: the command line, for kernels that no notebook tab shows.

    ipysigtrace list                     this user's kernels on this machine
    ipysigtrace dump KERNEL [--json]     every thread's stack (KERNEL: id or prefix,
                                         connection file, or PID)
    ipysigtrace profile KERNEL --seconds N   the running cell's top functions (sampled)
    ipysigtrace autoload enable|disable|status
    ipysigtrace demo                     the terminal demo

One module a subcommand (``listing``, ``dumping``, ``autoloading``); ``kernels`` decides
which process is which kernel, ``processes`` reads what Linux says about processes,
``asking`` puts the question on a kernel's control channel, ``errors`` holds the exit
codes. Every failure is one line on stderr; what a kernel or another process says is shown
escaped (``render.common.printable``), so it cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable

from .autoloading import command_autoload
from .dumping import command_dump
from .errors import NO_PERMISSION, Failure
from .listing import command_list
from .profiling import FORMATS as PROFILE_FORMATS
from .profiling import command_profile


def command_demo(args: argparse.Namespace) -> int:
    from ..demo import main as demo

    return demo()


def seconds_between(least: float, most: float) -> Callable[[str], float]:
    """An argparse type: a number of seconds in [least, most]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not least <= value <= most:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{text} is not between {least:g} and {most:g} s")
        return value

    return parse


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number, 0 or more")
    return int(text)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ipysigtrace", description="Every thread's stack of a running Jupyter kernel."
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="this user's kernels on this machine")
    listing.add_argument(
        "--timeout", type=seconds_between(0.01, 600), default=0.5, help="seconds to wait per kernel"
    )
    listing.add_argument(
        "--remote", action="store_true", help="also ask kernels whose process is not local"
    )
    listing.set_defaults(run=command_list)
    dump = commands.add_parser("dump", help="every thread's stack of one kernel")
    dump.add_argument(
        "kernel", metavar="KERNEL", help="kernel id or prefix, connection file, or PID"
    )
    dump.add_argument("--json", action="store_true", help="the snapshot JSON instead of text")
    dump.add_argument("--all", action="store_true", help="also the kernel's own frames and threads")
    dump.add_argument("--locals", nargs="?", const="safe", choices=("safe", "repr"))
    dump.add_argument(
        "--timeout",
        type=seconds_between(0.01, 600),
        default=2.0,
        help="seconds before the raw dump",
    )
    dump.add_argument(
        "--watch",
        type=seconds_between(0.2, 86400),
        metavar="N",
        help="dump again every N seconds, showing only the threads that moved (Ctrl-C stops)",
    )
    dump.add_argument("--count", type=count, default=0, help="with --watch: stop after this many")
    dump.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    dump.set_defaults(run=command_dump)
    profile = commands.add_parser("profile", help="a sampling profile of the running cell")
    profile.add_argument(
        "kernel", metavar="KERNEL", help="kernel id or prefix, connection file, or PID"
    )
    profile.add_argument(
        "--seconds", type=seconds_between(0.1, 86400), default=10.0, help="how long (default 10)"
    )
    profile.add_argument(
        "--rate", type=seconds_between(1, 1000), default=100.0, help="samples per second"
    )
    profile.add_argument(
        "--format",
        choices=PROFILE_FORMATS,
        default="text",
        help="text (top functions), json (ipysigtrace's own) or speedscope",
    )
    profile.add_argument("-o", "--output", metavar="FILE", help="write it to FILE")
    profile.add_argument("--all", action="store_true", help="also the kernel's own frames")
    profile.add_argument(
        "--timeout", type=seconds_between(0.01, 600), default=5.0, help="seconds per question"
    )
    profile.set_defaults(run=command_profile)
    autoload = commands.add_parser(
        "autoload", help="whether new kernels load ipysigtrace (IPySigTrace.autoload)"
    )
    autoload.add_argument("action", choices=("enable", "disable", "status"))
    autoload.set_defaults(run=command_autoload)
    demo = commands.add_parser("demo", help="a real kernel, a hung cell, its stack")
    demo.set_defaults(run=command_demo)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ipysigtrace`` command."""
    # A name the terminal's encoding lacks shows as an escape, never as a traceback.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except Failure as failure:
        return fail(failure.code, str(failure))
    except PermissionError as exc:
        return fail(NO_PERMISSION, f"permission denied: {exc.filename or exc}")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ipysigtrace dump K | head`: the reader has gone
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def fail(code: int, message: str) -> int:
    """One line on stderr, its text escaped: parts of it come from kernels and file names."""
    from ..render.common import printable

    print(f"ipysigtrace: {printable(message)}", file=sys.stderr)
    return code
