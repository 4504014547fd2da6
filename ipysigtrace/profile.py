"""A sampling profile as plain data: functions, and each thread's stacks with counts.

``Profile`` has a versioned JSON form (``to_dict``/``from_dict``): a table of functions
and, per thread, its stacks as indices into that table (outermost first) with how many
samples saw each. ``sampler.Sampler`` makes one; the views are in ``render.profile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FORMAT = "ipysigtrace.profile"
VERSION = 1


@dataclass(frozen=True)
class ProfileFrame:
    """One function of a profile: its name, file, first line, and the kind of code."""

    function: str
    filename: str
    line: int
    kind: str  # cell, user, library, machinery (classify.FrameClassifier)
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
