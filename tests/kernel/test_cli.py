"""The ipysigtrace command against real kernels and real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from harness import Kernel

pytestmark = pytest.mark.kernel

SPIN = "def spin():\n    while True:\n        pass\nspin()"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ipysigtrace.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def hang(kernel: Kernel, code: str = SPIN) -> str:
    msg_id = kernel.submit(code)
    kernel.wait_for(msg_id, "execute_input")
    time.sleep(0.5)
    return msg_id


def test_list_and_dump_by_id_file_and_pid(loaded: Kernel) -> None:
    msg_id = hang(loaded)
    kernel_id = os.path.basename(loaded.km.connection_file)[len("kernel-") : -len(".json")]
    listing = cli("list")
    assert listing.returncode == 0
    row = next(line for line in listing.stdout.splitlines() if line.startswith(kernel_id))
    assert str(loaded.pid) in row and "loaded" in row and "busy for" in row
    for target in (kernel_id[:8], loaded.km.connection_file, str(loaded.pid)):
        done = cli("dump", target)
        assert done.returncode == 0, done.stderr
        assert "Cell In[2], line 2, in spin" in done.stdout and "(request)" in done.stdout
    as_json = json.loads(cli("dump", str(loaded.pid), "--json").stdout)
    assert as_json["pid"] == loaded.pid
    loaded.interrupt_and_check(msg_id)


def test_raw_dump_when_native_code_holds_the_gil(loaded: Kernel) -> None:
    # Sleep first: once native code holds the GIL, not even execute_input goes out.
    code = "import itertools, time\ndef native():\n    return sum(itertools.repeat(1))\n"
    hang(loaded, code + "time.sleep(0.3)\nnative()")
    done = cli("dump", str(loaded.pid), "--timeout", "1")
    assert done.returncode == 0, done.stderr
    assert (
        "raw dump" in done.stdout and "holds the GIL" in done.stdout and "in native" in done.stdout
    )
    assert loaded.alive()


def test_bad_input(kernel: Kernel, tmp_path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.3)
        unreadable = tmp_path / "kernel.json"
        unreadable.write_text("{}")
        unreadable.chmod(0)
        cases = [
            (["dump", "no-such-kernel"], 2, "no kernel 'no-such-kernel'"),
            (["dump", "999999"], 4, "no process 999999"),
            (["dump", str(bystander.pid)], 3, "has not loaded ipysigtrace"),
            (["dump", str(kernel.pid)], 3, "has not loaded ipysigtrace"),
            (["dump", "/nonexistent/kernel-x.json"], 5, "cannot read the connection file"),
            (["bogus"], 2, "invalid choice"),
        ]
        if os.geteuid() != 0:  # root reads any file
            cases.append((["dump", str(unreadable)], 5, "cannot read the connection file"))
        for args, code, message in cases:
            done = cli(*args)
            assert done.returncode == code, (args, done.stderr)
            assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert bystander.poll() is None, "the process without ipysigtrace was not signalled"
        assert kernel.execute("40 + 2").result == "42"
    finally:
        bystander.kill()
        bystander.wait()


def test_autoload(tmp_path) -> None:
    status = cli("autoload", "status")
    assert "autoload disabled" in status.stdout
    first = cli("autoload", "enable")
    assert "autoload enabled: wrote" in first.stdout
    assert "already enabled" in cli("autoload", "enable").stdout
    try:
        kernel = Kernel()
        try:
            assert (
                "watcher thread ipysigtrace-watcher: alive"
                in kernel.execute("%stackdump --status").stdout
            )
        finally:
            kernel.shutdown()
    finally:
        assert "autoload disabled: removed" in cli("autoload", "disable").stdout
    assert "nothing changed" in cli("autoload", "disable").stdout


def test_watch_shows_only_what_moved_and_color_on_request(loaded: Kernel) -> None:
    msg_id = hang(loaded)
    done = cli("dump", str(loaded.pid), "--watch", "0.3", "--count", "3", "--color", "never")
    assert done.returncode == 0, done.stderr
    rounds = done.stdout.split("Stacks of process")
    assert len(rounds) == 4, "three dumps"
    assert "in spin" in rounds[1]
    assert "in spin" not in rounds[3] and "where they were)" in rounds[3], "the spin did not move"
    assert "\033[" not in done.stdout
    colored = cli("dump", str(loaded.pid), "--color", "always")
    assert "\033[1;34m  Cell In[2], line 2, in spin\033[0m" in colored.stdout
    piped = cli("dump", str(loaded.pid))
    assert "\033[" not in piped.stdout, "plain text when piped"
    loaded.interrupt_and_check(msg_id)
