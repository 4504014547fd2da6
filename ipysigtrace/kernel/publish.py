"""Where dumps go: under the running cell, or to the terminal (the sinks).

``KernelPublisher`` sends a dump as display_data under the running cell, from the watcher
thread: ``session.send`` hands the message to ipykernel's IOPub thread without taking a
lock that the cell can hold. When no cell runs, the dump goes to the kernel's original
stderr (the terminal or log of the Jupyter server) and to a file in the Jupyter runtime
directory, and ``%stackdump --last`` shows it in a notebook.

``TerminalPublisher`` serves terminal IPython: ``os.write`` to the original stderr fd. At
the prompt, prompt_toolkit owns the screen, so the dump is handed to its event loop
(``call_soon_threadsafe``, which never blocks) and printed above the prompt, which is then
drawn again with what the user had typed.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..render import ViewOptions, bundle, text
from ..runtime import rewrite
from ..snapshot import StackSnapshot
from .cells import CellTracker

Done = Callable[[], None]
PROMPT_WAIT = 0.5  # seconds for terminal IPython's prompt to take a dump before it is written
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


class TerminalPublisher:
    """Writes dumps to the terminal through the original stderr fd."""

    def __init__(self, options: ViewOptions, shell: Any = None) -> None:
        self.options = options
        self.fd = original_stderr_fd()
        self.last: StackSnapshot | None = None
        self.shell = shell
        self.run_in_terminal: Callable[[Callable[[], None]], Any] | None = None
        if getattr(shell, "pt_app", None) is not None:  # imported here: never on the watcher
            from prompt_toolkit.application import run_in_terminal

            self.run_in_terminal = run_in_terminal

    def publish(self, snapshot: StackSnapshot, done: Done) -> None:
        """Show one dump; call ``done`` once it is out (or handed to the prompt)."""
        self.last = snapshot
        data = ("\n" + text.render(snapshot, self.options)).encode()
        try:
            taken = self._hand_to_prompt(data)
            if taken is None:
                write_all(self.fd, data)
        finally:
            done()  # before waiting below: the prompt's loop runs once the handler returns
        if taken is not None and not taken():
            write_all(self.fd, data)  # the prompt did not take it in time (a hung completer)

    def _hand_to_prompt(self, data: bytes) -> Callable[[], bool] | None:
        """At terminal IPython's prompt, have prompt_toolkit print ``data`` above it.

        None if no prompt is showing. Else a function that waits up to PROMPT_WAIT for the
        prompt's event loop to take the dump, and says whether it did; if not, it never
        will, and the caller writes it. Whoever pops the one token prints it.
        """
        app = getattr(getattr(self.shell, "pt_app", None), "app", None)
        loop = getattr(app, "loop", None)
        context = getattr(app, "context", None)
        print_above = self.run_in_terminal
        running = getattr(app, "is_running", False)
        if not running or loop is None or context is None or print_above is None:
            return None
        token = [True]

        def show() -> None:  # on the prompt's event loop (the main thread)
            with contextlib.suppress(IndexError):
                token.pop()
                print_above(lambda: write_all(self.fd, data))

        try:
            loop.call_soon_threadsafe(show, context=context)
        except RuntimeError:  # the loop closed meanwhile
            return None

        def taken() -> bool:
            deadline = time.monotonic() + PROMPT_WAIT
            while token and time.monotonic() < deadline:
                time.sleep(0.01)
            try:
                token.pop()
            except IndexError:
                return True
            return False

        return taken

    def show(
        self, data: dict[str, Any], parent: Any = None, display_id: str = "", update: bool = False
    ) -> None:
        """A bundle that is not a dump (a profile): its text, on the terminal. A terminal
        shows only ends: ``display_id`` and ``update`` are for front ends."""
        write_all(self.fd, ("\n" + data["text/plain"]).encode())

    def close(self) -> None:
        """Release the stderr copy."""
        with contextlib.suppress(OSError):
            os.close(self.fd)


class KernelPublisher(TerminalPublisher):
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
