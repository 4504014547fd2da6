"""Terminal IPython with its real prompt (prompt_toolkit, in a pseudo-terminal).

``kill -USR2`` at the prompt prints the dump above it and draws the prompt again with what
the user had typed; during a command the dump goes straight to the terminal. Either way
the next command runs.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.kernel

ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78]|\][^\x07]*\x07)")


class Terminal:
    """IPython in a pseudo-terminal, read as plain text."""

    def __init__(self, tmp_path) -> None:
        self.master, slave = pty.openpty()
        env = {
            **os.environ,
            "IPYTHONDIR": str(tmp_path),
            "TERM": "xterm",
            "PROMPT_TOOLKIT_NO_CPR": "1",
            "COLUMNS": "120",
            "LINES": "40",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""

    def expect(self, pattern: str, timeout: float = 30) -> str:
        """Read until ``pattern`` (a regex) shows in the output since the last match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.screen)
            if match:
                seen, self.screen = self.screen[: match.end()], self.screen[match.end() :]
                return seen
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{pattern!r} not seen; last output: {self.screen[-800:]!r}")
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise TimeoutError(f"{pattern!r} not seen; IPython ended: {self.screen!r}")
                self.screen += ANSI.sub("", chunk.decode(errors="replace")).replace("\r", "")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self.master)


def test_a_dump_at_the_prompt_and_during_a_command(tmp_path) -> None:
    term = Terminal(tmp_path)
    try:
        term.expect(r"In \[1\]:")
        term.type("%load_ext ipysigtrace\r")
        term.expect(r"SIGUSR2 handler and watcher installed")
        term.expect(r"In \[2\]:")
        term.type("6 * ")  # half a line typed when the signal comes
        term.expect(r"6 \*")  # the prompt has it
        term.process.send_signal(signal.SIGUSR2)
        dump = term.expect(r"In \[2\]:\s*6\s*\*", timeout=30)  # the prompt again, as it was
        assert "Stacks of process" in dump and "Thread MainThread" in dump
        assert "Thread patch-stdout-flush-thread" not in dump, "the prompt's own thread is hidden"
        term.type("7\r")
        term.expect(r"Out\[2\]: 42")
        term.type("import time\r")
        term.expect(r"In \[4\]:")
        term.type("def busy_here(): print('busy', 'now', flush=True); time.sleep(600)\r\r")
        term.expect(r"In \[5\]:")
        term.type("busy_here()\r")
        term.expect(r"busy now")
        # The marker comes from inside print(); a busy machine may dump before the sleep.
        for _ in range(10):
            term.process.send_signal(signal.SIGUSR2)
            try:
                dump = term.expect(r"time\.sleep\(600\)", timeout=5)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("no dump showed the command in time.sleep(600)")
        assert "in busy_here" in dump
        term.process.send_signal(signal.SIGINT)  # Ctrl-C (the pty is not its controlling tty)
        term.expect(r"KeyboardInterrupt")
        term.expect(r"In \[6\]:")
        term.type("exit\r")
        assert term.close() == 0
    finally:
        if term.process.poll() is None:
            term.process.kill()
