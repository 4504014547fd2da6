"""Locals shown without running user code.

A dump must not call ``__repr__`` of user objects: it can raise, run for ever, or wait for
a lock that the stuck thread holds. So only values of exact builtin types are formatted
(numbers, strings, bytes, None, booleans, and lists, tuples, sets and dicts of them, with
length and depth limits); anything else is shown as its type name and address. A NumPy
array shows its shape and dtype, a pandas DataFrame or Series its shape and dtypes, both
in NumPy's notation (``float32``: NumPy's and pandas' own code, for exact types only, so
no method of a user subclass runs). What looks like a secret is masked: a local whose name
looks like one (``password``, ``db_password``, ``api_key``, ...), the value under such a key
in a dict at any depth shown, the password of a URL (``scheme://user:******@host``), and in
a user repr, ``password='...'`` or ``'token': ...``.

When the user asks for it (``%stackdump --locals=repr``), ``ReprRunner`` calls the real
``repr`` of the other objects, each on a disposable thread with a time limit and a size
limit: a repr that raises, runs for ever or waits for a lock that the stuck thread holds
shows as such, and whoever asked carries on. Threads whose repr never returned are left
behind (they cannot be killed); once a few are, no more reprs are tried. One dump spends
at most a second on reprs in all (``ReprRunner.for_dump``); the rest show as not tried.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from inspect import CO_OPTIMIZED
from types import BuiltinFunctionType, FrameType, FunctionType, ModuleType
from typing import Any

from .signals import start_deaf

MAX_LOCALS = 40
MAX_TEXT = 120
MAX_ITEMS = 8
MAX_DEPTH = 2
MASK = "******"
_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api_?key|access_?key|private_?key|credential"
    r"|authori[sz]ation"
)
SECRET = re.compile(_SECRET_WORDS, re.I)
# The password of a URL: scheme://user:PASSWORD@host.
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^/\s@]+@")
# In a user repr: a secret-looking name, '=' or ':', and the value (quoted, or up to a
# delimiter): Config(password='x'), {'api_key': 'y'}.
_NAMED_SECRET = re.compile(
    rf"""(\w*(?:{_SECRET_WORDS})\w*['"]?\s*[=:]\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s,)}}\]>]+)""",
    re.I,
)

_SCALARS = (int, float, complex, bool, type(None))
_SEQUENCES = ((list, "[]"), (tuple, "()"), (set, "{}"), (frozenset, "frozenset({})"))


def is_one_of(kind: type, types: tuple[type, ...]) -> bool:
    """``kind in types`` by identity: ``in`` would call a user metaclass's __eq__."""
    return any(kind is t for t in types)


def _function_locals_type() -> type:
    return type(sys._getframe().f_locals)


# What ``f_locals`` of a function frame is: up to 3.12 a dict that C code fills in; from
# 3.13 (PEP 667) a FrameLocalsProxy, a view of the frame made in C.
_PROXY: Any = _function_locals_type()


def frame_namespace(frame: FrameType) -> dict[str, Any] | None:
    """A frame's variables, read without user code: a function's locals or a module's globals.

    Cell and free variables come with their contents on every version (the dict is filled,
    and the proxy reads, through the cells). Class bodies are left out: their namespace may
    be a user mapping (``__prepare__``), whose methods ``f_locals`` would call.
    """
    code = frame.f_code
    if code.co_flags & CO_OPTIMIZED:
        space = frame.f_locals
        if type(space) is dict:
            return space
        return _proxy_copy(space, code.co_varnames + code.co_cellvars + code.co_freevars)
    if code.co_name == "<module>":
        space = frame.f_globals
        return space if type(space) is dict else None
    return None


def _proxy_copy(proxy: Any, own: tuple[str, ...]) -> dict[str, Any] | None:
    """A FrameLocalsProxy read into a dict; its ``keys()`` and lookups by a str are C code.

    A name set through the proxy (``f_locals[key] = ...``) can be any object; ``dict(proxy)``
    would hash it, and looking up a str that is not the code's own name compares it with
    such keys. So when one is there, only the code's own names are read.
    """
    if _PROXY is dict or type(proxy) is not _PROXY:
        return None
    names = proxy.keys()
    if type(names) is not list:
        return None
    if not all(type(name) is str for name in names):
        mine = frozenset(own)
        names = [name for name in names if type(name) is str and name in mine]
    space = {}
    for name in names:
        try:
            space[name] = proxy[name]
        except KeyError:  # deleted meanwhile
            continue
    return space


def _brackets(kind: type) -> str | None:
    return next((b for t, b in _SEQUENCES if kind is t), None)


# At module level (a cell's own code) the namespace is the notebook's: leave out IPython's
# bookkeeping and what was merely imported or defined.
_NOTEBOOK_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})
_DEFINITIONS = (ModuleType, FunctionType, BuiltinFunctionType, type)


Repr = Callable[[Any], str]


class ReprRunner:
    """Calls user ``__repr__`` on disposable threads, with a time and a size limit."""

    def __init__(self, timeout: float = 0.2, max_stuck: int = 3, budget: float = 1.0) -> None:
        self.timeout = timeout
        self.max_stuck = max_stuck
        self.budget = budget
        self.stuck: list[threading.Thread] = []

    def for_dump(self) -> Repr:
        """A repr function for one dump: all its reprs together get ``budget`` seconds."""
        deadline = time.monotonic() + self.budget

        def run(value: Any) -> str:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"<repr not tried: this dump spent its {self.budget:g} s on reprs>"
            return self(value, min(self.timeout, left))

        return run

    def __call__(self, value: Any, timeout: float | None = None) -> str:
        timeout = self.timeout if timeout is None else timeout
        self.stuck = [t for t in self.stuck if t.is_alive()]
        if len(self.stuck) >= self.max_stuck:
            return "<repr not tried: earlier reprs never returned>"
        result: list[str] = []
        thread = threading.Thread(
            target=_repr_into, args=(value, result), name="ipysigtrace-repr", daemon=True
        )
        start_deaf(thread)
        thread.join(timeout)
        if thread.is_alive():
            self.stuck.append(thread)
            return f"<repr did not return within {timeout:.2g} s>"
        return result[0] if result else "<repr gave nothing>"


def _repr_into(value: Any, result: list[str]) -> None:
    try:
        text = repr(value)
        result.append(_cut(text) if isinstance(text, str) else "<repr did not give a str>")
    except BaseException as exc:  # a user repr may raise anything, SystemExit included
        result.append(f"<repr raised {type(exc).__name__}>")


def safe_locals(
    namespace: dict[str, Any], module_level: bool = False, reprs: Repr | None = None
) -> list[dict[str, str]]:
    """[{'name', 'type', 'value'}] for up to MAX_LOCALS names; user code only via ``reprs``."""
    out: list[dict[str, str]] = []
    for name, value in list(namespace.items()):
        if len(out) >= MAX_LOCALS:
            break
        if type(name) is not str or (name.startswith("__") and name.endswith("__")):
            continue
        if module_level and (
            name.startswith("_") or name in _NOTEBOOK_NAMES or is_one_of(type(value), _DEFINITIONS)
        ):
            continue
        kind = type(value)
        if SECRET.search(name):
            text = MASK
        elif reprs is not None and not _builtin(value):
            text = mask_secrets(reprs(value))
        else:
            text = safe_text(value)
        out.append({"name": name, "type": _type_name(kind), "value": text})
    return out


def mask_secrets(text: str) -> str:
    """A repr's text with URL passwords and ``name=value`` of secret-looking names masked."""
    text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    return _NAMED_SECRET.sub(rf"\1{MASK}", text)


def _secret_key(key: Any) -> bool:
    """A dict key that names a secret (exact str or bytes only: no user ``__eq__`` runs)."""
    kind = type(key)
    if kind is bytes:
        key = key.decode("latin-1")
    return (kind is str or kind is bytes) and SECRET.search(key) is not None


def safe_text(value: Any, depth: int = 0) -> str:
    """A short text for a value, calling no method that user code can override."""
    kind = type(value)
    if is_one_of(kind, _SCALARS):
        try:
            return _cut(repr(value))
        except ValueError:  # an int too long to print (sys.set_int_max_str_digits)
            return f"<int of {value.bit_length()} bits>"
    if kind is str or kind is bytes:
        shown = value[: 4 * MAX_TEXT]
        if kind is str:  # a password in a URL may reach past what is shown: mask it first
            shown = _URL_PASSWORD.sub(rf"\1{MASK}@", shown)
        return _cut(repr(shown[: MAX_TEXT + 1])) + (
            f" (len {len(value):,})" if len(value) > MAX_TEXT else ""
        )
    if _brackets(kind) is not None or kind is dict:
        return _container(value, kind, depth)
    if kind is ModuleType:
        return f"<module {safe_text(value.__dict__.get('__name__'), MAX_DEPTH)}>"
    return _array_text(value, kind) or f"<{_type_name(kind)} at {id(value):#x}>"


def _dtype_text(dtype: Any) -> str:
    """A NumPy dtype's name as users write it (``float32``; NumPy's own code, which reads
    the dtype and runs nothing of the user's); for any other dtype (an extension's), its
    type's name. Arrays, Series and DataFrames all show dtypes this one way."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(dtype, numpy.dtype):
        return str(dtype.name)
    return type(dtype).__name__


def _exact(kind: type, module: str, name: str) -> bool:
    """``kind`` is ``module.name`` itself, if that module is imported (never imports it)."""
    loaded = sys.modules.get(module)
    return loaded is not None and kind is getattr(loaded, name, None)


def _array_text(value: Any, kind: type) -> str | None:
    """Shape and dtype of a NumPy array or a pandas DataFrame or Series; else None."""
    if _exact(kind, "numpy", "ndarray"):
        return f"<ndarray shape={value.shape} dtype={_dtype_text(value.dtype)}>"
    try:
        if _exact(kind, "pandas", "Series"):
            return f"<Series of {len(value.index):,} dtype={_dtype_text(value.dtype)}>"
        if _exact(kind, "pandas", "DataFrame"):
            rows, columns = value.shape
            dtypes = sorted({_dtype_text(block.dtype) for block in value._mgr.blocks})
            shown = ",".join(dtypes[:MAX_ITEMS]) + (",..." if len(dtypes) > MAX_ITEMS else "")
            return f"<DataFrame {rows:,} rows x {columns:,} columns dtypes={shown}>"
    except Exception:  # pandas internals differ between versions: fall back to the type
        return None
    return None


def _builtin(value: Any) -> bool:
    """Formatted by safe_text itself (no repr of a user type needed)."""
    kind = type(value)
    simple = (str, bytes, dict, ModuleType)
    return is_one_of(kind, _SCALARS) or is_one_of(kind, simple) or _brackets(kind) is not None


def _container(value: Any, kind: type, depth: int) -> str:
    if depth >= MAX_DEPTH:
        return f"<{kind.__name__} of {len(value):,}>"
    if kind is dict:
        items = [
            f"{safe_text(k, depth + 1)}: {MASK if _secret_key(k) else safe_text(v, depth + 1)}"
            for k, v in list(value.items())[:MAX_ITEMS]
        ]
        open_, close = "{", "}"
    else:
        items = [safe_text(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
        brackets = _brackets(kind) or "[]"
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
