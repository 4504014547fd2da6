"""The server endpoint's response time, for scripts/bench.py.

A real ``jupyter server`` on 127.0.0.1 with the ipysigtrace server extension, a kernel it
started (which loads ipysigtrace at start), a cell that hangs, and ``POST
/ipysigtrace/api/kernels/<id>/dump`` timed over HTTP, alternating with ``py-spy dump`` on
the same kernel.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_client.blocking import BlockingKernelClient

TOKEN = "ipysigtrace-bench"
SPEC = "ipysigtrace-bench-server"
SPACING = 0.3  # the endpoint refuses two dumps of one kernel within 0.25 s


class Server:
    """jupyter server in a subprocess, and a kernel it manages."""

    def __init__(self, root: str) -> None:
        base = Path(root) / "server"
        spec = base / "kernels" / SPEC
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        argv.append("--IPKernelApp.extensions=['ipysigtrace']")
        kernel = {"argv": argv, "display_name": SPEC, "language": "python"}
        (spec / "kernel.json").write_text(json.dumps(kernel))
        self.runtime = base / "runtime"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "JUPYTER_PATH": str(base), "JUPYTER_RUNTIME_DIR": str(self.runtime)}
        self.log = open(base / "server.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={base}",
            ],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                self.request("GET", "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"jupyter server did not start: {self.log.name}") from None
                time.sleep(0.3)
        self.kernel_id = self.request("POST", "/api/kernels", {"name": SPEC})["id"]
        self.client = BlockingKernelClient()
        self.client.load_connection_file(str(self.runtime / f"kernel-{self.kernel_id}.json"))
        # No heartbeat channel: without a manager, wait_for_ready takes a heartbeat missed
        # for 1 s as a dead kernel, and a kernel starting on a loaded machine misses one.
        self.client.start_channels(hb=False)
        self.client.wait_for_ready(timeout=60)
        self.hung: str | None = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method,
            headers={"Authorization": f"token {TOKEN}"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else None

    def dump(self) -> tuple[float, dict[str, Any]]:
        """Seconds for POST .../dump, and the reply."""
        time.sleep(SPACING)
        start = time.perf_counter()
        reply = self.request("POST", f"/ipysigtrace/api/kernels/{self.kernel_id}/dump", {})
        return time.perf_counter() - start, reply

    def hang(self, code: str) -> None:
        self.hung = self.client.execute(code)
        time.sleep(0.5)

    def interrupt(self) -> None:
        self.request("POST", f"/api/kernels/{self.kernel_id}/interrupt")
        while self.client.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != self.hung:
            pass
        time.sleep(0.5)  # ipykernel aborts requests that arrive right after an error

    def close(self) -> None:
        self.client.stop_channels()
        try:
            self.request("DELETE", f"/api/kernels/{self.kernel_id}")
        finally:
            self.process.terminate()
            self.process.wait(20)
            self.log.close()


def section_server(root: str, pyspy: Any, report: Any, rounds: int, hangs: Any) -> None:
    """Rows '1x NAME: POST /dump (server)' with their ratio to py-spy on the same hang."""
    from bench import alternate

    server = Server(root)
    try:
        pid = server.dump()[1]["snapshot"]["pid"]
        for key, name, setup, code in hangs:
            if setup:
                server.client.execute_interactive(setup, timeout=30)
            server.hang(code)
            pyspy.reset()
            values = alternate(
                {
                    "endpoint": lambda: {"endpoint": server.dump()[0]},
                    "py-spy": lambda: {"py-spy": pyspy.dump(pid)[0]},
                },
                rounds,
            )
            server.interrupt()
            report.timing(
                f"{key}.{name}.endpoint",
                f"{key} {name}: POST /dump (server)",
                values["endpoint"],
                {"py-spy": values["py-spy"]},
            )
    finally:
        server.close()
