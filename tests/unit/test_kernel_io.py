"""Writing to a reader that never reads gives up instead of blocking the watcher."""

from __future__ import annotations

import os

from ipysigtrace.sinks.fdio import write_all


def test_a_stalled_reader_costs_a_bounded_wait() -> None:
    read_end, write_end = os.pipe()
    try:
        write_all(write_end, b"x" * (1 << 20), timeout=0.2)  # far more than a pipe holds
        os.set_blocking(read_end, False)
        kept = b""
        while True:
            try:
                chunk = os.read(read_end, 1 << 16)
            except BlockingIOError:
                break
            kept += chunk
        assert 0 < len(kept) < 1 << 20, "what fitted went out, the rest was dropped"
    finally:
        os.close(read_end)
        os.close(write_end)
