"""ipysigtrace: see where a hung Jupyter cell is, while it keeps running.

``%load_ext ipysigtrace`` installs a signal handler (SIGUSR2 by default) and a watcher
thread; ``kill -USR2 <kernel pid>`` or ``%stackdump`` then shows every thread's stack.
"""

from __future__ import annotations

# Not ``from typing import Any``: the worker processes of a loaded kernel import this
# package when they start (``responder.py``), and typing alone would cost them 10-15 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "FrameRecord",
    "StackSnapshot",
    "ThreadStack",
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> Any:
    """The data model and the version, found on first use: IPython imports this package
    while it reads its configuration at every kernel's start (``autoload``), which must
    stay cheap."""
    if name in ("FrameRecord", "StackSnapshot", "ThreadStack"):
        from . import snapshot

        return getattr(snapshot, name)
    if name == "__version__":  # written once, in labextension/package.json (pyproject.toml)
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("ipysigtrace")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'ipysigtrace' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """jupyter_server finds the server extension here."""
    return [{"module": "ipysigtrace.server"}]


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext ipysigtrace``."""
    from .extension import load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext ipysigtrace``."""
    from .extension import unload

    unload(shell)
