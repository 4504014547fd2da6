"""Load, unload, reload, settings and other owners of the signal, in real kernels."""

from __future__ import annotations

import os
import re
import signal
import stat
import time

import pytest

from harness import Kernel

pytestmark = pytest.mark.kernel

# The handler, our threads, and the pipes, sockets and event fds the process holds (files
# come and go with IPython's history database, so they are left out).
STATE = """\
import os, signal, threading
def _fd_kinds():
    kinds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            kinds.append(os.readlink(f"/proc/self/fd/{fd}").split(":")[0])
        except OSError:
            pass
    return {k: kinds.count(k) for k in ("pipe", "socket", "anon_inode")}
print((
    signal.getsignal(signal.SIGUSR2),
    signal.getsignal(signal.SIGWINCH),
    sorted(t.name for t in threading.enumerate() if t.name.startswith("ipysigtrace")),
    _fd_kinds(),
))
"""


def dumps_a_spinning_cell(kernel: Kernel, sig: int = signal.SIGUSR2) -> None:
    """A spinning cell gets its dump under it when signalled; then it is interrupted."""
    msg_id = kernel.submit("while True:\n    pass")
    kernel.wait_for(msg_id, "execute_input")
    time.sleep(0.3)
    kernel.signal(sig)
    assert "runs the cell" in kernel.wait_for_display(msg_id)["text/plain"]
    kernel.interrupt_and_check(msg_id)


def test_load_says_what_it_did(kernel: Kernel) -> None:
    reply = kernel.execute("%load_ext ipysigtrace")
    assert reply.stdout.count("\n") == 1, "one line"
    assert f"kill -USR2 {kernel.pid}" in reply.stdout
    assert "SIGUSR2" in reply.stdout
    assert "'ipysigtrace-watcher'" in kernel.execute(STATE).stdout


def test_unload_restores_everything(kernel: Kernel) -> None:
    # The first output of a kernel may give ipykernel's IOPub thread its event pipe (an fd)
    # after the state is read: read it twice.
    kernel.execute(STATE)
    before = kernel.execute(STATE).stdout
    assert "<Handlers.SIG_DFL: 0>, <Handlers.SIG_DFL: 0>, []" in before
    kernel.execute("%load_ext ipysigtrace")
    kernel.execute("%unload_ext ipysigtrace")
    assert kernel.execute(STATE).stdout == before, "handler, threads and fds as before"
    reply = kernel.execute("import signal\nsignal.set_wakeup_fd(-1)")
    assert reply.result == "-1"
    assert "UsageError" in kernel.execute("%stackdump").stderr


def test_earlier_wakeup_fd_keeps_working_and_comes_back(kernel: Kernel) -> None:
    kernel.execute(
        "import signal, socket\n"
        "r, w = socket.socketpair(); r.setblocking(False); w.setblocking(False)\n"
        "earlier = signal.set_wakeup_fd(w.fileno())\n"
        "signal.signal(signal.SIGUSR1, lambda *a: None)"
    )
    kernel.execute("%load_ext ipysigtrace")
    assert "forwarding other signals" in kernel.execute("%stackdump --status").stdout
    kernel.signal(10)  # SIGUSR1: not ours, its byte must reach the earlier owner
    time.sleep(0.3)
    assert kernel.execute("list(r.recv(16))").result == "[10]"
    kernel.execute("%unload_ext ipysigtrace")
    reply = kernel.execute("signal.set_wakeup_fd(-1) == w.fileno()")
    assert reply.result == "True"


def test_earlier_handler_is_chained_and_idle_dump_is_kept(kernel: Kernel) -> None:
    kernel.execute(
        "import signal\ncalls = []\n"
        "def mine(signum, frame):\n    calls.append(signum)\n"
        "signal.signal(signal.SIGUSR2, mine)"
    )
    assert "chains to the previous handler" in kernel.execute("%load_ext ipysigtrace").stdout
    kernel.signal()  # no cell runs: the dump goes to stderr and the runtime file
    time.sleep(0.5)
    assert kernel.execute("calls").result == "[12]"
    last = kernel.execute("%stackdump --last --format text").displays[0]["text/plain"]
    assert "(signal)" in last and "Thread MainThread" in last
    runtime = os.environ["JUPYTER_RUNTIME_DIR"]
    path = os.path.join(runtime, f"ipysigtrace-{kernel.pid}.txt")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    kernel.execute("%unload_ext ipysigtrace")
    assert kernel.execute("signal.getsignal(signal.SIGUSR2) is mine").result == "True"
    assert not os.path.exists(path)


def test_load_twice_and_reload(kernel: Kernel) -> None:
    kernel.execute("%load_ext ipysigtrace")
    assert "already loaded" in kernel.execute("%load_ext ipysigtrace").stdout
    reload = kernel.execute("%reload_ext ipysigtrace")
    assert "handler and watcher installed" in reload.stdout, reload.messages
    state = kernel.execute(STATE).stdout
    assert state.count("'ipysigtrace-watcher'") == 1, state  # (pygments may still warm up)
    dumps_a_spinning_cell(kernel)
    kernel.execute("%unload_ext ipysigtrace")
    assert "<Handlers.SIG_DFL: 0>, []" in kernel.execute(STATE).stdout


def test_load_from_another_thread_is_refused(kernel: Kernel) -> None:
    reply = kernel.execute(
        "import threading\nfrom ipysigtrace import load_ipython_extension\n"
        "t = threading.Thread(target=load_ipython_extension, args=(get_ipython(),))\n"
        "t.start(); t.join()"
    )
    assert "from the main thread" in reply.stderr
    assert "Traceback" not in reply.stderr
    assert "<Handlers.SIG_DFL: 0>, []" in kernel.execute(STATE).stdout


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("SIGKILL", "cannot be caught"),
        ("SIGINT", "the kernel's interrupt"),
        ("SIGSTOP", "cannot be caught"),
        ("BOGUS", "unknown signal"),
        ("999", "not a signal number"),
    ],
)
def test_bad_signal_from_the_environment(kernel: Kernel, value: str, why: str) -> None:
    reply = kernel.execute(f"import os\nos.environ['IPYSIGTRACE_SIGNAL'] = {value!r}")
    reply = kernel.execute("%load_ext ipysigtrace")
    assert "not loaded" in reply.stderr and why in reply.stderr
    assert "Traceback" not in reply.stderr and not reply.errors
    assert "<Handlers.SIG_DFL: 0>, []" in kernel.execute(STATE).stdout


def test_config_moves_the_handler(loaded: Kernel) -> None:
    bad = loaded.execute("%config IPySigTrace.signal = 'SIGINT'")
    assert "keeping SIGUSR2" in bad.stderr and "Traceback" not in bad.stderr
    assert "SIGUSR2" in loaded.execute("%config IPySigTrace").stdout
    moved = loaded.execute("%config IPySigTrace.signal = 'usr1'")
    assert "SIGUSR1 handler and watcher installed" in moved.stdout
    result = loaded.execute(
        "import signal\n"
        "(signal.getsignal(signal.SIGUSR2), callable(signal.getsignal(signal.SIGUSR1)))"
    ).result
    assert result == "(<Handlers.SIG_DFL: 0>, True)"
    dumps_a_spinning_cell(loaded, signal.SIGUSR1)


def test_storm_of_signals(loaded: Kernel) -> None:
    msg_id = loaded.submit("total = 0\nwhile True:\n    total += 1")
    loaded.wait_for(msg_id, "execute_input")
    time.sleep(0.3)
    for _ in range(1000):
        loaded.signal()
    dumps = [m for m in loaded.drain(msg_id, 3) if m["msg_type"] == "display_data"]
    assert 1 <= len(dumps) <= 200, f"{len(dumps)} dumps for 1,000 signals"
    hung = loaded.interrupt_and_check(msg_id)
    assert hung.errors[0]["ename"] == "KeyboardInterrupt"
    assert loaded.alive(), loaded.how_it_ended()


def test_dumps_do_not_change_the_result(loaded: Kernel) -> None:
    code = "acc = 0\nfor i in range(6_000_000):\n    acc += i % 7\nacc"
    msg_id = loaded.submit(code)
    loaded.wait_for(msg_id, "execute_input")
    for _ in range(5):
        time.sleep(0.05)
        loaded.signal()
    reply = loaded.collect(msg_id)
    assert reply.status == "ok" and not reply.errors
    assert reply.result == str(sum(i % 7 for i in range(6_000_000)))
    assert 1 <= len(reply.displays) <= 5


def test_signal_is_harmless_in_a_forked_child(loaded: Kernel) -> None:
    code = """\
import os, signal, time
import ipysigtrace.extension
trigger = ipysigtrace.extension._active.trigger
# The pipes themselves, not their numbers: the child may reuse a freed number (its
# responder's socket does), and that is not our pipe.
ours = (trigger._read_fd, trigger._ack_read, trigger._ack_write)
ends = {os.readlink(f"/proc/self/fd/{fd}") for fd in ours}
def held():
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return names
pid = os.fork()
if pid == 0:
    os.kill(os.getpid(), signal.SIGUSR2)
    time.sleep(0.2)
    os._exit(3 if ends & held() else 7)
_, status = os.waitpid(pid, 0)
os.waitstatus_to_exitcode(status)
"""
    reply = loaded.execute(code)
    assert reply.result == "7", "the child survived the signal, closed our pipe ends, exited"
    assert not reply.displays, "the child's signal did not make the parent dump"
    dumps_a_spinning_cell(loaded)


def test_raw_signal_is_caught_only_while_loaded_and_a_storm_is_survived(kernel: Kernel) -> None:
    from ipysigtrace.procinfo import caught_signals

    urg = 23  # SIGURG on Linux
    assert urg not in caught_signals(kernel.pid)
    kernel.execute("%load_ext ipysigtrace")
    assert {urg, 12} <= caught_signals(kernel.pid)
    raw_file = os.path.join(os.environ["JUPYTER_RUNTIME_DIR"], f"ipysigtrace-{kernel.pid}.raw")
    assert stat.S_IMODE(os.stat(raw_file).st_mode) == 0o600
    msg_id = kernel.submit("while True:\n    pass")
    kernel.wait_for(msg_id, "execute_input")
    time.sleep(0.3)
    # A few raw dumps, then a storm of rich ones. Not a storm of raw signals: faulthandler
    # walks every thread's frames without the GIL, and those of a thread that runs Python
    # change under it; 1,000 raw signals to a kernel that answers crashed it with SIGSEGV
    # in about 1 run in 15 on a loaded machine (CPython's faulthandler, at every version
    # of ours). Our tools send the raw signal only to a kernel that does not answer
    # (README, "When native code holds the GIL").
    for _ in range(5):
        kernel.signal(urg)
    deadline = time.monotonic() + 30
    while os.path.getsize(raw_file) == 0:
        assert time.monotonic() < deadline, "faulthandler wrote no raw dump"
        time.sleep(0.05)
    for _ in range(1000):
        kernel.signal()
    time.sleep(1)
    assert kernel.alive(), kernel.how_it_ended()
    kernel.interrupt_and_check(msg_id)
    kernel.execute("%unload_ext ipysigtrace")
    assert urg not in caught_signals(kernel.pid) and 12 not in caught_signals(kernel.pid)
    assert not os.path.exists(raw_file)


def test_a_later_owner_is_reported_and_left_alone(loaded: Kernel) -> None:
    code = """\
import asyncio, signal
loop = asyncio.new_event_loop()
loop.add_signal_handler(signal.SIGUSR2, lambda: None)  # takes the handler and the wakeup fd
"""
    assert loaded.execute(code).status == "ok"
    status = loaded.execute("%stackdump --status").stdout
    assert "PROBLEM: SIGUSR2 now goes to" in status
    assert "another owner (an asyncio event loop?) holds the signal wakeup fd" in status
    dump = loaded.execute("%stackdump -f text")
    assert "PROBLEM" in dump.stderr and "Thread MainThread" in dump.displays[0]["text/plain"]
    unload = loaded.execute("%unload_ext ipysigtrace")
    assert "left it in place" in unload.stderr
    owned = loaded.execute(
        "import signal\nsignal.getsignal(signal.SIGUSR2).__module__ == 'asyncio.unix_events'"
    )
    assert owned.result == "True", "the later owner's handler is still there"
    loaded.execute("loop.remove_signal_handler(signal.SIGUSR2); loop.close()")


def test_multiprocessing_fork_pool_is_unharmed(loaded: Kernel) -> None:
    code = """\
import multiprocessing, os, signal, time
def child_job(x):
    os.kill(os.getpid(), signal.SIGUSR2)   # harmless in a forked child
    time.sleep(0.05)
    return x * x
with multiprocessing.get_context("fork").Pool(2) as pool:
    squares = pool.map(child_job, range(6))
squares
"""
    reply = loaded.execute(code, timeout=60)
    assert reply.result == "[0, 1, 4, 9, 16, 25]" and not reply.errors
    assert not reply.displays, "children's signals make no dump in the parent"


def test_signals_during_load_and_unload(kernel: Kernel) -> None:
    import threading

    stop = threading.Event()

    def storm() -> None:
        while not stop.is_set():
            try:
                kernel.signal(10)  # SIGUSR1 has a Python handler in the kernel, set below
            except ProcessLookupError:
                return
            time.sleep(0.0005)

    kernel.execute("import signal\nsignal.signal(signal.SIGUSR1, lambda *a: None)")
    thread = threading.Thread(target=storm)
    thread.start()
    try:
        for _ in range(5):
            kernel.execute("%load_ext ipysigtrace")
            kernel.execute("%unload_ext ipysigtrace")
    finally:
        stop.set()
        thread.join()
    assert kernel.alive(), kernel.how_it_ended()
    assert "<Handlers.SIG_DFL: 0>, []" in kernel.execute(STATE).stdout


@pytest.mark.parametrize("value", ["1e9", "-1", "float('nan')", "float('inf')"])
def test_an_unbounded_handoff_is_refused_in_one_line(loaded: Kernel, value: str) -> None:
    reply = loaded.execute(f"%config IPySigTrace.handoff = {value}")
    assert reply.status == "ok" and not reply.errors
    assert reply.stderr.count("\n") == 1 and "must be between 0 and 0.5 s" in reply.stderr
    assert loaded.execute("%config IPySigTrace.handoff").result == "0.05"


def test_another_owners_handler_is_named_escaped(loaded: Kernel) -> None:
    code = (
        "import signal\n"
        "def later(signum, frame):\n    pass\n"
        "later.__qualname__ = 'evil\\x1b]2;PWNED\\x07'\n"
        "signal.signal(signal.SIGUSR2, later)"
    )
    loaded.execute(code)
    status = loaded.execute("%stackdump --status").stdout
    assert "PROBLEM: SIGUSR2 now goes to __main__.evil\\x1b]2;PWNED\\x07" in status, status
    assert "\x1b" not in status


@pytest.mark.parametrize("due", ["10**400", "float('nan')", "'soon'", "1 / 0"])
def test_the_watcher_survives_whatever_a_timer_computes(loaded: Kernel, due: str) -> None:
    code = (
        "from ipysigtrace.extension import active\n"
        f"active().clock.next_due = lambda now: {due}\n"
        "import time; time.sleep(0.2)"  # a cell runs: the watcher asks the clock
    )
    assert loaded.execute(code).status == "ok"
    status = loaded.execute("%stackdump --status").stdout
    assert "watcher thread ipysigtrace-watcher: alive" in status, status
    msg_id = loaded.submit("import time\ntime.sleep(60)")
    loaded.wait_until_cell_runs()
    loaded.signal()
    assert "runs the cell" in loaded.wait_for_display(msg_id, timeout=30)["text/plain"]
    loaded.interrupt_and_check(msg_id)


def test_an_interrupt_that_missed_the_sleep_is_delivered_by_a_nudge(loaded: Kernel) -> None:
    """A SIGINT noted but not acted on (see ipysigtrace/nudge.py) still ends the cell.

    interrupt_main() records a SIGINT and writes its byte to the wakeup fd, as a real one
    that arrives just before the sleep begins does, but wakes nobody: without nudges this
    cell sleeps for ten minutes.
    """
    code = (
        "import _thread, threading, time\n"
        "threading.Timer(0.5, _thread.interrupt_main).start()\n"
        "time.sleep(600)"
    )
    reply = loaded.collect(loaded.submit(code), timeout=60)
    assert [e["ename"] for e in reply.errors] == ["KeyboardInterrupt"], reply.messages
    sent = re.search(r"interrupt nudges: (\d+) sent", loaded.execute("%stackdump --status").stdout)
    assert sent and 1 <= int(sent[1]) < 5, sent  # the cell ended: the rest are dropped
    # The next cell's blocking C call is not cut short by a nudge still due (libc's sleep
    # returns the seconds left when a signal interrupts it).
    assert loaded.execute("import ctypes\nctypes.CDLL(None).sleep(4)").result == "0"
    after = loaded.execute("%stackdump --status").stdout
    assert f"interrupt nudges: {sent[1]} sent" in after, after
    loaded.execute("%unload_ext ipysigtrace")
    assert loaded.execute(STATE).stdout.startswith("(<Handlers.SIG_DFL: 0>, <Handlers.SIG_DFL: 0>")


def test_a_sigwinch_handler_of_the_users_means_no_nudges(kernel: Kernel) -> None:
    kernel.execute("import signal\nseen = []\nsignal.signal(signal.SIGWINCH, seen.append)")
    kernel.execute("%load_ext ipysigtrace")
    assert "interrupt nudges" not in kernel.execute("%stackdump --status").stdout
    msg_id = kernel.submit("print('SPINNING', flush=True)\nwhile True:\n    pass")
    kernel.wait_for_stream(msg_id, "SPINNING")
    kernel.interrupt_and_check(msg_id)  # a spin sees its SIGINT at once: no nudge needed
    kernel.execute("%unload_ext ipysigtrace")
    reply = kernel.execute("signal.getsignal(signal.SIGWINCH) == seen.append, seen")
    assert reply.result == "(True, [])"
