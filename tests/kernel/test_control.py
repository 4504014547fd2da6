"""The control-channel request: answered while the shell is busy, harmless elsewhere."""

from __future__ import annotations

import time
from queue import Empty

import pytest

from harness import Kernel
from ipysigtrace.snapshot import StackSnapshot

pytestmark = pytest.mark.kernel


def ask(kernel: Kernel, action: str = "dump", timeout: float = 5) -> dict:
    return kernel.ask(action, timeout)


def ask_until(kernel: Kernel, function: str, location: str | None = None) -> dict:
    """Ask until the cell's innermost frame is in ``function`` (it has reached its hang), at
    ``location`` if given (a function just entered is still at its ``def`` line)."""
    deadline = time.monotonic() + 60
    while True:
        reply = ask(kernel, timeout=30)
        snapshot = StackSnapshot.from_dict(reply["content"]["snapshot"])
        # execute_input comes before IPython's pre_run_cell: no thread may run the cell yet.
        main = next((t for t in snapshot.threads if t.runs_cell), None)
        cell = [f for f in main.frames if f.kind == "cell"] if main else []
        if cell and cell[-1].function == function and location in (None, cell[-1].location):
            return reply
        assert time.monotonic() < deadline, f"the cell never reached {function}()"


def test_dump_while_a_cell_hangs(loaded: Kernel) -> None:
    msg_id = loaded.submit("def spin():\n    while True:\n        pass\nspin()")
    loaded.wait_for(msg_id, "execute_input")
    reply = ask_until(loaded, "spin", "Cell In[2], line 2")
    assert reply["msg_type"] == "ipysigtrace_reply"
    content = reply["content"]
    assert content["status"] == "ok" and content["pid"] == loaded.pid
    assert content["signal"] == "SIGUSR2"
    snapshot = StackSnapshot.from_dict(content["snapshot"])
    assert snapshot.trigger == "request"
    main = next(t for t in snapshot.threads if t.runs_cell)
    cell = [f for f in main.frames if f.kind == "cell"]
    assert cell[-1].function == "spin" and cell[-1].location == "Cell In[2], line 2"
    hung = loaded.interrupt_and_check(msg_id)
    assert not hung.displays and not hung.stdout, "nothing is added to the cell's output"


def test_cell_ids_from_the_front_end(loaded: Kernel) -> None:
    content = {
        "code": "def wait():\n    import time\n    time.sleep(30)\nwait()",
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
    }
    message = loaded.kc.session.msg("execute_request", content, metadata={"cellId": "cell-abc"})
    loaded.kc.shell_channel.send(message)
    msg_id = message["header"]["msg_id"]
    loaded.wait_for(msg_id, "execute_input")
    snapshot = StackSnapshot.from_dict(ask_until(loaded, "wait")["content"]["snapshot"])
    main = next(t for t in snapshot.threads if t.runs_cell)
    assert {f.cell_id for f in main.frames if f.kind == "cell"} == {"cell-abc"}
    loaded.interrupt_and_check(msg_id)
    # A finished cell keeps its id, and the next one gets its own.
    message = loaded.kc.session.msg(
        "execute_request", {**content, "code": "wait()"}, metadata={"cellId": "cell-def"}
    )
    loaded.kc.shell_channel.send(message)
    loaded.wait_for(message["header"]["msg_id"], "execute_input")
    snapshot = StackSnapshot.from_dict(ask_until(loaded, "wait")["content"]["snapshot"])
    main = next(t for t in snapshot.threads if t.runs_cell)
    ids = [(f.label, f.cell_id) for f in main.frames if f.kind == "cell"]
    assert ids == [("Cell In[4]", "cell-def"), ("Cell In[2]", "cell-abc")], ids
    loaded.interrupt_and_check(message["header"]["msg_id"])


def test_status_and_unknown_action(loaded: Kernel) -> None:
    status = ask(loaded, "status")["content"]
    assert status["status"] == "ok" and "snapshot" not in status
    bad = ask(loaded, "explode")["content"]
    assert bad == {"status": "error", "message": "unknown action 'explode'"}
    huge = ask(loaded, "\x1b]2;x\x07" + "a" * 5_000_000)["content"]
    assert huge["status"] == "error" and len(huge["message"]) < 80, huge["message"][:200]
    assert huge["message"].startswith("unknown action '\\x1b]2;x\\x07aaa")
    assert "\x1b" not in huge["message"]


def control_statuses(kernel: Kernel, asked: str) -> list[str]:
    """The IOPub states published about the control request ``asked``.

    A kernel_info_request sent on control after it is handled after it, and IOPub keeps
    the order: once its idle status is in, any status of ``asked`` would be in too.
    """
    probe = kernel.kc.session.msg("kernel_info_request", {})
    kernel.kc.control_channel.send(probe)
    while True:
        status = kernel.wait_for(probe["header"]["msg_id"], "status", timeout=30)
        if status["content"]["execution_state"] == "idle":
            break
    box = kernel._inbox.pop(asked, [])
    return [m["content"]["execution_state"] for m in box if m["msg_type"] == "status"]


def test_our_requests_publish_no_status(loaded: Kernel) -> None:
    """jupyter_server takes execution state and activity from IOPub status: a dump of a busy
    kernel must not say idle (the culler would kill it), nor busy of an idle one."""
    msg_id = loaded.submit("import time\nprint('sleeping', flush=True)\ntime.sleep(600)")
    loaded.wait_for_stream(msg_id, "sleeping")
    for action in ("dump", "status", "explode"):
        asked = loaded.ask(action)["parent_header"]["msg_id"]
        assert control_statuses(loaded, asked) == [], action
    loaded.interrupt_and_check(msg_id)
    asked = loaded.ask("status")["parent_header"]["msg_id"]
    assert control_statuses(loaded, asked) == [], "nor while idle"
    # Other control requests still say busy and idle, and after unloading ours do too.
    probe = loaded.kc.session.msg("kernel_info_request", {})
    loaded.kc.control_channel.send(probe)
    assert control_statuses(loaded, probe["header"]["msg_id"]) == ["busy", "idle"]
    loaded.execute("%unload_ext ipysigtrace")
    assert loaded.execute("'_publish_status' in vars(get_ipython().kernel)").result == "False"
    message = loaded.kc.session.msg("ipysigtrace_request", {"action": "status"})
    loaded.kc.control_channel.send(message)
    assert control_statuses(loaded, message["header"]["msg_id"]) == ["busy", "idle"]


def test_kernel_without_ipysigtrace_ignores_it(kernel: Kernel) -> None:
    with pytest.raises(Empty):
        ask(kernel, timeout=1)
    assert kernel.execute("40 + 2").result == "42"


def test_unload_removes_the_handler(loaded: Kernel) -> None:
    loaded.execute("%unload_ext ipysigtrace")
    reply = loaded.execute("'ipysigtrace_request' in get_ipython().kernel.control_handlers")
    assert reply.result == "False"
    with pytest.raises(Empty):
        ask(loaded, timeout=1)
