"""Source lines only from regular files of sane size, never blocking, never importing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ipysigtrace import sources
from ipysigtrace.capture import capture
from ipysigtrace.classify import FrameClassifier


def test_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.py"
    path.write_text("a = 1\nb = 2\nc = 3\n")
    assert sources.line(str(path), 2) == "b = 2"
    assert sources.line(str(path), 9) == ""
    assert sources.context(str(path), 3, 1) == (["b = 2", "c = 3"], 2)


@pytest.mark.parametrize(
    "name", ["/dev/zero", "/dev/urandom", "/proc/self/environ", "/proc/self/cmdline", "/"]
)
def test_what_is_not_a_source_file_gives_nothing(name: str) -> None:
    assert sources.line(name, 1) == ""
    assert sources.context(name, 1, 2) is None


def test_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    assert sources.line(str(fifo), 1) == ""  # returns at once: nobody ever writes


def test_a_huge_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.py"
    with open(path, "wb") as file:
        file.truncate(sources.MAX_SOURCE + 1)
    assert sources.line(str(path), 1) == ""


def test_a_frame_in_a_file_named_like_a_fifo_is_dumped_without_source(tmp_path: Path) -> None:
    """The case that blocked the control thread for good: a code object named after a FIFO."""
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    started, release = threading.Event(), threading.Event()
    code = compile("started.set()\nrelease.wait()\n", str(fifo), "exec")
    thread = threading.Thread(
        target=exec, args=(code, {"started": started, "release": release}), daemon=True
    )
    thread.start()
    assert started.wait(10)
    try:
        snapshot = capture(FrameClassifier())
    finally:
        release.set()
        thread.join(10)
    frames = [f for t in snapshot.threads for f in t.frames if f.filename == str(fifo)]
    assert frames and frames[0].lineno == 2 and frames[0].line == ""
