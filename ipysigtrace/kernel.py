"""Where dumps go: the only module that knows about ipykernel.

``CellTracker`` remembers, on the thread that runs each cell, which cell is running: the
thread, the start time and the kernel's parent header (the execute request). ipykernel 7
keeps the parent in ContextVars, which a watcher thread cannot see, so the header is taken
when the cell starts and passed explicitly when publishing.

``KernelPublisher`` sends a dump as display_data under the running cell, from the watcher
thread: ``session.send`` hands the message to ipykernel's IOPub thread without taking a
lock that the cell can hold. When no cell runs, the dump goes to the kernel's original
stderr (the terminal or log of the Jupyter server) and to a file in the Jupyter runtime
directory, and ``%stackdump --last`` shows it in a notebook.

``TerminalPublisher`` serves terminal IPython: ``os.write`` to the original stderr fd. At
the prompt, prompt_toolkit owns the screen, so the dump is handed to its event loop
(``call_soon_threadsafe``, which never blocks) and printed above the prompt, which is then
drawn again with what the user had typed.

``ControlHandler`` answers ``ipysigtrace_request`` messages on ipykernel's control
channel, which has its own thread and so answers while a cell keeps the shell busy; the
request travels through jupyter_server's websocket, so it reaches remote kernels too. A
kernel without ipysigtrace only logs the unknown message type: asking it is harmless.
ipykernel publishes busy and idle on IOPub around every control request; for ours it does
not (see ``ControlHandler.install``): jupyter_server takes execution state and last activity
from those, so a dump would make a busy kernel look idle, and a panel that refreshes would
keep an idle kernel from being culled.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import REPLY, REQUEST, VERSION
from .render import ViewOptions, bundle, text
from .render.common import excerpt
from .runtime import rewrite
from .snapshot import StackSnapshot

Done = Callable[[], None]
PROMPT_WAIT = 0.5  # seconds for terminal IPython's prompt to take a dump before it is written

# How many cells' front-end ids to remember (execution count -> cell id).
CELL_ID_MEMORY = 2000
PIPE_CHUNK = 4096  # at most this much per write: a pipe with room for one write takes it


@dataclass(frozen=True)
class RunningCell:
    """The cell that runs now."""

    thread: int
    started: float
    parent: dict[str, Any] | None


class CellTracker:
    """Follows IPython's pre_run_cell and post_run_cell events."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.kernel = getattr(shell, "kernel", None)
        self.current: RunningCell | None = None  # replaced whole: safe to read anywhere
        self.on_change: Callable[[RunningCell | None], None] | None = None
        # An object whose ``in_hook`` is True while our callbacks run (the trigger).
        self.hook_flag: Any = None
        self.cell_ids: dict[int, str] = {}
        self._pending: tuple[Any, int] | None = None
        self._offset = -1 if _ipython_major() >= 9 else 0  # a first guess, see _pre

    def register(self) -> None:
        """Start following cells."""
        self.shell.events.register("pre_run_cell", self._pre)
        self.shell.events.register("post_run_cell", self._post)

    def unregister(self) -> None:
        """Stop following cells."""
        for name, callback in (("pre_run_cell", self._pre), ("post_run_cell", self._post)):
            with contextlib.suppress(ValueError):
                self.shell.events.unregister(name, callback)

    def _hook(self, on: bool) -> None:
        if self.hook_flag is not None:
            self.hook_flag.in_hook = on

    def _pre(self, info: Any = None) -> None:
        self._hook(True)
        try:
            self._started(info)
        finally:
            self._hook(False)

    def _post(self, result: Any = None) -> None:
        self._hook(True)
        try:
            self._ended(result)
        finally:
            self._hook(False)

    def _started(self, info: Any) -> None:
        parent = None
        if self.kernel is not None:
            with contextlib.suppress(Exception):
                parent = self.kernel.get_parent("shell")
        cell = RunningCell(threading.get_ident(), time.time(), parent or None)
        if self.on_change is not None:
            self.on_change(cell)
        self._note_cell_id(info, parent)
        # Last: whoever asks whether a cell runs (a status request) is told so only once
        # our callback is over, so an interrupt sent on that answer is not taken inside it.
        self.current = cell

    def _note_cell_id(self, info: Any, parent: Any) -> None:
        cell_id = getattr(info, "cell_id", None)
        if not cell_id and isinstance(parent, dict):
            cell_id = (parent.get("metadata") or {}).get("cellId")
        if cell_id and getattr(info, "store_history", True):
            # IPython 9 counts the cell before this event, IPython 8 after it: the offset
            # is learnt from the first finished cell (post_run_cell has the true count).
            self._pending = (info, self.shell.execution_count)
            self._remember(self.shell.execution_count + self._offset, str(cell_id))

    def _ended(self, result: Any) -> None:
        self.current = None
        if self.on_change is not None:
            self.on_change(None)
        pending, self._pending = self._pending, None
        count = getattr(result, "execution_count", None)
        if (
            pending is not None
            and isinstance(count, int)
            and getattr(result, "info", None) is pending[0]
        ):
            cell_id = getattr(pending[0], "cell_id", None) or self.cell_ids.get(
                pending[1] + self._offset
            )
            self.cell_ids.pop(pending[1] + self._offset, None)
            self._offset = count - pending[1]
            if cell_id:
                self._remember(count, str(cell_id))

    def _remember(self, count: int, cell_id: str) -> None:
        self.cell_ids[count] = cell_id
        if len(self.cell_ids) > CELL_ID_MEMORY:
            del self.cell_ids[min(self.cell_ids)]

    def cell_id(self, label: str) -> str | None:
        """The front end's id of the cell labelled `Cell In[7]`, if it sent one."""
        match = re.search(r"\[(\d+)\]", label)
        return self.cell_ids.get(int(match.group(1))) if match else None


def connection_file(kernel: Any) -> str:
    """The connection file of the kernel app running in this process, or ''."""
    if kernel is None:
        return ""
    app = getattr(kernel, "parent", None)
    path = getattr(app, "abs_connection_file", None) or getattr(app, "connection_file", "")
    return str(path) if isinstance(path, str) else ""


def _ipython_major() -> int:
    module = sys.modules.get("IPython")
    version = getattr(module, "version_info", (0,))
    return int(version[0])


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

    def show(self, data: dict[str, Any], parent: Any = None) -> None:
        """A bundle that is not a dump (a profile): its text, on the terminal."""
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
            self.show(bundle(snapshot, self.options), cell.parent, {"ipysigtrace": facts})
        except BaseException:
            done()
            raise
        # Acknowledge once the IOPub thread has sent it: its queue runs in order.
        if self.iopub_thread is not None and hasattr(self.iopub_thread, "schedule"):
            self.iopub_thread.schedule(done)
        else:
            done()

    def show(
        self, data: dict[str, Any], parent: Any = None, metadata: dict[str, Any] | None = None
    ) -> None:
        """A display bundle under the cell of ``parent`` (its execute request), any thread."""
        if parent is None:
            super().show(data, parent)
            return
        content = {"data": data, "metadata": metadata or {}, "transient": {}}
        self.kernel.session.send(
            self.kernel.iopub_socket, "display_data", content, parent=parent, ident=self.topic
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


class ControlHandler:
    """Answers ``ipysigtrace_request`` on the control channel, on ipykernel's control thread.

    Content of a request: ``{"action": "status"}`` or ``{"action": "dump"}`` (the default),
    with ``"locals": true`` for the locals of cell and user frames (shown safely), or
    ``"locals": "repr"`` to call their reprs (on disposable threads, with a time limit).
    The reply, ``ipysigtrace_reply``: ``{"status": "ok", "version": 1, "pid": ...,
    "signal": "SIGUSR2", "raw_file": "/run/.../ipysigtrace-PID.raw", "snapshot": {...}}``
    (the snapshot for a dump only), or
    ``{"status": "error", "message": ...}``. Other actions (``profile``, ``profile_result``)
    come from ``actions``.
    """

    def __init__(
        self,
        kernel: Any,
        snapshot: Callable[..., StackSnapshot],
        facts: Callable[[], dict[str, Any]],
        actions: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    ) -> None:
        self.kernel = kernel
        self.snapshot = snapshot
        self.facts = facts
        self.actions = actions or {}  # more actions: content -> what goes into the reply
        self.previous: Any = None
        self.publish_status: Any = None  # the kernel's own, while ours stands in front
        self.wrapped: Any = None  # an instance attribute that stood there before ours

    def install(self) -> None:
        """Add our message type to the kernel's control handlers; silence its status.

        ipykernel 6.5 to 7 call ``_publish_status(state, "control")`` around each control
        request, with that request as parent: an instance attribute of ours in front of the
        method drops those two for our message type only.
        """
        handlers = getattr(self.kernel, "control_handlers", None)
        if isinstance(handlers, dict):
            self.previous = handlers.get(REQUEST)
            handlers[REQUEST] = self.handle
        original = getattr(self.kernel, "_publish_status", None)
        if callable(original) and self.publish_status is None:
            self.publish_status = original
            self.wrapped = vars(self.kernel).get("_publish_status")
            self.kernel._publish_status = self._publish_status

    def uninstall(self) -> None:
        """Put back whatever handled the message type and published status before."""
        if self.publish_status is not None and (
            vars(self.kernel).get("_publish_status") == self._publish_status
        ):
            del self.kernel._publish_status  # the class's method again
            if self.wrapped is not None:
                self.kernel._publish_status = self.wrapped
        self.publish_status = self.wrapped = None
        handlers = getattr(self.kernel, "control_handlers", None)
        if not isinstance(handlers, dict) or handlers.get(REQUEST) != self.handle:
            return
        if self.previous is None:
            del handlers[REQUEST]
        else:
            handlers[REQUEST] = self.previous

    def _publish_status(self, status: str, channel: str, parent: Any = None) -> None:
        """ipykernel's ``_publish_status``, except around our own control requests."""
        original = self.publish_status
        if original is not None and channel == "control" and parent is None:
            current = self.kernel.get_parent("control") or {}
            if (current.get("header") or {}).get("msg_type") == REQUEST:
                return
        if original is not None:
            original(status, channel, parent)
        else:  # after uninstall, through a reference someone kept
            type(self.kernel)._publish_status(self.kernel, status, channel, parent)

    def handle(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Runs on the control thread while the shell may be busy."""
        content = parent.get("content") or {}
        if not isinstance(content, dict):
            content = {}
        action = content.get("action", "dump")
        reply: dict[str, Any] = {
            "status": "ok",
            "version": VERSION,
            "pid": os.getpid(),
            **self.facts(),
        }
        if action == "dump":
            wanted = content.get("locals")
            try:
                snapshot = self.snapshot(
                    "request", with_locals=wanted in (True, "repr"), user_reprs=wanted == "repr"
                )
                reply["snapshot"] = snapshot.to_dict()
            except Exception as exc:  # answer anyway: the asker would only time out
                reply = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
        elif action in self.actions:
            try:
                reply.update(self.actions[action](content))
            except Exception as exc:  # answer anyway
                reply = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
        elif action != "status":
            reply = {"status": "error", "message": f"unknown action {excerpt(repr(action))}"}
        self.kernel.session.send(stream, REPLY, reply, parent, ident)
