"""Exit codes and the failure that carries one: one line for the user, and a code.

0 done, 2 usage, unknown or ambiguous kernel, 3 ipysigtrace not loaded there (or the
process is no such kernel), 4 no such process (or the kernel is gone), 5 unreadable
connection or configuration file, 6 no answer in time, 7 no permission, 8 an answer that
is not a snapshot (or from another process).
"""

from __future__ import annotations

USAGE, NOT_LOADED, NO_PROCESS, UNREADABLE, NO_ANSWER, NO_PERMISSION, BAD_ANSWER = range(2, 9)


class Failure(Exception):
    """One clear line for the user, and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
