"""Every kind of hang, in real kernels: does a dump come, and does the kernel survive?

`make hangzoo` (or `python scripts/hangzoo.py [--only NAME ...]`) runs each hang in a fresh
kernel with ipysigtrace loaded, asks for a dump the way a user would (SIGUSR2; for native
code holding the GIL, the raw signal the server extension sends, SIGURG), then interrupts
the cell and runs one more. It prints a table: hang, dump kind, latency, kernel alive,
next cell ran. Latencies are single measurements on a shared machine: indicative only.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from harness import KERNEL_NAME, Kernel
from ipysigtrace.demo import write_kernelspec
from ipysigtrace.procinfo import catches
from ipysigtrace.rawdump import collect

HANGS: dict[str, tuple[str, str]] = {
    # name: (setup-free cell that hangs, the function the dump must name)
    "pure-Python loop": ("def spin():\n    while True:\n        pass\nspin()", "spin"),
    "time.sleep": ("import time\ndef nap():\n    time.sleep(10**6)\nnap()", "nap"),
    "deadlock": (
        "import threading, time\na, b = threading.Lock(), threading.Lock()\n"
        "def one():\n    with a:\n        time.sleep(0.2)\n        b.acquire()\n"
        "def two():\n    with b:\n        time.sleep(0.2)\n        a.acquire()\n"
        "t1 = threading.Thread(target=one, daemon=True); t1.start()\n"
        "threading.Thread(target=two, daemon=True).start()\nt1.join()",
        "one",
    ),
    "queue.get": (
        "import queue\ndef consume(q):\n    return q.get()\nconsume(queue.Queue())",
        "consume",
    ),
    "recursion 5,000": (
        "import sys\nsys.setrecursionlimit(20000)\ndef dive(n):\n    if n == 0:\n"
        "        while True:\n            pass\n    return dive(n - 1)\ndive(5000)",
        "dive",
    ),
    "300 idle threads": (
        "import threading\nstop = threading.Event()\nfor i in range(300):\n"
        "    threading.Thread(target=stop.wait, daemon=True).start()\n"
        "def busy():\n    while True:\n        pass\nbusy()",
        "busy",
    ),
    "stuck in an import": ("import never_finishes", "top_level"),
    "top-level await": (
        "import asyncio\nasync def wait_for(q):\n    return await q.get()\n"
        "await wait_for(asyncio.Queue())",
        "wait_for",
    ),
    "native code holds the GIL": (
        "import itertools\ndef native():\n    return sum(itertools.repeat(1, 4 * 10**8))\nnative()",
        "native",
    ),
}


def run_one(name: str, code: str, expect: str, modules: str) -> tuple[str, str, str, str, str]:
    kernel = Kernel()
    try:
        kernel.execute(f"import sys\nsys.path.insert(0, {modules!r})\n%load_ext ipysigtrace")
        msg_id = kernel.submit(code)
        kernel.wait_for(msg_id, "execute_input")
        time.sleep(1.0)
        native = "GIL" in name
        start = time.perf_counter()
        if native:
            raw = collect(os.environ["JUPYTER_RUNTIME_DIR"], kernel.pid, timeout=2)
            kind, found = "raw", raw is not None and expect in raw.to_json()
        else:
            if not catches(kernel.pid, signal.SIGUSR2):  # never signal a process without it
                raise RuntimeError("ipysigtrace did not load in the kernel")
            kernel.signal()
            data = kernel.wait_for_display(msg_id, timeout=5)
            kind, found = "rich", f"in {expect}" in data["text/plain"]
        latency = f"{(time.perf_counter() - start) * 1000:.1f} ms" if found else "NO DUMP"
        kernel.km.interrupt_kernel()
        try:
            kernel.collect(msg_id, timeout=20)
            ran = "yes" if kernel.execute("40 + 2", timeout=20).result == "42" else "no"
        except TimeoutError:
            ran = "no: cannot be interrupted"
        alive = "yes" if kernel.alive() else "NO"
        return name, kind, latency, alive, ran
    finally:
        kernel.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these (substrings)")
    args = parser.parse_args()
    chosen = [n for n in HANGS if not args.only or any(o in n for o in args.only)]
    with tempfile.TemporaryDirectory(prefix="hangzoo-") as root:
        write_kernelspec(root, KERNEL_NAME)
        os.environ["JUPYTER_PATH"] = root
        os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(root, "runtime")
        modules = os.path.join(root, "modules")
        os.makedirs(modules)
        Path(modules, "never_finishes.py").write_text(
            "def top_level():\n    while True:\n        pass\ntop_level()\n"
        )
        rows = [run_one(name, *HANGS[name], modules) for name in chosen]
    header = ("hang", "dump", "latency", "kernel alive", "next cell ran")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    failed = [r for r in rows if r[2] == "NO DUMP" or r[3] != "yes"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
