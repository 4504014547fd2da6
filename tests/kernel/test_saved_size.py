"""What a dump weighs in the saved notebook, all its forms together, in real kernels.

The bundle keeps the snapshot in its compact form without the kernel's own frames
(``StackSnapshot.without_internals``); a notebook file is what nbformat writes.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

from harness import Kernel
from ipysigtrace.render import MIME_TYPE
from ipysigtrace.snapshot import StackSnapshot

pytestmark = pytest.mark.kernel

SIMPLE_BUDGET = 8 * 1024  # a sleeping cell in a fresh kernel
CROWD_BUDGET = 60 * 1024  # the same with 300 idle threads


def saved_bytes(content: dict[str, Any]) -> int:
    """How many bytes the display adds to a notebook file."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("nap()")])
    before = len(nbformat.writes(notebook).encode())
    output = nbformat.v4.new_output(
        "display_data", data=content["data"], metadata=content["metadata"]
    )
    notebook.cells[0].outputs.append(output)
    return len(nbformat.writes(notebook).encode()) - before


def test_a_simple_dump_is_small_in_the_notebook(loaded: Kernel) -> None:
    msg_id = loaded.submit("import time\ndef nap():\n    time.sleep(10**6)\nnap()")
    loaded.wait_until_cell_runs()
    content = loaded.dump_showing(msg_id, "line 3, in nap")
    size = saved_bytes(content)
    assert size <= SIMPLE_BUDGET, f"{size:,} bytes"
    # The views still have what they show: the cell's frames, every thread, the hidden count.
    snapshot = StackSnapshot.from_dict(content["data"][MIME_TYPE]["snapshot"])
    assert snapshot.trimmed
    main = next(t for t in snapshot.threads if t.runs_cell)
    assert [f.function for f in main.frames if f.kind == "cell"] == ["<module>", "nap"]
    assert main.frames[0].elided > 5, "the kernel's frames are counted"
    assert {"IOPub", "Control", "Heartbeat"} <= {t.name for t in snapshot.threads if t.service}
    assert "frames of the kernel&#x27;s machinery" in content["data"]["text/html"]
    loaded.interrupt_and_check(msg_id)


def test_three_hundred_idle_threads_are_small_in_the_notebook(loaded: Kernel) -> None:
    loaded.execute(
        "import threading\nstop = threading.Event()\n"
        "idle = [threading.Thread(target=stop.wait, name=f'idle-{i}', daemon=True)"
        " for i in range(300)]\nfor t in idle:\n    t.start()"
    )
    msg_id = loaded.submit("import time\ntime.sleep(10**6)")
    loaded.wait_until_cell_runs()
    content = loaded.dump_showing(msg_id, "300 threads idle-0 … idle-299: waiting on an event")
    size = saved_bytes(content)
    assert size <= CROWD_BUDGET, f"{size:,} bytes"
    snapshot = StackSnapshot.from_dict(content["data"][MIME_TYPE]["snapshot"])
    idle = [t for t in snapshot.threads if t.name.startswith("idle-")]
    assert len(idle) == 300 and all(t.frames == idle[0].frames for t in idle)
    assert idle[0].frames[-1].function.endswith("wait")
    loaded.interrupt_and_check(msg_id)
    loaded.execute("stop.set()")


def test_stackdump_all_keeps_the_kernel_frames(loaded: Kernel) -> None:
    (data,) = loaded.execute("%stackdump --all").displays
    snapshot = StackSnapshot.from_dict(data[MIME_TYPE]["snapshot"])
    assert not snapshot.trimmed
    assert not any(f.elided for t in snapshot.threads for f in t.frames)
    assert any(f.kind == "machinery" for t in snapshot.threads for f in t.frames)
