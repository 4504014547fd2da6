"""What every view shows, decided once: which threads, which frames, what summary.

Also how a string from the kernel becomes safe to show (``printable``): every name, file,
source line and value comes from code the kernel runs, so any of them can hold bytes that a
terminal obeys (a thread named ``"\\x1b]2;PWNED\\x07"`` retitles the window) or that
reorder what a reader sees.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

from ..snapshot import (
    FrameRecord,
    StackSnapshot,
    TaskStack,
    ThreadStack,
    natural_key,
)
from ..threadstate import SYNC_WAITS, state_group

# What ``printable`` escapes:
# - C0 controls (U+0000-U+001F) but TAB, which only moves the cursor forward; a newline too,
#   unless the caller lays the lines out itself (a repr that spans lines);
# - DEL and the C1 controls (U+007F-U+009F: U+009B is a one-byte CSI in some terminals);
# - lone surrogates (a file name that is not valid UTF-8), which cannot even be encoded;
# - the bidirectional controls of "Trojan Source" (CVE-2021-42574: U+061C, U+200E, U+200F,
#   U+202A-U+202E, U+2066-U+2069), which show text in another order than it is, and the
#   line and paragraph separators U+2028 and U+2029, which some viewers break lines at.
# Other format characters stay (the zero-width joiner builds emoji). The escapes are
# Python's (\x1b, \u202e); a backslash itself is left alone, so a name that already reads
# "\x1b" looks the same as one holding ESC: this is for reading, not for parsing back.
_UNSAFE = r"\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ESCAPED = re.compile(rf"[{_UNSAFE}\u2028\u2029\n]")
_ESCAPED_BUT_NEWLINES = re.compile(rf"[{_UNSAFE}\u2028\u2029]")
_SHORT = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _SHORT.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` with what a terminal would obey, or a reader misread, escaped (see above)."""
    if text.isprintable():  # the usual case, in C: every character we escape is unprintable
        return text
    pattern = _ESCAPED_BUT_NEWLINES if keep_newlines else _ESCAPED
    return pattern.sub(_escape, text)


def excerpt(text: str, limit: int = 60) -> str:
    """``text`` made printable and cut to ``limit`` characters, for one line about bad input."""
    shown = printable(text[: limit * 4])  # an escape is at most six characters per one
    return shown if len(shown) <= limit and len(text) <= limit * 4 else shown[: limit - 1] + "…"


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

    Runs of hidden machinery frames become one count (as does the record that stands for
    the frames a saved snapshot left out, shown or not); folded repeats become a Fold row
    after the last frame of the repeated group.
    """
    out: list[FrameRecord | Hidden | Fold] = []
    pending: list[tuple[int, Fold]] = []  # (frames left in the group, its fold)
    for frame in frames:
        if frame.elided or (frame.kind == "machinery" and not options.show_machinery):
            if out and isinstance(out[-1], Hidden):
                out[-1].count += frame.count  # its repeats too: a hidden frame has no fold
            else:
                out.append(Hidden(frame.count))
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


@dataclass
class Section:
    """Threads with the same stack and state, shown once; members in natural order."""

    threads: list[ThreadStack]
    open: bool = False

    @property
    def first(self) -> ThreadStack:
        """The member whose frames the section shows (they are all the same)."""
        return self.threads[0]


def _frames_key(frames: list[FrameRecord]) -> tuple[object, ...]:
    return tuple(
        (f.filename, f.lineno, f.function, f.kind, f.repeat, f.span, repr(f.locals), f.elided)
        for f in frames
    )


def stack_key(thread: ThreadStack) -> tuple[object, ...]:
    """What threads of one section share: role, state, frames (with locals) and tasks.

    The same rule as ``stackKey`` in the lab extension's sections.ts.
    """
    tasks = tuple((t.name, t.awaiting, _frames_key(t.frames)) for t in thread.tasks)
    role = (thread.runs_cell, thread.is_main, thread.service)
    return (role, thread.state, _frames_key(thread.frames), tasks)


def _rank(thread: ThreadStack, snapshot: StackSnapshot, no_cell: bool) -> int:
    """Which sections come first: the cell's thread, then waits on other threads, ...

    A ``%stackdump`` runs on the cell's thread, so that thread is only the magic: it
    goes last, and the threads that wait come first. When no thread runs a cell (a
    worker's own stacks, an idle kernel), the threads in code of a cell or of the user
    take the cell's place: in a Dask worker, the thread that runs the task.
    """
    if thread.runs_cell:
        return 5 if snapshot.trigger == "magic" else 0
    if no_cell and any(f.kind in ("cell", "user") for f in thread.frames):
        return 0
    if thread.state in SYNC_WAITS:
        return 1
    group = state_group(thread.state)
    return {"waiting": 2, "running": 3}.get(group, 4)


def sections(
    snapshot: StackSnapshot, options: ViewOptions
) -> tuple[list[Section], list[ThreadStack]]:
    """The shown threads grouped by ``stack_key``, the right one first, and those hidden.

    Order: the cell's thread (unless the dump is a ``%stackdump``; when none runs a
    cell, the threads in a cell's or the user's code), threads waiting on a
    lock, queue, event or condition, other waits, running, the rest; then the main thread,
    then names in natural order. Open: the first section, the cell's thread (but for
    ``%stackdump``) and the waits on other threads.
    """
    shown, hidden = shown_threads(snapshot, options)
    by_key: dict[tuple[object, ...], list[ThreadStack]] = {}
    for thread in shown:
        by_key.setdefault(stack_key(thread), []).append(thread)
    out = []
    for members in by_key.values():
        members.sort(key=lambda t: natural_key(t.name))
        out.append(Section(members))
    no_cell = not any(t.runs_cell for t in snapshot.threads)
    out.sort(
        key=lambda s: (
            _rank(s.first, snapshot, no_cell),
            not s.first.is_main,
            natural_key(s.first.name),
        )
    )
    for index, section in enumerate(out):
        rank = _rank(section.first, snapshot, no_cell)
        section.open = index == 0 or rank in (0, 1)
    return out, hidden


def task_groups(tasks: list[TaskStack]) -> list[list[TaskStack]]:
    """Tasks with the same awaitable and frames, together; in natural order of names."""
    by_key: dict[tuple[object, ...], list[TaskStack]] = {}
    for task in sorted(tasks, key=lambda t: natural_key(t.name)):
        by_key.setdefault((task.awaiting, _frames_key(task.frames)), []).append(task)
    return list(by_key.values())


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def members_text(names: list[str]) -> str:
    """'worker-0 … worker-299, pool-1, pool-2': runs of consecutive numbers shortened.

    ``names`` in natural order; a run of three or more becomes 'first … last'.
    """
    runs: list[list[str]] = []
    previous: tuple[str, int] | None = None
    for name in names:
        match = _NUMBERED.match(name)
        here = (match.group(1), int(match.group(2))) if match else None
        if here and previous and runs and here == (previous[0], previous[1] + 1):
            runs[-1].append(name)
        else:
            runs.append([name])
        previous = here
    parts = []
    for run in runs:
        parts.append(f"{run[0]} … {run[-1]}" if len(run) >= 3 else ", ".join(run))
    return ", ".join(parts)


def span_text(names: list[str]) -> str:
    """'worker-0 … worker-299' (first and last), or both names of a pair."""
    if len(names) > 2:
        return f"{names[0]} … {names[-1]}"
    return ", ".join(names)


def section_heading(section: Section) -> str:
    """'300 threads worker-0 … worker-299' for a group; the thread's heading for one."""
    if len(section.threads) == 1:
        return thread_heading(section.first)
    names = [t.name for t in section.threads]
    return f"{len(names):,} threads {span_text(names)}"


def task_group_heading(tasks: list[TaskStack]) -> str:
    """'asyncio task Task-4, waiting on a Future', or '30 asyncio tasks Task-1 … Task-30, …'."""
    if len(tasks) == 1:
        return task_heading(tasks[0])
    waiting = f", waiting on a {tasks[0].awaiting}" if tasks[0].awaiting else ""
    names = span_text([t.name for t in tasks])
    return f"{len(tasks):,} asyncio tasks {names}{waiting}"


def innermost_user_frame(frames: list[FrameRecord]) -> FrameRecord | None:
    """The frame a collapsed section names: the innermost cell or user frame, else any."""
    for kinds in (("cell", "user"), ("cell", "user", "library")):
        for frame in reversed(frames):
            if frame.kind in kinds:
                return frame
    return None


def locals_heading(frame: FrameRecord) -> str:
    """What a frame's variables are when they are not a function's locals: a cell's top
    level (``<module>``) shows the notebook's globals, a module's body that module's."""
    if frame.function != "<module>":
        return ""
    return "notebook globals:" if frame.kind == "cell" else "module globals:"


def where_text(frame: FrameRecord) -> str:
    """'spin (Cell In[7], line 3)'."""
    return f"{frame.function} ({frame.location})"


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


def summary(snapshot: StackSnapshot, options: ViewOptions | None = None) -> str:
    """'7 threads: 1 running, 5 waiting, 1 sleeping (3 hidden)': the threads shown only."""
    shown, hidden = shown_threads(snapshot, options or ViewOptions())
    groups = Counter(state_group(t.state) for t in shown)
    order = ("running", "waiting", "sleeping", "unknown")
    parts = ", ".join(f"{groups[g]:,} {g}" for g in order if groups[g])
    count = len(shown)
    noun = "thread" if count == 1 else "threads"
    text = f"{count:,} {noun}: {parts}" if parts else f"{count:,} {noun}"
    return f"{text} ({len(hidden):,} hidden)" if hidden else text


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
