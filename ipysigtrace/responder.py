"""How a kernel's worker process answers for its own stacks, without ptrace and without signals.

A kernel that loaded ipysigtrace makes a private directory (``ipysigtrace-<pid>.children``
in the Jupyter runtime directory, 0700) and names it in ``IPYSIGTRACE_CHILDREN``. Its
descendants arm a responder that listens on a Unix socket there, named by their PID:

- processes it forks (``fork`` pools, ``os.fork``): an at-fork hook, in the child;
- Python programs it starts (``spawn`` and ``forkserver`` pools, ``subprocess``): they
  inherit the variable, and ``ipysigtrace-children.pth``, installed with the package, arms
  them when the interpreter starts. Without the variable the ``.pth`` line reads one
  environment variable and does nothing else, so processes that did not come from a
  loaded kernel are left untouched.

The responder is a daemon thread blocked in ``accept``: a child that is never asked pays
for one idle thread. When the kernel connects, the thread walks ``sys._current_frames()``
(the same walk as ``capture.freeze``: no I/O, no lock, no user code) and sends back each
thread's raw frames (file, function, line) as JSON; the kernel reads the source lines,
labels cells and sorts frames, the same way it does its own (``children.py``). No signal is
sent to the child, so its blocking calls, its own signal handlers and its signal mask are
left alone. The price: the thread needs the child's GIL, so a child whose native code
holds it does not answer in time, and is listed with that reason.

Nothing here may break a child's start or change its output: arming fails silently. It
imports only built-in modules (``_socket``, ``_thread``), not ``socket``, ``threading``,
``json`` or ``typing``, which would cost every Python program a loaded kernel starts
20-40 ms; what it writes is JSON, made by hand from strings, numbers and lists.
"""

from __future__ import annotations

import _socket
import _thread
import atexit
import os
import stat
import sys
import time

ENV = "IPYSIGTRACE_CHILDREN"
FORMAT = "ipysigtrace.child"
VERSION = 2  # 2: a frame is [file, qualname, name, line, first line]
REQUEST = b"stacks 1\n"
MAX_FRAMES = 2000  # innermost frames sent per thread; the rest are counted
MAX_ADDRESS = 107  # bytes in a Unix socket's path: Linux's limit, less the final NUL
TIMEOUT = 2.0  # seconds the responder gives one connection to send its request and read


class _Armed:
    """The responder of this process: its socket, its path, and how it came to be."""

    def __init__(self, listener: _socket.socket, path: str, forked: bool, main: int) -> None:
        self.listener = listener
        self.path = path
        self.pid = os.getpid()
        self.forked = forked
        self.main = main  # the ident of the thread that armed it: the main thread
        self.ident: int | None = None  # the responder's own thread, left out of answers


_armed: _Armed | None = None
_hooked = False


def socket_path(directory: str, pid: int) -> str:
    """Where the responder of process ``pid`` listens."""
    return os.path.join(directory, str(int(pid)))


def private_directory(path: str) -> bool:
    """Is ``path`` a directory of ours that nobody else can enter (and not a symlink)?"""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077


def arm_from_environment(forked: bool = False) -> bool:
    """Arm this process if a loaded kernel above it asked for it; never raises."""
    directory = os.environ.get(ENV)
    if not directory:
        return False
    try:
        return _arm(directory, forked)
    except Exception:  # a child's start must never fail because of us
        return False


def watch_forks() -> None:
    """Arm every child forked from now on (while the variable is set); once per process."""
    global _hooked
    if not _hooked:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _hooked = True


def armed() -> bool:
    """Does this process answer for its stacks?"""
    return _armed is not None and _armed.pid == os.getpid()


def disarm() -> None:
    """Stop answering: remove the socket's path and shut it down (which ends the thread)."""
    global _armed
    state, _armed = _armed, None
    if state is None or state.pid != os.getpid():
        return
    _unlink_socket(state.path)
    try:  # noqa: SIM105 (contextlib is not imported here: see above)
        state.listener.shutdown(_socket.SHUT_RDWR)  # wakes the thread blocked in accept
    except OSError:
        pass
    state.listener.close()


def _arm(directory: str, forked: bool) -> bool:
    global _armed
    if armed() or not private_directory(directory):
        return False
    path = socket_path(directory, os.getpid())
    if len(os.fsencode(path)) > MAX_ADDRESS:
        return False
    _unlink_socket(path)  # left by a process that had this PID before
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)  # close-on-exec
    try:
        listener.bind(path)
        listener.listen(8)
    except OSError:
        listener.close()
        return False
    state = _Armed(listener, path, forked, _thread.get_ident())
    _armed = state
    watch_forks()
    atexit.register(disarm)
    _thread.start_new_thread(_serve, (state,))
    return True


def _unlink_socket(path: str) -> None:
    try:
        info = os.lstat(path)
        if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.geteuid():
            os.unlink(path)
    except OSError:
        pass


def _after_fork_in_child() -> None:
    """In a forked child: let go of the parent's socket (its path stays: it is the
    parent's; no shutdown, which would end the parent's too), then answer for this
    process on a socket of its own."""
    global _armed
    inherited, _armed = _armed, None
    if inherited is not None:
        inherited.listener.close()
    arm_from_environment(forked=True)


def _serve(state: _Armed) -> None:
    state.ident = _thread.get_ident()
    while True:
        try:
            fd, _ = state.listener._accept()  # type: ignore[attr-defined]
        except OSError:
            if _armed is not state:
                return  # disarmed: the socket is shut down
            time.sleep(0.1)  # out of descriptors, say: try again later, without spinning
            continue
        connection = _socket.socket(fileno=fd)
        try:
            connection.settimeout(TIMEOUT)
            who = peer(connection)
            if who is not None and who[1] == os.geteuid() and _request(connection):
                connection.sendall(answer(state))
        except OSError:
            pass
        finally:
            connection.close()


def peer(connection: _socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end of a Unix socket (``SO_PEERCRED``:
    pid, uid, gid); for a connection to a listener, the process that listens."""
    try:
        data = connection.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    except (OSError, AttributeError):
        return None
    return int.from_bytes(data[0:4], sys.byteorder), int.from_bytes(data[4:8], sys.byteorder)


def _request(connection: _socket.socket) -> bool:
    """Read the request line, a few bytes at most: is it one we answer?"""
    data = b""
    while not data.endswith(b"\n") and len(data) < len(REQUEST):
        chunk = connection.recv(len(REQUEST) - len(data))
        if not chunk:
            return False
        data += chunk
    return data == REQUEST


def answer(state: _Armed) -> bytes:
    """Every thread's raw frames but the responder's, outermost first, as JSON.

    Only attribute reads, as in ``capture.freeze``: a thread's name is its private
    attribute, and only when it is a string (a subclass's property could run user code);
    ``threading`` is looked up, never imported (without it, only the main thread has a name).
    """
    frames = sys._current_frames()
    threading = sys.modules.get("threading")
    registry = getattr(threading, "_active", None)
    active = dict(registry) if isinstance(registry, dict) else {}
    threads: list[str] = []
    top = frame = None
    for ident, top in frames.items():
        if ident == state.ident:
            continue
        chain: list[str] = []
        left_out = 0
        frame = top
        while frame is not None:
            if len(chain) < MAX_FRAMES:
                code = frame.f_code
                qualname = getattr(code, "co_qualname", code.co_name)
                chain.append(
                    f"[{_text(code.co_filename)},{_text(qualname)},{_text(code.co_name)},"
                    f"{int(frame.f_lineno or 0)},{int(code.co_firstlineno)}]"
                )
            else:
                left_out += 1
            frame = frame.f_back
        chain.reverse()
        thread = active.get(ident)
        name = getattr(thread, "_name", None)
        if type(name) is not str:
            name = "MainThread" if ident == state.main else f"Thread-{ident}"
        native = getattr(thread, "_native_id", None)
        daemon = getattr(thread, "_daemonic", False) is True
        threads.append(
            f"[{int(ident)},{_text(name)},{int(native) if type(native) is int else 'null'},"
            f"{'true' if daemon else 'false'},[{','.join(chain)}],{left_out}]"
        )
    del frames, top, frame
    text = (
        f'{{"format":"{FORMAT}","version":{VERSION},"pid":{os.getpid()},'
        f'"forked":{"true" if state.forked else "false"},"main":{state.main},'
        f'"threads":[{",".join(threads)}]}}'
    )
    return text.encode("utf-8", "surrogatepass")


# JSON's escapes for the characters a string may not hold as they are.
_ESCAPES = {code: f"\\u{code:04x}" for code in range(0x20)}
_ESCAPES[ord('"')] = '\\"'
_ESCAPES[ord("\\")] = "\\\\"


def _text(value: str) -> str:
    """A JSON string (lone surrogates pass as they are; the reader decodes them so)."""
    return '"' + value.translate(_ESCAPES) + '"'
