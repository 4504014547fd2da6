"""Locals are shown without running any user code."""

from __future__ import annotations

import time
from typing import ClassVar

import pytest

from ipysigtrace.values import MASK, ReprRunner, safe_locals, safe_text


class Booby:
    """Every method a formatter might call records that it was called."""

    calls: ClassVar[list[str]] = []

    def __repr__(self) -> str:
        Booby.calls.append("repr")
        return "boom"

    def __str__(self) -> str:
        Booby.calls.append("str")
        return "boom"

    def __len__(self) -> int:
        Booby.calls.append("len")
        return 1


class MyList(list):
    def __repr__(self) -> str:
        Booby.calls.append("subclass repr")
        return "boom"


def test_no_user_code_runs() -> None:
    Booby.calls.clear()
    shown = safe_locals({"b": Booby(), "m": MyList([1]), "nested": [Booby(), {"k": Booby()}]})
    assert Booby.calls == []
    values = {entry["name"]: entry["value"] for entry in shown}
    assert values["b"].startswith("<") and "Booby at 0x" in values["b"]
    assert "MyList at 0x" in values["m"]
    assert values["nested"].startswith("[<") and "Booby at 0x" in values["nested"]


def test_builtins_with_limits() -> None:
    assert safe_text(42) == "42" and safe_text(None) == "None" and safe_text(2.5) == "2.5"
    assert safe_text((1,)) == "(1,)"
    assert safe_text(list(range(100))) == "[0, 1, 2, 3, 4, 5, 6, 7, ... 92 more]"
    assert safe_text({"a": [1, [2, [3]]]}) == "{'a': [1, <list of 2>]}"
    long = safe_text("x" * 1000)
    assert long.endswith("(len 1,000)") and len(long) < 200
    assert safe_text(10**5000).startswith("<int of ")
    assert safe_text(b"\x00" * 3) == "b'\\x00\\x00\\x00'"


def test_secrets_are_masked_and_dunders_skipped() -> None:
    shown = safe_locals(
        {"password": "hunter2", "api_key": "k", "github_token": "t", "n": 1, "__x__": 2}
    )
    values = {entry["name"]: entry["value"] for entry in shown}
    assert values == {"password": MASK, "api_key": MASK, "github_token": MASK, "n": "1"}


def test_secrets_nested_in_dicts_and_urls_are_masked() -> None:
    config = {
        "db": {"host": "h", "db_password": "hunter2", b"api_key": b"k"},
        "headers": {"Authorization": "Bearer abc"},
    }
    url = "postgres://bob:hunter2@db.example.com:5432/x"
    namespace = {"config": config, "url": url, "DB_PASSWORD": "x", "client_secret": 1, "pwd": 2}
    shown = safe_locals(namespace)
    values = {entry["name"]: entry["value"] for entry in shown}
    assert values["config"] == (
        "{'db': {'host': 'h', 'db_password': ******, b'api_key': ******}, "
        "'headers': {'Authorization': ******}}"
    )
    assert values["url"] == "'postgres://bob:******@db.example.com:5432/x'"
    assert values["DB_PASSWORD"] == values["client_secret"] == values["pwd"] == MASK
    assert "hunter2" not in str(shown) and "abc" not in str(shown)


class Settings:
    def __repr__(self) -> str:
        return "Settings(user='bob', password='hun\\'ter2', api_token=abc, dsn='https://u:pw@h')"


def test_secrets_in_a_user_repr_are_masked() -> None:
    runner = ReprRunner(timeout=5.0)
    (shown,) = safe_locals({"settings": Settings()}, reprs=runner.for_dump())
    assert shown["value"] == (
        "Settings(user='bob', password=******, api_token=******, dsn='https://u:******@h')"
    )


def test_module_level_leaves_out_the_notebook_bookkeeping() -> None:
    import os

    namespace = {"_ih": [], "_i3": "x", "In": [], "Out": {}, "os": os, "f": print, "rows": 5}
    assert safe_locals(namespace, module_level=True) == [
        {"name": "rows", "type": "int", "value": "5"}
    ]
    assert len(safe_locals(namespace)) == 7, "inside a function, every local is shown"


class Meta(type):
    calls: ClassVar[list[str]] = []

    def __eq__(cls, other: object) -> bool:
        Meta.calls.append("eq")
        return False

    __hash__ = None  # type: ignore[assignment]


class Odd(metaclass=Meta):
    pass


def test_a_metaclass_with_eq_and_no_hash_runs_nothing() -> None:
    Meta.calls.clear()
    shown = safe_locals({"odd": Odd(), "cls": Odd})
    assert Meta.calls == []
    assert "Odd at 0x" in shown[0]["value"]


def test_arrays_and_frames_show_shape_and_dtype() -> None:
    np = pytest.importorskip("numpy", reason="numpy is in the test extra; not installed here")
    pd = pytest.importorskip("pandas", reason="pandas is in the test extra; not installed here")
    assert safe_text(np.zeros((3, 4), dtype=np.float32)) == "<ndarray shape=(3, 4) dtype=float32>"
    frame = pd.DataFrame({"a": range(1000), "b": 1.5, "c": 2})
    assert safe_text(frame) == "<DataFrame 1,000 rows x 3 columns dtypes=float64,int64>"
    assert safe_text(frame["a"]) == "<Series of 1,000 dtype=int64>"


def test_subclasses_of_arrays_and_frames_run_nothing() -> None:
    np = pytest.importorskip("numpy", reason="numpy is in the test extra; not installed here")
    pd = pytest.importorskip("pandas", reason="pandas is in the test extra; not installed here")

    class Frame(pd.DataFrame):
        @property
        def shape(self) -> tuple[int, int]:
            Booby.calls.append("shape")
            return (0, 0)

    class Array(np.ndarray):
        pass

    Booby.calls.clear()
    assert "Frame at 0x" in safe_text(Frame({"a": [1]}))
    assert "Array at 0x" in safe_text(np.zeros(2).view(Array))
    assert Booby.calls == []


class Slow:
    def __repr__(self) -> str:
        time.sleep(0.1)
        return "slow but fine"


def test_one_dump_spends_a_bounded_time_on_reprs() -> None:
    runner = ReprRunner(timeout=1.0, budget=0.35)
    shown = safe_locals({f"v{i}": Slow() for i in range(10)}, reprs=runner.for_dump())
    values = [entry["value"] for entry in shown]
    assert values[0] == "slow but fine"
    assert values[-1] == "<repr not tried: this dump spent its 0.35 s on reprs>"
    assert values.count("slow but fine") <= 4
    fresh = runner.for_dump()  # the next dump has its own budget
    assert fresh(Slow()) == "slow but fine"


def test_a_repr_runs_on_a_thread_that_takes_no_signal() -> None:
    """The cell's SIGINT and the dump signal never land on a repr runner's thread."""
    import signal

    class Masked:
        def __repr__(self) -> str:
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
            return f"{signal.SIGINT in blocked} {signal.SIGUSR2 in blocked}"

    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert ReprRunner()(Masked()) == "True True"
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before  # the caller's mask back
