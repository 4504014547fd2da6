"""Which process is which kernel: the command line against real kernels, forked workers,
processes that catch our signals, kernel ids made of digits and connection files elsewhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from harness import Kernel

pytestmark = pytest.mark.kernel

FORK = """\
import os, time
worker = os.fork()
if worker == 0:
    time.sleep(600)
    os._exit(0)
worker
"""


def cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ipysigtrace.cli", *args]
    environ = {**os.environ, **env}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environ)


def runtime() -> Path:
    return Path(os.environ["JUPYTER_RUNTIME_DIR"])


def state(pid: int) -> str:
    """The process's state letter in /proc (R, S, Z, ...), or 'gone'."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "gone"


def row(listing: str, kernel_id: str) -> list[str]:
    """The columns of `ipysigtrace list`'s row for one kernel."""
    return next(line.split() for line in listing.splitlines() if line.startswith(kernel_id))


@pytest.mark.parametrize("which", ["loaded", "kernel"])
def test_a_forked_worker_is_not_its_kernel(request: pytest.FixtureRequest, which: str) -> None:
    kernel: Kernel = request.getfixturevalue(which)
    worker = int(kernel.execute(FORK).result)
    try:
        for extra in ([], ["--json"]):
            done = cli("dump", str(worker), *extra)
            if which == "loaded":  # the worker's own stacks, asked through its kernel
                assert done.returncode == 0, done.stderr
                if extra:
                    assert json.loads(done.stdout)["pid"] == worker
                else:
                    assert f"Stacks of process {worker}" in done.stdout
                    assert f"A child process of kernel process {kernel.pid}" in done.stdout
                    assert "time.sleep(600)" in done.stdout and "IOPub" not in done.stdout
                continue
            assert done.returncode == 3, done.stderr
            assert done.stdout == "", "no stacks of another process"
            assert f"process {worker} has not loaded ipysigtrace" in done.stderr
            assert f"child of process {kernel.pid}, started with the same" in done.stderr
            assert "it was not signalled" in done.stderr and done.stderr.count("\n") == 1
        assert state(worker) in ("S", "R"), "the worker lives"
        # `list` shows the kernel once, under the kernel's PID, not the worker's.
        kernel_id = os.path.basename(kernel.km.connection_file)[len("kernel-") : -len(".json")]
        columns = row(cli("list").stdout, kernel_id)
        assert columns[1] in (str(kernel.pid), f"({kernel.pid})"), columns
    finally:
        kernel.execute(f"os.kill({worker}, 9); os.waitpid({worker}, 0)")


CATCHER = """\
import signal, time
def note(signum, frame):
    print(signum, flush=True)
for number in (signal.SIGURG, signal.SIGUSR2, signal.SIGRTMIN):
    signal.signal(number, note)
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def test_a_process_that_catches_our_signals_is_not_signalled() -> None:
    catcher = subprocess.Popen([sys.executable, "-c", CATCHER], stdout=subprocess.PIPE, text=True)
    planted = [runtime() / f"ipysigtrace-{catcher.pid}.{kind}" for kind in ("raw", "json")]
    try:
        assert catcher.stdout.readline() == "ready\n"
        runtime().mkdir(parents=True, exist_ok=True)
        # A raw file, and an identity whose start time is not the process's.
        forged = {
            "format": "ipysigtrace.identity", "version": 1, "pid": catcher.pid,
            "start_time": 1, "connection_file": "", "signal": "SIGUSR2",
            "raw_signal": "SIGURG", "watcher_tid": None,
        }  # fmt: skip
        for path, text in zip(planted, ("", json.dumps(forged)), strict=True):
            path.write_text(text)
            path.chmod(0o600)
        done = cli("dump", str(catcher.pid), "--timeout", "0.5")
        assert done.returncode == 3, done.stderr
        assert f"process {catcher.pid} is not a kernel that loaded ipysigtrace" in done.stderr
        assert "it was not signalled" in done.stderr and done.stdout == ""
        # Python runs pending handlers lowest signal first: had SIGUSR2 or SIGURG come,
        # its number would be printed before SIGRTMIN's.
        os.kill(catcher.pid, signal.SIGRTMIN)
        assert catcher.stdout.readline() == f"{int(signal.SIGRTMIN)}\n"
    finally:
        catcher.kill()
        catcher.wait()
        catcher.stdout.close()
        for path in planted:
            path.unlink(missing_ok=True)


def test_a_kernel_id_of_digits_is_resolved_by_what_exists(loaded: Kernel) -> None:
    # An id that starts with the loaded kernel's PID and goes on in digits past any PID
    # (Linux PIDs stay below 2**22).
    digits = f"{loaded.pid}9999999"
    other = Kernel(
        connection_file=str(runtime() / f"kernel-{digits}-4e5f-8a9b-{uuid.uuid4().hex[:12]}.json")
    )
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    # A copy of its connection file whose id starts with the PID of a process that is no
    # kernel: the id wins.
    copy = runtime() / f"kernel-{bystander.pid}a-copy.json"
    try:
        copy.write_text(Path(other.km.connection_file).read_text())
        for target in (digits, str(bystander.pid)):
            done = cli("dump", target, "--json")
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["pid"] == other.pid
        # The loaded kernel's PID is also the start of the other kernel's id.
        both = cli("dump", str(loaded.pid))
        assert both.returncode == 2 and both.stdout == "", both.stderr
        assert f"'{loaded.pid}' is both process {loaded.pid} (a kernel) and the start of" in (
            both.stderr
        )
        by_file = cli("dump", loaded.km.connection_file, "--json")
        assert by_file.returncode == 0 and json.loads(by_file.stdout)["pid"] == loaded.pid
        assert bystander.poll() is None
    finally:
        copy.unlink(missing_ok=True)
        bystander.kill()
        bystander.wait()
        other.shutdown()


def start_bare_kernel_elsewhere(cwd: Path, name: str) -> tuple[subprocess.Popen, Path]:
    """A kernel as a script starts it: a connection file written in its own directory, then
    ipykernel with ``-f`` relative to that directory."""
    path = cwd / name
    write_connection_file(str(path))
    command = [sys.executable, "-m", "ipykernel_launcher", "-f", name]
    environ = {**os.environ, "IPYSIGTRACE_AUTOLOAD": "0"}
    process = subprocess.Popen(command, cwd=cwd, env=environ, stderr=subprocess.DEVNULL)
    client = BlockingKernelClient()
    client.load_connection_file(str(path))
    client.start_channels(hb=False)  # a heartbeat missed for 1 s is not a dead kernel
    try:
        client.wait_for_ready(timeout=60)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        client.stop_channels()
    return process, path


def test_list_finds_kernels_whose_connection_file_is_elsewhere(tmp_path: Path) -> None:
    # `list` shows every kernel of this user: names of this run's own, so that another
    # run of the suite on the machine (its kernels listed too) cannot be taken for them.
    tag = uuid.uuid4().hex[:8]
    loaded = Kernel(connection_file=str(tmp_path / f"kernel-{tag}-loaded.json"))
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    bare, bare_file = start_bare_kernel_elsewhere(scripts, f"kernel-{tag}-bare.json")
    try:
        msg_id = loaded.submit("import time\ntime.sleep(600)")
        loaded.wait_until_cell_runs()
        listing = cli("list")
        assert listing.returncode == 0, listing.stderr
        columns = row(listing.stdout, f"{tag}-loaded")
        assert columns[1:5] == [str(loaded.pid), "loaded", "busy", "for"], listing.stdout
        assert columns[-1] == str(tmp_path / f"kernel-{tag}-loaded.json")
        # Found only by its process: the -f path is resolved against the kernel's cwd.
        columns = row(listing.stdout, f"{tag}-bare")
        assert columns[1:4] == [f"({bare.pid})", "not", "loaded"], listing.stdout
        assert columns[-1] == str(bare_file)
        done = cli("dump", f"{tag}-lo")
        assert done.returncode == 0 and f"Stacks of process {loaded.pid}" in done.stdout
        not_loaded = cli("dump", f"{tag}-bare")
        assert not_loaded.returncode == 3, not_loaded.stderr
        assert f"kernel {tag}-bare has not loaded ipysigtrace" in not_loaded.stderr
        loaded.interrupt_and_check(msg_id)
    finally:
        bare.terminate()
        bare.wait(timeout=30)
        loaded.shutdown()


def test_an_answer_without_its_pid_does_not_prove_a_pid(kernel: Kernel) -> None:
    kernel.execute(
        "kernel = get_ipython().kernel\n"
        "def reply(stream, ident, parent):\n"
        "    kernel.session.send(stream, 'ipysigtrace_reply', {'status': 'ok'}, parent, ident)\n"
        "kernel.control_handlers['ipysigtrace_request'] = reply\n"
    )
    done = cli("dump", str(kernel.pid))
    assert done.returncode == 8 and done.stdout == "", done.stderr
    assert "answered without its PID" in done.stderr


def test_a_bare_kernel_is_told_apart_at_once(kernel: Kernel) -> None:
    """A kernel that answers kernel_info on its control channel but not ipysigtrace's
    request has not loaded ipysigtrace: said without waiting for the whole timeout."""
    started = time.monotonic()
    done = cli("dump", kernel.km.connection_file, "--timeout", "60")
    assert done.returncode == 3, done.stderr
    assert "has not loaded ipysigtrace: it answers, but not to ipysigtrace" in done.stderr
    assert time.monotonic() - started < 30
    kernel_id = os.path.basename(kernel.km.connection_file)[len("kernel-") : -len(".json")]
    assert row(cli("list").stdout, kernel_id)[2:4] == ["not", "loaded"]


NATIVE = """\
import itertools, time
def native():
    return sum(itertools.repeat(1))
time.sleep(0.3)
native()
"""


def test_the_raw_dump_uses_the_signal_the_kernel_published(kernel: Kernel) -> None:
    kernel.execute(
        "get_ipython().config.IPySigTrace.raw_signal = 'SIGRTMIN+1'\n%load_ext ipysigtrace"
    )
    identity = runtime() / f"ipysigtrace-{kernel.pid}.json"
    assert json.loads(identity.read_text())["raw_signal"] == "SIGRTMIN+1"
    kernel.submit(NATIVE)
    deadline = time.monotonic() + 60
    while True:  # a rich dump (from the control channel) until native code holds the GIL
        done = cli("dump", str(kernel.pid), "--timeout", "1")
        if "raw dump" in done.stdout:
            break
        assert time.monotonic() < deadline, done.stderr or done.stdout
    assert done.returncode == 0 and "in native" in done.stdout, done.stderr
    assert kernel.alive(), kernel.how_it_ended()


def test_a_fifo_where_a_connection_file_should_be_blocks_nothing() -> None:
    runtime().mkdir(parents=True, exist_ok=True)
    fifo = runtime() / "kernel-fifo-planted.json"
    os.mkfifo(fifo)
    try:
        listing = cli("list", "--remote", timeout=60)
        assert listing.returncode == 0, listing.stderr
        assert row(listing.stdout, "fifo-planted")[1:3] == ["-", "-"]
        done = cli("dump", str(fifo), timeout=60)
        assert done.returncode == 5, done.stderr
        assert f"the connection file {fifo} is not a regular file" in done.stderr
    finally:
        fifo.unlink()
