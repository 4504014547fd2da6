"""What every view shows, decided once: which threads, which frames, what summary."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from ..capture import state_group
from ..snapshot import FrameRecord, StackSnapshot, TaskStack, ThreadStack


@dataclass
class Hidden:
    """A run of the kernel's machinery frames that a view leaves out."""

    count: int


@dataclass
class Fold:
    """The folded repeats of a group of frames, shown after the group's last frame."""

    first: FrameRecord


@dataclass
class ViewOptions:
    """Choices shared by every renderer."""

    show_machinery: bool = False


def rows(frames: list[FrameRecord], options: ViewOptions) -> list[FrameRecord | Hidden | Fold]:
    """Frames (of a thread or a task) as a view lists them.

    Runs of hidden machinery frames become one count; folded repeats become a Fold row
    after the last frame of the repeated group.
    """
    out: list[FrameRecord | Hidden | Fold] = []
    pending: list[tuple[int, Fold]] = []  # (frames left in the group, its fold)
    for frame in frames:
        if frame.kind == "machinery" and not options.show_machinery:
            if out and isinstance(out[-1], Hidden):
                out[-1].count += 1 + frame.repeat * frame.span
            else:
                out.append(Hidden(1 + frame.repeat * frame.span))
        else:
            out.append(frame)
        if frame.repeat:
            pending.append((frame.span, Fold(frame)))
        still = []
        for left, fold in pending:
            if left == 1:
                out.append(fold)
            else:
                still.append((left - 1, fold))
        pending = still
    out.extend(fold for _, fold in pending)
    return out


def shown_threads(
    snapshot: StackSnapshot, options: ViewOptions
) -> tuple[list[ThreadStack], list[ThreadStack]]:
    """(threads to show, kernel service threads hidden by default)."""
    if options.show_machinery:
        return list(snapshot.threads), []
    shown = [t for t in snapshot.threads if not t.service]
    hidden = [t for t in snapshot.threads if t.service]
    return shown, hidden


def shown_tasks(thread: ThreadStack, options: ViewOptions) -> tuple[list[TaskStack], int]:
    """(the thread's asyncio tasks to show, how many of the kernel's own are hidden)."""
    if options.show_machinery:
        return list(thread.tasks), 0
    shown = [t for t in thread.tasks if not t.is_machinery]
    return shown, len(thread.tasks) - len(shown)


def task_heading(task: TaskStack) -> str:
    """'asyncio task Task-4, waiting on a Future'."""
    waiting = f", waiting on a {task.awaiting}" if task.awaiting else ""
    return f"asyncio task {task.name}{waiting}"


def hidden_tasks_text(count: int) -> str:
    """'[... 3 asyncio tasks of the kernel hidden ...]'."""
    noun = "task" if count == 1 else "tasks"
    return f"[... {count} asyncio {noun} of the kernel hidden ...]"


def summary(snapshot: StackSnapshot) -> str:
    """'7 threads: 1 running, 5 waiting, 1 sleeping'."""
    groups = Counter(state_group(t.state) for t in snapshot.threads)
    order = ("running", "waiting", "sleeping", "unknown")
    parts = ", ".join(f"{groups[g]} {g}" for g in order if groups[g])
    count = len(snapshot.threads)
    noun = "thread" if count == 1 else "threads"
    return f"{count} {noun}: {parts}" if parts else f"{count} {noun}"


def title(snapshot: StackSnapshot) -> str:
    """'Stacks of process 4242 at 12:34:56 (signal)'."""
    clock = time.strftime("%H:%M:%S", time.localtime(snapshot.time))
    millis = int((snapshot.time % 1) * 1000)
    kind = "raw dump, " if snapshot.kind == "raw" else ""
    return f"Stacks of process {snapshot.pid} at {clock}.{millis:03d} ({kind}{snapshot.trigger})"


def thread_heading(thread: ThreadStack) -> str:
    """'MainThread (ident 1398, native 4242, daemon)' without the state."""
    bits = [f"ident {thread.ident}"]
    if thread.native_id is not None:
        bits.append(f"native {thread.native_id}")
    if thread.daemon:
        bits.append("daemon")
    return f"{thread.name} ({', '.join(bits)})"


def fold_text(frame: FrameRecord) -> str:
    """'[... dive at line 4, 4,990 more times ...]' for a folded repeat."""
    if frame.span == 1:
        name = frame.function.rsplit(".", 1)[-1]
        return f"[... {name} at line {frame.lineno}, {frame.repeat:,} more times ...]"
    return f"[... the {frame.span} frames above, {frame.repeat:,} more times ...]"


def hidden_text(hidden: Hidden) -> str:
    """'[... 23 frames of the kernel's machinery ...]'."""
    noun = "frame" if hidden.count == 1 else "frames"
    return f"[... {hidden.count} {noun} of the kernel's machinery ...]"


def hidden_threads_text(hidden: list[ThreadStack]) -> str:
    """'3 kernel threads hidden (IOPub, Heartbeat, Control); --all shows them'."""
    names = ", ".join(t.name for t in hidden)
    noun = "thread" if len(hidden) == 1 else "threads"
    return f"{len(hidden)} kernel {noun} hidden ({names}); --all shows them"
