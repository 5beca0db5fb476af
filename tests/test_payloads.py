"""--capture-payloads on real programs: per-call and per-stream SHA-256 of the bytes they moved.

The digests are checked against hashlib over the files the programs wrote, so what is compared
is what reached the kernel, through every shape of data call: flat buffers, iovecs, msghdrs,
and the in-kernel copies whose bytes are never visible (counted as unhashed).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from cprograms import ONE_WRITE, PATTERN_BYTES, PY_ONE_BYTE_WRITES, pattern
from hypothesis import given, settings
from hypothesis import strategies as st

from renacer_tui.model.attributes import (
    ATTR_CAPTURE_PAYLOADS,
    ATTR_IO_BYTES,
    ATTR_IO_CALLS,
    ATTR_IO_CHUNK_SHA256,
    ATTR_IO_CHUNK_SIZE,
    ATTR_IO_DIRECTION,
    ATTR_IO_INODE,
    ATTR_IO_OBJECT,
    ATTR_IO_SHA256,
    ATTR_IO_UNHASHED_BYTES,
)
from renacer_tui.model.kinds import is_io_stream, is_run
from renacer_tui.tracer.payload_hash import CHUNK_SIZE, Stream


def traced_jsonl(tmp_path: Path, *command: str, payloads: bool = True) -> list[dict[str, Any]]:
    out = tmp_path / "trace.jsonl"
    flags = ["--capture-payloads"] if payloads else []
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", *flags, "--format", "jsonl", "-o", str(out),
         "--", *command],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def streams(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (r["attributes"][ATTR_IO_OBJECT], r["attributes"][ATTR_IO_DIRECTION]): r["attributes"]
        for r in rows if is_io_stream(r["span_name"])
    }


def chunk_digests(data: bytes) -> str:
    return "".join(hashlib.sha256(data[i : i + CHUNK_SIZE]).digest()[:8].hex() for i in range(0, len(data), CHUNK_SIZE))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_one_write_hashes_the_file_per_call_and_per_stream(tmp_path: Path, cbuild) -> None:
    exe = cbuild("one_write", ONE_WRITE)
    rows = traced_jsonl(tmp_path, str(exe), "out.bin", str(PATTERN_BYTES))
    written = (tmp_path / "out.bin").read_bytes()
    assert written == pattern()
    stream = streams(rows)[(str(tmp_path / "out.bin"), "write")]
    assert stream[ATTR_IO_SHA256] == sha(written)
    assert stream[ATTR_IO_BYTES] == PATTERN_BYTES and stream[ATTR_IO_CALLS] == 1
    assert stream[ATTR_IO_CHUNK_SIZE] == CHUNK_SIZE and stream[ATTR_IO_CHUNK_SHA256] == chunk_digests(written)
    assert stream[ATTR_IO_INODE] == (tmp_path / "out.bin").stat().st_ino
    writes = [r for r in rows if r["span_name"] == "syscall:write" and r["attributes"].get(ATTR_IO_SHA256)]
    assert [w["attributes"][ATTR_IO_SHA256] for w in writes] == [sha(written)]
    assert writes[0]["attributes"][ATTR_IO_BYTES] == PATTERN_BYTES
    run = next(r for r in rows if is_run(r["span_name"]))
    assert run["attributes"][ATTR_CAPTURE_PAYLOADS] is True


def test_one_byte_writes_make_the_same_stream_hash(tmp_path: Path) -> None:
    rows = traced_jsonl(tmp_path, sys.executable, "-B", "-c", PY_ONE_BYTE_WRITES, "out.bin", str(PATTERN_BYTES))
    stream = streams(rows)[(str(tmp_path / "out.bin"), "write")]
    assert stream[ATTR_IO_SHA256] == sha(pattern())
    assert stream[ATTR_IO_CALLS] == PATTERN_BYTES and stream[ATTR_IO_BYTES] == PATTERN_BYTES
    assert stream[ATTR_IO_CHUNK_SHA256] == chunk_digests(pattern())
    # every call carries its own byte's digest, also the calls RLE folded into one row
    calls = [r for r in rows if r["span_name"] == "syscall:write" and r["attributes"].get("syscall.fd_object", "").endswith("out.bin")]
    assert sum(r["rle_count"] for r in calls) == PATTERN_BYTES
    assert {r["attributes"][ATTR_IO_SHA256] for r in calls} <= {sha(bytes([b])) for b in pattern()}


VECTORED = """
import os, socket
r, w = os.pipe()
os.writev(w, [b"ab", b"", b"cd"])
a, b = bytearray(3), bytearray(3)
os.readv(r, [a, b])
s1, s2 = socket.socketpair()
s1.sendmsg([b"xy", b"z"])
s2.recvmsg(16)
with open("src.bin", "wb") as f:
    f.write(b"0123456789")
with open("src.bin", "rb") as src, open("dst.bin", "wb") as dst:
    os.sendfile(dst.fileno(), src.fileno(), 0, 10)
"""


def test_iovecs_messages_and_in_kernel_copies(tmp_path: Path) -> None:
    found = streams(traced_jsonl(tmp_path, sys.executable, "-c", VECTORED))
    pipes = {key: value for key, value in found.items() if key[0].startswith("pipe:")}
    assert sorted(k[1] for k in pipes) == ["read", "write"]
    assert {v[ATTR_IO_SHA256] for v in pipes.values()} == {sha(b"abcd")}
    sockets = {key: value for key, value in found.items() if key[0].startswith("socket:")}
    assert {v[ATTR_IO_SHA256] for v in sockets.values()} == {sha(b"xyz")}
    assert {v[ATTR_IO_BYTES] for v in sockets.values()} == {3}
    copied = found[(str(tmp_path / "dst.bin"), "write")]
    assert copied[ATTR_IO_BYTES] == 10 and copied[ATTR_IO_UNHASHED_BYTES] == 10
    assert found[(str(tmp_path / "src.bin"), "read")][ATTR_IO_UNHASHED_BYTES] == 10


def test_without_the_option_nothing_is_hashed(tmp_path: Path, cbuild) -> None:
    exe = cbuild("one_write", ONE_WRITE)
    rows = traced_jsonl(tmp_path, str(exe), "out.bin", "10", payloads=False)
    assert not any(is_io_stream(r["span_name"]) for r in rows)
    assert not any(ATTR_IO_SHA256 in r["attributes"] or ATTR_CAPTURE_PAYLOADS in r["attributes"] for r in rows)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3 * CHUNK_SIZE + 7), st.lists(st.integers(0, 3 * CHUNK_SIZE + 7), max_size=8))
def test_a_stream_hashes_the_same_however_its_bytes_are_split(data: bytes, cuts: list[int]) -> None:
    whole = Stream("/f", "write", 3, 1, "p", None, 0)
    whole.update(data, hashlib.sha256(data).digest())
    split = Stream("/f", "write", 3, 1, "p", None, 0)
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    for start, end in zip(bounds, bounds[1:]):
        piece = data[start:end]
        split.update(piece, hashlib.sha256(piece).digest())
    for stream in (whole, split):
        attrs = stream.attributes()
        assert attrs[ATTR_IO_SHA256] == sha(data)
        assert attrs[ATTR_IO_CHUNK_SHA256] == chunk_digests(data)
