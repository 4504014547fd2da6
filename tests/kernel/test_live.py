"""The live view and the watchdog, in real kernels."""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness import Kernel
from ipysigtrace.snapshot import StackSnapshot

pytestmark = pytest.mark.kernel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def show_live(kernel: Kernel, line: str) -> tuple[str, dict[str, Any]]:
    """Run a --live line; the widget's model id and the display's bundle."""
    reply = kernel.execute(line)
    assert "Traceback" not in reply.stderr, reply.stderr
    (data,) = reply.displays
    return data[WIDGET_VIEW]["model_id"], data


def updates_of(messages: list[dict], model_id: str) -> list[dict[str, Any]]:
    """The live view's new ``output`` values among these messages."""
    return [
        m["content"]["data"]["state"]["output"]
        for m in messages
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == model_id
        and m["content"]["data"].get("method") == "update"
        and "output" in m["content"]["data"].get("state", {})
    ]


def functions(output: dict[str, Any]) -> set[str]:
    snapshot = StackSnapshot.from_dict(output["snapshot"])
    return {f.function for t in snapshot.threads for f in t.frames}


def test_live_view_keeps_updating_during_a_hang_and_stops(loaded: Kernel) -> None:
    model_id, data = show_live(loaded, "%stackdump --live 0.5")
    assert data["text/plain"].startswith("Live stacks"), "the fallback for widget-less viewers"
    assert "<pre" in data["text/html"] or "<details" in data["text/html"]
    msg_id = loaded.submit("def spin():\n    while True:\n        pass\nspin()")
    loaded.wait_for(msg_id, "execute_input")
    # Three updates that show the cell in spin(): it keeps updating while the cell hangs.
    in_spin = loaded.until(
        msg_id,
        lambda seen: len([u for u in updates_of(seen, model_id) if "spin" in functions(u)]) >= 3,
    )
    last = updates_of(in_spin, model_id)[-1]
    assert "cell running for" in last["header"] and "same place" in last["header"]
    loaded.signal()  # a dump refreshes the live view at once, too
    loaded.until(  # the dump under the cell, and an update that shows it
        msg_id,
        lambda seen: (
            any(m["msg_type"] == "display_data" for m in seen)
            and any(u["snapshot"]["trigger"] == "signal" for u in updates_of(seen, model_id))
        ),
    )
    loaded.interrupt_and_check(msg_id)
    assert "1 live view stopped" in loaded.execute("%stackdump --live off").stdout
    msg_id = loaded.submit("import time\ntime.sleep(1.5)")
    assert not updates_of(loaded.drain(msg_id, 2.0), model_id), "no updates once stopped"


def test_live_view_stops_on_unload(loaded: Kernel) -> None:
    model_id, _ = show_live(loaded, "%stackdump --live 0.5")
    loaded.execute("%unload_ext ipysigtrace")
    msg_id = loaded.submit("import time\ntime.sleep(1.0)")
    assert not updates_of(loaded.drain(msg_id, 1.5), model_id)


def send_to_widget(kernel: Kernel, model_id: str, data: dict[str, Any]) -> None:
    """What the browser sends: a comm_msg on the shell channel."""
    message = kernel.kc.session.msg("comm_msg", {"comm_id": model_id, "data": data})
    kernel.kc.shell_channel.send(message)


def test_live_view_stops_when_its_last_display_goes(loaded: Kernel) -> None:
    """The front end counts displays (_view_count); at 0 the kernel stops updating."""
    model_id, _ = show_live(loaded, "%stackdump --live 0.5")
    for count in (1, 0):  # displayed, then the output is cleared
        state = {"_view_count": count}
        send_to_widget(loaded, model_id, {"method": "update", "state": state, "buffer_paths": []})
    msg_id = loaded.submit("import time\ntime.sleep(1.0)")
    assert not updates_of(loaded.drain(msg_id, 1.5), model_id)
    assert "0 live views stopped" in loaded.execute("%stackdump --live off").stdout


def test_live_view_stop_button(loaded: Kernel) -> None:
    model_id, _ = show_live(loaded, "%stackdump --live 0.5")
    send_to_widget(loaded, model_id, {"method": "custom", "content": {"event": "stop"}})
    msg_id = loaded.submit("import time\ntime.sleep(1.0)")
    messages = loaded.drain(msg_id, 1.5)
    assert not updates_of(messages, model_id)
    assert "0 live views stopped" in loaded.execute("%stackdump --live off").stdout


def test_watchdog_fires_under_a_long_cell_only(loaded: Kernel) -> None:
    said = loaded.execute("%stackdump --after 1s").stdout
    assert "longer than 1 s get a dump" in said
    short = loaded.execute("import time\ntime.sleep(0.3)")
    assert not short.displays, "a short cell gets no dump"
    long = loaded.execute("def slow():\n    time.sleep(3.5)\nslow()")
    dumps = [d["text/plain"] for d in long.displays]
    assert 1 <= len(dumps) <= 2, f"{len(dumps)} watchdog dumps in 3.5 s (at 1 s, then 2 s)"
    assert "(watchdog)" in dumps[0] and "in slow" in dumps[0]
    assert "watchdog off" in loaded.execute("%stackdump --after off").stdout
    assert not loaded.execute("time.sleep(1.5)").displays


@pytest.mark.parametrize("line", ["--after soon", "--after 0", "--live never"])
def test_bad_durations(loaded: Kernel, line: str) -> None:
    reply = loaded.execute(f"%stackdump {line}")
    assert "UsageError" in reply.stderr and "is not a duration" in reply.stderr
    assert "Traceback" not in reply.stderr


def test_idle_watcher_does_not_wake(loaded: Kernel) -> None:
    """With a live view but no cell running, the watcher blocks: no updates arrive."""
    reply = loaded.execute("%stackdump --live 0.5")
    model_id = reply.displays[0][WIDGET_VIEW]["model_id"]
    time.sleep(1.0)
    stray = loaded.drain(reply.msg_id, 0.5) + loaded.drain("", 0.1)
    assert not updates_of(stray, model_id)
