"""Renderers over fixed snapshots: content, folding, hiding, escaping."""

from __future__ import annotations

import re

import pytest

from ipysigtrace.render import FORMATS, ViewOptions, render
from ipysigtrace.snapshot import FrameRecord, StackSnapshot, ThreadStack

EVIL = "<img src=x onerror=alert(1)>"


def snapshot() -> StackSnapshot:
    main = ThreadStack(
        1,
        "MainThread",
        100,
        is_main=True,
        runs_cell=True,
        state="running",
        frames=[
            FrameRecord(
                "/site-packages/ipykernel/kernelapp.py", 700, "start", "", kind="machinery"
            ),
            FrameRecord(
                "/site-packages/IPython/core/shell.py", 3500, "run_code", "", kind="machinery"
            ),
            FrameRecord("/tmp/ipykernel_1/2.py", 8, "<module>", "dive(5000)", "Cell In[7]", "cell"),
            FrameRecord(
                "/tmp/ipykernel_1/2.py", 4, "dive", "return dive(n - 1)", "Cell In[7]", "cell", 4990
            ),
            FrameRecord(
                "/tmp/ipykernel_1/2.py", 3, "dive", "while True: pass", "Cell In[7]", "cell"
            ),
        ],
    )
    evil = ThreadStack(
        2,
        EVIL,
        101,
        daemon=True,
        state="waiting for a lock",
        frames=[
            FrameRecord(
                "/home/<b>/x.py", 1, "<script>f</script>", "s = '<script>alert(1)</script>'"
            )
        ],
    )
    service = ThreadStack(3, "IOPub", 102, True, service=True, state="waiting for I/O")
    return StackSnapshot(1764320000.25, 4242, [main, evil, service], "signal", cell_thread=1)


def test_text_reads_like_a_traceback() -> None:
    text = render(snapshot(), "text")
    assert text.startswith("Stacks of process 4242 at ")
    assert "3 threads: 1 running, 2 waiting" in text
    assert "Thread MainThread (ident 1, native 100), runs the cell: running" in text
    assert "[... 2 frames of the kernel's machinery ...]" in text
    assert "  Cell In[7], line 4, in dive\n    return dive(n - 1)\n" in text
    assert "[... dive at line 4, 4,990 more times ...]" in text
    assert "1 kernel thread hidden (IOPub); --all shows them" in text
    assert text.index("Cell In[7], line 8") < text.index("line 4") < text.index("line 3")


def test_all_shows_machinery() -> None:
    text = render(snapshot(), "text", ViewOptions(show_machinery=True))
    assert "kernelapp.py" in text and "Thread IOPub" in text and "hidden" not in text


def test_html_is_static_and_escaped() -> None:
    html = render(snapshot(), "html")
    assert "<script" not in html.lower()
    assert "<img" not in html
    assert "onerror=alert" not in html.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;f&lt;/script&gt;" in html
    assert html.count("<details") == 2 and "<details open" in html
    assert "Cell In[7], line 4" in html
    assert "4,990 more times" in html
    tags = set(re.findall(r"<([a-z]+)", html))
    assert tags <= {"div", "details", "summary", "b", "i", "span", "pre", "table", "tr", "td"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders(fmt: str) -> None:
    out = render(snapshot(), fmt)
    assert "MainThread" in out


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(snapshot(), "xml")


def test_a_folded_group_is_shown_after_its_last_frame() -> None:
    frames = [
        FrameRecord("/x.py", 1, "ping", "pong()", repeat=1000, span=2),
        FrameRecord("/x.py", 5, "pong", "ping()"),
        FrameRecord("/x.py", 9, "bottom", "wait()"),
    ]
    thread = ThreadStack(1, "MainThread", frames=frames)
    text = render(StackSnapshot(0.0, 1, [thread]), "text")
    lines = [line.strip() for line in text.splitlines()]
    fold = lines.index("[... the 2 frames above, 1,000 more times ...]")
    assert lines[fold - 1] == "ping()" and lines[fold + 1].startswith('File "/x.py", line 9')


def test_locals_are_escaped() -> None:
    frame = FrameRecord(
        "/x.py",
        1,
        "f",
        "pass",
        kind="user",
        locals=[{"name": "s", "type": "str", "value": "'<script>alert(1)</script>'"}],
    )
    thread = ThreadStack(1, "MainThread", frames=[frame])
    html = render(StackSnapshot(0.0, 1, [thread]), "html")
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = render(StackSnapshot(0.0, 1, [thread]), "text")
    assert "      s = '<script>alert(1)</script>'  (str)" in text


def test_context_lines_mark_the_current_line() -> None:
    frame = FrameRecord(
        "/x.py",
        11,
        "f",
        "b = 2",
        kind="user",
        context=["a = '<b>'", "b = 2", "c = 3"],
        context_start=10,
    )
    html = render(StackSnapshot(0.0, 1, [ThreadStack(1, "T", frames=[frame])]), "html")
    marked = [line for line in html.split("\n") if "&#x2192;" in line]
    assert len(marked) == 1 and "  11 " in marked[0]
    assert "  10 " in html and "  12 " in html
    assert "<b>'" not in html and "&lt;b&gt;" in html
