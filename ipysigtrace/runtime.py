"""Files in the Jupyter runtime directory: made safely, read warily, removed with their kernel.

For each kernel process (by PID) ipysigtrace keeps up to three files there:

- ``ipysigtrace-<pid>.raw``: faulthandler's raw dumps, for when native code holds the GIL;
- ``ipysigtrace-<pid>.txt``: the last dump made while no cell was running;
- ``ipysigtrace-<pid>.json``: who the process is (``identity.py``: its PID, its start
  time as the kernel counts it, its connection file, its signals). A command line or a
  server decides "this PID is an ipysigtrace kernel" from this file, checked against
  ``/proc``, never from a process's command line or from the mere existence of a raw file.

and one directory, ``ipysigtrace-<pid>.children`` (0700), where the kernel's worker
processes listen for its questions, each on a Unix socket named by its PID
(``responder.py``).

The directory is not trusted. Another user may own files in it, or plant a FIFO or a
symlink where ours should go. So a file is created exclusively (``O_EXCL``, never through a
symlink, never blocking), and its owner, type and mode are checked on the open descriptor;
a file that fails a check is refused with one line and the kernel goes on without it. All
later writes go through the descriptor opened at load time, never through the path again.

The files go when their kernel goes: on unload and at a normal exit (here), when the
server shuts a kernel down, restarts or culls it (``ipysigtrace.server``), and, for kernels
that were killed, whenever a kernel loads or a server or command line looks
(``remove_stale``): a file of a PID that no longer runs, or that now belongs to a process
started at another time, is removed if it is ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from typing import Any, Literal

from .procinfo import process_start_time

Kind = Literal["raw", "txt", "json"]
KINDS: tuple[Kind, ...] = ("raw", "txt", "json")
MAX_IDENTITY = 64 * 1024  # bytes: an identity file larger than this is not ours
FILE_NAME = re.compile(r"^ipysigtrace-(\d+)\.(raw|txt|json|children)$")


class RuntimeFileError(OSError):
    """A runtime file that cannot be used safely; the message says why, in one line."""


def kernel_file(runtime_dir: str, pid: int, kind: Kind) -> str:
    """The path of one of a kernel's files."""
    return os.path.join(runtime_dir, f"ipysigtrace-{int(pid)}.{kind}")


def children_dir(runtime_dir: str, pid: int) -> str:
    """The directory where a kernel's worker processes listen (``responder.py``)."""
    return os.path.join(runtime_dir, f"ipysigtrace-{int(pid)}.children")


def make_private_dir(path: str) -> None:
    """Create the directory ``path``, 0700, or raise RuntimeFileError.

    A stale one of ours (its kernel is gone) is removed first; anything else at ``path``
    is refused, as ``create_private`` does for files.
    """
    for attempt in range(2):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if attempt == 0 and _remove_if_stale(path):
                continue
            raise RuntimeFileError(f"{path} already exists and is not ours to replace") from None
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise RuntimeFileError(f"{path} was replaced as it was made")
        if info.st_mode & 0o077:
            os.chmod(path, 0o700)
        return
    raise RuntimeFileError(f"{path} keeps coming back")  # pragma: no cover - a race lost twice


def create_private(path: str, append: bool = False) -> int:
    """Create ``path`` for writing, 0600, exclusively; returns the checked descriptor.

    ``append`` opens it with ``O_APPEND`` (faulthandler's raw file: a reader empties it
    before it asks for a dump, and every dump starts at the end).

    A stale file of ours (regular, owned by us, of a process that no longer runs) is
    removed first. Anything else already at ``path`` is refused: a FIFO, a symlink, a
    directory, or a file of another user or of a live process.
    """
    for attempt in range(2):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        flags |= os.O_APPEND if append else 0
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            if attempt == 0 and _remove_if_stale(path):
                continue
            raise RuntimeFileError(f"{path} already exists and is not ours to replace") from None
        try:
            os.fchmod(fd, 0o600)
            check_private(fd, path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        return fd
    raise RuntimeFileError(f"{path} keeps coming back")  # pragma: no cover - a race lost twice


def check_private(fd: int, path: str) -> None:
    """Raise RuntimeFileError unless ``fd`` is a regular file of ours that only we can use."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise RuntimeFileError(f"{path} is not a regular file")
    if info.st_uid != os.geteuid():
        raise RuntimeFileError(f"{path} belongs to uid {info.st_uid}, not to us")
    if info.st_mode & 0o077:
        raise RuntimeFileError(f"{path} can be read or written by others (mode {info.st_mode:o})")
    if info.st_nlink != 1:
        raise RuntimeFileError(f"{path} has {info.st_nlink} links")


def open_private(path: str, max_size: int) -> int | None:
    """Open an existing file of ours for reading and writing, or None.

    None unless it is a regular file owned by us, of at most ``max_size`` bytes. Opening
    never blocks (a FIFO planted at the path cannot hold the reader up).
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        ok = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_size <= max_size
    except OSError:
        ok = False
    if not ok:
        os.close(fd)
        return None
    return fd


def rewrite(fd: int, data: bytes) -> None:
    """Replace the whole content of a file opened by ``create_private``."""
    os.ftruncate(fd, 0)
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        offset += os.pwrite(fd, view[offset:], offset)


def remove_kernel_files(runtime_dir: str, pid: int) -> None:
    """Remove a kernel's files, those that are regular files of ours; leave anything else."""
    for kind in KINDS:
        _remove_if_ours(kernel_file(runtime_dir, pid, kind))
    remove_sockets_dir(children_dir(runtime_dir, pid))


def remove_sockets_dir(path: str) -> None:
    """Remove a directory of ours and the sockets of ours in it; leave anything else."""
    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        entry = os.path.join(path, name)
        with contextlib.suppress(OSError):
            found = os.lstat(entry)
            if stat.S_ISSOCK(found.st_mode) and found.st_uid == os.geteuid():
                os.unlink(entry)
    with contextlib.suppress(OSError):
        os.rmdir(path)  # fails, and leaves it, when something else is in it


def remove_stale(runtime_dir: str) -> list[int]:
    """Remove the files of kernels that no longer run; returns their PIDs.

    A PID's files are stale when no process has that PID, or when the PID's identity file
    names a start time other than that of the process that has the PID now.
    """
    try:
        names = os.listdir(runtime_dir)
    except OSError:
        return []
    pids = {int(m.group(1)) for m in map(FILE_NAME.match, names) if m}
    stale = []
    for pid in sorted(pids):
        if pid == os.getpid() or not _is_stale(runtime_dir, pid):
            continue
        remove_kernel_files(runtime_dir, pid)
        stale.append(pid)
    return stale


def _is_stale(runtime_dir: str, pid: int) -> bool:
    started = process_start_time(pid)
    if started is None:
        return True
    record = _read_record_unchecked(kernel_file(runtime_dir, pid, "json"))
    return record is not None and record.get("start_time") != started


def _read_record_unchecked(path: str) -> dict[str, Any] | None:
    """An identity record without the liveness check (for deciding staleness)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_IDENTITY:
            return None
        record = json.loads(os.read(fd, MAX_IDENTITY + 1))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return record if isinstance(record, dict) else None


def _remove_if_stale(path: str) -> bool:
    """Remove an existing file at ``path`` if it is ours and its process is gone."""
    match = FILE_NAME.match(os.path.basename(path))
    if match is None:
        return False
    pid = int(match.group(1))
    if pid != os.getpid() and not _is_stale(os.path.dirname(path), pid):
        return False
    if match.group(2) == "children":
        remove_sockets_dir(path)
        return not os.path.lexists(path)
    return _remove_if_ours(path)


def _remove_if_ours(path: str) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        return False
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


class KernelFiles:
    """This process's runtime files, made at load and written only through their descriptors.

    A file that cannot be made safely is left out with a one-line note (``notes``): the
    kernel goes on without it (no raw dumps, no idle-dump file, or no identity for the
    command line). ``close`` removes them; it is also registered to run at a normal exit,
    and does nothing in a forked child (the files are the parent's).
    """

    def __init__(self, runtime_dir: str) -> None:
        self.runtime_dir = runtime_dir
        self.pid = os.getpid()
        self.fds: dict[Kind, int] = {}
        self.notes: list[str] = []

    def path(self, kind: Kind) -> str:
        """Where one of the files is (whether or not it could be made)."""
        return kernel_file(self.runtime_dir, self.pid, kind)

    def open(self, kind: Kind, what: str, append: bool = False) -> int | None:
        """Make one file; its descriptor, or None (and a note saying ``what`` is lost)."""
        try:
            fd = create_private(self.path(kind), append=append)
        except OSError as exc:
            reason = str(exc) if isinstance(exc, RuntimeFileError) else f"{self.path(kind)}: {exc}"
            self.notes.append(f"{reason}; going on without {what}")
            return None
        self.fds[kind] = fd
        return fd

    def close(self) -> None:
        """Close and remove the files (in the process that made them only)."""
        if os.getpid() != self.pid:
            return
        fds, self.fds = self.fds, {}
        for kind, fd in fds.items():
            with contextlib.suppress(OSError):
                os.close(fd)
            _remove_if_ours(self.path(kind))
