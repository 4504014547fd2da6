"""Source lines for frames, read only from regular files of sane size, never blocking.

A code object's file name is only a string: it can name a FIFO (opening it for reading
blocks until someone writes), ``/dev/zero`` (reading never ends), ``/proc/self/environ``
(the environment would go into the dump), or a file of many gigabytes. ``linecache`` would
open any of them. So a file is opened non-blocking, checked on its descriptor (a regular
file, not empty, at most ``MAX_SOURCE`` bytes, not under /proc, /sys or /dev), and read
once; lines that linecache already holds (IPython keeps each cell's code there) are used
as they are. Nothing here imports a module: a coding cookie that names a codec not loaded
yet (``tokenize`` would import it, taking the import lock that a hung cell may hold) makes
the file's lines unavailable instead.

The cache is a plain dict bounded in files and bytes; dumps on several threads at once
may both read a file, which costs time, not correctness.
"""

from __future__ import annotations

import codecs
import linecache
import os
import re
import stat
import sys

MAX_SOURCE = 4 * 1024 * 1024  # bytes: larger files are not read
MAX_FILES = 128
MAX_BYTES = 32 * 1024 * 1024
_PSEUDO = ("/proc/", "/sys/", "/dev/")
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")

# path -> (mtime_ns, size, lines); None marks a file that cannot be read safely.
_cache: dict[str, tuple[int, int, list[str]] | None] = {}
_cached_bytes = 0


def line(filename: str, lineno: int) -> str:
    """Line ``lineno`` (from 1) of a file, without its newline; '' if unavailable."""
    lines = lines_of(filename)
    if lines is None or not 1 <= lineno <= len(lines):
        return ""
    return lines[lineno - 1].rstrip("\r\n")


def context(filename: str, lineno: int, around: int) -> tuple[list[str], int] | None:
    """Lines ``lineno - around`` to ``lineno + around`` that exist, and the first number."""
    lines = lines_of(filename)
    if lines is None or not 1 <= lineno <= len(lines):
        return None
    start = max(1, lineno - around)
    chosen = lines[start - 1 : lineno + around]
    return [text.rstrip("\r\n") for text in chosen], start


def lines_of(filename: str) -> list[str] | None:
    """Every line of a file that is safe to read, or None."""
    held = linecache.cache.get(filename)
    if isinstance(held, tuple) and len(held) == 4 and isinstance(held[2], list):
        return held[2]  # already loaded (cells, files shown before); lazy entries are skipped
    if not filename or filename.startswith(("<", *_PSEUDO)):
        return None
    return _read(filename)


def _read(filename: str) -> list[str] | None:
    global _cached_bytes
    try:
        fd = os.open(filename, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size <= MAX_SOURCE:
            return None
        key = (info.st_mtime_ns, info.st_size)
        cached = _cache.get(filename)
        if cached is not None and cached[:2] == key:
            return cached[2]
        data = b""
        while len(data) < info.st_size:
            chunk = os.read(fd, info.st_size - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    finally:
        os.close(fd)
    text = _decode(data)
    if text is None:
        return None
    lines = text.splitlines(keepends=True)
    if len(_cache) >= MAX_FILES or _cached_bytes + len(data) > MAX_BYTES:
        _cache.clear()
        _cached_bytes = 0
    _cache[filename] = (key[0], key[1], lines)
    _cached_bytes += len(data)
    return lines


def _decode(data: bytes) -> str | None:
    """Text of a source file, by its coding cookie if that codec is loaded already."""
    encoding = "utf_8"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    else:
        for head in data.split(b"\n", 2)[:2]:
            cookie = _COOKIE.match(head)
            if cookie:
                encoding = cookie.group(1).decode("ascii", "replace").lower().replace("-", "_")
                break
    builtin = ("utf_8", "utf8", "latin_1", "latin1", "iso_8859_1", "ascii")
    if encoding not in builtin and f"encodings.{encoding}" not in sys.modules:
        return None
    try:
        return data.decode(encoding, "replace")
    except LookupError:
        return None
