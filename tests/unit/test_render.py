"""Renderers over fixed snapshots: content, folding, hiding, escaping."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipysigtrace.render import FORMATS, ViewOptions, common, render, text
from ipysigtrace.render.common import printable
from ipysigtrace.snapshot import FrameRecord, StackSnapshot, TaskStack, ThreadStack, natural_key

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
    assert "2 threads: 1 running, 1 waiting (1 hidden)" in text
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


def test_a_hidden_frame_that_repeats_is_counted_not_folded() -> None:
    """The kernel's recursion (asyncio's run loop re-entered) is part of the hidden count;
    no fold row names a frame that is not shown (as ``rows`` in model.ts)."""
    loop = FrameRecord("/site/asyncio/base_events.py", 5, "run", kind="machinery", repeat=3)
    cell = FrameRecord("/tmp/ipykernel_1/2.py", 1, "<module>", kind="cell", label="Cell In[2]")
    shown = common.rows([loop, cell], ViewOptions())
    assert [type(row).__name__ for row in shown] == ["Hidden", "FrameRecord"]
    assert isinstance(shown[0], common.Hidden) and shown[0].count == 4
    everything = common.rows([loop, cell], ViewOptions(show_machinery=True))
    assert [type(row).__name__ for row in everything] == ["FrameRecord", "Fold", "FrameRecord"]


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


# What no rendered text may contain: the C0 controls but TAB and the newlines of the layout,
# DEL, C1, lone surrogates, the bidirectional controls and the Unicode line separators.
UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    r"\u2028\u2029]"
)
OUR_COLOURS = re.compile(r"\x1b\[[0-9;]*m")
PWNED = "\x1b]2;PWNED\x07"


def hostile(s: str, value: str = "v") -> StackSnapshot:
    """A snapshot in which every string that the kernel provides is ``s``."""
    local = {"name": s, "type": s, "value": value}
    frame = FrameRecord(s, 3, s, s, s, "cell", locals=[local], context=[s], context_start=3)
    task = TaskStack(s, [FrameRecord(s, 4, s, s, kind="user")], awaiting=s)
    thread = ThreadStack(7, s, 8, state=s, frames=[frame], tasks=[task])
    service = ThreadStack(9, s, service=True, frames=[FrameRecord(s, 1, s, kind="machinery")])
    folded = ThreadStack(10, s, frames=[FrameRecord(s, 2, s, s, repeat=5)])
    return StackSnapshot(0.0, 1, [thread, service, folded], s, s, 7, note=s)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (PWNED, "\\x1b]2;PWNED\\x07"),
        ("\x9b31mred", "\\x9b31mred"),  # the one-byte CSI
        ("a\rb\x7f\x00", "a\\rb\\x7f\\x00"),
        ("one\ntwo", "one\\ntwo"),
        ("caf\udce9.py", "caf\\udce9.py"),  # a file name that is not UTF-8
        ("admin\u202e\u2066txt.exe", "admin\\u202e\\u2066txt.exe"),
        ("line\u2028sep", "line\\u2028sep"),
        ("tab\tok, Grüße, 日本, 👩\u200d💻", "tab\tok, Grüße, 日本, 👩\u200d💻"),
        ("already \\x1b", "already \\x1b"),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(raw, keep_newlines=True) == shown.replace("\\n", "\n")


def test_printable_escapes_exactly_the_documented_characters() -> None:
    """Every code point: escaped if and only if it is in UNSAFE (or is a newline)."""
    for code in range(0x110000):
        char = chr(code)
        escaped = printable(char) != char
        assert escaped == (char == "\n" or UNSAFE.match(char) is not None), hex(code)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(min_size=1))
def test_text_from_the_kernel_reaches_the_terminal_as_text(s: str) -> None:
    base = len(text.render(hostile("x"), ViewOptions(show_machinery=True)).splitlines())
    base += s == "<module>"  # our own "notebook globals:" above a cell's top-level locals
    for ansi in (False, True):
        out = text.render(hostile(s), ViewOptions(show_machinery=True), ansi=ansi)
        if ansi:
            out = OUR_COLOURS.sub("", out)
        assert not UNSAFE.search(out)
        out.encode("utf-8")  # no lone surrogate left to fail the write
        assert len(out.splitlines()) == base, "a name cannot add lines or fake a heading"


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(min_size=1))
def test_html_from_the_kernel_is_escaped_text(s: str) -> None:
    out = render(hostile(s), "html", ViewOptions(show_machinery=True))
    assert not UNSAFE.search(out)
    out.encode("utf-8")
    assert set(re.findall(r"<([a-z]+)", out)) <= {
        "div", "details", "summary", "b", "i", "span", "pre", "table", "tr", "td",
    }  # fmt: skip


def test_a_value_that_spans_lines_is_laid_out_under_its_name() -> None:
    out = text.render(hostile("s", value="first\r\nsecond\x1b[2J"))
    assert "      s = first\n          second\\x1b[2J  (s)\n" in out


def test_colours_come_from_the_renderer_around_escaped_text() -> None:
    out = text.render(hostile(PWNED), ansi=True)
    assert "\x1b]" not in out and "\x07" not in out
    assert set(re.findall(r"\x1b\[[0-9;]*m", out)) == {
        "\x1b[1m",
        "\x1b[1;34m",
        "\x1b[2m",
        "\x1b[0m",
    }
    assert "  \x1b[1;34m\\x1b]2;PWNED\\x07, line 3, in \\x1b]2;PWNED\\x07\x1b[0m\n" in out
    assert "\x1b[" not in text.render(hostile(PWNED))


def test_source_is_escaped_until_pygments_is_ready_then_highlighted() -> None:
    import subprocess
    import sys

    code = """
import sys
from ipysigtrace.render import highlight
assert "pygments" not in sys.modules, "not imported at load"
plain = highlight.line("x = '<b>'")
assert plain == "x = &#x27;&lt;b&gt;&#x27;", plain
highlight.prepare_soon(delay=0)
import threading
for thread in threading.enumerate():
    if thread.name == "ipysigtrace-warmup":
        thread.join(30)
assert highlight.ready()
rich = highlight.line("x = '<b>'")
assert "<span" in rich and "&lt;b&gt;" in rich and "<b>" not in rich, rich
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _worker(index: int, state: str = "waiting on an event", line: int = 5) -> ThreadStack:
    return ThreadStack(
        100 + index,
        f"worker-{index}",
        1000 + index,
        state=state,
        frames=[
            FrameRecord("/lib/threading.py", 1000, "Thread._bootstrap", kind="machinery"),
            FrameRecord("/home/u/w.py", line, "work", "done.wait()"),
            FrameRecord(
                "/lib/threading.py", 600, "Event.wait", "self._cond.wait()", kind="library"
            ),
        ],
    )


def _crowd(trigger: str = "signal") -> StackSnapshot:
    workers = [_worker(i) for i in reversed(range(300))]
    odd = _worker(300, state="running", line=9)
    main = snapshot().threads[0]
    service = snapshot().threads[2]
    return StackSnapshot(
        1764320000.25, 4242, [service, *workers, odd, main], trigger, cell_thread=1
    )


def test_identical_stacks_are_one_section_in_natural_order() -> None:
    groups, hidden = common.sections(_crowd(), ViewOptions())
    assert [len(s.threads) for s in groups] == [1, 300, 1]
    assert [t.name for t in groups[1].threads][:12] == [f"worker-{i}" for i in range(12)]
    assert common.section_heading(groups[1]) == "300 threads worker-0 … worker-299"
    assert [t.name for t in hidden] == ["IOPub"]
    out = render(_crowd(), "text")
    assert "\n300 threads worker-0 … worker-299: waiting on an event\n" in out
    assert "  threads: worker-0 … worker-299\n" in out
    assert out.count('File "/home/u/w.py", line 5, in work') == 1
    assert ": 302 threads: 2 running, 300 waiting (1 hidden)" in out
    page = render(_crowd(), "html")
    assert "300 threads worker-0 … worker-299" in page
    assert page.count("line 5, in <b>work</b>") == 1
    assert "<details style=" in page and "300 threads</summary>worker-0 … worker-299" in page


def test_members_text_shortens_runs_only() -> None:
    names = ["a-1", "a-2", "a-3", "a-5", "b", "pool-7", "pool-8", "x10"]
    assert common.members_text(names) == "a-1 … a-3, a-5, b, pool-7, pool-8, x10"
    assert sorted(["w-10", "w-2", "W-1"], key=natural_key) == ["W-1", "w-2", "w-10"]


def test_the_cell_thread_first_and_open_then_waits_on_other_threads() -> None:
    groups, _ = common.sections(_crowd(), ViewOptions())
    assert groups[0].first.runs_cell and groups[0].open
    assert groups[1].first.state == "waiting on an event" and groups[1].open
    assert groups[2].first.state == "running" and not groups[2].open


def test_a_stackdump_puts_the_waiting_threads_first_and_its_own_last() -> None:
    groups, _ = common.sections(_crowd("magic"), ViewOptions())
    assert groups[0].first.name == "worker-0" and groups[0].open
    assert groups[-1].first.runs_cell and not groups[-1].open


def test_where_no_thread_runs_a_cell_the_one_in_its_code_comes_first() -> None:
    """A Dask worker's own stacks: its loop waits in the main thread, a task sleeps in a
    function of the cell on another; that one is the one to read."""
    select = FrameRecord("/lib/selectors.py", 468, "select", kind="library")
    loop = ThreadStack(1, "MainThread", 10, is_main=True, state="waiting for I/O", frames=[select])
    task = ThreadStack(
        2,
        "Dask-Default-Threads-0",
        11,
        state="sleeping",
        frames=[FrameRecord("/tmp/ipykernel_1/2.py", 6, "slow", kind="cell", label="Cell In[2]")],
    )
    groups, _ = common.sections(StackSnapshot(1.0, 10, [loop, task], "request"), ViewOptions())
    assert [(s.first.name, s.open) for s in groups] == [
        ("Dask-Default-Threads-0", True),
        ("MainThread", False),
    ]


def test_a_collapsed_section_names_its_innermost_user_frame() -> None:
    page = render(_crowd(), "html")
    odd = page[page.index("worker-300") :]
    summary_line = odd[: odd.index("</summary>")]
    assert "at work (File &quot;/home/u/w.py&quot;, line 9)" in summary_line


def test_tasks_with_the_same_stack_are_one_group() -> None:
    frames = [FrameRecord("/home/u/a.py", 3, "fetch", "await asyncio.sleep(1)")]
    tasks = [TaskStack(f"Task-{i}", list(frames), "Future") for i in (10, 2, 1)]
    loop = ThreadStack(5, "loop", 5, state="waiting for I/O", tasks=tasks)
    out = render(StackSnapshot(1764320000.25, 1, [loop]), "text")
    assert "  3 asyncio tasks Task-1 … Task-10, waiting on a Future:\n" in out
    assert "    tasks: Task-1, Task-2, Task-10\n" in out
    assert out.count("in fetch") == 1


def test_a_group_of_hostile_names_is_escaped() -> None:
    threads = [ThreadStack(i, f"{EVIL}\x1b]2;x\x07-{i}", i, state="sleeping") for i in range(12)]
    snap = StackSnapshot(1764320000.25, 1, threads)
    page = render(snap, "html")
    assert "<img" not in page and "\x1b" not in page
    # More than ten members: their list is closed (no "open" attribute).
    assert re.search(r'<details style="[^"]*"><summary>12 threads</summary>', page), page
    out = render(snap, "text")
    assert "\x1b" not in out and "\x07" not in out
