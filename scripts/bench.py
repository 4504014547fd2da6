"""Benchmarks of ipysigtrace in real kernels, against py-spy and faulthandler (`make bench`).

Run as ``.venv/bin/python scripts/bench.py [--quick] [--json FILE]``. Sections:

1. Dump latency with the cell's thread hung in a pure-Python loop, ``time.sleep`` and a
   lock wait: signal -> stacks frozen (the dump's metadata time + freeze_seconds minus the
   send time, same clock), signal -> display_data received on iopub, and the round trip
   of ``ipysigtrace_request`` on the control channel (a client with a Session of its own,
   as ``ipysigtrace.server.ask`` does). Anchors on the same hang: ``py-spy dump --pid``
   wall time, and faulthandler's raw dump (SIGURG -> the raw file has stopped growing).
   Native code holding the GIL: only the raw dump against py-spy.
2. Scale: 10 / 200 / 1000 idle threads, recursion 1000 / 5000 deep, against py-spy.
3. Idle cost: CPU-bound cells timed inside the kernel, extension unloaded vs loaded.
4. Memory: kernel RSS before and after 1,000 dumps (control channel, then signals).

The machine is shared and noisy: the things compared run alternately (the order rotates
every round), rows give medians, and ratios are medians of the per-round ratios. Targets
are printed as met / missed; nothing here fails on a time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from bench_server import section_server
from bench_start import section_interrupts, section_start
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session
from jupyter_core.paths import jupyter_runtime_dir

from hangs import hang
from ipysigtrace.demo import write_kernelspec
from ipysigtrace.procinfo import catches
from ipysigtrace.protocol import REPLY, REQUEST, request, wait_for_reply
from ipysigtrace.rawdump import read_and_clear
from ipysigtrace.runtime import kernel_file
from ipysigtrace.snapshot import StackSnapshot

PAUSE = 0.05  # seconds between two measurements, so they never overlap

SPIN = hang("loop").code
SLEEP = hang("sleep").code
LOCK_SETUP, LOCK = hang("lock").setup, hang("lock").code
NATIVE = hang("native").code
THREADS_SETUP = """\
import threading
bench_event = threading.Event()
bench_threads = [
    threading.Thread(target=bench_event.wait, name=f"idle-{{i}}", daemon=True) for i in range({n})
]
for t in bench_threads:
    t.start()
len(bench_threads)
"""
THREADS_TEARDOWN = "bench_event.set()\nfor t in bench_threads:\n    t.join()\ndel bench_threads"
RECURSION = """\
import sys
sys.setrecursionlimit({n} + 500)
def deep(k):
    if k == 0:
        while True:
            pass
    deep(k - 1)
deep({n})
"""
IDLE_SETUP = """\
import time
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def loop(n):
    s = 0
    for i in range(n):
        s += i
    return s
def timed(f, arg, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        f(arg)
        best = min(best, time.perf_counter() - start)
    return best
"""

LIVE: list[Kernel] = []


# -- the kernel ------------------------------------------------------------------------------


class Kernel:
    """A real kernel with ipysigtrace loaded, a shell/iopub client and a control client.

    It loads ipysigtrace by itself at start, as every kernel of an environment where the
    package is installed does.
    """

    def __init__(self, root: str, name: str) -> None:
        write_kernelspec(root, name)
        os.environ["JUPYTER_PATH"] = root
        self.km = KernelManager(kernel_name=name)
        self.km.start_kernel()
        LIVE.append(self)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        # A session of our own, as ipysigtrace.server.ask does: a second socket with the
        # identity of the main client's session would steal its replies.
        session = Session(
            key=self.km.session.key, signature_scheme=self.km.session.signature_scheme
        )
        self.ctl = self.km.client(session=session)
        self.ctl.start_channels(shell=False, iopub=False, stdin=False, hb=False, control=True)
        self.hang_id: str | None = None
        _, facts = self.ask("status")
        if facts.get("status") != "ok":
            raise RuntimeError(f"ipysigtrace is not loaded in the kernel: {facts!r}")
        self.pid = int(facts["pid"])
        self.signum = signal.Signals[facts["signal"]]
        self.raw_signum = signal.Signals[facts["raw_signal"]] if facts.get("raw_signal") else None
        # Our own path, never one the kernel names (as the server does).
        self.raw_file = kernel_file(jupyter_runtime_dir(), self.pid, "raw")
        # Every signal below goes only to a process that catches it (DESIGN's rule).
        for signum in (self.signum, self.raw_signum):
            if signum is not None and not catches(self.pid, signum):
                raise RuntimeError(f"kernel {self.pid} does not catch {signum.name}")

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.ctl.control_channel.stop()
            self.ctl.context.destroy(linger=0)
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        with contextlib.suppress(Exception):
            self.km.shutdown_kernel(now=True)
        if self in LIVE:
            LIVE.remove(self)

    def run(self, code: str, timeout: float = 300, shown: list | None = None) -> str:
        """Run a cell to the end; its stdout and result, or RuntimeError on an error.

        ``shown`` collects the data of the cell's display_data and update_display_data
        messages, in order."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "execute_result":
                out.append(content["data"]["text/plain"])
            elif kind in ("display_data", "update_display_data") and shown is not None:
                shown.append(content["data"])  # an update (a profile that grew) comes later
            elif kind == "error":
                errors.append(f"{content['ename']}: {content['evalue']}")

        self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        if errors:
            raise RuntimeError(f"cell failed: {errors}")
        return "".join(out)

    def value(self, code: str) -> float:
        return float(self.run(code).strip().splitlines()[-1])

    def drain(self) -> None:
        with contextlib.suppress(Empty):
            while True:
                self.kc.get_iopub_msg(timeout=0)

    def hang(self, code: str, settle: float = 0.3) -> None:
        """Start a cell that does not end, and wait until it runs."""
        self.drain()
        self.hang_id = self.kc.execute(code)
        deadline = time.monotonic() + 60
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            if (
                msg["msg_type"] == "execute_input"
                and msg["parent_header"].get("msg_id") == self.hang_id
            ):
                break
        time.sleep(settle)

    def interrupt(self) -> None:
        """Interrupt the hung cell and wait until the kernel is idle."""
        self.km.interrupt_kernel()
        deadline = time.monotonic() + 30
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            if (
                msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == self.hang_id
            ):
                break
        self.hang_id = None

    # -- the measurements -------------------------------------------------------------------

    def ask(self, action: str = "dump", timeout: float = 60) -> tuple[float, dict[str, Any]]:
        """Control-channel round trip in seconds, and the reply's content."""
        message = self.ctl.session.msg(REQUEST, request(action))
        start = time.perf_counter()
        self.ctl.control_channel.send(message)
        answer, _ = wait_for_reply(
            lambda left: self.ctl.control_channel.get_msg(timeout=left),
            message["header"]["msg_id"],
            timeout,
        )
        if answer is None:
            raise TimeoutError(f"no {REPLY} within {timeout} s")
        return time.perf_counter() - start, answer

    def signal_dump(self, timeout: float = 60) -> tuple[float, float]:
        """Signal -> stacks frozen, signal -> display_data received (seconds)."""
        self.drain()
        sent = time.time()
        os.kill(self.pid, self.signum)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no dump within {timeout} s")
            msg = self.kc.get_iopub_msg(timeout=left)
            if (
                msg["msg_type"] == "display_data"
                and msg["parent_header"].get("msg_id") == self.hang_id
                and "ipysigtrace" in msg["content"].get("metadata", {})
            ):
                got = time.time()
                facts = msg["content"]["metadata"]["ipysigtrace"]
                return facts["time"] + facts["freeze_seconds"] - sent, got - sent

    def raw_dump(self, stable: float = 0.02, timeout: float = 30) -> tuple[float, int]:
        """Raw signal -> faulthandler's file has stopped growing (seconds), and its size."""
        if self.raw_signum is None:
            raise RuntimeError("raw dumps are off in this kernel")
        read_and_clear(self.raw_file)
        start = time.perf_counter()
        os.kill(self.pid, self.raw_signum)
        size, changed = 0, start
        while True:
            now = time.perf_counter()
            current = os.stat(self.raw_file).st_size
            if current != size:
                size, changed = current, now
            elif size > 0 and now - changed >= stable:
                return changed - start, size
            if now - start > timeout:
                raise TimeoutError(f"raw dump not complete within {timeout} s")
            time.sleep(0.0002)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        return int(match.group(1)) / 1024 if match else float("nan")


# -- py-spy ----------------------------------------------------------------------------------


class PySpy:
    """``py-spy dump --pid``: wall time, or why it cannot run."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.error = None if path else "py-spy not installed"

    @staticmethod
    def find() -> str | None:
        here = Path(sysconfig.get_path("scripts")) / "py-spy"
        if here.exists():
            return str(here)
        beside = Path(sys.executable).parent / "py-spy"
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def reset(self) -> None:
        """Forget the last failure: each scenario reports its own."""
        self.error = None if self.path else "py-spy not installed"

    def version(self) -> str:
        if not self.path:
            return "not installed"
        with contextlib.suppress(Exception):
            return subprocess.run(
                [self.path, "--version"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        return "unknown"

    def dump(self, pid: int) -> tuple[float | None, str]:
        """Seconds (None if it failed; self.error says why) and its output."""
        if not self.path:
            return None, ""
        start = time.perf_counter()
        done = subprocess.run(
            [self.path, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=120
        )
        took = time.perf_counter() - start
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip()
            if re.search(r"ptrace|permission denied|operation not permitted", why, re.I):
                self.error = "ptrace not permitted"
            else:
                first = why.splitlines()[0].removeprefix("Error: ") if why else ""
                self.error = f"py-spy failed: {first[:64] or f'rc {done.returncode}'}"
            return None, done.stdout
        return took, done.stdout


def pyspy_frames(output: str) -> tuple[int, int]:
    """Frames py-spy printed for MainThread, and how many of them are ``deep``."""
    frames = deep = 0
    inside = False
    for line in output.splitlines():
        if line.startswith("Thread "):
            inside = '"MainThread"' in line
        elif inside and line.startswith("    ") and line.strip():
            if line.startswith("        "):
                continue  # locals or other detail, not a frame
            frames += 1
            deep += line.strip().startswith("deep (")
    return frames, deep


# -- rounds and rows -------------------------------------------------------------------------

Method = Callable[[], dict[str, float | None]]


def alternate(methods: dict[str, Method], rounds: int) -> dict[str, list[float | None]]:
    """Run every method once per round, the order rotated each round; values per metric."""
    names = list(methods)
    values: dict[str, list[float | None]] = {}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(PAUSE)
            for metric, value in methods[name]().items():
                values.setdefault(metric, []).append(value)
    return values


def median(values: list[float | None]) -> float | None:
    good = [v for v in values if v is not None]
    return statistics.median(good) if good else None


def paired_ratio(values: list[float | None], anchor: list[float | None]) -> float | None:
    ratios = [v / a for v, a in zip(values, anchor, strict=True) if v is not None and a]
    return statistics.median(ratios) if ratios else None


class Report:
    """Rows of the table and of the JSON file."""

    def __init__(self, pyspy: PySpy) -> None:
        self.rows: list[dict[str, Any]] = []
        self.pyspy = pyspy

    def timing(
        self,
        row_id: str,
        label: str,
        values: list[float | None],
        anchors: dict[str, list[float | None]] | None = None,
        target: tuple[str, float, str] | None = None,
        note: str = "",
        unavailable: str | None = None,
    ) -> dict[str, Any]:
        """A row of seconds; target: (kind, limit, text), kind "ratio:<anchor>" or "ms"."""
        ms = [None if v is None else v * 1000 for v in values]
        row: dict[str, Any] = {
            "id": row_id,
            "label": label,
            "unit": "ms",
            "median": median(ms),
            "n": sum(v is not None for v in ms),
            "values": ms,
            "ratios": {},
            "note": note,
        }
        if row["median"] is None and unavailable:
            row["unavailable"] = unavailable
        for name, anchor in (anchors or {}).items():
            ratio = paired_ratio(values, anchor)
            row["ratios"][name] = ratio
            if ratio is None and name == "py-spy":
                row["ratios_unavailable"] = self.pyspy.error or "no py-spy time"
        if target:
            self._target(row, *target)
        self.rows.append(row)
        return row

    def plain(
        self,
        row_id: str,
        label: str,
        value: float | None,
        unit: str,
        n: int,
        ratios: dict[str, float | None] | None = None,
        target: tuple[str, float, str] | None = None,
        note: str = "",
        unavailable: str | None = None,
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": row_id,
            "label": label,
            "unit": unit,
            "median": value,
            "n": n,
            "ratios": ratios or {},
            "note": note,
        }
        if unavailable:
            row["unavailable"] = unavailable
        if target:
            self._target(row, *target)
        self.rows.append(row)
        return row

    def _target(self, row: dict[str, Any], kind: str, limit: float, text: str) -> None:
        row["target"] = text
        if kind.startswith("ratio:"):
            actual = row["ratios"].get(kind.split(":", 1)[1])
            unit, scale = "x", 1.0
        elif kind == "ratio-pct":  # the first ratio: loaded vs unloaded, live vs not
            actual = next(iter(row["ratios"].values()), None)
            actual = None if actual is None else actual - 1
            unit, scale = "%", 100.0
        else:  # the row's own value
            actual, unit, scale = row["median"], f" {kind}", 1.0
        if actual is None:
            row["verdict"] = "n/a (" + (row.get("ratios_unavailable") or "no value") + ")"
        elif actual <= limit:
            row["verdict"] = "met"
        else:
            row["verdict"] = f"missed by {(actual - limit) * scale:.2f}{unit}"


# -- the sections ----------------------------------------------------------------------------


def section_hangs(root: str, pyspy: PySpy, report: Report, rounds: int) -> None:
    kernel = Kernel(root, "ipysigtrace-bench-hangs")
    try:
        kernel.run(LOCK_SETUP)

        def by_signal() -> dict[str, float | None]:
            frozen, received = kernel.signal_dump()
            return {"frozen": frozen, "received": received}

        def by_control() -> dict[str, float | None]:
            return {"control": kernel.ask("dump")[0]}

        def by_raw() -> dict[str, float | None]:
            return {"raw": kernel.raw_dump()[0]}

        def by_pyspy() -> dict[str, float | None]:
            return {"py-spy": pyspy.dump(kernel.pid)[0]}

        methods = {"signal": by_signal, "control": by_control, "raw": by_raw, "py-spy": by_pyspy}
        for key, name, code in (
            ("1a", "loop", SPIN),
            ("1b", "sleep", SLEEP),
            ("1c", "lock", LOCK),
        ):
            kernel.hang(code)
            pyspy.reset()
            values = alternate(methods, rounds)
            kernel.interrupt()
            anchors = {"py-spy": values["py-spy"], "raw": values["raw"]}
            loop = key == "1a"
            report.timing(
                f"{key}.{name}.frozen",
                f"{key} {name}: signal -> frozen",
                values["frozen"],
                anchors,
                ("ratio:py-spy", 0.1, "<= 0.1x py-spy") if loop else None,
            )
            report.timing(
                f"{key}.{name}.received",
                f"{key} {name}: signal -> received",
                values["received"],
                anchors,
                ("ratio:py-spy", 0.25, "<= 0.25x py-spy") if loop else None,
            )
            report.timing(
                f"{key}.{name}.control",
                f"{key} {name}: control round trip",
                values["control"],
                anchors,
            )
            report.timing(
                f"{key}.{name}.raw",
                f"{key} {name}: raw SIGURG -> file done",
                values["raw"],
                {"py-spy": values["py-spy"]},
            )
            report.timing(
                f"{key}.{name}.pyspy",
                f"{key} {name}: py-spy dump (anchor)",
                values["py-spy"],
                unavailable=pyspy.error,
            )
        # Native code holding the GIL cannot be interrupted: last, and the kernel goes.
        kernel.hang(NATIVE, settle=1.0)
        pyspy.reset()
        values = alternate({"raw": by_raw, "py-spy": by_pyspy}, rounds)
        report.timing(
            "1d.native.raw",
            "1d native: raw SIGURG -> file done",
            values["raw"],
            {"py-spy": values["py-spy"]},
        )
        report.timing(
            "1d.native.pyspy",
            "1d native: py-spy dump (anchor)",
            values["py-spy"],
            unavailable=pyspy.error,
        )
    finally:
        kernel.shutdown()


def section_scale(
    root: str,
    pyspy: PySpy,
    report: Report,
    rounds: int,
    thread_counts: list[int],
    depths: list[int],
    quick: bool,
) -> None:
    kernel = Kernel(root, "ipysigtrace-bench-scale")
    try:

        def by_signal() -> dict[str, float | None]:
            frozen, received = kernel.signal_dump()
            return {"frozen": frozen, "received": received}

        def by_pyspy() -> dict[str, float | None]:
            return {"py-spy": pyspy.dump(kernel.pid)[0]}

        methods = {"signal": by_signal, "py-spy": by_pyspy}
        for n in thread_counts:
            kernel.run(THREADS_SETUP.format(n=n))
            kernel.hang(SPIN)
            pyspy.reset()
            values = alternate(methods, rounds)
            kernel.interrupt()
            kernel.run(THREADS_TEARDOWN)
            anchors = {"py-spy": values["py-spy"]}
            big = n == 1000 and not quick
            report.timing(
                f"2.threads.{n}.frozen",
                f"2 {n} idle threads: signal -> frozen",
                values["frozen"],
                anchors,
                ("ratio:py-spy", 0.1, "<= 0.1x py-spy") if big else None,
            )
            report.timing(
                f"2.threads.{n}.received",
                f"2 {n} idle threads: signal -> received",
                values["received"],
                anchors,
            )
            report.timing(
                f"2.threads.{n}.pyspy",
                f"2 {n} idle threads: py-spy (anchor)",
                values["py-spy"],
                unavailable=pyspy.error,
            )
        for n in depths:
            kernel.hang(RECURSION.format(n=n), settle=0.5)
            pyspy.reset()
            values = alternate(methods, rounds)
            _, reply = kernel.ask("dump")
            snapshot = StackSnapshot.from_dict(reply["snapshot"])
            ours = next((t.depth for t in snapshot.threads if t.runs_cell), 0)
            _, output = pyspy.dump(kernel.pid)
            frames, deep = pyspy_frames(output)
            kernel.interrupt()
            anchors = {"py-spy": values["py-spy"]}
            spy_note = (
                f"py-spy printed {frames} MainThread frames ({deep} of deep())"
                if pyspy.path and output
                else f"py-spy: {pyspy.error}"
            )
            note = f"ipysigtrace captured {ours} frames; {spy_note}"
            deep_target = n == 5000 and not quick
            report.timing(
                f"2.recursion.{n}.frozen",
                f"2 recursion {n}: signal -> frozen",
                values["frozen"],
                anchors,
            )
            row = report.timing(
                f"2.recursion.{n}.received",
                f"2 recursion {n}: signal -> received",
                values["received"],
                anchors,
                ("ms", 30.0, "<= 30 ms") if deep_target else None,
                note=note,
            )
            row["frames"] = {"ipysigtrace": ours, "py-spy": frames, "py-spy deep()": deep}
            report.timing(
                f"2.recursion.{n}.pyspy",
                f"2 recursion {n}: py-spy (anchor)",
                values["py-spy"],
                unavailable=pyspy.error,
            )
    finally:
        kernel.shutdown()


def section_idle(root: str, report: Report, rounds: int, quick: bool) -> None:
    kernel = Kernel(root, "ipysigtrace-bench-idle")
    loop_n, fib_n = (200_000, 20) if quick else (3_000_000, 27)
    workloads = {"loop": f"timed(loop, {loop_n})", "fib": f"timed(fib, {fib_n})"}
    try:
        kernel.run(IDLE_SETUP)
        for code in workloads.values():
            kernel.value(code)  # warm up
        results: dict[tuple[str, bool], list[float]] = {}
        loaded = True
        for r in range(rounds):
            for state in (False, True) if r % 2 == 0 else (True, False):
                if state != loaded:
                    kernel.run("%load_ext ipysigtrace" if state else "%unload_ext ipysigtrace")
                    loaded = state
                for name, code in workloads.items():
                    results.setdefault((name, state), []).append(kernel.value(code))
        for name, label in (("loop", f"sum loop {loop_n:,}"), ("fib", f"fib({fib_n})")):
            off, on = results[(name, False)], results[(name, True)]
            row = report.plain(
                f"3.idle.{name}",
                f"3 idle cost, {label}: loaded",
                statistics.median(on) * 1000,
                "ms",
                len(on),
                {"unloaded": paired_ratio(list(on), list(off))},
                None if quick else ("ratio-pct", 0.01, "within 1%"),
                note=f"unloaded median {statistics.median(off) * 1000:.1f} ms; best of 3 per value",
            )
            row["values"] = [v * 1000 for v in on]
            row["values_unloaded"] = [v * 1000 for v in off]
        # The live view refreshes every 2 s while a cell runs: time a cell of a few seconds
        # with a live view open and without, alternating.
        if not loaded:
            kernel.run("%load_ext ipysigtrace")
        long_n = 200_000 if quick else 120_000_000
        live: dict[bool, list[float]] = {False: [], True: []}
        for r in range(2 if quick else 6):
            for state in (False, True) if r % 2 == 0 else (True, False):
                kernel.run("%stackdump --live 2s" if state else "%stackdump --live off")
                live[state].append(kernel.value(f"timed(loop, {long_n}, 1)"))
        kernel.run("%stackdump --live off")
        report.plain(
            "3.idle.viewer",
            f"3 idle cost, live view at 2 s, loop {long_n:,}",
            statistics.median(live[True]) * 1000,
            "ms",
            len(live[True]),
            {"no live view": paired_ratio(list(live[True]), list(live[False]))},
            None if quick else ("ratio-pct", 0.01, "within 1%"),
            note=f"without a live view: median {statistics.median(live[False]) * 1000:.1f} ms",
        )
    finally:
        kernel.shutdown()


def section_memory(root: str, report: Report, dumps: int, quick: bool) -> None:
    kernel = Kernel(root, "ipysigtrace-bench-memory")
    target = None if quick else ("MB", 5.0, "<= 5 MB")
    try:
        kernel.hang(SLEEP)
        for _ in range(10):  # warm up both paths
            kernel.ask("dump")
            kernel.signal_dump()
        before = kernel.rss_mb()
        for _ in range(dumps):
            kernel.ask("dump")
        after = kernel.rss_mb()
        report.plain(
            "4.rss.control",
            f"4 RSS growth, {dumps:,} control dumps",
            after - before,
            "MB",
            dumps,
            target=target,
            note=f"VmRSS {before:.1f} -> {after:.1f} MB (after 10 warm-up dumps each way)",
        )
        before, received = after, 0
        for i in range(dumps):
            os.kill(kernel.pid, kernel.signum)
            time.sleep(0.005)
            if i % 20 == 0:
                received += _count_dumps(kernel)
        time.sleep(1.0)
        received += _count_dumps(kernel)
        after = kernel.rss_mb()
        report.plain(
            "4.rss.signal",
            f"4 RSS growth, {dumps:,} signals 5 ms apart",
            after - before,
            "MB",
            dumps,
            target=target,
            note=f"VmRSS {before:.1f} -> {after:.1f} MB; {received} dumps published (coalesced)",
        )
        kernel.interrupt()
    finally:
        kernel.shutdown()


def _count_dumps(kernel: Kernel) -> int:
    count = 0
    with contextlib.suppress(Empty):
        while True:
            msg = kernel.kc.get_iopub_msg(timeout=0)
            count += msg["msg_type"] == "display_data"
    return count


# -- output ----------------------------------------------------------------------------------


def machine(pyspy: PySpy) -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import ipykernel

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ipykernel": ipykernel.__version__,
        "py-spy": pyspy.version(),
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
    return f"{value:+.2f} {unit}" if unit == "MB" else f"{value:.2f} {unit}"


def table(info: dict[str, Any], rows: list[dict[str, Any]], quick: bool) -> str:
    lines = [
        f"ipysigtrace benchmark, {info['date']}{' (--quick: smoke test only)' if quick else ''}",
        f"machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}; "
        f"ipykernel {info['ipykernel']}; {info['py-spy']}",
        "medians; ratios are medians of per-round ratios, the two measured alternately",
        "",
        f"{'row':44} {'median':>10} {'n':>5}  {'ratios':28} target",
    ]
    section = ""
    for row in rows:
        if row["id"][0] != section:
            section = row["id"][0]
            lines.append("")
        median_text = row.get("unavailable") if row["median"] is None else None
        value = median_text or _fmt(row["median"], row["unit"])
        ratios = []
        for name, ratio in row["ratios"].items():
            if ratio is not None:
                ratios.append(f"{ratio:.3f}x {name}")
            elif name == "py-spy":
                ratios.append(f"py-spy: {row.get('ratios_unavailable', 'n/a')}")
        target = f"{row['target']}: {row['verdict']}" if "target" in row else ""
        if len(value) > 10:
            lines.append(f"{row['label']:44} {value}")
        else:
            lines.append(
                f"{row['label']:44} {value:>10} {row['n']:>5}  {', '.join(ratios):28} {target}"
            )
        if row.get("note"):
            lines.append(f"{'':46}({row['note']})")
    return "\n".join(line.rstrip() for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, small sizes")
    parser.add_argument("--json", default="bench-results.json", help="where to write results")
    parser.add_argument("--py-spy", default=None, help="py-spy executable, or 'none' to skip it")
    parser.add_argument(
        "--sections", default="123456", help="which sections to run, e.g. 56 (default: all)"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that kernels are shut down
    os.environ.pop("IPYSIGTRACE_SIGNAL", None)
    path = None if args.py_spy == "none" else (args.py_spy or PySpy.find())
    pyspy = PySpy(path)
    report = Report(pyspy)
    info = machine(pyspy)
    started = time.monotonic()
    if args.quick:
        rounds, scale_rounds, idle_rounds, dumps = 1, 1, 1, 30
        threads, depths = [10, 50, 100], [200, 1000]
    else:
        rounds, scale_rounds, idle_rounds, dumps = 25, 12, 20, 1000
        threads, depths = [10, 200, 1000], [1000, 5000]
    try:
        with tempfile.TemporaryDirectory() as root:
            if "1" in args.sections:
                section_hangs(root, pyspy, report, rounds)
                hangs = [("1a", "loop", "", SPIN), ("1b", "sleep", "", SLEEP)]
                hangs.append(("1c", "lock", LOCK_SETUP, LOCK))
                section_server(root, pyspy, report, rounds, hangs)
            if "2" in args.sections:
                section_scale(root, pyspy, report, scale_rounds, threads, depths, args.quick)
            if "3" in args.sections:
                section_idle(root, report, idle_rounds, args.quick)
            if "4" in args.sections:
                section_memory(root, report, dumps, args.quick)
            if "5" in args.sections:
                section_interrupts(root, report, 5 if args.quick else 100)
            if "6" in args.sections:
                section_start(root, report, 2 if args.quick else 20)
    finally:
        for kernel in list(LIVE):
            kernel.shutdown()
    info["seconds"] = round(time.monotonic() - started, 1)
    print(table(info, report.rows, args.quick))
    print(f"\ntook {info['seconds']:.0f} s")
    results = {"machine": info, "quick": args.quick, "rows": report.rows}
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
