"""A process's identity as /proc shows it: comm and cmdline, raw and escaped for display.

Its own module because the capture process reads identities (tracer.raw_recorder) and must
not import the span builder's row and Arrow machinery to do it.
"""

from __future__ import annotations

from renacer_tui.tracer.formats import escape_bytes


def read_proc_identity(pid: int) -> tuple[str, str]:
    """(comm, cmdline) of a live process, escaped for display; ("?", "") when gone."""
    return identity_from_raw(*read_raw_identity(pid))


def read_raw_identity(pid: int) -> tuple[bytes | None, bytes]:
    """/proc/<pid>/comm (without its newline; None when gone) and /proc/<pid>/cmdline, as bytes."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as fh:
            comm: bytes | None = fh.read().rstrip(b"\n")
    except OSError:
        comm = None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        raw = b""
    return comm, raw


def identity_from_raw(comm: bytes | None, cmdline: bytes) -> tuple[str, str]:
    """(comm, cmdline) for display from the bytes `read_raw_identity` returned."""
    parts = [escape_bytes(p) for p in cmdline.rstrip(b"\0").split(b"\0")] if cmdline else []
    return ("?" if comm is None else escape_bytes(comm)), " ".join(parts)
