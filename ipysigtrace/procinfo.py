"""What Linux says about another process: which signals it catches.

SIGUSR2's default action ends a process, so nothing in ipysigtrace sends it to a process
that has not installed a handler for it. ``/proc/PID/status`` lists caught signals as a
hex bit mask (``SigCgt``), bit ``n - 1`` for signal ``n``.
"""

from __future__ import annotations


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
