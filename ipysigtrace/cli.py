"""``ipysigtrace``: the command line, for kernels that no notebook tab shows.

    ipysigtrace list                     this user's kernels on this machine
    ipysigtrace dump KERNEL [--json]     every thread's stack (KERNEL: id or prefix,
                                         connection file, or PID)
    ipysigtrace autoload enable|disable|status
    ipysigtrace demo                     the terminal demo

Which process is which kernel is decided from what the kernel published: its identity file
in the Jupyter runtime directory (``runtime.read_identity``: a file of ours, checked against
the process's start time) and the PID in its control reply. A command line is only a lead:
a worker that a kernel forked carries the kernel's ``-f`` argument, so a PID whose kernel
answers as another process is refused, never shown the other's stacks.

``dump`` asks on the kernel's control channel (any kernel its connection file reaches),
with a ``kernel_info_request`` behind the question: a kernel that answers that one but not
ours has not loaded ipysigtrace. If no answer comes in time and the kernel runs here and
published its identity, it sends the raw signal the kernel named, only if the kernel
catches it (/proc/PID/status), and shows faulthandler's raw dump. It never signals a
process that has not published its identity. Exit codes: 0 done, 2 usage, unknown or
ambiguous kernel, 3 ipysigtrace not loaded there (or the process is no such kernel), 4 no
such process (or the kernel is gone), 5 unreadable connection or configuration file, 6 no
answer in time, 7 no permission, 8 an answer that is not a snapshot (or from another
process). Every failure is one line on stderr; what a kernel or another process says is
shown escaped (``render.common.printable``), so it cannot drive the terminal.

``list`` finds kernels in three places: connection files in the runtime directory, the
identities loaded kernels published there, and this user's processes that run ipykernel
(their ``-f`` path, resolved against the process's working directory), so kernels that
VS Code or a script started with a connection file elsewhere are listed too. It reads only
regular files of ours.

``autoload`` drives ``IPySigTrace.autoload`` in the user's IPython profile
(``profile_default/ipython_kernel_config.json``), merged into what is there, written
atomically with the file's mode kept.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import itertools
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

USAGE, NOT_LOADED, NO_PROCESS, UNREADABLE, NO_ANSWER, NO_PERMISSION, BAD_ANSWER = range(2, 9)
MAX_CONNECTION_FILE = 64 * 1024  # bytes: a larger "connection file" is not one
MAX_CONFIG_FILE = 4 * 1024 * 1024  # bytes: the profile's JSON configuration
MAX_ANCESTORS = 64  # how far up the parent chain a worker's kernel is looked for
KERNEL_INFO = "kernel_info_request"
OLD_STARTUP_NAME = "00-ipysigtrace-autoload.py"
# What `ipysigtrace autoload enable` wrote before autoloading came with the install; only a
# file with exactly this text is removed (an edited one is the user's).
OLD_STARTUP_TEXT = """\
# Written by `ipysigtrace autoload enable`; `ipysigtrace autoload disable` removes it.
# Loads ipysigtrace in every new IPython kernel (not in terminal IPython).
def _ipysigtrace_autoload():
    shell = get_ipython()  # noqa: F821
    if shell is not None and hasattr(shell, "kernel"):
        shell.extension_manager.load_extension("ipysigtrace")
_ipysigtrace_autoload()
del _ipysigtrace_autoload
"""
ENV_CONFIG_MARK = "from ipysigtrace.autoload import configure"


class Failure(Exception):
    """One clear line for the user, and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def runtime_dir() -> str:
    """The Jupyter runtime directory (connection files, identities, raw dumps)."""
    from jupyter_core.paths import jupyter_runtime_dir

    return jupyter_runtime_dir()


# -- what Linux says about this user's processes --------------------------------------------


def process_args(pid: int) -> list[str] | None:
    """A process's command line, or None (gone, a zombie, or not ours to read)."""
    try:
        data = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except OSError:
        return None
    if not data:
        return None
    return data.decode(errors="replace").rstrip("\0").split("\0")


def connection_arg(args: list[str]) -> str | None:
    """The connection file an ipykernel command line names (``-f``, ``--f=``, ...)."""
    for flag, value in itertools.pairwise(args):
        if flag in ("-f", "--f"):
            return value
    for arg in args:
        for prefix in ("-f=", "--f=", "--IPKernelApp.connection_file="):
            if arg.startswith(prefix):
                return arg[len(prefix) :]
    return None


def runs_ipykernel(args: list[str]) -> bool:
    """True for ipykernel's command lines: ``-m ipykernel_launcher``, ``-m ipykernel``, or
    the launcher's path."""
    for before, arg in itertools.pairwise(args):
        if before == "-m" and arg.split(".")[0] in ("ipykernel", "ipykernel_launcher"):
            return True
        if os.path.basename(arg) == "ipykernel_launcher.py":
            return True
    return False


def connection_file_of(pid: int, args: list[str] | None = None) -> str | None:
    """The ``-f`` path of a process's command line, resolved as ipykernel resolves it."""
    args = process_args(pid) if args is None else args
    value = connection_arg(args) if args else None
    if not value:
        return None
    if os.path.isabs(value):
        return value
    try:
        cwd = os.readlink(f"/proc/{int(pid)}/cwd")
    except OSError:
        return None
    here = os.path.join(cwd, value)
    # ipykernel looks for a bare name in its working directory, then makes it in the
    # runtime directory.
    if os.path.basename(value) == value and not os.path.lexists(here):
        return os.path.join(runtime_dir(), value)
    return here


def parent_of(pid: int) -> int | None:
    """The PID of a process's parent, or None."""
    try:
        stat_line = Path(f"/proc/{int(pid)}/stat").read_text(errors="replace")
    except OSError:
        return None
    # "pid (name) state ppid ...": the name may hold spaces and parentheses.
    fields = stat_line.rpartition(")")[2].split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def has_ended(pid: int) -> bool:
    """True for a process that has exited but is still listed: a zombie (Linux)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return not os.path.exists(f"/proc/{pid}")
    return stat_line.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


def my_processes() -> Iterator[int]:
    """PIDs of this user's processes, this one left out."""
    me = os.geteuid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid == me:
                yield int(entry.name)
        except OSError:
            continue


def same_file(a: str, b: str) -> bool:
    """True if two paths name one file (or, where one is gone, the same real path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


# -- connection files ------------------------------------------------------------------------


def read_connection_file(path: str, only_ours: bool = False) -> dict[str, Any]:
    """A connection file's content, read without blocking; Failure(UNREADABLE) if it is not one.

    It must be a small regular file holding a JSON object with a control port. With
    ``only_ours`` (a path found on the machine, not given by the user) it must also be ours
    and not a symlink.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if only_ours else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        raise Failure(UNREADABLE, f"cannot read the connection file {path}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Failure(UNREADABLE, f"the connection file {path} is not a regular file")
        if only_ours and info.st_uid != os.geteuid():
            raise Failure(UNREADABLE, f"the connection file {path} is not ours")
        data = os.read(fd, MAX_CONNECTION_FILE + 1)
    except OSError:
        raise Failure(UNREADABLE, f"cannot read the connection file {path}") from None
    finally:
        os.close(fd)
    try:
        content = json.loads(data) if len(data) <= MAX_CONNECTION_FILE else None
    except ValueError:
        content = None
    ok = isinstance(content, dict) and type(content.get("control_port")) is int
    ok = ok and all(isinstance(content.get(k, ""), str) for k in ("ip", "key", "transport"))
    if not ok:
        raise Failure(UNREADABLE, f"{path} is not a kernel connection file")
    return content  # type: ignore[return-value]


def kernel_id_of(path: str) -> str:
    """A kernel's id as its connection file's name gives it (``kernel-<id>.json``)."""
    return os.path.basename(path).removeprefix("kernel-").removesuffix(".json")


@dataclass
class Found:
    """A kernel found on this machine: its connection file and what points to it."""

    path: str
    in_runtime_dir: bool = False
    identities: dict[int, dict[str, Any]] = field(default_factory=dict)  # by PID
    processes: list[int] = field(default_factory=list)  # started with it (command line)

    @property
    def kernel_id(self) -> str:
        return kernel_id_of(self.path)

    def pid(self) -> int | None:
        """The PID the kernel published in its identity file, if exactly one did."""
        return next(iter(self.identities)) if len(self.identities) == 1 else None

    def first_process(self) -> int | None:
        """Of the processes started with this file, one whose parent is not (not a worker)."""
        tops = [p for p in self.processes if parent_of(p) not in self.processes]
        return min(tops or self.processes, default=None)


def discover(runtime: str) -> list[Found]:
    """Every kernel of this user that this machine shows: runtime-dir connection files,
    published identities, and processes that run ipykernel with a ``-f`` path."""
    from .runtime import live_identities

    found: dict[str, Found] = {}

    def add(path: str) -> Found:
        key = os.path.realpath(path)
        if key not in found:
            found[key] = Found(path, in_runtime_dir=os.path.dirname(key) == real_runtime)
        return found[key]

    real_runtime = os.path.realpath(runtime)
    for path in sorted(glob.glob(os.path.join(glob.escape(runtime), "kernel-*.json"))):
        add(path)
    for pid, record in live_identities(runtime).items():
        if record["connection_file"]:  # terminal IPython has none: not a kernel
            add(record["connection_file"]).identities[pid] = record
    for pid in my_processes():
        args = process_args(pid)
        path = connection_file_of(pid, args) if args and runs_ipykernel(args) else None
        if path:
            add(path).processes.append(pid)
    return sorted(found.values(), key=lambda f: (not f.in_runtime_dir, f.path))


# -- which kernel the user means ---------------------------------------------------------------


@dataclass
class Target:
    """The kernel to dump, and how sure we are which process it is.

    ``pid`` is set only from facts the kernel published (its identity, or its control
    reply's PID); ``claimed`` is a PID the user gave that has not shown that yet.
    """

    name: str
    connection: str | None = None
    pid: int | None = None
    identity: dict[str, Any] | None = None
    claimed: int | None = None
    processes: list[int] = field(default_factory=list)


def resolve(target: str) -> Target:
    """KERNEL (a kernel id or prefix, a connection file, or a PID) -> the Target.

    An argument made only of digits may be either a PID or the start of a kernel id (about
    one kernel id in 40 starts with eight digits): what exists decides, and both is an error.
    """
    runtime = runtime_dir()
    if not target:
        raise Failure(USAGE, "give a kernel id (or its start), a connection file, or a PID")
    if os.path.sep in target or target.endswith(".json"):
        read_connection_file(target)  # says at once if it cannot be read
        return by_connection_file(target, target, discover(runtime))
    kernels = discover(runtime)
    matches = [k for k in kernels if k.kernel_id.startswith(target)]
    if target.isdigit():
        pid = int(target)
        exists = os.path.exists(f"/proc/{pid}")
        if matches and exists and could_be_kernel(runtime, pid):
            ids = ", ".join(k.kernel_id[:12] for k in matches)
            raise Failure(
                USAGE,
                f"{target!r} is both process {pid} (a kernel) and the start of kernel id "
                f"{ids}; give more of the id, or a connection file",
            )
        if not matches:
            if not exists:
                raise Failure(NO_PROCESS, f"no process {pid}, and no kernel id starts with it")
            return by_pid(runtime, pid, target)
    if not matches:
        raise Failure(USAGE, f"no kernel {target!r} on this machine (see `ipysigtrace list`)")
    if len(matches) > 1:
        ids = ", ".join(k.kernel_id[:12] for k in matches)
        raise Failure(USAGE, f"{target!r} matches several kernels: {ids}; give more of the id")
    return by_connection_file(target, matches[0].path, kernels)


def could_be_kernel(runtime: str, pid: int) -> bool:
    """True if the process published an identity or its command line runs ipykernel."""
    from .runtime import read_identity

    if read_identity(runtime, pid) is not None:
        return True
    args = process_args(pid)
    return bool(args and runs_ipykernel(args) and connection_arg(args))


def by_pid(runtime: str, pid: int, name: str) -> Target:
    """A PID: the kernel it is, if it published its identity; else a claim to check."""
    from .runtime import read_identity

    if has_ended(pid):
        raise Failure(NO_PROCESS, f"process {pid} has ended (its parent has not reaped it)")
    identity = read_identity(runtime, pid)
    if identity is not None:
        connection = identity["connection_file"] or None
        return Target(name, connection, pid=pid, identity=identity, processes=[pid])
    return Target(name, connection_file_of(pid), claimed=pid)


def by_connection_file(name: str, path: str, kernels: list[Found]) -> Target:
    """A connection file, and the PID of its kernel if that kernel published its identity."""
    found = next((k for k in kernels if same_file(k.path, path)), None)
    if found is None:
        return Target(name, path)
    pid = found.pid()
    identity = found.identities[pid] if pid is not None else None
    return Target(name, path, pid=pid, identity=identity, processes=found.processes)


@dataclass(frozen=True)
class Asked:
    """What came back on the control channel.

    ``answer``: the ipysigtrace_reply's content, or None. ``not_loaded``: the kernel
    answered the kernel_info_request sent behind ours and never ours, so it does not know
    ipysigtrace (a kernel handles control messages one at a time, in order).
    """

    answer: dict[str, Any] | None
    not_loaded: bool = False


def ask(info: dict[str, Any], action: str, timeout: float, **options: Any) -> Asked:
    """Ask a kernel, by its connection file's content, on its control channel."""
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.session import Session
    from traitlets import TraitError

    from .kernel import REQUEST, reply_to

    client = BlockingKernelClient()
    try:
        client.load_connection_info(info)  # type: ignore[arg-type]
    except (TypeError, ValueError, TraitError) as exc:
        raise Failure(UNREADABLE, f"not a usable connection file: {exc}") from None
    # A session of our own: a socket's identity is its session id (see server/ask.py).
    client.session = Session(
        key=client.session.key, signature_scheme=client.session.signature_scheme
    )
    client.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
    try:
        message = client.session.msg(REQUEST, {"action": action, **options})
        probe = client.session.msg(KERNEL_INFO, {})
        client.control_channel.send(message)
        client.control_channel.send(probe)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = client.control_channel.get_msg(timeout=left)
            except Empty:
                break
            answer = reply_to(reply, message["header"]["msg_id"])
            if answer is not None:
                return Asked(answer)
            if (reply.get("parent_header") or {}).get("msg_id") == probe["header"]["msg_id"]:
                return Asked(None, not_loaded=True)
        return Asked(None)
    finally:
        client.control_channel.stop()
        client.context.destroy(linger=0)


def answered_pid(answer: dict[str, Any]) -> int | None:
    """The PID a kernel's reply gives for itself."""
    pid = answer.get("pid")
    return pid if type(pid) is int else None


def raw_dump(pid: int, timeout: float) -> dict | None:
    """faulthandler's raw dump of a kernel that published its identity (rawdump.collect)."""
    from .rawdump import collect
    from .sources import line

    snapshot = collect(runtime_dir(), pid, timeout, source=line)
    return snapshot.to_dict() if snapshot else None


def command_list(args: argparse.Namespace) -> int:
    from .render.common import printable
    from .runtime import remove_stale

    runtime = runtime_dir()
    remove_stale(runtime)  # files of kernels that were killed
    kernels = discover(runtime)
    if not kernels:
        print(f"no kernels: none in {printable(runtime)}, and no process of ours runs ipykernel")
        return 0
    rows = [("KERNEL", "PID", "IPYSIGTRACE", "CELL", "CONNECTION FILE")]
    guessed = False
    for kernel in kernels:
        pid, loaded, cell = list_row(kernel, args)
        guessed = guessed or pid.startswith("(")
        where = "(runtime dir)" if kernel.in_runtime_dir else kernel.path
        rows.append((kernel.kernel_id, pid, loaded, cell, where))
    for kernel_id, pid, loaded, cell, where in rows:
        print(f"{printable(kernel_id):38} {pid:>9}  {loaded:11}  {cell:14}  {printable(where)}")
    if guessed:
        print(
            "(PID): a process started with that connection file; it published no "
            "ipysigtrace identity, so it may also be a worker the kernel forked"
        )
    return 0


def list_row(kernel: Found, args: argparse.Namespace) -> tuple[str, str, str]:
    """PID, whether ipysigtrace is loaded, and what the cell does, for one kernel.

    The PID is the one the kernel published, or its reply's if a process here has it; else,
    in parentheses, a process started with the connection file (a lead, not a fact).
    """
    pid = kernel.pid()
    local = pid is not None or bool(kernel.processes)
    guess = f"({kernel.first_process()})" if kernel.processes else "-"
    if not local and not args.remote:
        return "-", "-", "no process"
    try:
        info = read_connection_file(kernel.path, only_ours=True)
    except Failure:
        gone = not os.path.lexists(kernel.path)
        return (str(pid) if pid else guess), "-", "file gone" if gone else "unreadable"
    asked = ask(info, "status", args.timeout)
    answer = asked.answer
    if pid is None and answer is not None and answered_pid(answer) in kernel.processes:
        pid = answered_pid(answer)
    shown = str(pid) if pid is not None else guess
    if answer is not None:
        seconds = answer.get("cell_seconds")
        return shown, "loaded", f"busy for {seconds:.0f} s" if _is_seconds(seconds) else "idle"
    if kernel.pid() is not None:
        return shown, "loaded", f"no answer in {args.timeout:g} s"
    if asked.not_loaded:
        return shown, "not loaded", "-"
    return shown, "unknown", "no answer"


def _is_seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def command_dump(args: argparse.Namespace) -> int:
    from .render import text
    from .render.common import ViewOptions
    from .snapshot import StackSnapshot

    target = resolve(args.kernel)
    if target.claimed is not None:
        verify(target, args.timeout)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    previous: dict[int, tuple] = {}
    rounds = 0
    while True:
        data = dump_once(args, target)
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


def verify(target: Target, timeout: float) -> None:
    """A PID that published no identity: is it the kernel its command line's ``-f`` names?

    Only if that kernel's control reply gives this PID. A forked worker carries its
    kernel's ``-f``: it is refused, and the kernel it belongs to is named. Nothing is
    signalled here.
    """
    pid = target.claimed
    assert pid is not None
    runtime = runtime_dir()
    not_kernel = f"process {pid} is not a kernel that loaded ipysigtrace"
    if target.connection is None:
        raise Failure(
            NOT_LOADED,
            f"{not_kernel}: it published no identity in {runtime} and its command line names "
            "no connection file; it was not signalled",
        )
    try:
        info = read_connection_file(target.connection)
    except Failure as failure:
        raise Failure(NOT_LOADED, f"{not_kernel}: {failure}; it was not signalled") from None
    asked = ask(info, "status", timeout)
    if asked.answer is not None:
        kernel = answered_pid(asked.answer)
        if kernel == pid:
            target.pid, target.claimed = pid, None  # a loaded kernel without an identity file
            return
        if kernel is not None and kernel in ancestors(pid):
            relation = "a child" if parent_of(pid) == kernel else "a descendant"
            whose = (
                f"it is {relation} of kernel process {kernel}, whose connection file it "
                f"inherited (`ipysigtrace dump {kernel}` shows that kernel)"
            )
        elif kernel is not None:
            whose = f"the kernel of the connection file it names is process {kernel}"
        else:
            raise Failure(
                BAD_ANSWER,
                f"the kernel of the connection file of process {pid} answered without its "
                "PID, so it cannot be told from that process; nothing is shown",
            )
        raise Failure(NOT_LOADED, f"{not_kernel}: {whose}; it was not signalled")
    parent = parent_of(pid)
    child = ""
    if parent is not None and connection_file_of(parent) == target.connection:
        child = f"; it is a child of process {parent}, started with the same connection file"
    if asked.not_loaded:
        raise Failure(
            NOT_LOADED,
            f"process {pid} has not loaded ipysigtrace: the kernel of its connection file "
            f"answers, but not to ipysigtrace (run %load_ext ipysigtrace in it){child}; "
            "it was not signalled",
        )
    raise Failure(
        NO_ANSWER,
        f"process {pid} published no identity in {runtime} and the kernel of its connection "
        f"file did not answer within {timeout:g} s{child}; it was not signalled",
    )


def ancestors(pid: int) -> list[int]:
    """The parent of a process, its parent, and so on (not PID 0 or 1)."""
    chain: list[int] = []
    current = parent_of(pid)
    while current not in (None, 0, 1) and len(chain) < MAX_ANCESTORS:
        chain.append(current)  # type: ignore[arg-type]
        current = parent_of(current)  # type: ignore[arg-type]
    return chain


def dump_once(args: argparse.Namespace, target: Target) -> dict:
    """One snapshot: the control channel first, then the raw dump of a local kernel."""
    asked = Asked(None)
    if target.connection is not None:
        locals_ = "repr" if args.locals == "repr" else args.locals is not None
        try:
            info = read_connection_file(target.connection)
        except Failure:
            if target.identity is None:
                raise
            info = None  # a kernel that published its identity still has the raw dump
        if info is not None:
            asked = ask(info, "dump", args.timeout, locals=locals_)
    answer = asked.answer
    if answer is not None:
        if target.pid is not None and answered_pid(answer) != target.pid:
            raise Failure(
                BAD_ANSWER,
                f"the connection file of kernel process {target.pid} is answered by process "
                f"{answered_pid(answer)}; its stacks are not shown",
            )
        if answer.get("status") == "ok" and "snapshot" in answer:
            return answer["snapshot"]
        message = answer.get("message")
        refused = message if isinstance(message, str) else "an answer without a snapshot"
        raise Failure(BAD_ANSWER, f"{args.kernel} answered without a snapshot: {refused[:200]}")
    if asked.not_loaded:
        raise Failure(
            NOT_LOADED,
            f"kernel {args.kernel} has not loaded ipysigtrace: it answers, but not to "
            "ipysigtrace (run %load_ext ipysigtrace in it)",
        )
    if target.pid is not None and target.identity is not None:
        return raw_or_fail(args, target)
    if target.pid is not None and has_ended(target.pid):
        raise Failure(NO_PROCESS, f"process {target.pid} has ended")
    if target.pid is None and not target.processes:
        raise Failure(
            NO_PROCESS,
            f"kernel {args.kernel} is gone: no process here runs it and it did not answer "
            f"within {args.timeout:g} s (its connection file is left; or it runs elsewhere)",
        )
    pids = ", ".join(map(str, target.processes or [target.pid]))
    raise Failure(
        NO_ANSWER,
        f"no answer from {args.kernel} within {args.timeout:g} s; its process ({pids}) "
        "published no ipysigtrace identity here, so it was not signalled",
    )


def published_signal(name: str) -> int | None:
    """The number of a signal a kernel named in its identity (``SIGURG``, ``SIGRTMIN+1``)."""
    from .trigger import SignalChoiceError, parse_signal

    if not name:
        return None
    try:
        return int(parse_signal(name))
    except SignalChoiceError:
        return None


def raw_or_fail(args: argparse.Namespace, target: Target) -> dict:
    """The raw dump of a kernel that published its identity but did not answer in time."""
    from .procinfo import catches
    from .runtime import kernel_file

    pid, identity = target.pid, target.identity
    assert pid is not None and identity is not None
    if has_ended(pid):
        raise Failure(NO_PROCESS, f"process {pid} has ended")
    late = f"kernel process {pid} did not answer within {args.timeout:g} s"
    if target.connection is None:  # terminal IPython: no control channel
        late = f"process {pid} has no control channel (terminal IPython?)"
    name = identity["raw_signal"]
    number = published_signal(name)
    if number is None:
        raise Failure(
            NO_ANSWER,
            f"{late}, and its raw dumps are off (IPySigTrace.raw_signal); it was not signalled",
        )
    if not catches(pid, number):
        raise Failure(
            NO_ANSWER,
            f"{late}, and it no longer catches {name}, its raw-dump signal; it was not signalled",
        )
    raw = kernel_file(runtime_dir(), pid, "raw")
    try:
        info = os.lstat(raw)
        ours = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
    except OSError:
        ours = False
    if not ours:
        raise Failure(
            NO_ANSWER, f"{late}, and it has no raw-dump file of ours ({raw}); it was not signalled"
        )
    data = raw_dump(pid, args.timeout)
    if data is None:
        if has_ended(pid):
            raise Failure(NO_PROCESS, f"process {pid} has ended")
        raise Failure(
            NO_ANSWER, f"{late}, and no raw dump came within {args.timeout:g} s of {name}"
        )
    return data


# -- autoload --------------------------------------------------------------------------------


def env_config_file() -> Path:
    """The IPython kernel configuration that ipysigtrace installs into this environment."""
    return Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"


def profile_dir() -> Path:
    """The user's default IPython profile (``$IPYTHONDIR/profile_default``)."""
    from IPython.paths import get_ipython_dir

    return Path(get_ipython_dir()) / "profile_default"


def read_json_config(path: Path) -> dict[str, Any] | None:
    """The profile's JSON configuration, or None if there is none; Failure if it is bad."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Failure(UNREADABLE, f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Failure(UNREADABLE, f"{path} is not a regular file; nothing changed")
        data = os.read(fd, MAX_CONFIG_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_FILE:
        raise Failure(UNREADABLE, f"{path} is larger than {MAX_CONFIG_FILE} bytes; nothing changed")
    try:
        config = json.loads(data) if data.strip() else {}
    except ValueError as exc:
        raise Failure(
            UNREADABLE, f"{path} is not valid JSON ({exc}); fix it first, nothing changed"
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("IPySigTrace", {}), dict):
        raise Failure(
            UNREADABLE,
            f"{path} is not an IPython configuration (an object of sections); nothing changed",
        )
    return config


def write_json_config(path: Path, config: dict[str, Any]) -> None:
    """Replace the file atomically (a temporary file, then rename), keeping its mode.

    A symlink is followed: the file it points to is replaced, the link stays.
    """
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temporary = tempfile.mkstemp(prefix=f".{real.name}.", dir=real.parent)
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(config, file, indent=2)
            file.write("\n")
            file.flush()
            os.fchmod(file.fileno(), mode)
            os.fsync(file.fileno())
        os.replace(temporary, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def remove_old_startup() -> str | None:
    """Remove the startup file an earlier ipysigtrace wrote; a line saying so, or None.

    It loads ipysigtrace in every kernel whatever the setting says, so both ``enable`` and
    ``disable`` take it away, but only if it is exactly what that version wrote.
    """
    path = profile_dir() / "startup" / OLD_STARTUP_NAME
    try:
        text = path.read_text() if path.is_file() and not path.is_symlink() else None
    except (OSError, UnicodeDecodeError):
        text = None
    if text == OLD_STARTUP_TEXT:
        path.unlink()
        return f"removed {path}, the startup file of an earlier ipysigtrace"
    if path.exists() or path.is_symlink():
        return f"left {path} alone: it is not the file an earlier ipysigtrace wrote"
    return None


def command_autoload(args: argparse.Namespace) -> int:
    if args.action == "status":
        for line in autoload_status():
            print(line)
        return 0
    path = profile_dir() / "ipython_kernel_config.json"
    config = read_json_config(path)
    section = (config or {}).get("IPySigTrace", {})
    notes = []
    if args.action == "disable":
        if config is not None and section.get("autoload") is False:
            notes.append(f"autoload already disabled: IPySigTrace.autoload is false in {path}")
        else:
            config = config or {}
            config["IPySigTrace"] = {**section, "autoload": False}
            write_json_config(path, config)
            notes.append(
                f"autoload disabled: IPySigTrace.autoload = false in {path}; kernels started "
                "from now on do not load ipysigtrace"
            )
    else:
        if config is not None and "autoload" in section:
            rest = {k: v for k, v in section.items() if k != "autoload"}
            if rest:
                config["IPySigTrace"] = rest
            else:
                del config["IPySigTrace"]
            write_json_config(path, config)
            notes.append(f"autoload enabled: removed IPySigTrace.autoload from {path}")
        else:
            notes.append(f"autoload: {path} does not set IPySigTrace.autoload; nothing to remove")
    old = remove_old_startup()
    if old:
        notes.append(old)
    if args.action == "enable":
        on, why = autoload_reason()
        notes.append(f"new kernels {'load' if on else 'still do not load'} ipysigtrace: {why}")
    for line in notes:
        print(line)
    return 0


def autoload_reason() -> tuple[bool, str]:
    """Whether new kernels of this environment load ipysigtrace, and why, in one line."""
    from .autoload import ENV_SWITCH, enabled_by_environment

    env_file = env_config_file()
    try:
        ours = ENV_CONFIG_MARK in env_file.read_text(errors="replace")
    except OSError:
        return False, f"this environment has no {env_file} (reinstall ipysigtrace)"
    if not ours:
        return False, f"{env_file} is not the file ipysigtrace installs (reinstall ipysigtrace)"
    if not enabled_by_environment():
        value = os.environ.get(ENV_SWITCH, "")
        return False, f"{ENV_SWITCH}={value} in this environment (kernels started from it)"
    path = profile_dir() / "ipython_kernel_config.json"
    try:
        setting = ((read_json_config(path) or {}).get("IPySigTrace") or {}).get("autoload")
    except Failure:
        return True, f"{env_file} loads it; {path} cannot be read, so kernels ignore it"
    if setting is False:
        return False, f"IPySigTrace.autoload is false in {path}"
    if setting is True:
        return True, f"IPySigTrace.autoload is true in {path}, and {env_file} is installed"
    return True, f"{env_file} loads it and nothing here turns it off"


def autoload_status() -> list[str]:
    """``autoload status``: on or off and why, then what else has a say."""
    on, why = autoload_reason()
    lines = [f"autoload {'on' if on else 'off'}: {why}"]
    profile = profile_dir()
    python_config = profile / "ipython_kernel_config.py"
    with contextlib.suppress(OSError):
        if "IPySigTrace.autoload" in python_config.read_text(errors="replace"):
            lines.append(
                f"note: {python_config} mentions IPySigTrace.autoload (the .json beside it wins)"
            )
    startup = profile / "startup" / OLD_STARTUP_NAME
    if startup.exists():
        lines.append(
            f"note: {startup} loads ipysigtrace in every kernel whatever the setting; "
            "`ipysigtrace autoload enable` or `disable` removes it"
        )
    lines += kernelspec_notes()
    return lines


def kernelspec_notes() -> list[str]:
    """Kernel specs whose environment switches autoloading off."""
    from .autoload import ENV_SWITCH

    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().get_all_specs()
    except Exception:  # a broken kernel spec must not break `status`
        return []
    notes = []
    for name, spec in sorted(specs.items()):
        value = str(((spec.get("spec") or {}).get("env") or {}).get(ENV_SWITCH, "1"))
        if value.strip().lower() in ("0", "false", "no", "off"):
            notes.append(
                f"note: kernel spec {name!r} sets {ENV_SWITCH}={value}: its kernels skip it"
            )
    return notes


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
    from .render.common import printable

    print(f"ipysigtrace: {printable(message)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
