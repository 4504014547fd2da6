"""What Linux says about another process, and signals sent to one of its threads.

SIGUSR2's default action ends a process, so nothing in ipysigtrace sends it to a process
that has not installed a handler for it. ``/proc/PID/status`` lists caught signals as a
hex bit mask (``SigCgt``), bit ``n - 1`` for signal ``n``.

A process-directed signal goes to any thread that does not block it; ``signal_thread``
(``tgkill``) sends it to one thread of one process, so a sender that knows the kernel's
watcher thread never wakes the cell's thread or a kernel thread (which could then take a
SIGINT meant for the cell, see ``interrupt.py``). ``tgkill`` checks that the thread
belongs to that process, so a stale thread id cannot reach another process.

A dump lists the kernel's descendants (its workers), read on whichever thread made the
dump, with the GIL held (``read_held``): nothing that can wait on the cell, and no GIL
hand-off to a spinning cell per file. A process's children are listed by each of its
threads in ``/proc/PID/task/TID/children`` (the kernel's: each thread it captured; a
descendant's: its main thread, where pools and forkservers start theirs); where a kernel
lacks that file, every process's parent in ``/proc/*/stat`` says the same, more slowly.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable
from typing import Any

from .snapshot import ProcessRecord

# tgkill's system call number where glibc older than 2.30 lacks the wrapper.
_TGKILL = {"x86_64": 234, "aarch64": 131, "riscv64": 131, "i686": 270, "armv7l": 268}


def caught_signals(pid: int) -> set[int] | None:
    """Signal numbers that the process catches, or None if that cannot be read."""
    try:
        with open(f"/proc/{int(pid)}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    mask = int(line.split(":", 1)[1].strip(), 16)
                    return {bit + 1 for bit in range(mask.bit_length()) if mask >> bit & 1}
    except (OSError, ValueError):
        return None
    return None


def catches(pid: int, signum: int) -> bool:
    """True only if the process certainly catches the signal (so it will not die of it)."""
    caught = caught_signals(pid)
    return caught is not None and int(signum) in caught


def signal_thread(pid: int, tid: int, signum: int) -> bool:
    """Send ``signum`` to thread ``tid`` of process ``pid`` only; False if that failed.

    False when the thread is not (or no longer) a thread of that process, or when this
    system has no ``tgkill``: the caller may then signal the process instead.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    tgkill = getattr(libc, "tgkill", None)
    if tgkill is not None:
        result = tgkill(int(pid), int(tid), int(signum))
    elif platform.machine() in _TGKILL:
        result = libc.syscall(_TGKILL[platform.machine()], int(pid), int(tid), int(signum))
    else:
        return False
    if result == 0:
        return True
    if ctypes.get_errno() == 1:  # EPERM: not ours to signal
        raise PermissionError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return False


MAX_DESCENDANTS = 256  # a dump lists at most this many of a process's descendants
MAX_COMMAND = 300  # characters of a command line kept in a dump
_CHUNK = 4096


def _libc_reader() -> tuple[Any, Any, Any] | None:
    try:
        libc = ctypes.PyDLL(None)  # PyDLL: calls keep the GIL
        open_, read, close = libc.open, libc.read, libc.close
    except (OSError, AttributeError):
        return None
    open_.argtypes, open_.restype = [ctypes.c_char_p, ctypes.c_int], ctypes.c_int
    read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    read.restype = ctypes.c_ssize_t
    close.argtypes, close.restype = [ctypes.c_int], ctypes.c_int
    return open_, read, close


_LIBC = _libc_reader() if os.path.isdir("/proc/self/task") else None
_O_RDONLY_CLOEXEC = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def read_held(path: str, limit: int = 511) -> bytes | None:
    """A /proc file's first ``limit`` bytes, read through libc with the GIL held; None if it
    cannot be opened (or there is no libc to call).

    A call that released the GIL would hand it to a spinning cell for a whole switch
    interval (5 ms) each time: 300 threads' files read with ``open()`` cost seconds.
    Reading /proc never blocks.
    """
    if _LIBC is None:
        return None
    open_, read, close = _LIBC
    fd = open_(path.encode(), _O_RDONLY_CLOEXEC)
    if fd < 0:
        return None
    try:
        chunks: list[bytes] = []
        size = 0
        buffer = ctypes.create_string_buffer(min(limit, _CHUNK))
        while size < limit:
            count = read(fd, buffer, min(limit - size, len(buffer)))
            if count <= 0:
                break
            chunks.append(buffer.raw[:count])
            size += count
        return b"".join(chunks)
    finally:
        close(fd)


def command_args(pid: int, limit: int = 1 << 20) -> list[str] | None:
    """A process's command line (its first ``limit`` bytes), or None (gone, a zombie, not
    ours to read, or a moment after ``fork`` before ``exec`` has set it up)."""
    data = read_held(f"/proc/{int(pid)}/cmdline", limit)
    if not data:
        return None
    return data.decode(errors="replace").rstrip("\0").split("\0")


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the name: state, ppid, ...; None if gone."""
    data = read_held(f"/proc/{int(pid)}/stat", 1024)
    if data is None:
        return None
    # "pid (name) state ppid ...": the name may hold spaces and parentheses.
    return data.decode("ascii", "replace").rpartition(")")[2].split()


def is_zombie(pid: int) -> bool:
    """True for a process that has ended but that its parent has not reaped."""
    fields = stat_fields(pid)
    return fields is not None and fields[:1] in (["Z"], ["X"])


# Whether this Linux lists a thread's children (CONFIG_PROC_CHILDREN).
_HAS_CHILDREN = _LIBC is not None and os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _children(pid: int, tids: Iterable[int]) -> list[int]:
    """The direct children that these threads of a process started."""
    found: list[int] = []
    for tid in tids:
        data = read_held(f"/proc/{int(pid)}/task/{int(tid)}/children", 1 << 20)
        found += (int(word) for word in (data or b"").split() if word.isdigit())
    return found


def _parents() -> dict[int, list[int]]:
    """Every visible process's children, from their parents' PIDs (the slow way)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields and len(fields) > 1 and fields[1].isdigit():
                tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def descendants(
    pid: int, threads: Iterable[int] | None = None, limit: int = MAX_DESCENDANTS
) -> list[tuple[int, int]]:
    """``(pid, parent)`` of a process's children, their children and so on, breadth first,
    at most ``limit`` of them.

    The process's children are those of ``threads`` (its thread ids; all of its threads if
    None); a descendant's are those its main thread started (where pools and forkservers
    start theirs), so that a dump lists them without listing each one's threads.
    """
    tree = None if _HAS_CHILDREN else _parents()
    out: list[tuple[int, int]] = []
    seen = {int(pid)}
    queue = [int(pid)]
    while queue and len(out) < limit:
        parent = queue.pop(0)
        if tree is not None:
            children = tree.get(parent, [])
        elif parent == int(pid):
            if threads is None:
                try:
                    threads = [int(t) for t in os.listdir(f"/proc/{int(pid)}/task")]
                except (OSError, ValueError):
                    threads = [int(pid)]
            children = _children(parent, threads)
        else:
            children = _children(parent, [parent])
        for child in sorted(set(children) - seen)[: limit - len(out)]:
            seen.add(child)
            out.append((child, parent))
            queue.append(child)
    return out


def child_processes(pid: int, threads: Iterable[int] | None = None) -> list[ProcessRecord]:
    """A process's descendants as a dump lists them: PID, parent, command line, note.
    Every file is read with the GIL held (``read_held``)."""
    records = []
    for child, parent in descendants(pid, threads):
        args = command_args(child, 4 * MAX_COMMAND)
        command = " ".join(args) if args else ""
        if len(command) > MAX_COMMAND:
            command = command[: MAX_COMMAND - 1] + "…"
        if is_zombie(child):
            note = "ended, not yet reaped by its parent"
        elif args is None:
            note = "no command line to read (starting, or not ours)"
        else:
            note = ""
        records.append(ProcessRecord(child, parent, command, note))
    return records


def process_start_time(pid: int) -> int | None:
    """When a process started, in clock ticks since boot (``/proc/PID/stat``); None if gone.

    Together with the PID this names one process for good: a PID that is used again
    belongs to a process with another start time.
    """
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as file:
            data = file.read(4096)
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data.rsplit(b")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None
