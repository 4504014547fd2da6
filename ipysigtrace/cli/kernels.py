"""Which process is which kernel, and where this user's kernels are.

Decided from what the kernel published: its identity file in the Jupyter runtime directory
(``identity.read_identity``: a file of ours, checked against the process's start time) and
the PID in its control reply. A PID whose kernel answers as another process is refused,
never shown the other's stacks. An argument made only of digits could be a PID or a kernel
id prefix: it is resolved by what exists, and refused as ambiguous if both do.

Kernels are found in three places: connection files in the runtime directory, the
identities loaded kernels published there, and this user's processes that run ipykernel
(their ``-f`` path, resolved against the process's working directory), so kernels that
VS Code or a script started with a connection file elsewhere are found too. Only regular
files of ours are read.
"""

from __future__ import annotations

import glob
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any

from .errors import NO_PROCESS, UNREADABLE, USAGE, Failure
from .processes import (
    ancestors,
    connection_arg,
    connection_file_of,
    has_ended,
    my_processes,
    parent_of,
    process_args,
    runs_ipykernel,
    runtime_dir,
    same_file,
)

MAX_CONNECTION_FILE = 64 * 1024  # bytes: a larger "connection file" is not one


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
    if not (
        isinstance(content, dict)
        and type(content.get("control_port")) is int
        and all(isinstance(content.get(k, ""), str) for k in ("ip", "key", "transport"))
    ):
        raise Failure(UNREADABLE, f"{path} is not a kernel connection file")
    return content


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
    from ..identity import live_identities

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
        connection = record["connection_file"]
        if isinstance(connection, str) and connection:  # terminal IPython has none
            add(connection).identities[pid] = record
    for pid in my_processes():
        args = process_args(pid)
        found_path = connection_file_of(pid, args) if args and runs_ipykernel(args) else None
        if found_path:
            add(found_path).processes.append(pid)
    return sorted(found.values(), key=lambda f: (not f.in_runtime_dir, f.path))


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
    child: int | None = None  # a worker of the kernel, whose own stacks are wanted


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
    from ..identity import read_identity

    if read_identity(runtime, pid) is not None:
        return True
    args = process_args(pid)
    return bool(args and runs_ipykernel(args) and connection_arg(args))


def by_pid(runtime: str, pid: int, name: str) -> Target:
    """A PID: the kernel it is, if it published its identity; else a claim to check."""
    from ..identity import read_identity

    if has_ended(pid):
        raise Failure(NO_PROCESS, f"process {pid} has ended (its parent has not reaped it)")
    identity = read_identity(runtime, pid)
    if identity is not None:
        connection = identity["connection_file"] or None
        return Target(name, connection, pid=pid, identity=identity, processes=[pid])
    for kernel in ancestors(pid):  # a worker: its kernel is asked for the worker's stacks
        identity = read_identity(runtime, kernel)
        if identity is not None:
            connection = identity["connection_file"] or None
            return Target(
                name, connection, pid=kernel, identity=identity, processes=[kernel], child=pid
            )
    return Target(name, connection_file_of(pid), claimed=pid)


def by_connection_file(name: str, path: str, kernels: list[Found]) -> Target:
    """A connection file, and the PID of its kernel if that kernel published its identity."""
    found = next((k for k in kernels if same_file(k.path, path)), None)
    if found is None:
        return Target(name, path)
    pid = found.pid()
    identity = found.identities[pid] if pid is not None else None
    return Target(name, path, pid=pid, identity=identity, processes=found.processes)
