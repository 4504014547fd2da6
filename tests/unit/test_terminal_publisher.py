"""Terminal IPython's publisher when the prompt's event loop cannot take a dump.

A hung tab completer runs on the prompt's event loop (the main thread): the dump handed to
that loop would wait behind it. After PROMPT_WAIT it is written straight to the terminal.
The loop here is a real asyncio loop that is not running, standing in for a blocked one.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from types import SimpleNamespace

import pytest

from ipysigtrace.render import ViewOptions
from ipysigtrace.sinks.terminal import PROMPT_WAIT, TerminalPublisher
from ipysigtrace.snapshot import StackSnapshot


def prompt_shell(loop: asyncio.AbstractEventLoop) -> SimpleNamespace:
    """What TerminalPublisher reads of terminal IPython: pt_app.app's loop and context."""
    pytest.importorskip("prompt_toolkit", reason="terminal IPython's prompt library")
    app = SimpleNamespace(is_running=True, loop=loop, context=contextvars.copy_context())
    return SimpleNamespace(pt_app=SimpleNamespace(app=app))


def test_a_blocked_prompt_gets_the_dump_written_directly(
    capfd: pytest.CaptureFixture[str],
) -> None:
    loop = asyncio.new_event_loop()
    publisher = TerminalPublisher(ViewOptions(), prompt_shell(loop))
    acked: list[float] = []
    try:
        started = time.monotonic()
        snapshot = StackSnapshot(time=time.time(), pid=1)
        publisher.publish(snapshot, lambda: acked.append(time.monotonic() - started))
        waited = time.monotonic() - started
        assert len(acked) == 1 and acked[0] < waited, "the handler was released before"
        assert waited >= PROMPT_WAIT, "the prompt had its chance"
        assert "Stacks of process 1" in capfd.readouterr().err
        loop.run_until_complete(asyncio.sleep(0))  # the loop wakes up late: nothing twice
        assert "Stacks of process" not in capfd.readouterr().err
    finally:
        publisher.close()
        loop.close()
