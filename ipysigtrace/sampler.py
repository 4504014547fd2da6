"""A sampling profile of running cells: stacks counted on the watcher's clock.

Sampling is a freeze (``capture.freeze``'s rules) done often and kept small: on each tick
of the watcher's clock, ``Sampler.sample`` walks ``sys._current_frames()`` and counts each
thread's stack as a tuple of code objects (by id), outermost first. No I/O, no user code, no lock
that a cell can hold: the only lock is the sampler's own, which no cell ever sees. It runs
on the watcher thread, never in a signal handler.

Memory grows with the number of distinct stacks, not with the number of samples: a profile
of an hour of the same loop is as small as one of a minute. Past ``MAX_STACKS`` distinct
stacks, further new stacks are only counted (``dropped``). Stacks deeper than
``MAX_DEPTH`` keep their outermost frames and their innermost one.

``Sampler.resolve`` turns the counts into a ``profile.Profile``.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

from .classify import FrameClassifier
from .profile import Profile, ProfileFrame, ThreadProfile

DEFAULT_RATE = 100.0  # samples per second
LOWEST_RATE, HIGHEST_RATE = 1.0, 1000.0
MAX_STACKS = 20_000  # distinct stacks kept per profile (all threads together)
MAX_DEPTH = 256  # frames kept per stack: the outermost MAX_DEPTH - 1 and the innermost

Stack = tuple[int, ...]  # ids of code objects (``Sampler._codes``), outermost first


@dataclass
class _Counts:
    """One thread's counts while sampling."""

    samples: int = 0
    stacks: dict[Stack, int] = field(default_factory=dict)


class Sampler:
    """Counts stacks at ``rate`` per second until it is finished.

    ``sample`` runs on the watcher thread; ``finish`` on any thread (the main thread at a
    cell's end, the control thread, the watcher at the deadline). They meet on a lock of
    the sampler's own, held only while counting one sample (no I/O, no user code).
    """

    def __init__(
        self,
        seconds: float,
        rate: float = DEFAULT_RATE,
        cell_thread: int | None = None,
        skip_idents: Iterable[int] = (),
        parent: dict[str, Any] | None = None,
        cell: str = "",
        origin: str = "request",
    ) -> None:
        self.rate = min(max(float(rate), LOWEST_RATE), HIGHEST_RATE)
        self.interval = 1.0 / self.rate
        self.started = time.time()
        self.deadline = self.started + seconds
        self._random = random.Random().random  # a generator of its own: no shared state
        # The first sample comes after a random part of an interval, not at once: a cell
        # that ends sooner has no profile to show.
        self.next_sample = self.started + self.interval * self._random()
        self.cell_thread = cell_thread
        self.skip = frozenset(skip_idents)
        self.parent = parent  # the execute request of the cell it profiles, for its display
        self.cell = cell
        self.origin = origin  # who started it: magic, request, or panel (shown when done)
        self.ticks = 0
        self.dropped = 0
        self.distinct = 0
        self.ended = ""  # set once, by finish
        self.ended_at = 0.0
        self._counts: dict[int, _Counts] = {}
        self._names: dict[int, str] = {}
        self._codes: dict[int, CodeType] = {}  # every code object in a counted stack, by id
        # Each thread's last stack as walked (innermost first) and as counted.
        self._last: dict[int, tuple[list[int], Stack]] = {}
        self._lock = threading.Lock()

    @property
    def finished(self) -> bool:
        """Whether it has stopped counting."""
        return bool(self.ended)

    def due_in(self, now: float) -> float | None:
        """Seconds until the next sample or the deadline; None once finished."""
        if self.ended:
            return None
        return min(self.next_sample, self.deadline) - now

    def tick(self, now: float) -> bool:
        """Watcher thread: sample if due; finish at the deadline. True when it just ended."""
        if self.ended:
            return False
        if now >= self.deadline:
            return self.finish("duration")
        if now >= self.next_sample:
            self.sample()
            # Intervals drawn from [0.5, 1.5) x the mean: a fixed one locks onto a loop whose
            # period is a multiple of it (a 10 ms loop at 100 Hz is always seen at one place).
            # A tick late by the GIL's hand-over is made up by the next; one later than an
            # interval is not (no burst after a stall).
            self.next_sample += self.interval * (0.5 + self._random())
            if self.next_sample < now - self.interval:
                self.next_sample = now
        return False

    def sample(self) -> None:
        """Count every thread's stack now (but the skipped ones). Safe on the watcher."""
        with self._lock:
            if self.ended:
                return
            frames = sys._current_frames()
            last = self._last
            for ident, frame in frames.items():
                if ident in self.skip:
                    continue
                codes = []
                current: FrameType | None = frame
                while current is not None:
                    codes.append(current.f_code)
                    current = current.f_back
                ids = list(map(id, codes))
                # A thread that waits has the stack it had last time: no new key to hash.
                previous = last.get(ident)
                if previous is not None and previous[0] == ids:
                    self._count(ident, previous[1], codes)
                elif self._count(ident, key := _key(ids), codes):
                    last[ident] = (ids, key)
            del frames, frame, current
            self.ticks += 1
            if len(self._names) != len(self._counts):
                self._learn_names()

    def _count(self, ident: int, stack: Stack, codes: list[CodeType]) -> bool:
        """Count one sample of ``stack`` (``codes``: its code objects as walked, whose ids
        it holds); False if dropped."""
        counts = self._counts.get(ident)
        if counts is None:
            counts = self._counts[ident] = _Counts()
        counts.samples += 1
        known = counts.stacks.get(stack)
        if known is not None:
            counts.stacks[stack] = known + 1
        elif self.distinct < MAX_STACKS:
            counts.stacks[stack] = 1
            self.distinct += 1
            self._keep_codes(codes)
        else:
            self.dropped += 1
            return False
        return True

    def _keep_codes(self, codes: list[CodeType]) -> None:
        # Stacks are keyed by the ids of their code objects (a tuple of ints hashes several
        # times faster than one of code objects, whose hash reads their contents). The codes
        # are kept alive here, so an id in a key never comes to name another code object.
        # They are the ones the walk saw: walking the frames again could find a shorter
        # chain (a generator that yielded meanwhile has no caller any more).
        kept = self._codes
        for code in codes:
            kept.setdefault(id(code), code)

    def _learn_names(self) -> None:
        # A copy of the registry, as freeze does: threading.enumerate() takes a lock.
        active = dict(threading._active)  # type: ignore[attr-defined]
        for ident in self._counts:
            if ident not in self._names:
                thread = active.get(ident)
                self._names[ident] = str(getattr(thread, "_name", f"Thread-{ident}"))

    def finish(self, why: str) -> bool:
        """Stop counting (any thread); True if this call ended it."""
        with self._lock:
            if self.ended:
                return False
            self.ended = why
            self.ended_at = time.time()
            return True

    def resolve(self, classifier: FrameClassifier, pid: int) -> Profile:
        """The profile so far (or final) as plain data; any thread."""
        with self._lock:
            counts = {i: (c.samples, dict(c.stacks)) for i, c in self._counts.items()}
            names = dict(self._names)
            codes = dict(self._codes)
            ticks, dropped = self.ticks, self.dropped
            end = self.ended_at if self.ended else time.time()
        table: dict[int, int] = {}
        frames: list[ProfileFrame] = []
        threads = []
        for ident, (samples, stacks) in counts.items():
            rows = []
            for stack, count in stacks.items():
                indices = []
                for code_id in stack:
                    index = table.get(code_id)
                    if index is None:
                        index = table[code_id] = len(frames)
                        frames.append(_frame(codes[code_id], classifier))
                    indices.append(index)
                rows.append((tuple(indices), count))
            rows.sort(key=lambda r: -r[1])
            threads.append(
                ThreadProfile(
                    ident,
                    names.get(ident, f"Thread-{ident}"),
                    samples,
                    rows,
                    ident == self.cell_thread,
                )
            )
        threads.sort(key=lambda t: (not t.runs_cell, -t.samples, t.name))
        cell = self.cell or _cell_label(frames, threads)
        return Profile(
            pid=pid,
            started=self.started,
            seconds=max(0.0, end - self.started),
            rate=self.rate,
            ticks=ticks,
            ended=self.ended or "running",
            frames=frames,
            threads=threads,
            dropped=dropped,
            cell=cell,
        )


def _key(ids: list[int]) -> Stack:
    """A walked stack (innermost first) as counted: outermost first, at most MAX_DEPTH."""
    if len(ids) > MAX_DEPTH:
        ids = [ids[0], *ids[-(MAX_DEPTH - 1) :]]
    return tuple(reversed(ids))


def _cell_label(frames: list[ProfileFrame], threads: list[ThreadProfile]) -> str:
    """The label of the outermost cell frame on the cell's thread (`Cell In[5]`), or ''."""
    for thread in threads:
        if thread.runs_cell:
            for stack, _ in thread.stacks:
                for index in stack:
                    if frames[index].kind == "cell":
                        return frames[index].label
    return ""


def _frame(code: CodeType, classifier: FrameClassifier) -> ProfileFrame:
    filename = code.co_filename
    label = classifier.label(filename)
    kind = "cell" if label else classifier.kind(filename, code.co_name)
    function = getattr(code, "co_qualname", code.co_name)
    return ProfileFrame(function, filename, code.co_firstlineno, kind, label)
