"""Triggers: a signal and a self-pipe that wake the watcher thread.

Strategy. A signal can arrive while the main thread holds any lock at all: the import
lock, a stream's lock, a logging handler's lock, an allocator's lock in C. Whatever runs
in signal context must therefore take none of them. CPython's own C-level handler already
does the one safe thing: it sets a flag and writes the signal number, one byte, to the fd
given to ``signal.set_wakeup_fd``. We give it the write end of a pipe and let a watcher
thread block on the read end. All real work happens on that thread.

The pipe's write end is non-blocking and nobody drains it while a dump is being made, so a
storm of signals fills it and the extra bytes are dropped: requests coalesce.

The Python-level handler runs later, on the main thread, which is the thread that is
stuck. It does no work. It only waits, boundedly and without any lock (``select`` on a
second pipe), for the watcher to say "published", which hands the GIL over to the watcher
at once instead of after a switch interval for each step. It never waits twice at once,
and after a wait that ran out it does not wait again for a cooldown, so a storm of
signals cannot hold the cell up.

Other owners are respected: the bytes of other signals are forwarded to the wakeup fd that
was there before us (asyncio's), a previous Python handler for our signal is chained to,
a wakeup fd that asyncio puts in place later is left there (the handler then sends the
request itself, from the main thread: it cannot run while native code holds the GIL),
and uninstalling puts back exactly what was there, unless someone replaced us meanwhile,
in which case their handler or fd is left alone and reported.

Looking must not cut short the cell's blocking calls. A signal that lands on a thread
blocked in a system call makes that call fail with EINTR; Python retries its own calls,
but C code often does not (``libc.sleep`` returns early, ``read`` fails). So the signal is
blocked on the main thread, which runs the cell (``pthread_sigmask``), and the watcher
unblocks it for itself: the kernel delivers a process-directed signal to a thread that
does not block it. The Python-level handler still runs on the main thread (CPython runs
handlers there whichever thread took the signal), as soon as it runs Python code again,
so the hand-off to the watcher still works for a cell that spins; a cell blocked in C is
never woken. Threads the cell starts inherit the mask. What it costs: a process that the
cell forks gets the mask cleared (``after_fork_in_child``), but programs it starts with
``exec`` (``subprocess``, the ``spawn`` start method) inherit the signal blocked, and
``signal.raise_signal`` of the signal on the main thread waits until unload. Senders that
know the watcher's thread (the server, the command line) signal it directly.

After ``fork`` the child must not write into the parent's pipe: the write end is pointed
at /dev/null in the child and the handler does nothing there (``after_fork_in_child``).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from types import FrameType

from .autoload import take_early_block
from .signals import Handler, SignalChoiceError, SignalNumber, describe_handler

# Bytes that are not signal numbers (those are 1..64 on Linux).
ASKED = 0xF0  # a dump asked for from code: a magic, a timer, a remote request
WAKE = 0xF1  # timers changed (a cell started or ended): the watcher recomputes its wait
STOP = 0xFF  # the watcher should exit
OURS = (ASKED, WAKE, STOP)

HANDOFF_SECONDS = 0.05
# After a hand-off wait that ran out (no dump came: the signal was merged into another, as
# in a storm), the handler does not wait again for this long: a storm costs the main
# thread at most one bounded wait per cooldown, and separate signals always hand off.
HANDOFF_COOLDOWN = 0.25


class SignalTrigger:
    """Owns the self-pipe, the wakeup fd and the handler for one signal."""

    def __init__(
        self, signum: SignalNumber, handoff: float = HANDOFF_SECONDS, protect_main: bool = True
    ) -> None:
        self.signum = signum
        self.handoff = handoff
        self.protect_main = protect_main
        self.masked = False  # we added the signal to the main thread's mask
        self.pid = os.getpid()
        self.installed = False
        self.previous_handler: Handler = signal.SIG_DFL
        self.previous_wakeup_fd = -1
        self.forwarded = 0
        self._read_fd = self._write_fd = -1
        self._ack_read = self._ack_write = -1
        self._in_handler = False
        # Set by the cell tracker while the main thread runs one of our IPython event
        # callbacks: IPython's events.trigger catches a KeyboardInterrupt raised in a
        # callback and runs the cell anyway, so an interrupt taken there is lost. The
        # hand-off wait would make that window 50 ms wide; there it is skipped.
        self.in_hook = False
        self._last_timeout = -HANDOFF_COOLDOWN
        # Our frames that can be on top of the main thread's stack while a dump is made:
        # capture leaves them out.
        self.handler_codes = frozenset(
            (SignalTrigger._handler.__code__, SignalTrigger._take_wakeup_fd.__code__)
        )

    # -- install and uninstall (main thread only) ---------------------------------------

    def install(self) -> None:
        """Create the pipes, take the wakeup fd, install the handler. Main thread only."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("ipysigtrace must be loaded from the main thread")
        previous = signal.getsignal(self.signum)
        if previous is None:
            raise SignalChoiceError(
                f"{self.signum.name} already has a handler installed outside Python; "
                "choose another signal (IPySigTrace.signal or IPYSIGTRACE_SIGNAL)"
            )
        self._read_fd, self._write_fd = os.pipe()
        self._ack_read, self._ack_write = os.pipe()
        for fd in (self._write_fd, self._ack_read, self._ack_write):
            os.set_blocking(fd, False)
        try:
            self.previous_wakeup_fd = signal.set_wakeup_fd(
                self._write_fd, warn_on_full_buffer=False
            )
            try:
                self.previous_handler = signal.signal(self.signum, self._handler)
            except BaseException:
                signal.set_wakeup_fd(self.previous_wakeup_fd)
                raise
        except BaseException:
            self._close_pipes()
            raise
        self.pid = os.getpid()
        self.installed = True
        if self.protect_main:
            self.protect_cell_thread(True)
        _register_fork_hook(self)

    def uninstall(self) -> list[str]:
        """Put back what was there; returns notes on anything left alone. Main thread only."""
        notes: list[str] = []
        if not self.installed:
            return notes
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("ipysigtrace must be unloaded from the main thread")
        # Unblock first, while our handler is still in place: a signal pending on the main
        # thread (``raise_signal``) is taken now by our handler, not by the default action,
        # which for SIGUSR2 would end the process.
        self._unmask()
        current = signal.getsignal(self.signum)
        if current == self._handler:
            signal.signal(self.signum, self.previous_handler)
        else:
            notes.append(
                f"{self.signum.name} now has another handler ({describe_handler(current)}); "
                "left it in place"
            )
        current_fd = signal.set_wakeup_fd(self.previous_wakeup_fd)
        if current_fd not in (-1, self._write_fd):  # -1: nobody holds it, ours to put back
            signal.set_wakeup_fd(current_fd)
            notes.append(f"the signal wakeup fd was replaced (now {current_fd}); left it in place")
        self.installed = False
        _unregister_fork_hook(self)
        return notes

    def protect_cell_thread(self, on: bool) -> None:
        """Main thread: block the signal here (a dump never interrupts it) or unblock it.

        A kernel blocks it for good; terminal IPython only while a command runs, because
        at its prompt asyncio holds the wakeup fd and the dump relies on this thread's
        Python handler, which CPython 3.12 does not run promptly for a signal taken on
        another thread.
        """
        if on and not self.masked:
            before = signal.pthread_sigmask(signal.SIG_BLOCK, {self.signum})
            # Blocked before us by autoload (at kernel start, so the kernel's threads have
            # it blocked too), or by nobody: ours to undo either way.
            self.masked = self.signum not in before or take_early_block(self.signum)
        elif not on:
            self._unmask()

    def _unmask(self) -> None:
        if self.masked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {self.signum})
            self.masked = False

    def unblock_here(self) -> None:
        """The watcher's mask: take our signal, never SIGINT (it is the main thread's).

        A thread woken for one signal takes every other pending signal it does not block
        before the thread they were meant for runs: a SIGINT close behind ours would be
        taken here and never wake the cell.
        """
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {self.signum})
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def close(self) -> None:
        """Close the pipes; call after the watcher has stopped."""
        self._close_pipes()

    def _close_pipes(self) -> None:
        for name in ("_read_fd", "_write_fd", "_ack_read", "_ack_write"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    # -- signal context and the main thread ----------------------------------------------

    def threads_in_handler(self) -> frozenset[int]:
        """The thread (the main one) inside the Python-level handler now; safe anywhere.

        A query only: it reads a flag and the main thread's ident, takes no lock.
        """
        if not self._in_handler:
            return frozenset()
        main = threading.main_thread().ident
        return frozenset() if main is None else frozenset((main,))

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        """Python-level handler, on the main thread. Waits briefly for the watcher; no work.

        Written as one frame on purpose: capture drops this frame (and ``_take_wakeup_fd``,
        the one helper it calls before it waits) from the main thread's stack by their code
        objects, so it calls no other Python-level helper.
        """
        if not self._in_handler and self.installed and os.getpid() == self.pid:
            self._in_handler = True
            try:
                # The wakeup fd may have been taken: asyncio's add_signal_handler puts its
                # own there (terminal IPython's prompt does, at every prompt) and its
                # remove_signal_handler leaves none. Then no byte reached the watcher, so
                # it is sent from here; an fd that nobody holds is taken back.
                if self._take_wakeup_fd() != self._write_fd:
                    try:  # noqa: SIM105 (suppress() would add helper frames here)
                        os.write(self._write_fd, bytes((signum,)))
                    except BlockingIOError:
                        pass  # the pipe is full: a dump is coming anyway
                # Our signal came, so a dump is coming (or was merged into one being
                # made). Returns at once if the watcher has already acknowledged.
                if (
                    self.handoff > 0
                    and not self.in_hook
                    and time.monotonic() - self._last_timeout >= HANDOFF_COOLDOWN
                ):
                    if select.select([self._ack_read], [], [], self.handoff)[0]:
                        os.read(self._ack_read, 512)
                    else:
                        self._last_timeout = time.monotonic()
            except (OSError, ValueError):
                pass  # pipes closed under us during unload: nothing to wait for
            finally:
                self._in_handler = False
        previous = self.previous_handler
        if callable(previous):
            previous(signum, frame)

    # -- watcher side (any thread; signal-safe: one non-blocking write) -----------------

    def request(self) -> None:
        """Ask for a dump from code. Safe from any thread; dropped if the pipe is full."""
        self._write(ASKED)

    def stop(self) -> None:
        """Tell the watcher to exit."""
        self._write(STOP)

    def wake(self) -> None:
        """Tell the watcher that its timers changed."""
        self._write(WAKE)

    def _write(self, byte: int) -> None:
        if self._write_fd >= 0:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(self._write_fd, bytes((byte,)))

    def read(self, timeout: float | None = None) -> bytes | None:
        """Block until bytes arrive, or ``timeout`` seconds pass (then None).

        The watcher's only wait: with no timer due it blocks without waking at all.
        b'' once the pipe is gone.
        """
        try:
            if timeout is not None and not select.select([self._read_fd], [], [], timeout)[0]:
                return None
            return os.read(self._read_fd, 4096)
        except (OSError, ValueError):
            return b""

    def read_pending(self) -> bytes:
        """Whatever bytes are waiting now, without blocking."""
        chunks = []
        try:
            while select.select([self._read_fd], [], [], 0)[0]:
                chunk = os.read(self._read_fd, 4096)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)

    def ack(self) -> None:
        """Tell a waiting handler that the dump is out."""
        if self._ack_write >= 0:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._ack_write, b"\0")

    def forward(self, data: bytes) -> None:
        """Pass other signals' bytes on to the wakeup fd that was there before us."""
        if self.previous_wakeup_fd < 0 or not data:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.previous_wakeup_fd, data)
            self.forwarded += len(data)

    def still_owned(self) -> tuple[bool, str]:
        """(handler is ours, who holds the wakeup fd: "ours", "other" or "unknown").

        From the main thread a wakeup fd that nobody holds is taken back (see ``reclaim``).
        """
        ours = signal.getsignal(self.signum) == self._handler
        if threading.current_thread() is not threading.main_thread():
            return ours, "unknown"  # set_wakeup_fd can only be used from the main thread
        return ours, "ours" if self.reclaim() else "other"

    def reclaim(self) -> bool:
        """Main thread: take the wakeup fd back if nobody holds it; True if it is ours.

        asyncio's remove_signal_handler leaves none (terminal IPython's prompt does so after
        every prompt). Another owner's fd is left in place: the handler then passes our
        signal on itself, which works unless native code keeps the main thread busy.
        """
        if not self.installed or threading.current_thread() is not threading.main_thread():
            return False
        return self._take_wakeup_fd() in (-1, self._write_fd)

    def _take_wakeup_fd(self) -> int:
        """Main thread: the wakeup fd that was set; ours is set now unless another's was.

        There is no getter: ``set_wakeup_fd`` returns the fd it replaces. So ours is put in
        place and the previous one looked at; never -1, not even for an instant, because
        the dump signal is handled on the watcher's thread, concurrently with this, and a
        byte written while no fd is set would be lost. An fd nobody holds (-1) is taken
        back; another owner's goes straight back (its bytes in that instant come to us and
        are forwarded).
        """
        fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        if fd == -1:
            self.previous_wakeup_fd = -1  # whatever it was is gone: ours now
        elif fd != self._write_fd:
            signal.set_wakeup_fd(fd)
        return fd

    def after_fork_in_child(self) -> None:
        """In a forked child: never write into the parent's pipe, never act on the signal.

        The write end stays open on /dev/null: it may still be the wakeup fd (a fork from
        another thread cannot reset that), and a closed number could be reused by a file
        that signal bytes would then go into. The other three ends are closed.
        """
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            if self._write_fd >= 0:
                os.dup2(devnull, self._write_fd)
        finally:
            os.close(devnull)
        for name in ("_read_fd", "_ack_read", "_ack_write"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(self.previous_wakeup_fd)
        if self.masked:  # the forking thread's mask is the child's: clear what we added
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {self.signum})
            self.masked = False
        self.installed = False


# os.register_at_fork cannot be undone, so one hook is registered per process and it acts
# on whichever triggers are installed at the time of the fork.
_live: set[SignalTrigger] = set()
_hook_registered = False


def _register_fork_hook(trigger: SignalTrigger) -> None:
    global _hook_registered
    _live.add(trigger)
    if not _hook_registered:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _hook_registered = True


def _unregister_fork_hook(trigger: SignalTrigger) -> None:
    _live.discard(trigger)


def _after_fork_in_child() -> None:
    for trigger in list(_live):
        trigger.after_fork_in_child()
    _live.clear()
