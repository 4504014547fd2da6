"""The hang zoo command keeps working (two of its hangs, to stay quick)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

ZOO = Path(__file__).parents[2] / "scripts" / "hangzoo.py"


def test_hangzoo_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ZOO), "--only", "loop", "native"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["hang", "dump", "latency", "kernel", "alive", "next", "cell", "ran"]
    rows = {line.split("  ")[0].strip(): line for line in lines[2:]}
    assert " rich " in rows["loop"] and " raw " in rows["native"]
    assert rows["loop"].rstrip().endswith("yes") and "NO DUMP" not in done.stdout
