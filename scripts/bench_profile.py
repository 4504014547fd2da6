"""Benchmark of the sampling profile, side by side with py-spy record, in one run.

Run as ``.venv/bin/python scripts/bench_profile.py [--quick] [--json FILE]``. Rows:

1. Overhead: a CPU-bound cell (a fixed amount of pure-Python work, timed inside the kernel)
   unprofiled, profiled by ipysigtrace at 100 Hz (``%stackdump --profile``), and under
   ``py-spy record --rate 100`` (its default mode, which stops the process for each sample,
   and ``--nonblocking``). The order rotates every round; ratios are medians of per-round
   throughput ratios against the unprofiled run of the same round. Goal for ipysigtrace:
   >= 0.98.
2. Shares: the 70/30 workload (two functions that busy-loop 7 ms and 3 ms in turn),
   profiled by both for the same duration; the own-time shares of the two functions, the
   sample count and the rate each achieved.
3. Memory: the same workload profiled for 10 s and for 60 s: the profile's JSON size and
   distinct stacks (they should not grow with time), the kernel's RSS growth against the
   same cell unprofiled, and the size of py-spy's speedscope file for the same durations.

Nothing here fails on a time: targets are printed as met or missed.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench import LIVE, Kernel, PySpy, median

from ipysigtrace.profile import Profile, own_stacks, top_functions
from ipysigtrace.render.profile import MIME_TYPE
from workloads import SEVENTY_THIRTY as WORKLOAD

GOAL = 0.98


def profiled_display(kernel: Kernel, code: str) -> tuple[str, dict[str, Any] | None]:
    """Run a cell; its output and the profile it displayed last (its end), if any."""
    shown: list[dict[str, Any]] = []
    out = kernel.run(code, timeout=600, shown=shown)
    profiles = [data[MIME_TYPE] for data in shown if MIME_TYPE in data]
    return out, (profiles[-1] if profiles else None)


def ours_shares(data: dict[str, Any]) -> dict[str, Any]:
    profile = Profile.from_dict(data)
    thread = profile.cell_thread()
    assert thread is not None
    rows = top_functions(profile, own_stacks(profile, thread))
    shares = {r.frame.function: 100 * r.own / thread.samples for r in rows}
    return {
        "seventy": shares.get("seventy", 0.0),
        "thirty": shares.get("thirty", 0.0),
        "samples": thread.samples,
        "rate": profile.measured_rate,
    }


def pyspy_shares(path: Path, seconds: float) -> dict[str, Any]:
    data = json.loads(path.read_text())
    names = [f["name"] for f in data["shared"]["frames"]]
    busiest = max(data["profiles"], key=lambda p: sum(p["weights"]))
    leaves: Counter[str] = Counter()
    for stack, weight in zip(busiest["samples"], busiest["weights"], strict=True):
        if stack:
            leaves[names[stack[-1]]] += weight
    whole = sum(leaves.values()) or 1
    samples = len(busiest["samples"])
    return {
        "seventy": 100 * leaves["seventy"] / whole,
        "thirty": 100 * leaves["thirty"] / whole,
        "samples": samples,
        "rate": samples / seconds,
    }


def record(pyspy: PySpy, pid: int, seconds: float, out: Path, *extra: str) -> subprocess.Popen:
    command = [pyspy.path or "py-spy", "record", "--pid", str(pid), "--rate", "100"]
    command += ["--duration", f"{seconds:g}", "--format", "speedscope", "-o", str(out), *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def record_work(kernel: Kernel, pyspy: PySpy, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy record --nonblocking for ``seconds`` of the workload, to ``out``; the cell
    runs 3 s longer than the recording, which starts once py-spy had a second to attach."""
    msg_id = kernel.kc.execute(f"work({seconds} + 3)")
    time.sleep(1.0)
    spy = record(pyspy, kernel.pid, seconds, out, "--nonblocking")
    spy.wait(seconds + 60)
    while kernel.kc.get_shell_msg(timeout=120)["parent_header"].get("msg_id") != msg_id:
        pass
    return spy


def profiled(kernel: Kernel, code: str) -> tuple[str, dict[str, Any]]:
    """Run a cell profiled by ``%stackdump --profile``: its output and its profile's end."""
    kernel.run("%stackdump --profile 1h")
    out, data = profiled_display(kernel, code)
    kernel.run("%stackdump --profile off")
    assert data is not None, "no profile was shown"
    return out, data


def section_overhead(kernel: Kernel, pyspy: PySpy, rounds: int, repeat: int, root: Path) -> dict:
    """Seconds for the same CPU work: unprofiled, ipysigtrace, py-spy (both modes)."""
    times: dict[str, list[float]] = {"none": [], "ipysigtrace": []}
    if pyspy.path:
        times.update({"py-spy": [], "py-spy --nonblocking": []})
    methods = list(times)
    for r in range(rounds):
        for name in methods[r % len(methods) :] + methods[: r % len(methods)]:
            if name == "none":
                times[name].append(kernel.value(f"cpu({repeat})"))
            elif name == "ipysigtrace":
                out, _ = profiled(kernel, f"cpu({repeat})")
                times[name].append(float(out.strip().splitlines()[-1]))
            else:
                extra = ("--nonblocking",) if "nonblocking" in name else ()
                spy = record(pyspy, kernel.pid, 600, root / "overhead.json", *extra)
                time.sleep(1.0)  # py-spy attaches
                times[name].append(kernel.value(f"cpu({repeat})"))
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
    ratios, spread = {}, {}
    for name in methods[1:]:
        per_round = sorted(a / b for a, b in zip(times["none"], times[name], strict=True))
        ratios[name] = median(per_round)
        spread[name] = (per_round[len(per_round) // 4], per_round[3 * len(per_round) // 4])
    return {
        "seconds": {k: median(v) for k, v in times.items()},
        "throughput_ratio": ratios,
        "quartiles": spread,
        "rounds": times,
    }


def section_shares(kernel: Kernel, pyspy: PySpy, seconds: float, root: Path) -> dict:
    _, data = profiled(kernel, f"work({seconds})")
    row: dict[str, Any] = {"ipysigtrace": ours_shares(data)}
    if pyspy.path:
        out = root / "shares.json"
        spy = record_work(kernel, pyspy, seconds, out)
        if out.exists():
            row["py-spy"] = pyspy_shares(out, seconds)
        else:
            row["py-spy"] = {"error": (spy.stderr.read() or b"").decode()[:200]}
    return row


def section_memory(kernel: Kernel, pyspy: PySpy, durations: tuple[float, ...], root: Path) -> dict:
    """The same workload profiled for a short and a longer time: how big the profile is
    (JSON bytes, distinct stacks), how much the kernel grew, against the same cell
    unprofiled (the baseline) and py-spy's speedscope file for the same duration."""
    rows: dict[str, Any] = {}
    for seconds in durations:
        before = kernel.rss_mb()
        kernel.run(f"work({seconds})")
        plain = kernel.rss_mb() - before
        before = kernel.rss_mb()
        _, data = profiled(kernel, f"work({seconds})")
        grew = kernel.rss_mb() - before
        profile = Profile.from_dict(data)
        row: dict[str, Any] = {
            "json_bytes": len(json.dumps(data)),
            "stacks": sum(len(t.stacks) for t in profile.threads),
            "samples": profile.ticks,
            "rss_growth_mb": grew,
            "rss_growth_unprofiled_mb": plain,
        }
        if pyspy.path:
            out = root / f"memory-{seconds:g}.json"
            record_work(kernel, pyspy, seconds, out)
            row["py-spy_bytes"] = out.stat().st_size if out.exists() else None
        rows[f"{seconds:g}"] = row
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default="bench-results-profile.json")
    parser.add_argument("--py-spy", default=None, help="py-spy executable, or 'none' to skip it")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the CPU cell")
    args = parser.parse_args()
    pyspy = PySpy(None if args.py_spy == "none" else (args.py_spy or PySpy.find()))
    rounds, repeat, seconds = (2, 100, 3.0) if args.quick else (31, 250, 10.0)
    durations = (1.0, 6.0) if args.quick else (10.0, 60.0)
    rounds = args.rounds or rounds
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            kernel = Kernel(tmp, "ipysigtrace-bench-profile")
            kernel.run(WORKLOAD)
            kernel.value("cpu(3)")  # warm up
            overhead = section_overhead(kernel, pyspy, rounds, repeat, root)
            shares = section_shares(kernel, pyspy, seconds, root)
            memory = section_memory(kernel, pyspy, durations, root)
    finally:
        for live in list(LIVE):
            live.shutdown()
    print(f"py-spy: {pyspy.version()}")
    print(f"1. CPU cell, {rounds} rounds, median seconds: {overhead['seconds']}")
    for name, ratio in overhead["throughput_ratio"].items():
        low, high = overhead["quartiles"][name]
        verdict = f" (goal >= {GOAL}: {'met' if ratio >= GOAL else 'missed'})"
        print(
            f"   throughput with {name} / without: {ratio:.3f} (quartiles {low:.3f}-{high:.3f})"
            + (verdict if name == "ipysigtrace" else "")
        )
    print(f"2. 70/30 workload, {seconds:g} s each, own-time shares:")
    for name, row in shares.items():
        if "error" in row:
            print(f"   {name}: {row['error']}")
            continue
        print(
            f"   {name:12} seventy {row['seventy']:5.1f}%  thirty {row['thirty']:5.1f}%  "
            f"{row['samples']} samples, {row['rate']:.1f} Hz"
        )
    print("3. Memory: the 70/30 workload profiled for longer (the profile should not grow)")
    for label, row in memory.items():
        spy = row.get("py-spy_bytes")
        print(
            f"   {label:>4} s  profile {row['json_bytes']:>7,} bytes, {row['stacks']} stacks, "
            f"{row['samples']} samples; kernel grew {row['rss_growth_mb']:+.1f} MB "
            f"(unprofiled {row['rss_growth_unprofiled_mb']:+.1f} MB)"
            + (f"; py-spy's file {spy:,} bytes" if spy else "")
        )
    results = {"overhead": overhead, "shares": shares, "memory": memory}
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
