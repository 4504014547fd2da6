"""A kernel's sink: a dump goes under the running cell as display_data.

It is sent from the watcher thread: ``session.send`` hands the message to ipykernel's IOPub
thread without taking a lock that the cell can hold. When no cell runs, the dump goes to
the kernel's original stderr (the terminal or log of the Jupyter server) and to a file in
the Jupyter runtime directory, and ``%stackdump --last`` shows it in a notebook.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from ..kernel.cells import CellTracker
from ..render import ViewOptions, bundle, text
from ..runtime import rewrite
from ..snapshot import StackSnapshot
from . import Done
from .fdio import StderrSink, write_all


class KernelPublisher(StderrSink):
    """Publishes dumps under the running cell; idle-time dumps go to stderr and a file.

    The idle-dump file is made at load (``runtime.KernelFiles``) and rewritten through its
    descriptor; without one (it could not be made safely) idle dumps go to stderr only.
    """

    def __init__(
        self,
        kernel: Any,
        cells: CellTracker,
        options: ViewOptions,
        idle_fd: int | None,
        idle_path: str,
    ) -> None:
        super().__init__(options)
        self.kernel = kernel
        self.cells = cells
        self.idle_fd = idle_fd
        self.path = idle_path
        self.iopub_thread = getattr(kernel, "iopub_thread", None)
        topic = getattr(kernel, "_topic", None)
        self.topic = topic("display_data") if callable(topic) else b"display_data"

    def warm_up(self) -> None:
        """On the watcher thread, once: make ipykernel's per-thread event pipe now."""
        with contextlib.suppress(Exception):
            _ = self.iopub_thread._event_pipe  # type: ignore[union-attr]

    def release_thread(self, thread: threading.Thread) -> None:
        """Close the event pipe ipykernel made for a finished thread (else it waits for gc)."""
        pipes = getattr(self.iopub_thread, "_event_pipes", None)
        lock = getattr(self.iopub_thread, "_event_pipe_gc_lock", None)
        if not isinstance(pipes, dict) or lock is None or thread.is_alive():
            return
        with lock:
            pipe = pipes.pop(thread, None)
        if pipe is not None:
            pipe.close()

    def publish(self, snapshot: StackSnapshot, done: Done) -> None:
        """Under the running cell if there is one; else stderr and the runtime file."""
        self.last = snapshot
        cell = self.cells.current
        if cell is None or cell.parent is None:
            self._publish_idle(snapshot, done)
            return
        facts = {"time": snapshot.time, "freeze_seconds": snapshot.freeze_seconds}
        try:
            self.show(bundle(snapshot, self.options), cell.parent, metadata={"ipysigtrace": facts})
        except BaseException:
            done()
            raise
        # Acknowledge once the IOPub thread has sent it: its queue runs in order.
        if self.iopub_thread is not None and hasattr(self.iopub_thread, "schedule"):
            self.iopub_thread.schedule(done)
        else:
            done()

    def show(
        self,
        data: dict[str, Any],
        parent: Any = None,
        display_id: str = "",
        update: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """A display bundle under the cell of ``parent`` (its execute request), any thread;
        ``update`` replaces the earlier display of ``display_id`` where it is shown."""
        if parent is None:
            super().show(data, parent)
            return
        transient = {"display_id": display_id} if display_id else {}
        content = {"data": data, "metadata": metadata or {}, "transient": transient}
        kind = "update_display_data" if update and display_id else "display_data"
        self.kernel.session.send(
            self.kernel.iopub_socket, kind, content, parent=parent, ident=self.topic
        )

    def _publish_idle(self, snapshot: StackSnapshot, done: Done) -> None:
        report = text.render(snapshot, self.options)
        saved = ""
        if self.idle_fd is not None:
            with contextlib.suppress(OSError):
                rewrite(self.idle_fd, report.encode())
                saved = f" saved to {self.path};"
        where = f"(ipysigtrace: no cell was running;{saved} %stackdump --last shows it)\n"
        try:
            write_all(self.fd, ("\n" + report + where).encode())
        finally:
            done()
