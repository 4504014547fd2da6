"""What worker processes pay for answering for their stacks, and how fast they answer
(`make bench-children`).

Run as ``.venv/bin/python scripts/bench_children.py [--rounds N]``. Sections:

1. A child that is never asked: ``Pool.map`` of 200,000 tiny tasks (chunks of 50) in a
   fresh Python, plain, and armed as under a loaded kernel (``IPYSIGTRACE_CHILDREN`` set
   and the at-fork hook registered, so every worker runs a responder thread), for the
   ``fork`` and ``spawn`` start methods; the pool's start is timed apart from the map.
2. A Python program's start: ``python -c pass``, plain and armed (the ``.pth`` line, the
   import of ``ipysigtrace.responder``, the socket and the thread).
3. Asking: four ``spawn`` workers blocked in ``time.sleep``: ``children.ask`` (all four at
   once, resolved) against ``py-spy dump --subprocesses`` of their parent (which needs
   ptrace rights; skipped with a line where py-spy cannot run).

The machine is shared and noisy: the things compared run alternately, rows give medians,
ratios are medians of the per-round ratios. Targets are printed as met / missed; nothing
here fails on a time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ipysigtrace.children import ask
from ipysigtrace.classify import FrameClassifier
from ipysigtrace.procinfo import child_processes
from ipysigtrace.responder import ENV, socket_path

POOL = """\
import multiprocessing, os, sys, time

def tiny(x):
    return x + 1

if __name__ == "__main__":
    if os.environ.get("IPYSIGTRACE_CHILDREN"):
        from ipysigtrace import responder
        responder.watch_forks()  # what a loaded kernel does: its forks answer too
    context = multiprocessing.get_context(sys.argv[1])
    start = time.perf_counter()
    with context.Pool(2) as pool:
        pool.map(tiny, range(100))  # every worker has started
        ready = time.perf_counter()
        pool.map(tiny, range(200_000), chunksize=50)
        done = time.perf_counter()
    print(ready - start, done - ready)
"""

WAITING = """\
import multiprocessing, sys, time

def nap(x):
    time.sleep(1000)

if __name__ == "__main__":
    pool = multiprocessing.get_context("spawn").Pool(4)
    pool.map_async(nap, range(4))
    print("ready", flush=True)
    time.sleep(1000)
"""


def environment(directory: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if directory is not None:
        env[ENV] = directory
    return env


def pool_round(script: Path, method: str, directory: str | None) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, str(script), method],
        env=environment(directory),
        capture_output=True,
        text=True,
        check=True,
    )
    start, run = (float(x) for x in done.stdout.split())
    return start, run


def start_round(directory: str | None) -> float:
    begin = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=environment(directory), check=True)
    return time.perf_counter() - begin


def ratio_row(name: str, plain: list[float], armed: list[float], target: float | None) -> None:
    ratios = [a / p for p, a in zip(plain, armed, strict=True)]
    ratio = statistics.median(ratios)
    verdict = "" if target is None else ("  met" if ratio <= target else "  MISSED")
    print(
        f"  {name:<28} plain {statistics.median(plain) * 1000:8.1f} ms   "
        f"armed {statistics.median(armed) * 1000:8.1f} ms   armed/plain {ratio:5.3f}"
        + (f" (target <= {target}){verdict}" if target else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = os.path.join(folder, "children")
        os.mkdir(directory, 0o700)
        script = Path(folder, "pool.py")
        script.write_text(POOL)
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.rounds} rounds")
        print("1. Pool.map of 200,000 tiny tasks (chunks of 50), 2 workers")
        for method in ("fork", "spawn"):
            rows: dict[str, list[float]] = {k: [] for k in ("ps", "pm", "as", "am")}
            for index in range(args.rounds):
                order = [None, directory] if index % 2 == 0 else [directory, None]
                for which in order:
                    start, run = pool_round(script, method, which)
                    key = "p" if which is None else "a"
                    rows[key + "s"].append(start)
                    rows[key + "m"].append(run)
            ratio_row(f"{method}: the map", rows["pm"], rows["am"], 1.02)
            ratio_row(f"{method}: the pool's start", rows["ps"], rows["as"], None)
        print("2. A Python program's start (python -c pass)")
        plain, armed = [], []
        for index in range(args.rounds * 5):
            if index % 2 == 0:
                plain.append(start_round(None))
                armed.append(start_round(directory))
            else:
                armed.append(start_round(directory))
                plain.append(start_round(None))
        ratio_row("start", plain, armed, None)
        extra = statistics.median(a - p for p, a in zip(plain, armed, strict=True)) * 1000
        print(f"  {'':<28} armed costs {extra:.1f} ms more")
        print("3. Asking four spawn workers blocked in time.sleep")
        asking(folder, directory, args.rounds)
    return 0


def asking(folder: str, directory: str, rounds: int) -> None:
    script = Path(folder, "waiting.py")
    script.write_text(WAITING)
    parent = subprocess.Popen(
        [sys.executable, str(script)], env=environment(directory), stdout=subprocess.PIPE
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 60
        while True:  # until each worker listens (the resource tracker is a child too)
            records = child_processes(parent.pid)
            workers = [r for r in records if "spawn_main" in r.command]
            listening = [r for r in workers if os.path.exists(socket_path(directory, r.pid))]
            if len(listening) == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        classifier = FrameClassifier()
        ours: list[float] = []
        spy: list[float] = []
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        spy_command = [py_spy, "dump", "--subprocesses", "--pid", str(parent.pid)]
        for _ in range(rounds):
            fresh = child_processes(parent.pid)
            begin = time.perf_counter()
            ask(directory, fresh, classifier)
            ours.append(time.perf_counter() - begin)
            answered = sum(1 for r in fresh if r.threads)
            if os.path.exists(py_spy):
                begin = time.perf_counter()
                done = subprocess.run(spy_command, capture_output=True, text=True)
                if done.returncode == 0:
                    spy.append(time.perf_counter() - begin)
        print(f"  children.ask: {answered} of {len(fresh)} children answered")
        if spy:
            ratios = [o / s for o, s in zip(ours, spy, strict=False)]
            print(
                f"  {'ask, resolved':<28} {statistics.median(ours) * 1000:8.1f} ms   "
                f"py-spy dump --subprocesses {statistics.median(spy) * 1000:8.1f} ms   "
                f"ratio {statistics.median(ratios):5.2f}"
            )
        else:
            print(f"  ask, resolved {statistics.median(ours) * 1000:.1f} ms; py-spy could not run")
    finally:
        left = child_processes(parent.pid)  # before the parent goes: they would be orphans
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        for record in left:
            with contextlib.suppress(OSError):
                os.kill(record.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
