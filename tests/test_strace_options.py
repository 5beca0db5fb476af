"""strace's output options on real programs, against strace 6.1 where it has an answer:
-c/-C/-S (the table, where it goes, its order), -z/-Z, -t/-tt/-ttt/-r, -V."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.test_decoder_process import _calls

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")

MISSES = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 3; i++) open("/nonexistent-renacer/x", O_RDONLY);   /* ENOENT ×3 */
    int fd = open("/etc/hostname", O_RDONLY);
    char b[8];
    read(fd, b, sizeof b);
    close(fd);
    close(99);                                                              /* EBADF */
    for (int i = 0; i < 5; i++) getppid();
    return 0;
}
"""

TIME_PREFIX = {
    "-t": r"\d\d:\d\d:\d\d",
    "-tt": r"\d\d:\d\d:\d\d\.\d{6}",
    "-ttt": r"\d{10}\.\d{6}",
    "-r": r" *\d+\.\d{6}",
}


def renacer(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", *args],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def strace(cwd: Path, *args: str) -> str:
    out = cwd / "strace.txt"
    subprocess.run(["strace", "-f", "-o", str(out), *args], capture_output=True, timeout=120, check=True, cwd=cwd)
    return out.read_text()


def call_names(lines: list[str]) -> Counter[str]:
    """Calls per syscall name (ours: `[pid N] name(…` with `×N` for a folded run; strace -f -o: `N name(`)."""
    counts: Counter[str] = Counter()
    for line in lines:
        repeat = re.search(r" ×(\d+)$", line)
        counts[re.match(r"(?:\[pid +\d+\] |\d+ +)?([a-z_0-9]+)\(", line)[1]] += int(repeat[1]) if repeat else 1
    return counts


def trace_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"(\[pid +\d+\] )?\S", line) and "(" in line and " = " in line]


@needs_strace
def test_summary_into_the_output_file_sorted_by_calls_as_strace(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("misses", MISSES))
    ours = renacer(tmp_path, "-c", "-S", "calls", "-o", "ours.txt", "--", exe)
    assert ours.returncode == 0, ours.stderr
    table = (tmp_path / "ours.txt").read_text()
    assert "% time" in table and not trace_lines(table)  # -c -o FILE: the table, no trace, in FILE
    assert "% time" not in ours.stderr
    theirs = strace(tmp_path, "-c", "-S", "calls", exe)
    assert _calls(table) == _calls(theirs)
    counts = list(_calls(table).values())
    assert counts == sorted(counts, reverse=True) and counts[0] >= 5
    by_name = renacer(tmp_path, "-c", "-S", "name", "--", exe)
    assert list(_calls(by_name.stderr)) == sorted(_calls(by_name.stderr))


@needs_strace
def test_failed_only_counts_and_lines_equal_strace(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("misses", MISSES))
    lines = trace_lines(renacer(tmp_path, "-Z", "--", exe).stderr)
    assert lines and all(" = -1 E" in line for line in lines)
    assert call_names(lines) == call_names(trace_lines(strace(tmp_path, "-Z", exe)))
    # our -c table counts what the filter kept (strace 6.1's counts every call whatever -Z says)
    failed = _calls(renacer(tmp_path, "-Z", "-c", "--", exe).stderr)
    assert failed == call_names(lines) and failed["openat"] == 3 and failed["close"] == 1
    ok_lines = trace_lines(renacer(tmp_path, "-z", "--", exe).stderr)
    assert call_names(ok_lines)["getppid"] == 5
    assert ok_lines and not any(" = -1 E" in line for line in ok_lines)
    # strace: "Only the last of -z/--successful-only/-Z/--failed-only options will take effect"
    for flags, failing in ((("-Z", "-z"), False), (("-z", "-Z"), True)):
        both = renacer(tmp_path, *flags, "--", exe)
        chosen = trace_lines(both.stderr)
        assert chosen and all((" = -1 E" in line) == failing for line in chosen)
        assert call_names(chosen) == call_names(trace_lines(strace(tmp_path, *flags, exe)))
        assert "only the last of -z" in both.stderr


def test_summary_and_trace(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("misses", MISSES))
    result = renacer(tmp_path, "-C", "-o", "both.txt", "--", exe)
    text = (tmp_path / "both.txt").read_text()
    lines = trace_lines(text)
    assert any("getppid()" in line for line in lines)
    assert text.index("% time") > text.index(lines[-1])  # the table after the trace
    assert _calls(text)["getppid"] == 5 and result.returncode == 0


@pytest.mark.parametrize("flag", ["-t", "-tt", "-ttt", "-r"])
def test_time_prefixes(tmp_path: Path, cbuild, flag: str) -> None:
    exe = str(cbuild("misses", MISSES))
    before = time.time()
    lines = trace_lines(renacer(tmp_path, flag, "--", exe).stderr)
    after = time.time()
    stamps = []
    for line in lines:
        found = re.match(rf"\[pid +\d+\] ({TIME_PREFIX[flag]}) [a-z_0-9]+\(", line)
        assert found, line
        stamps.append(found[1])
    if flag == "-ttt":
        values = [float(s) for s in stamps]
        assert before - 1 <= values[0] <= values[-1] <= after + 1 and values == sorted(values)
    if flag == "-r":
        deltas = [float(s) for s in stamps]
        assert deltas[0] == 0.0 and all(d >= 0 for d in deltas) and sum(deltas) <= after - before
    if flag == "-t":
        now = time.strftime("%H:%M:%S", time.localtime(after))
        assert stamps[-1] <= now or now < "00:00:05"  # local wall time, not later than now (midnight aside)


def test_version_and_bad_sort(tmp_path: Path) -> None:
    version = renacer(tmp_path, "-V")
    assert version.returncode == 0 and re.fullmatch(r"renacer-tui -- version \d+\.\d+\.\d+\n", version.stdout)
    bad = renacer(tmp_path, "-c", "-S", "bogus", "--", "true")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "bogus" in bad.stderr


@needs_strace
def test_env_edits_equal_strace(tmp_path: Path) -> None:
    edits = ["-E", "RENACER_SET=a=b", "-E", "RENACER_GONE", "-E", "HOME", "-E", "RENACER_NEVER_SET"]
    env = {**os.environ, "RENACER_GONE": "x", "HOME": str(tmp_path)}

    def program_env(argv: list[str]) -> dict[str, str]:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env)
        assert run.returncode == 0, run.stderr
        return dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)

    ours = program_env([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-o", os.devnull, *edits,
                        "--", "env"])
    theirs = program_env(["strace", "-o", os.devnull, *edits, "env"])
    assert theirs["RENACER_SET"] == "a=b" and "HOME" not in theirs and "RENACER_GONE" not in theirs
    # the same environment, plus the golden thread's hand-off (TRACEPARENT, the run span's
    # logical clock, the OTLP endpoint of the run's receiver)
    assert {k: v for k, v in ours.items() if k in theirs} == theirs
    assert set(ours) - set(theirs) <= {"TRACEPARENT", "RENACER_LOGICAL_CLOCK", "OTEL_EXPORTER_OTLP_ENDPOINT",
                                        "OTEL_EXPORTER_OTLP_PROTOCOL"}


def test_env_edit_of_traceparent_is_joined_and_bad_edits_are_refused(tmp_path: Path) -> None:
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    joined = renacer(tmp_path, "-o", os.devnull, "-E", f"TRACEPARENT={incoming}", "--", "true")
    assert joined.returncode == 0 and joined.stderr.splitlines()[-1] == "trace_id=0af7651916cd43dd8448eb211c80319c"
    for args in (["-E", "=x", "--", "true"], ["-E", "X=1", "-p", "1"]):
        refused = renacer(tmp_path, *args)
        lines = refused.stderr.splitlines()
        assert refused.returncode == 2 and len(lines) == 1 and "-E" in lines[0], refused.stderr


THREADED = r"""
#include <pthread.h>
#include <unistd.h>
static void *worker(void *a) { for (int i = 0; i < 3; i++) getppid(); return a; }
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    pthread_join(t, 0);
    if (fork() == 0) { getpid(); _exit(0); }
    return 0;
}
"""


def _task_calls(path: Path) -> list[str]:
    """The call names of one -ff file, RLE rows expanded; futex is left out (pthread_join's wait
    races the worker's exit, so whether it blocks differs from run to run)."""
    names = []
    for line in trace_lines(path.read_text()):
        repeat = re.search(r" ×(\d+)$", line)
        name = re.match(r"([a-z_0-9]+)\(", line)[1]
        names += [name] * (int(repeat[1]) if repeat else 1)
    return [name for name in names if name != "futex"]


@needs_strace
def test_ff_writes_one_file_per_task_like_strace(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("threaded", THREADED))
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    result = renacer(tmp_path, "-ff", "-o", "ours/t", "--", exe)
    assert result.returncode == 0
    subprocess.run(["strace", "-ff", "-o", "theirs/t", exe], capture_output=True, timeout=120, check=True, cwd=tmp_path)

    def by_task(folder: str) -> list[list[str]]:
        files = sorted((tmp_path / folder).iterdir(), key=lambda f: int(f.suffix[1:]))
        return [_task_calls(f) for f in files]

    ours, theirs = by_task("ours"), by_task("theirs")
    assert len(ours) == 3 and ours == theirs  # main thread, worker, child: the same calls each
    assert not any(re.match(r"\[pid", line) for f in (tmp_path / "ours").iterdir() for line in f.read_text().splitlines())
    assert not (tmp_path / "ours" / "t").exists()
    refused = renacer(tmp_path, "-ff", "--", exe)
    assert refused.returncode == 2 and "-ff needs -o FILE" in refused.stderr


def test_output_to_a_pipe_command(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("misses", MISSES))
    renacer(tmp_path, "-o", "file.txt", "--", exe)
    piped = renacer(tmp_path, "-o", "|cat > piped.txt", "--", exe)
    assert piped.returncode == 0
    assert call_names(trace_lines((tmp_path / "piped.txt").read_text())) == call_names(
        trace_lines((tmp_path / "file.txt").read_text()))
    # a command that stops reading at once costs the run nothing
    early = renacer(tmp_path, "-o", "!true", "--", exe)
    assert early.returncode == 0 and early.stderr.splitlines()[-1].startswith("trace_id=")


def test_qq_leaves_out_exit_lines(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("threaded", THREADED))
    loud = renacer(tmp_path, "--", exe).stderr
    quiet = renacer(tmp_path, "-qq", "--", exe).stderr
    assert loud.count("+++ exited with 0 +++") == 3 and "+++" not in quiet  # the worker, the child, main (strace -f)


FDS = r"""
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
    int fd = open("/etc/hostname", O_RDONLY); char b[4]; read(fd, b, sizeof b);
    int d = dup(fd); close(fd); close(d);
    int p[2]; pipe(p); write(p[1], "x", 1); read(p[0], b, 1);
    fcntl(p[0], F_DUPFD, 10); fcntl(p[0], F_GETFL);
    int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv); write(sv[0], "y", 1);
    int dir = open("/etc", O_RDONLY | O_DIRECTORY); struct stat st; fstatat(dir, "hostname", &st, 0);
    chdir("/tmp"); faccessat(AT_FDCWD, "renacer-none", R_OK, 0);  /* the working directory it has now */
    open("/nonexistent-renacer", O_RDONLY);
    return 0;
}
"""


def _fd_lines_from(text: str, ours: bool, first: str) -> list[str]:
    """The program's lines from the first that matches `first`, inode numbers of pipes and
    sockets as N, spacing and times dropped."""
    lines = [re.sub(r"^\[pid +\d+\] ", "", line) for line in text.splitlines()] if ours else text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(first, line))
    out = []
    for line in lines[start:]:
        if line.startswith(("+++", "exit_group")) or " = " not in line:
            continue
        out.append(re.sub(r"\s+", " ", re.sub(r" <\d+\.\d+>$", "", line)).strip())
    return out


def _fd_lines(text: str, ours: bool) -> list[str]:
    """The program's lines from its open of /etc/hostname, inode numbers as N."""
    lines = _fd_lines_from(text, ours, r'openat\(AT_FDCWD(<[^>]*>)?, "/etc/hostname"')
    return [re.sub(r"(pipe|socket):\[\d+\]", r"\1:[N]", line) for line in lines]


def _both_traced(tmp_path: Path, exe: str, flag: str, decode: str) -> tuple[str, str]:
    """(our text output, strace's) of `exe` under `flag` (-y, -yy), run from `tmp_path`."""
    extra = ["--inline-decode"] if decode == "inline" else []
    ours = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--no-rle", flag, *extra,
                           "-o", "ours.txt", exe], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert ours.returncode == 0, ours.stderr
    subprocess.run(["strace", flag, "-o", "theirs.txt", exe], capture_output=True, timeout=60, check=True, cwd=tmp_path)
    return (tmp_path / "ours.txt").read_text(), (tmp_path / "theirs.txt").read_text()


@needs_strace
@pytest.mark.parametrize("decode", ["apart", "inline"])
def test_y_shows_what_each_fd_refers_to_as_strace(tmp_path: Path, cbuild, decode: str) -> None:
    ours, theirs = _both_traced(tmp_path, str(cbuild("fds", FDS)), "-y", decode)
    mine = _fd_lines(ours, True)
    assert mine == _fd_lines(theirs, False)
    assert 'read(3</etc/hostname>, ' in "\n".join(mine) and "F_DUPFD, 10) = 10<pipe:[N]>" in "\n".join(mine)
    assert "socketpair(AF_UNIX, SOCK_STREAM, 0, [5<socket:[N]>, 6<socket:[N]>]) = 0" in mine
    assert f'openat(AT_FDCWD<{tmp_path}>, "/etc", O_RDONLY|O_DIRECTORY) = 7</etc>' in mine
    assert 'newfstatat(7</etc>, "hostname", ' in "\n".join(mine)
    assert 'faccessat2(AT_FDCWD</tmp>, "renacer-none", R_OK, 0) = -1 ENOENT (No such file or directory)' in mine


SOCKETS = r"""
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
int main(void) {
    int null = open("/dev/null", O_WRONLY); write(null, "x", 1);
    int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv); write(sv[0], "y", 1);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(l, (void *)&a, sizeof a); listen(l, 1); socklen_t len = sizeof a; getsockname(l, (void *)&a, &len);
    int c = socket(AF_INET, SOCK_STREAM, 0); connect(c, (void *)&a, sizeof a);
    int s = accept(l, 0, 0); write(c, "z", 1); close(s);
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 b = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bind(u, (void *)&b, sizeof b); write(u, "", 0);
    int un = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un ua = {.sun_family = AF_UNIX, .sun_path = "yy.sock"};
    bind(un, (void *)&ua, sizeof ua); write(un, "", 0); unlink("yy.sock");
    return 0;
}
"""


def _socket_lines(text: str, ours: bool) -> list[str]:
    """The program's lines from its open of /dev/null, inode numbers as INO and ports as PORT."""
    lines = _fd_lines_from(text, ours, r'openat\(AT_FDCWD(<[^>]*>)?, "/dev/null"')
    lines = [re.sub(r"(?<=[\[>-])\d{4,}\b", "INO", line) for line in lines]
    return [re.sub(r"(?<=[:(])\d{4,5}\b", "PORT", line) for line in lines]


@needs_strace
@pytest.mark.parametrize("decode", ["apart", "inline"])
def test_yy_shows_socket_endpoints_and_device_numbers_as_strace(tmp_path: Path, cbuild, decode: str) -> None:
    raw, theirs = _both_traced(tmp_path, str(cbuild("sockets", SOCKETS)), "-yy", decode)
    mine = _socket_lines(raw, True)
    assert mine == _socket_lines(theirs, False)
    text = "\n".join(mine)
    assert 'write(3</dev/null<char 1:3>>, "x", 1) = 1' in mine
    assert "listen(6<TCP:[127.0.0.1:PORT]>, 1)" in text and "= 8<TCP:[127.0.0.1:PORT->127.0.0.1:PORT]>" in text
    assert "UDPv6:[[::1]:PORT]" in text and 'UNIX:[INO,"yy.sock"]' in text
    pair = re.search(r"\[4<UNIX-STREAM:\[(\d+)->(\d+)\]>, 5<UNIX-STREAM:\[(\d+)->(\d+)\]>\]", raw)
    assert pair and pair[1] == pair[4] and pair[2] == pair[3]  # each end names the other


def test_a_third_y_is_refused_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-yyy", "true"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "-y" in result.stderr and "Traceback" not in result.stderr


def test_T_is_accepted_and_every_line_carries_its_duration(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-T", "-o", "out.txt", "true"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    calls = [line for line in (tmp_path / "out.txt").read_text().splitlines() if " = " in line and "exit_group" not in line]
    assert calls and all(re.search(r" <\d+\.\d{6}>$", line) for line in calls)


def test_w_is_accepted_and_the_table_is_wall_clock_latency(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-c", "-w", "sleep", "0.2"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    (row,) = [line.split() for line in result.stderr.splitlines() if line.endswith(" clock_nanosleep")]
    assert float(row[1]) >= 0.19  # the sleep's wall-clock time, not the ~0 s of CPU it used
