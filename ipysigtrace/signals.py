"""Which signal asks for a dump: names, numbers, real-time signals, and the refusals.

A user chooses the signal (``IPySigTrace.signal``, ``IPYSIGTRACE_SIGNAL``); a kernel
publishes the one it uses and another process reads it back. Both go through
``parse_signal``, which knows the real-time signals that ``signal.Signals`` does not name
(``SIGRTMIN+N``, ``SIGRTMAX-N``, as kill(1) spells them) and refuses, with the reason, the
signals that other code needs.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

ENV_SIGNAL = "IPYSIGTRACE_SIGNAL"  # the dump signal of kernels that do not configure one

Handler = Callable[[int, FrameType | None], Any] | int | None


# Signals a user may not choose, each with the reason: uncatchable, the kernel's own, fatal
# ones that faulthandler and the C runtime rely on, and those that other code in the same
# process sends itself (timers, profilers, garbage collectors) or that arrive for other
# reasons (a terminal resize, asynchronous I/O), which would make dumps nobody asked for.
FORBIDDEN = {
    "SIGINT": "it is the kernel's interrupt",
    "SIGKILL": "it cannot be caught",
    "SIGSTOP": "it cannot be caught",
    "SIGTERM": "it shuts the kernel down",
    "SIGHUP": "it ends the kernel when its terminal goes away",
    "SIGCHLD": "subprocess management needs it",
    "SIGPIPE": "Python relies on it being ignored",
    "SIGSEGV": "it reports crashes",
    "SIGBUS": "it reports crashes",
    "SIGFPE": "it reports crashes",
    "SIGILL": "it reports crashes",
    "SIGABRT": "it reports crashes",
    "SIGSYS": "it reports a forbidden system call (seccomp)",
    "SIGTRAP": "debuggers use it for breakpoints",
    "SIGTSTP": "it suspends the process",
    "SIGCONT": "it resumes the process",
    "SIGTTIN": "it suspends the process",
    "SIGTTOU": "it suspends the process",
    "SIGALRM": "timers use it (signal.alarm, setitimer ITIMER_REAL, timeout libraries)",
    "SIGVTALRM": "CPU-time timers and sampling profilers use it (setitimer ITIMER_VIRTUAL)",
    "SIGPROF": "profilers use it (setitimer ITIMER_PROF)",
    "SIGWINCH": "terminals send it at every resize",
    "SIGIO": "asynchronous I/O uses it (O_ASYNC)",
    "SIGXCPU": "it reports a CPU time limit, and garbage collectors (Boehm, Mono) use it",
    "SIGXFSZ": "it reports a file size limit",
    "SIGPWR": "garbage collectors (Boehm, Mono) stop threads with it",
}

# SIGRTMIN+N and SIGRTMAX-N, as kill(1) and bash spell them.
_REALTIME = re.compile(r"^(?:SIG)?RT(MIN|MAX)(?:([+-])(\d{1,3}))?$", re.I)


class RealTimeSignal(int):
    """A real-time signal between SIGRTMIN and SIGRTMAX; ``signal.Signals`` names only the ends.

    Its ``name`` (``SIGRTMIN+1``, ``SIGRTMAX-2``) counts from the nearer end, like kill -l.
    """

    @property
    def name(self) -> str:
        """``SIGRTMIN+N`` or ``SIGRTMAX-N``."""
        up, down = self - signal.SIGRTMIN, signal.SIGRTMAX - self
        return f"SIGRTMIN+{up}" if up <= down else f"SIGRTMAX-{down}"

    def __repr__(self) -> str:
        return f"<{self.name}: {int(self)}>"


def _by_number(number: int) -> signal.Signals | RealTimeSignal:
    if signal.SIGRTMIN < number < signal.SIGRTMAX:
        return RealTimeSignal(number)
    try:
        return signal.Signals(number)
    except ValueError:
        if 0 < number < signal.SIGRTMIN:
            raise SignalChoiceError(f"signal {number} is reserved by the C library") from None
        raise SignalChoiceError(f"{number} is not a signal number on this system") from None


def _realtime(text: str, end: str, sign: str | None, offset: str | None) -> int:
    base = signal.SIGRTMIN if end.upper() == "MIN" else signal.SIGRTMAX
    number = base + (int(offset or 0) if sign != "-" else -int(offset or 0))
    if not signal.SIGRTMIN <= number <= signal.SIGRTMAX:
        span = signal.SIGRTMAX - signal.SIGRTMIN
        raise SignalChoiceError(
            f"{text} is not a real-time signal: they go from SIGRTMIN to SIGRTMIN+{span} (SIGRTMAX)"
        )
    return number


class SignalChoiceError(ValueError):
    """A signal name or number that cannot be used; the message says why."""


# A signal ipysigtrace can use: one that signal.Signals names, or a real-time one.
SignalNumber = signal.Signals | RealTimeSignal


def parse_signal(value: str | int) -> SignalNumber:
    """`SIGUSR2`, `usr2`, `12`, `SIGRTMIN+1` or `rtmax-2` -> the signal; refuses unusable ones.

    Raises SignalChoiceError, whose message says why a signal cannot be used.
    """
    text = str(value).strip()
    realtime = _REALTIME.match(text)
    if text.isdigit():
        sig = _by_number(int(text))
    elif realtime:
        sig = _by_number(_realtime(text, *realtime.groups()))
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        named = getattr(signal.Signals, name, None)
        if not isinstance(named, signal.Signals):
            raise SignalChoiceError(
                f"unknown signal {text!r}; use SIGUSR2 (the default), SIGUSR1 or SIGRTMIN+N"
            )
        sig = named
    if sig.name in FORBIDDEN:
        raise SignalChoiceError(
            f"{sig.name} cannot be used for stack dumps: {FORBIDDEN[sig.name]}; "
            "use SIGUSR2 (the default), SIGUSR1 or SIGRTMIN+N"
        )
    return sig


def describe_handler(handler: Handler) -> str:
    """A readable name for a signal handler as signal.getsignal returns it.

    Names come from another library (or a user's object): callers escape the result before
    it reaches a terminal.
    """
    if handler is signal.SIG_DFL:
        return "the default action"
    if handler is signal.SIG_IGN:
        return "SIG_IGN (ignored)"
    if handler is None:
        return "a handler installed outside Python"
    module = getattr(handler, "__module__", None)
    name = getattr(handler, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(name, str):
        return f"a handler of type {type(handler).__name__}"
    return f"{module}.{name}"[:200]


def start_deaf(thread: threading.Thread) -> None:
    """Start a helper thread with every signal blocked (it inherits the mask at start).

    The kernel delivers a process-directed signal to any thread that does not block it:
    a helper of ours (the pygments warm-up, a repr runner) must never take the cell's
    SIGINT or the watcher's dump signal.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
