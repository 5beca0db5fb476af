"""The text of a source line, for showing beside a span's `code.filepath:code.lineno`.

Why bounded: the path comes from a traced program's debug info, so it may name anything — a
huge file, a FIFO, a device. Only regular files are read, at most `MAX_BYTES`, and the line is
returned as text for the caller to show literally (never as markup).
"""

from __future__ import annotations

import os
import stat

MAX_BYTES = 4 << 20


def source_line(path: str, line: int) -> str | None:
    """Line `line` (1-based) of the regular file at `path`, without its newline; None if unreadable."""
    if line <= 0 or not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, MAX_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    lines = data.split(b"\n")
    if line > len(lines) or (line == len(lines) and not lines[-1]):
        return None
    return lines[line - 1].rstrip(b"\r").decode("utf-8", "replace").expandtabs(4).strip()
