"""Signal-to-dump latency and idle cost, in a real kernel (`make latency`).

Latency: loads ipysigtrace, runs a cell that spins in pure Python, and sends SIGUSR2 again
and again. For each signal it reads two times from the same clock: when the watcher had
frozen the stacks (from the dump's metadata) and when the dump reached this client on
iopub. Prints medians and the 90th percentile.

Idle cost: times a CPU-bound cell (recursive fib) inside the kernel with the extension
unloaded and loaded, alternating, and prints the ratio of the medians.

This is a measurement, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from queue import Empty

from jupyter_client.manager import KernelManager

from ipysigtrace.demo import write_kernelspec
from ipysigtrace.procinfo import catches

SPIN = "def spin():\n    while True:\n        pass\nspin()"
FIB = """\
import time
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def timed():
    start = time.perf_counter()
    fib(27)
    return time.perf_counter() - start
"""


def _start(name: str, root: str) -> tuple[KernelManager, object]:
    write_kernelspec(root, name, autoload=False)
    os.environ["JUPYTER_PATH"] = root
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def _value(kc: object, code: str) -> str:
    out: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "execute_result":
            out.append(msg["content"]["data"]["text/plain"])

    kc.execute_interactive(code, timeout=120, output_hook=hook)  # type: ignore[attr-defined]
    return out[-1] if out else ""


def idle_cost(rounds: int) -> tuple[list[float], list[float]]:
    without, with_ = [], []
    with tempfile.TemporaryDirectory() as root:
        km, kc = _start("ipysigtrace-idle", root)
        try:
            _value(kc, FIB)
            _value(kc, "timed()")  # warm up
            for _ in range(rounds):
                _value(kc, "%unload_ext ipysigtrace")
                without.append(float(_value(kc, "timed()")))
                _value(kc, "%load_ext ipysigtrace")
                with_.append(float(_value(kc, "timed()")))
        finally:
            kc.stop_channels()  # type: ignore[attr-defined]
            km.shutdown_kernel(now=True)
    return without, with_


def measure(rounds: int, pause: float) -> tuple[list[float], list[float]]:
    frozen, received = [], []
    with tempfile.TemporaryDirectory() as root:
        km, kc = _start("ipysigtrace-latency", root)
        try:
            kc.execute_interactive("%load_ext ipysigtrace", timeout=30, output_hook=lambda m: None)
            pid = km.provisioner.process.pid
            if not catches(pid, signal.SIGUSR2):
                sys.exit("ipysigtrace did not load in the kernel: not sending SIGUSR2")
            msg_id = kc.execute(SPIN)
            time.sleep(1.0)
            for _ in range(rounds):
                time.sleep(pause)
                sent = time.time()
                os.kill(pid, signal.SIGUSR2)
                while True:
                    try:
                        msg = kc.get_iopub_msg(timeout=5)
                    except Empty:
                        sys.exit("no dump within 5 s")
                    if (
                        msg["msg_type"] == "display_data"
                        and msg["parent_header"].get("msg_id") == msg_id
                    ):
                        got = time.time()
                        facts = msg["content"]["metadata"]["ipysigtrace"]
                        frozen.append(facts["time"] + facts["freeze_seconds"] - sent)
                        received.append(got - sent)
                        break
            km.interrupt_kernel()
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return frozen, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between signals")
    parser.add_argument("--idle-rounds", type=int, default=15, help="0 skips the idle cost")
    args = parser.parse_args()
    frozen, received = measure(args.rounds, args.pause)
    for name, values in (
        ("signal -> stacks frozen", frozen),
        ("signal -> dump received", received),
    ):
        ms = sorted(v * 1000 for v in values)
        p90 = ms[int(len(ms) * 0.9) - 1]
        print(f"{name:26} median {statistics.median(ms):6.2f} ms   p90 {p90:6.2f} ms   n={len(ms)}")
    if args.idle_rounds:
        without, with_ = idle_cost(args.idle_rounds)
        a, b = statistics.median(without), statistics.median(with_)
        print(
            f"{'idle cost, fib(27) cell':26} without {a * 1000:6.1f} ms   with {b * 1000:6.1f} ms"
            f"   ratio {b / a:.3f}   n={len(without)} each, alternating"
        )


if __name__ == "__main__":
    main()
