"""The live view and the watchdog, in real kernels."""

from __future__ import annotations

import time

import pytest

from harness import Kernel

pytestmark = pytest.mark.kernel


def updates_of(messages: list[dict], display_id: str) -> list[str]:
    return [
        m["content"]["data"]["text/plain"]
        for m in messages
        if m["msg_type"] == "update_display_data"
        and m["content"]["transient"]["display_id"] == display_id
    ]


def test_live_view_keeps_updating_during_a_hang_and_stops(loaded: Kernel) -> None:
    reply = loaded.execute("%stackdump --live 0.3")
    (display,) = reply.of_type("display_data")
    display_id = display["content"]["transient"]["display_id"]
    assert display["content"]["data"]["text/plain"].startswith("Live stacks")
    msg_id = loaded.submit("def spin():\n    while True:\n        pass\nspin()")
    loaded.wait_for(msg_id, "execute_input")
    updates = updates_of(loaded.drain(msg_id, 2.0), display_id)
    assert len(updates) >= 3, f"{len(updates)} updates in 2 s at 0.3 s"
    assert "in spin" in updates[-1] and "cell running for" in updates[-1]
    assert "at the same place for 1 s" in updates[-1] or "same place" in updates[-1]
    loaded.signal()  # a dump refreshes the live view at once, too
    after_signal = loaded.drain(msg_id, 0.25)
    assert any(m["msg_type"] == "display_data" for m in after_signal)
    loaded.interrupt_and_check(msg_id)
    assert "1 live view stopped" in loaded.execute("%stackdump --live off").stdout
    msg_id = loaded.submit("import time\ntime.sleep(1.5)")
    assert not updates_of(loaded.drain(msg_id, 2.0), display_id), "no updates once stopped"


def test_live_view_stops_on_unload(loaded: Kernel) -> None:
    reply = loaded.execute("%stackdump --live 0.2")
    display_id = reply.of_type("display_data")[0]["content"]["transient"]["display_id"]
    loaded.execute("%unload_ext ipysigtrace")
    msg_id = loaded.submit("import time\ntime.sleep(1.0)")
    assert not updates_of(loaded.drain(msg_id, 1.5), display_id)


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
    reply = loaded.execute("%stackdump --live 0.2")
    display_id = reply.of_type("display_data")[0]["content"]["transient"]["display_id"]
    time.sleep(1.0)
    stray = loaded.drain(reply.msg_id, 0.5)
    assert not updates_of(stray, display_id)
