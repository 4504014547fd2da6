"""``ipysigtrace list``: this user's kernels, whether ipysigtrace is loaded, busy or idle."""

from __future__ import annotations

import argparse
import os

from .asking import answered_pid, ask
from .dumping import _is_seconds
from .errors import Failure
from .kernels import Found, discover, read_connection_file
from .processes import runtime_dir


def command_list(args: argparse.Namespace) -> int:
    from ..render.common import printable
    from ..runtime import remove_stale

    runtime = runtime_dir()
    remove_stale(runtime)  # files of kernels that were killed
    kernels = discover(runtime)
    if not kernels:
        print(f"no kernels: none in {printable(runtime)}, and no process of ours runs ipykernel")
        return 0
    rows = [("KERNEL", "PID", "IPYSIGTRACE", "CELL", "CONNECTION FILE")]
    guessed = False
    for kernel in kernels:
        pid, loaded, cell = list_row(kernel, args)
        guessed = guessed or pid.startswith("(")
        where = "(runtime dir)" if kernel.in_runtime_dir else kernel.path
        rows.append((kernel.kernel_id, pid, loaded, cell, where))
    for kernel_id, pid, loaded, cell, where in rows:
        print(f"{printable(kernel_id):38} {pid:>9}  {loaded:11}  {cell:14}  {printable(where)}")
    if guessed:
        print(
            "(PID): a process started with that connection file; it published no "
            "ipysigtrace identity, so it may also be a worker the kernel forked"
        )
    return 0


def list_row(kernel: Found, args: argparse.Namespace) -> tuple[str, str, str]:
    """PID, whether ipysigtrace is loaded, and what the cell does, for one kernel.

    The PID is the one the kernel published, or its reply's if a process here has it; else,
    in parentheses, a process started with the connection file (a lead, not a fact).
    """
    pid = kernel.pid()
    local = pid is not None or bool(kernel.processes)
    guess = f"({kernel.first_process()})" if kernel.processes else "-"
    if not local and not args.remote:
        return "-", "-", "no process"
    try:
        info = read_connection_file(kernel.path, only_ours=True)
    except Failure:
        gone = not os.path.lexists(kernel.path)
        return (str(pid) if pid else guess), "-", "file gone" if gone else "unreadable"
    asked = ask(info, "status", args.timeout)
    answer = asked.answer
    if pid is None and answer is not None and answered_pid(answer) in kernel.processes:
        pid = answered_pid(answer)
    shown = str(pid) if pid is not None else guess
    if answer is not None:
        seconds = answer.get("cell_seconds")
        return shown, "loaded", f"busy for {seconds:.0f} s" if _is_seconds(seconds) else "idle"
    if kernel.pid() is not None:
        return shown, "loaded", f"no answer in {args.timeout:g} s"
    if asked.not_loaded:
        return shown, "not loaded", "-"
    return shown, "unknown", "no answer"
