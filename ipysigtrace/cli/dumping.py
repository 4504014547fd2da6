"""``ipysigtrace dump``: every thread's stack of one kernel, once or ``--watch``.

It asks on the kernel's control channel (any kernel its connection file reaches). If no
answer comes in time and the kernel runs here and published its identity, it sends the raw
signal the kernel named, only if the kernel catches it (/proc/PID/status), and shows
faulthandler's raw dump. It never signals a process that has not published its identity.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from typing import Any

from .asking import Asked, answered_pid, ask
from .errors import BAD_ANSWER, NO_ANSWER, NO_PROCESS, NOT_LOADED, Failure
from .kernels import Target, read_connection_file, resolve
from .processes import ancestors, connection_file_of, has_ended, parent_of, runtime_dir

# What a thread's stack is, for telling whether it moved: (file, line, function, repeat).
Signature = tuple[tuple[str, int, str, int], ...]


def raw_dump(pid: int, timeout: float) -> dict[str, Any] | None:
    """faulthandler's raw dump of a kernel that published its identity (rawdump.collect)."""
    from ..rawdump import collect
    from ..sources import line

    snapshot = collect(runtime_dir(), pid, timeout, source=line)
    return snapshot.to_dict() if snapshot else None


def _is_seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def command_dump(args: argparse.Namespace) -> int:
    from ..render import text
    from ..render.common import ViewOptions
    from ..snapshot import StackSnapshot

    target = resolve(args.kernel)
    if target.claimed is not None:
        verify(target, args.timeout)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    previous: dict[int, Signature] = {}
    rounds = 0
    while True:
        data = dump_once(args, target)
        try:
            full = StackSnapshot.from_dict(data)
        except ValueError as exc:
            raise Failure(BAD_ANSWER, f"the answer is not a stack snapshot: {exc}") from None
        if target.child is not None:
            full = child_view(full, target.child)
            data = full.to_dict()
        if args.json:
            print(json.dumps(data, indent=1), flush=True)  # JSON escapes control characters
        else:
            shown, unchanged = changed_threads(full, previous) if previous else (full, 0)
            previous = {t.ident: signature(t) for t in full.threads}
            out = text.render(shown, ViewOptions(show_machinery=args.all), ansi=color)
            if unchanged:
                out += f"({unchanged} thread{'s' if unchanged != 1 else ''} where they were)\n"
            print(out, end="", flush=True)
        rounds += 1
        if args.watch is None or (args.count and rounds >= args.count):
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0
        print()


def signature(thread: Any) -> Signature:
    return tuple((f.filename, f.lineno, f.function, f.repeat) for f in thread.frames)


def changed_threads(snapshot: Any, previous: dict[int, Signature]) -> tuple[Any, int]:
    """Only the threads whose stack moved since the previous dump (``--watch``)."""
    from dataclasses import replace

    moved = [t for t in snapshot.threads if previous.get(t.ident) != signature(t)]
    return replace(snapshot, threads=moved), len(snapshot.threads) - len(moved)


def verify(target: Target, timeout: float) -> None:
    """A PID that published no identity: is it the kernel its command line's ``-f`` names?

    Only if that kernel's control reply gives this PID. A forked worker carries its
    kernel's ``-f``: it is refused, and the kernel it belongs to is named. Nothing is
    signalled here.
    """
    pid = target.claimed
    assert pid is not None
    runtime = runtime_dir()
    not_kernel = f"process {pid} is not a kernel that loaded ipysigtrace"
    if target.connection is None:
        raise Failure(
            NOT_LOADED,
            f"{not_kernel}: it published no identity in {runtime} and its command line names "
            "no connection file; it was not signalled",
        )
    try:
        info = read_connection_file(target.connection)
    except Failure as failure:
        raise Failure(NOT_LOADED, f"{not_kernel}: {failure}; it was not signalled") from None
    asked = ask(info, "status", timeout)
    if asked.answer is not None:
        kernel = answered_pid(asked.answer)
        if kernel == pid:
            target.pid, target.claimed = pid, None  # a loaded kernel without an identity file
            return
        if kernel is not None and kernel in ancestors(pid):
            relation = "a child" if parent_of(pid) == kernel else "a descendant"
            whose = (
                f"it is {relation} of kernel process {kernel}, whose connection file it "
                f"inherited (`ipysigtrace dump {kernel}` shows that kernel)"
            )
        elif kernel is not None:
            whose = f"the kernel of the connection file it names is process {kernel}"
        else:
            raise Failure(
                BAD_ANSWER,
                f"the kernel of the connection file of process {pid} answered without its "
                "PID, so it cannot be told from that process; nothing is shown",
            )
        raise Failure(NOT_LOADED, f"{not_kernel}: {whose}; it was not signalled")
    parent = parent_of(pid)
    child = ""
    if parent is not None and connection_file_of(parent) == target.connection:
        child = f"; it is a child of process {parent}, started with the same connection file"
    if asked.not_loaded:
        raise Failure(
            NOT_LOADED,
            f"process {pid} has not loaded ipysigtrace: the kernel of its connection file "
            f"answers, but not to ipysigtrace (run %load_ext ipysigtrace in it){child}; "
            "it was not signalled",
        )
    raise Failure(
        NO_ANSWER,
        f"process {pid} published no identity in {runtime} and the kernel of its connection "
        f"file did not answer within {timeout:g} s{child}; it was not signalled",
    )


def child_view(snapshot: Any, pid: int) -> Any:
    """A worker's own stacks, out of its kernel's dump, as a snapshot of that worker."""
    from ..render.beyond import process_text, process_view

    record = next((p for p in snapshot.processes if p.pid == pid), None)
    if record is None:
        raise Failure(
            NO_PROCESS,
            f"process {pid} is not among the child processes of kernel process "
            f"{snapshot.pid} now (it may have ended)",
        )
    if not record.threads:
        raise Failure(
            NO_ANSWER,
            f"process {pid} is a child process of kernel process {snapshot.pid}; "
            f"{record.note or 'no stacks: it did not answer'}",
        )
    view = process_view(record, snapshot)
    view.note = f"A child process of kernel process {snapshot.pid}: " + process_text(
        record, snapshot.pid
    )
    return view


def dump_once(args: argparse.Namespace, target: Target) -> object:
    """One snapshot: the control channel first, then the raw dump of a local kernel."""
    asked = Asked(None)
    if target.connection is not None:
        locals_ = "repr" if args.locals == "repr" else args.locals is not None
        try:
            info = read_connection_file(target.connection)
        except Failure:
            if target.identity is None:
                raise
            info = None  # a kernel that published its identity still has the raw dump
        if info is not None:
            asked = ask(info, "dump", args.timeout, locals=locals_)
    answer = asked.answer
    if answer is not None:
        if target.pid is not None and answered_pid(answer) != target.pid:
            raise Failure(
                BAD_ANSWER,
                f"the connection file of kernel process {target.pid} is answered by process "
                f"{answered_pid(answer)}; its stacks are not shown",
            )
        if answer.get("status") == "ok" and "snapshot" in answer:
            snapshot: object = answer["snapshot"]  # StackSnapshot.from_dict checks it
            return snapshot
        message = answer.get("message")
        refused = message if isinstance(message, str) else "an answer without a snapshot"
        raise Failure(BAD_ANSWER, f"{args.kernel} answered without a snapshot: {refused[:200]}")
    if asked.not_loaded:
        raise Failure(
            NOT_LOADED,
            f"kernel {args.kernel} has not loaded ipysigtrace: it answers, but not to "
            "ipysigtrace (run %load_ext ipysigtrace in it)",
        )
    if target.child is not None:  # the kernel's raw dump would be another process's stacks
        raise Failure(
            NO_ANSWER,
            f"process {target.child} is a child process of kernel process {target.pid}, which "
            f"did not answer within {args.timeout:g} s, so its child was not asked",
        )
    if target.pid is not None and target.identity is not None:
        return raw_or_fail(args, target)
    if target.pid is not None and has_ended(target.pid):
        raise Failure(NO_PROCESS, f"process {target.pid} has ended")
    if target.pid is None and not target.processes:
        raise Failure(
            NO_PROCESS,
            f"kernel {args.kernel} is gone: no process here runs it and it did not answer "
            f"within {args.timeout:g} s (its connection file is left; or it runs elsewhere)",
        )
    pids = ", ".join(map(str, target.processes)) if target.processes else str(target.pid)
    raise Failure(
        NO_ANSWER,
        f"no answer from {args.kernel} within {args.timeout:g} s; its process ({pids}) "
        "published no ipysigtrace identity here, so it was not signalled",
    )


def published_signal(name: str) -> int | None:
    """The number of a signal a kernel named in its identity (``SIGURG``, ``SIGRTMIN+1``)."""
    from ..signals import SignalChoiceError, parse_signal

    if not name:
        return None
    try:
        return int(parse_signal(name))
    except SignalChoiceError:
        return None


def raw_or_fail(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    """The raw dump of a kernel that published its identity but did not answer in time."""
    from ..procinfo import catches
    from ..runtime import kernel_file

    pid, identity = target.pid, target.identity
    assert pid is not None and identity is not None
    if has_ended(pid):
        raise Failure(NO_PROCESS, f"process {pid} has ended")
    late = f"kernel process {pid} did not answer within {args.timeout:g} s"
    if target.connection is None:  # terminal IPython: no control channel
        late = f"process {pid} has no control channel (terminal IPython?)"
    name = identity["raw_signal"]
    number = published_signal(name)
    if number is None:
        raise Failure(
            NO_ANSWER,
            f"{late}, and its raw dumps are off (IPySigTrace.raw_signal); it was not signalled",
        )
    if not catches(pid, number):
        raise Failure(
            NO_ANSWER,
            f"{late}, and it no longer catches {name}, its raw-dump signal; it was not signalled",
        )
    raw = kernel_file(runtime_dir(), pid, "raw")
    try:
        info = os.lstat(raw)
        ours = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
    except OSError:
        ours = False
    if not ours:
        raise Failure(
            NO_ANSWER, f"{late}, and it has no raw-dump file of ours ({raw}); it was not signalled"
        )
    data = raw_dump(pid, args.timeout)
    if data is None:
        if has_ended(pid):
            raise Failure(NO_PROCESS, f"process {pid} has ended")
        raise Failure(
            NO_ANSWER, f"{late}, and no raw dump came within {args.timeout:g} s of {name}"
        )
    return data
