"""What each thread is doing: guessed from its frames, then checked with what Linux says.

The frames alone cannot tell a thread that computes from one blocked in C: both sit on the
same Python line. So after the freeze, for each thread whose frames do not already name a
wait, the state is read from ``/proc/self/task/<tid>/stat`` (the scheduler's letter) and
``wchan`` (where in the kernel it sleeps):

- ``R``: it runs (C code without the GIL, or just woken);
- ``S``/``D`` in a futex: a Python lock, or the GIL itself (every thread that runs Python
  waits for the GIL while we capture). ``/proc/.../syscall`` tells them apart: the GIL
  wait always has a timeout (the switch interval), a lock acquired without a timeout has
  none. With a timeout it stays what the frames say;
- ``S``/``D`` anywhere else (a pipe, a socket, a sleep, waitpid): blocked in C, never
  "running".

The files are read through libc called with the GIL held (ctypes' ``PyDLL``): a call that
released the GIL would hand it to a spinning cell for a whole switch interval (5 ms) each
time. Reading /proc never blocks. Where /proc or libc is missing the frames' guess stays.
"""

from __future__ import annotations

import platform

from .procinfo import read_held
from .snapshot import FrameRecord

# (file suffix or '', function, words in the source line) -> state, from the innermost
# frame. The first rule that matches wins.
_STATE_RULES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("queue.py", "get", (), "waiting on a queue"),
    ("queue.py", "put", (), "waiting on a queue"),
    ("threading.py", "wait", ("waiter.acquire",), "waiting on a condition"),
    ("threading.py", "join", (), "waiting for a thread"),
    ("threading.py", "_wait_for_tstate_lock", (), "waiting for a thread"),
    ("selectors.py", "", (), "waiting for I/O"),
    ("socket.py", "", (), "waiting for I/O"),
    ("ssl.py", "", (), "waiting for I/O"),
    ("subprocess.py", "", (), "waiting for I/O"),
    ("", "", ("sleep(",), "sleeping"),
    ("", "", (".acquire(", "with lock", "_lock:", "lock:"), "waiting for a lock"),
    ("", "", (".recv(", ".read(", ".readline(", "select(", "poll(", "input("), "waiting for I/O"),
    ("", "", (".get(",), "waiting on a queue"),
    ("", "", (".wait(",), "waiting on an event"),
)

# Waits on another thread's doing: a view opens these sections.
SYNC_WAITS = frozenset(
    ("waiting for a lock", "waiting on a queue", "waiting on an event", "waiting on a condition")
)
STATE_GROUPS = {"running": "running", "sleeping": "sleeping", "unknown": "unknown"}


def guess_state(records: list[FrameRecord]) -> str:
    """A one-phrase guess of what a thread does, from its innermost frames."""
    if not records:
        return "unknown"
    top = records[-1]
    callers = records[-4:-1]
    for suffix, function, words, state in _STATE_RULES:
        if suffix and not top.filename.endswith(suffix):
            continue
        if function and top.function.rsplit(".", 1)[-1] != function:
            continue
        if words and not any(w in top.line for w in words):
            continue
        # Event.wait is the only function of threading.py named wait that calls
        # Condition.wait itself (on 3.10, which has no co_qualname, both are just "wait").
        caller = records[-2] if len(records) > 1 else None
        if (
            state == "waiting on a condition"
            and caller is not None
            and caller.filename.endswith("threading.py")
            and caller.function.rsplit(".", 1)[-1] == "wait"
        ):
            return "waiting on an event"
        if state == "waiting on a condition" and any(
            r.filename.endswith("queue.py") for r in callers
        ):
            return "waiting on a queue"
        return state
    return "running"


def state_group(state: str) -> str:
    """running, sleeping, waiting or unknown: the word used in a summary line."""
    return STATE_GROUPS.get(state, "waiting")


# -- what Linux says -----------------------------------------------------------------------

_FUTEX = {"x86_64": 202, "aarch64": 98, "riscv64": 98}.get(platform.machine())
# Where in the kernel a thread sleeps (wchan) -> what it waits for.
_WCHAN_WORDS = (
    ("sleep", "sleeping"),
    ("pipe", "waiting for I/O"),
    ("read", "waiting for I/O"),
    ("recv", "waiting for I/O"),
    ("poll", "waiting for I/O"),
    ("select", "waiting for I/O"),
    ("sk_wait", "waiting for I/O"),
    ("wait_woken", "waiting for I/O"),
    ("unix_stream", "waiting for I/O"),
    ("tty", "waiting for I/O"),
    ("do_wait", "waiting for a process"),
    ("sigsuspend", "waiting for a signal"),
    ("sigtimedwait", "waiting for a signal"),
)


def _read_proc(tid: int, name: str, pid: int | None = None) -> str:
    """``/proc/<pid>/task/<tid>/<name>`` (its first 511 bytes; this process's by
    default), '' if unreadable."""
    where = "self" if pid is None else str(int(pid))
    data = read_held(f"/proc/{where}/task/{int(tid)}/{name}")
    return data.decode("ascii", "replace") if data else ""


def os_state(tid: int, pid: int | None = None) -> tuple[str, str, bool | None] | None:
    """(state letter, wchan, whether a futex wait has no timeout) of a thread of this
    process (or of process ``pid``), or None."""
    stat = _read_proc(tid, "stat", pid)
    if ")" not in stat:
        return None
    letter = stat[stat.rindex(")") + 2 : stat.rindex(")") + 3]
    if letter not in ("S", "D"):
        return letter, "", None
    wchan = _read_proc(tid, "wchan", pid).strip()
    untimed = None
    if "futex" in wchan and _FUTEX is not None:
        fields = _read_proc(tid, "syscall", pid).split()
        if len(fields) > 4 and fields[0] == str(_FUTEX):
            untimed = fields[4] == "0x0"
    return letter, wchan, untimed


def real_state(guess: str, tid: int | None, pid: int | None = None) -> str:
    """The frames' guess, corrected with what the OS says about thread ``tid`` (of this
    process, or of process ``pid``).

    Only a guess of "running" is checked: the other guesses name a wait that the frames
    show, and leaving those threads alone keeps a thousand idle threads cheap.
    """
    if guess != "running" or tid is None:
        return guess
    found = os_state(tid, pid)
    if found is None:
        return guess
    return combine(guess, *found)


def combine(guess: str, letter: str, wchan: str, untimed: bool | None) -> str:
    """A state from the frames' guess and the OS's (letter, wchan, untimed futex wait)."""
    if letter == "R":
        return "running"
    if letter in ("T", "t"):
        return "stopped"
    if letter not in ("S", "D"):
        return guess
    if "futex" in wchan:
        return "waiting for a lock" if untimed else guess
    if not wchan or wchan == "0":
        return guess  # the kernel does not say where
    for word, state in _WCHAN_WORDS:
        if word in wchan:
            return f"{state} ({wchan})"
    how = "uninterruptibly " if letter == "D" else ""
    return f"blocked {how}in the kernel ({wchan})"
