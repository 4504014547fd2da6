"""Reading the scheduler's answer to ``call_stack``: frames, keys, and answers that are not.

The answers here have the shape a real scheduler sends (``distributed.profile.call_stack``
text per frame, ``{worker: {key: [frame, ...]}}``); the kernel tests ask a real cluster.
"""

from __future__ import annotations

import threading

import pytest

from ipysigtrace.classify import FrameClassifier
from ipysigtrace.dasktasks import MAX_TASKS, _workers, key_text

SITE = "/env/lib/python3.11/site-packages"
WORKER_FRAMES = [
    f'  File "{threading.__file__}", line 1002, in _bootstrap\n\tself._bootstrap_inner()\n',
    f'  File "{SITE}/distributed/threadpoolexecutor.py", line 58, in _worker\n\ttask.run()\n',
    f'  File "{SITE}/distributed/worker.py", line 2821, in _run_task_simple\n\tresult = task()\n',
    f'  File "{SITE}/dask/_task_spec.py", line 768, in __call__\n\treturn self.func(*args)\n',
]


def frame(filename: str, line: int, name: str, source: str = "") -> str:
    return f'  File "{filename}", line {line}, in {name}\n\t{source}\n'


def test_a_task_starts_at_its_own_function_and_keeps_the_workers_lines() -> None:
    stack = [*WORKER_FRAMES, frame("/srv/app/load.py", 12, "load", "return reader.read()")]
    answer = {
        "tcp://10.0.0.8:1": {"sum-1": [*WORKER_FRAMES, frame("<dynamic-code>", 3, "f")]},
        "tcp://10.0.0.7:1": {("load-9a", 0): stack, ("load-9a", 1): stack},
    }
    workers = _workers(answer, FrameClassifier())
    assert [w.address for w in workers] == ["tcp://10.0.0.7:1", "tcp://10.0.0.8:1"]
    first, second = workers
    assert sorted(t.name for t in first.tasks) == ["('load-9a', 0)", "('load-9a', 1)"]
    (load,) = first.tasks[0].frames
    assert (load.filename, load.lineno, load.function) == ("/srv/app/load.py", 12, "load")
    assert load.line == "return reader.read()", "the worker's line, not a local file's"
    (sent,) = second.tasks[0].frames  # no cell of this process defines it: left as it came
    assert (sent.filename, sent.lineno, sent.function, sent.line) == ("<dynamic-code>", 3, "f", "")


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("sum-77ee", "sum-77ee"),
        (("getitem-9a", 0, 1), "('getitem-9a', 0, 1)"),
        (["x", 2.5], "('x', 2.5)"),
        (("one",), "('one',)"),
        ((((((("deep",),),),),),), "(((((...),),),),)"),
        (b"raw", "<bytes>"),
        (True, "<bool>"),
    ],
)
def test_keys_read_as_dask_writes_them(key: object, text: str) -> None:
    assert key_text(key) == text


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (["not", "a", "map"], "not a map"),
        ({1: {}}, "not an address"),
        ({"tcp://w": {"k": "text"}}, "not a list"),
        ({"tcp://w": {"k": [7]}}, "a frame is not text"),
        ({"tcp://w": {"k": ["Traceback (most recent call last):"]}}, "a frame is not 'File"),
        ({"tcp://w": {f"k{i}": [] for i in range(MAX_TASKS + 1)}}, "more than"),
    ],
)
def test_an_answer_that_is_not_one_is_refused_with_a_reason(answer: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        _workers(answer, FrameClassifier())
