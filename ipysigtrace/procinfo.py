"""What Linux says about another process, and signals sent to one of its threads.

SIGUSR2's default action ends a process, so nothing in ipysigtrace sends it to a process
that has not installed a handler for it. ``/proc/PID/status`` lists caught signals as a
hex bit mask (``SigCgt``), bit ``n - 1`` for signal ``n``.

A process-directed signal goes to any thread that does not block it; ``signal_thread``
(``tgkill``) sends it to one thread of one process, so a sender that knows the kernel's
watcher thread never wakes the cell's thread or a kernel thread (which could then take a
SIGINT meant for the cell, see ``interrupt.py``). ``tgkill`` checks that the thread
belongs to that process, so a stale thread id cannot reach another process.
"""

from __future__ import annotations

import ctypes
import os
import platform

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
