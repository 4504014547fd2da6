"""What the watcher does on a clock, and only while a cell runs: live views and the watchdog.

A live view is a widget in the notebook (``%stackdump --live``, ``ipysigtrace.widget``)
that the watcher updates every few seconds while a cell runs, and at once after every
dump. Each update says how long the cell has been running and for how long the thread
that runs it has been at the same place, which answers "is it stuck?".

The watchdog (``%stackdump --after 10m``) dumps under any cell that has run longer than
the limit, then again after twice as long, four times as long, and so on, so an overnight
run leaves a few dumps, not thousands.

With no cell running nothing is due, and the watcher blocks without waking at all.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .snapshot import StackSnapshot

DEFAULT_INTERVAL = 2.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$", re.I)
_UNIT = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """'10m', '30s', '1.5h', '250ms' or a number of seconds -> seconds (> 0)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m or 2h")
    unit = match.group(2).lower() if match.group(2) else None
    return float(match.group(1)) * _UNIT[unit]


def say_duration(seconds: float) -> str:
    """'3 min 12 s', '45 s', '2 h 5 min'."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass
class Stillness:
    """How long the thread that runs the cell has been at the same place."""

    place: tuple[tuple[str, int, str], ...] = ()
    since: float = 0.0

    def update(self, snapshot: StackSnapshot) -> float:
        """Feed a snapshot; returns seconds spent at the current place."""
        thread = snapshot.thread(snapshot.cell_thread) if snapshot.cell_thread else None
        frames = thread.visible_frames() if thread else []
        place = tuple((f.filename, f.lineno, f.function) for f in frames)
        if place != self.place:
            self.place, self.since = place, snapshot.time
        return snapshot.time - self.since


@dataclass
class Clock:
    """Due times of the live views and the watchdog, given when the cell started."""

    live_interval: float | None = None
    watchdog_after: float | None = None
    live_last: float = 0.0
    watchdog_next: float | None = None
    _cell_started: float | None = field(default=None, repr=False)

    def cell_started(self, started: float | None) -> None:
        """A cell started (its start time) or ended (None)."""
        self._cell_started = started
        self.watchdog_next = (
            started + self.watchdog_after
            if started is not None and self.watchdog_after is not None
            else None
        )

    def next_due(self, now: float) -> float | None:
        """Seconds until something is due; None if nothing is (no cell runs)."""
        if self._cell_started is None:
            return None
        due = []
        if self.live_interval is not None:
            due.append(self.live_last + self.live_interval)
        if self.watchdog_next is not None:
            due.append(self.watchdog_next)
        return min(due) - now if due else None

    def fire(self, now: float, refresh: Callable[[], None], watchdog: Callable[[], None]) -> None:
        """Run what is due."""
        if self._cell_started is None:
            return
        if self.watchdog_next is not None and now >= self.watchdog_next:
            ran = now - self._cell_started
            self.watchdog_next = now + max(ran, self.watchdog_after or ran)
            watchdog()
        if self.live_interval is not None and now >= self.live_last + self.live_interval:
            self.live_last = now
            refresh()


def live_header(snapshot: StackSnapshot, cell_started: float | None, still: float) -> str:
    """'Live · cell running for 3 min 12 s · at the same place for 2 min 40 s · 12:00:01'."""
    clock = time.strftime("%H:%M:%S", time.localtime(snapshot.time))
    if cell_started is None:
        return f"Live stacks · no cell running · snapshot at {clock}"
    running = say_duration(snapshot.time - cell_started)
    place = f"at the same place for {say_duration(still)}" if still >= 1 else "moving"
    return f"Live stacks · cell running for {running} · {place} · snapshot at {clock}"
