"""Plain text, laid out like a Python traceback: pastes well into a bug report.

Every string from the kernel goes through ``printable`` before it is laid out, so what
reaches a terminal or a log is text, never a control sequence. With ``ansi=True`` the
renderer adds its own colour codes around the escaped strings (the command line does):
headings bold, cell frames blue, folded and hidden rows dimmed.
"""

from __future__ import annotations

from ..snapshot import DaskReport, FrameRecord, StackSnapshot
from ..verdict import cell_verdict, section_text
from .beyond import (
    dask_heading,
    dask_task_heading,
    dask_worker_heading,
    process_group_heading,
    process_groups,
    process_text,
    process_view,
    processes_heading,
)
from .common import (
    Fold,
    Hidden,
    ViewOptions,
    fold_text,
    hidden_tasks_text,
    hidden_text,
    hidden_threads_text,
    locals_heading,
    members_text,
    printable,
    rows,
    section_heading,
    sections,
    shown_tasks,
    summary,
    task_group_heading,
    task_groups,
    title,
)

BOLD, CELL, DIM = "1", "1;34", "2"


class _Style:
    """Wraps escaped text in ANSI SGR codes, or leaves it as it is."""

    def __init__(self, ansi: bool) -> None:
        self.ansi = ansi

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.ansi and text else text


def render(snapshot: StackSnapshot, options: ViewOptions | None = None, ansi: bool = False) -> str:
    """The snapshot as text, the running frame of each thread last; coloured if ``ansi``.

    The kernel's threads come first, then its child processes: the list of them, and the
    stacks of each that sent its own, laid out as the kernel's are, one step further in.
    """
    options = options or ViewOptions()
    style = _Style(ansi)
    out = [style(BOLD, printable(f"{title(snapshot)}: {summary(snapshot, options)}"))]
    if snapshot.note:
        out.append(printable(snapshot.note))
    verdict = cell_verdict(snapshot)
    if verdict:
        out.append(printable(verdict[0].upper() + verdict[1:]))
    out += _threads(snapshot, options, style, "")
    if snapshot.processes:
        out.append("")
        out.append(style(BOLD, printable(processes_heading(snapshot.processes))))
        out += (
            f"  {printable(process_text(p, snapshot.pid))}"
            for p in snapshot.processes
            if not p.threads
        )
    for group in process_groups(snapshot.processes):
        out.append("")
        out.append(style(BOLD, printable(process_group_heading(group, snapshot.pid))))
        if len(group) > 1:
            out += (f"  {printable(process_text(p, snapshot.pid))}" for p in group)
        out += _threads(process_view(group[0], snapshot), options, style, "  ")
    if snapshot.dask:
        out += _dask(snapshot.dask, options, style)
    return "\n".join(out) + "\n"


def _dask(report: DaskReport, options: ViewOptions, style: _Style) -> list[str]:
    """What each worker of the cell's Dask cluster runs: its tasks, grouped by stack."""
    out = ["", style(BOLD, printable(dask_heading(report)))]
    for worker in report.workers:
        out.append("")
        out.append(style(BOLD, printable(dask_worker_heading(worker))))
        for group in task_groups(worker.tasks):
            out.append(f"  {printable(dask_task_heading(group))}:")
            if len(group) > 1:
                out.append(printable(f"    tasks: {members_text([t.name for t in group])}"))
            out += _frames(group[0].frames, options, "    ", style)
    return out


def _threads(snapshot: StackSnapshot, options: ViewOptions, style: _Style, at: str) -> list[str]:
    """A process's thread sections, each line indented by ``at``."""
    groups, hidden = sections(snapshot, options)
    out = []
    for section in groups:
        thread = section.first
        role = ", runs the cell" if thread.runs_cell else ""
        out.append("")
        single = len(section.threads) == 1
        heading = f"{'Thread ' if single else ''}{section_heading(section)}{role}: {thread.state}"
        if thread.held_by:
            heading += f", held by thread {thread.held_by}"
        out.append(at + style(BOLD, printable(heading)))
        if not single:
            members = members_text([t.name for t in section.threads])
            out.append(at + printable(f"  threads: {members}"))
        judged = section_text(thread, snapshot.time)
        if judged:
            out.append(at + printable(f"  {judged}"))
        out += _frames(thread.frames, options, at + "  ", style)
        tasks, hidden_tasks = shown_tasks(thread, options)
        for group in task_groups(tasks):
            out.append(f"{at}  {printable(task_group_heading(group))}:")
            if len(group) > 1:
                out.append(at + printable(f"    tasks: {members_text([t.name for t in group])}"))
            out += _frames(group[0].frames, options, at + "    ", style)
        if hidden_tasks:
            out.append(f"{at}  {style(DIM, hidden_tasks_text(hidden_tasks))}")
    if hidden:
        out.append("")
        out.append(at + style(DIM, printable(f"({hidden_threads_text(hidden)})")))
    return out


def _frames(
    frames: list[FrameRecord], options: ViewOptions, indent: str, style: _Style
) -> list[str]:
    out = [] if frames else [f"{indent}(no Python frames)"]
    for row in rows(frames, options):
        if isinstance(row, Hidden):
            out.append(f"{indent}{style(DIM, hidden_text(row))}")
        elif isinstance(row, Fold):
            out.append(f"{indent}{style(DIM, printable(fold_text(row.first)))}")
        else:
            where = printable(f"{row.location}, in {row.function}")
            out.append(f"{indent}{style(CELL, where) if row.kind == 'cell' else where}")
            if row.line:
                out.append(f"{indent}  {printable(row.line)}")
            if row.locals and (heading := locals_heading(row)):
                out.append(f"{indent}    {style(DIM, heading)}")
            for local in row.locals or ():
                out += _local(local, f"{indent}    ")
    return out


def _local(local: dict[str, str], indent: str) -> list[str]:
    """'name = value  (type)'; the lines of a value that spans several, indented under it."""
    name, kind, value = printable(local["name"]), printable(local["type"]), local["value"]
    if "\n" not in value:  # the usual case: one line
        return [f"{indent}{name} = {printable(value)}  ({kind})"]
    first, *rest = printable(value.replace("\r\n", "\n"), keep_newlines=True).split("\n")
    pad = " " * (len(name) + 3)
    lines = [f"{indent}{name} = {first}", *(f"{indent}{pad}{line}" for line in rest)]
    lines[-1] += f"  ({kind})"
    return lines
