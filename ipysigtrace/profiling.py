"""Who profiles what, and when it stops: one sampler at a time, on the watcher's clock.

Two ways in. ``%stackdump --profile 30s`` opens a window: every cell that starts within it
is sampled (not the magic's own cell), and shows its profile when it ends, or when the
window closes while it runs. A control request (``ipysigtrace profile KERNEL``, the panel's
"Profile 10 s") profiles the cell that runs now; the asker fetches the result by its id,
and the panel's (``show``) is also shown under the cell when it ends. Either way a profile stops
at its duration, at the end of its cell, when asked to, and on unload.

The watcher calls ``next_due`` and ``fire``; the main thread ``cell_started`` and
``cell_ended``; the control thread ``start`` and ``result``. The active sampler is
replaced whole, and whoever ends it (``Sampler.finish`` says who did) handles its result.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .classify import FrameClassifier
from .profile import Profile
from .sampler import DEFAULT_RATE, HIGHEST_RATE, LOWEST_RATE, Sampler

KEPT_RESULTS = 4  # finished profiles a requester can still fetch
LONGEST_PROFILE = 24 * 3600.0
GROW_EVERY = 2.0  # seconds between the views of a profile that grows under its cell
GROW_COST = 100  # and at least this many times what showing the last view took

# Shows a profile under the cell it profiled (the parent header of its request): (profile,
# parent header, view options, display id, whether it replaces the view of that id).
Show = Callable[[Profile, Any, Any, str, bool], None]


@dataclass(frozen=True)
class Window:
    """``%stackdump --profile``: cells that start before ``until`` are profiled."""

    until: float
    rate: float
    view: Any  # render.ViewOptions for the display


def check_request(seconds: Any, rate: Any) -> str:
    """Why a requested duration or rate is refused, or ''."""
    for name, value, low, high in (
        ("seconds", seconds, 0.01, LONGEST_PROFILE),
        ("rate", rate, LOWEST_RATE, HIGHEST_RATE),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name} must be a number"
        if not low <= value <= high:  # also refuses nan
            return f"{name} must be between {low:g} and {high:g}"
    return ""


class Profiling:
    """The profile that runs (at most one), the magic's window, and finished results."""

    def __init__(
        self,
        classifier: FrameClassifier,
        skip: Callable[[], Iterable[int]],
        show: Show,
        wake: Callable[[], None],
        grows: bool = False,
    ) -> None:
        self.classifier = classifier
        self.skip = skip  # threads never sampled (the watcher)
        self.show = show
        self.wake = wake
        # A shown profile (the magic's, the panel's) is shown from its first GROW_EVERY on
        # and replaced as it grows (a front end that runs the display protocol: a kernel).
        self.grows = grows
        self._grow_next = 0.0  # when the profile that grows is next shown
        self._grown = ""  # the id of the profile whose view is under its cell now
        # The watcher shows a profile that grows, the thread that ends it shows the end:
        # one at a time, so that the end is the last view to leave (no lock the cell takes).
        self._showing = threading.Lock()
        self.active: Sampler | None = None
        self.active_id = ""
        self.window: Window | None = None
        self.results: OrderedDict[str, Profile] = OrderedDict()
        self._ids = itertools.count(1)

    # -- the magic's window (main thread) ------------------------------------------------

    def open_window(self, seconds: float, rate: float, view: Any) -> None:
        """Profile the cells that start in the next ``seconds``."""
        self.window = Window(time.time() + seconds, rate, view)
        self._end_magic("stopped")  # this cell itself is not profiled

    def close_window(self) -> bool:
        """``--profile off``; False if no window was open."""
        was = self.window is not None and self.window.until > time.time()
        self.window = None
        self._end_magic("stopped")
        return was

    def _end_magic(self, why: str) -> None:
        sampler, profile_id = self.active, self.active_id
        if sampler is not None and sampler.origin == "magic" and sampler.finish(why):
            self.active = None
            # A view of it that grew says it still samples: its end goes there.
            profile = sampler.resolve(self.classifier, os.getpid())
            self._show(sampler, profile_id, profile, if_grown=True)

    def cell_started(self, thread: int, parent: Any) -> None:
        """Main thread, at pre_run_cell: sample it if a window is open."""
        window = self.window
        if window is None:
            return
        left = window.until - time.time()
        if left <= 0:
            self.window = None
            return
        if self.active is None or self.active.finished:
            self.active = Sampler(left, window.rate, thread, self.skip(), parent, origin="magic")
            self.active_id = self._new_id()
            self.wake()

    def cell_ended(self) -> None:
        """Main thread, at post_run_cell: the running profile stops; a magic's is shown."""
        sampler = self.active
        if sampler is not None and sampler.finish("cell ended"):
            self._finished(sampler, self.active_id)

    # -- control requests (control thread) ------------------------------------------------

    def start(
        self, seconds: float, rate: float, thread: int, parent: Any, show: bool = False
    ) -> tuple[str, str]:
        """Profile the running cell: (id, '') or ('', why not). ``show``: when it ends, its
        view goes under the cell too (the panel's "Profile 10 s"); it is kept either way."""
        sampler = self.active
        if sampler is not None and not sampler.finished:
            left = max(0.0, sampler.deadline - time.time())
            by = "%stackdump --profile" if sampler.origin == "magic" else "another request"
            return "", f"a profile started by {by} is running ({left:.0f} s left)"
        origin = "panel" if show else "request"
        sampler = Sampler(seconds, rate, thread, self.skip(), parent, origin=origin)
        profile_id = self._new_id()
        self.active, self.active_id = sampler, profile_id
        self.wake()
        return profile_id, ""

    def request(self, content: dict[str, Any], cell: tuple[int, Any] | None) -> dict[str, Any]:
        """A ``profile`` request's reply: profile ``cell`` (its thread and parent header, or
        None when no cell runs) for ``seconds`` at ``rate``."""
        seconds, rate = content.get("seconds", 10.0), content.get("rate", DEFAULT_RATE)
        refused = check_request(seconds, rate)
        if not refused and cell is None:
            refused = "no cell is running; a profile samples the running cell"
        if refused or cell is None:
            return {"status": "error", "message": refused}
        show = content.get("show") is True
        profile_id, refused = self.start(seconds, rate, cell[0], cell[1], show)
        if refused:
            return {"status": "error", "message": refused}
        return {"profile_id": profile_id, "seconds": seconds, "rate": rate}

    def answer(self, content: dict[str, Any]) -> dict[str, Any]:
        """A ``profile_result`` request's reply: the profile of its id (``stop``: end it)."""
        profile_id = content.get("profile_id")
        if not isinstance(profile_id, str):
            return {"status": "error", "message": "profile_id must be a string"}
        return self.result(profile_id, content.get("stop") is True)

    def result(self, profile_id: str, stop: bool = False) -> dict[str, Any]:
        """A reply's content: the profile, or that it still runs, or that it is unknown."""
        sampler = self.active
        if sampler is not None and profile_id == self.active_id:
            if stop and sampler.finish("stopped"):
                self._finished(sampler, profile_id)
            elif not sampler.finished:
                left = max(0.0, sampler.deadline - time.time())
                return {"state": "running", "seconds_left": left}
        profile = self.results.get(profile_id)
        if profile is None:
            return {
                "status": "error",
                "message": f"no profile {profile_id!r} here (the last {KEPT_RESULTS} are kept)",
            }
        return {"state": "done", "profile": profile.to_dict()}

    def describe(self) -> str:
        """A line for ``%stackdump --status``, or '' when nothing is profiled."""
        sampler, window, now = self.active, self.window, time.time()
        if sampler is not None and not sampler.finished:
            left = max(0.0, sampler.deadline - now)
            return (
                f"profile {self.active_id} ({sampler.origin}): running, {sampler.ticks:,} "
                f"sample{'' if sampler.ticks == 1 else 's'} at {sampler.rate:g} Hz, "
                f"{left:.0f} s left"
            )
        if window is not None and window.until > now:
            return f"profile window open: cells that start in the next {window.until - now:.0f} s"
        return ""

    # -- the watcher's clock ----------------------------------------------------------------

    def next_due(self, now: float) -> float | None:
        """Seconds until the active profile samples or ends; None if none runs."""
        sampler = self.active
        return sampler.due_in(now) if sampler is not None else None

    def fire(self, now: float) -> None:
        """Watcher thread: take a sample, or end the profile at its duration; show a
        profile that grows."""
        sampler, profile_id = self.active, self.active_id
        if sampler is None:
            return
        if sampler.tick(now):
            self._finished(sampler, profile_id)
            return
        due = max(self._grow_next, sampler.started + GROW_EVERY)
        if self.grows and sampler.origin != "request" and sampler.ticks and now >= due:
            began = time.perf_counter()
            self._show(sampler, profile_id)
            # A large profile takes longer to show: at most 1% of the time goes to its views.
            self._grow_next = now + max(GROW_EVERY, GROW_COST * (time.perf_counter() - began))

    def _show(
        self,
        sampler: Sampler,
        profile_id: str,
        final: Profile | None = None,
        if_grown: bool = False,
    ) -> None:
        """The profile so far, or ``final``, under its cell, replacing the earlier view;
        ``if_grown``: only where a view of it grew (read under the lock, so a view that the
        watcher is sending meanwhile counts)."""
        with self._showing:
            if final is None and sampler.finished:
                return  # it ended meanwhile: its end shows itself
            if if_grown and self._grown != profile_id:
                return
            profile = final or sampler.resolve(self.classifier, os.getpid())
            if not profile.ticks:
                return
            view = getattr(self.window, "view", None) if sampler.origin == "magic" else None
            update = self._grown == profile_id
            # Said before the view goes out: whoever ends the profile next must replace it.
            self._grown = profile_id
            self.show(profile, sampler.parent, view, f"ipysigtrace-profile-{profile_id}", update)

    def stop(self, why: str = "unloaded") -> None:
        """Unload: the active profile ends (its result is kept; shown only where a view of
        it grew, which would otherwise say for ever that it is still sampling), no window."""
        sampler, profile_id = self.active, self.active_id
        if sampler is not None and sampler.finish(why):
            profile = sampler.resolve(self.classifier, os.getpid())
            self._keep(profile_id, profile)
            self._show(sampler, profile_id, profile, if_grown=True)
        self.window = None
        self.active = None

    def _finished(self, sampler: Sampler, profile_id: str) -> None:
        profile = sampler.resolve(self.classifier, os.getpid())
        if self.active is sampler:
            self.active = None
        if sampler.origin != "magic":
            self._keep(profile_id, profile)
        if sampler.origin != "request":
            self._show(sampler, profile_id, profile)
        if sampler.origin == "magic" and sampler.ended == "duration":
            self.window = None

    def _keep(self, profile_id: str, profile: Profile) -> None:
        self.results[profile_id] = profile
        while len(self.results) > KEPT_RESULTS:
            self.results.popitem(last=False)

    def _new_id(self) -> str:
        return f"{os.getpid()}-{next(self._ids)}"


__all__ = ["DEFAULT_RATE", "Profiling", "check_request"]
