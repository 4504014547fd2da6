"""Source lines as highlighted HTML, with pygments made ready on a thread of its own.

Building pygments' Python lexer compiles about a hundred regular expressions: tens of
milliseconds, too long for every kernel's start now that every kernel loads ipysigtrace.
So ``prepare`` runs once, on a short-lived thread the extension starts just after loading;
until it has finished, a line is only escaped. A dump never imports or compiles anything:
it calls whichever function is in place (the swap is one assignment).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from html import escape

from ..signals import start_deaf
from .common import printable


def _plain(line: str) -> str:
    return escape(printable(line, keep_newlines=True))


_highlight: Callable[[str], str] = _plain
_timer: threading.Timer | None = None


def line(text: str) -> str:
    """One source line as HTML: highlighted once pygments is ready, escaped before."""
    return _highlight(text)


def ready() -> bool:
    """Whether lines are highlighted yet."""
    return _highlight is not _plain


def prepare() -> None:
    """Import pygments and compile its Python lexer; from then on lines are highlighted."""
    global _highlight
    if ready():
        return
    from pygments import highlight
    from pygments.formatters.html import HtmlFormatter
    from pygments.lexers.python import PythonLexer

    lexer = PythonLexer(stripnl=False, ensurenl=False)
    formatter = HtmlFormatter(nowrap=True, noclasses=True)

    @lru_cache(maxsize=4096)  # hundreds of idle threads share a few lines
    def highlighted(text: str) -> str:
        html: str = highlight(printable(text, keep_newlines=True), lexer, formatter)
        return html.rstrip("\n")

    highlighted("warm = up(1)")  # compiles the lexer's rules here, not during a dump
    _highlight = highlighted


def prepare_soon(delay: float = 0.2) -> None:
    """Call ``prepare`` on a daemon thread after ``delay`` seconds (once per process).

    The delay lets a kernel that loads ipysigtrace at start answer its first request
    before the compiling competes with it for the GIL.
    """
    global _timer
    if _timer is not None or ready():
        return
    _timer = threading.Timer(delay, prepare)
    _timer.name = "ipysigtrace-warmup"
    _timer.daemon = True
    start_deaf(_timer)


def settle(timeout: float = 5.0) -> None:
    """Leave no thread behind (an unload): cancel a warm-up not begun, wait for one under way.

    A cancelled warm-up runs again at the next ``prepare_soon``.
    """
    global _timer
    timer, _timer = _timer, None
    if timer is None:
        return
    timer.cancel()
    timer.join(timeout)
