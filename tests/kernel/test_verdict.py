"""The verdict in real kernels: a rising counter moves, a sleep is still, an ended cell ends."""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

import pytest

from harness import Kernel
from ipysigtrace.render import MIME_TYPE
from ipysigtrace.snapshot import StackSnapshot

pytestmark = pytest.mark.kernel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def dumped(kernel: Kernel, msg_id: str) -> tuple[dict[str, Any], str]:
    """Signal the kernel; the snapshot and the text of the dump that appears under the cell."""
    kernel.signal()
    data = kernel.wait_for_display(msg_id, timeout=30)
    # The bundle carries the compact form; read it as the full one.
    snapshot = StackSnapshot.from_dict(data[MIME_TYPE]["snapshot"]).to_dict()
    return snapshot, data["text/plain"]


def cell_thread(snapshot: dict[str, Any]) -> dict[str, Any]:
    (thread,) = [t for t in snapshot["threads"] if t["runs_cell"]]
    return thread


def test_a_rising_counter_is_moving_on_the_second_dump(loaded: Kernel) -> None:
    msg_id = loaded.submit("i = 0\nwhile True:\n    i += 1")
    loaded.wait_until_cell_runs()
    first, text = dumped(loaded, msg_id)
    assert cell_thread(first)["verdict"] == "first", "a fresh kernel has nothing to compare"
    assert "first look: no earlier snapshot to compare" in text
    second, text = dumped(loaded, msg_id)
    thread = cell_thread(second)
    assert thread["verdict"] == "moving", thread
    assert thread["still_since"] is None
    assert thread["changed"] and f"moving: {thread['changed']}" in text, "it says what changed"
    assert second["cell_started"] is not None and second["cell_started"] <= first["time"]
    assert all(f["locals"] is None for f in thread["frames"]), "read to judge, not shown"
    loaded.interrupt_and_check(msg_id)


def test_a_sleep_is_at_the_same_place_for_at_least_the_gap(loaded: Kernel) -> None:
    msg_id = loaded.submit(
        "import time\ndef nap():\n    print('napping')\n    time.sleep(600)\nnap()"
    )
    # Not flushed by the cell (a flush waits for the IOPub thread, inside print): the
    # kernel sends it from its IOPub thread while the cell already sleeps.
    loaded.wait_for_stream(msg_id, "napping")
    first, _ = dumped(loaded, msg_id)
    # A control request (as JupyterLab sends) is judged against the signal's dump.
    reply = loaded.ask("dump")["content"]
    assert reply["status"] == "ok", reply
    second = reply["snapshot"]
    thread = cell_thread(second)
    assert thread["verdict"] == "still", thread
    assert thread["still_since"] == first["time"]
    assert second["time"] - thread["still_since"] >= second["time"] - first["time"] > 0
    third, text = dumped(loaded, msg_id)
    assert cell_thread(third)["still_since"] == first["time"], (
        cell_thread(third)["changed"],
        [(f["function"], f["lineno"], f["kind"]) for f in cell_thread(second)["frames"]][-6:],
        [(f["function"], f["lineno"], f["kind"]) for f in cell_thread(third)["frames"]][-6:],
    )
    assert "same place, same locals, for" in text and "Cell running for" in text
    loaded.interrupt_and_check(msg_id)


def live_headers(messages: list[dict[str, Any]], model_id: str) -> list[str]:
    return [
        m["content"]["data"]["state"]["output"]["header"]
        for m in messages
        if m["msg_type"] == "comm_msg"
        and m["content"].get("comm_id") == model_id
        and "output" in m["content"]["data"].get("state", {})
    ]


def live_updates(kernel: Kernel, model_id: str, until: Any, timeout: float = 30) -> list[str]:
    """The live view's headers, whatever request they come under, until one passes ``until``.

    Other messages stay queued for the harness (by their request).
    """
    deadline = time.monotonic() + timeout
    headers: list[str] = []
    while not any(until(h) for h in headers):
        assert time.monotonic() < deadline, f"no such header in {timeout} s: {headers[-3:]}"
        try:
            message = kernel.kc.get_iopub_msg(timeout=1)
        except Empty:
            continue
        found = live_headers([message], model_id)
        if found:
            headers += found
        else:
            kernel._inbox[message["parent_header"].get("msg_id", "")].append(message)
    return headers


def test_the_live_header_says_no_cell_runs_once_the_cell_ended(loaded: Kernel) -> None:
    reply = loaded.execute("%stackdump --live 0.5")
    model_id = reply.displays[0][WIDGET_VIEW]["model_id"]
    msg_id = loaded.submit("import threading\nthreading.Event().wait(3)")
    headers = live_updates(loaded, model_id, lambda h: "cell running for" in h)
    assert "no cell running" not in headers[-1]
    # The update after the cell ended may come before the kernel says it is idle, or after.
    ended = live_headers(loaded.collect(msg_id).messages, model_id)
    if not any("no cell running" in h for h in ended):
        ended += live_updates(loaded, model_id, lambda h: "no cell running" in h)
    last = ended[-1]
    assert "no cell running" in last and "cell running for" not in last, ended


def test_watchdog_dumps_say_what_changed_since_the_previous_one(loaded: Kernel) -> None:
    assert "longer than 1 s get a dump" in loaded.execute("%stackdump --after 1s").stdout
    msg_id = loaded.submit("import time\ndef slow():\n    time.sleep(600)\nslow()")
    first = loaded.wait_for_display(msg_id, timeout=30)["text/plain"]
    second = loaded.wait_for_display(msg_id, timeout=30)["text/plain"]
    assert "(watchdog)" in first and "(watchdog)" in second
    assert "Cell running for 1" in first and "first look" in first
    assert "Cell running for 2" in second and "same place, same locals, for 1" in second
    loaded.interrupt_and_check(msg_id)
