"""The watcher thread: blocks on the self-pipe, captures, hands snapshots to a sink.

Rules it lives by (see DESIGN.md, "The watcher's rules"): it is made when the extension
loads; it blocks in ``os.read`` while idle (no polling); it takes no lock that the stuck
code might hold: no logging, no print, no ``sys.stderr``, no import. A failing sink is
recorded in ``errors`` and the watcher carries on.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import trigger as _trigger
from .nudge import Nudger
from .trigger import SignalTrigger

THREAD_NAME = "ipysigtrace-watcher"

# Dumps closer together than this are merged: a storm of requests makes at most one dump
# per interval, whatever the reader of the pipe keeps up with.
MIN_INTERVAL = 0.05
# The longest the watcher waits for a timer in one go; it then asks again. Keeps a timer
# that is due in a thousand years from overflowing select().
MAX_WAIT = 3600.0

# A dump callback gets the trigger's name ("signal" or "request") and a function to call
# once the dump is out (it may call it later, from another thread, e.g. after a send).
DumpFunction = Callable[[str, Callable[[], None]], None]


def _nothing() -> None:
    pass


SIGINT_BYTE = int(signal.SIGINT)


def _foreign(data: bytes, signal_byte: int) -> bytes:
    """The bytes of other signals: not our signal, not our own requests.

    A nudge's SIGWINCH byte goes on too: an earlier owner of the wakeup fd (asyncio)
    ignores a signal it has no handler for, and a real resize is one it may have.
    """
    return bytes(b for b in data if b != signal_byte and b not in _trigger.OURS)


class Watcher:
    """One daemon thread that turns wakeup bytes into dumps."""

    def __init__(
        self,
        trigger: SignalTrigger,
        dump: DumpFunction,
        on_start: Callable[[], None] | None = None,
        next_timer: Callable[[], float | None] | None = None,
        on_timer: Callable[[], None] | None = None,
        nudger: Nudger | None = None,
    ) -> None:
        self.trigger = trigger
        self.nudger = nudger  # wakes the main thread after a SIGINT (see nudge.py)
        self.dump = dump
        self.on_start = on_start
        self.next_timer = next_timer  # seconds until a timer is due, or None: none is
        self.on_timer = on_timer
        self._ready = threading.Event()
        self.dumps = 0
        self.errors: deque[str] = deque(maxlen=5)
        self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self.thread.pydev_do_not_trace = True  # type: ignore[attr-defined]  # debuggers skip it
        self.ident: int | None = None
        self.native_id: int | None = None

    def start(self) -> None:
        """Start the thread and wait (2 s at most) until it is ready to read the pipe."""
        self.thread.start()
        self.ident = self.thread.ident
        self._ready.wait(2.0)

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to exit and wait for it; True if it did."""
        if not self.thread.is_alive():
            return True
        self.trigger.stop()
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self.thread.is_alive()

    def _run(self) -> None:
        try:
            self.native_id = threading.get_native_id()
            self.trigger.unblock_here()  # the main thread blocks the signal; we take it
            if self.on_start is not None:
                self.on_start()
        except Exception as exc:
            self.errors.append(f"start: {type(exc).__name__}: {exc}")
        finally:
            self._ready.set()
        signal_byte = int(self.trigger.signum)
        last_end = -MIN_INTERVAL
        while True:
            try:
                data = self.trigger.read(self._due())
                self._nudge(data)
                if data is None:  # a timer is due (live views, the watchdog, a nudge)
                    self._guarded(self.on_timer)
                    continue
                if not data or _trigger.STOP in data:
                    if not data:
                        self.errors.append("the pipe was closed under the watcher")
                    return
                # Other signals' bytes go on to whoever held the wakeup fd before us at
                # once; only our own dumps wait for the interval below.
                self.trigger.forward(_foreign(data, signal_byte))
                asked = signal_byte in data
                if not (asked or _trigger.ASKED in data):
                    continue
                wait = last_end + MIN_INTERVAL - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                    more = self.trigger.read_pending()
                    self._nudge(more)  # a SIGINT that came during the wait asks for nudges too
                    if _trigger.STOP in more:
                        return
                    self.trigger.forward(_foreign(more, signal_byte))
                    asked = asked or signal_byte in more
                self._dump("signal" if asked else "request", ack=asked)
                last_end = time.monotonic()
            except Exception as exc:  # never die of a surprise: record it and go on
                self.errors.append(f"watcher: {type(exc).__name__}: {exc}")
                time.sleep(MIN_INTERVAL)  # and do not spin if it repeats

    def _nudge(self, data: bytes | None) -> None:
        """Nudges that are due go out; a SIGINT's byte asks for more (see nudge.py)."""
        if self.nudger is None:
            return
        now = time.monotonic()
        if data and SIGINT_BYTE in data:
            self.nudger.interrupted(now)
        self.nudger.send_due(now)

    def _due(self) -> float | None:
        """Seconds to wait for the next timer, within [0, MAX_WAIT], whatever it computes."""
        nudge = self.nudger.next_due(time.monotonic()) if self.nudger is not None else None
        try:
            asked = self._guarded(self.next_timer)
            due: float | None = None if asked is None else min(max(0.0, float(asked)), MAX_WAIT)
        except (TypeError, ValueError, OverflowError) as exc:
            self.errors.append(f"timer: {type(exc).__name__}: {exc}")
            due = MAX_WAIT
        if nudge is None:
            return due
        return nudge if due is None else min(due, nudge)

    def _guarded(self, function: Callable[[], Any] | None) -> Any:
        """Call a timer callback; None if there is none or it failed (recorded)."""
        try:
            return function() if function is not None else None
        except Exception as exc:  # keep watching whatever a timer does
            self.errors.append(f"timer: {type(exc).__name__}: {exc}")
            return None

    def _dump(self, reason: str, ack: bool) -> None:
        done = self.trigger.ack if ack else _nothing
        try:
            self.dump(reason, done)
            self.dumps += 1
        except Exception as exc:  # keep watching whatever a sink does
            self.errors.append(f"{type(exc).__name__}: {exc}")
            done()
