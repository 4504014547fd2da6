"""The reply matcher and the wait for a reply, on real queues of messages."""

from __future__ import annotations

import queue
from typing import Any

from ipysigtrace.protocol import REPLY, reply_to, request, wait_for_reply


def message(msg_type: str, parent: str, content: Any = None) -> dict[str, Any]:
    return {"msg_type": msg_type, "parent_header": {"msg_id": parent}, "content": content or {}}


def reader(*messages: dict[str, Any]) -> Any:
    inbox: queue.Queue[dict[str, Any]] = queue.Queue()
    for m in messages:
        inbox.put(m)
    return lambda left: inbox.get(timeout=left)


def test_request_content() -> None:
    assert request("dump", locals=True) == {"action": "dump", "locals": True}


def test_only_our_reply_to_our_request_counts() -> None:
    ours = message(REPLY, "a", {"status": "ok"})
    assert reply_to(ours, "a") == {"status": "ok"}
    assert reply_to(ours, "b") is None
    assert reply_to(message("kernel_info_reply", "a"), "a") is None
    assert reply_to({**ours, "content": [1]}, "a") is None
    assert reply_to({"msg_type": REPLY, "parent_header": None}, "a") is None
    assert reply_to("not a message", "a") is None


def test_the_reply_is_found_behind_others() -> None:
    get = reader(message(REPLY, "old"), message("status", "x"), message(REPLY, "a", {"n": 1}))
    assert wait_for_reply(get, "a", timeout=5) == ({"n": 1}, False)


def test_a_probe_answered_first_means_not_loaded() -> None:
    get = reader(message("kernel_info_reply", "probe"), message(REPLY, "a"))
    assert wait_for_reply(get, "a", timeout=5, probe_id="probe") == (None, True)


def test_no_reply_in_time() -> None:
    assert wait_for_reply(reader(message("status", "x")), "a", timeout=0.05) == (None, False)
