"""The watcher thread: blocks on the self-pipe, captures, hands snapshots to a sink.

Rules it lives by (see DESIGN.md, "The watcher's rules"): it is made when the extension
loads; it blocks in ``os.read`` while idle (no polling); it takes no lock that the stuck
code might hold: no logging, no print, no ``sys.stderr``, no import. A failing sink is
recorded in ``errors`` and the watcher carries on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import trigger as _trigger
from .trigger import SignalTrigger

THREAD_NAME = "ipysigtrace-watcher"

# Dumps closer together than this are merged: a storm of requests makes at most one dump
# per interval, whatever the reader of the pipe keeps up with.
MIN_INTERVAL = 0.05

# A dump callback gets the trigger's name ("signal" or "request") and a function to call
# once the dump is out (it may call it later, from another thread, e.g. after a send).
DumpFunction = Callable[[str, Callable[[], None]], None]


def _nothing() -> None:
    pass


class Watcher:
    """One daemon thread that turns wakeup bytes into dumps."""

    def __init__(
        self,
        trigger: SignalTrigger,
        dump: DumpFunction,
        on_start: Callable[[], None] | None = None,
        next_timer: Callable[[], float | None] | None = None,
        on_timer: Callable[[], None] | None = None,
    ) -> None:
        self.trigger = trigger
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
            if self.on_start is not None:
                self.on_start()
        except Exception as exc:
            self.errors.append(f"start: {type(exc).__name__}: {exc}")
        finally:
            self._ready.set()
        signal_byte = int(self.trigger.signum)
        last_end = -MIN_INTERVAL
        while True:
            due = self._guarded(self.next_timer)
            data = self.trigger.read(None if due is None else max(0.0, due))
            if data is None:  # a timer is due (live views, the watchdog)
                self._guarded(self.on_timer)
                continue
            wait = last_end + MIN_INTERVAL - time.monotonic()
            if wait > 0 and data and _trigger.STOP not in data:
                time.sleep(wait)
                data += self.trigger.read_pending()
            if not data or _trigger.STOP in data:
                return
            asked = signal_byte in data
            requested = _trigger.REQUEST in data
            others = bytes(b for b in data if b != signal_byte and b not in _trigger.OURS)
            if others:
                self.trigger.forward(others)
            if asked or requested:
                self._dump("signal" if asked else "request", ack=asked)
                last_end = time.monotonic()

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
