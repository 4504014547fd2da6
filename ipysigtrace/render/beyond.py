"""What every view shows beyond the kernel's own threads: its child processes, Dask workers.

Headings and groups, decided once for the text and HTML renderers (and, in the same
words, by the lab extension's sections.ts and words.ts): which workers answered with their
stacks, which of them have the same stacks, and how each is named.
"""

from __future__ import annotations

from ..snapshot import DaskReport, DaskWorker, ProcessRecord, StackSnapshot, TaskStack
from .common import stack_key


def processes_heading(processes: list[ProcessRecord]) -> str:
    """'3 child processes, 2 with their own stacks' (which are shown apart, below)."""
    count = len(processes)
    noun = "child process" if count == 1 else "child processes"
    answered = sum(1 for p in processes if p.threads)
    if not answered:
        return f"{count} {noun} (their own stacks are not in this dump)"
    if answered == count:
        return f"{count} {noun}, each with its own stacks" if count > 1 else f"1 {noun}"
    return f"{count} {noun}, {answered} with their own stacks"


def process_text(process: ProcessRecord, kernel_pid: int) -> str:
    """'pid 4243: /usr/bin/python3 -c ...' (with its parent when that is not the kernel);
    'pid 4243: a fork of the kernel' for a fork, whose command line is its parent's."""
    parent = "" if process.parent == kernel_pid else f" (child of {process.parent})"
    if process.forked:
        what = "a fork of the kernel" if not parent else f"a fork of process {process.parent}"
        parent = ""
    else:
        what = process.command or "(no command line)"
    note = f"; {process.note}" if process.note else ""
    return f"pid {process.pid}{parent}: {what}{note}"


def process_groups(processes: list[ProcessRecord]) -> list[list[ProcessRecord]]:
    """The processes that sent their stacks; those whose stacks are the same, together.

    The same rule as ``processGroups`` in the lab extension's sections.ts.
    """
    groups: dict[tuple[object, ...], list[ProcessRecord]] = {}
    for process in processes:
        if process.threads:
            key = tuple(stack_key(t) for t in process.threads)
            groups.setdefault(key, []).append(process)
    return list(groups.values())


def process_group_heading(group: list[ProcessRecord], kernel_pid: int) -> str:
    """'Process 4243: a fork of the kernel', or '4 processes with the same stacks: 4243, …'."""
    if len(group) == 1:
        return "Process " + process_text(group[0], kernel_pid).removeprefix("pid ")
    pids = ", ".join(str(p.pid) for p in group)
    return f"{len(group)} processes with the same stacks: {pids}"


def process_view(process: ProcessRecord, snapshot: StackSnapshot) -> StackSnapshot:
    """A worker's stacks as a snapshot of its own, to be laid out like the kernel's."""
    return StackSnapshot(
        time=snapshot.time,
        pid=process.pid,
        threads=process.threads,
        trigger="request",
        trimmed=snapshot.trimmed,
    )


def dask_heading(report: DaskReport) -> str:
    """'Dask scheduler tcp://10.0.0.5:8786: 3 tasks running on 2 workers', or its note.

    The same text as ``daskHeading`` in the lab extension's words.ts.
    """
    where = f"Dask scheduler {report.scheduler or '(address unknown)'}"
    if report.note:
        return f"{where}: {report.note}"
    tasks = sum(len(w.tasks) for w in report.workers)
    if not tasks:
        return f"{where}: no task is running on its workers"
    workers = len(report.workers)
    return (
        f"{where}: {tasks:,} {'task' if tasks == 1 else 'tasks'} running on "
        f"{workers:,} {'worker' if workers == 1 else 'workers'}"
    )


def dask_worker_heading(worker: DaskWorker) -> str:
    """'Worker tcp://10.0.0.7:40411: 2 tasks'."""
    count = len(worker.tasks)
    return f"Worker {worker.address}: {count:,} {'task' if count == 1 else 'tasks'}"


def dask_task_heading(tasks: list[TaskStack]) -> str:
    """ "task ('getitem-9a2b', 0)", or '3 tasks with the same stack'."""
    if len(tasks) == 1:
        return f"task {tasks[0].name}"
    return f"{len(tasks):,} tasks with the same stack"
