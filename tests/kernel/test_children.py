"""A kernel's dump shows the processes its cell started, and each worker's own stacks.

Real kernels, real pools: ``fork`` (the worker runs a function of the cell), ``spawn`` and
``forkserver`` (a function of a module, which they can import), each worker blocked in
``work``. The dump names each worker with its PID and the line it waits on, in text, HTML
and the snapshot, and ``ipysigtrace dump <worker>`` shows that worker's stacks. Beside
them, programs that cannot answer are listed with a reason: a shell, and a Python started
without the kernel's environment (left untouched: it never listens).
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from harness import Kernel
from ipysigtrace.render import MIME_TYPE
from ipysigtrace.responder import ENV
from ipysigtrace.snapshot import StackSnapshot

pytestmark = pytest.mark.kernel

HANG = """\
import json, multiprocessing, os, pathlib, subprocess, sys, tempfile, time
folder = tempfile.mkdtemp()
pathlib.Path(folder, "stuckwork.py").write_text(
    "import time\\ndef work(x):\\n    time.sleep(10**6)  # stuck here\\n"
)
sys.path.insert(0, folder)
import stuckwork
def work(x):
    time.sleep(10**6)  # the cell's own worker function
method = {method!r}
pool = multiprocessing.get_context(method).Pool(2)
result = pool.map_async(work if method == "fork" else stuckwork.work, range(2))
other = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(1000)", "<b>x</b>\\x1b[31m"]
)
shell = subprocess.Popen(["sh", "-c", "sleep 1000; :"])
plain = {{k: v for k, v in os.environ.items() if k != {env!r}}}
untouched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"], env=plain)
while len(multiprocessing.active_children()) < 2:
    time.sleep(0.01)
pids = [p.pid for p in pool._pool] + [other.pid, shell.pid, untouched.pid]
print("PIDS", json.dumps(pids), flush=True)
result.get()
"""

CLEANUP = """\
pool.terminate(); pool.join()
for p in (other, shell, untouched):
    p.kill(); p.wait()
"""


def started(kernel: Kernel, method: str) -> tuple[str, list[int]]:
    msg_id = kernel.submit(HANG.format(method=method, env=ENV))
    pids: list[int] = json.loads(kernel.printed_line(msg_id, "PIDS "))
    return msg_id, pids


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ipysigtrace.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_each_worker_shows_the_line_it_is_stuck_on(loaded: Kernel, method: str) -> None:
    msg_id, (*workers, other, shell, untouched) = started(loaded, method)
    where = "time.sleep(10**6)  # " + ("the cell's" if method == "fork" else "stuck here")
    together = f"2 processes with the same stacks: {', '.join(map(str, sorted(workers)))}"
    # Each program answers once it has started; the dump that shows them all is read.
    content = loaded.dump_showing(msg_id, where, together, f"Process {other}:", f"pid {shell}:")
    text, html = content["data"]["text/plain"], content["data"]["text/html"]
    snapshot = StackSnapshot.from_dict(content["data"][MIME_TYPE]["snapshot"])
    listed = {p.pid: p for p in snapshot.processes}
    for pid in workers:
        frames = [f for t in listed[pid].threads for f in t.frames]
        work = [f for f in frames if f.function == "work"]
        assert work and work[-1].line.startswith("time.sleep(10**6)"), text
        assert listed[pid].forked is (method != "spawn")  # forkserver: forks of the server
        if method == "fork":
            assert work[-1].kind == "cell" and work[-1].label.startswith("Cell In["), text
        else:
            assert work[-1].filename.endswith("stuckwork.py") and work[-1].lineno == 3, text
    # The other Python program answers too; its command line is shown as text.
    assert listed[other].threads, text
    assert "\x1b" not in text and "\\x1b[31m" in text
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "ipysigtrace-process" in html
    # A shell cannot answer; a Python started without the kernel's environment never listens.
    for pid in (shell, untouched):
        assert not listed[pid].threads
        assert listed[pid].note.startswith("no stacks: not a Python program"), text
    if method == "forkserver":
        server = {listed[p].parent for p in workers}
        assert len(server) == 1 and server != {snapshot.pid}, text
        assert listed[server.pop()].threads, "the forkserver answers for itself too"

    # The command line shows one worker's own stacks, not the kernel's.
    done = cli("dump", str(workers[0]))
    assert done.returncode == 0, done.stderr
    assert f"Stacks of process {workers[0]}" in done.stdout
    assert f"A child process of kernel process {loaded.pid}" in done.stdout
    assert "in work" in done.stdout and "result.get()" not in done.stdout
    shown = cli("dump", str(shell))
    assert shown.returncode == 6, shown  # no answer (from that process)
    assert f"process {shell} is a child process of kernel process {loaded.pid}" in shown.stderr
    assert "no stacks: not a Python program" in shown.stderr

    loaded.interrupt_and_check(msg_id)
    loaded.execute(CLEANUP)


def test_workers_stuck_in_place_say_for_how_long(loaded: Kernel) -> None:
    msg_id, (*workers, _, _, _) = started(loaded, "fork")
    together = f"2 processes with the same stacks: {', '.join(map(str, sorted(workers)))}"
    loaded.dump_showing(msg_id, "the cell's own worker function", together)
    # The next look judges each worker against the first: the same place since then.
    text = loaded.dump_showing(msg_id, together)["data"]["text/plain"]
    assert "same place, same locals, for" in text[text.index(together) :], text
    loaded.interrupt_and_check(msg_id)
    loaded.execute(CLEANUP)


def test_a_kernel_without_children_lists_none(loaded: Kernel) -> None:
    (data,) = loaded.execute("%stackdump").displays
    assert "Stacks of process" in data["text/plain"]
    assert "child process" not in data["text/plain"] + data["text/html"]
    assert "processes" not in data[MIME_TYPE]["snapshot"]


def test_unloading_stops_arming_the_children(loaded: Kernel) -> None:
    where = loaded.execute(f"import os; os.environ[{ENV!r}]").result
    directory = ast.literal_eval(where)
    assert os.path.isdir(directory) and os.stat(directory).st_mode & 0o777 == 0o700
    loaded.execute("%unload_ext ipysigtrace")
    assert loaded.execute(f"{ENV!r} in os.environ").result == "False"
    assert not os.path.exists(directory)
    loaded.execute("%load_ext ipysigtrace")
    assert loaded.execute(f"os.environ[{ENV!r}] == {directory!r}").result == "True"


DASK = """\
import time
from dask.distributed import Client, LocalCluster
cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
)
client = Client(cluster)
def passing(function):
    return function

@passing  # its code starts at this line
def slow(x):
    time.sleep(10**6)  # each task waits here
futures = client.map(slow, range(2))
print("PIDS", [w.pid for w in cluster.workers.values()], flush=True)
client.gather(futures)
"""


def in_slow(thread: Any) -> bool:
    return bool(thread.frames) and thread.frames[-1].function == "slow"


def test_a_dask_cluster_shows_each_task_at_its_cell_line(loaded: Kernel) -> None:
    # Dask's workers run the cell's function as cloudpickle sent it, without its file name
    # ("<dynamic-code>"): the kernel finds the cell that defines it.
    msg_id = loaded.submit(DASK)
    workers = ast.literal_eval(loaded.printed_line(msg_id, "PIDS ", timeout=120))
    together = f"2 processes with the same stacks: {', '.join(map(str, sorted(workers)))}"
    sleeping = "time.sleep(10**6)  # each task waits here"
    deadline = time.monotonic() + 60
    while True:  # the scheduler may report a task before its worker's own answer shows it
        content = loaded.dump_showing(msg_id, "client.gather(futures)", sleeping, together)
        snapshot = StackSnapshot.from_dict(content["data"][MIME_TYPE]["snapshot"])
        running = {p.pid for p in snapshot.processes if any(in_slow(t) for t in p.threads)}
        if running >= set(workers):
            break
        assert time.monotonic() < deadline, content["data"]["text/plain"]
    (cell,) = [f for t in snapshot.threads if t.runs_cell for f in t.frames if f.kind == "cell"]
    assert cell.line == "client.gather(futures)"
    for pid in workers:
        (record,) = [p for p in snapshot.processes if p.pid == pid]
        tasks = [t.frames[-1] for t in record.threads if t.frames[-1].function == "slow"]
        assert len(tasks) == 1, content["data"]["text/plain"]
        assert tasks[0].kind == "cell" and tasks[0].label == cell.label
        assert tasks[0].line.endswith("# each task waits here")
        assert DASK.splitlines()[tasks[0].lineno - 1].endswith("# each task waits here")
    # The scheduler, asked through the cell's client, names each worker's task.
    assert snapshot.dask is not None and not snapshot.dask.note, snapshot.dask
    assert len(snapshot.dask.workers) == 2
    for worker in snapshot.dask.workers:
        (task,) = worker.tasks
        assert task.name.startswith("slow-")
        assert [(f.function, f.label) for f in task.frames] == [("slow", cell.label)]
    text = content["data"]["text/plain"]
    assert f"Dask scheduler {snapshot.dask.scheduler}: 2 tasks running on 2 workers" in text
    assert f"Worker {snapshot.dask.workers[0].address}: 1 task" in text
    assert "ipysigtrace-dask-worker" in content["data"]["text/html"]
    loaded.interrupt_and_check(msg_id)
    loaded.execute("client.close(); cluster.close()", timeout=120)


def test_with_children_off_workers_are_listed_with_the_reason(loaded: Kernel) -> None:
    loaded.execute("%unload_ext ipysigtrace")
    loaded.execute("%config IPySigTrace.children = False")
    loaded.execute("%load_ext ipysigtrace")
    assert loaded.execute(f"import os; {ENV!r} in os.environ").result == "False"
    msg_id, (*workers, other, shell, untouched) = started(loaded, "fork")
    content = loaded.dump_showing(msg_id, f"pid {workers[0]}")
    snapshot = StackSnapshot.from_dict(content["data"][MIME_TYPE]["snapshot"])
    listed = {p.pid: p for p in snapshot.processes}
    for pid in (*workers, other, shell, untouched):
        assert not listed[pid].threads, content["data"]["text/plain"]
        assert listed[pid].note == "no stacks: not asked (IPySigTrace.children is False)"
    loaded.interrupt_and_check(msg_id)
    loaded.execute(CLEANUP)


UNANSWERED = """\
import os, signal, socket, subprocess, sys, time
from dask.distributed import Client
with socket.socket() as free:
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
scheduler = subprocess.Popen([
    sys.executable, "-m", "distributed.cli.dask_scheduler",
    "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
], stderr=subprocess.DEVNULL)
client = Client(f"tcp://127.0.0.1:{port}", timeout=60)
future = client.submit(sum, [1, 2])  # no worker: it never runs
print("SCHEDULER", scheduler.pid, flush=True)
future.result()
"""


def test_a_scheduler_that_does_not_answer_leaves_a_note(loaded: Kernel) -> None:
    msg_id = loaded.submit(UNANSWERED)
    scheduler = int(loaded.printed_line(msg_id, "SCHEDULER ", timeout=120))
    answered = loaded.dump_showing(msg_id, "future.result()", "no task is running on its workers")
    assert "ipysigtrace-dask" in answered["data"]["text/html"]
    os.kill(scheduler, signal.SIGSTOP)  # alive, connected, and silent
    try:
        content = loaded.dump_showing(msg_id, "no answer from the scheduler within 1 s")
        snapshot = StackSnapshot.from_dict(content["data"][MIME_TYPE]["snapshot"])
        assert snapshot.dask is not None and not snapshot.dask.workers
        assert any(t.runs_cell for t in snapshot.threads), "the dump came, with the cell"
    finally:
        os.kill(scheduler, signal.SIGCONT)
    loaded.interrupt_and_check(msg_id)
    loaded.execute("client.close(); scheduler.kill(); scheduler.wait()", timeout=120)
