"""Nudges: an interrupt that lands just before the main thread goes to sleep still wakes it.

CPython checks for signals between bytecodes and when a blocking call fails with EINTR. A
SIGINT whose C handler runs on the main thread after the last check but before the
blocking call begins (in ``time.sleep``, between releasing the GIL and entering
``clock_nanosleep``) is recorded and then never acted on: the call does not fail, because
the signal came before it, and ``time.sleep(10**6)`` sleeps on with Interrupt pressed.
The window is a few instructions wide; a dump widens it, because its watcher thread waits
for the GIL just then and the main thread's release of the GIL becomes a system call,
where pending signals are delivered. Measured: 6 interrupts lost of 1,200 right after
`kill -USR2` on a busy 2-core machine, every one in that window.

The watcher sees each SIGINT's byte on the wakeup pipe. After one, it sends the main
thread a few nudges (``pthread_kill``) over the next three seconds: a signal
whose Python handler does nothing. A nudge that finds the main thread in a blocking call
makes the call fail with EINTR, so CPython runs the pending SIGINT handler
(KeyboardInterrupt); one that finds it handled already costs a retried call (Python
retries its own calls, PEP 475). The nudge is SIGWINCH: its default action is to do
nothing, so a nudge that arrives after unload is harmless, and a kernel has no terminal
to resize. It is used only where SIGWINCH has no handler of someone else's; terminal
IPython's prompt has one while it waits for input, so the nudge handler is taken back as
each command starts. The default is put back on unload.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from types import FrameType

NUDGE_SIGNAL = signal.SIGWINCH
# After a SIGINT, seconds until each nudge: the first lands once the main thread has had
# time to reach its blocking call, the later ones in case the machine was slow (on a busy
# 2-core machine, 2 of 500 interrupts were still lost with nudges up to 0.3 s only).
NUDGE_DELAYS = (0.02, 0.1, 0.3, 1.0, 3.0)


def _nudged(signum: int, frame: FrameType | None) -> None:
    """The nudge's Python handler: nothing. Its work is done by the EINTR it caused."""


# Capture leaves this frame out of the main thread's stack, as it does the dump handler's.
HANDLER_CODE = _nudged.__code__


class Nudger:
    """Owns the nudge signal's handler; the watcher asks it when to nudge."""

    def __init__(self) -> None:
        self.installed = False
        self.sent = 0
        self._due: list[float] = []
        self._cancelled = 0.0  # nudges asked for before this moment are not sent
        self._asked = 0.0  # when the last SIGINT asked for nudges
        self._main: int | None = None

    def install(self) -> bool:
        """Main thread: take the nudge signal if nobody has; True if taken."""
        if signal.getsignal(NUDGE_SIGNAL) != signal.SIG_DFL:
            return False
        signal.signal(NUDGE_SIGNAL, _nudged)
        self._main = threading.main_thread().ident
        self.installed = True
        return True

    def reclaim(self) -> None:
        """Main thread, as a command starts: take SIGWINCH back if nobody holds it.

        Terminal IPython's prompt takes SIGWINCH while it waits for input and leaves the
        default in place afterwards; a command then runs without a nudge unless it is
        taken back here (as the trigger takes back the wakeup fd).
        """
        if self.installed and signal.getsignal(NUDGE_SIGNAL) == signal.SIG_DFL:
            signal.signal(NUDGE_SIGNAL, _nudged)

    def uninstall(self) -> None:
        """Main thread, after the watcher has stopped: put the default back if still ours."""
        if self.installed and signal.getsignal(NUDGE_SIGNAL) is _nudged:
            signal.signal(NUDGE_SIGNAL, signal.SIG_DFL)
        self.installed = False
        self._due.clear()

    def interrupted(self, now: float) -> None:
        """A SIGINT came (its byte was on the pipe): nudge the main thread soon."""
        if self.installed:
            self._due = sorted({*self._due, *(now + delay for delay in NUDGE_DELAYS)})
            self._asked = now

    def cancel(self) -> None:
        """Any thread, when a cell starts or ends: the interrupt has taken effect, so the
        nudges still to come are dropped (a blocking C call of the next cell is not cut
        short by them)."""
        self._cancelled = time.monotonic()

    def next_due(self, now: float) -> float | None:
        """Seconds until the next nudge, or None."""
        return max(0.0, self._due[0] - now) if self._due else None

    def send_due(self, now: float) -> None:
        """Send the nudges that are due (at most one: they are a signal, not a count)."""
        if self._due and self._asked <= self._cancelled:
            self._due = []
        if not self._due or self._due[0] > now:
            return
        self._due = [due for due in self._due if due > now]
        # Someone took SIGWINCH after us (a terminal application): leave them alone.
        if self._main is None or signal.getsignal(NUDGE_SIGNAL) is not _nudged:
            return
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_kill(self._main, NUDGE_SIGNAL)
            self.sent += 1
