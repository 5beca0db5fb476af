"""A process's executable file mappings from /proc/PID/maps: absolute address → (object, offset).

Why: a PIE executable and every shared object load at a random base.  The mapping that holds
an address gives its file offset (address - start + mapping offset), which the object's load
segments turn into the address its DWARF and `.eh_frame` use — the PIE bias, whatever it is.
Read once per process image, and again when an address falls in no known mapping (dlopen).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True)
class Mapping:
    """One executable file-backed mapping."""

    start: int
    end: int
    offset: int
    path: str


def parse_maps(text: str) -> list[Mapping]:
    """The executable file-backed mappings of a /proc/PID/maps text, sorted by start."""
    out: list[Mapping] = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or "x" not in parts[1]:
            continue
        path = parts[5].strip()
        if not path.startswith("/") or path.endswith(" (deleted)"):
            continue
        lo, _, hi = parts[0].partition("-")
        try:
            out.append(Mapping(int(lo, 16), int(hi, 16), int(parts[2], 16), path))
        except ValueError:
            continue
    out.sort(key=lambda m: m.start)
    return out


def read_maps(pid: int) -> list[Mapping]:
    """parse_maps of /proc/<pid>/maps ([] when the process is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
            return parse_maps(f.read())
    except OSError:
        return []


class AddressSpace:
    """The mappings of one process image, searchable by address."""

    def __init__(self, mappings: list[Mapping]) -> None:
        self.mappings = mappings
        self._starts = [m.start for m in mappings]

    def find(self, addr: int) -> Mapping | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        m = self.mappings[i]
        return m if addr < m.end else None
