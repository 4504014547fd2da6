"""Unit tests run in this process: each must leave nothing behind."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """In-process tests must leave no thread, handler or wakeup fd behind."""
    threads = set(threading.enumerate())
    handler = signal.getsignal(signal.SIGUSR2)
    yield
    leaked = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"
    assert signal.getsignal(signal.SIGUSR2) == handler
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    assert fd == -1, f"wakeup fd left set: {fd}"
