"""The form a notebook keeps (``to_dict(compact=True)`` of ``without_internals``).

``tests/fixtures/saved-snapshot.json`` is that form of the snapshot below, and
``saved-snapshot.expanded.json`` the full form of the same snapshot: this test and the lab
extension's node tests (model.test.ts) both read them, so the two readers agree.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ipysigtrace.render import MIME_TYPE, bundle, text
from ipysigtrace.render.common import Hidden, ViewOptions, rows
from ipysigtrace.snapshot import (
    DaskReport,
    DaskWorker,
    FrameRecord,
    ProcessRecord,
    StackSnapshot,
    TaskStack,
    ThreadStack,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def machinery(function: str, lineno: int = 10) -> FrameRecord:
    return FrameRecord("/site-packages/ipykernel/kernelbase.py", lineno, function, kind="machinery")


def built() -> StackSnapshot:
    cell = FrameRecord(
        "/tmp/ipykernel_1/2.py",
        3,
        "nap",
        "time.sleep(60)",
        "Cell In[2]",
        "cell",
        cell_id="c-1",
        locals=[
            {"name": "seconds", "type": "int", "value": "60"},
            {"name": "why", "type": "str", "value": "'first line\nsecond line'"},
        ],
    )
    # A cell's top level: its variables are the notebook's globals.
    top = dataclasses.replace(
        cell,
        lineno=5,
        function="<module>",
        line="nap(60, why)",
        locals=[{"name": "rows", "type": "int", "value": "3"}],
    )
    wait = FrameRecord(
        "/usr/lib/python3.11/threading.py", 320, "wait", "waiter.acquire()", "", "library"
    )
    run = FrameRecord("/home/me/work.py", 7, "work", "stop.wait()", "", "user")
    main = ThreadStack(
        1,
        "MainThread",
        100,
        is_main=True,
        runs_cell=True,
        state="sleeping",
        frames=[machinery("start"), machinery("dispatch", 20), top, cell],
        tasks=[TaskStack("Task-1", [machinery("poll")], "Future")],
        verdict="still",
        still_since=1764319990.0,
    )
    workers = [
        ThreadStack(
            10 + i,
            f"worker-{i}",
            200 + i,
            daemon=True,
            state="waiting on an event",
            frames=[run, wait],
            verdict="first",
        )
        for i in range(3)
    ]
    workers[2].daemon = False  # a field that differs from the thread it is like
    saver = ThreadStack(
        40,
        "saver",
        400,
        state="waiting for a lock",
        held_by="worker-1 (ident 11)",
        frames=[FrameRecord("/home/me/save.py", 12, "save", "with lock:", "", "user")],
        verdict="moving",
        changed="line 11 → 12 in save",
    )
    iopub = ThreadStack(
        77,
        "IOPub",
        300,
        daemon=True,
        service=True,
        state="waiting for I/O",
        frames=[machinery("run"), wait],
    )
    return StackSnapshot(
        1764320000.5,
        4242,
        [main, *workers, saver, iopub],
        trigger="signal",
        cell_thread=1,
        freeze_seconds=0.0004,
        cell_started=1764319900.0,
        processes=[
            ProcessRecord(4243, 4242, "python -m worker", "no stacks: not a Python program"),
            ProcessRecord(4244, 4243, "", "ended, not yet reaped by its parent"),
            *(forked_worker(pid) for pid in (4245, 4246)),
        ],
        dask=dask_report(),
    )


def dask_report() -> DaskReport:
    """Two workers of a Dask cluster: one runs two tasks with the same stack."""
    load = FrameRecord("/tmp/ipykernel_1/2.py", 8, "load", "time.sleep(60)", "Cell In[2]", "cell")
    read = FrameRecord("/srv/lib/reader.py", 40, "read", "return f.read()", "", "user")
    tasks = [TaskStack(f"('load-9a2b', {i})", [load, read]) for i in (1, 0)]
    return DaskReport(
        "tcp://10.0.0.5:8786",
        workers=[
            DaskWorker("tcp://10.0.0.7:40411", tasks),
            DaskWorker("tcp://10.0.0.8:40411", [TaskStack("sum-77ee", [load])]),
        ],
    )


def forked_worker(pid: int) -> ProcessRecord:
    """A pool worker forked from cell 2, which answered for itself (``responder.py``)."""
    pool = FrameRecord(
        "/tmp/ipykernel_1/2.py", 4, "<module>", "pool.map(work, range(2))", "Cell In[2]", "cell"
    )
    work = FrameRecord("/tmp/ipykernel_1/2.py", 2, "work", "time.sleep(60)", "Cell In[2]", "cell")
    library = FrameRecord(
        "/usr/lib/python3.11/multiprocessing/pool.py", 125, "worker", kind="library"
    )
    main = ThreadStack(
        7,
        "MainThread",
        pid,
        is_main=True,
        state="sleeping",
        frames=[machinery("start"), pool, library, work],
    )
    return ProcessRecord(pid, 4242, "python -m ipykernel_launcher", forked=True, threads=[main])


def test_the_fixtures_are_what_the_writer_writes() -> None:
    """If this fails after a deliberate change of the form, write the two files anew."""
    trimmed = built().without_internals()
    assert json.loads((FIXTURES / "saved-snapshot.json").read_text()) == trimmed.to_dict(
        compact=True
    )
    assert json.loads((FIXTURES / "saved-snapshot.expanded.json").read_text()) == trimmed.to_dict()


def test_the_text_is_the_fixture_the_lab_extension_matches() -> None:
    """``saved-snapshot.txt``: the saved fixture as text, but for its first line (a clock
    in local time); the lab extension's text renderer must make the same (model.test.ts)."""
    shown = text.render(StackSnapshot.from_json((FIXTURES / "saved-snapshot.json").read_text()))
    expected = (FIXTURES / "saved-snapshot.txt").read_text()
    assert shown.split("\n", 1)[1] == expected


def test_the_compact_form_reads_back_as_the_full_one() -> None:
    saved = StackSnapshot.from_json((FIXTURES / "saved-snapshot.json").read_text())
    full = StackSnapshot.from_json((FIXTURES / "saved-snapshot.expanded.json").read_text())
    assert saved == full
    assert saved.trimmed
    assert [t.daemon for t in saved.threads[1:4]] == [True, True, False]
    assert saved.threads[3].frames == saved.threads[1].frames


def test_the_kernel_frames_are_counted_not_kept() -> None:
    snapshot = built()
    trimmed = snapshot.without_internals()
    main, iopub = trimmed.threads[0], trimmed.threads[-1]
    assert [f.elided for f in main.frames] == [2, 0, 0]
    assert [f.elided for f in main.tasks[0].frames] == [1]
    assert [f.elided for f in iopub.frames] == [2]  # a kernel thread keeps no frame at all
    for shown in (False, True):  # a stand-in is a count even when internals are shown
        row = rows(main.frames, ViewOptions(show_machinery=shown))[0]
        assert isinstance(row, Hidden) and row.count == 2
    # The default views read the same from the kept snapshot as from the whole one.
    assert text.render(trimmed) == text.render(snapshot)


def test_the_bundle_keeps_the_compact_form_unless_internals_are_shown() -> None:
    snapshot = built()
    kept = bundle(snapshot)[MIME_TYPE]["snapshot"]
    assert kept == snapshot.without_internals().to_dict(compact=True)
    everything = bundle(snapshot, ViewOptions(show_machinery=True))[MIME_TYPE]["snapshot"]
    assert StackSnapshot.from_dict(everything) == snapshot


def test_three_hundred_threads_with_one_stack_are_written_once() -> None:
    snapshot = built()
    worker = snapshot.threads[1]
    snapshot.threads = [
        ThreadStack(
            1000 + i,
            f"idle-{i}",
            5000 + i,
            daemon=True,
            state=worker.state,
            frames=[FrameRecord(**vars(f)) for f in worker.frames],
        )  # equal, not same
        for i in range(300)
    ]
    data = snapshot.to_dict(compact=True)
    assert sum("frames" in t for t in data["threads"]) == 1
    assert StackSnapshot.from_dict(data) == snapshot
    assert len(json.dumps(data)) < len(json.dumps(snapshot.to_dict())) / 4


@pytest.mark.parametrize("like", [0, 1, -1, True, "0", 1.0])
def test_a_thread_like_no_earlier_one_is_refused(like: object) -> None:
    data = built().to_dict(compact=True)
    data["threads"][1]["like"] = like if like not in (0, 1) else like + 1
    with pytest.raises(ValueError, match=r"threads\[1\]\.like"):
        StackSnapshot.from_dict(data)


def test_a_pools_workers_are_written_once() -> None:
    """Thirty-two workers with one stack: the first carries its frames, the others are
    like its thread ([worker, thread]), and the whole reads back."""
    snapshot = built()
    template = snapshot.processes[2]
    snapshot.processes = [
        dataclasses.replace(
            template,
            pid=5000 + i,
            threads=[dataclasses.replace(t, native_id=5000 + i) for t in template.threads],
        )
        for i in range(32)
    ]
    data = snapshot.to_dict(compact=True)
    assert data["version"] == 2
    written = [p["threads"][0] for p in data["processes"]]
    assert "frames" in written[0] and all(t["like"] == [0, 0] for t in written[1:])
    assert StackSnapshot.from_dict(data) == snapshot
    assert len(json.dumps(data)) < len(json.dumps(snapshot.to_dict())) / 4
    # Without such workers the form stays version 1, which older readers read.
    snapshot.processes = snapshot.processes[:1]
    assert snapshot.to_dict(compact=True)["version"] == 1


@pytest.mark.parametrize("like", [[0, 0], [1, 0], [0, 5], [-1, 0], [0], [0, 0, 0], [True, 0]])
def test_a_worker_thread_like_no_earlier_workers_is_refused(like: object) -> None:
    data = built().without_internals().to_dict(compact=True)
    # Workers 2 and 3 are forks with one stack: 3's thread is like [2, 0]. Point it wrong.
    data["processes"][2]["threads"][0]["like"] = like
    with pytest.raises(ValueError, match=r"processes\[2\]\.threads\[0\]\.like"):
        StackSnapshot.from_dict(data)
