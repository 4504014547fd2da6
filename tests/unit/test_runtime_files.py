"""Runtime files in a directory we do not trust: real FIFOs, symlinks and planted files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ipysigtrace import runtime
from ipysigtrace.identity import identity_record, read_identity
from ipysigtrace.runtime import (
    KernelFiles,
    RuntimeFileError,
    create_private,
    kernel_file,
    remove_stale,
    rewrite,
)

OTHER_UID = 4242  # a uid that is not ours (the tests may run as root, who can chown)


def dead_pid() -> int:
    """The PID of a process that has just ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_file_is_created_private_and_rewritten(tmp_path: Path) -> None:
    path = str(tmp_path / "ipysigtrace-1.txt")
    fd = create_private(path)
    try:
        rewrite(fd, b"first, longer text")
        rewrite(fd, b"second")
        info = os.fstat(fd)
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid()
    finally:
        os.close(fd)
    assert Path(path).read_bytes() == b"second"


@pytest.mark.parametrize("plant", ["fifo", "symlink", "directory"])
def test_something_planted_at_the_path_is_refused_at_once(tmp_path: Path, plant: str) -> None:
    path = tmp_path / f"ipysigtrace-{os.getpid()}.raw"
    if plant == "fifo":
        os.mkfifo(path)
    elif plant == "symlink":
        (tmp_path / "elsewhere").write_text("")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.mkdir()
    with pytest.raises(RuntimeFileError, match="already exists and is not ours"):
        create_private(str(path))
    if plant == "symlink":
        assert (tmp_path / "elsewhere").read_text() == "", "nothing written through the link"


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's file needs root")
def test_another_users_file_is_refused_even_for_a_dead_pid(tmp_path: Path) -> None:
    path = tmp_path / f"ipysigtrace-{dead_pid()}.raw"
    path.write_text("")
    os.chmod(path, 0o666)
    os.chown(path, OTHER_UID, OTHER_UID)
    with pytest.raises(RuntimeFileError):
        create_private(str(path))
    assert path.exists(), "not ours to remove"
    remove_stale(str(tmp_path))
    assert path.exists(), "not ours to remove"


def test_a_stale_file_of_ours_is_replaced(tmp_path: Path) -> None:
    pid = dead_pid()
    path = tmp_path / f"ipysigtrace-{pid}.txt"
    path.write_text("old")
    fd = create_private(str(path))
    os.close(fd)
    assert path.read_text() == ""


def test_remove_stale_removes_only_files_of_dead_processes(tmp_path: Path) -> None:
    dead = dead_pid()
    for kind in runtime.KINDS:
        (tmp_path / f"ipysigtrace-{dead}.{kind}").write_text("")
    alive = tmp_path / f"ipysigtrace-{os.getppid()}.raw"  # a process that runs
    alive.write_text("")
    other = tmp_path / "kernel-abc.json"
    other.write_text("{}")
    assert remove_stale(str(tmp_path)) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, other.name]


def test_identity_names_one_process_for_good(tmp_path: Path) -> None:
    files = KernelFiles(str(tmp_path))
    fd = files.open("json", "an identity file")
    assert fd is not None
    record = identity_record("/some/kernel-1.json", "SIGUSR2", "SIGURG", 1234)
    rewrite(fd, json.dumps(record).encode())
    assert read_identity(str(tmp_path), os.getpid()) == record
    # The same PID with another start time (a PID used again) is not that kernel.
    stale = dict(record, start_time=record["start_time"] - 1)
    rewrite(fd, json.dumps(stale).encode())
    assert read_identity(str(tmp_path), os.getpid()) is None
    for bad in ("not json", json.dumps(dict(record, version=True)), json.dumps([1])):
        rewrite(fd, bad.encode())
        assert read_identity(str(tmp_path), os.getpid()) is None
    files.close()
    assert not Path(kernel_file(str(tmp_path), os.getpid(), "json")).exists()


def test_an_identity_planted_as_a_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(kernel_file(str(tmp_path), os.getpid(), "json"))
    assert read_identity(str(tmp_path), os.getpid()) is None  # and it did not block


def test_kernel_files_note_what_they_go_without(tmp_path: Path) -> None:
    os.mkfifo(kernel_file(str(tmp_path), os.getpid(), "raw"))
    files = KernelFiles(str(tmp_path))
    assert files.open("raw", "raw dumps", append=True) is None
    assert len(files.notes) == 1 and files.notes[0].endswith("going on without raw dumps")
    files.close()
    assert stat.S_ISFIFO(os.lstat(kernel_file(str(tmp_path), os.getpid(), "raw")).st_mode)


def test_a_forked_child_does_not_remove_the_parents_files(tmp_path: Path) -> None:
    files = KernelFiles(str(tmp_path))
    files.open("txt", "the idle-dump file")
    pid = os.fork()
    if pid == 0:
        files.close()
        os._exit(0)
    os.waitpid(pid, 0)
    assert Path(files.path("txt")).exists()
    files.close()
    assert not Path(files.path("txt")).exists()
