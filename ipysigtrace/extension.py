"""The IPython extension: what it installs, how the pieces are wired, load and unload.

One ``Extension`` per process ties the pieces together: the classifier (built at load),
the signal trigger, the watcher thread, a publisher, the live views and the profiles. Its
settings are in ``config.py``, what ``--status`` says in ``status.py``. The state lives
in this module, not in the package's ``__init__``, so that ``%reload_ext`` (which reloads
``__init__``) still finds and unloads what was installed.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir

from .capture import capture
from .children import Children
from .classify import FrameClassifier
from .config import IPySigTrace
from .dasktasks import DaskAsker
from .identity import identity_record
from .kernel.cells import CellTracker, RunningCell, cell_labeler, connection_file
from .kernel.control import ControlHandler
from .live import SHORTEST_WATCHDOG, LiveViews, parse_duration
from .magics import StackDumpMagics
from .nudge import HANDLER_CODE as NUDGE_CODE
from .nudge import Nudger
from .procinfo import child_processes
from .profile import Profile
from .profiling import Profiling
from .rawdump import RawDumpWriter
from .render import ViewOptions, highlight
from .render import profile as profile_views
from .runtime import KernelFiles, remove_stale, rewrite
from .signals import SignalChoiceError, SignalNumber, parse_signal
from .sinks import Sink
from .sinks.iopub import KernelPublisher
from .sinks.terminal import TerminalPublisher
from .snapshot import StackSnapshot
from .status import named
from .trigger import SignalTrigger
from .values import ReprRunner
from .verdict import Memory, without_locals
from .watcher import Watcher


class Extension:
    """Everything ipysigtrace installed in this process."""

    def __init__(self, shell: Any, config: IPySigTrace) -> None:
        self.shell = shell
        self.config = config
        self.options = ViewOptions()
        self.kernel = getattr(shell, "kernel", None)
        self.cells = CellTracker(shell)
        compiler = getattr(shell, "compile", None)
        self.classifier = FrameClassifier(
            labeler=cell_labeler(compiler), cell_ids=self.cells.cell_id
        )
        self.publisher: Sink
        runtime = jupyter_runtime_dir()
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        remove_stale(runtime)  # files of kernels that were killed
        self.files = KernelFiles(runtime)
        self.children = Children(runtime)  # where its workers answer for their stacks
        self.dask = DaskAsker()  # what a Dask cluster's workers run, when the cell waits on it
        if self.kernel is not None:
            idle_fd = self.files.open("txt", "the idle-dump file (idle dumps go to stderr only)")
            self.publisher = KernelPublisher(
                self.kernel, self.cells, self.options, idle_fd, self.files.path("txt")
            )
        else:
            self.publisher = TerminalPublisher(self.options, shell)
        self.identity_fd = self.files.open(
            "json", "an identity file (the command line and the server cannot send raw dumps here)"
        )
        self.trigger: SignalTrigger | None = None
        self.watcher: Watcher | None = None
        self.reprs = ReprRunner()
        self.memory = Memory()  # the previous snapshot of each thread: moving or still
        self.live = LiveViews(self.options, self._wake, self._error, self._live_snapshot)
        self.clock = self.live.clock
        self.cells.on_change = self._cell_changed
        self.raw: RawDumpWriter | None = None
        self.profiling = Profiling(
            self.classifier, self._skipped, self._show_profile, self._wake, grows=bool(self.kernel)
        )
        actions = {"profile": self._profile_request, "profile_result": self.profiling.answer}
        self.control = (
            ControlHandler(self.kernel, self.snapshot, self.facts, actions)
            if self.kernel is not None
            else None
        )

    # -- lifecycle (main thread) ----------------------------------------------------------

    def start(self, signame: str) -> str:
        """Install the handler and start the watcher; returns the line to show the user."""
        sig = parse_signal(signame)
        # Terminal IPython protects the main thread only while a command runs (_cell_changed).
        in_kernel = self.kernel is not None
        trigger = SignalTrigger(
            sig,
            handoff=self.config.handoff,
            protect_main=self.config.protect_cell_thread and in_kernel,
        )
        previous = signal.getsignal(sig)
        trigger.install()
        nudger = Nudger()  # not where SIGWINCH is someone else's (a terminal prompt's)
        watcher = Watcher(
            trigger,
            self._dump,
            on_start=self._watcher_started,
            next_timer=self._next_timer,
            on_timer=self._on_timer,
            nudger=nudger if nudger.install() else None,
        )
        try:
            watcher.start()
        except BaseException:
            nudger.uninstall()
            trigger.uninstall()
            trigger.close()
            raise
        self.trigger, self.watcher = trigger, watcher
        self.cells.hook_flag = trigger
        self.raw = self._start_raw(sig)
        self._publish_identity()
        chained = ""
        if previous not in (signal.SIG_DFL, None):
            chained = f"; it chains to the previous handler, {named(previous)}"
        short = sig.name.removeprefix("SIG")
        return (
            f"ipysigtrace: {sig.name} handler and watcher installed in process {os.getpid()}"
            f"{chained}. See every thread's stack with `kill -{short} {os.getpid()}` "
            "or %stackdump."
        )

    def _start_raw(self, rich: SignalNumber) -> RawDumpWriter | None:
        """faulthandler on the raw signal; a failure only costs the raw fallback."""
        if not self.config.raw_signal:
            return None
        try:
            sig = parse_signal(self.config.raw_signal)
            if sig == rich:
                raise SignalChoiceError("the raw signal must differ from IPySigTrace.signal")
            current = signal.getsignal(sig)
            if current not in (signal.SIG_DFL, signal.SIG_IGN):
                raise SignalChoiceError(f"{sig.name} already has {named(current)}")
            fd = self.files.fds.get("raw")
            if fd is None:
                fd = self.files.open("raw", "raw dumps", append=True)
            if fd is None:
                return None  # the note says why
            writer = RawDumpWriter(sig, fd, self.files.path("raw"))
            writer.install()
        except (SignalChoiceError, OSError, RuntimeError) as exc:
            print(f"ipysigtrace: no raw dumps ({exc})", file=sys.stderr)
            return None
        return writer

    def _publish_identity(self) -> None:
        """Say who this process is in its identity file (after each start)."""
        if self.identity_fd is None:
            return
        record = identity_record(
            connection_file=connection_file(self.kernel),
            signal=self.signame,
            raw_signal=self.raw.signum.name if self.raw else "",
            watcher_tid=self.watcher.native_id if self.watcher else None,
        )
        try:
            rewrite(self.identity_fd, json.dumps(record).encode())
        except OSError as exc:
            print(f"ipysigtrace: could not write the identity file: {exc}", file=sys.stderr)

    def stop(self) -> list[str]:
        """Undo ``start``: handler and wakeup fd back, watcher gone, pipes closed."""
        notes: list[str] = []
        if self.raw is not None:
            self.raw.uninstall()
            self.raw = None
        if self.trigger is not None:
            notes += self.trigger.uninstall()
        if self.watcher is not None:
            if self.watcher.stop():
                self.publisher.release_thread(self.watcher.thread)
            else:
                notes.append("the watcher thread did not stop within 2 s")
            if self.watcher.nudger is not None:  # once the watcher sends no more nudges
                self.watcher.nudger.uninstall()
        if self.trigger is not None:
            self.trigger.close()
        self.trigger = self.watcher = None
        return notes

    def move_to(self, signame: str) -> bool:
        """Move the handler to another signal (``%config IPySigTrace.signal``); False if refused."""
        try:
            sig = parse_signal(signame)
        except SignalChoiceError as exc:
            print(f"ipysigtrace: {exc}; keeping {self.signame}", file=sys.stderr)
            return False
        if self.trigger is not None and sig == self.trigger.signum:
            return True
        old = self.signame
        for note in self.stop():
            print(f"ipysigtrace: {note}", file=sys.stderr)
        try:
            print(self.start(signame))
        except (SignalChoiceError, OSError) as exc:
            print(f"ipysigtrace: {exc}; back on {old}", file=sys.stderr)
            print(self.start(old))
            return False
        return True

    def facts(self) -> dict[str, Any]:
        """What a remote asker needs to know: the signals, where raw dumps go, the cell."""
        raw = self.raw
        cell = self.cells.current
        return {
            "signal": self.signame,
            "raw_signal": raw.signum.name if raw else "",
            "raw_file": raw.path if raw else "",
            "watcher_tid": self.watcher.native_id if self.watcher else None,
            "cell_seconds": time.time() - cell.started if cell else None,
        }

    @property
    def signame(self) -> str:
        """Name of the signal in use."""
        return self.trigger.signum.name if self.trigger else "(none)"

    # -- dumps --------------------------------------------------------------------------

    def snapshot(
        self,
        trigger: str,
        limit: int | None = None,
        with_locals: bool = False,
        user_reprs: bool = False,
    ) -> StackSnapshot:
        """Capture now, from any thread, leaving out the watcher and our handler frame.

        ``user_reprs`` calls the real repr of locals, on disposable threads (never on the
        watcher: only a magic or a remote request asks for it).

        Every snapshot is judged against the previous one (``verdict.py``), so locals are
        always read (safely) to compare; they stay in the snapshot only when asked for.
        """
        cell = self.cells.current
        skip = [self.watcher.ident] if self.watcher and self.watcher.ident else []
        handler = self.trigger.handler_codes | {NUDGE_CODE} if self.trigger else frozenset()
        snapshot = capture(
            self.classifier,
            cell_thread=cell.thread if cell else None,
            trigger=trigger,
            skip_idents=skip,
            skip_top=handler,
            limit=limit,
            with_locals=True,
            task_locals=with_locals or user_reprs,  # tasks are not judged: read when shown
            reprs=self.reprs.for_dump() if user_reprs else None,
            in_handler=self.trigger.threads_in_handler if self.trigger else None,
        )
        snapshot.cell_started = cell.started if cell else None
        threads = [t.native_id for t in snapshot.threads if t.native_id is not None]
        snapshot.processes = child_processes(snapshot.pid, threads)
        self.children.ask(snapshot.processes, self.classifier)
        if self.config.dask > 0:
            self.dask.seconds = self.config.dask
            self.dask.ask(snapshot, self.classifier)
        self.memory.judge(snapshot)
        if not (with_locals or user_reprs):
            without_locals(snapshot)
        return snapshot

    def _dump(self, reason: str, done: Any) -> None:
        """Runs on the watcher thread."""
        snapshot = self.snapshot(reason)
        self.publisher.publish(snapshot, done)
        self.live.refresh(snapshot)

    def _next_timer(self) -> float | None:
        """Watcher thread: seconds until a profile sample, a live view or the watchdog."""
        now = time.time()
        due = [d for d in (self.clock.next_due(now), self.profiling.next_due(now)) if d is not None]
        return min(due) if due else None

    def _on_timer(self) -> None:
        """Watcher thread: run what is due."""
        now = time.time()
        self.profiling.fire(now)
        self.clock.fire(now, self.live.refresh, self._watchdog)

    # -- what the parts call back (watcher, control or main thread) ------------------------

    def _skipped(self) -> list[int]:
        return [self.watcher.ident] if self.watcher and self.watcher.ident else []

    def _wake(self) -> None:
        if self.trigger is not None:
            self.trigger.wake()

    def _error(self, text: str) -> None:
        """Watcher thread: what went wrong, for ``%stackdump --status``."""
        if self.watcher is not None:
            self.watcher.errors.append(text)

    def _live_snapshot(self) -> StackSnapshot:
        return self.snapshot("live", with_locals=True)

    def _show_profile(
        self, profile: Profile, parent: Any, view: ViewOptions | None, display_id: str, update: bool
    ) -> None:
        """A profile under the cell it profiles (main, control or watcher thread)."""
        try:
            data = profile_views.bundle(profile, view or self.options)
            self.publisher.show(data, parent, display_id=display_id, update=update)
        except Exception as exc:  # a profile must never break the cell or the watcher
            self._error(f"profile: {type(exc).__name__}: {exc}")

    def _profile_request(self, content: dict[str, Any]) -> dict[str, Any]:
        """Control thread: profile the cell that runs now."""
        cell = self.cells.current
        return self.profiling.request(content, (cell.thread, cell.parent) if cell else None)

    def _watchdog(self) -> None:
        """Watcher thread: a cell has run longer than the watchdog's limit."""
        self._dump("watchdog", lambda: None)

    def _cell_changed(self, cell: RunningCell | None) -> None:
        """Main thread, when a cell starts or ends: the clock restarts."""
        self.clock.cell_started(cell.started if cell else None)
        if cell is not None:
            self.profiling.cell_started(cell.thread, cell.parent)
        else:
            self.profiling.cell_ended()
        if self.watcher is not None and self.watcher.nudger is not None:
            self.watcher.nudger.cancel()  # a cell that started or ended needs no more nudges
        if self.trigger is not None:
            if cell is not None:
                self.trigger.reclaim()  # terminal IPython's prompt leaves no wakeup fd
                if self.watcher is not None and self.watcher.nudger is not None:
                    self.watcher.nudger.reclaim()  # nor SIGWINCH's handler
            if self.kernel is None and self.config.protect_cell_thread:
                self.trigger.protect_cell_thread(cell is not None)
            self.trigger.wake()

    def set_watchdog(self, after: float | None) -> None:
        """Dump under cells running longer than ``after`` seconds (None: off)."""
        self.clock.watchdog_after = after
        current = self.cells.current
        self.clock.cell_started(current.started if current else None)
        if self.trigger is not None:
            self.trigger.wake()

    def _watcher_started(self) -> None:
        self.publisher.warm_up()


_active: Extension | None = None
_quiet = False  # set by autoload: a kernel that loads us at start prints nothing


def active() -> Extension | None:
    """The extension loaded in this process, if any."""
    return _active


def load(shell: Any) -> None:
    """Body of ``load_ipython_extension``: one line on success, one on failure."""
    global _active
    if _active is not None:
        print(f"ipysigtrace: already loaded ({_active.signame}); nothing changed")
        return
    if threading.current_thread() is not threading.main_thread():
        print("ipysigtrace: load it from the main thread (signals are set there)", file=sys.stderr)
        return
    config = IPySigTrace(parent=shell)
    extension = Extension(shell, config)
    try:
        message = extension.start(config.signal)
    except (SignalChoiceError, RuntimeError, OSError) as exc:
        extension.publisher.close()
        extension.files.close()
        print(f"ipysigtrace: not loaded: {exc}", file=sys.stderr)
        return
    if config.children:
        extension.children.start()
    for note in extension.files.notes + extension.children.notes:
        print(f"ipysigtrace: {note}", file=sys.stderr)
    atexit.register(extension.files.close)  # a normal exit; a killed kernel: remove_stale
    atexit.register(extension.children.stop)
    highlight.prepare_soon()  # pygments off the kernel's start, never on the watcher
    extension.cells.register()
    if config.watchdog:
        try:
            extension.set_watchdog(max(SHORTEST_WATCHDOG, parse_duration(config.watchdog)))
        except ValueError as exc:
            print(f"ipysigtrace: watchdog off: {exc}", file=sys.stderr)
    if extension.control is not None:
        extension.control.install()
    shell.configurables.append(config)
    shell.register_magics(StackDumpMagics(shell, extension=extension))
    _active = extension
    if not _quiet:
        print(message)


def unload(shell: Any) -> None:
    """Body of ``unload_ipython_extension``: restore what was there."""
    global _active
    extension = _active
    if extension is None:
        return
    if threading.current_thread() is not threading.main_thread():
        print("ipysigtrace: unload it from the main thread", file=sys.stderr)
        return
    _active = None
    extension.profiling.stop()
    extension.live.stop_all()
    notes = extension.stop()
    if extension.control is not None:
        extension.control.uninstall()
    extension.cells.unregister()
    extension.publisher.close()
    extension.files.close()
    extension.children.stop()
    atexit.unregister(extension.files.close)
    atexit.unregister(extension.children.stop)
    highlight.settle()
    if extension.config in shell.configurables:
        shell.configurables.remove(extension.config)
    magics = shell.magics_manager.magics["line"]
    if getattr(magics.get("stackdump"), "__self__", None) is not None:
        magics.pop("stackdump", None)
    for note in notes:
        print(f"ipysigtrace: {note}", file=sys.stderr)
