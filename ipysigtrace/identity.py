"""Who a kernel is: the identity file a loaded kernel publishes, read warily by others.

A command line or a server decides "this PID is an ipysigtrace kernel, with these signals"
from ``ipysigtrace-<pid>.json`` in the Jupyter runtime directory (``runtime.py`` makes it
safely), checked against ``/proc``: the record names the process's start time, so a PID
used again by another process is never taken for the kernel.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from .procinfo import process_start_time
from .runtime import FILE_NAME, MAX_IDENTITY, kernel_file

IDENTITY_FORMAT = "ipysigtrace.identity"
IDENTITY_VERSION = 1


def identity_record(
    connection_file: str, signal: str, raw_signal: str, watcher_tid: int | None
) -> dict[str, Any]:
    """What a loaded kernel says about itself in its ``.json`` file."""
    pid = os.getpid()
    return {
        "format": IDENTITY_FORMAT,
        "version": IDENTITY_VERSION,
        "pid": pid,
        "start_time": process_start_time(pid),
        "connection_file": connection_file,
        "signal": signal,
        "raw_signal": raw_signal,
        "watcher_tid": watcher_tid,
    }


def read_identity(runtime_dir: str, pid: int) -> dict[str, Any] | None:
    """The identity a live kernel with this PID published, or None.

    None unless the file is a small regular file owned by us, holds a well-formed record
    for this PID, and its start time is the start time of the process that has this PID
    now (so a reused PID is not mistaken for the kernel).
    """
    path = kernel_file(runtime_dir, pid, "json")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return None
        if info.st_size > MAX_IDENTITY:
            return None
        data = os.read(fd, MAX_IDENTITY + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        record = json.loads(data)
    except ValueError:
        return None
    if not _valid_identity(record, pid):
        return None
    started = process_start_time(pid)
    if started is None or started != record["start_time"]:
        return None
    return record if isinstance(record, dict) else None


def live_identities(runtime_dir: str) -> dict[int, dict[str, Any]]:
    """Every identity in the directory that a live process published, by PID.

    Each goes through ``read_identity``: a planted, foreign or stale file is left out.
    """
    try:
        names = os.listdir(runtime_dir)
    except OSError:
        return {}
    found = {}
    for match in map(FILE_NAME.match, names):
        if match is None or match.group(2) != "json":
            continue
        pid = int(match.group(1))
        record = read_identity(runtime_dir, pid)
        if record is not None:
            found[pid] = record
    return found


def _valid_identity(record: Any, pid: int) -> bool:
    if not isinstance(record, dict) or record.get("format") != IDENTITY_FORMAT:
        return False
    version = record.get("version")
    if type(version) is not int or version < 1:
        return False
    if type(record.get("pid")) is not int or record["pid"] != pid:
        return False
    if type(record.get("start_time")) is not int:
        return False
    tid = record.get("watcher_tid")
    if tid is not None and type(tid) is not int:
        return False
    return all(isinstance(record.get(k), str) for k in ("connection_file", "signal", "raw_signal"))
