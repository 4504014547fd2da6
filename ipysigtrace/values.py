"""Locals shown without running user code.

A dump must not call ``__repr__`` of user objects: it can raise, run for ever, or wait for
a lock that the stuck thread holds. So only values of exact builtin types are formatted
(numbers, strings, bytes, None, booleans, and lists, tuples, sets and dicts of them, with
length and depth limits); anything else is shown as its type name and address, and a NumPy
array as its shape and dtype (C-level attributes, no Python code runs). Names that look
like secrets are masked.
"""

from __future__ import annotations

import re
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

MAX_LOCALS = 40
MAX_TEXT = 120
MAX_ITEMS = 8
MAX_DEPTH = 2
MASK = "******"
SECRET = re.compile(r"pass(word|wd|phrase)?|secret|token|api_?key|private_?key|credential", re.I)

_SCALARS = (int, float, complex, bool, type(None))
_SEQUENCES = {list: "[]", tuple: "()", set: "{}", frozenset: "frozenset({})"}


# At module level (a cell's own code) the namespace is the notebook's: leave out IPython's
# bookkeeping and what was merely imported or defined.
_NOTEBOOK_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})
_DEFINITIONS = (ModuleType, FunctionType, BuiltinFunctionType, type)


def safe_locals(namespace: dict[str, Any], module_level: bool = False) -> list[dict[str, str]]:
    """[{'name', 'type', 'value'}] for up to MAX_LOCALS names, no user code run."""
    out: list[dict[str, str]] = []
    for name, value in list(namespace.items()):
        if len(out) >= MAX_LOCALS:
            break
        if not isinstance(name, str) or (name.startswith("__") and name.endswith("__")):
            continue
        if module_level and (
            name.startswith("_") or name in _NOTEBOOK_NAMES or type(value) in _DEFINITIONS
        ):
            continue
        kind = type(value)
        text = MASK if SECRET.search(name) else safe_text(value)
        out.append({"name": name, "type": _type_name(kind), "value": text})
    return out


def safe_text(value: Any, depth: int = 0) -> str:
    """A short text for a value, calling no method that user code can override."""
    kind = type(value)
    if kind in _SCALARS:
        try:
            return _cut(repr(value))
        except ValueError:  # an int too long to print (sys.set_int_max_str_digits)
            return f"<int of {value.bit_length()} bits>"
    if kind is str or kind is bytes:
        return _cut(repr(value[: MAX_TEXT + 1])) + (
            f" (len {len(value):,})" if len(value) > MAX_TEXT else ""
        )
    if kind in _SEQUENCES or kind is dict:
        return _container(value, kind, depth)
    if kind is ModuleType:
        return f"<module {safe_text(value.__dict__.get('__name__'), MAX_DEPTH)}>"
    if kind.__module__ == "numpy" and kind.__name__ == "ndarray":
        return f"<ndarray shape={value.shape} dtype={value.dtype.str}>"
    return f"<{_type_name(kind)} at {id(value):#x}>"


def _container(value: Any, kind: type, depth: int) -> str:
    if depth >= MAX_DEPTH:
        return f"<{kind.__name__} of {len(value):,}>"
    if kind is dict:
        items = [
            f"{safe_text(k, depth + 1)}: {safe_text(v, depth + 1)}"
            for k, v in list(value.items())[:MAX_ITEMS]
        ]
        open_, close = "{", "}"
    else:
        items = [safe_text(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
        brackets = _SEQUENCES[kind]
        open_, close = brackets[:-1], brackets[-1]
        if kind is tuple and len(value) == 1:
            close = ",)"
    more = f", ... {len(value) - MAX_ITEMS:,} more" if len(value) > MAX_ITEMS else ""
    return _cut(open_ + ", ".join(items) + more + close)


def _type_name(kind: type) -> str:
    module = kind.__module__
    return (
        kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"
    )


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."
