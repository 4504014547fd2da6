"""What Linux says about this user's processes: command lines, parents, connection files.

A command line is only a lead: a worker that a kernel forked carries the kernel's ``-f``
argument. Which process is which kernel is decided in ``kernels``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

from ..procinfo import command_args, is_zombie, stat_fields

MAX_ANCESTORS = 64  # how far up the parent chain a worker's kernel is looked for


def runtime_dir() -> str:
    """The Jupyter runtime directory (connection files, identities, raw dumps)."""
    from jupyter_core.paths import jupyter_runtime_dir

    return jupyter_runtime_dir()


def process_args(pid: int) -> list[str] | None:
    """A process's command line, or None (gone, a zombie, or not ours to read)."""
    return command_args(pid)


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
    fields = stat_fields(pid)
    return int(fields[1]) if fields and len(fields) > 1 and fields[1].isdigit() else None


def has_ended(pid: int) -> bool:
    """True for a process that has exited but is still listed: a zombie (Linux)."""
    if stat_fields(pid) is None:
        return not os.path.exists(f"/proc/{pid}")
    return is_zombie(pid)


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


def ancestors(pid: int) -> list[int]:
    """The parent of a process, its parent, and so on (not PID 0 or 1)."""
    chain: list[int] = []
    current = parent_of(pid)
    while current is not None and current > 1 and len(chain) < MAX_ANCESTORS:
        chain.append(current)
        current = parent_of(current)
    return chain
