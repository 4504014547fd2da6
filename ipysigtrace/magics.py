"""``%stackdump``: every thread's stack, on demand, from a cell.

The magic does no formatting of its own: it captures, filters, calls a renderer and
displays one bundle. Wrong options raise IPython's UsageError, which IPython shows without a
traceback: one line that says what is wrong (followed by the usage when an option is
unknown or malformed). Durations are bounded (``live.LONGEST``, a week); a live interval
or a watchdog limit below its least is raised to it, with a line that says so.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import replace
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .live import SHORTEST_LIVE_INTERVAL, SHORTEST_WATCHDOG, parse_duration, say_duration
from .profiling import LONGEST_PROFILE, check_request
from .render import FORMATS, ViewOptions, bundle, render
from .render.common import printable
from .sampler import DEFAULT_RATE
from .snapshot import StackSnapshot
from .status import problems, status


@magics_class
class StackDumpMagics(Magics):
    """The ``%stackdump`` line magic."""

    def __init__(self, shell: Any, extension: Any) -> None:
        super().__init__(shell)
        self.extension = extension

    @magic_arguments()
    @argument(
        "threads",
        nargs="*",
        metavar="THREAD",
        help="Show only threads whose name matches (wildcards allowed) or whose ident or "
        "native id is this number. Default: every thread.",
    )
    @argument(
        "-a", "--all", action="store_true", help="Also show the kernel's own frames and threads."
    )
    @argument(
        "-l", "--limit", type=int, metavar="N", help="Show at most N frames per thread (innermost)."
    )
    @argument(
        "-f",
        "--format",
        choices=FORMATS,
        help="text, html or json. Default: html and text together in the notebook, text in a file.",
    )
    @argument(
        "-o", "--output", metavar="FILE", help="Write the dump to FILE instead of showing it."
    )
    @argument(
        "--locals",
        nargs="?",
        const="safe",
        choices=("safe", "repr"),
        help="Also show the local variables of your own frames. By default (safe) no user "
        "code runs: objects other than numbers, strings, bytes and containers of them show "
        "as type and address. --locals=repr calls their repr, each on a disposable thread "
        "with a time limit. Names that look like secrets are masked.",
    )
    @argument(
        "--last",
        action="store_true",
        help="Show the last dump the watcher made (for example one made while the kernel "
        "was idle) instead of taking a new one.",
    )
    @argument(
        "--status", action="store_true", help="Say what is installed and whether it still works."
    )
    @argument(
        "--live",
        nargs="?",
        const="2s",
        metavar="INTERVAL",
        help="Show a view that the watcher keeps updating while a cell runs (every 2 s by "
        "default, e.g. --live 5s; 0.5 s at least) and at once after every dump; `--live off` "
        "stops it.",
    )
    @argument(
        "--after",
        metavar="DURATION",
        help="Watchdog: dump under any cell that runs longer than DURATION (e.g. 10m; from 1 s "
        "to a week), then again after twice as long, and so on; `--after off` stops it.",
    )
    @argument(
        "--profile",
        metavar="DURATION",
        help="Profile the cells that run in the next DURATION (e.g. 30s, up to 24 h), sampling "
        "every thread's stack (100 times a second by default); each cell shows its profile "
        "from 2 s on, growing, until the cell ends or DURATION is up; `--profile off` stops.",
    )
    @argument(
        "--rate",
        type=float,
        metavar="HZ",
        help="With --profile: samples per second (1 to 1000, default 100).",
    )
    @line_magic
    def stackdump(self, line: str = "") -> None:
        """Show every thread's stack, the line each one is at, without stopping anything.

        From another terminal, `kill -USR2 <kernel pid>` does the same for a cell that is
        running (the signal is set by `%config IPySigTrace.signal`).

        Examples::

            %stackdump                      # every thread, kernel machinery hidden
            %stackdump worker-* --limit 5   # threads named worker-..., 5 frames each
            %stackdump --format json -o dump.json
        """
        args = self._parse(line)
        if args.limit is not None and args.limit < 0:
            raise UsageError("--limit must be 0 or more")
        if args.status:
            print("\n".join(status(self.extension)))
            return
        if args.after is not None:
            self._watchdog(args.after)
            return
        if args.profile is not None:
            self._profile(args.profile, args)
            return
        if args.live is not None:
            self._live(args.live, args)
            return
        if args.last:
            snapshot = self.extension.publisher.last
            if snapshot is None:
                print("ipysigtrace: no dump has been made by a signal yet")
                return
        else:
            snapshot = self.extension.snapshot(
                "magic",
                limit=args.limit,
                with_locals=args.locals is not None,
                user_reprs=args.locals == "repr",
            )
        if args.threads:
            snapshot = _select(snapshot, args.threads)
        for problem in problems(self.extension):
            if problem.startswith("PROBLEM"):  # notes are for --status
                print(f"ipysigtrace: {problem}", file=sys.stderr)
        options = ViewOptions(show_machinery=args.all)
        if args.output:
            _write(snapshot, args.output, args.format, options)
        elif args.format:
            display({"text/plain": render(snapshot, args.format, options)}, raw=True)
        else:
            display(bundle(snapshot, options), raw=True)

    def _parse(self, line: str) -> Any:
        """The options, or a UsageError: one line that says what is wrong, then the usage."""
        hint = "%stackdump? explains each option"
        try:
            return parse_argstring(self.stackdump, line)
        except UsageError as exc:
            # IPython's formatter lays the usage out as reST ("::", indented): one line here.
            usage = " ".join(self.stackdump.parser.format_usage().replace("::", "").split())
            usage = usage.removeprefix("usage: ")
            raise UsageError(f"{exc}\nusage: {usage}\n{hint}") from None
        except ValueError as exc:  # from shlex: a quote not closed, a backslash at the end
            raise UsageError(f"cannot read the options: {str(exc).lower()}; {hint}") from None

    def _watchdog(self, value: str) -> None:
        if value == "off":
            self.extension.set_watchdog(None)
            print("ipysigtrace: watchdog off")
            return
        seconds = _duration(value, "--after", SHORTEST_WATCHDOG)
        self.extension.set_watchdog(seconds)
        first = say_duration(seconds)
        print(
            f"ipysigtrace: cells that run longer than {first} get a dump, then again after "
            f"{say_duration(2 * seconds)}, {say_duration(4 * seconds)}, ...; --after off stops it"
        )

    def _profile(self, value: str, args: Any) -> None:
        if value == "off":
            stopped = self.extension.profiling.close_window()
            print(f"ipysigtrace: {'profiling stopped' if stopped else 'no profile was running'}")
            return
        seconds = _duration(value, "--profile", 0.1)
        rate = DEFAULT_RATE if args.rate is None else args.rate
        refused = check_request(min(seconds, LONGEST_PROFILE), rate)
        if seconds > LONGEST_PROFILE or refused:
            raise UsageError(f"--profile: {refused or 'durations go up to 24 h'}")
        self.extension.profiling.open_window(seconds, rate, ViewOptions(show_machinery=args.all))
        print(
            f"ipysigtrace: the cells that run in the next {say_duration(seconds)} are profiled "
            f"at {rate:g} Hz; each shows its profile as it grows, to its end; --profile off stops"
        )

    def _live(self, value: str, args: Any) -> None:
        if value == "off":
            count = self.extension.live.stop_all()
            print(f"ipysigtrace: {count} live view{'s' if count != 1 else ''} stopped")
            return
        if self.extension.kernel is None:
            raise UsageError("--live needs a Jupyter front end; in a terminal use the signal")
        interval = _duration(value, "--live", SHORTEST_LIVE_INTERVAL)
        try:
            from .widget import LiveStacks
        except ImportError:
            raise UsageError("--live needs ipywidgets: pip install ipywidgets") from None
        extension = self.extension
        snapshot = extension.snapshot("live", with_locals=True)
        bundle = extension.live.bundle(snapshot)
        view = LiveStacks(bundle, interval, on_stop=extension.live.remove)
        extension.live.add(view, interval)
        display(view)


def _duration(value: str, option: str, shortest: float) -> float:
    """A duration for ``option``, at least ``shortest`` (and saying so when raised to it)."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if seconds < shortest:
        print(
            f"ipysigtrace: {option} {value.strip()} is too short; using {shortest:g} s, the least"
        )
        seconds = shortest
    return seconds


def _select(snapshot: StackSnapshot, patterns: list[str]) -> StackSnapshot:
    def matches(thread: Any) -> bool:
        for pattern in patterns:
            if pattern.isdigit() and int(pattern) in (thread.ident, thread.native_id):
                return True
            if fnmatch.fnmatchcase(thread.name, pattern):
                return True
        return False

    chosen = [t for t in snapshot.threads if matches(t)]
    if not chosen:
        names = printable(", ".join(t.name for t in snapshot.threads))
        raise UsageError(f"no thread matches {printable(' '.join(patterns))}; threads: {names}")
    return replace(snapshot, threads=chosen)


def _write(snapshot: StackSnapshot, path: str, fmt: str | None, options: ViewOptions) -> None:
    if fmt is None:
        extension = os.path.splitext(path)[1].lower()
        fmt = {".json": "json", ".html": "html", ".htm": "html"}.get(extension, "text")
    try:
        with open(os.path.expanduser(path), "w", encoding="utf-8") as file:
            file.write(render(snapshot, fmt, options))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    count = len(snapshot.threads)
    print(f"ipysigtrace: wrote {count} thread{'s' if count != 1 else ''} as {fmt} to {path}")
