"""Frames of another process (a worker's), in the form the kernel resolves its own.

A worker sends what ``capture.resolve`` reads of each frame (file, names, line); the
kernel then reads source lines, labels cells and sorts frames as it does for its own.

cloudpickle (which Dask and joblib's loky use to send a function of a cell to a worker)
leaves the file name out of the code it sends: the worker runs it as "<dynamic-code>",
with the line numbers of the cell where it was written. ``find_cells`` puts the cell back:
the kernel's latest cell whose line where the function starts (``co_firstlineno``, when
the worker sent it; else the nearest line above the frame's) defines a function of that
name.
"""

from __future__ import annotations

import linecache
import re
from typing import NamedTuple

from . import sources
from .classify import FrameClassifier, RawFrame

SENT_CODE = "<dynamic-code>"
_CELL_NUMBER = re.compile(r"\[(\d+)\]$")
_DECORATOR = re.compile(r"\s*@")


class Code(NamedTuple):
    """What ``resolve`` reads of a code object, for a frame of another process."""

    co_filename: str
    co_qualname: str
    co_name: str
    co_firstlineno: int = 0  # 0: not known


def find_cells(chains: list[list[RawFrame]], classifier: FrameClassifier) -> None:
    """Give the frames of sent code the file name of the cell that defines it, if one does."""
    found: dict[tuple[str, int, int], str] = {}
    for chain in chains:
        for index, (code, lineno) in enumerate(chain):
            if not isinstance(code, Code) or code.co_filename != SENT_CODE:
                continue
            key = (code.co_name, code.co_firstlineno, 0 if code.co_firstlineno else lineno)
            if key not in found:
                found[key] = _cell_defining(code.co_name, code.co_firstlineno, lineno, classifier)
            if found[key]:
                chain[index] = (code._replace(co_filename=found[key]), lineno)


def _cell_defining(name: str, first: int, lineno: int, classifier: FrameClassifier) -> str:
    if name == "<lambda>":
        starts = re.compile(r".*\blambda\b")
    else:
        starts = re.compile(rf"\s*(async\s+)?def\s+{re.escape(name)}\s*[(\[]")
    best, best_number = "", -1
    for filename in list(linecache.cache):  # a copy: the cell's thread may add to it
        if not isinstance(filename, str):
            continue
        number = _CELL_NUMBER.search(classifier.label(filename))
        lines = sources.lines_of(filename) if number else None
        if not number or not lines or int(number[1]) <= best_number:
            continue
        if first:
            at = first - 1
            while 0 <= at < len(lines) - 1 and _DECORATOR.match(lines[at]):
                at += 1  # a decorated function's code starts at its first decorator
            defines = 0 <= at < len(lines) and starts.match(lines[at]) is not None
        else:  # the nearest definition above the line, if the line is in the cell
            above = lines[: lineno - 1] if 1 <= lineno <= len(lines) else []
            defines = any(starts.match(line) for line in above)
        if defines:
            best, best_number = filename, int(number[1])
    return best
