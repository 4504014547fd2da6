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

The file is opened with O_APPEND, so a reader empties it before it asks for a dump; it is
made and removed by ``runtime.KernelFiles`` (exclusively, 0600, checked after opening).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import re
import time
from collections.abc import Callable

from .classify import KERNEL_MODULES
from .identity import read_identity
from .procinfo import catches, child_processes, signal_thread
from .runtime import kernel_file, open_private
from .signals import SignalChoiceError, SignalNumber, parse_signal
from .snapshot import FrameRecord, StackSnapshot, ThreadStack, natural_key

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
_KERNEL = re.compile(rf"/({'|'.join(KERNEL_MODULES)})/")
_LIBRARY = re.compile(r"/(site-packages|dist-packages)/|/lib/python3\.\d+/|^<frozen ")


class RawDumpWriter:
    """faulthandler registered on the raw signal, writing to the raw file's descriptor.

    The descriptor belongs to ``runtime.KernelFiles`` (made exclusively, 0600, checked);
    this only registers and unregisters faulthandler on it.
    """

    def __init__(self, signum: SignalNumber, fd: int, path: str) -> None:
        self.signum = signum
        self.fd = fd
        self.path = path
        self.installed = False

    def install(self) -> None:
        """Register faulthandler, every argument explicit."""
        faulthandler.register(self.signum, file=self.fd, all_threads=True, chain=False)
        self.installed = True
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def uninstall(self) -> None:
        """Unregister faulthandler (putting back the signal's previous action)."""
        if self.installed:
            faulthandler.unregister(self.signum)
            self.installed = False

    def _after_fork_in_child(self) -> None:
        if not self.installed:
            return
        with contextlib.suppress(RuntimeError, ValueError):
            faulthandler.unregister(self.signum)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.fd)  # never write into the parent's file
        os.close(devnull)
        self.installed = False


MAX_RAW = 16 * 1024 * 1024  # bytes: a raw file larger than this is not read


def read_and_clear(path: str) -> str | None:
    """The raw file's text, then empty it; None unless it is a regular file of ours."""
    fd = open_private(path, MAX_RAW)
    if fd is None:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def collect(
    runtime_dir: str,
    pid: int,
    timeout: float,
    source: Callable[[str, int], str] | None = None,
) -> StackSnapshot | None:
    """Ask the kernel with this PID for a raw dump and parse it; None if none came.

    The kernel must have published its identity (``identity.read_identity``: a file of ours
    whose start time is that of the process with this PID now) and must catch its raw
    signal (/proc says so). The signal goes to the kernel's watcher thread when the
    identity names it (never to the cell's thread), else to the process itself, never to
    its group. The raw file's path is made here from the PID, never read from the kernel.
    ``source`` is passed to ``parse``. The kernel's child processes are listed from /proc.
    """
    identity = read_identity(runtime_dir, pid)
    if identity is None:
        return None
    try:
        signum = parse_signal(identity["raw_signal"])
    except SignalChoiceError:
        return None  # raw dumps off in that kernel, or a name this side cannot use
    if not catches(pid, signum):
        return None
    path = kernel_file(runtime_dir, pid, "raw")
    try:
        if read_and_clear(path) is None:  # empty it of anything stale
            return None
        tid = identity.get("watcher_tid")
        if tid is None or not signal_thread(pid, tid, signum):
            os.kill(pid, signum)
        size, deadline = -1, time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = os.path.getsize(path)
            if now and now == size:  # faulthandler has finished writing
                text = read_and_clear(path)
                if text is None:
                    return None
                snapshot = parse(text, pid, source=source)
                snapshot.processes = child_processes(pid)  # read here: the kernel is stuck
                return snapshot
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


def parse(
    text: str,
    pid: int,
    when: float | None = None,
    source: Callable[[str, int], str] | None = None,
) -> StackSnapshot:
    """faulthandler's text -> a snapshot (kind raw).

    ``source(filename, lineno)`` gives source lines; without it (the server: it reads no
    file that a kernel names) frames have none.
    """
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
            line = source(filename, number).strip() if source and number else ""
            current.frames.append(
                FrameRecord(
                    filename=filename,
                    lineno=number,
                    function=function,
                    line=line,
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
            # Whose thread it is: its first frame past threading's and libraries' (a
            # library's event loop thread is not the kernel's, though it runs asyncio).
            entry = next(
                (
                    f
                    for f in thread.frames
                    if not f.filename.endswith("threading.py") and f.kind != "library"
                ),
                None,
            )
            thread.service = entry is not None and bool(_KERNEL.search(entry.filename))
    threads.sort(key=lambda t: (not t.runs_cell, not t.is_main, t.service, natural_key(t.name)))
    return StackSnapshot(
        time=time.time() if when is None else when,
        pid=pid,
        threads=threads,
        trigger="signal",
        kind="raw",
        cell_thread=cell_thread,
        note=RAW_NOTE,
    )
