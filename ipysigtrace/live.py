"""What the watcher does on a clock, and only while a cell runs: live views and the watchdog.

A live view is a widget in the notebook (``%stackdump --live``, ``ipysigtrace.widget``)
that the watcher updates every few seconds while a cell runs, and at once after every
dump. Each update says how long the cell has been running and whether the thread that
runs it is moving or has been at the same place with the same locals, and for how long
(``verdict.py``), which answers "is it stuck?".

The watchdog (``%stackdump --after 10m``) dumps under any cell that has run longer than
the limit, then again after twice as long, four times as long, and so on, so an overnight
run leaves a few dumps, not thousands.

With no cell running nothing is due, and the watcher blocks without waking at all.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .render import ViewOptions, bundle, payload
from .snapshot import StackSnapshot
from .verdict import cell_verdict, say_duration

DEFAULT_INTERVAL = 2.0
# Bounds of what a user may ask for. Longer than a week is a typo (and a timer that far
# off overflows what the watcher can wait for); a live view updated more often than twice a
# second sends more than anyone can read, and a watchdog limit under a second dumps under
# every cell.
LONGEST = 7 * 24 * 3600.0
SHORTEST_LIVE_INTERVAL = 0.5
SHORTEST_WATCHDOG = 1.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$", re.I)
_UNIT = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """'10m', '30s', '1.5h', '250ms', '2d' or a number of seconds -> seconds, > 0 and at most
    LONGEST; ValueError with a message for the user otherwise."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m or 2h")
    unit = match.group(2).lower() if match.group(2) else None
    seconds = float(match.group(1)) * _UNIT[unit]
    if seconds > LONGEST:
        raise ValueError(f"{text.strip()} is too long: durations go up to a week (168 h)")
    return seconds


@dataclass
class Clock:
    """Due times of the live views and the watchdog, given when the cell started."""

    live_interval: float | None = None
    watchdog_after: float | None = None
    live_last: float = 0.0
    watchdog_next: float | None = None
    # Live views were refreshed while a cell ran (they say it runs; set by whoever refreshes
    # them). When that cell ends, one more refresh is due (``ended``), so they stop saying so.
    showing_cell: bool = False
    ended: bool = False
    _cell_started: float | None = field(default=None, repr=False)

    def cell_started(self, started: float | None) -> None:
        """A cell started (its start time) or ended (None)."""
        self.ended = started is None and self._cell_started is not None and self.showing_cell
        self._cell_started = started
        self.watchdog_next = (
            started + self.watchdog_after
            if started is not None and self.watchdog_after is not None
            else None
        )

    def next_due(self, now: float) -> float | None:
        """Seconds until something is due; None if nothing is (no cell runs)."""
        if self._cell_started is None:
            return 0.0 if self.ended and self.live_interval is not None else None
        due = []
        if self.live_interval is not None:
            due.append(self.live_last + self.live_interval)
        if self.watchdog_next is not None:
            due.append(self.watchdog_next)
        return min(due) - now if due else None

    def fire(self, now: float, refresh: Callable[[], None], watchdog: Callable[[], None]) -> None:
        """Run what is due."""
        if self._cell_started is None:
            if self.ended:
                self.ended = False
                if self.live_interval is not None:
                    refresh()
            return
        if self.watchdog_next is not None and now >= self.watchdog_next:
            ran = now - self._cell_started
            self.watchdog_next = now + max(ran, self.watchdog_after or ran)
            watchdog()
        if self.live_interval is not None and now >= self.live_last + self.live_interval:
            self.live_last = now
            refresh()


class LiveViews:
    """The live views the watcher keeps up to date, and the clock that says when.

    The main thread adds and removes views; the watcher refreshes them. The list is
    replaced, never changed in place, so the watcher can read it without a lock.
    """

    def __init__(
        self,
        options: ViewOptions,
        wake: Callable[[], None],
        error: Callable[[str], None],
        take: Callable[[], StackSnapshot],
    ) -> None:
        self.options = options
        self.clock = Clock()
        self.views: list[Any] = []  # LiveStacks widgets (``ipysigtrace.widget``)
        self._wake, self._error, self._take = wake, error, take

    def add(self, view: Any, interval: float) -> None:
        """Keep a live view updated (``%stackdump --live``); it needs ``show(output)``."""
        self.views = [*self.views, view]
        self.clock.live_last = time.time()  # it shows a fresh snapshot: the next is due later
        self._interval()
        self._wake()

    def remove(self, view: Any) -> None:
        """Stop updating one live view (closed, or its Stop button)."""
        self.views = [v for v in self.views if v is not view]
        self._interval()

    def stop_all(self) -> int:
        """Stop every live view; returns how many there were."""
        views, self.views = self.views, []
        for view in views:
            with contextlib.suppress(Exception):
                view.stop()
        self._interval()
        return len(views)

    def _interval(self) -> None:
        intervals = [view.interval for view in self.views]
        self.clock.live_interval = min(intervals) if intervals else None

    def bundle(self, snapshot: StackSnapshot) -> dict[str, Any]:
        """A live view's first display: the bundle of a dump, with the live header."""
        return bundle(snapshot, self.options, live_header(snapshot))

    def refresh(self, snapshot: StackSnapshot | None = None) -> None:
        """Watcher thread: update every live view (with a new snapshot if none is given)."""
        views = list(self.views)
        if not views:
            return
        snapshot = snapshot or self._take()
        output = payload(snapshot, live_header(snapshot), self.options)
        self.clock.showing_cell = snapshot.cell_started is not None
        for view in views:
            try:
                view.show(output)
            except Exception as exc:  # this view stops; the others still get it
                self.remove(view)
                self._error(f"live view: {type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    view.stop()


def live_header(snapshot: StackSnapshot) -> str:
    """'Live stacks · cell running for 3 min 12 s · same place, same locals, for 2 min 40 s ·
    snapshot at 12:00:01', from the snapshot's own verdict (``verdict.py``)."""
    clock = time.strftime("%H:%M:%S", time.localtime(snapshot.time))
    verdict = cell_verdict(snapshot) or "no cell running"
    return f"Live stacks · {verdict} · snapshot at {clock}"


__all__ = ["Clock", "LiveViews", "live_header", "parse_duration", "say_duration"]
