"""Reading strace-like text as a strace user's scripts do: a call split by another line
(`read(3,  <unfinished ...>` … `<... read resumed>"go", 8) = 2`) joined back into one line, and
the `-c` summary table as calls and errors per syscall."""

from __future__ import annotations

import re

_PREFIX = re.compile(r"^(\[pid +\d+\] |\d+ +)?")
_RESUMED = re.compile(r"<\.\.\. ([a-z0-9_]+) resumed>")
UNFINISHED = " <unfinished ...>"


def whole_lines(text: str) -> list[str]:
    """The lines of `text`, each split call joined at its entry's place (prefix kept)."""
    out: list[str | None] = []
    open_at: dict[str, int] = {}  # task prefix → index of its line waiting for the rest
    for line in text.splitlines():
        prefix = _PREFIX.match(line)[0]  # type: ignore[index]
        task = re.sub(r"\s+", " ", prefix.strip("[] ").replace("pid", "")).strip()
        rest = line[len(prefix):]
        resumed = _RESUMED.match(rest)
        if resumed and task in open_at:
            index = open_at.pop(task)
            out[index] = f"{out[index]}{rest[resumed.end():]}"
            continue
        if rest.endswith(UNFINISHED):
            open_at[task] = len(out)
            out.append(line[: -len(UNFINISHED)])
            continue
        out.append(line)
    return [line for line in out if line is not None]


def summary_table(text: str) -> dict[str, tuple[int, int]]:
    """The rows of a `-c` table (strace's or ours) as syscall → (calls, errors), total left out."""
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and re.fullmatch(r"\d+\.\d+", parts[0]) and parts[-1] != "total":
            rows[parts[-1]] = (int(parts[3]), int(parts[4]) if len(parts) == 6 else 0)
    return rows
