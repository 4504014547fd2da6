"""The benchmarks run to the end in their quick form and write every row (no time is checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"

EXPECTED = [
    *(
        f"{key}.{name}.{what}"
        for key, name in (("1a", "loop"), ("1b", "sleep"), ("1c", "lock"))
        for what in ("frozen", "received", "control", "raw", "pyspy")
    ),
    "1d.native.raw",
    "1d.native.pyspy",
    "1a.loop.endpoint",
    "1b.sleep.endpoint",
    "1c.lock.endpoint",
    *(f"2.threads.{n}.{what}" for n in (10, 50, 100) for what in ("frozen", "received", "pyspy")),
    *(f"2.recursion.{n}.{what}" for n in (200, 1000) for what in ("frozen", "received", "pyspy")),
    "3.idle.loop",
    "3.idle.fib",
    "3.idle.viewer",
    "4.rss.control",
    "4.rss.signal",
    "5.interrupt.ipysigtrace",
    "5.interrupt.baseline",
    "6.start.autoload",
    "6.idle.cpu",
    "6.idle.same",
]


def run_quick(script: Path, out: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run a benchmark with --quick to the end; what it printed, and its JSON results."""
    command = [sys.executable, str(script), "--quick", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads(out.read_text())


@pytest.mark.kernel
@pytest.mark.timeout(600)
def test_bench_quick(tmp_path: Path) -> None:
    done, results = run_quick(BENCH, tmp_path / "bench.json")
    assert results["quick"] is True
    assert {"date", "nproc", "cpu", "python"} <= set(results["machine"])
    rows = {row["id"]: row for row in results["rows"]}
    assert list(rows) == EXPECTED
    # Our own measurements always have a value; py-spy's may be unavailable (not installed,
    # ptrace not permitted), and then the row says why instead.
    for row_id, row in rows.items():
        if row_id.endswith(".pyspy"):
            assert row["median"] is not None or row.get("unavailable"), row
        else:
            assert row["median"] is not None, row
    assert "no live view" in rows["3.idle.viewer"]["ratios"]
    assert rows["5.interrupt.ipysigtrace"]["median"] == 0, "an interrupt after a dump is lost"
    assert "ipysigtrace benchmark" in done.stdout


@pytest.mark.kernel
@pytest.mark.timeout(600)
def test_bench_profile_quick(tmp_path: Path) -> None:
    _, results = run_quick(BENCH.with_name("bench_profile.py"), tmp_path / "profile.json")
    assert "ipysigtrace" in results["overhead"]["throughput_ratio"]
    assert results["shares"]["ipysigtrace"]["samples"] > 0
    short, longer = results["memory"].values()
    assert longer["samples"] > short["samples"] > 0
    # Bounded by distinct stacks, not by samples: six times the samples, not six times the size.
    assert longer["json_bytes"] < 2 * short["json_bytes"], results["memory"]
