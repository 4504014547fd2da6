"""What ``%stackdump --status`` says: what is installed, and whether it still works."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

from .render.common import printable
from .signals import describe_handler

if TYPE_CHECKING:
    from .extension import Extension


def named(handler: Any) -> str:
    """Another owner's handler, named for a terminal: its name escaped (``printable``)."""
    return printable(describe_handler(handler))


def problems(extension: Extension) -> list[str]:
    """What another owner broke since we loaded (main thread sees the wakeup fd too)."""
    if extension.trigger is None or extension.watcher is None:
        return []
    out = []
    handler_ours, wakeup = extension.trigger.still_owned()
    if not handler_ours:
        current = named(signal.getsignal(extension.trigger.signum))
        out.append(
            f"PROBLEM: {extension.signame} now goes to {current}, so the signal no longer "
            "makes dumps; %reload_ext ipysigtrace takes it back"
        )
    if wakeup == "other":
        out.append(
            "note: another owner (an asyncio event loop?) holds the signal wakeup fd; "
            "our handler passes the signal on itself, which works unless native code "
            "keeps the main thread busy (the raw dump still works then)"
        )
    if not extension.watcher.alive:
        out.append("PROBLEM: the watcher thread has stopped; %reload_ext ipysigtrace")
    return out


def status(extension: Extension) -> list[str]:
    """What is installed and whether it still works."""
    lines = [f"process {os.getpid()}, signal {extension.signame}"]
    if extension.trigger is None or extension.watcher is None:
        return [*lines, "not installed"]
    alive = "alive" if extension.watcher.alive else "DEAD"
    dumps = extension.watcher.dumps
    lines.append(
        f"watcher thread {extension.watcher.thread.name}: {alive}, "
        f"{dumps} dump{'' if dumps == 1 else 's'} made"
    )
    if extension.raw is not None:
        lines.append(f"raw dumps: {extension.raw.signum.name} -> {extension.raw.path}")
    nudger = extension.watcher.nudger
    if nudger is not None:
        lines.append(f"interrupt nudges: {nudger.sent} sent")
    lines += problems(extension)
    if profiling := extension.profiling.describe():
        lines.append(profiling)
    if extension.trigger.previous_wakeup_fd >= 0:
        fd, count = extension.trigger.previous_wakeup_fd, extension.trigger.forwarded
        lines.append(f"forwarding other signals to the earlier wakeup fd {fd} ({count} bytes)")
    lines += [f"watcher error: {e}" for e in extension.watcher.errors]
    return lines
