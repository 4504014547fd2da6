"""faulthandler's text parsed into a raw snapshot."""

from __future__ import annotations

from ipysigtrace.rawdump import parse

TEXT = """\
Thread 0x00007f64ad3ba6c0 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 320 in wait
  File "/venv/lib/python3.11/site-packages/ipykernel/iostream.py", line 90 in _thread_main
  File "/usr/lib/python3.11/threading.py", line 1002 in _bootstrap

Current thread 0x00007f64ae200b80 (most recent call first):
  File "/tmp/ipykernel_4242/123456.py", line 3 in native
  File "/tmp/ipykernel_4242/654321.py", line 4 in <module>
  File "/venv/lib/python3.11/site-packages/IPython/core/interactiveshell.py", line 3577 in run_code
  File "/venv/lib/python3.11/site-packages/ipykernel_launcher.py", line 18 in <module>
  File "<frozen runpy>", line 88 in _run_code
"""


def test_parse() -> None:
    snapshot = parse(TEXT, 4242, when=5.0)
    assert snapshot.kind == "raw" and snapshot.pid == 4242 and snapshot.time == 5.0
    main, service = snapshot.threads
    assert main.is_main and main.runs_cell and main.name == "MainThread"
    assert snapshot.cell_thread == main.ident == 0x00007F64AE200B80
    assert [f.function for f in main.frames] == [
        "_run_code",
        "<module>",
        "run_code",
        "<module>",
        "native",
    ]
    assert [f.kind for f in main.frames] == ["machinery"] * 3 + ["cell", "cell"]
    assert main.frames[-1].label == "Cell" and main.frames[-1].lineno == 3
    assert service.service and not service.runs_cell
    assert service.frames[0].function == "_bootstrap"


def test_garbage_gives_an_empty_snapshot() -> None:
    assert parse("not a dump\n  File nowhere\n", 1).threads == []
