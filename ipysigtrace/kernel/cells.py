"""Which cell is running, on which thread, and what the notebook calls it.

``CellTracker`` remembers, on the thread that runs each cell, which cell is running: the
thread, the start time and the kernel's parent header (the execute request). ipykernel 7
keeps the parent in ContextVars, which a watcher thread cannot see, so the header is taken
when the cell starts and passed explicitly when publishing.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# How many cells' front-end ids to remember (execution count -> cell id).
CELL_ID_MEMORY = 2000


@dataclass(frozen=True)
class RunningCell:
    """The cell that runs now."""

    thread: int
    started: float
    parent: dict[str, Any] | None


class CellTracker:
    """Follows IPython's pre_run_cell and post_run_cell events."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.kernel = getattr(shell, "kernel", None)
        self.current: RunningCell | None = None  # replaced whole: safe to read anywhere
        self.on_change: Callable[[RunningCell | None], None] | None = None
        # An object whose ``in_hook`` is True while our callbacks run (the trigger).
        self.hook_flag: Any = None
        self.cell_ids: dict[int, str] = {}
        self._pending: tuple[Any, int] | None = None
        self._offset = -1 if _ipython_major() >= 9 else 0  # a first guess, see _pre

    def register(self) -> None:
        """Start following cells."""
        self.shell.events.register("pre_run_cell", self._pre)
        self.shell.events.register("post_run_cell", self._post)

    def unregister(self) -> None:
        """Stop following cells."""
        for name, callback in (("pre_run_cell", self._pre), ("post_run_cell", self._post)):
            with contextlib.suppress(ValueError):
                self.shell.events.unregister(name, callback)

    def _hook(self, on: bool) -> None:
        if self.hook_flag is not None:
            self.hook_flag.in_hook = on

    def _pre(self, info: Any = None) -> None:
        self._hook(True)
        try:
            self._started(info)
        finally:
            self._hook(False)

    def _post(self, result: Any = None) -> None:
        self._hook(True)
        try:
            self._ended(result)
        finally:
            self._hook(False)

    def _started(self, info: Any) -> None:
        parent = None
        if self.kernel is not None:
            with contextlib.suppress(Exception):
                parent = self.kernel.get_parent("shell")
        cell = RunningCell(threading.get_ident(), time.time(), parent or None)
        if self.on_change is not None:
            self.on_change(cell)
        self._note_cell_id(info, parent)
        # Last: whoever asks whether a cell runs (a status request) is told so only once
        # our callback is over, so an interrupt sent on that answer is not taken inside it.
        self.current = cell

    def _note_cell_id(self, info: Any, parent: Any) -> None:
        cell_id = getattr(info, "cell_id", None)
        if not cell_id and isinstance(parent, dict):
            cell_id = (parent.get("metadata") or {}).get("cellId")
        if cell_id and getattr(info, "store_history", True):
            # IPython 9 counts the cell before this event, IPython 8 after it: the offset
            # is learnt from the first finished cell (post_run_cell has the true count).
            self._pending = (info, self.shell.execution_count)
            self._remember(self.shell.execution_count + self._offset, str(cell_id))

    def _ended(self, result: Any) -> None:
        self.current = None
        if self.on_change is not None:
            self.on_change(None)
        pending, self._pending = self._pending, None
        count = getattr(result, "execution_count", None)
        if (
            pending is not None
            and isinstance(count, int)
            and getattr(result, "info", None) is pending[0]
        ):
            cell_id = getattr(pending[0], "cell_id", None) or self.cell_ids.get(
                pending[1] + self._offset
            )
            self.cell_ids.pop(pending[1] + self._offset, None)
            self._offset = count - pending[1]
            if cell_id:
                self._remember(count, str(cell_id))

    def _remember(self, count: int, cell_id: str) -> None:
        self.cell_ids[count] = cell_id
        if len(self.cell_ids) > CELL_ID_MEMORY:
            del self.cell_ids[min(self.cell_ids)]

    def cell_id(self, label: str) -> str | None:
        """The front end's id of the cell labelled `Cell In[7]`, if it sent one."""
        match = re.search(r"\[(\d+)\]", label)
        return self.cell_ids.get(int(match.group(1))) if match else None


def connection_file(kernel: Any) -> str:
    """The connection file of the kernel app running in this process, or ''."""
    if kernel is None:
        return ""
    app = getattr(kernel, "parent", None)
    path = getattr(app, "abs_connection_file", None) or getattr(app, "connection_file", "")
    return str(path) if isinstance(path, str) else ""


def cell_labeler(compiler: Any) -> Any:
    """`Cell In[7]` for a cell's file name, from IPython's own naming."""
    format_code_name = getattr(compiler, "format_code_name", None)
    if format_code_name is None:
        # Early IPython 8 releases have no format_code_name, only the map behind it.
        numbers = getattr(compiler, "_filename_map", None)
        if type(numbers) is not dict:
            return None

        def format_code_name(filename: str) -> tuple[str, str] | None:
            number = numbers.get(filename)
            return None if number is None else ("Cell", f"In[{number}]")

    def label(filename: str) -> str | None:
        named = format_code_name(filename)
        return f"{named[0]} {named[1]}" if named else None

    return label


def _ipython_major() -> int:
    module = sys.modules.get("IPython")
    version = getattr(module, "version_info", (0,))
    return int(version[0])
