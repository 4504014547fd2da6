"""Worker processes that answer for their own stacks (``responder.py``), and the kernel's
side that asks them (``children.py``): real processes, real sockets, real files.

A Python program started with ``IPYSIGTRACE_CHILDREN`` in its environment arms itself
through the installed ``.pth`` file; one started without it, or pointed at a directory
that others can enter, never listens. What comes back over a socket is checked like any
input: a listener that is not the process it claims to be, an answer that is not one, one
that never comes, or a socket left by a process that ended each give that process a note.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipysigtrace import responder
from ipysigtrace.children import NO_ANSWER, NO_RESPONDER, Children, ask
from ipysigtrace.classify import FrameClassifier
from ipysigtrace.render import html, text
from ipysigtrace.runtime import remove_stale
from ipysigtrace.snapshot import ProcessRecord, StackSnapshot

WORKER = """\
import threading, time
def work():
    time.sleep(1000)  # the worker's line
threading.Thread(target=work, name="<b>helper</b>\\x1b[2J").start()
work()
"""


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "children"
    path.mkdir(mode=0o700)
    return path


class Programs:
    """Python programs started for a test, killed after it."""

    def __init__(self, folder: Path) -> None:
        self.script = folder / "worker.py"  # a file, so that its lines can be read
        self.script.write_text(WORKER)
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, directory: Path | None) -> subprocess.Popen[bytes]:
        """The worker, with the variable naming ``directory`` (or without it)."""
        env = {k: v for k, v in os.environ.items() if k != responder.ENV}
        if directory is not None:
            env[responder.ENV] = str(directory)
        process = subprocess.Popen([sys.executable, str(self.script)], env=env)
        self.started.append(process)
        return process


@pytest.fixture
def programs(tmp_path: Path) -> Iterator[Programs]:
    started = Programs(tmp_path)
    yield started
    for process in started.started:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def until(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def asked(directory: Path, pid: int, seconds: float = 5.0) -> ProcessRecord:
    record = ProcessRecord(pid, os.getpid(), "python -c ...")
    ask(str(directory), [record], FrameClassifier(), seconds)
    return record


def answered(directory: Path, pid: int) -> ProcessRecord:
    """The process's record once it answers with the worker's line on both threads."""
    record = ProcessRecord(0, 0)

    def done() -> bool:
        nonlocal record
        record = asked(directory, pid)
        lines = [t.frames[-1].line for t in record.threads if t.frames]
        return lines.count("time.sleep(1000)  # the worker's line") == 2

    until(done, f"process {pid} never answered with both threads in work")
    return record


def test_a_python_program_started_with_the_variable_answers(
    directory: Path, programs: Programs
) -> None:
    worker = programs.start(directory)
    record = answered(directory, worker.pid)
    assert record.note == "" and not record.forked
    main = next(t for t in record.threads if t.is_main)
    assert main.name == "MainThread" and main.native_id == worker.pid
    assert [f.function for f in main.frames] == ["<module>", "work"]
    assert main.state == "sleeping"
    assert (directory / str(worker.pid)).is_socket()
    # Its thread's name is shown as text, never as markup or a terminal sequence.
    snapshot = StackSnapshot(time.time(), os.getpid(), processes=[record])
    shown = text.render(snapshot)
    assert "\x1b" not in shown and "<b>helper</b>\\x1b[2J" in shown
    assert "&lt;b&gt;helper&lt;/b&gt;" in html.render(snapshot)
    assert len(record.threads) == 2  # the responder's own thread is left out


def test_without_the_variable_or_a_private_directory_nothing_listens(
    directory: Path, tmp_path: Path, programs: Programs
) -> None:
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o755)
    ready = "import sys, time; print('ready', flush=True); time.sleep(1000)"
    env = {k: v for k, v in os.environ.items() if k != responder.ENV}
    plain = subprocess.Popen([sys.executable, "-c", ready], env=env, stdout=subprocess.PIPE)
    env[responder.ENV] = str(open_to_all)
    exposed = subprocess.Popen([sys.executable, "-c", ready], env=env, stdout=subprocess.PIPE)
    programs.started += [plain, exposed]
    for process in (plain, exposed):  # the .pth file runs before the program does
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    assert list(open_to_all.iterdir()) == []
    assert asked(directory, plain.pid).note == NO_RESPONDER


def test_a_forked_child_answers_for_itself(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(responder.ENV, str(directory))
    responder.watch_forks()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: say it is armed, then wait in a function of its own
        try:
            os.write(write, b"1" if responder.armed() else b"0")

            def parked() -> None:
                time.sleep(1000)

            parked()
        finally:
            os._exit(0)
    try:
        os.close(write)
        assert os.read(read, 1) == b"1"
        record = ProcessRecord(0, 0)

        def parked_now() -> bool:
            nonlocal record
            record = asked(directory, pid)
            return bool(record.threads) and record.threads[0].frames[-1].function.endswith("parked")

        until(parked_now, "the forked child never answered from parked()")
        assert record.forked
    finally:
        os.close(read)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert not responder.armed(), "the parent itself was never armed"


class FakeResponder:
    """A listener at a worker's path that answers what a test tells it to."""

    def __init__(self, path: Path, reply: bytes | None) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.reply = reply
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        with self.listener, contextlib.suppress(OSError):  # the asker may hang up first
            connection, _ = self.listener.accept()
            with connection:
                connection.recv(64)
                if self.reply is None:  # never answers: wait until the asker gives up
                    connection.recv(64)
                    return
                connection.sendall(self.reply)


@pytest.mark.parametrize(
    "reply, note",
    [
        (b"not json", "its answer could not be read"),
        (b'{"format": "something else"}', "not an ipysigtrace answer"),
        (b"[" * 100_000 + b"]" * 100_000, "its answer could not be read"),
        (b"", "it ended, or closed the connection, before it answered"),
        (b"\xff\xfe", "its answer could not be read"),
    ],
)
def test_an_answer_that_is_not_one_gives_a_note(directory: Path, reply: bytes, note: str) -> None:
    pid = os.getpid()  # the listener is this process, so it passes the peer check
    fake = FakeResponder(directory / str(pid), reply)
    record = asked(directory, pid)
    fake.thread.join(5)
    assert not record.threads and note in record.note


def wrong_fields(pid: int) -> list[bytes]:
    head = f'{{"format":"ipysigtrace.child","version":2,"pid":{pid},"forked":false,"main":1,'
    return [
        (head + '"threads":[[1,"t",null,false,[["f","q","n",-1,1]],0]]}').encode(),
        (head + '"threads":[[1,2,null,false,[],0]]}').encode(),
        (head + '"threads":[[1,"t",null,false,[["f","q","n"]],0]]}').encode(),
        (head + '"threads":"many"}').encode(),
        (head.replace(f'"pid":{pid}', '"pid":1') + '"threads":[]}').encode(),
    ]


@pytest.mark.parametrize("index", range(5))
def test_an_answer_with_a_wrong_field_gives_a_note(directory: Path, index: int) -> None:
    pid = os.getpid()
    fake = FakeResponder(directory / str(pid), wrong_fields(pid)[index])
    record = asked(directory, pid)
    fake.thread.join(5)
    assert not record.threads and record.note.startswith("no stacks: its answer could not")


def test_a_listener_that_is_another_process_is_not_believed(
    directory: Path, programs: Programs
) -> None:
    other = programs.start(None)  # a real PID that this process claims to be
    FakeResponder(directory / str(other.pid), b"{}")
    record = asked(directory, other.pid)
    assert not record.threads
    assert record.note == f"no stacks: the socket for {other.pid} belongs to process {os.getpid()}"


def test_a_worker_that_does_not_answer_in_time_gets_a_note(directory: Path) -> None:
    pid = os.getpid()
    fake = FakeResponder(directory / str(pid), None)
    record = asked(directory, pid, seconds=0.2)
    assert not record.threads and record.note == NO_ANSWER.format(seconds=0.2)
    fake.thread.join(5)


def test_a_socket_left_by_a_process_that_ended_is_removed(
    directory: Path, programs: Programs
) -> None:
    worker = programs.start(directory)
    answered(directory, worker.pid)
    worker.kill()  # no exit handler runs: its socket stays behind
    worker.wait()
    assert (directory / str(worker.pid)).is_socket()
    record = asked(directory, worker.pid)
    assert record.note == NO_RESPONDER
    assert not (directory / str(worker.pid)).exists()


def test_the_kernel_side_makes_and_removes_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(responder.ENV, raising=False)
    children = Children(str(tmp_path))
    children.start()
    path = Path(children.path)
    assert path.is_dir() and path.stat().st_mode & 0o777 == 0o700
    assert os.environ[responder.ENV] == str(path)
    children.stop()
    assert not path.exists() and responder.ENV not in os.environ


def test_a_dead_kernels_directory_is_stale(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"ipysigtrace-{gone.pid}.children"
    stale.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stale / "123"))
    listener.close()
    (tmp_path / "ipysigtrace-1.children").mkdir()  # PID 1 runs: not stale
    assert gone.pid in remove_stale(str(tmp_path))
    assert not stale.exists() and (tmp_path / "ipysigtrace-1.children").exists()
