"""Signal-to-dump latency with the main thread in a pure-Python loop (`make latency`).

Starts a real kernel, loads ipysigtrace, runs a cell that spins, and sends SIGUSR2 again
and again. For each signal it reads two times from the same clock: when the watcher had
frozen the stacks (from the dump's metadata) and when the dump reached this client on
iopub. Prints medians and the 90th percentile. This is a measurement, not a test.
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

SPIN = "def spin():\n    while True:\n        pass\nspin()"


def measure(rounds: int, pause: float) -> tuple[list[float], list[float]]:
    frozen, received = [], []
    with tempfile.TemporaryDirectory() as root:
        write_kernelspec(root, "ipysigtrace-latency")
        os.environ["JUPYTER_PATH"] = root
        km = KernelManager(kernel_name="ipysigtrace-latency")
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            kc.execute_interactive("%load_ext ipysigtrace", timeout=30, output_hook=lambda m: None)
            pid = km.provisioner.process.pid
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
    args = parser.parse_args()
    frozen, received = measure(args.rounds, args.pause)
    for name, values in (
        ("signal -> stacks frozen", frozen),
        ("signal -> dump received", received),
    ):
        ms = sorted(v * 1000 for v in values)
        p90 = ms[int(len(ms) * 0.9) - 1]
        print(f"{name:26} median {statistics.median(ms):6.2f} ms   p90 {p90:6.2f} ms   n={len(ms)}")


if __name__ == "__main__":
    main()
