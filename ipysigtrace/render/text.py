"""Plain text, laid out like a Python traceback: pastes well into a bug report."""

from __future__ import annotations

from ..snapshot import FrameRecord, StackSnapshot
from .common import (
    Fold,
    Hidden,
    ViewOptions,
    fold_text,
    hidden_tasks_text,
    hidden_text,
    hidden_threads_text,
    rows,
    shown_tasks,
    shown_threads,
    summary,
    task_heading,
    thread_heading,
    title,
)


def render(snapshot: StackSnapshot, options: ViewOptions | None = None) -> str:
    """The snapshot as text, the running frame of each thread last."""
    options = options or ViewOptions()
    threads, hidden = shown_threads(snapshot, options)
    out = [f"{title(snapshot)}: {summary(snapshot)}"]
    if snapshot.note:
        out.append(snapshot.note)
    for thread in threads:
        role = ", runs the cell" if thread.runs_cell else ""
        out.append("")
        out.append(f"Thread {thread_heading(thread)}{role}: {thread.state}")
        if not thread.frames:
            out.append("  (no Python frames)")
        out += _frames(thread.frames, options, "  ")
        tasks, hidden_tasks = shown_tasks(thread, options)
        for task in tasks:
            out.append(f"  {task_heading(task)}:")
            out += _frames(task.frames, options, "    ")
        if hidden_tasks:
            out.append(f"  {hidden_tasks_text(hidden_tasks)}")
    if hidden:
        out.append("")
        out.append(f"({hidden_threads_text(hidden)})")
    return "\n".join(out) + "\n"


def _frames(frames: list[FrameRecord], options: ViewOptions, indent: str) -> list[str]:
    out = []
    for row in rows(frames, options):
        if isinstance(row, Hidden):
            out.append(f"{indent}{hidden_text(row)}")
        elif isinstance(row, Fold):
            out.append(f"{indent}{fold_text(row.first)}")
        else:
            out.append(f"{indent}{row.location}, in {row.function}")
            if row.line:
                out.append(f"{indent}  {row.line}")
            for local in row.locals or ():
                out.append(f"{indent}    {local['name']} = {local['value']}  ({local['type']})")
    return out
