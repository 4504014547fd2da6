"""The settings of the extension: ``%config IPySigTrace``, or ``c.IPySigTrace`` in a profile.

Every setting is read when the extension loads, except ``signal`` (a change moves the
handler at once) and ``dask`` (read at each dump).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from traitlets import Bool, Float, Unicode, default, observe, validate
from traitlets.config import Configurable

from .signals import ENV_SIGNAL
from .trigger import HANDOFF_SECONDS

MAX_HANDOFF = 0.5  # seconds: the longest the signalled main thread may wait for the watcher


class IPySigTrace(Configurable):
    """Settings of the ipysigtrace extension (``%config IPySigTrace``)."""

    signal = Unicode(
        help=f"Signal that asks for a stack dump (default SIGUSR2, or ${ENV_SIGNAL}). "
        "Changing it while loaded moves the handler to the new signal."
    ).tag(config=True)

    raw_signal = Unicode(
        "SIGURG",
        help="Signal on which faulthandler writes a raw dump to a file in the Jupyter runtime "
        "directory, for when native code holds the GIL (sent by the server extension). "
        "Empty turns the raw dump off. Read when the extension loads.",
    ).tag(config=True)

    watchdog = Unicode(
        "",
        help="Dump under any cell that runs longer than this (e.g. '10m'), then again after "
        "twice as long, and so on. Empty: off. Also `%stackdump --after 10m`.",
    ).tag(config=True)

    autoload = Bool(
        True,
        help="Load ipysigtrace in every IPython kernel of this environment (set False in "
        "your ipython_kernel_config to opt out; `ipysigtrace autoload disable` does).",
    ).tag(config=True)

    protect_cell_thread = Bool(
        True,
        help="Block the dump signal on the main thread, which runs cells, so that a dump "
        "never cuts short a blocking call of C code there (it would fail with EINTR). "
        "Programs a cell starts with exec (subprocess) inherit the signal blocked.",
    ).tag(config=True)

    children = Bool(
        True,
        help="Ask the kernel's worker processes for their own stacks: its forks, and the "
        "Python programs of this environment it starts, listen for the question on a "
        "socket of their own (read at load).",
    ).tag(config=True)

    dask = Float(
        1.0,
        min=0.0,
        help="Longest time, in seconds, a dump waits for the scheduler of a Dask client "
        "that the cell waits on to say what its workers run (0: never ask).",
    ).tag(config=True)

    handoff = Float(
        0.05,
        help="Longest time, in seconds, the signalled main thread waits for the watcher "
        "to publish a dump before it carries on (0 turns the wait off).",
    ).tag(config=True)

    @validate("handoff")
    def _valid_handoff(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if 0 <= value <= MAX_HANDOFF:  # nan fails both comparisons
            return value
        print(
            f"ipysigtrace: IPySigTrace.handoff must be between 0 and {MAX_HANDOFF:g} s "
            f"(the signalled main thread waits that long at most); using {HANDOFF_SECONDS:g}",
            file=sys.stderr,
        )
        return HANDOFF_SECONDS

    @default("signal")
    def _default_signal(self) -> str:
        return os.environ.get(ENV_SIGNAL, "SIGUSR2")

    @observe("signal")
    def _signal_changed(self, change: dict[str, Any]) -> None:
        from .extension import active as loaded  # loaded first: it imports this module

        active = loaded()
        if active is not None and active.config is self and not active.move_to(change["new"]):
            self.signal = change["old"]  # refused: the setting says what is in force
