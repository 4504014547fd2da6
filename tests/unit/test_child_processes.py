"""The child processes a dump lists: found in /proc (real processes), kept, read and shown."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ipysigtrace import procinfo
from ipysigtrace.render import html, text
from ipysigtrace.snapshot import ProcessRecord, StackSnapshot


def started(pid: int, program: str) -> None:
    """Until the process runs ``program``: its exec has set up its arguments, a moment after
    fork returned (a shell's child runs the shell until then)."""
    deadline = time.monotonic() + 30
    while (procinfo.command_args(pid) or [""])[0] != program:
        assert time.monotonic() < deadline, f"process {pid} shows no command line"
        time.sleep(0.01)


@pytest.fixture
def tree() -> Iterator[tuple[int, int]]:
    """A child (a shell) with a child of its own (a sleep): their PIDs once both run."""
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 60 > /dev/null & echo $!; wait", "tree"], stdout=subprocess.PIPE
    )
    assert shell.stdout is not None
    grandchild = int(shell.stdout.readline())
    started(shell.pid, "sh")
    started(grandchild, "sleep")
    yield shell.pid, grandchild
    os.kill(grandchild, 9)
    shell.wait()
    shell.stdout.close()


def test_descendants_are_found_with_their_parents(tree: tuple[int, int]) -> None:
    shell, grandchild = tree
    found = procinfo.descendants(os.getpid())
    assert (shell, os.getpid()) in found
    assert (grandchild, shell) in found
    assert found.index((shell, os.getpid())) < found.index((grandchild, shell))
    # The slow way (every process's parent) says the same.
    parents = procinfo._parents()
    assert shell in parents[os.getpid()] and grandchild in parents[shell]
    assert procinfo.descendants(os.getpid(), limit=1) == [found[0]]


def test_records_carry_the_command_line_and_an_ended_child(tree: tuple[int, int]) -> None:
    shell, grandchild = tree
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    while not procinfo.is_zombie(ended.pid):  # ended, not yet reaped
        time.sleep(0.01)
    records = {r.pid: r for r in procinfo.child_processes(os.getpid())}
    assert records[shell].command == "sh -c sleep 60 > /dev/null & echo $!; wait tree"
    assert records[grandchild] == ProcessRecord(grandchild, shell, "sleep 60")
    assert records[ended.pid].note == "ended, not yet reaped by its parent"
    ended.wait()
    assert ended.pid not in {r.pid for r in procinfo.child_processes(os.getpid())}


def test_a_long_command_line_is_cut() -> None:
    script = "import time; time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", script, *["x" * 100] * 5])
    started(child.pid, sys.executable)
    try:
        (record,) = [r for r in procinfo.child_processes(os.getpid()) if r.pid == child.pid]
    finally:
        child.kill()
        child.wait()
    assert len(record.command) == procinfo.MAX_COMMAND and record.command.endswith("…")


SNAPSHOT = StackSnapshot(
    1764320000.0,
    4242,
    processes=[
        ProcessRecord(4243, 4242, "python -c <script>alert(1)</script> \x1b[2J"),
        ProcessRecord(4250, 4243, "", "ended, not yet reaped by its parent"),
    ],
)


def test_the_views_list_them_escaped() -> None:
    out = text.render(SNAPSHOT)
    assert "2 child processes (their own stacks are not in this dump)" in out
    assert "  pid 4243: python -c <script>alert(1)</script> \\x1b[2J" in out
    assert "  pid 4250 (child of 4243): (no command line); ended, not yet reaped" in out
    assert "\x1b" not in out
    page = html.render(SNAPSHOT)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<details class="ipysigtrace-processes" open' in page


def test_they_survive_both_json_forms() -> None:
    for compact in (False, True):
        data = SNAPSHOT.to_dict(compact=compact)
        assert StackSnapshot.from_dict(data).processes == SNAPSHOT.processes
    assert "processes" not in StackSnapshot(1.0, 1).to_dict(compact=True)
    with pytest.raises(ValueError, match=r"processes\[0\]\.pid"):
        StackSnapshot.from_dict({**SNAPSHOT.to_dict(), "processes": [{"pid": "1", "parent": 1}]})
