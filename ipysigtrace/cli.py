"""``ipysigtrace``: the command line, for kernels that no notebook tab shows.

    ipysigtrace list                     running kernels in the Jupyter runtime directory
    ipysigtrace dump KERNEL [--json]     every thread's stack (KERNEL: id or prefix,
                                         connection file, or PID)
    ipysigtrace autoload enable|disable|status
    ipysigtrace demo                     the terminal demo

``dump`` asks on the kernel's control channel (any kernel its connection file reaches); if
no answer comes in time and the kernel runs here, it sends the raw signal, and only if the
kernel catches it (/proc/PID/status), and shows faulthandler's raw dump. It never signals a
process that has not installed the handler. Exit codes: 0 done, 2 usage or unknown
kernel, 3 ipysigtrace not loaded there, 4 no such process (or the kernel is gone), 5
unreadable connection file, 6 no answer in time, 7 no permission, 8 an answer that is not
a snapshot. Every failure is one line on stderr; what a kernel sends is shown escaped
(``render.common.printable``), so it cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

USAGE, NOT_LOADED, NO_PROCESS, UNREADABLE, NO_ANSWER, NO_PERMISSION, BAD_ANSWER = range(2, 9)
STARTUP_NAME = "00-ipysigtrace-autoload.py"
STARTUP_TEXT = """\
# Written by `ipysigtrace autoload enable`; `ipysigtrace autoload disable` removes it.
# Loads ipysigtrace in every new IPython kernel (not in terminal IPython).
def _ipysigtrace_autoload():
    shell = get_ipython()  # noqa: F821
    if shell is not None and hasattr(shell, "kernel"):
        shell.extension_manager.load_extension("ipysigtrace")
_ipysigtrace_autoload()
del _ipysigtrace_autoload
"""


class Failure(Exception):
    """One clear line for the user, and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def runtime_dir() -> str:
    from jupyter_core.paths import jupyter_runtime_dir

    return jupyter_runtime_dir()


def kernel_pid(connection_file: str) -> int | None:
    """The PID of the process started with this connection file as its ``-f`` (Linux)."""
    wanted = os.path.basename(connection_file)
    for status in glob.glob("/proc/[0-9]*"):
        pid = int(status.rsplit("/", 1)[1])
        given = connection_file_of(pid) if pid != os.getpid() else None
        if given and os.path.basename(given) == wanted:
            return pid
    return None


def connection_file_of(pid: int) -> str | None:
    """The connection file a kernel process was started with (its ``-f`` argument)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    for flag, value in itertools.pairwise(args):
        if flag in ("-f", "--f"):
            return value
    found = [a.split("=", 1)[1] for a in args if a.startswith(("-f=", "--f="))]
    return found[0] if found else None


def has_ended(pid: int) -> bool:
    """True for a process that has exited but is still listed: a zombie (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return not os.path.exists(f"/proc/{pid}")
    # "pid (name) state ...": the name may hold spaces and parentheses.
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


def connection_files() -> list[str]:
    return sorted(glob.glob(os.path.join(runtime_dir(), "kernel-*.json")))


def kernel_id_of(path: str) -> str:
    return os.path.basename(path).removeprefix("kernel-").removesuffix(".json")


def resolve(target: str) -> tuple[str | None, int | None]:
    """KERNEL -> (connection file or None, pid or None)."""
    if target.isdigit():
        pid = int(target)
        if not os.path.exists(f"/proc/{pid}"):
            raise Failure(NO_PROCESS, f"no process {pid}")
        if has_ended(pid):
            raise Failure(NO_PROCESS, f"process {pid} has ended (its parent has not reaped it)")
        return connection_file_of(pid), pid
    if os.path.sep in target or target.endswith(".json"):
        if not os.access(target, os.R_OK):
            raise Failure(UNREADABLE, f"cannot read the connection file {target}")
        return target, kernel_pid(target)
    matches = [f for f in connection_files() if kernel_id_of(f).startswith(target)]
    if not matches:
        raise Failure(USAGE, f"no kernel {target!r} in {runtime_dir()} (see `ipysigtrace list`)")
    if len(matches) > 1:
        ids = ", ".join(kernel_id_of(f)[:8] for f in matches)
        raise Failure(USAGE, f"{target!r} matches several kernels: {ids}; give more of the id")
    return matches[0], kernel_pid(matches[0])


def ask(connection_file: str, action: str, timeout: float, **options: Any) -> dict | None:
    """The kernel's ipysigtrace_reply on its control channel, or None."""
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.session import Session

    from .kernel import REQUEST, reply_to

    client = BlockingKernelClient()
    try:
        client.load_connection_file(connection_file)
    except (OSError, ValueError) as exc:
        raise Failure(UNREADABLE, f"cannot read the connection file {connection_file}") from exc
    # A session of our own: a socket's identity is its session id (see server/ask.py).
    client.session = Session(
        key=client.session.key, signature_scheme=client.session.signature_scheme
    )
    client.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
    try:
        message = client.session.msg(REQUEST, {"action": action, **options})
        client.control_channel.send(message)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = client.control_channel.get_msg(timeout=left)
            except Empty:
                return None
            answer = reply_to(reply, message["header"]["msg_id"])
            if answer is not None:
                return answer
        return None
    finally:
        client.control_channel.stop()
        client.context.destroy(linger=0)


def raw_dump(pid: int, timeout: float) -> dict | None:
    """faulthandler's raw dump of a kernel that published its identity (rawdump.collect)."""
    from .rawdump import collect
    from .sources import line

    snapshot = collect(runtime_dir(), pid, timeout, source=line)
    return snapshot.to_dict() if snapshot else None


def command_list(args: argparse.Namespace) -> int:
    files = connection_files()
    if not files:
        print(f"no running kernels in {runtime_dir()}")
        return 0
    from .render.common import printable

    print(f"{'KERNEL':38} {'PID':>7}  IPYSIGTRACE  CELL")
    for path in files:
        pid = kernel_pid(path)
        answer = ask(path, "status", args.timeout) if pid or args.remote else None
        loaded = "loaded" if answer else ("no answer" if pid else "no process")
        seconds = answer.get("cell_seconds") if answer else None
        cell = "-"
        if _is_seconds(seconds):
            cell = f"busy for {seconds:.0f} s"
        elif answer:
            cell = "idle"
        print(f"{printable(kernel_id_of(path)):38} {pid or '-':>7}  {loaded:11}  {cell}")
    return 0


def _is_seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def command_dump(args: argparse.Namespace) -> int:
    from .render import text
    from .render.common import ViewOptions
    from .snapshot import StackSnapshot

    connection, pid = resolve(args.kernel)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    previous: dict[int, tuple] = {}
    rounds = 0
    while True:
        data = dump_once(args, connection, pid)
        try:
            full = StackSnapshot.from_dict(data)
        except ValueError as exc:
            raise Failure(BAD_ANSWER, f"the answer is not a stack snapshot: {exc}") from None
        if args.json:
            print(json.dumps(data, indent=1), flush=True)  # JSON escapes control characters
        else:
            shown, unchanged = changed_threads(full, previous) if previous else (full, 0)
            previous = {t.ident: signature(t) for t in full.threads}
            out = text.render(shown, ViewOptions(show_machinery=args.all), ansi=color)
            if unchanged:
                out += f"({unchanged} thread{'s' if unchanged != 1 else ''} where they were)\n"
            print(out, end="", flush=True)
        rounds += 1
        if args.watch is None or (args.count and rounds >= args.count):
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0
        print()


def signature(thread: Any) -> tuple:
    return tuple((f.filename, f.lineno, f.function, f.repeat) for f in thread.frames)


def changed_threads(snapshot: Any, previous: dict[int, tuple]) -> tuple[Any, int]:
    """Only the threads whose stack moved since the previous dump (``--watch``)."""
    from dataclasses import replace

    moved = [t for t in snapshot.threads if previous.get(t.ident) != signature(t)]
    return replace(snapshot, threads=moved), len(snapshot.threads) - len(moved)


def dump_once(args: argparse.Namespace, connection: str | None, pid: int | None) -> dict:
    """One snapshot: the control channel first, then the raw dump of a local kernel."""
    data = None
    refused = ""  # what a kernel that answered without a snapshot said
    if connection is not None:
        locals_ = "repr" if args.locals == "repr" else args.locals is not None
        answer = ask(connection, "dump", args.timeout, locals=locals_)
        if answer is not None and answer.get("status") == "ok" and "snapshot" in answer:
            data = answer["snapshot"]
        elif answer is not None:
            message = answer.get("message")
            refused = message if isinstance(message, str) else "an answer without a snapshot"
    if data is None and pid is not None:
        data = raw_dump(pid, args.timeout)
    if data is None and refused:
        raise Failure(BAD_ANSWER, f"{args.kernel} answered without a snapshot: {refused[:200]}")
    if data is None and pid is not None:
        from .procinfo import catches

        if has_ended(pid):
            raise Failure(NO_PROCESS, f"process {pid} has ended")
        if not catches(pid, signal.SIGUSR2):
            raise Failure(
                NOT_LOADED,
                f"process {pid} has not loaded ipysigtrace (run %load_ext ipysigtrace "
                "in it); it was not signalled",
            )
    if data is None and pid is None and connection is not None:
        raise Failure(
            NO_PROCESS,
            f"kernel {args.kernel} is gone: no process here runs it and it did not answer "
            f"within {args.timeout:g} s (its connection file is left; or it runs elsewhere)",
        )
    if data is None:
        raise Failure(NO_ANSWER, f"no answer from {args.kernel} within {args.timeout:g} s")
    return data


def command_autoload(args: argparse.Namespace) -> int:
    from IPython.paths import get_ipython_dir

    startup = Path(get_ipython_dir()) / "profile_default" / "startup"
    path = startup / STARTUP_NAME
    if args.action == "enable":
        if path.exists() and path.read_text() == STARTUP_TEXT:
            print(f"autoload already enabled ({path})")
            return 0
        startup.mkdir(parents=True, exist_ok=True)
        path.write_text(STARTUP_TEXT)
        print(f"autoload enabled: wrote {path}; new kernels load ipysigtrace")
    elif args.action == "disable":
        if path.exists():
            path.unlink()
            print(f"autoload disabled: removed {path}")
        else:
            print("autoload was not enabled; nothing changed")
    else:
        print(f"autoload {'enabled' if path.exists() else 'disabled'} ({path})")
    return 0


def command_demo(args: argparse.Namespace) -> int:
    from .demo import main as demo

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
    listing = commands.add_parser("list", help="running kernels of this user")
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
    autoload = commands.add_parser("autoload", help="load ipysigtrace in every new kernel")
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
    from .render.common import printable

    print(f"ipysigtrace: {printable(message)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
