"""Installed means ready: every IPython kernel of this environment loads ipysigtrace.

The package installs ``<sys.prefix>/etc/ipython/ipython_kernel_config.py``, an IPython
configuration file of the environment (IPython reads it after the system's and before the
user's own profile, which can override it). It calls ``configure(c)`` here, which asks
IPython to load this module as an extension (``InteractiveShellApp.extra_extensions``,
appended, so a profile's ``extensions`` list is left alone), and blocks the dump signal on
the main thread right away, before ipykernel starts its threads: they inherit the mask,
so only the watcher, which unblocks it for itself, ever takes a process-directed dump
signal. A thread woken for one signal takes every other pending signal it does not block,
so without this a SIGINT sent right behind the dump signal could be taken by a kernel
thread and never wake the cell (see ``trigger.py``).

Kernels only: terminal IPython does not read the kernel configuration. One switch turns it
off: ``IPySigTrace.autoload = False`` in a kernel config (``ipysigtrace autoload disable``
writes that to the user's profile), or ``IPYSIGTRACE_AUTOLOAD=0`` in the environment.
``%unload_ext ipysigtrace`` works as after ``%load_ext``.

This module is imported while IPython reads its configuration: it imports nothing heavy.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

ENV_SWITCH = "IPYSIGTRACE_AUTOLOAD"  # "0" turns autoloading off

# Signals this module blocked on the main thread at startup; the trigger takes them over.
_early: set[int] = set()


def enabled_by_environment() -> bool:
    """False when ``IPYSIGTRACE_AUTOLOAD`` turns autoloading off."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def configure(config: Any) -> None:
    """Called by the environment's ipython_kernel_config.py with its ``c``."""
    if not enabled_by_environment():
        return
    config.InteractiveShellApp.extra_extensions.append(__name__)
    _block_early()


def _block_early() -> None:
    """Block the dump signal on the main thread before the kernel starts its threads."""
    if threading.current_thread() is not threading.main_thread():
        return
    from .signals import ENV_SIGNAL, SignalChoiceError, parse_signal

    try:
        signum = parse_signal(os.environ.get(ENV_SIGNAL, "SIGUSR2"))
    except SignalChoiceError:
        return  # the extension says why when it loads
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signum})
    if signum not in before:
        _early.add(int(signum))


def take_early_block(signum: int) -> bool:
    """The trigger takes over a block made here at startup; True if there was one."""
    if int(signum) in _early:
        _early.discard(int(signum))
        return True
    return False


def release_early_blocks() -> None:
    """Undo the startup block (autoloading turned off, or the extension did not load)."""
    while _early:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {_early.pop()})


def load_ipython_extension(shell: Any) -> None:
    """IPython loads this at kernel start; it loads ipysigtrace unless switched off."""
    if getattr(shell, "kernel", None) is None or not enabled_by_environment():
        release_early_blocks()
        return
    from . import extension
    from .config import IPySigTrace

    if not IPySigTrace(parent=shell).autoload:
        release_early_blocks()
        return
    extension._quiet = True
    try:
        # Through the extension manager, so that %unload_ext ipysigtrace knows it is loaded.
        shell.extension_manager.load_extension("ipysigtrace")
    finally:
        extension._quiet = False
        release_early_blocks()  # whatever the trigger did not take over


def unload_ipython_extension(shell: Any) -> None:
    """Nothing of its own to undo: ``%unload_ext ipysigtrace`` unloads the extension."""
