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
import queue
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from hangs import HANGS, Hang
from harness import KERNEL_NAME, Kernel
from ipysigtrace.demo import write_kernelspec
from ipysigtrace.procinfo import catches
from ipysigtrace.rawdump import collect
from ipysigtrace.render import text


def until_deaf(kernel: Kernel, timeout: float = 60) -> None:
    """Until the kernel's control channel stops answering: native code holds the GIL.

    Only then is the raw signal sent, as the server and the command line do: faulthandler
    walks the other threads' frames without the GIL, and a thread that runs Python
    meanwhile can crash the kernel (README, "When native code holds the GIL").
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            kernel.ask("status", timeout=1)
        except queue.Empty:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the kernel still answers: native code never took the GIL")


def run_one(case: Hang, modules: str) -> tuple[str, str, str, str, str]:
    kernel = Kernel()  # ipysigtrace loads itself, as in every kernel where it is installed
    try:
        kernel.execute(f"import sys\nsys.path.insert(0, {modules!r})")
        if case.setup:
            kernel.execute(case.setup)
        msg_id = kernel.submit(case.code)
        kernel.wait_for(msg_id, "execute_input")
        if case.raw:
            until_deaf(kernel)
            start = time.perf_counter()
            raw = collect(os.environ["JUPYTER_RUNTIME_DIR"], kernel.pid, timeout=10)
            kind, found = "raw", raw is not None and case.shows in text.render(raw)
        else:
            kernel.wait_until_cell_runs()
            if not catches(kernel.pid, signal.SIGUSR2):  # never signal a process without it
                raise RuntimeError("ipysigtrace did not load in the kernel")
            start = time.perf_counter()
            found, deadline = False, time.monotonic() + 30
            while not found and time.monotonic() < deadline:  # until the cell hangs
                kernel.signal()
                found = case.shows in kernel.wait_for_display(msg_id, timeout=30)["text/plain"]
            kind = "rich"
        latency = f"{(time.perf_counter() - start) * 1000:.1f} ms" if found else "NO DUMP"
        if case.interruptible:
            kernel.km.interrupt_kernel()
            kernel.collect(msg_id, timeout=60)
            ran = "yes" if kernel.execute_after_error("40 + 2").result == "42" else "no"
        else:
            ran = "no: cannot be interrupted"
        alive = "yes" if kernel.alive() else f"NO: {kernel.how_it_ended()}"
        return case.name, kind, latency, alive, ran
    finally:
        kernel.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these (substrings)")
    args = parser.parse_args()
    chosen = [h for h in HANGS if not args.only or any(o in h.name for o in args.only)]
    with tempfile.TemporaryDirectory(prefix="hangzoo-") as root:
        write_kernelspec(root, KERNEL_NAME)
        os.environ["JUPYTER_PATH"] = root
        os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(root, "runtime")
        modules = os.path.join(root, "modules")
        os.makedirs(modules)
        for case in HANGS:
            if case.module:
                Path(modules, f"{case.module[0]}.py").write_text(case.module[1])
        rows = [run_one(case, modules) for case in chosen]
    header = ("hang", "dump", "latency", "kernel alive", "next cell ran")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    failed = [r for r in rows if r[2] == "NO DUMP" or r[3] != "yes"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
