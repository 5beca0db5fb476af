"""State-based comparison of two traces: did they read and write the same bytes?

The spec's §6.3: a rewrite may make fewer, larger calls, so the calls are not compared, the
streams are.  Every `io:stream` span (recorded with `--capture-payloads`) is one direction of
one object; streams of the two traces are matched by a *key*: a file's path after the
`--map-path` rewrites and relative to its run's working directory (`./out.json`), and for
objects without a path (pipes, sockets, terminals) their kind and the fd the program used
(`pipe@fd1`), since their inode numbers differ from run to run; a socket with a known address is
matched by it (`tcp to 127.0.0.1:8080`, see `tracer.socket_peer`).  Matched streams are equal when
their byte counts and SHA-256 agree; otherwise the 4 KiB chunk digests name the first chunk
that differs.

Verdict: equivalent when no matched stream differs or could not be verified (bytes the kernel
moved itself), and no stream was *written* by one trace only.  Files only one trace read (an
interpreter's own modules, a library) are listed but do not decide: they are inputs of the
implementation, not observable output.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from renacer_tui.model.attributes import (
    ATTR_CAPTURE_PAYLOADS,
    ATTR_IO_BYTES,
    ATTR_IO_CALLS,
    ATTR_IO_CHUNK_SHA256,
    ATTR_IO_CHUNK_SIZE,
    ATTR_IO_DIRECTION,
    ATTR_IO_FD,
    ATTR_IO_OBJECT,
    ATTR_IO_PEER,
    ATTR_IO_SHA256,
    ATTR_IO_UNHASHED_BYTES,
    parse_attributes,
)
from renacer_tui.model.kinds import IO_PREFIX, RUN_PREFIX

MATCH = "match"
MISMATCH = "mismatch"
UNVERIFIED = "unverified"
ONLY_A = "only_a"
ONLY_B = "only_b"
_TERMINALS = ("/dev/pts/", "/dev/tty")
_DELETED = " (deleted)"
_DIGEST_HEX = 16  # hex digits per packed chunk digest


class PathMapError(ValueError):
    """A --map-path value that is not OLD=NEW."""


def parse_path_maps(values: Iterable[str]) -> list[tuple[str, str]]:
    """`OLD=NEW` texts as (old, new) prefixes, longest first (PathMapError on a bad one)."""
    maps: list[tuple[str, str]] = []
    for text in values:
        old, sep, new = text.partition("=")
        if not sep or not old or not new:
            raise PathMapError(f"bad --map-path {text!r}: expected OLD=NEW")
        maps.append((posixpath.normpath(old), posixpath.normpath(new)))
    return sorted(maps, key=lambda m: len(m[0]), reverse=True)


def _under(path: str, prefix: str) -> str | None:
    """`path` relative to `prefix` ("" when equal), None when it is not inside it."""
    if path == prefix:
        return ""
    base = prefix.rstrip("/") + "/"
    return path[len(base):] if path.startswith(base) else None


def map_path(path: str, maps: list[tuple[str, str]]) -> str:
    """`path` with the first (longest) matching OLD prefix replaced by NEW."""
    for old, new in maps:
        rest = _under(path, old)
        if rest is not None:
            return posixpath.join(new, rest) if rest else new
    return path


@dataclass(frozen=True)
class StreamState:
    """One `io:stream` span of a trace, with the key it is matched by."""

    key: str
    direction: str
    object: str
    bytes: int
    sha256: str
    chunk_size: int
    chunks: str
    calls: int
    unhashed: int
    span_id: str
    pid: int

    def chunk(self, index: int) -> str:
        return self.chunks[index * _DIGEST_HEX : (index + 1) * _DIGEST_HEX]

    @property
    def chunk_count(self) -> int:
        return len(self.chunks) // _DIGEST_HEX


@dataclass(frozen=True)
class StreamComparison:
    """A key and direction, the stream each trace has for it, and how they compare."""

    key: str
    direction: str
    status: str
    a: StreamState | None
    b: StreamState | None
    first_difference: int | None = None  # byte offset of the first differing chunk

    @property
    def decides(self) -> bool:
        """Whether this comparison can make the traces not equivalent."""
        if self.status in (MISMATCH, UNVERIFIED):
            return True
        return self.status in (ONLY_A, ONLY_B) and self.direction == "write"


@dataclass
class StateDiff:
    """Every stream key of either trace, compared; `equivalent` is the state-based verdict."""

    comparisons: list[StreamComparison] = field(default_factory=list)

    @property
    def equivalent(self) -> bool:
        return not any(c.decides for c in self.comparisons)

    def count(self, status: str) -> int:
        return sum(1 for c in self.comparisons if c.status == status)


def has_payloads(table: pa.Table) -> bool:
    """Whether the trace was recorded with --capture-payloads (its run span says so)."""
    names = table.column("span_name")
    runs = table.filter(pc.starts_with(names, RUN_PREFIX))
    return any(parse_attributes(text).get(ATTR_CAPTURE_PAYLOADS) is True for text in runs.column("attributes").to_pylist())


def stream_key(obj: str, fd: int, cwd: str | None, maps: list[tuple[str, str]], peer: str | None = None) -> str:
    """The matching key of a stream's object (see the module docstring)."""
    if peer:
        return peer
    if obj.endswith(_DELETED):
        obj = obj[: -len(_DELETED)]
    if not obj.startswith("/"):
        kind = obj.split(":", 1)[0] if ":" in obj else obj
        return f"{kind}@fd{fd}"
    if obj.startswith(_TERMINALS):
        return f"tty@fd{fd}"
    path = map_path(posixpath.normpath(obj), maps)
    if cwd:
        rest = _under(path, map_path(posixpath.normpath(cwd), maps))
        if rest is not None:
            return "./" + rest if rest else "."
    return path


def stream_states(table: pa.Table, cwd: str | None, maps: list[tuple[str, str]]) -> dict[tuple[str, str], StreamState]:
    """The trace's streams by (key, direction); a key seen twice gets `#2`, `#3` in first-seen order."""
    io_rows = table.filter(pc.starts_with(table.column("span_name"), IO_PREFIX))
    io_rows = io_rows.take(pc.sort_indices(io_rows, [("logical_clock", "ascending")]))
    out: dict[tuple[str, str], StreamState] = {}
    for text, span_id, pid in zip(
        io_rows.column("attributes").to_pylist(), io_rows.column("span_id").to_pylist(), io_rows.column("process_pid").to_pylist()
    ):
        attrs = parse_attributes(text)
        obj, direction = attrs.get(ATTR_IO_OBJECT), attrs.get(ATTR_IO_DIRECTION)
        if not isinstance(obj, str) or direction not in ("read", "write"):
            continue
        fd = attrs.get(ATTR_IO_FD)
        peer = attrs.get(ATTR_IO_PEER)
        key = stream_key(obj, fd if isinstance(fd, int) else -1, cwd, maps, peer if isinstance(peer, str) else None)
        unique, n = key, 1
        while (unique, direction) in out:
            n += 1
            unique = f"{key}#{n}"
        out[(unique, direction)] = StreamState(
            key=unique,
            direction=direction,
            object=obj,
            bytes=int(attrs.get(ATTR_IO_BYTES) or 0),
            sha256=str(attrs.get(ATTR_IO_SHA256) or ""),
            chunk_size=int(attrs.get(ATTR_IO_CHUNK_SIZE) or 4096),
            chunks=str(attrs.get(ATTR_IO_CHUNK_SHA256) or ""),
            calls=int(attrs.get(ATTR_IO_CALLS) or 0),
            unhashed=int(attrs.get(ATTR_IO_UNHASHED_BYTES) or 0),
            span_id=str(span_id),
            pid=int(pid or 0),
        )
    return out


def first_difference(a: StreamState, b: StreamState) -> int:
    """Byte offset of the first chunk whose digests differ (the shorter length if one is a prefix)."""
    if a.chunk_size == b.chunk_size:
        for index in range(min(a.chunk_count, b.chunk_count)):
            if a.chunk(index) != b.chunk(index):
                return index * a.chunk_size
    return min(a.bytes, b.bytes) if a.chunk_size == b.chunk_size else 0


def compare_streams(a: StreamState, b: StreamState) -> StreamComparison:
    if a.unhashed or b.unhashed:
        return StreamComparison(a.key, a.direction, UNVERIFIED, a, b)
    if a.bytes == b.bytes and a.sha256 == b.sha256:
        return StreamComparison(a.key, a.direction, MATCH, a, b)
    return StreamComparison(a.key, a.direction, MISMATCH, a, b, first_difference(a, b))


def diff_state(
    table_a: pa.Table, table_b: pa.Table, cwd_a: str | None, cwd_b: str | None, maps: list[tuple[str, str]] | None = None
) -> StateDiff:
    """Compare every stream of the two traces (writes first, then reads, each by key)."""
    maps = maps or []
    states_a = stream_states(table_a, cwd_a, maps)
    states_b = stream_states(table_b, cwd_b, maps)
    keys = sorted(set(states_a) | set(states_b), key=lambda k: (k[1] != "write", k[0]))
    result = StateDiff()
    for key in keys:
        a, b = states_a.get(key), states_b.get(key)
        if a is not None and b is not None:
            result.comparisons.append(compare_streams(a, b))
        elif a is not None:
            result.comparisons.append(StreamComparison(key[0], key[1], ONLY_A, a, None))
        else:
            result.comparisons.append(StreamComparison(key[0], key[1], ONLY_B, None, b))
    return result


def comparison_json(c: StreamComparison) -> dict[str, Any]:
    """One comparison as plain JSON values."""

    def side(s: StreamState | None) -> dict[str, Any] | None:
        if s is None:
            return None
        return {"object": s.object, "bytes": s.bytes, "sha256": s.sha256, "calls": s.calls,
                "unhashed_bytes": s.unhashed, "span_id": s.span_id}

    return {"key": c.key, "direction": c.direction, "status": c.status, "first_difference": c.first_difference,
            "a": side(c.a), "b": side(c.b)}
