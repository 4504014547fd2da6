"""Static HTML: collapsible threads, highlighted source, no script.

It reads the same in JupyterLab, Notebook 7, VS Code and a saved notebook, and folding a
thread works without the kernel (``<details>``). Every string that comes from the kernel
goes through ``printable`` (control, bidirectional and surrogate characters), then
``html.escape`` or pygments, which escapes what it highlights. Styles are
inline so that no stylesheet has to survive a sanitizer.

Source lines are highlighted by ``highlight.line`` (pygments, made ready on a thread of
its own after the extension loads; escaped only until then): a dump never imports or
compiles anything.
"""

from __future__ import annotations

from html import escape as html_escape

from ..snapshot import DaskReport, FrameRecord, ProcessRecord, StackSnapshot, ThreadStack
from ..threadstate import state_group
from ..verdict import cell_verdict, section_text
from . import highlight
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
    Section,
    ViewOptions,
    fold_text,
    hidden_tasks_text,
    hidden_text,
    hidden_threads_text,
    innermost_user_frame,
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
    where_text,
)


def escape(text: str) -> str:
    """A kernel string as HTML text: ``printable`` first, then HTML-escaped."""
    return html_escape(printable(text, keep_newlines=True))


_BOX = (
    "font-family: var(--jp-code-font-family, monospace);"
    " font-size: var(--jp-code-font-size, 13px); line-height: 1.4;"
)
_MUTED = "opacity: 0.65;"
_CURRENT = "font-weight: bold; color: var(--jp-error-color1, #d32f2f);"
_BORDER = {
    "cell": "border-left: 3px solid var(--jp-brand-color1, #1976d2);",
    "user": "border-left: 3px solid var(--jp-warn-color1, #f57c00);",
    "library": "border-left: 3px solid var(--jp-border-color2, #ccc);" + _MUTED,
    "machinery": "border-left: 3px dotted var(--jp-border-color2, #ccc);" + _MUTED,
}
_STATE_COLOURS = {
    "running": "var(--jp-success-color1, #388e3c)",
    "sleeping": "var(--jp-info-color1, #0288d1)",
    "waiting": "var(--jp-warn-color1, #f57c00)",
}


def render(snapshot: StackSnapshot, options: ViewOptions | None = None) -> str:
    """The snapshot as one self-contained HTML fragment."""
    options = options or ViewOptions()
    groups, hidden = sections(snapshot, options)
    parts = [f'<div class="ipysigtrace-dump" style="{_BOX}">']
    head = f"<b>{escape(title(snapshot))}</b>: {escape(summary(snapshot, options))}"
    parts.append(f"<div>{head}</div>")
    if snapshot.note:
        parts.append(f"<div>{escape(snapshot.note)}</div>")
    verdict = cell_verdict(snapshot)
    if verdict:
        parts.append(f'<div class="ipysigtrace-verdict">{escape(verdict)}</div>')
    parts += _threads(groups, hidden, options, snapshot.time)
    if snapshot.processes:
        parts.append(_processes(snapshot))
    for index, group in enumerate(process_groups(snapshot.processes)):
        parts.append(_process_group(group, snapshot, options, index < _GROUPS_OPEN))
    if snapshot.dask:
        parts.append(_dask(snapshot.dask, options))
    parts.append("</div>")
    return "\n".join(parts)


def _threads(
    groups: list[Section], hidden: list[ThreadStack], options: ViewOptions, now: float
) -> list[str]:
    parts = [_section(section, options, now) for section in groups]
    if hidden:
        parts.append(f'<div style="{_MUTED}">({escape(hidden_threads_text(hidden))})</div>')
    return parts


# A group of more members than this lists them in a section of its own, closed.
_MEMBERS_OPEN = 10


def _members(names: list[str], noun: str) -> str:
    listed = escape(members_text(names))
    attr = " open" if len(names) <= _MEMBERS_OPEN else ""
    return (
        f'<details{attr} style="{_MUTED} margin-left: 1em;">'
        f"<summary>{len(names):,} {noun}</summary>{listed}</details>"
    )


# The first few groups of child processes are open; the others, closed.
_GROUPS_OPEN = 3


def _processes(snapshot: StackSnapshot) -> str:
    """The kernel's child processes: how many, and a list of those without stacks (whose
    notes say why), closed when long."""
    heading = escape(processes_heading(snapshot.processes))
    listed = [p for p in snapshot.processes if not p.threads]
    if not listed:
        return f'<div class="ipysigtrace-processes" style="margin-top: 0.5em;">{heading}</div>'
    items = "".join(f"<li>{escape(process_text(p, snapshot.pid))}</li>" for p in listed)
    attr = " open" if len(listed) <= _MEMBERS_OPEN else ""
    return (
        f'<details class="ipysigtrace-processes"{attr} style="margin-top: 0.5em;">'
        f"<summary>{heading}</summary>"
        f'<ul style="margin: 0.2em 0;">{items}</ul></details>'
    )


def _process_group(
    group: list[ProcessRecord], snapshot: StackSnapshot, options: ViewOptions, is_open: bool
) -> str:
    """Child processes with the same stacks: who they are, then the stacks, one step in."""
    view = process_view(group[0], snapshot)
    sections_, hidden = sections(view, options)
    body = []
    if len(group) > 1:
        body.append(_members([process_text(p, snapshot.pid) for p in group], "processes"))
    body += _threads(sections_, hidden, options, snapshot.time)
    attr = " open" if is_open else ""
    return (
        f'<details class="ipysigtrace-process"{attr} style="margin-top: 0.5em;">'
        f"<summary><b>{escape(process_group_heading(group, snapshot.pid))}</b></summary>"
        f'<div style="margin-left: 1em;">{"".join(body)}</div></details>'
    )


def _dask(report: DaskReport, options: ViewOptions) -> str:
    """The Dask cluster's workers, each a section of its tasks; the first few open."""
    parts = ['<div class="ipysigtrace-dask" style="margin-top: 0.5em;">']
    parts.append(f"<b>{escape(dask_heading(report))}</b>")
    for index, worker in enumerate(report.workers):
        body = []
        for group in task_groups(worker.tasks):
            body.append(
                f'<div style="margin: 4px 0 0 1em;"><i>{escape(dask_task_heading(group))}</i></div>'
            )
            if len(group) > 1:
                body.append(_members([t.name for t in group], "tasks"))
            frames = "".join(_frames(group[0].frames, options))
            body.append(f'<div style="margin-left: 1em;">{frames}</div>')
        attr = " open" if index < _GROUPS_OPEN else ""
        parts.append(
            f'<details class="ipysigtrace-dask-worker"{attr} style="margin-top: 0.5em;">'
            f"<summary><b>{escape(dask_worker_heading(worker))}</b></summary>"
            f"{''.join(body)}</details>"
        )
    parts.append("</div>")
    return "".join(parts)


def _section(section: Section, options: ViewOptions, now: float) -> str:
    thread = section.first
    role = " · <b>runs the cell</b>" if thread.runs_cell else ""
    colour = _STATE_COLOURS.get(state_group(thread.state), "inherit")
    heading = section_heading(section)
    if len(section.threads) == 1:
        name = f"Thread <b>{escape(thread.name)}</b>"
        name += f' <span style="{_MUTED}">{escape(heading[len(thread.name) :])}</span>'
    else:
        name = f"<b>{escape(heading)}</b>"
    where = innermost_user_frame(thread.frames)
    at = f' <span style="{_MUTED}">· at {escape(where_text(where))}</span>' if where else ""
    if thread.held_by:
        at = f" held by thread {escape(thread.held_by)}{at}"
    judged = section_text(thread, now)
    if judged:
        at += f" · <i>{escape(judged)}</i>"
    head = (
        f"<summary>{name}{role}"
        f' · <span style="color: {colour};">{escape(thread.state)}</span>{at}</summary>'
    )
    body = []
    if len(section.threads) > 1:
        body.append(_members([t.name for t in section.threads], "threads"))
    body += _frames(thread.frames, options)
    tasks, hidden_tasks = shown_tasks(thread, options)
    for group in task_groups(tasks):
        heading = escape(task_group_heading(group))
        body.append(f'<div style="margin: 4px 0 0 1em;"><i>{heading}</i></div>')
        if len(group) > 1:
            body.append(_members([t.name for t in group], "tasks"))
        body.append(
            f'<div style="margin-left: 1em;">{"".join(_frames(group[0].frames, options))}</div>'
        )
    if hidden_tasks:
        hidden = escape(hidden_tasks_text(hidden_tasks))
        body.append(f'<div style="{_MUTED} margin-left: 1em;">{hidden}</div>')
    if not thread.frames:
        body.append(f'<div style="{_MUTED}">(no Python frames)</div>')
    attr = " open" if section.open else ""
    return f'<details{attr} style="margin: 4px 0;">{head}{"".join(body)}</details>'


def _context(frame: FrameRecord) -> str:
    """A few numbered source lines, the current one marked."""
    rows = []
    for number, source in enumerate(frame.context or (), start=frame.context_start):
        here = number == frame.lineno
        mark = "&#x2192;" if here else "&nbsp;"
        style = _CURRENT if here else _MUTED
        code = highlight.line(source) if source.strip() else ""
        rows.append(f'<span style="{style}">{mark} {number:>4} </span>{code}')
    body = "\n".join(rows)
    return f'<pre style="margin: 0 0 0 1em; padding: 0; background: none;">{body}</pre>'


def _frames(frames: list[FrameRecord], options: ViewOptions) -> list[str]:
    body = []
    for row in rows(frames, options):
        if isinstance(row, Hidden):
            body.append(f'<div style="{_MUTED} margin-left: 1em;">{escape(hidden_text(row))}</div>')
        elif isinstance(row, Fold):
            folded = escape(fold_text(row.first))
            body.append(f'<div style="{_MUTED} margin-left: 2em;">{folded}</div>')
        else:
            body.append(_frame(row))
    return body


def _frame(frame: FrameRecord) -> str:
    where = escape(frame.location)
    if frame.kind == "cell":
        where = f"<b>{where}</b>"
    style = _BORDER.get(frame.kind, "") + " padding-left: 6px; margin: 2px 0 2px 1em;"
    html = [f'<div style="{style}">{where}, in <b>{escape(frame.function)}</b>']
    if frame.context:
        html.append(_context(frame))
    elif frame.line:
        code = highlight.line(frame.line)
        html.append(f'<pre style="margin: 0 0 0 1.5em; padding: 0; background: none;">{code}</pre>')
    if frame.locals:
        html.append('<table style="margin: 0 0 0 2em; border-collapse: collapse;">')
        if heading := locals_heading(frame):
            html.append(f'<caption style="{_MUTED} text-align: left;">{escape(heading)}</caption>')
        for local in frame.locals:
            html.append(
                f"<tr><td><b>{escape(local['name'])}</b></td>"
                f"<td>{escape(local['value'])}</td>"
                f'<td style="{_MUTED}">{escape(local["type"])}</td></tr>'
            )
        html.append("</table>")
    html.append("</div>")
    return "".join(html)
