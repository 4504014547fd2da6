"""Freeze and resolve, in this process, on real threads."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from ipysigtrace.capture import capture, fold, freeze
from ipysigtrace.classify import FrameClassifier
from ipysigtrace.snapshot import FrameRecord
from ipysigtrace.threadstate import guess_state


@pytest.fixture
def parked() -> Iterator[dict[str, threading.Thread]]:
    """Threads parked in known places: a lock, a queue, an event, a sleep."""
    lock = threading.Lock()
    lock.acquire()
    q: queue.Queue[int] = queue.Queue()
    event = threading.Event()

    def on_lock() -> None:
        lock.acquire()

    def on_queue() -> None:
        q.get()

    def on_event() -> None:
        event.wait()

    def napping() -> None:
        time.sleep(0.3)

    threads = {
        name: threading.Thread(target=target, name=name, daemon=True)
        for name, target in [
            ("lock", on_lock),
            ("queue", on_queue),
            ("event", on_event),
            ("sleep", napping),
        ]
    }
    for thread in threads.values():
        thread.start()
    time.sleep(0.1)
    yield threads
    lock.release()
    q.put(1)
    event.set()
    for thread in threads.values():
        thread.join(2)


def test_states_of_parked_threads(parked: dict[str, threading.Thread]) -> None:
    snapshot = capture(FrameClassifier())
    states = {t.name: t.state for t in snapshot.threads}
    assert states["lock"] == "waiting for a lock"
    assert states["queue"] == "waiting on a queue"
    assert states["event"] == "waiting on an event"
    assert states["sleep"] == "sleeping"
    assert states["MainThread"] == "running"
    lock = next(t for t in snapshot.threads if t.name == "lock")
    assert lock.frames[-1].function.endswith("on_lock")
    assert lock.frames[-1].line == "lock.acquire()"
    assert lock.native_id == parked["lock"].native_id
    assert lock.daemon and not lock.is_main


def test_skip_idents_and_labels() -> None:
    me = threading.get_ident()
    assert me not in freeze(skip_idents=[me]).stacks
    classifier = FrameClassifier(labeler=lambda f: "Cell In[9]" if f == __file__ else None)
    main = capture(classifier, cell_thread=me).thread(me)
    assert main is not None and main.runs_cell
    here = [f for f in main.frames if f.kind == "cell"]
    assert here and here[-1].location.startswith("Cell In[9], line ")
    below = main.frames[: main.frames.index(here[0])]
    assert below and all(f.kind == "machinery" for f in below), "beneath the cell: the kernel's"


def test_a_failing_labeler_does_not_break_a_dump() -> None:
    def broken(filename: str) -> str:
        raise RuntimeError("boom")

    assert capture(FrameClassifier(labeler=broken)).threads


def test_library_and_user_frames() -> None:
    classifier = FrameClassifier()
    assert classifier.kind(threading.__file__, "wait") == "library"
    assert classifier.kind(pytest.__file__, "main") == "library"
    assert classifier.kind("/home/me/project/work.py", "main") == "user"
    assert classifier.kind(threading.__file__, "_bootstrap_inner") == "machinery"


def test_deep_recursion_folds() -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 7000))

    def dive(n: int) -> object:
        return dive(n - 1) if n else capture(FrameClassifier(), limit=None)

    snapshot = dive(5000)
    main = snapshot.thread(threading.get_ident())
    assert main is not None
    folded = [f for f in main.frames if f.repeat]
    assert len(folded) == 1 and folded[0].repeat >= 4990 and folded[0].span == 1
    assert len(main.frames) < 60
    assert main.depth > 5000


def test_fold_patterns() -> None:
    a, b, c = (compile("0", name, "eval") for name in "abc")
    assert fold([(a, 1)] * 5) == [(0, 4, 1)]
    assert fold([(a, 1), (a, 1)]) == [(0, 0, 1), (1, 0, 1)], "two is not a pattern"
    mutual = [(a, 1), (b, 2)] * 4 + [(c, 3)]
    assert fold(mutual) == [(0, 3, 2), (1, 0, 1), (8, 0, 1)]


def test_limit_keeps_the_innermost() -> None:
    def three() -> object:
        return capture(FrameClassifier(), limit=2)

    main = three().thread(threading.get_ident())  # type: ignore[attr-defined]
    shown = [f for f in main.frames if f.kind != "machinery"]
    assert len(shown) == 2


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("time.sleep(5)", "sleeping"),
        ("with lock:", "waiting for a lock"),
        ("data = sock.recv(1024)", "waiting for I/O"),
        ("x += 1", "running"),
    ],
)
def test_guess_state_from_the_line(line: str, state: str) -> None:
    assert guess_state([FrameRecord("/x.py", 1, "f", line)]) == state
    assert guess_state([]) == "unknown"


def test_the_main_thread_is_never_hidden_as_a_service_thread() -> None:
    snapshot = capture(FrameClassifier(machinery_modules=("_pytest", "pytest", "pluggy")))
    main = next(t for t in snapshot.threads if t.is_main)
    assert not main.service


def test_class_bodies_with_a_user_mapping_are_not_touched() -> None:
    calls: list[str] = []

    class Recording(dict):
        def __getitem__(self, key: str) -> object:
            calls.append(f"get {key}")
            return super().__getitem__(key)

        def __setitem__(self, key: str, value: object) -> None:
            calls.append(f"set {key}")
            super().__setitem__(key, value)

        def __delitem__(self, key: str) -> None:
            calls.append(f"del {key}")
            super().__delitem__(key)

        def items(self):  # type: ignore[override]
            calls.append("items")
            return super().items()

    class Meta(type):
        @classmethod
        def __prepare__(mcs, name: str, bases: tuple) -> Recording:  # type: ignore[override]
            return Recording()

    def grab() -> list[str]:
        before = len(calls)
        capture(FrameClassifier(), with_locals=True)
        return calls[before:]

    class Body(metaclass=Meta):
        during = grab()

    assert Body.during == [], "capturing did not call the class body's mapping"


def test_a_coding_cookie_for_an_unloaded_codec_is_not_imported(tmp_path) -> None:
    import subprocess

    source = tmp_path / "legacy.py"
    source.write_bytes(b"# -*- coding: cp1006 -*-\nx = 1\ny = 2\n")
    code = f"""
import sys
from ipysigtrace import sources
assert sources.line({str(source)!r}, 2) == ""
assert "encodings.cp1006" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_same_code_in_two_files_keeps_its_own_file(tmp_path: pytest.TempPathFactory) -> None:
    """Code objects that differ only in their file compare equal; each frame still names
    the file it runs from."""
    event = threading.Event()
    source = "def wait(event):\n    event.wait()\n"
    threads = []
    for name in ("first.py", "second.py"):
        namespace: dict[str, object] = {}
        exec(compile(source, f"/nowhere/{name}", "exec"), namespace)
        thread = threading.Thread(target=namespace["wait"], args=(event,), name=name)
        thread.start()
        threads.append(thread)
    try:
        for thread in threads:  # until each waits inside its own copy of wait()
            while not any(
                code.co_filename.startswith("/nowhere/")
                for code, _ in freeze().stacks.get(thread.ident or 0, [])
            ):
                pass
        snapshot = capture(FrameClassifier())
        for thread in threads:
            record = snapshot.thread(thread.ident or 0)
            assert record is not None and record.frames[-1].function.endswith("wait")
            assert any(f.filename == f"/nowhere/{thread.name}" for f in record.frames)
    finally:
        event.set()
        for thread in threads:
            thread.join()
