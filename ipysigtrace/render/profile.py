"""Views of a profile: a top-functions table (text), a static icicle (HTML), speedscope JSON.

Pure functions of a ``Profile``. Every name and file comes from the kernel: text goes
through ``printable``, HTML through ``html.escape`` after it (``render.html.escape``).
The HTML has no script and inline styles only, so it reads the same in a saved notebook,
nbconvert or VS Code; the other threads are ``<details>``, closed until asked for.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..profile import Profile, ThreadProfile, own_stacks, top_functions
from .common import ViewOptions, printable
from .html import escape

TOP = 20  # rows of the table
SMALLEST = 0.005  # icicle boxes under this share of the thread's samples are left out
DEEPEST = 80  # icicle levels drawn
MIME_TYPE = "application/vnd.ipysigtrace.profile+json"  # the profile itself, for front ends
SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def summary(profile: Profile, thread: ThreadProfile | None = None) -> str:
    """'Profile of process 42 (Cell In[5]), 12:00:01: 2,990 samples in 30.0 s (99.7 Hz;
    asked 100 Hz); ended: duration'."""
    clock = time.strftime("%H:%M:%S", time.localtime(profile.started))
    cell = f" ({profile.cell})" if profile.cell else ""
    samples = thread.samples if thread is not None else profile.ticks
    so_far, state = (
        (" so far", "still sampling: this view grows until it ends")
        if profile.ended == "running"
        else ("", f"ended: {profile.ended}")
    )
    line = (
        f"Profile of process {profile.pid}{cell} from {clock}: {_samples(samples)} in "
        f"{profile.seconds:.1f} s{so_far} ({profile.measured_rate:.1f} Hz; asked "
        f"{profile.rate:g} Hz); {state}"
    )
    if profile.dropped:
        line += f"; {profile.dropped:,} samples beyond the distinct stacks kept are not placed"
    return printable(line)


def _samples(count: int) -> str:
    return f"{count:,} sample{'' if count == 1 else 's'}"


def text(profile: Profile, options: ViewOptions | None = None, threads: str = "cell") -> str:
    """The top functions by own time, with total time, of the cell's thread (or ``all``)."""
    options = options or ViewOptions()
    chosen = _threads(profile, threads)
    lines = [summary(profile, chosen[0] if len(chosen) == 1 else None)]
    for thread in chosen:
        lines.append("")
        lines.append(printable(f"Thread {thread.name}: {_samples(thread.samples)}"))
        stacks = own_stacks(profile, thread, options.show_machinery)
        rows = top_functions(profile, stacks, options.show_machinery)[:TOP]
        if not rows or not thread.samples:
            lines.append("  (no samples outside the kernel's own code)")
            continue
        lines.append(f"  {'own':>6}  {'total':>6}  {'samples':>8}  function (where)")
        for row in rows:
            own = 100 * row.own / thread.samples
            total = 100 * row.total / thread.samples
            name = printable(f"{row.frame.function} ({row.frame.where})")
            lines.append(f"  {own:5.1f}%  {total:5.1f}%  {row.own:>8,}  {name}")
    return "\n".join(lines) + "\n"


def _threads(profile: Profile, which: str) -> list[ThreadProfile]:
    if which == "all":
        return list(profile.threads)
    cell = profile.cell_thread()
    return [cell] if cell is not None else []


# -- the icicle ----------------------------------------------------------------------------

_BOX = "font-family: var(--jp-code-font-family, monospace); font-size: 12px; line-height: 1.3;"
_COLOURS = {
    "cell": "#90caf9",
    "user": "#ffcc80",
    "library": "#e0e0e0",
    "machinery": "#f5f5f5",
}


def _tree(stacks: list[Any]) -> dict[int, Any]:
    """Stacks -> nested {index: [count, children]}."""
    root: dict[int, Any] = {}
    for stack, count in stacks:
        level = root
        for index in stack[:DEEPEST]:
            node = level.get(index)
            if node is None:
                node = level[index] = [0, {}]
            node[0] += count
            level = node[1]
    return root


def _icicle(profile: Profile, children: dict[int, Any], parent: int, whole: int) -> str:
    parts = []
    for index, (count, below) in sorted(children.items(), key=lambda kv: -kv[1][0]):
        if count < SMALLEST * whole:
            continue
        frame = profile.frames[index]
        share = 100 * count / whole
        tip = escape(f"{frame.function} ({frame.where}): {count:,} samples, {share:.1f}%")
        label = escape(frame.function)
        width = 100 * count / parent
        colour = _COLOURS.get(frame.kind, "#e0e0e0")
        parts.append(
            f'<div style="flex: 0 0 {width:.3f}%; min-width: 0; overflow: hidden;">'
            f'<div title="{tip}" style="background: {colour}; color: #000; margin: 0 1px 1px 0;'
            f' padding: 0 2px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;">'
            f"{label} <span style='opacity: 0.6'>{share:.1f}%</span></div>"
            f"{_icicle(profile, below, count, whole)}</div>"
        )
    if not parts:
        return ""
    return f'<div style="display: flex; width: 100%;">{"".join(parts)}</div>'


def _thread_html(profile: Profile, thread: ThreadProfile, options: ViewOptions) -> str:
    stacks = own_stacks(profile, thread, options.show_machinery)
    whole = sum(count for _, count in stacks)
    if not whole:
        return "<div><i>no samples</i></div>"
    icicle = _icicle(profile, _tree(stacks), whole, whole)
    rows = []
    for row in top_functions(profile, stacks, options.show_machinery)[:TOP]:
        rows.append(
            f"<tr><td style='text-align: right'>{100 * row.own / thread.samples:.1f}%</td>"
            f"<td style='text-align: right'>{100 * row.total / thread.samples:.1f}%</td>"
            f"<td style='text-align: right'>{row.own:,}</td>"
            f"<td style='text-align: left'>{escape(row.frame.function)} "
            f"<span style='opacity: 0.65'>{escape(row.frame.where)}</span></td></tr>"
        )
    table = (
        "<table style='margin-top: 6px'><tr><th>own</th><th>total</th><th>samples</th>"
        f"<th style='text-align: left'>function</th></tr>{''.join(rows)}</table>"
    )
    return f"<div>{icicle}</div>{table}"


def html(profile: Profile, options: ViewOptions | None = None) -> str:
    """An icicle (outermost call on top) and the top functions of the cell's thread; the
    other threads folded below."""
    options = options or ViewOptions()
    cell = profile.cell_thread()
    parts = [f"<div style='{_BOX}'><div><b>{escape(summary(profile, cell))}</b></div>"]
    if cell is not None:
        parts.append(
            f"<div>Thread {escape(cell.name)}: {_samples(cell.samples)}</div>"
            + _thread_html(profile, cell, options)
        )
    for thread in profile.threads:
        if thread is cell:
            continue
        parts.append(
            f"<details><summary>Thread {escape(thread.name)}: {_samples(thread.samples)}"
            f"</summary>{_thread_html(profile, thread, options)}</details>"
        )
    parts.append("</div>")
    return "".join(parts)


# -- speedscope ------------------------------------------------------------------------------


def speedscope(profile: Profile) -> dict[str, Any]:
    """speedscope's file format: one "sampled" profile per thread, weights in samples."""
    frames = [{"name": f.function, "file": f.filename, "line": f.line} for f in profile.frames]
    profiles = []
    for thread in profile.threads:
        profiles.append(
            {
                "type": "sampled",
                "name": f"{thread.name} (ident {thread.ident})",
                "unit": "none",
                "startValue": 0,
                "endValue": thread.samples,
                "samples": [list(stack) for stack, _ in thread.stacks],
                "weights": [count for _, count in thread.stacks],
            }
        )
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "name": f"ipysigtrace profile of process {profile.pid}",
        "activeProfileIndex": 0,
        "exporter": "ipysigtrace",
        "shared": {"frames": frames},
        "profiles": profiles,
    }


def render(profile: Profile, fmt: str, options: ViewOptions | None = None) -> str:
    """text, html, json (ours) or speedscope."""
    if fmt == "text":
        return text(profile, options)
    if fmt == "html":
        return html(profile, options)
    if fmt == "json":
        return json.dumps(profile.to_dict(), indent=1)
    if fmt == "speedscope":
        return json.dumps(speedscope(profile))
    raise ValueError(f"unknown format {fmt!r}")


def bundle(profile: Profile, options: ViewOptions | None = None) -> dict[str, Any]:
    """A display bundle: the profile as JSON, HTML and text."""
    return {
        MIME_TYPE: profile.to_dict(),
        "text/html": html(profile, options),
        "text/plain": text(profile, options),
    }
