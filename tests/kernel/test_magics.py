"""%stackdump in a real kernel: formats, filters, files, and bad input."""

from __future__ import annotations

import json
import signal

import pytest

from harness import Kernel, function_name
from ipysigtrace.render import MIME_TYPE
from ipysigtrace.snapshot import StackSnapshot

pytestmark = pytest.mark.kernel

WORKERS = """\
import threading
stop = threading.Event()
def park():
    stop.wait()
for name in ("worker-a", "worker-b", "other"):
    threading.Thread(target=park, name=name, daemon=True).start()
"""


@pytest.fixture
def workers(loaded: Kernel) -> Kernel:
    loaded.execute(WORKERS)
    yield loaded
    loaded.execute("stop.set()")


def test_default_shows_html_and_text(workers: Kernel) -> None:
    (data,) = workers.execute("%stackdump").displays
    assert set(data) == {"text/plain", "text/html", MIME_TYPE}
    assert StackSnapshot.from_dict(data[MIME_TYPE]["snapshot"]).pid == workers.pid
    text = data["text/plain"]
    assert "(magic)" in text
    assert "Cell In[3], line 1, in <module>" in text  # the cell that runs the magic
    assert "line 4, in park" in text and "stop.wait()" in text
    assert "waiting on an event" in text
    assert "ipysigtrace" not in text.split("\n", 1)[1], "our own frames are hidden"
    assert "<details" in data["text/html"] and "worker-a" in data["text/html"]


def test_filter_by_name_and_ident(workers: Kernel) -> None:
    text = workers.execute("%stackdump worker-* --format text").displays[0]["text/plain"]
    assert "2 threads worker-a, worker-b: waiting on an event" in text
    assert "Thread other" not in text and "Thread MainThread" not in text
    ident = workers.execute("[t.ident for t in threading.enumerate() if t.name == 'other'][0]")
    text = workers.execute(f"%stackdump {ident.result} -f text").displays[0]["text/plain"]
    assert "Thread other" in text and "worker-a" not in text


def test_all_and_limit(workers: Kernel) -> None:
    full = workers.execute("%stackdump --all -f text").displays[0]["text/plain"]
    assert "Thread IOPub" in full and "interactiveshell.py" in full
    short = workers.execute("%stackdump other --limit 3 -f text").displays[0]["text/plain"]
    frames = [line for line in short.splitlines() if line.startswith(("  File", "  Cell"))]
    names = ["park", "Event.wait", "Condition.wait"]
    assert [f.rsplit(" in ", 1)[1] for f in frames] == [function_name(n) for n in names]


def test_json_round_trips(workers: Kernel) -> None:
    data = workers.execute("%stackdump --format json").displays[0]["text/plain"]
    snapshot = StackSnapshot.from_json(data)
    assert snapshot.pid == workers.pid
    assert {"worker-a", "worker-b", "other", "MainThread"} <= {t.name for t in snapshot.threads}
    assert StackSnapshot.from_dict(json.loads(snapshot.to_json())) == snapshot


def test_write_to_file(workers: Kernel, tmp_path) -> None:
    target = tmp_path / "stacks.json"
    reply = workers.execute(f"%stackdump -o {target}")
    assert f"as json to {target}" in reply.stdout
    assert StackSnapshot.from_json(target.read_text()).pid == workers.pid
    text_file = tmp_path / "stacks.txt"
    workers.execute(f"%stackdump other -o {text_file}")
    assert "Thread other" in text_file.read_text()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--bogus", "unrecognized arguments: --bogus"),
        ("--limit x", "invalid int value"),
        ("--limit -1", "--limit must be 0 or more"),
        ("--format xml", "invalid choice"),
        ("no-such-thread", "no thread matches no-such-thread"),
        ("-o /nonexistent/dir/x.txt", "cannot write /nonexistent/dir/x.txt"),
        ("'unbalanced", "cannot read the options: no closing quotation"),
        ("--limt 5", "unrecognized arguments: --limt"),
        ("-h", "unrecognized arguments: -h"),
        ("--after 3000000h", "--after: 3000000h is too long: durations go up to a week (168 h)"),
        ("--after 9999999999999999999999s", "--after: 9999999999999999999999s is too long"),
        ("--live 8d", "--live: 8d is too long"),
        ("--after soon", "--after: 'soon' is not a duration such as 30s, 10m or 2h"),
        ("--after 1e400", "--after: '1e400' is not a duration"),
        ("--live=-1s", "--live: '-1s' is not a duration"),
        ("--after 0", "--after: '0' is not a duration"),
        ("--limit 99999999999999999999999999 nope", "no thread matches nope"),
    ],
)
def test_bad_input_gets_one_clear_message(loaded: Kernel, line: str, message: str) -> None:
    reply = loaded.execute(f"%stackdump {line}")
    assert message in reply.stderr
    assert "UsageError" in reply.stderr
    assert "Traceback" not in reply.stderr and not reply.errors
    assert loaded.execute_after_error("40 + 2").result == "42"


def test_a_wrong_option_shows_the_usage(loaded: Kernel) -> None:
    stderr = loaded.execute("%stackdump --limt 5").stderr
    first, usage, hint = stderr.strip().splitlines()
    assert first == "UsageError: unrecognized arguments: --limt"
    assert usage.startswith("usage: %stackdump [-a] [-l N]") and "[--live [INTERVAL]]" in usage
    assert hint == "%stackdump? explains each option"


def test_thread_names_in_a_message_are_escaped(workers: Kernel) -> None:
    workers.execute("threading.Thread(target=park, name='\\x1b]2;PWNED\\x07', daemon=True).start()")
    stderr = workers.execute("%stackdump nothing-like-it").stderr
    assert "\\x1b]2;PWNED\\x07" in stderr and "\x1b" not in stderr


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_a_live_interval_has_a_least(loaded: Kernel) -> None:
    reply = loaded.execute("%stackdump --live 1ms")
    assert "ipysigtrace: --live 1ms is too short; using 0.5 s, the least" in reply.stdout
    model_id = reply.displays[0][WIDGET_VIEW]["model_id"]
    cell = loaded.collect(loaded.submit("import time\ntime.sleep(2)"))
    updates = [
        m
        for m in cell.messages
        if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == model_id
    ]
    assert 1 <= len(updates) <= 2 / 0.5 + 2, f"{len(updates)} updates in 2 s"
    loaded.execute("%stackdump --live off")


def test_the_watchdog_has_a_least_and_survives_a_refused_limit(loaded: Kernel) -> None:
    refused = loaded.execute("%stackdump --after 3000000h")
    assert "too long" in refused.stderr and "Traceback" not in refused.stderr
    reply = loaded.execute_after_error("%stackdump --after 1ms")
    assert "ipysigtrace: --after 1ms is too short; using 1 s, the least" in reply.stdout
    msg_id = loaded.submit("import time\ntime.sleep(3)")
    dump = loaded.wait_for_display(msg_id, timeout=30)  # the watcher is alive: at 1 s
    assert "Cell In[" in dump["text/plain"]
    rest = loaded.collect(msg_id)
    assert len(rest.displays) <= 2, "1 s, then 2 s (and 4 s), not a dump every microsecond"
    loaded.execute("%stackdump --after off")


def test_help(loaded: Kernel) -> None:
    reply = loaded.execute("%stackdump?")
    payload = reply.reply["content"]["payload"]
    shown = payload[0]["data"]["text/plain"] if payload else reply.stdout
    assert "--limit" in shown and "kill -USR2" in shown


def test_locals_without_running_user_code(loaded: Kernel) -> None:
    code = """\
import threading
class Stuck:
    def __repr__(self):
        threading.Event().wait()  # a repr that never returns
def frame_with_locals():
    count, label, token, stuck = 3, "<script>alert(1)</script>", "s3cr3t", Stuck()
    get_ipython().run_line_magic("stackdump", "MainThread --locals")
frame_with_locals()
"""
    reply = loaded.execute(code, timeout=30)
    assert reply.status == "ok" and not reply.errors
    data = reply.displays[0]
    text, html = data["text/plain"], data["text/html"]
    assert "      count = 3  (int)" in text
    assert "      token = ******  (str)" in text
    assert "Stuck at 0x" in text
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_cells_top_level_shows_the_notebooks_globals_as_such(loaded: Kernel) -> None:
    loaded.execute("rows_loaded = 12")
    reply = loaded.execute("%stackdump MainThread --locals -f text", timeout=30)
    assert reply.status == "ok" and not reply.errors
    text = reply.displays[0]["text/plain"]
    top = text.index(", in <module>")
    heading = text.index("notebook globals:", top)
    assert top < heading < text.index("rows_loaded = 12  (int)", heading)
    # A function's frame lists its locals under no heading.
    assert text.count("globals:") == 1


def test_a_suspended_coroutine_shows_its_locals(loaded: Kernel) -> None:
    code = """\
import asyncio, threading
started, suspended, loops = threading.Event(), threading.Event(), []
async def poll_service(url):
    attempts = 3
    loops.append(asyncio.get_running_loop())
    started.set()
    await asyncio.sleep(10**6)
threading.Thread(
    target=asyncio.run, args=(poll_service("http://svc"),), name="service-loop", daemon=True
).start()
started.wait(10)
loops[0].call_soon_threadsafe(suspended.set)  # runs once the task has suspended
suspended.wait(10)
get_ipython().run_line_magic("stackdump", "service-loop --locals -f text")
"""
    reply = loaded.execute(code, timeout=30)
    assert reply.status == "ok" and not reply.errors
    text = reply.displays[0]["text/plain"]
    task = text[text.index("asyncio task") :]
    frame = task[task.index("in poll_service") :]
    assert "attempts = 3  (int)" in frame and "url = 'http://svc'  (str)" in frame


def test_locals_repr_with_pathological_reprs(loaded: Kernel) -> None:
    code = """\
import threading
held = threading.Lock()
class Point:
    def __repr__(self):
        return "Point(1, 2)"
class Raises:
    def __repr__(self):
        raise ValueError("nope")
class Forever:
    def __repr__(self):
        while True:
            pass
class WaitsForTheLock:
    def __repr__(self):
        with held:
            return "never"
class Huge:
    def __repr__(self):
        return "x" * 10**6
def frame_with_locals():
    p, r, f, w, h = Point(), Raises(), Forever(), WaitsForTheLock(), Huge()
    with held:  # this thread holds the lock that w's repr waits for
        get_ipython().run_line_magic("stackdump", "MainThread --locals=repr -f text")
frame_with_locals()
"""
    reply = loaded.execute(code, timeout=30)
    assert reply.status == "ok" and not reply.errors
    text = reply.displays[0]["text/plain"]
    assert "p = Point(1, 2)  (Point)" in text
    assert "r = <repr raised ValueError>" in text
    assert "f = <repr did not return within 0.2 s>" in text
    assert "w = <repr did not return within 0.2 s>" in text
    assert max(len(line) for line in text.splitlines()) < 300, "a huge repr is cut"
    assert loaded.execute("40 + 2").result == "42"
    again = loaded.execute("%stackdump --status")
    assert "watcher thread ipysigtrace-watcher: alive" in again.stdout


def test_bad_locals_mode(loaded: Kernel) -> None:
    reply = loaded.execute("%stackdump --locals=eval")
    assert "invalid choice" in reply.stderr and "Traceback" not in reply.stderr


def test_a_real_time_signal(loaded: Kernel, tmp_path) -> None:
    moved = loaded.execute("%config IPySigTrace.signal = 'SIGRTMIN+1'")
    assert "SIGRTMIN+1 handler and watcher installed" in moved.stdout, moved.stderr
    assert f"kill -RTMIN+1 {loaded.pid}" in moved.stdout
    assert "signal SIGRTMIN+1" in loaded.execute("%stackdump --status").stdout
    flag = tmp_path / "done"
    msg_id = loaded.submit(
        f"import os, time\nprint('started', flush=True)\n"
        f"while not os.path.exists({str(flag)!r}):\n    time.sleep(0.05)"
    )
    loaded.wait_for(msg_id, "stream")  # the cell runs
    loaded.signal(signal.SIGRTMIN + 1)
    dump = loaded.wait_for_display(msg_id, timeout=30)
    assert "(signal)" in dump["text/plain"] and "runs the cell" in dump["text/plain"]
    flag.touch()
    assert loaded.collect(msg_id).status == "ok"
    refused = loaded.execute("%config IPySigTrace.signal = 'SIGALRM'")
    assert "SIGALRM cannot be used for stack dumps: timers use it" in refused.stderr
