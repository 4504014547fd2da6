"""The demo notebook stays true: every cell runs, and every hang gets its dump."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import Kernel

pytestmark = pytest.mark.kernel

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "demo.ipynb"
EXPECTED = {  # a line each hang's dump must show
    1: "in spin",
    2: "in wait_for_the_weekend",
    3: "in right_hand",
    4: "waiting on a queue",
    5: "more times ...]",
    6: "300 threads worker-0 … worker-299: waiting on an event",
    7: "2 processes with the same stacks",
}


def code_cells() -> list[dict]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def test_every_cell_of_the_demo(loaded: Kernel) -> None:
    kernel = loaded  # as a user gets it: no %load_ext in the notebook
    hangs, profiled = 0, False
    for cell in code_cells():
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if "hang" not in cell["metadata"].get("tags", []):
            reply = kernel.execute(source)
            assert reply.status == "ok" and not reply.errors, reply.messages
            assert "Traceback" not in reply.stderr
            if "analyse(" in source:  # the profiled cell shows where its time went
                (profile,) = reply.displays
                assert "ended: " in profile["text/plain"], profile["text/plain"]
                assert "slow_part" in profile["text/plain"].split("\n")[4]
                profiled = True
            continue
        hangs += 1
        msg_id = kernel.submit(source)
        dump = kernel.wait_for_display(msg_id, timeout=10)["text/plain"]
        assert "runs the cell" in dump
        assert EXPECTED[hangs] in dump, dump
        kernel.interrupt_and_check(msg_id)
    assert hangs == len(EXPECTED) and profiled
