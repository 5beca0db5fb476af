"""Fault suite: the traced program misbehaves. It cannot be executed, it is killed from outside
while blocked in a call, or it forks until the kernel's process limit stops it. Each time the
run answers as strace and the shell do (exit code, the kernel's reason), records what happened,
and leaves a sound store."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.strace_text import summary_table
from tests.test_cli_run import assert_no_traceback, query_json, renacer, trace_id_of

#: Blocks in read(0) after writing its pid where the test can see it.
BLOCKED_READER = r"""
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "w");
    fprintf(f, "%d\n", getpid());
    fclose(f);
    char buf[64];
    return read(0, buf, sizeof buf) < 0;
}
"""

#: A fork bomb bounded by RLIMIT_NPROC. Every process forks up to four children, each of which
#: does the same, until fork fails with EAGAIN at the limit; each reports '+' per child it made,
#: 'x' for the fork that failed (taking its '+' back) and '.' when it stops forking, then waits to be released, so
#: the whole tree is alive at once. The root prints what the bomb made.
BOUNDED_BOMB = r"""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int limit = atoi(argv[1]);
    int report[2], release[2];
    if (pipe(report) || pipe(release)) return 2;
    if (getuid() == 0 && (setgid(65534) || setuid(65534))) return 3;  /* root ignores the limit */
    struct rlimit lim = {limit, limit};
    if (setrlimit(RLIMIT_NPROC, &lim)) return 4;
    int root = 1, depth = 0;
    for (int i = 0; i < 4 && depth < 8; i++) {
        write(report[1], "+", 1);  /* before the child exists, so its '.' always comes after */
        pid_t pid = fork();
        if (pid < 0) { if (errno != EAGAIN) return 5; write(report[1], "x", 1); break; }
        if (pid == 0) { root = 0; depth++; i = -1; continue; }
    }
    write(report[1], ".", 1);
    char c;
    if (!root) {
        close(release[1]);
        while (read(release[0], &c, 1) > 0) {}
        while (wait(NULL) > 0) {}
        return 0;
    }
    long made = 0, done = 0, failed = 0;
    while (done < made + 1 && read(report[0], &c, 1) == 1)
        made += (c == '+') - (c == 'x'), done += c == '.', failed += c == 'x';
    close(release[1]);
    while (wait(NULL) > 0) {}
    printf("made %ld processes, %ld forks failed\n", made, failed);
    return 0;
}
"""


def _doctor_is_clean() -> None:
    result = renacer("db", "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_traceback(result)


def _exec_targets(tmp: Path) -> dict[str, Path]:
    """One file per way an exec fails, made for real."""
    text = tmp / "script-without-x"
    text.write_text("#!/bin/sh\necho hi\n")
    text.chmod(0o644)
    garbage = tmp / "garbage-with-x"
    garbage.write_bytes(b"\x7fELF but not really\n")
    garbage.chmod(0o755)
    shebang = tmp / "missing-interpreter"
    shebang.write_text("#!/nonexistent/interpreter\n")
    shebang.chmod(0o755)
    folder = tmp / "a-directory"
    folder.mkdir()
    return {"missing": tmp / "no-such-program", "not-executable": text, "directory": folder,
            "not-a-program": garbage, "missing-interpreter": shebang}


#: (target, exit code as the shell gives it, the kernel's reason in the message)
EXEC_FAILURES = [
    ("missing", 127, errno.ENOENT),
    ("not-executable", 126, errno.EACCES),
    ("directory", 126, errno.EISDIR),
    ("not-a-program", 126, errno.ENOEXEC),
    ("missing-interpreter", 127, errno.ENOENT),
]


@pytest.mark.parametrize(("target", "code", "err"), EXEC_FAILURES, ids=[c[0] for c in EXEC_FAILURES])
def test_a_program_that_cannot_be_executed_gets_the_shells_code_and_one_line(
        db_path: Path, tmp_path: Path, target: str, code: int, err: int) -> None:
    path = _exec_targets(tmp_path)[target]
    strace = subprocess.run(["strace", "-f", "-o", os.devnull, str(path)], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    assert strace.returncode != 0  # strace cannot run it either

    result = renacer("--no-tui", "-o", os.devnull, "--", str(path))
    assert result.returncode == code, result.stderr
    assert_no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and os.strerror(err) in lines[0], lines
    if err != errno.EISDIR:  # strace reports the kernel's EACCES for a folder; the shell says EISDIR
        assert os.strerror(err) in strace.stderr, strace.stderr
    # Where the exec was tried in the traced child, its failure is a span of a stored run.
    runs = query_json("SELECT trace_id, status, exit_code FROM runs")
    for run in runs:
        assert run["exit_code"] == code and run["status"] == "error", runs
        execs = query_json(f"SELECT status, status_message FROM spans WHERE trace_id = '{run['trace_id']}' "
                           "AND span_name = 'syscall:execve'")
        assert execs == [{"status": "ERROR", "status_message": errno.errorcode[err]}], execs
    _doctor_is_clean()


def test_failed_execs_inside_the_program_are_error_spans_counted_as_strace_counts(
        db_path: Path, tmp_path: Path) -> None:
    targets = _exec_targets(tmp_path)
    script = "; ".join(f"'{targets[name]}' 2>/dev/null" for name, _, _ in EXEC_FAILURES) + "; echo survived"
    argv = ["sh", "-c", script]
    report = tmp_path / "strace-c.txt"
    subprocess.run(["strace", "-f", "-c", "-o", str(report), *argv], check=True, timeout=60, capture_output=True)
    expected = summary_table(report.read_text())["execve"]

    result = renacer("--no-tui", "-o", os.devnull, "--", *argv)
    assert result.returncode == 0 and "survived" in result.stdout, result.stderr
    tid = trace_id_of(result)
    got = query_json("SELECT COUNT(*) AS calls, COUNT(*) FILTER (WHERE status = 'ERROR') AS errors, "
                     "list(DISTINCT status_message ORDER BY status_message) AS reasons FROM spans "
                     f"WHERE trace_id = '{tid}' AND span_name = 'syscall:execve'")[0]
    assert (got["calls"], got["errors"]) == expected, (got, expected)
    assert {"ENOENT", "EACCES", "ENOEXEC"} <= set(got["reasons"]), got
    _doctor_is_clean()


def _kill_when_blocked(argv: list[str], pid_file: Path, out: Path) -> subprocess.CompletedProcess:
    """Run argv with a stdin nobody writes, SIGKILL the program once it waits in read(0)."""
    reader, writer = os.pipe()
    proc = subprocess.Popen(argv, stdin=reader, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(reader)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text().endswith("\n")):
            assert time.monotonic() < deadline and proc.poll() is None, "the program never started"
            time.sleep(0.02)
        pid = int(pid_file.read_text())
        while Path(f"/proc/{pid}/syscall").read_text().split()[0] != "0":  # 0: read, still in it
            assert time.monotonic() < deadline, "the program never blocked in read"
            time.sleep(0.02)
        time.sleep(0.2)  # the tracer has seen the entry (the call is in flight, not starting)
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        os.close(writer)
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _strace_pid_lines(text: str, pid: int) -> list[str]:
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[0] == str(pid)]


def test_a_program_killed_from_outside_mid_call_ends_as_under_strace(
        db_path: Path, tmp_path: Path, cbuild) -> None:
    exe = cbuild("blocked-reader", BLOCKED_READER)
    strace_out, ours_out = tmp_path / "strace.txt", tmp_path / "ours.txt"
    strace = _kill_when_blocked(["strace", "-f", "-o", str(strace_out), str(exe), str(tmp_path / "s.pid")],
                                tmp_path / "s.pid", strace_out)
    strace_tail = _strace_pid_lines(strace_out.read_text(), int((tmp_path / "s.pid").read_text()))[-2:]
    assert strace_tail[0].startswith("read(0,") and strace_tail[1] == "+++ killed by SIGKILL +++", strace_tail

    ours = _kill_when_blocked([sys.executable, "-m", "renacer_tui", "--no-tui", "-o", str(ours_out), "--",
                               str(exe), str(tmp_path / "o.pid")], tmp_path / "o.pid", ours_out)
    # strace kills itself with the program's signal; we exit with the code a shell's $? shows for it
    assert strace.returncode == -signal.SIGKILL and ours.returncode == 128 + signal.SIGKILL, ours.stderr
    assert_no_traceback(ours)
    pid = int((tmp_path / "o.pid").read_text())
    ours_tail = [line.split("] ", 1)[1] for line in ours_out.read_text().splitlines()
                 if re.match(rf"\[pid +{pid}\] ", line)][-2:]
    assert ours_tail[0].startswith("read(0,") and ours_tail[1] == strace_tail[1], ours_tail

    tid = trace_id_of(ours)
    run = query_json(f"SELECT status, exit_code FROM runs WHERE trace_id = '{tid}'")
    assert run == [{"status": "error", "exit_code": 137}], run
    read = query_json("SELECT start_time_nanos AS t0, end_time_nanos AS t1, "
                      "json_extract(attributes, '$.\"syscall.unfinished\"')::BOOLEAN AS unfinished FROM spans "
                      f"WHERE trace_id = '{tid}' AND span_name = 'syscall:read' ORDER BY t0 DESC LIMIT 1")[0]
    assert read["unfinished"] is True and read["t1"] - read["t0"] >= 200_000_000, read  # blocked until killed
    process = query_json(f"SELECT end_time_nanos AS t1, events FROM spans WHERE trace_id = '{tid}' "
                         f"AND span_name LIKE 'process:%' AND process_pid = {pid}")
    assert len(process) == 1 and process[0]["t1"] >= read["t0"], process
    assert "process.killed" in str(process[0]["events"]), process
    _doctor_is_clean()


def test_a_fork_bomb_bounded_by_the_process_limit_is_recorded_whole(
        db_path: Path, cbuild) -> None:
    exe = cbuild("bounded-bomb", BOUNDED_BOMB)
    result = renacer("--no-tui", "-o", os.devnull, "--", str(exe), "64", timeout=180)
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    made, failed = map(int, re.fullmatch(r"made (\d+) processes, (\d+) forks failed\n", result.stdout).groups())
    assert made >= 32 and failed >= 1, result.stdout  # the limit, not the program, ended the bomb
    tid = trace_id_of(result)
    processes = query_json(f"SELECT COUNT(*) AS n, COUNT(DISTINCT process_pid) AS pids FROM spans "
                           f"WHERE trace_id = '{tid}' AND span_name LIKE 'process:%'")[0]
    assert processes == {"n": made + 1, "pids": made + 1}, (processes, made)
    clones = query_json("SELECT status, status_message, SUM(rle_count)::INT AS n FROM spans "
                        f"WHERE trace_id = '{tid}' AND span_name = 'syscall:clone' GROUP BY ALL ORDER BY status")
    assert clones == [{"status": "ERROR", "status_message": "EAGAIN", "n": failed},
                      {"status": "OK", "status_message": None, "n": made}], clones
    unended = query_json(f"SELECT COUNT(*) AS n FROM spans WHERE trace_id = '{tid}' "
                         "AND span_name LIKE 'process:%' AND NOT list_contains(list_transform(events, lambda e: e.name), "
                         "'process.exited')")
    assert unended == [{"n": 0}], unended
    _doctor_is_clean()
