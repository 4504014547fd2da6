"""A real IPython kernel, started with jupyter_client, and helpers to talk to it."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

from jupyter_client.manager import KernelManager
from jupyter_core.paths import jupyter_runtime_dir

KERNEL_NAME = "ipysigtrace-test"


@dataclass
class Reply:
    """Everything a request produced on iopub, and its execute_reply."""

    msg_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] | None = None

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stderr"
        )

    @property
    def displays(self) -> list[dict[str, Any]]:
        return [m["content"]["data"] for m in self.of_type("display_data")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.of_type("error")]

    @property
    def result(self) -> str | None:
        results = self.of_type("execute_result")
        return results[-1]["content"]["data"]["text/plain"] if results else None

    @property
    def status(self) -> str | None:
        return self.reply["content"]["status"] if self.reply else None


class Kernel:
    """One kernel process and a blocking client."""

    def __init__(self) -> None:
        # Where jupyter_server puts it: the runtime directory, named by the kernel's id.
        runtime = jupyter_runtime_dir()
        os.makedirs(runtime, exist_ok=True)
        connection_file = os.path.join(runtime, f"kernel-{uuid.uuid4()}.json")
        self.km = KernelManager(kernel_name=KERNEL_NAME, connection_file=connection_file)
        self.km.start_kernel()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self._inbox: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.pid = int(self.execute("import os; os.getpid()", store_history=False).result)

    # -- requests -------------------------------------------------------------------------

    def submit(self, code: str, store_history: bool = True) -> str:
        """Send code to run; do not wait."""
        return self.kc.execute(code, store_history=store_history)

    def execute(self, code: str, timeout: float = 60, store_history: bool = True) -> Reply:
        """Run code and wait until the kernel is idle again."""
        return self.collect(self.submit(code, store_history), timeout)

    def collect(self, msg_id: str, timeout: float = 60) -> Reply:
        """Wait for the end of a request: its idle status and its reply."""
        reply = Reply(msg_id)
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(msg_id, deadline)
            msg_type = message["msg_type"]
            if msg_type == "status":
                if message["content"]["execution_state"] == "idle":
                    break
                continue
            reply.messages.append(message)
        reply.reply = self.kc.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
        while reply.reply["parent_header"].get("msg_id") != msg_id:
            reply.reply = self.kc.get_shell_msg(timeout=max(1, deadline - time.monotonic()))
        return reply

    def wait_for(self, msg_id: str, msg_type: str, timeout: float = 10) -> dict[str, Any]:
        """The next iopub message of this type for this request (others stay queued)."""
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                message = self._next(msg_id, deadline)
                if message["msg_type"] == msg_type:
                    return message
                skipped.append(message)
        finally:
            self._inbox[msg_id][:0] = skipped

    def wait_for_display(self, msg_id: str, timeout: float = 10) -> dict[str, Any]:
        """The data of the next display_data for this request."""
        return self.wait_for(msg_id, "display_data", timeout)["content"]["data"]

    def drain(self, msg_id: str, seconds: float) -> list[dict[str, Any]]:
        """Every message for this request that arrives within ``seconds``."""
        deadline = time.monotonic() + seconds
        out = []
        while True:
            try:
                out.append(self._next(msg_id, deadline))
            except TimeoutError:
                return out

    def _next(self, msg_id: str, deadline: float) -> dict[str, Any]:
        box = self._inbox[msg_id]
        if box:
            return box.pop(0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message for {msg_id} in time")
            try:
                message = self.kc.get_iopub_msg(timeout=min(left, 1))
            except Empty:
                continue
            parent = message["parent_header"].get("msg_id", "")
            if parent == msg_id:
                return message
            self._inbox[parent].append(message)

    # -- process --------------------------------------------------------------------------

    def signal(self, sig: int = signal.SIGUSR2) -> None:
        """Signal the kernel process itself (never its process group)."""
        os.kill(self.pid, sig)

    def interrupt_and_check(self, msg_id: str) -> Reply:
        """Interrupt a hung cell, collect it, and prove the kernel runs the next one."""
        self.km.interrupt_kernel()
        try:
            hung = self.collect(msg_id, timeout=15)
        except TimeoutError:
            # A loaded machine can lose the race between SIGINT and the cell reaching a
            # point where Python checks for signals; interrupting again is what a user does.
            self.km.interrupt_kernel()
            hung = self.collect(msg_id, timeout=30)
        assert self.execute("40 + 2").result == "42"
        return hung

    def alive(self) -> bool:
        return self.km.is_alive()

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
