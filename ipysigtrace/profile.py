"""A sampling profile of running cells: stacks counted on the watcher's clock.

Sampling is a freeze (``capture.freeze``'s rules) done often and kept small: on each tick
of the watcher's clock, ``Sampler.sample`` walks ``sys._current_frames()`` and counts each
thread's stack as a tuple of code objects, outermost first. No I/O, no user code, no lock
that a cell can hold: the only lock is the sampler's own, which no cell ever sees. It runs
on the watcher thread, never in a signal handler.

Memory grows with the number of distinct stacks, not with the number of samples: a profile
of an hour of the same loop is as small as one of a minute. Past ``MAX_STACKS`` distinct
stacks, further new stacks are only counted (``dropped``). Stacks deeper than
``MAX_DEPTH`` keep their outermost frames and their innermost one.

``resolve`` turns the counts into a ``Profile`` (plain data with a versioned JSON form):
a table of functions and, per thread, its stacks as indices into that table with counts.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from .capture import FrameClassifier

FORMAT = "ipysigtrace.profile"
VERSION = 1
DEFAULT_RATE = 100.0  # samples per second
LOWEST_RATE, HIGHEST_RATE = 1.0, 1000.0
MAX_STACKS = 20_000  # distinct stacks kept per profile (all threads together)
MAX_DEPTH = 256  # frames kept per stack: the outermost MAX_DEPTH - 1 and the innermost

Stack = tuple[CodeType, ...]


@dataclass(frozen=True)
class ProfileFrame:
    """One function of a profile: its name, file, first line, and the kind of code."""

    function: str
    filename: str
    line: int
    kind: str  # cell, user, library, machinery (capture.FrameClassifier)
    label: str = ""  # `Cell In[3]` for a cell's code

    @property
    def where(self) -> str:
        """'Cell In[3], line 1' or 'file.py:12'."""
        if self.label:
            return f"{self.label}, line {self.line}"
        return f"{self.filename}:{self.line}"


@dataclass(frozen=True)
class ThreadProfile:
    """One thread's stacks (indices into ``Profile.frames``, outermost first) and counts."""

    ident: int
    name: str
    samples: int
    stacks: list[tuple[tuple[int, ...], int]]
    runs_cell: bool = False


@dataclass(frozen=True)
class Profile:
    """A finished (or so far) profile; ``to_dict``/``from_dict`` give its versioned JSON."""

    pid: int
    started: float
    seconds: float
    rate: float  # asked for
    ticks: int  # sampling rounds taken
    ended: str  # why it ended: duration, cell ended, stopped, unloaded, running
    frames: list[ProfileFrame]
    threads: list[ThreadProfile]
    dropped: int = 0
    cell: str = ""  # `Cell In[5]`, the cell it profiled, if known

    @property
    def measured_rate(self) -> float:
        """Sampling rounds per second that were actually taken."""
        return self.ticks / self.seconds if self.seconds > 0 else 0.0

    def cell_thread(self) -> ThreadProfile | None:
        """The thread that ran the cell, else the busiest one."""
        for thread in self.threads:
            if thread.runs_cell:
                return thread
        return max(self.threads, key=lambda t: t.samples, default=None)

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON form."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "pid": self.pid,
            "started": self.started,
            "seconds": self.seconds,
            "rate": self.rate,
            "ticks": self.ticks,
            "ended": self.ended,
            "dropped": self.dropped,
            "cell": self.cell,
            "frames": [
                {
                    "function": f.function,
                    "filename": f.filename,
                    "line": f.line,
                    "kind": f.kind,
                    "label": f.label,
                }
                for f in self.frames
            ],
            "threads": [
                {
                    "ident": t.ident,
                    "name": t.name,
                    "samples": t.samples,
                    "runs_cell": t.runs_cell,
                    "stacks": [{"frames": list(s), "count": c} for s, c in t.stacks],
                }
                for t in self.threads
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Profile:
        """Read the JSON form; ValueError with one line on anything else."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an ipysigtrace profile")
        if data.get("version") != VERSION:
            raise ValueError(f"unsupported profile version {data.get('version')!r}")
        try:
            frames = [
                ProfileFrame(
                    str(f["function"]),
                    str(f["filename"]),
                    int(f["line"]),
                    str(f["kind"]),
                    str(f.get("label", "")),
                )
                for f in data["frames"]
            ]
            threads = []
            for t in data["threads"]:
                stacks = []
                for s in t["stacks"]:
                    indices = tuple(int(i) for i in s["frames"])
                    if any(not 0 <= i < len(frames) for i in indices):
                        raise ValueError("a stack names a frame that is not in the table")
                    stacks.append((indices, int(s["count"])))
                threads.append(
                    ThreadProfile(
                        int(t["ident"]),
                        str(t["name"]),
                        int(t["samples"]),
                        stacks,
                        bool(t.get("runs_cell", False)),
                    )
                )
            return cls(
                pid=int(data["pid"]),
                started=float(data["started"]),
                seconds=float(data["seconds"]),
                rate=float(data["rate"]),
                ticks=int(data["ticks"]),
                ended=str(data["ended"]),
                frames=frames,
                threads=threads,
                dropped=int(data.get("dropped", 0)),
                cell=str(data.get("cell", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a malformed profile: {exc}") from None


@dataclass(frozen=True)
class FunctionTime:
    """A row of the top-functions table: samples with it innermost (own) or anywhere."""

    frame: ProfileFrame
    own: int
    total: int


def own_stacks(
    profile: Profile, thread: ThreadProfile, show_machinery: bool = False
) -> list[tuple[tuple[int, ...], int]]:
    """A thread's stacks without the kernel's frames beneath its code: on the cell's thread
    everything beneath the first cell frame, elsewhere the leading machinery frames."""
    if show_machinery:
        return list(thread.stacks)
    frames = profile.frames
    out = []
    for stack, count in thread.stacks:
        first = None
        if thread.runs_cell:
            first = next((k for k, i in enumerate(stack) if frames[i].kind == "cell"), None)
        if first is None:
            kept = (k for k, i in enumerate(stack) if frames[i].kind != "machinery")
            first = next(kept, len(stack))
        out.append((stack[first:], count))
    return out


def top_functions(
    profile: Profile, stacks: list[tuple[tuple[int, ...], int]], show_machinery: bool = False
) -> list[FunctionTime]:
    """Functions by own time, then total time (recursion counted once), from ``stacks``."""
    own: dict[int, int] = {}
    total: dict[int, int] = {}
    for stack, count in stacks:
        if stack:
            own[stack[-1]] = own.get(stack[-1], 0) + count
        for index in set(stack):
            total[index] = total.get(index, 0) + count
    rows = [
        FunctionTime(profile.frames[i], own.get(i, 0), n)
        for i, n in total.items()
        if show_machinery or profile.frames[i].kind != "machinery"
    ]
    rows.sort(key=lambda r: (-r.own, -r.total, r.frame.function))
    return rows


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
        self.next_sample = self.started
        self.cell_thread = cell_thread
        self.skip = frozenset(skip_idents)
        self.parent = parent  # the execute request of the cell it profiles, for its display
        self.cell = cell
        self.origin = origin  # who started it: magic or request
        self.ticks = 0
        self.dropped = 0
        self.distinct = 0
        self.ended = ""  # set once, by finish
        self.ended_at = 0.0
        self._counts: dict[int, _Counts] = {}
        self._names: dict[int, str] = {}
        self._lock = threading.Lock()
        self._random = random.Random().random  # a generator of its own: no shared state

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
            for ident, frame in frames.items():
                if ident in self.skip:
                    continue
                codes = []
                while frame is not None:
                    codes.append(frame.f_code)
                    frame = frame.f_back
                if len(codes) > MAX_DEPTH:
                    codes = [codes[0], *codes[-(MAX_DEPTH - 1) :]]
                codes.reverse()
                self._count(ident, tuple(codes))
            del frames, frame
            self.ticks += 1
            if len(self._names) != len(self._counts):
                self._learn_names()

    def _count(self, ident: int, stack: Stack) -> None:
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
        else:
            self.dropped += 1

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
            ticks, dropped = self.ticks, self.dropped
            end = self.ended_at if self.ended else time.time()
        table: dict[CodeType, int] = {}
        frames: list[ProfileFrame] = []
        threads = []
        for ident, (samples, stacks) in counts.items():
            rows = []
            for stack, count in stacks.items():
                indices = []
                for code in stack:
                    index = table.get(code)
                    if index is None:
                        index = table[code] = len(frames)
                        frames.append(_frame(code, classifier))
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
