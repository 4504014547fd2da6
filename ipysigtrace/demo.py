"""``python -m ipysigtrace.demo``: a real kernel, a hung cell, its stack, the kernel alive.

It starts an IPython kernel with jupyter_client, loads the extension, runs a cell that
waits for a lock that a worker thread never gives back, sends the signal as a user would
(``kill -USR2 <pid>``), prints the dump that arrives under the cell, shows the cell still
running, then interrupts it and runs one more cell.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from queue import Empty
from typing import Any

HUNG_CELL = """\
import threading, time

lock = threading.Lock()

def worker():
    with lock:
        time.sleep(3600)          # holds the lock for an hour

def fetch_results():
    for second in range(10**6):
        if lock.acquire(timeout=1):   # never gets it
            return 42
        print(f"still waiting ({second + 1} s)")

threading.Thread(target=worker, name="worker", daemon=True).start()
fetch_results()
"""


def _say(text: str) -> None:
    print(f"\033[1m{text}\033[0m" if sys.stdout.isatty() else text, flush=True)


def write_kernelspec(root: str, name: str, autoload: bool = True) -> None:
    """A kernelspec under ``root``/kernels that runs this very interpreter.

    ``autoload=False`` switches ipysigtrace's autoloading off in its kernels, for callers
    that load and unload it themselves.
    """
    folder = os.path.join(root, "kernels", name)
    os.makedirs(folder, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = {} if autoload else {"IPYSIGTRACE_AUTOLOAD": "0"}
    spec = {"argv": argv, "display_name": name, "language": "python", "env": env}
    with open(os.path.join(folder, "kernel.json"), "w", encoding="utf-8") as file:
        json.dump(spec, file)


def _messages(client: Any, msg_id: str, seconds: float) -> Iterator[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = client.get_iopub_msg(timeout=left)
        except Empty:
            return
        if message["parent_header"].get("msg_id") == msg_id:
            yield message


def _run(client: Any, code: str) -> list[dict[str, Any]]:
    msg_id = client.execute(code)
    out: list[dict[str, Any]] = []
    while True:
        message = client.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        state = message["content"].get("execution_state")
        if message["msg_type"] == "status" and state == "idle":
            return out
        out.append(message)


def _text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for m in messages:
        if m["msg_type"] == "stream":
            parts.append(m["content"]["text"])
        elif m["msg_type"] in ("execute_result", "display_data"):
            parts.append(m["content"]["data"].get("text/plain", "") + "\n")
        elif m["msg_type"] == "error":
            parts.append(f"{m['content']['ename']}: {m['content']['evalue']}\n")
    return "".join(parts)


def main() -> int:
    """Run the demo; returns the exit code."""
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory(prefix="ipysigtrace-demo-") as root:
        write_kernelspec(root, "ipysigtrace-demo")
        os.environ["JUPYTER_PATH"] = root
        manager = KernelManager(kernel_name="ipysigtrace-demo")
        manager.start_kernel()
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            return _demo(manager, client)
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def _demo(manager: Any, client: Any) -> int:
    pid = int(_text(_run(client, "import os; os.getpid()")).strip())
    _say(f"1. Started an IPython kernel, process {pid}.")
    _say("2. In [1]: %load_ext ipysigtrace")
    print(_text(_run(client, "%load_ext ipysigtrace")))
    _say("3. In [2]: a cell that will never finish:")
    print("   " + HUNG_CELL.replace("\n", "\n   "))
    msg_id = client.execute(HUNG_CELL)
    list(_messages(client, msg_id, 2.5))
    from .procinfo import catches

    if not catches(pid, signal.SIGUSR2):  # SIGUSR2 would kill a kernel without the handler
        _say("ipysigtrace did not load in the kernel; not sending the signal.")
        return 1
    _say(f"4. Two seconds later, from outside: kill -USR2 {pid}")
    sent = time.perf_counter()
    os.kill(pid, signal.SIGUSR2)
    dump = None
    for message in _messages(client, msg_id, 5):
        if message["msg_type"] == "display_data":
            dump = message["content"]["data"]["text/plain"]
            break
    if dump is None:
        _say("No dump arrived within 5 s: something is wrong.")
        return 1
    elapsed = (time.perf_counter() - sent) * 1000
    _say(f"   The dump arrived under the running cell {elapsed:.1f} ms later:\n")
    print("   " + dump.rstrip().replace("\n", "\n   ") + "\n")
    later = _text(list(_messages(client, msg_id, 1.5))).strip()
    _say("5. The cell is still running; its next output:")
    print("   " + (later or "(none yet)").replace("\n", "\n   "))
    _say("6. Interrupt, then one more cell: In [3]: 40 + 2")
    manager.interrupt_kernel()
    list(_messages(client, msg_id, 1))
    print("   " + _text(_run(client, "40 + 2")).strip())
    _say("The kernel is alive and kept its state. `make test` runs the tests.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
