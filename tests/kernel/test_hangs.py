"""Each kind of hang, in a real kernel: the signal puts the stack under the hung cell."""

from __future__ import annotations

import re

import pytest

from hangs import HANGS, Hang
from harness import Kernel

pytestmark = pytest.mark.kernel


def dump_of_hang(kernel: Kernel, code: str, *reached: str) -> tuple[str, str, str]:
    """Run a hanging cell; signal until its dump shows every one of ``reached`` (the cell
    has got to its hang: pass the frames the test then asserts, since a dump taken a moment
    earlier shows a thread before its wait, or a task not yet started at its ``def`` line);
    return (text, html, msg_id) of that dump."""
    msg_id = kernel.submit(code)
    kernel.wait_for(msg_id, "execute_input")
    kernel.wait_until_cell_runs()  # before that, a dump counts as made while idle
    data = kernel.dump_showing(msg_id, *reached)["data"]
    return data["text/plain"], data["text/html"], msg_id


RICH = [h for h in HANGS if not h.raw]


@pytest.mark.parametrize("case", RICH, ids=[h.name for h in RICH])
def test_every_hang_gets_its_dump_under_the_cell(loaded: Kernel, case: Hang, tmp_path) -> None:
    """The catalogue: each hang's dump names where it waits and how, and it is interrupted."""
    if case.module:
        name, source = case.module
        (tmp_path / f"{name}.py").write_text(source)
        loaded.execute(f"import sys\nsys.path.insert(0, {str(tmp_path)!r})")
    if case.setup:
        assert loaded.execute(case.setup).status == "ok"
    text, html, msg_id = dump_of_hang(loaded, case.code, case.shows)
    block = main_thread_block(text)
    assert block.splitlines()[0].endswith(f": {case.state}"), block
    assert "runs the cell" in html
    if case.interruptible:
        hung = loaded.interrupt_and_check(msg_id)
        assert hung.errors and hung.errors[0]["ename"] == "KeyboardInterrupt"
    else:
        assert loaded.alive(), loaded.how_it_ended()  # the fixture shuts it down


def main_thread_block(text: str) -> str:
    """The part of a text dump that shows the thread running the cell."""
    start = text.index("runs the cell")
    end = text.find("\nThread ", start)
    return text[start : end if end > 0 else None]


def test_pure_python_loop(loaded: Kernel) -> None:
    text, html, msg_id = dump_of_hang(
        loaded, "def spin():\n    while True:\n        pass\nspin()", "in spin"
    )
    block = main_thread_block(text)
    assert "Cell In[2], line 2, in spin" in block
    assert "while True:" in block
    assert "Cell In[2]" in html and "spin" in html
    hung = loaded.interrupt_and_check(msg_id)
    assert hung.errors[0]["ename"] == "KeyboardInterrupt"
    assert not hung.displays, "one signal, one dump"


def test_sleep(loaded: Kernel) -> None:
    text, _, msg_id = dump_of_hang(
        loaded, "import time\ndef nap():\n    time.sleep(10**6)\nnap()", "line 3, in nap"
    )
    block = main_thread_block(text)
    assert "Cell In[2], line 3, in nap" in block
    assert block.splitlines()[0].endswith(": sleeping"), block
    loaded.interrupt_and_check(msg_id)


def test_two_threads_deadlocked(loaded: Kernel) -> None:
    code = """\
import threading, time
a, b = threading.Lock(), threading.Lock()
def one():
    with a:
        time.sleep(0.2)
        b.acquire()
def two():
    with b:
        time.sleep(0.2)
        a.acquire()
t1 = threading.Thread(target=one, name="first", daemon=True)
t2 = threading.Thread(target=two, name="second", daemon=True)
t1.start(); t2.start()
t1.join()
"""
    text, _, msg_id = dump_of_hang(loaded, code, "line 6, in one", "line 10, in two")
    assert "Thread first" in text and "Thread second" in text
    first = text[text.index("Thread first") :]
    second = text[text.index("Thread second") :]
    assert "line 6, in one" in first and "b.acquire()" in first
    assert "line 10, in two" in second and "a.acquire()" in second
    assert "waiting for a lock" in text
    # The cell thread waits in join(): the dump shows it too.
    assert "line 14, in <module>" in main_thread_block(text)
    loaded.interrupt_and_check(msg_id)


def test_queue_get(loaded: Kernel) -> None:
    code = "import queue\ndef consume(q):\n    return q.get()\nconsume(queue.Queue())"
    text, _, msg_id = dump_of_hang(loaded, code, "line 3, in consume")
    block = main_thread_block(text)
    assert "Cell In[2], line 3, in consume" in block
    assert "waiting on a queue" in block
    loaded.interrupt_and_check(msg_id)


def test_deep_recursion_is_folded(loaded: Kernel) -> None:
    code = """\
import sys
sys.setrecursionlimit(20000)
def dive(n):
    if n == 0:
        while True:
            pass
    return dive(n - 1)
dive(5000)
"""
    text, html, msg_id = dump_of_hang(loaded, code, "4,999 more times ...]", "line 5, in dive")
    block = main_thread_block(text)
    assert "[... dive at line 7, 4,999 more times ...]" in block
    assert "Cell In[2], line 5, in dive" in block
    assert len(text.splitlines()) < 40, "a 5,000-deep stack must stay short"
    assert len(html) < 20_000
    loaded.interrupt_and_check(msg_id)


def test_three_hundred_idle_threads(loaded: Kernel) -> None:
    setup = """\
import threading
stop = threading.Event()
idle = [threading.Thread(target=stop.wait, name=f"idle-{i}", daemon=True) for i in range(300)]
for t in idle:
    t.start()
"""
    loaded.execute(setup)
    # One section for the 300 (same stack), named in natural order, after the cell's.
    group = "\n300 threads idle-0 … idle-299: waiting on an event\n  threads: idle-0 … idle-299\n"
    text, _, msg_id = dump_of_hang(loaded, "while True:\n    pass", "Cell In[3]", group)
    assert group in text and "Thread idle-" not in text
    assert "Cell In[3], line 1, in <module>" in main_thread_block(text)
    assert text.index("runs the cell") < text.index(group)
    # The summary counts the threads shown: the cell's and the 300; the kernel's are hidden.
    assert re.search(r": 301 threads: 1 running, 300 waiting \(\d+ hidden\)\n", text), text[:200]
    loaded.interrupt_and_check(msg_id)
    loaded.execute("stop.set()")


def test_cell_stuck_inside_an_import(loaded: Kernel, tmp_path) -> None:
    (tmp_path / "never_finishes.py").write_text(
        "def top_level():\n    while True:\n        pass\ntop_level()\n"
    )
    code = f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport never_finishes"
    text, _, msg_id = dump_of_hang(loaded, code, 'never_finishes.py", line 2, in top_level')
    block = main_thread_block(text)
    assert "Cell In[2], line 3, in <module>" in block
    assert 'never_finishes.py", line 2, in top_level' in block
    loaded.interrupt_and_check(msg_id)


def test_top_level_await(loaded: Kernel) -> None:
    code = """\
import asyncio
async def fetch_forever(queue):
    return await queue.get()
async def background():
    await asyncio.Event().wait()
helper = asyncio.ensure_future(background())
await fetch_forever(asyncio.Queue())
"""
    text, html, _ = dump_of_hang(loaded, code, "line 3, in fetch_forever", "line 5, in background")
    block = main_thread_block(text)
    assert "asyncio task" in block
    assert "Cell In[2], line 7, in <module>" in block
    assert "Cell In[2], line 3, in fetch_forever" in block and "await queue.get()" in block
    assert "Cell In[2], line 5, in background" in block
    assert "waiting on a Future" in block
    assert "queue = " not in block, "a dump that did not ask for locals shows none of a task's"
    assert "asyncio task" in html
    # ipykernel cannot interrupt a cell awaiting a future that never completes (with or
    # without ipysigtrace); the kernel is alive, and the fixture shuts it down.
    assert loaded.alive(), loaded.how_it_ended()


def test_event_loop_on_another_thread(loaded: Kernel) -> None:
    code = """\
import asyncio, threading
async def poll_service():
    await asyncio.sleep(10**6)
def run_loop():
    asyncio.run(poll_service())
threading.Thread(target=run_loop, name="service-loop", daemon=True).start()
import time
time.sleep(10**6)
"""
    text, _, msg_id = dump_of_hang(loaded, code, "in poll_service")
    service = text[text.index("Thread service-loop") :]
    assert "asyncio task" in service and "in poll_service" in service
    loaded.interrupt_and_check(msg_id)
