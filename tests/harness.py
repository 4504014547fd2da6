"""A real IPython kernel, started with jupyter_client, and helpers to talk to it."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

from jupyter_client.manager import KernelManager
from jupyter_core.paths import jupyter_runtime_dir


def function_name(qualname: str) -> str:
    """How a dump names a function: its qualified name, or on 3.10 (no co_qualname) its name."""
    return qualname if sys.version_info >= (3, 11) else qualname.rsplit(".", 1)[-1]


KERNEL_NAME = "ipysigtrace-test"  # ipysigtrace loads itself, as after `pip install`
BARE_KERNEL_NAME = "ipysigtrace-test-bare"  # autoloading switched off


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
        """The data of the displays as a front end shows them at the end: an
        update_display_data replaces the data of the displays with its display id."""
        shown: list[tuple[str, dict[str, Any]]] = []
        for message in self.of_type("display_data", "update_display_data"):
            content = message["content"]
            display_id = (content.get("transient") or {}).get("display_id", "")
            if message["msg_type"] == "display_data":
                shown.append((display_id, content["data"]))
            else:
                shown = [(i, content["data"] if i == display_id else d) for i, d in shown]
        return [data for _, data in shown]

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

    def __init__(self, kernel_name: str = KERNEL_NAME, connection_file: str = "") -> None:
        # By default where jupyter_server puts it: the runtime directory, named by its id.
        runtime = jupyter_runtime_dir()
        os.makedirs(runtime, exist_ok=True)
        connection_file = connection_file or os.path.join(runtime, f"kernel-{uuid.uuid4()}.json")
        # jupyter_client picks free ports, closes them and lets the kernel bind them: another
        # process on a busy machine can take one in between, and the kernel dies with
        # "Address already in use". Such a start is tried again with new ports (a kernel
        # that dies for any other reason dies every time, and the test still fails).
        for attempt in range(3):
            self.km = KernelManager(kernel_name=kernel_name, connection_file=connection_file)
            self.km.start_kernel()
            self.kc = self.km.client()
            self.kc.start_channels()
            try:
                self.kc.wait_for_ready(timeout=60)
                break
            except RuntimeError:  # "Kernel died before replying to kernel_info"
                self.kc.stop_channels()
                self.km.cleanup_resources()
                if attempt == 2 or self.km.is_alive():
                    raise
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

    def wait_for_stream(self, msg_id: str, text: str, timeout: float = 30) -> None:
        """Until the request's output has printed ``text`` (a marker the cell prints)."""
        self._printed(msg_id, lambda seen: True if text in seen else None, timeout)

    def printed_line(self, msg_id: str, prefix: str, timeout: float = 30) -> str:
        """The rest of the first whole line the request printed that starts with ``prefix``."""

        def line(seen: str) -> str | None:
            for printed in seen.splitlines(keepends=True):
                if printed.startswith(prefix) and printed.endswith("\n"):
                    return printed[len(prefix) :].rstrip("\n")
            return None

        found: str = self._printed(msg_id, line, timeout)
        return found

    def _printed(self, msg_id: str, found: Callable[[str], Any], timeout: float) -> Any:
        """Read the request's output until ``found`` of what it printed is not None; that.
        The messages read stay in the inbox for later waits."""
        deadline = time.monotonic() + timeout
        skipped: list[dict[str, Any]] = []
        seen = ""
        try:
            while (result := found(seen)) is None:
                message = self._next(msg_id, deadline)
                skipped.append(message)
                if message["msg_type"] == "stream":
                    seen += message["content"]["text"]
            return result
        finally:
            self._inbox[msg_id][:0] = skipped

    def wait_for_display(self, msg_id: str, timeout: float = 10) -> dict[str, Any]:
        """The data of the next display_data for this request."""
        return self.wait_for(msg_id, "display_data", timeout)["content"]["data"]

    def dump_showing(self, msg_id: str, *shows: str, timeout: float = 60) -> dict[str, Any]:
        """Signal until a dump under this request shows each of ``shows`` in its text; that
        display's content. Each dump is read before the next signal, so none is left over."""
        deadline = time.monotonic() + timeout
        while True:
            self.signal()
            content: dict[str, Any] = self.wait_for(msg_id, "display_data", 30)["content"]
            text = content["data"]["text/plain"]
            missing = [shown for shown in shows if shown not in text]
            if not missing:
                return content
            assert time.monotonic() < deadline, f"no dump showed {missing!r}; the last:\n{text}"

    def until(
        self, msg_id: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
    ) -> list[dict[str, Any]]:
        """This request's messages, from now until ``done`` holds for them (or the timeout)."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while not done(seen):
            seen.append(self._next(msg_id, deadline))
        return seen

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

    def ask(self, action: str = "dump", timeout: float = 30, **options: Any) -> dict[str, Any]:
        """ipysigtrace's request on the control channel; the whole reply message."""
        message = self.kc.session.msg("ipysigtrace_request", {"action": action, **options})
        self.kc.control_channel.send(message)
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.01, deadline - time.monotonic())
            reply = self.kc.control_channel.get_msg(timeout=left)
            if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
                return reply

    def wait_until_cell_runs(self, timeout: float = 60) -> None:
        """Until ipysigtrace sees a cell running (IPython has started running its code)."""
        deadline = time.monotonic() + timeout
        while self.ask("status")["content"].get("cell_seconds") is None:
            assert time.monotonic() < deadline, "no cell started running"

    # -- process --------------------------------------------------------------------------

    def signal(self, sig: int = signal.SIGUSR2) -> None:
        """Signal the kernel process itself (never its process group)."""
        os.kill(self.pid, sig)

    def interrupt_and_check(self, msg_id: str) -> Reply:
        """Interrupt a hung cell once, collect it, and prove the kernel runs the next one.

        One interrupt, as a user gives: ipysigtrace keeps it from being lost (only its
        watcher takes the dump signal, the watcher never takes SIGINT, and it nudges a
        main thread that missed one: ipysigtrace/nudge.py).
        """
        self.km.interrupt_kernel()
        hung = self.collect(msg_id, timeout=60)
        assert self.execute_after_error("40 + 2").result == "42"
        return hung

    def execute_after_error(self, code: str, timeout: float = 60) -> Reply:
        """Run code right after a cell failed: ipykernel aborts requests that come while it
        is still dealing with the error; such a request is sent again."""
        while True:
            reply = self.execute(code, timeout)
            if reply.status != "aborted":
                return reply

    def alive(self) -> bool:
        return self.km.is_alive()

    def how_it_ended(self) -> str:
        """'killed by SIGSEGV', 'exit code 1', or 'still running': for a failed test's message."""
        process = getattr(self.km.provisioner, "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
