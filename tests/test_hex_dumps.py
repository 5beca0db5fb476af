"""-e read=FDS / -e write=FDS: the bytes a data call moved, dumped under its line as strace 6.1
dumps them (offset, hex, text; per buffer for the vectored calls), compared with strace itself;
the dump is a payload, so the store keeps it only with --store-payloads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.tracer.filter_spec import FilterSpecError, parse_expression, parse_fd_spec
from renacer_tui.tracer.formats import buffers_dump, hex_dump
from tests.test_strace_options import needs_strace

DUMPS = r"""
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
int main(void) {
    int fd = open("dump.in", O_CREAT | O_RDWR | O_TRUNC, 0600);
    char data[300];
    for (int i = 0; i < 300; i++) data[i] = (char)i;            /* every byte value, 19 lines */
    write(fd, data, sizeof data);
    lseek(fd, 0, SEEK_SET);
    char back[512]; read(fd, back, sizeof back);
    struct iovec out[2] = {{"ab", 2}, {"cdefghijklmnopqrstuvwxyz", 24}};
    writev(fd, out, 2);
    lseek(fd, 0, SEEK_SET);
    char x[10], y[20]; struct iovec in[2] = {{x, 10}, {y, 20}};
    readv(fd, in, 2);
    int sv[2]; socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    struct msghdr sent = {0}; sent.msg_iov = out; sent.msg_iovlen = 2; sendmsg(sv[0], &sent, 0);
    struct msghdr got = {0}; got.msg_iov = in; got.msg_iovlen = 2; recvmsg(sv[1], &got, 0);
    close(fd); unlink("dump.in");
    return 0;
}
"""


def _dumped(text: str, ours: bool) -> list[tuple[str, list[str]]]:
    """(call name, the dump lines under it) for the program's calls, from its open of dump.in."""
    calls: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith((" | ", " * ")):
            if calls:
                calls[-1][1].append(line)
            continue
        line = re.sub(r"^\[pid +\d+\] ", "", line) if ours else line
        name = re.match(r"([a-z_0-9]+)\(", line)
        if name and (calls or 'open' in name[1] and '"dump.in"' in line):
            calls.append((name[1], []))
    return [call for call in calls if call[0] != "exit_group"]


def _both(tmp_path: Path, exe: str, extra: list[str], *expressions: str) -> tuple[list, list]:
    args = [arg for expression in expressions for arg in ("-e", expression)]
    ours = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--no-follow", *extra, *args,
                           "-o", "ours.txt", "--", exe], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    subprocess.run(["strace", *args, "-o", "theirs.txt", exe], capture_output=True, timeout=120, check=True, cwd=tmp_path)
    return (_dumped((tmp_path / "ours.txt").read_text(), True), _dumped((tmp_path / "theirs.txt").read_text(), False))


@needs_strace
@pytest.mark.parametrize("decode", ["apart", "inline"])
def test_reads_and_writes_are_dumped_as_strace_dumps_them(tmp_path: Path, cbuild, decode: str) -> None:
    exe = str(cbuild("dumps", DUMPS))
    extra = ["--inline-decode"] if decode == "inline" else []
    ours, theirs = _both(tmp_path, exe, extra, "read=3,5", "write=3,4")
    assert ours == theirs
    dumped = {name: lines for name, lines in ours if lines}
    assert set(dumped) == {"write", "read", "writev", "readv", "sendmsg", "recvmsg"}
    assert len(dumped["write"]) == 19 and dumped["writev"][0] == " * 2 bytes in buffer 0"


@needs_strace
def test_a_negated_set_dumps_every_other_fd(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("dumps", DUMPS))
    ours, theirs = _both(tmp_path, exe, [], "write=!3")
    assert ours == theirs
    assert [name for name, lines in ours if lines] == ["sendmsg"]


def test_the_dump_is_stored_only_with_store_payloads(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("dumps", DUMPS))
    for store_payloads in (False, True):
        db = tmp_path / f"db-{store_payloads}"
        run = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(db), "-e", "write=3",
                              *(["--store-payloads"] if store_payloads else []), "-o", str(tmp_path / "out.txt"),
                              "--", exe], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                             cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert " | 00000  00 01 02 03" in (tmp_path / "out.txt").read_text()  # the text output has it either way
        files = [str(path) for path in db.rglob("*.parquet")]
        rows = duckdb.sql(f"SELECT attributes FROM read_parquet({files!r}) WHERE span_name = 'syscall:write'").fetchall()
        stored = [json.loads(attributes).get("syscall.dump") for (attributes,) in rows]
        assert stored and all((dump is not None) == store_payloads for dump in stored)


@given(st.binary(max_size=200))
def test_a_dump_reads_back_as_the_bytes(data: bytes) -> None:
    lines = hex_dump(data)
    assert len(lines) == (len(data) + 15) // 16
    back = bytearray()
    for number, line in enumerate(lines):
        assert re.fullmatch(r" \| [0-9a-f]{5}  .{48}  .{16} \|", line) and int(line[3:8], 16) == number * 16
        back += bytes.fromhex(line[10:58])
        chunk = data[number * 16:(number + 1) * 16]
        assert line[60:60 + len(chunk)] == "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
    assert bytes(back) == data


def test_a_vectored_dump_names_each_buffer() -> None:
    assert buffers_dump([b"ab", b""], True).splitlines() == [
        " * 2 bytes in buffer 0", " | 00000  61 62" + " " * 43 + "  ab               |", " * 0 bytes in buffer 1"]


@given(st.sets(st.integers(0, 1 << 20), min_size=1, max_size=5), st.integers(0, 1 << 20))
def test_fd_sets_parse_as_strace_reads_them(fds: set[int], probe: int) -> None:
    spec = ",".join(map(str, sorted(fds)))
    assert (probe in parse_fd_spec(spec, "read")) == (probe in fds)
    assert (probe in parse_fd_spec("!" + spec, "read")) == (probe not in fds)
    assert probe in parse_fd_spec("all", "write") and probe not in parse_fd_spec("none", "write")


@pytest.mark.parametrize("bad", ["read=x", "write=-1", "read=", "write=3,,4"])
def test_bad_fd_sets_are_refused(bad: str) -> None:
    with pytest.raises(FilterSpecError):
        parse_expression(bad)
