"""Is it stuck? Each thread compared with the previous snapshot the kernel took.

A thread is *moving* when its visible stack, the line of one of its frames or one of the
safe locals of its cell and user frames (the texts ``values.py`` made without running user
code) changed since the previous snapshot; it is *still* when all of that is the same,
since the first snapshot where it was so. With no earlier snapshot of a thread there is no
verdict yet: *first*. A spinning loop whose counter rises is moving even when two
snapshots catch it on the same line; a thread in ``time.sleep(600)`` is still.

One ``Memory`` per kernel: every snapshot (signal, control request, magic, live view,
watchdog) is judged by it, so "the previous snapshot" is the previous one the kernel took.
The threads of the kernel's worker processes that answered are judged too, each by its
process and ident (a forked worker's main thread has the ident of the thread that forked).
It compares strings and numbers only (no user ``__eq__`` or ``__hash__`` runs), holds no
frame and no user object, and forgets threads that ended.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from .snapshot import FrameRecord, StackSnapshot, TaskStack, ThreadStack

# One frame as compared: where it is, and its safe locals (None: not captured).
Place = tuple[str, int, str]
Locals = tuple[tuple[str, str, str], ...] | None
Signature = tuple[tuple[Place, Locals], ...]

# The most local names a "locals changed" text lists.
_NAMES_SHOWN = 3


def signature(thread: ThreadStack) -> Signature:
    """What must stay the same for a thread to be still: its visible frames and locals."""
    return tuple((_place(f), _locals(f)) for f in thread.visible_frames())


def _place(frame: FrameRecord) -> Place:
    return (frame.filename, frame.lineno, frame.function)


def _locals(frame: FrameRecord) -> Locals:
    if frame.locals is None:
        return None
    return tuple((v["name"], v["type"], v["value"]) for v in frame.locals)


def what_changed(before: Signature, after: Signature) -> str:
    """'line 12 → 14 in spin', 'locals i, total in spin', 'stack changed: now in g at line 3'."""
    for (place_a, _), (place_b, _) in zip(before, after, strict=False):
        if place_a[0] != place_b[0] or place_a[2] != place_b[2]:
            break  # another function from here on: the stack changed
        if place_a[1] != place_b[1]:
            return f"line {place_a[1]} → {place_b[1]} in {_short(place_b[2])}"
    else:
        if len(before) == len(after):
            return _locals_text(before, after)
    if not after:
        return "no Python frames now"
    return f"stack changed: now in {_short(after[-1][0][2])} at line {after[-1][0][1]}"


def _locals_text(before: Signature, after: Signature) -> str:
    for (_, locals_a), (place, locals_b) in zip(before, after, strict=True):
        if locals_a == locals_b:
            continue
        old = {name: (kind, value) for name, kind, value in locals_a or ()}
        new = {name: (kind, value) for name, kind, value in locals_b or ()}
        names = [n for n in new if old.get(n) != new[n]] + [n for n in old if n not in new]
        shown = ", ".join(names[:_NAMES_SHOWN]) + (", …" if len(names) > _NAMES_SHOWN else "")
        noun = "local" if len(names) == 1 else "locals"
        return f"{noun} {shown} in {_short(place[2])}" if names else "locals"
    return "nothing"


def _short(function: str) -> str:
    return function.rsplit(".", 1)[-1]


@dataclass
class _Seen:
    signature: Signature
    since: float


class Memory:
    """The previous snapshot's signature of each thread, for the kernel's lifetime.

    ``judge`` may run on any thread that captures (the watcher, the control thread, the
    cell's thread for a magic): a lock of its own, never held while anything else runs,
    keeps the memory whole. A snapshot judged after a newer one (two captures at once) does
    not change the memory; it is only said to be still where that is sure.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[int, int], _Seen] = {}  # by (process, thread ident)
        self._last = 0.0
        self._lock = threading.Lock()

    def judge(self, snapshot: StackSnapshot) -> None:
        """Set each thread's ``verdict``, ``still_since`` and ``changed``; remember them."""
        if not self._lock.acquire(timeout=1.0):
            return  # never happens unless a judge died mid-way; unjudged is honest
        try:
            if snapshot.time < self._last:
                self._judge_late(snapshot)
                return
            self._last = snapshot.time
            seen = {}
            for key, thread in _threads(snapshot):
                now = signature(thread)
                before = self._seen.get(key)
                since = snapshot.time
                if before is None:
                    thread.verdict = "first"
                elif before.signature == now:
                    since = before.since
                    thread.verdict, thread.still_since = "still", since
                else:
                    thread.verdict = "moving"
                    thread.changed = what_changed(before.signature, now)
                seen[key] = _Seen(now, since)
            # A worker that did not answer this time (too slow, busy) is not forgotten: it
            # still runs, and its next answer is judged against its last one.
            silent = {p.pid for p in snapshot.processes if not p.threads}
            for key, entry in self._seen.items():
                if key[0] in silent:
                    seen.setdefault(key, entry)
            self._seen = seen
        finally:
            self._lock.release()

    def _judge_late(self, snapshot: StackSnapshot) -> None:
        """A snapshot frozen before the last one judged (two threads captured at once): it
        is still where it matches what the memory has held since before it was frozen;
        else unjudged. It changes nothing in the memory."""
        for key, thread in _threads(snapshot):
            before = self._seen.get(key)
            if before and before.since <= snapshot.time and before.signature == signature(thread):
                thread.verdict, thread.still_since = "still", before.since


def _threads(snapshot: StackSnapshot) -> list[tuple[tuple[int, int], ThreadStack]]:
    """The kernel's threads and those of its workers that answered, each with its key."""
    found = [((snapshot.pid, t.ident), t) for t in snapshot.threads]
    found += [((p.pid, t.ident), t) for p in snapshot.processes for t in p.threads]
    return found


def without_locals(snapshot: StackSnapshot) -> None:
    """Drop the locals that were read only to judge (a dump that did not ask shows none):
    of every thread's frames and of its asyncio tasks' frames."""
    stacks: list[ThreadStack | TaskStack] = list(snapshot.threads)
    stacks += [task for thread in snapshot.threads for task in thread.tasks]
    for stack in stacks:
        if any(f.locals is not None for f in stack.frames):
            stack.frames = [
                f if f.locals is None else replace(f, locals=None) for f in stack.frames
            ]


def say_duration(seconds: float) -> str:
    """'3 min 12 s', '45 s', '0.5 s', '2 h 5 min', '7 d 0 h'."""
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f} s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def thread_text(thread: ThreadStack, now: float) -> str:
    """The verdict in words: 'moving: line 12 → 14 in spin', 'same place, same locals, for 3
    min 0 s', 'first look: no earlier snapshot to compare'; '' when not judged."""
    if thread.verdict == "first":
        return "first look: no earlier snapshot to compare"
    if thread.verdict == "moving":
        return f"moving: {thread.changed}" if thread.changed else "moving"
    if thread.verdict == "still" and thread.still_since is not None:
        return f"same place, same locals, for {say_duration(max(0.0, now - thread.still_since))}"
    return ""


def section_text(thread: ThreadStack, now: float) -> str:
    """What a view shows beside a thread: the verdict, but for a first look (the cell's
    line says that once, rather than every thread)."""
    return "" if thread.verdict == "first" else thread_text(thread, now)


def cell_text(snapshot: StackSnapshot) -> str:
    """'cell running for 3 min 12 s', 'no cell running', or '' when not known."""
    if snapshot.cell_started is not None:
        return f"cell running for {say_duration(max(0.0, snapshot.time - snapshot.cell_started))}"
    if any(thread.verdict for thread in snapshot.threads):
        return "no cell running"  # a judged snapshot: the kernel knew no cell ran
    return ""


def cell_verdict(snapshot: StackSnapshot) -> str:
    """The cell and its thread in one line: 'cell running for 3 min 12 s · moving: line 3 →
    4 in spin'; 'no cell running'; '' for a snapshot nobody judged."""
    cell = cell_text(snapshot)
    thread = snapshot.thread(snapshot.cell_thread) if snapshot.cell_thread is not None else None
    if snapshot.cell_started is None or thread is None:
        return cell
    judged = thread_text(thread, snapshot.time)
    return f"{cell} · {judged}" if judged else cell
