"""Which frames are whose: a cell's, the user's, a library's, or the kernel's own machinery.

``FrameClassifier`` is built when the extension loads, from modules that are imported by
then (it never imports anything itself), so that sorting frames after a freeze reads only
file names. The same lists tell the raw dump's reader which threads are the kernel's own.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterable
from types import CodeType

from .snapshot import FrameRecord

# A frame frozen: its code object and the line it is at.
RawFrame = tuple[CodeType, int]

# Packages whose frames are the kernel's own machinery. Only modules that are already
# imported when the classifier is built count (the classifier never imports anything).
MACHINERY_MODULES = (
    "ipykernel",
    "ipykernel_launcher",
    "IPython",
    "jupyter_client",
    "traitlets",
    "tornado",
    "zmq",
    "asyncio",
    "anyio",
    "comm",
    "runpy",
    "prompt_toolkit",  # terminal IPython's prompt
    "ipysigtrace",
)
# The kernel's own packages: a thread that one of these started is a service thread (IOPub,
# Control, Heartbeat, history, terminal IPython's prompt, our watcher). Not asyncio or
# tornado: a library's event loop thread (Dask's) runs them too, and does the user's work.
KERNEL_MODULES = ("ipykernel", "IPython", "jupyter_client", "comm", "prompt_toolkit", "ipysigtrace")


class FrameClassifier:
    """Sorts file names into cell, user, library and machinery; built at load time."""

    def __init__(
        self,
        labeler: Callable[[str], str | None] | None = None,
        machinery_modules: Iterable[str] = MACHINERY_MODULES,
        cell_ids: Callable[[str], str | None] | None = None,
    ) -> None:
        self.labeler = labeler
        self.cell_ids = cell_ids
        self.machinery = tuple(_module_roots(machinery_modules))
        self.kernel = tuple(_module_roots(KERNEL_MODULES))
        paths = sysconfig.get_paths()
        roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
        roots.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
        self.library = tuple(sorted(os.path.join(r, "") for r in roots if r))
        self.threading_file = threading.__file__

    def label(self, filename: str) -> str:
        """`Cell In[7]` for a file that holds a cell's code, else ''."""
        if self.labeler is None:
            return ""
        try:
            return self.labeler(filename) or ""
        except Exception:  # a labeler must never break a dump
            return ""

    def cell_id(self, label: str) -> str:
        """The front end's id of the cell with this label (`Cell In[7]`), or ''."""
        if self.cell_ids is None or not label:
            return ""
        try:
            return self.cell_ids(label) or ""
        except Exception:  # never break a dump
            return ""

    def kind(self, filename: str, function: str) -> str:
        """The kind of a frame that is not a cell: machinery, library or user."""
        if filename.startswith(self.machinery):
            return "machinery"
        if filename == self.threading_file and function in ("_bootstrap", "_bootstrap_inner"):
            return "machinery"
        if filename.startswith(self.library) or filename.startswith("<frozen "):
            return "library"
        return "user"


def _module_roots(names: Iterable[str]) -> list[str]:
    roots = []
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None) if module else None
        if not path:
            continue
        if os.path.basename(path) == "__init__.py":
            roots.append(os.path.join(os.path.dirname(path), ""))
        else:
            roots.append(path)
    return roots


def is_service(records: list[FrameRecord], classifier: FrameClassifier) -> bool:
    """Does the thread run the kernel's code? Judged by its entry point.

    Skips the frames every thread has (threading's bootstrap and ``Thread.run``), library
    frames (decorators such as the ``decorator`` package's) and wrappers around
    ``Thread.run`` (ipykernel 6 wraps it to route output from threads): the first frame
    left says whose thread it is, and only the kernel's own packages make it a service
    thread (an event loop that a library started is not one).
    """
    threading_file = classifier.threading_file
    for index, record in enumerate(records):
        if record.filename == threading_file or record.kind == "library":
            continue
        inner = records[index + 1] if index + 1 < len(records) else None
        if record.kind == "machinery" and inner is not None and inner.filename == threading_file:
            continue
        return record.filename.startswith(classifier.kernel)
    return False


def mark_beneath_cell(records: list[FrameRecord]) -> None:
    """Everything beneath the first cell frame on the cell's thread is the kernel's own
    (and in a process forked there: ``children.py``)."""
    first = next((i for i, r in enumerate(records) if r.kind == "cell"), None)
    if first is None:
        return
    for i in range(first):
        if records[i].kind != "machinery":
            records[i] = FrameRecord(**{**records[i].__dict__, "kind": "machinery"})
