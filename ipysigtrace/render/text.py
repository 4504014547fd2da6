"""Plain text, laid out like a Python traceback: pastes well into a bug report."""

from __future__ import annotations

from ..snapshot import StackSnapshot
from .common import (
    Fold,
    Hidden,
    ViewOptions,
    fold_text,
    hidden_text,
    hidden_threads_text,
    rows,
    shown_threads,
    summary,
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
        for row in rows(thread, options):
            if isinstance(row, Hidden):
                out.append(f"  {hidden_text(row)}")
            elif isinstance(row, Fold):
                out.append(f"  {fold_text(row.first)}")
            else:
                out.append(f"  {row.location}, in {row.function}")
                if row.line:
                    out.append(f"    {row.line}")
                for local in row.locals or ():
                    out.append(f"      {local['name']} = {local['value']}  ({local['type']})")
    if hidden:
        out.append("")
        out.append(f"({hidden_threads_text(hidden)})")
    return "\n".join(out) + "\n"
