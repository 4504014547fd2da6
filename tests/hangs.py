"""The hangs ipysigtrace is tried on, in one place: the kernel tests, the hang zoo and the
benchmark all take theirs from here.

Each hang is a cell that never ends by itself, with what its dump must show once it hangs
(``shows``: text that appears only then), and the state the dump gives the thread that
runs the cell; whether ipykernel can interrupt it; and whether only the raw dump can
answer (native code holds the GIL, so no Python thread runs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hang:
    """A cell that hangs, and what its dump must say."""

    name: str
    code: str
    shows: str  # text of the dump once the cell has reached its hang
    state: str  # the state of the thread that runs the cell, as the dump says it
    setup: str = ""  # a cell to run before
    interruptible: bool = True
    raw: bool = False  # native code holds the GIL: only faulthandler's raw dump answers
    module: tuple[str, str] | None = None  # (name, source) of a module the cell imports


HANGS = (
    Hang("loop", "def spin():\n    while True:\n        pass\nspin()", "in spin", "running"),
    Hang(
        "sleep",
        "import time\ndef nap():\n    time.sleep(10**6)\nnap()",
        "line 3, in nap",
        "sleeping",
    ),
    Hang(
        "lock",
        "def wait():\n    held.acquire()\nwait()",
        "line 2, in wait",
        "waiting for a lock",
        setup="import threading\nheld = threading.Lock()\nheld.acquire()",
    ),
    Hang(
        "deadlock",
        "import threading, time\n"
        "a, b = threading.Lock(), threading.Lock()\n"
        "def one():\n    with a:\n        time.sleep(0.2)\n        b.acquire()\n"
        "def two():\n    with b:\n        time.sleep(0.2)\n        a.acquire()\n"
        "t1 = threading.Thread(target=one, name='first', daemon=True)\n"
        "t2 = threading.Thread(target=two, name='second', daemon=True)\n"
        "t1.start(); t2.start()\n"
        "t1.join()",
        "a.acquire()",
        "waiting for a thread",
    ),
    Hang(
        "queue",
        "import queue\ndef consume(q):\n    return q.get()\nconsume(queue.Queue())",
        "line 3, in consume",
        "waiting on a queue",
    ),
    Hang(
        "recursion",
        "import sys\nsys.setrecursionlimit(20000)\n"
        "def dive(n):\n    if n == 0:\n        while True:\n            pass\n"
        "    return dive(n - 1)\ndive(5000)",
        "more times ...]",
        "running",
    ),
    Hang(
        "idle threads",
        "while True:\n    pass",
        "while True:",
        "running",
        setup="import threading\nstop = threading.Event()\n"
        "idle = [threading.Thread(target=stop.wait, name=f'idle-{i}', daemon=True)"
        " for i in range(300)]\nfor t in idle:\n    t.start()",
    ),
    Hang(
        "import",
        "import never_finishes",
        "in top_level",
        "running",
        module=("never_finishes", "def top_level():\n    while True:\n        pass\ntop_level()\n"),
    ),
    Hang(
        "await",
        "import asyncio\nasync def wait_for(q):\n    return await q.get()\n"
        "await wait_for(asyncio.Queue())",
        "line 3, in wait_for",
        "waiting for I/O",
        interruptible=False,  # ipykernel cannot interrupt an await that never completes
    ),
    Hang(
        "native",
        # It sleeps first: once native code holds the GIL, not even execute_input goes out.
        "import itertools, time\ndef native():\n    sum(itertools.repeat(1))\n"
        "time.sleep(0.3)\nnative()",
        "in native",
        "unknown",
        interruptible=False,  # KeyboardInterrupt waits for sum() to return: never
        raw=True,
    ),
)


def hang(name: str) -> Hang:
    """The hang of this name."""
    return next(h for h in HANGS if h.name == name)
