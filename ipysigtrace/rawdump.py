"""The raw dump: what faulthandler writes when native code holds the GIL.

While a C extension (or a builtin such as ``sum(itertools.repeat(1))``) holds the GIL, no
Python thread runs, the watcher included. faulthandler writes every thread's stack from
inside the C signal handler without the GIL, to a per-kernel file in the Jupyter runtime
directory; another process (the server extension, a command line) reads it and parses it
here into the usual snapshot, marked ``kind="raw"``.

faulthandler gets a signal of its own (SIGURG by default, whose default action is to do
nothing, so sending it to the wrong process is harmless) and is registered without
``chain``: chaining re-raises the signal from inside the handler, and a storm of signals
then crashed a test process with SIGSEGV (CPython 3.11). Without chaining the signal is
blocked while its handler runs, and a storm only writes a few more dumps.

The file is opened with O_APPEND, so a reader empties it before it asks for a dump, mode
0600, refusing to follow a symlink; unloading removes it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import linecache
import os
import re
import signal
import time

from .procinfo import catches
from .snapshot import FrameRecord, StackSnapshot, ThreadStack

RAW_NOTE = (
    "Native code holds the GIL: no Python thread can run, so this is the raw dump that "
    "faulthandler wrote from the signal handler. Thread names, states and cell numbers are "
    "unknown. Interrupt may do nothing until the native call returns; if it never does, "
    "restart the kernel."
)

_THREAD = re.compile(
    r"^(Current thread|Thread) (0x[0-9a-fA-F]+)(?: \[(.*)\])? \(most recent call first\):"
)
_FRAME = re.compile(r'^  File "(.*)", line (\d+|\?\?\?) in (.*)$')
_CELL_FILE = re.compile(r"(^|/)ipykernel_\d+/\d+\.py$|^<ipython-input-")
_MACHINERY = re.compile(
    r"/(ipykernel|IPython|jupyter_client|traitlets|tornado|zmq|asyncio|anyio|comm|ipysigtrace)/"
    r"|/(runpy|ipykernel_launcher)\.py$"
)
_LIBRARY = re.compile(r"/(site-packages|dist-packages)/|/lib/python3\.\d+/|^<frozen ")


def raw_path(runtime_dir: str, pid: int) -> str:
    """Where the kernel with this PID has faulthandler write its raw dumps."""
    return os.path.join(runtime_dir, f"ipysigtrace-{pid}.raw")


def open_raw_file(path: str) -> int:
    """Open (create, empty) the raw dump file for appending: 0600, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    os.ftruncate(fd, 0)
    return fd


class RawDumpWriter:
    """faulthandler registered on the raw signal, writing to the raw file."""

    def __init__(self, signum: signal.Signals, path: str) -> None:
        self.signum = signum
        self.path = path
        self.fd = -1

    def install(self) -> None:
        """Open the file and register faulthandler, every argument explicit."""
        self.fd = open_raw_file(self.path)
        try:
            faulthandler.register(self.signum, file=self.fd, all_threads=True, chain=False)
        except BaseException:
            self.close()
            raise
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def uninstall(self) -> None:
        """Unregister faulthandler (putting back the signal's previous action)."""
        if self.fd >= 0:
            faulthandler.unregister(self.signum)
        self.close()

    def close(self) -> None:
        """Close and remove the file."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.fd = -1

    def _after_fork_in_child(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(RuntimeError, ValueError):
            faulthandler.unregister(self.signum)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.fd)  # never write into the parent's file
        os.close(devnull)
        self.fd = -1


def read_and_clear(path: str) -> str:
    """The raw file's text, then empty it (no symlinks followed)."""
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        data = b""
        while chunk := os.read(fd, 1 << 16):
            data += chunk
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def collect(pid: int, signum: int, path: str, timeout: float) -> StackSnapshot | None:
    """Ask a kernel process for a raw dump and parse it; None if none came.

    The signal is sent only if /proc says the process catches it (an ipysigtrace kernel
    does), only to that process, and after emptying the file of anything stale.
    """
    if not catches(pid, signum) or not os.path.exists(path):
        return None
    try:
        read_and_clear(path)
        os.kill(pid, signum)
        size, deadline = -1, time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = os.path.getsize(path)
            if now and now == size:  # faulthandler has finished writing
                return parse(read_and_clear(path), pid)
            size = now
    except (ProcessLookupError, FileNotFoundError):  # the kernel ended or unloaded meanwhile
        return None
    return None


def _kind(filename: str) -> str:
    if _CELL_FILE.search(filename):
        return "cell"
    if _MACHINERY.search(filename):
        return "machinery"
    if _LIBRARY.search(filename):
        return "library"
    return "user"


def parse(text: str, pid: int, when: float | None = None) -> StackSnapshot:
    """faulthandler's text -> a snapshot (kind raw), source lines read here."""
    threads: list[ThreadStack] = []
    current: ThreadStack | None = None
    for line in text.splitlines():
        head = _THREAD.match(line)
        if head:
            ident = int(head.group(2), 16)
            name = head.group(3) or f"Thread {head.group(2)}"
            current = ThreadStack(ident=ident, name=name, state="unknown")
            threads.append(current)
            continue
        frame = _FRAME.match(line)
        if frame and current is not None:
            filename, lineno, function = frame.group(1), frame.group(2), frame.group(3)
            number = int(lineno) if lineno.isdigit() else 0
            kind = _kind(filename)
            source = linecache.getline(filename, number).strip() if number else ""
            current.frames.append(
                FrameRecord(
                    filename=filename,
                    lineno=number,
                    function=function,
                    line=source,
                    label="Cell" if kind == "cell" else "",
                    kind=kind,
                )
            )
    cell_thread = None
    for thread in threads:
        thread.frames.reverse()  # faulthandler lists the running frame first
        thread.is_main = any(
            f.filename.endswith(("ipykernel_launcher.py", "runpy.py")) for f in thread.frames
        )
        if thread.is_main:
            thread.name = "MainThread"
        cells = [i for i, f in enumerate(thread.frames) if f.kind == "cell"]
        if cells and cell_thread is None and thread.is_main:
            cell_thread = thread.ident
            thread.runs_cell = True
            for record in thread.frames[: cells[0]]:
                record.kind = "machinery"
        elif thread.frames and not cells:
            entry = next(
                (f for f in thread.frames if not f.filename.endswith("threading.py")), None
            )
            thread.service = entry is not None and entry.kind == "machinery"
    threads.sort(key=lambda t: (not t.runs_cell, not t.is_main, t.service))
    return StackSnapshot(
        time=time.time() if when is None else when,
        pid=pid,
        threads=threads,
        trigger="signal",
        kind="raw",
        cell_thread=cell_thread,
        note=RAW_NOTE,
    )
