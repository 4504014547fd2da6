"""The kernel's side of ``responder.py``: its worker processes asked for their own stacks.

``Children`` makes the directory where they listen and names it in the environment that
they inherit; ``ask`` connects to every listed descendant that listens there, all at
once, and gives them together at most ``ASK_SECONDS`` to answer. An answer is raw frames:
they are resolved here, like the kernel's own (``capture.resolve``: source lines, cell
labels, kinds, the OS's thread states read from the worker's /proc entries).

An answer comes from another process and is checked like any input: the socket's peer
must be the process with that PID and of this user (``SO_PEERCRED``), the answer has a
size limit, and every field is checked; one that is wrong gives that worker a note, never
an exception in the dump.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import time
from collections.abc import Iterable
from typing import Any

from .capture import FrozenStacks, resolve
from .classify import FrameClassifier, mark_beneath_cell
from .foreign import Code, find_cells
from .responder import ENV, FORMAT, REQUEST, VERSION, peer, socket_path, watch_forks
from .runtime import children_dir, make_private_dir, remove_sockets_dir
from .snapshot import ProcessRecord

ASK_SECONDS = 0.5  # for all the workers together
MAX_ANSWER = 8 << 20  # bytes
MAX_THREADS = 2000  # per worker
MAX_FRAMES = 2000  # per thread

NO_RESPONDER = "no stacks: not a Python program of this environment started after ipysigtrace"
NO_ANSWER = "no stacks: no answer within {seconds:g} s (native code may hold its GIL)"
NOT_ASKED = "no stacks: not asked (IPySigTrace.children is False)"
CLOSED = "no stacks: it ended, or closed the connection, before it answered"


class Children:
    """The directory of one kernel's listening workers, from load to unload."""

    def __init__(self, runtime_dir: str) -> None:
        self.path = children_dir(runtime_dir, os.getpid())
        self.pid = os.getpid()
        self.notes: list[str] = []
        self.active = False
        self.why_not = NOT_ASKED  # each listed process's note while not active

    def start(self) -> None:
        """Make the directory and let the kernel's children know (never raises)."""
        try:
            make_private_dir(self.path)
        except OSError as exc:
            self.notes.append(f"{exc}; worker processes are listed without their stacks")
            self.why_not = f"no stacks: no directory for their answers ({exc.strerror or exc})"
            return
        os.environ[ENV] = self.path
        watch_forks()
        self.active = True

    def stop(self) -> None:
        """Children started from now on are left alone; the directory goes (in the
        process that made it only)."""
        if not self.active or os.getpid() != self.pid:
            return
        self.active = False
        if os.environ.get(ENV) == self.path:
            del os.environ[ENV]
        remove_sockets_dir(self.path)

    def ask(self, processes: Iterable[ProcessRecord], classifier: FrameClassifier) -> None:
        """Fill in each process's stacks, or a note that says why it has none."""
        if self.active:
            ask(self.path, list(processes), classifier)
            return
        for process in processes:
            process.note = process.note or self.why_not


def ask(
    directory: str,
    processes: list[ProcessRecord],
    classifier: FrameClassifier,
    seconds: float = ASK_SECONDS,
) -> None:
    """Ask every process that listens in ``directory`` for its stacks, all at once."""
    pending: dict[int, tuple[socket.socket, ProcessRecord, bytearray]] = {}
    for process in processes:
        if process.note:  # ended, or not readable: nothing to ask
            continue
        connection = _connect(directory, process)
        if connection is not None:
            pending[connection.fileno()] = (connection, process, bytearray())
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + seconds
    try:
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _ in poller.poll(left * 1000):
                connection, process, data = pending[fd]
                try:
                    chunk = connection.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    chunk, process.note = b"", f"no stacks: {exc.strerror or exc}"
                if chunk and len(data) + len(chunk) <= MAX_ANSWER:
                    data += chunk
                    continue
                if chunk:
                    process.note = "no stacks: its answer was too large"
                elif not data:  # an end before any answer: it exited while asked
                    process.note = process.note or CLOSED
                elif not process.note:
                    _take(process, bytes(data), classifier)
                poller.unregister(fd)
                del pending[fd]
                connection.close()
    finally:
        for connection, process, _ in pending.values():
            process.note = NO_ANSWER.format(seconds=seconds)
            connection.close()


def _connect(directory: str, process: ProcessRecord) -> socket.socket | None:
    path = socket_path(directory, process.pid)
    if not os.path.exists(path):
        process.note = NO_RESPONDER
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.setblocking(False)
    try:
        connection.connect(path)
        who = peer(connection)
        if who is None or who != (process.pid, os.geteuid()):
            owner = who[0] if who else "unknown"
            raise PermissionError(f"the socket for {process.pid} belongs to process {owner}")
        connection.send(REQUEST)
    except ConnectionRefusedError:  # nobody listens: it was left by a process that ended
        connection.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        process.note = NO_RESPONDER
        return None
    except OSError as exc:
        connection.close()
        process.note = f"no stacks: {exc.strerror or exc}"
        return None
    return connection


def _take(process: ProcessRecord, data: bytes, classifier: FrameClassifier) -> None:
    """Read one answer into the process's record."""
    try:
        answer = json.loads(data.decode("utf-8", "surrogatepass"))
        frozen, forked, left_out = _frozen(answer, process.pid)
    except (ValueError, RecursionError) as exc:
        process.note = f"no stacks: its answer could not be read ({str(exc)[:100]})"
        return
    find_cells(list(frozen.stacks.values()), classifier)
    snapshot = resolve(frozen, classifier, trigger="request", pid=process.pid)
    if forked:  # it was forked from a cell's code: beneath the cell is the parent kernel
        for thread in snapshot.threads:
            mark_beneath_cell(thread.frames)
    process.threads = snapshot.threads
    process.forked = forked
    if left_out:
        process.note = f"{left_out:,} outermost frames left out (over {MAX_FRAMES:,} in a thread)"


def _frozen(answer: Any, pid: int) -> tuple[FrozenStacks, bool, int]:
    """The answer as ``capture.freeze`` would have seen it; ValueError if it is not one."""
    if not isinstance(answer, dict) or answer.get("format") != FORMAT:
        raise ValueError("not an ipysigtrace answer")
    if answer.get("version") != VERSION or answer.get("pid") != pid:
        raise ValueError(f"version {answer.get('version')!r} from {answer.get('pid')!r}")
    threads, main, forked = answer.get("threads"), answer.get("main"), answer.get("forked")
    if not isinstance(threads, list) or len(threads) > MAX_THREADS:
        raise ValueError(f"threads: not a list of at most {MAX_THREADS}")
    if not _is_int(main) or not isinstance(forked, bool):
        raise ValueError("main, forked: wrong types")
    stacks = {}
    names = {}
    left_out = 0
    for index, thread in enumerate(threads):
        if not isinstance(thread, list) or len(thread) != 6:
            raise ValueError(f"threads[{index}]: not a thread")
        ident, name, native, daemon, chain, deeper = thread
        if not (_is_int(ident) and isinstance(name, str) and isinstance(daemon, bool)):
            raise ValueError(f"threads[{index}]: wrong types")
        if not (native is None or _is_int(native)) or not _is_int(deeper):
            raise ValueError(f"threads[{index}]: wrong types")
        if not isinstance(chain, list) or len(chain) > MAX_FRAMES:
            raise ValueError(f"threads[{index}]: frames: not a list of at most {MAX_FRAMES}")
        stacks[ident] = [_frame(frame, f"threads[{index}]") for frame in chain]
        names[ident] = (name, native, daemon)
        left_out = max(left_out, deeper)
    frozen = FrozenStacks(time.time(), stacks, names, main, 0.0)
    return frozen, forked, left_out


def _frame(value: Any, where: str) -> tuple[Any, int]:
    if not isinstance(value, list) or len(value) != 5:
        raise ValueError(f"{where}: a frame is not [file, qualname, name, line, first line]")
    filename, qualname, name, lineno, first = value
    if not all(isinstance(text, str) for text in (filename, qualname, name)):
        raise ValueError(f"{where}: a frame's names are not strings")
    if not (_is_int(lineno) and _is_int(first)) or min(lineno, first) < 0:
        raise ValueError(f"{where}: a frame's line is not a number")
    return Code(filename, qualname, name, first), lineno


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
