"""The ipysigtrace command against real kernels and real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import BARE_KERNEL_NAME, Kernel
from ipysigtrace.cli.autoloading import OLD_STARTUP_NAME, OLD_STARTUP_TEXT
from ipysigtrace.snapshot import FORMAT

pytestmark = pytest.mark.kernel

SPIN = "def spin():\n    while True:\n        pass\nspin()"


def cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ipysigtrace.cli", *args]
    environ = {**os.environ, **env}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environ)


def kernel_id(kernel: Kernel) -> str:
    return os.path.basename(kernel.km.connection_file)[len("kernel-") : -len(".json")]


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
    assert loaded.alive(), loaded.how_it_ended()


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
            (["dump", str(bystander.pid)], 3, "is not a kernel that loaded ipysigtrace"),
            (["dump", str(kernel.pid)], 3, "has not loaded ipysigtrace"),
            (["dump", "/nonexistent/kernel-x.json"], 5, "cannot read the connection file"),
            (["bogus"], 2, "invalid choice"),
            (["dump", str(kernel.pid), "--watch", "-1"], 2, "-1 is not between 0.2 and 86400 s"),
            (["dump", str(kernel.pid), "--watch", "0"], 2, "0 is not between 0.2 and 86400 s"),
            (["dump", str(kernel.pid), "--timeout", "inf"], 2, "inf is not between 0.01 and"),
            (["dump", str(kernel.pid), "--timeout", "nan"], 2, "nan is not between 0.01 and"),
            (["dump", str(kernel.pid), "--timeout", "soon"], 2, "'soon' is not a number of"),
            (["dump", str(kernel.pid), "--count", "-1"], 2, "'-1' is not a whole number"),
            (["list", "--timeout", "-1"], 2, "-1 is not between 0.01 and 600 s"),
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


# Whether a new kernel loaded ipysigtrace, and a setting of the user's own, in one line.
LOADED_AND_SETTING = (
    "print('ipysigtrace' in get_ipython().extension_manager.loaded, get_ipython().history_length)"
)


def a_new_kernel_loads() -> tuple[bool, str]:
    """Start a kernel as after `pip install`; did it load ipysigtrace? (and history_length)"""
    kernel = Kernel()
    try:
        loaded, setting = kernel.execute(LOADED_AND_SETTING).stdout.split()
    finally:
        kernel.shutdown()
    return loaded == "True", setting


def test_autoload_drives_the_setting_in_the_users_profile(tmp_path: Path) -> None:
    profile = Path(os.environ["IPYTHONDIR"]) / "profile_default"
    config = profile / "ipython_kernel_config.json"
    startup = profile / "startup" / OLD_STARTUP_NAME
    env_file = Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"
    users = {"InteractiveShell": {"history_length": 1234}, "IPySigTrace": {"watchdog": "10m"}}
    startup.parent.mkdir(parents=True, exist_ok=True)
    try:
        status = cli("autoload", "status").stdout
        assert status.startswith(f"autoload on: {env_file} loads it and nothing here turns it off")
        assert f"kernel spec '{BARE_KERNEL_NAME}' sets IPYSIGTRACE_AUTOLOAD=0" in status
        # The user's own settings, in a file of the user's mode, and the earlier version's file.
        config.write_text(json.dumps(users))
        config.chmod(0o640)
        startup.write_text(OLD_STARTUP_TEXT)
        done = cli("autoload", "disable")
        assert done.returncode == 0, done.stderr
        assert f"autoload disabled: IPySigTrace.autoload = false in {config}" in done.stdout
        assert f"removed {startup}, the startup file of an earlier ipysigtrace" in done.stdout
        users["IPySigTrace"]["autoload"] = False
        assert json.loads(config.read_text()) == users
        assert stat.S_IMODE(config.stat().st_mode) == 0o640
        assert a_new_kernel_loads() == (False, "1234")
        status = cli("autoload", "status").stdout
        assert status.startswith(f"autoload off: IPySigTrace.autoload is false in {config}")
        assert "autoload already disabled" in cli("autoload", "disable").stdout
        startup.write_text(OLD_STARTUP_TEXT)
        done = cli("autoload", "enable")
        assert done.returncode == 0, done.stderr
        assert f"autoload enabled: removed IPySigTrace.autoload from {config}" in done.stdout
        assert f"removed {startup}" in done.stdout and "new kernels load ipysigtrace" in done.stdout
        del users["IPySigTrace"]["autoload"]
        assert json.loads(config.read_text()) == users and not startup.exists()
        assert a_new_kernel_loads() == (True, "1234")
        status = cli("autoload", "status", IPYSIGTRACE_AUTOLOAD="0").stdout
        assert status.startswith("autoload off: IPYSIGTRACE_AUTOLOAD=0 in this environment")
        # An edited startup file is the user's: left, and said so.
        startup.write_text(OLD_STARTUP_TEXT + "print('mine')\n")
        assert f"left {startup} alone" in cli("autoload", "enable").stdout
        assert startup.exists()
        # A file that is not JSON is refused in one line and left as it was.
        config.write_text('{"InteractiveShell": ')
        bad = cli("autoload", "disable")
        assert bad.returncode == 5 and bad.stderr.count("\n") == 1, bad.stderr
        assert f"{config} is not valid JSON" in bad.stderr and "nothing changed" in bad.stderr
        assert config.read_text() == '{"InteractiveShell": '
        # A symlink (a dotfiles repository): the file it points to changes, the link stays.
        shared = tmp_path / "shared.json"
        shared.write_text("{}")
        config.unlink()
        config.symlink_to(shared)
        assert cli("autoload", "disable").returncode == 0
        assert config.is_symlink() and json.loads(shared.read_text()) == {
            "IPySigTrace": {"autoload": False}
        }
    finally:
        config.unlink(missing_ok=True)
        startup.unlink(missing_ok=True)


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
    assert "  \033[1;34mCell In[2], line 2, in spin\033[0m" in colored.stdout
    piped = cli("dump", str(loaded.pid))
    assert "\033[" not in piped.stdout, "plain text when piped"
    loaded.interrupt_and_check(msg_id)


# Everything a kernel names can hold terminal controls: thread and function names, file
# names (this one is not even UTF-8), source lines, locals' names and types.
HOSTILE = """\
import os, threading
EVIL = "\\x1b]2;PWNED\\x07\\x9b2J\\u202e"
path = os.path.join(os.fsdecode(TMP), "\\x1b]0;file\\x07" + os.fsdecode(b"\\xff") + ".py")
with open(path, "w") as source:
    source.write("def wait(stop, other):\\n    stop.wait()  # \\x1b[2J\\x1b]2;line\\x07\\n")
space = {}
exec(compile(open(path).read(), path, "exec"), space)
wait = space["wait"]
names = {"co_qualname": EVIL} if hasattr(wait.__code__, "co_qualname") else {}  # 3.11+
wait.__code__ = wait.__code__.replace(co_name=EVIL, co_varnames=("stop", EVIL), **names)
stop = threading.Event()
other = type(EVIL, (), {})()
threading.Thread(target=wait, args=(stop, other), name=EVIL + " 日本", daemon=True).start()
"""
# What may reach the terminal: no control character but newline and our own colours.
CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def assert_plain(out: str) -> None:
    assert not CONTROLS.search(COLOURS.sub("", out)), out


def test_kernel_strings_reach_the_terminal_escaped(loaded: Kernel, tmp_path) -> None:
    loaded.execute(f"TMP = {os.fsencode(tmp_path)!r}\n" + HOSTILE)
    for color in ("never", "always"):
        done = cli("dump", str(loaded.pid), "--locals", "--color", color)
        assert done.returncode == 0, done.stderr
        assert "Thread \\x1b]2;PWNED\\x07\\x9b2J\\u202e 日本 (ident" in done.stdout
        assert "/\\x1b]0;file\\x07" in done.stdout  # the not-UTF-8 byte arrives as U+FFFD
        assert '.py", line 2, in \\x1b]2;PWNED\\x07\\x9b2J\\u202e\n' in done.stdout
        assert "stop.wait()  # \\x1b[2J\\x1b]2;line\\x07" in done.stdout
        assert "    \\x1b]2;PWNED\\x07\\x9b2J\\u202e = <\\x1b]2;PWNED" in done.stdout
        assert_plain(done.stdout)
    # A terminal whose encoding lacks a character gets an escape, not a traceback.
    ascii_only = cli("dump", str(loaded.pid), PYTHONIOENCODING="ascii")
    assert ascii_only.returncode == 0 and "\\u65e5\\u672c" in ascii_only.stdout
    # The idle dump goes to the server's log (the kernel's stderr) and to this file.
    idle_file = Path(os.environ["JUPYTER_RUNTIME_DIR"]) / f"ipysigtrace-{loaded.pid}.txt"
    loaded.signal()
    deadline = time.monotonic() + 30
    while "PWNED" not in (idle_file.read_text() if idle_file.exists() else ""):
        assert time.monotonic() < deadline, "no idle dump"
        time.sleep(0.05)
    report = idle_file.read_text()
    assert "Thread \\x1b]2;PWNED\\x07" in report
    assert_plain(report)


BAD_REPLY = """\
import os
kernel = get_ipython().kernel
def bad_reply(stream, ident, parent):
    kernel.session.send(stream, "ipysigtrace_reply", {"pid": os.getpid(), **BAD}, parent, ident)
kernel.control_handlers["ipysigtrace_request"] = bad_reply
"""


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"status": "ok", "snapshot": "text"}, "not a stack snapshot: not an ipysigtrace snapshot"),
        (
            {"status": "ok", "snapshot": {"format": FORMAT, "version": True}},
            "unsupported snapshot version True",
        ),
        (
            {"status": "ok", "snapshot": {"format": FORMAT, "version": 1, "time": 1, "pid": 1,
                                          "threads": [{"ident": 1, "name": "t", "frames": "f"}]}},
            "snapshot.threads[0].frames: expected a list, got str",
        ),
        (
            {"status": "ok", "snapshot": {"format": FORMAT, "version": 1, "time": 1, "pid": 1,
                                          "threads": [{"ident": "1", "name": None}]}},
            "snapshot.threads[0].ident: expected an integer, got str",
        ),
        ({"status": "ok"}, "answered without a snapshot: an answer without a snapshot"),
        ({"status": "error", "message": "\x1b]2;x\x07boom"}, "without a snapshot: \\x1b]2;x\\x07"),
    ],
)  # fmt: skip
def test_a_malformed_answer_gets_one_line(kernel: Kernel, reply: dict, message: str) -> None:
    kernel.execute(f"BAD = {reply!r}\n" + BAD_REPLY)
    for target in (kernel.km.connection_file, str(kernel.pid)):
        done = cli("dump", target, "--timeout", "10")
        assert done.returncode == 8, done.stderr
        assert message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert_plain(done.stderr)
        as_json = cli("dump", target, "--json", "--timeout", "10")
        assert as_json.returncode == 8 and as_json.stdout == ""


def state(pid: int) -> str:
    """The process's state letter in /proc (R, S, Z, ...), or 'gone'."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "gone"


def test_a_killed_kernel_is_gone(kernel: Kernel) -> None:
    pid = kernel.pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while state(pid) not in ("Z", "gone"):  # a zombie: its parent has not reaped it
        assert time.monotonic() < deadline, "the kernel did not die"
        time.sleep(0.05)
    assert os.path.exists(kernel.km.connection_file)
    for target in (kernel_id(kernel)[:8], kernel.km.connection_file):
        done = cli("dump", target, "--timeout", "1")
        assert done.returncode == 4, done.stderr
        assert "is gone: no process here runs it" in done.stderr, done.stderr
    done = cli("dump", str(pid), "--timeout", "1")
    assert done.returncode == 4 and f"process {pid} has ended" in done.stderr, done.stderr
    listing = cli("list")
    row = next(line for line in listing.stdout.splitlines() if line.startswith(kernel_id(kernel)))
    assert "no process" in row


def test_a_reader_that_goes_away_is_not_an_error(loaded: Kernel) -> None:
    command = [sys.executable, "-m", "ipysigtrace.cli", "dump", str(loaded.pid)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # like `| head` that has read enough
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and b"Traceback" not in stderr, stderr
