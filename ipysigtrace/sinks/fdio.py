"""Writing to the process's original stderr without a Python stream: ``os.write`` only.

No stream lock (a cell may hold sys.stderr's), no buffering, and a reader that stalls (a
terminal stopped with Ctrl-S, a full log pipe) costs the writer a second at most.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
from typing import Any

from ..render import ViewOptions
from ..snapshot import StackSnapshot

PIPE_CHUNK = 4096  # at most this much per write: a pipe with room for one write takes it


def original_stderr_fd() -> int:
    """A private copy of the process's real stderr, bypassing ipykernel's capture."""
    fd = getattr(sys.stderr, "_original_stdstream_copy", None)
    if not isinstance(fd, int):
        fd = 2
    return os.dup(fd)


def write_all(fd: int, data: bytes, timeout: float = 1.0) -> None:
    """os.write until everything is out, or give up after ``timeout`` seconds.

    No Python stream, no stream lock; and a stalled reader (a terminal stopped with
    Ctrl-S, a full log pipe) costs the watcher a second at most, never its life.
    """
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    while view:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([], [fd], [], left)[1]:
            return  # the rest is dropped
        try:
            written = os.write(fd, view[:PIPE_CHUNK])
        except BlockingIOError:
            continue
        view = view[written:]


class StderrSink:
    """The part every sink shares: a private copy of stderr, and the last dump."""

    def __init__(self, options: ViewOptions) -> None:
        self.options = options
        self.fd = original_stderr_fd()
        self.last: StackSnapshot | None = None

    def show(
        self, data: dict[str, Any], parent: Any = None, display_id: str = "", update: bool = False
    ) -> None:
        """A bundle's text on stderr. A terminal shows only ends: ``display_id`` and
        ``update`` are for front ends."""
        write_all(self.fd, ("\n" + data["text/plain"]).encode())

    def warm_up(self) -> None:
        """Nothing to prepare."""

    def release_thread(self, thread: threading.Thread) -> None:
        """Nothing kept per thread."""

    def close(self) -> None:
        """Release the stderr copy."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
