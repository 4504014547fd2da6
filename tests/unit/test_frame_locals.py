"""A function frame's locals, read without user code on every supported Python.

Up to 3.12 ``frame.f_locals`` of a function is a dict; from 3.13 (PEP 667) it is a
FrameLocalsProxy. Both must give the same locals, cell and free variables included.
"""

from __future__ import annotations

import sys

from ipysigtrace.capture import capture
from ipysigtrace.classify import FrameClassifier
from ipysigtrace.snapshot import FrameRecord
from ipysigtrace.values import frame_namespace


def _locals_of(function: str) -> dict[str, str]:
    """name -> shown value of this thread's innermost frame of ``function``, captured now."""
    snapshot = capture(FrameClassifier(), with_locals=True)
    (me,) = [t for t in snapshot.threads if t.is_main]
    frame: FrameRecord = next(f for f in reversed(me.frames) if f.function.endswith(function))
    assert frame.locals is not None, frame
    return {local["name"]: local["value"] for local in frame.locals}


def test_function_locals_with_cell_and_free_variables() -> None:
    seen: dict[str, dict[str, str]] = {}

    def outer() -> None:
        shared = "in a cell"  # a cell variable of outer, a free variable of inner
        count = 3

        def inner() -> None:
            label = "inner's own"
            seen["inner"] = _locals_of("inner")
            assert label and shared

        inner()
        seen["outer"] = _locals_of("outer")
        assert count

    outer()
    assert seen["inner"]["label"] == repr("inner's own")
    assert seen["inner"]["shared"] == "'in a cell'"
    assert seen["outer"]["shared"] == "'in a cell'"
    assert seen["outer"]["count"] == "3"
    assert "inner" in seen["outer"]


def test_a_key_of_user_type_set_through_f_locals_runs_no_user_code() -> None:
    calls: list[str] = []

    class Key:
        def __hash__(self) -> int:
            calls.append("hash")
            return 12345

        def __eq__(self, other: object) -> bool:
            calls.append("eq")
            return False

    def planted() -> dict[str, str]:
        value = 7
        sys._getframe().f_locals[Key()] = "planted"  # 3.13: the proxy's extra locals
        calls.clear()
        namespace = frame_namespace(sys._getframe())
        shown = _locals_of("planted")
        assert value
        assert namespace is not None and namespace["value"] == 7
        return shown

    shown = planted()
    assert calls == [], "reading the locals hashed or compared a user object"
    assert shown["value"] == "7"
    assert all(type(name) is str for name in shown)


def test_class_bodies_and_module_frames() -> None:
    namespace: dict[str, object] = {}
    exec("import sys\nframe = sys._getframe()\n", namespace)
    frame = namespace["frame"]
    assert frame_namespace(frame) is namespace, "a module frame gives its globals"  # type: ignore[arg-type]

    class Body:
        got = frame_namespace(sys._getframe())

    assert Body.got is None, "a class body (maybe a user mapping) is left out"
