"""Terminal IPython's sink: dumps on the original stderr, above the prompt when one shows.

At the prompt, prompt_toolkit owns the screen, so the dump is handed to its event loop
(``call_soon_threadsafe``, which never blocks) and printed above the prompt, which is then
drawn again with what the user had typed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from ..render import ViewOptions, text
from ..snapshot import StackSnapshot
from . import Done
from .fdio import StderrSink, write_all

PROMPT_WAIT = 0.5  # seconds for terminal IPython's prompt to take a dump before it is written


class TerminalPublisher(StderrSink):
    """Writes dumps to the terminal through the original stderr fd."""

    def __init__(self, options: ViewOptions, shell: Any = None) -> None:
        super().__init__(options)
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
