"""The demo notebook stays true: every cell runs, and every hang gets its dump."""

from __future__ import annotations

import ast
import builtins
import json
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

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
                # The top function: slow_part's generator expression, named so from 3.11 on
                # (`<genexpr>` before), in slow_part's line.
                slow = next(n for n, t in enumerate(source.splitlines(), 1) if "i * i" in t)
                assert f", line {slow})" in profile["text/plain"].split("\n")[4], profile
                profiled = True
            continue
        hangs += 1
        msg_id = kernel.submit(source)
        dump = kernel.wait_for_display(msg_id, timeout=10)["text/plain"]
        assert "runs the cell" in dump
        assert EXPECTED[hangs] in dump, dump
        kernel.interrupt_and_check(msg_id)
    assert hangs == len(EXPECTED) and profiled


def sections() -> list[list[str]]:
    """The code of each numbered section (a markdown cell "## N. ..." opens one); the
    cells before the first section come first."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    out: list[list[str]] = [[]]
    for cell in cells:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "markdown" and source.startswith("## "):
            out.append([])
        elif cell["cell_type"] == "code":
            out[-1].append(source)
    return out


def names(code: str) -> tuple[set[str], set[str]]:
    """(names the code reads, names it binds), with IPython's magics made Python."""
    tree = ast.parse(TransformerManager().transform_cell(code))
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return read, bound


def test_each_section_runs_after_the_first_cells_alone() -> None:
    """A user jumps to any section after running the first cell: a section may use what
    the first cells define, never what another section does."""
    first, *rest = sections()
    given = set(dir(builtins)) | {"get_ipython"}
    for code in first:
        given |= names(code)[1]
    for number, section in enumerate(rest, 1):
        read, bound = set(), set()
        for code in section:
            r, b = names(code)
            read, bound = read | r, bound | b
        assert not read - bound - given, f"section {number} needs {sorted(read - bound - given)}"
