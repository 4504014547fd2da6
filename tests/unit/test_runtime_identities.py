"""live_identities: every identity a live process published, and nothing planted or stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ipysigtrace.identity import identity_record, live_identities
from ipysigtrace.runtime import (
    KernelFiles,
    kernel_file,
    rewrite,
)


def test_only_identities_of_live_processes_are_listed(tmp_path: Path) -> None:
    files = KernelFiles(str(tmp_path))
    fd = files.open("json", "an identity file")
    assert fd is not None
    ours = identity_record("/some/kernel-1.json", "SIGUSR2", "SIGURG", None)
    rewrite(fd, json.dumps(ours).encode())
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    try:
        # A live process that never wrote this (its start time is not the one named), a
        # process that has ended, a FIFO, and a name that is not ours.
        planted = dict(ours, pid=other.pid, start_time=1)
        Path(kernel_file(str(tmp_path), other.pid, "json")).write_text(json.dumps(planted))
        gone = dict(ours, pid=ended.pid)
        Path(kernel_file(str(tmp_path), ended.pid, "json")).write_text(json.dumps(gone))
        os.mkfifo(tmp_path / "ipysigtrace-1.json")
        (tmp_path / "ipysigtrace-x.json").write_text(json.dumps(ours))
        assert live_identities(str(tmp_path)) == {os.getpid(): ours}
    finally:
        other.kill()
        other.wait()
        files.close()
    assert live_identities(str(tmp_path / "missing")) == {}
