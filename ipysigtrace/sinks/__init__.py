"""Where a dump goes once it is captured: the sinks.

The watcher hands every snapshot to one ``Sink``, from the watcher thread; the sink must
not take a lock that a cell can hold, and calls ``done`` once the dump is out (the signal
handler that asked for it waits for that). ``iopub.KernelPublisher`` serves a kernel (under
the running cell; idle dumps to stderr and a runtime file), ``terminal.TerminalPublisher``
terminal IPython (the original stderr, above the prompt); ``fdio`` is what both write with.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from ..snapshot import StackSnapshot

Done = Callable[[], None]


class Sink(Protocol):
    """What the extension and the watcher ask of where dumps go."""

    last: StackSnapshot | None  # the last dump published (``%stackdump --last``)

    def publish(self, snapshot: StackSnapshot, done: Done) -> None:
        """Show one dump (watcher thread); call ``done`` once it is out."""

    def show(
        self, data: dict[str, Any], parent: Any = None, display_id: str = "", update: bool = False
    ) -> None:
        """A display bundle that is not a dump (a profile), under the cell of ``parent``
        where there are cells; ``update`` replaces the earlier view of ``display_id``."""

    def warm_up(self) -> None:
        """On the watcher thread, once, as it starts."""

    def release_thread(self, thread: threading.Thread) -> None:
        """``thread`` (the watcher) ended: free what the sink kept for it."""

    def close(self) -> None:
        """Unload: release what the sink holds."""
