"""Headless outputs of real runs: strace-like text, JSONL, the -c table, the closing lines,
hostile names shown literally, and TRACEPARENT values that must never break a run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from cprograms import WAIT_SLEEPING
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strace_text import summary_table, whole_lines

from renacer_tui.run_options import RunOptions
from renacer_tui.run_pipeline import run_traced

LINE = re.compile(r"^(\[pid +(\d+)\] )?([a-z0-9_]+)\((.*)\) = (.+?)( <\d+\.\d{6}>)?( ×(\d+))?$")

ERRORS = r"""
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    if (fork() == 0) { open("/nonexistent/child", O_RDONLY); _exit(0); }
    wait(NULL);
    open("/nonexistent/parent", O_RDONLY);
    for (int i = 0; i < 50; i++) getppid();
    return 0;
}
"""

HOSTILE = "\x1b[31m[bold red]boom[blink]\x1b]0;title\x07"  # no "/": it is one file name


def renacer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=env, errors="surrogateescape",
    )


EVENT_LINE = re.compile(r"(\[pid +\d+\] )?(--- SIG[A-Z0-9_]+ \{si_signo=.*\} ---|\+\+\+ (exited with \d+|killed by SIG[A-Z0-9_]+( \(core dumped\))?) \+\+\+)$")


def call_lines(text: str) -> list[re.Match]:
    """The syscall lines of a text trace (the summary and trace_id lines are not calls), a call
    another line came between joined into one."""
    out = []
    for line in whole_lines(text):
        if line.startswith(("renacer-tui:", "trace_id=")):
            continue
        if EVENT_LINE.match(line):  # strace's signal and exit lines are not calls
            continue
        match = LINE.match(line)
        assert match, f"not a strace-like line: {line!r}"
        out.append(match)
    return out


def test_text_lines_have_a_pid_prefix_when_following_and_strace_errors(tmp_path: Path, cbuild) -> None:
    exe = cbuild("errors", ERRORS)
    out = tmp_path / "trace.txt"
    result = renacer("-o", str(out), "--", str(exe))
    assert result.returncode == 0, result.stderr
    lines = call_lines(out.read_text())
    assert lines and all(m.group(1) for m in lines)
    assert len({m.group(2) for m in lines}) == 2  # parent and child
    # lines are in call order: the clone that made the child comes before the child's calls
    child = next(m.group(2) for m in lines if m.group(2) != lines[0].group(2))
    clone_at = next(i for i, m in enumerate(lines) if m.group(3) == "clone" and m.group(5) == child)
    assert clone_at < min(i for i, m in enumerate(lines) if m.group(2) == child)
    failed = [m for m in lines if "/nonexistent/" in m.group(4)]
    assert len(failed) == 2
    for m in failed:
        assert m.group(3) == "openat"
        assert m.group(5) == "-1 ENOENT (No such file or directory)"
    # RLE: the 50 identical getppid calls are one line marked ×50
    getppid = [m for m in lines if m.group(3) == "getppid"]
    assert sum(int(m.group(8) or 1) for m in getppid) == 50 and len(getppid) < 50
    # the closing lines go to stderr, not into the trace file
    assert not out.read_text().count("trace_id=")
    tail = result.stderr.strip().splitlines()
    assert re.fullmatch(r"trace_id=[0-9a-f]{32}", tail[-1])
    assert re.fullmatch(r"renacer-tui: \d+ spans \(\d+ rows\) in \d+\.\d\ds, \d+ ptrace stops", tail[-2])


INTERRUPTED = r"""
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
""" + WAIT_SLEEPING + r"""static void on_chld(int s) { (void)s; }
int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_chld;
    sigaction(SIGCHLD, &sa, NULL);
    if (fork() == 0) {  /* exit once the parent sleeps: its SIGCHLD then interrupts the sleep */
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", getppid());
        wait_sleeping(path);
        _exit(0);
    }
    struct timespec ts = {5, 0};
    int r = nanosleep(&ts, NULL);  /* SIGCHLD's handler interrupts it */
    wait(NULL);
    return r == -1 ? 0 : 1;
}
"""


def test_a_call_interrupted_by_a_signal_reads_like_strace(cbuild) -> None:
    exe = cbuild("interrupted", INTERRUPTED)
    result = renacer("-e", "trace=clock_nanosleep,nanosleep", "--", str(exe))
    assert result.returncode == 0, result.stderr
    sleeps = [m for m in call_lines(result.stderr) if m.group(3) in ("clock_nanosleep", "nanosleep")]
    results = [m.group(5) for m in sleeps if m.group(5) != "0"]  # the child's polling sleeps
    assert results == ["? ERESTART_RESTARTBLOCK (Interrupted by signal)"]


def test_no_follow_text_has_no_pid_prefix() -> None:
    result = renacer("--no-follow", "--", "sh", "-c", "/bin/true; /bin/true")
    assert result.returncode == 0, result.stderr
    lines = call_lines(result.stderr)
    assert lines and not any(m.group(1) for m in lines)
    assert [m.group(3) for m in lines].count("execve") == 1  # sh's own; its children are not traced


def test_default_text_goes_to_stderr_and_program_output_is_untouched() -> None:
    result = renacer("--", "echo", "hello")
    assert result.returncode == 0
    assert result.stdout == "hello\n"
    names = [m.group(3) for m in call_lines(result.stderr)]
    assert names[0] == "execve" and "write" in names


def _hostile_file(tmp_path: Path) -> Path:
    path = tmp_path / HOSTILE
    path.write_text("x")
    return path


def test_hostile_names_are_escaped_in_text(tmp_path: Path) -> None:
    path = _hostile_file(tmp_path)
    out = tmp_path / "trace.txt"
    result = renacer("-o", str(out), "-e", "trace=openat", "--", "cat", str(path))
    assert result.returncode == 0, result.stderr
    raw = out.read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw
    text = raw.decode()
    expected = "\\33[31m[bold red]boom[blink]\\33]0;title\\7"
    opened = [m for m in call_lines(text) if expected in m.group(4)]
    assert len(opened) == 1 and opened[0].group(5) == "3"
    assert "\x1b" not in result.stderr


def test_hostile_names_are_escaped_in_jsonl(tmp_path: Path) -> None:
    path = _hostile_file(tmp_path)
    program = tmp_path / ("prog" + HOSTILE[:6])
    shutil.copy("/bin/cat", program)
    out = tmp_path / "trace.jsonl"
    result = renacer("--format", "jsonl", "-o", str(out), "--", str(program), str(path))
    assert result.returncode == 0, result.stderr
    raw = out.read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw
    spans = [json.loads(line) for line in raw.decode().splitlines()]
    # decoded, no text field holds a control character: the escapes are literal backslashes
    for span in spans:
        for key in ("span_name", "process_name", "process_cmdline", "status_message"):
            assert not re.search(r"[\x00-\x1f\x7f]", span[key] or ""), (key, span[key])
        for key in ("syscall.args", "syscall.pathname", "process.command_line"):
            assert not re.search(r"[\x00-\x1f\x7f]", span["attributes"].get(key, "")), (key, span["attributes"][key])
    opened = [s for s in spans if s["attributes"].get("syscall.pathname", "").endswith("[blink]\\33]0;title\\7")]
    assert len(opened) == 1
    assert opened[0]["attributes"]["syscall.pathname"] == f"{tmp_path}/\\33[31m[bold red]boom[blink]\\33]0;title\\7"
    proc = next(s for s in spans if s["span_name"].startswith("process:"))
    assert proc["process_name"] == "prog\\33[31m["  # the comm, escaped
    run = next(s for s in spans if s["span_name"].startswith("renacer:run"))
    assert "\\33[31m[bold red]boom" in run["span_name"]


def test_summary_table_counts_equal_strace(tmp_path: Path, cbuild) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    exe = cbuild("errors", ERRORS)
    report = tmp_path / "strace.txt"
    subprocess.run(["strace", "-f", "-c", "-o", str(report), str(exe)], check=True, timeout=60)

    theirs = summary_table(report.read_text())
    result = renacer("-c", "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert "% time     seconds  usecs/call     calls    errors syscall" in result.stderr
    ours = summary_table(result.stderr)
    assert ours == theirs
    assert ours["openat"][1] >= 2 and ours["getppid"] == (50, 0)


@pytest.mark.parametrize("spec", ["%file", "%process", "getppid,wait4"])
def test_filtered_summary_equals_strace_seccomp_bpf(tmp_path: Path, cbuild, spec: str) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    exe = cbuild("errors", ERRORS)
    report = tmp_path / "strace.txt"
    subprocess.run(
        ["strace", "-f", "--seccomp-bpf", "-e", f"trace={spec}", "-c", "-o", str(report), str(exe)],
        check=True, timeout=60,
    )
    theirs = {line.split()[-1]: int(line.split()[3]) for line in report.read_text().splitlines()
              if re.match(r"^\s*\d+\.\d+ ", line) and not line.endswith("total")}
    result = renacer("-c", "-e", f"trace={spec}", "--", str(exe))
    assert result.returncode == 0, result.stderr
    ours = {line.split()[-1]: int(line.split()[3]) for line in result.stderr.splitlines()
            if re.match(r"^\s*\d+\.\d\d ", line) and not line.endswith("total")}
    assert ours == theirs and ours


def test_summary_with_a_filter_counts_only_the_filtered_calls(tmp_path: Path, cbuild) -> None:
    exe = cbuild("errors", ERRORS)
    result = renacer("-c", "-e", "trace=openat", "--", str(exe))
    assert result.returncode == 0, result.stderr
    names = {line.split()[-1] for line in result.stderr.splitlines() if re.match(r"^\s*\d+\.\d\d ", line)}
    assert names == {"openat", "total"}


# -- TRACEPARENT: any value, never a crash ------------------------------------------------------

_HEX = "0123456789abcdef"
_near_valid = st.builds(
    lambda v, t, s, f, tail: f"{v}-{t}-{s}-{f}{tail}",
    st.sampled_from(["00", "01", "ff", "0", "zz", "FF"]),
    st.one_of(st.text(_HEX, min_size=32, max_size=32), st.just("0" * 32), st.text(_HEX + "X", min_size=30, max_size=34)),
    st.one_of(st.text(_HEX, min_size=16, max_size=16), st.just("0" * 16), st.text(_HEX + "g", min_size=15, max_size=17)),
    st.sampled_from(["00", "01", "ff", "1", "0x"]),
    st.sampled_from(["", "-extra", " ", "\t", "\n", "-"]),
)
_any_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80)
_STRICT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_LOOSE = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def _run_with_traceparent(value: str) -> tuple[int, str]:
    """A real (in-process) headless run of /bin/true with TRACEPARENT=value; (exit code, stderr).

    Stderr is caught on descriptor 2, not in a StringIO: the run's last lines come from the
    decoder process when the run forks one, and from this process when it decodes inline.
    """
    saved = os.environ.get("TRACEPARENT")
    os.environ["TRACEPARENT"] = value
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            with open(2, "w", encoding="utf-8", closefd=False) as fd2, redirect_stderr(fd2):
                code = run_traced(RunOptions(command=["/bin/true"], store=False, output=Path(os.devnull)))
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            if saved is None:
                os.environ.pop("TRACEPARENT", None)
            else:
                os.environ["TRACEPARENT"] = saved
        caught.seek(0)
        return code, caught.read().decode("utf-8", "replace")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_near_valid, _any_text))
def test_any_traceparent_never_breaks_a_run(value: str) -> None:
    code, stderr = _run_with_traceparent(value)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    trace_ids = [line[len("trace_id="):] for line in lines if line.startswith("trace_id=")]
    assert len(trace_ids) == 1 and re.fullmatch(r"[0-9a-f]{32}", trace_ids[0]) and int(trace_ids[0], 16)
    warnings = [line for line in lines if "warning" in line]
    assert len(warnings) <= 1
    assert len(lines) == 2 + len(warnings)  # the warning is one line, whatever the value holds
    strict = _STRICT.fullmatch(value)
    if strict and int(strict.group(1), 16) and int(strict.group(2), 16):
        assert trace_ids[0] == strict.group(1) and not warnings
    elif value and not _LOOSE.search(value):
        assert len(warnings) == 1 and "TRACEPARENT" in warnings[0]
        assert "\x1b" not in warnings[0] and "\n" not in warnings[0]


def test_traceparent_reaches_the_program_and_the_run_joins_it(tmp_path: Path) -> None:
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    out = tmp_path / "t.jsonl"
    env = dict(os.environ, TRACEPARENT=incoming)
    result = renacer("--format", "jsonl", "-o", str(out), "--", "sh", "-c", 'echo "$TRACEPARENT"', env=env)
    assert result.returncode == 0, result.stderr
    spans = [json.loads(line) for line in out.read_text().splitlines()]
    run = next(s for s in spans if s["span_name"].startswith("renacer:run"))
    assert run["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert run["parent_span_id"] == "b7ad6b7169203331"  # child of the caller's span
    assert result.stdout.strip() == f"00-{run['trace_id']}-{run['span_id']}-01"


def test_summary_counts_calls_whose_arguments_hold_an_attribute_key(tmp_path: Path) -> None:
    """A file named like an attribute key (`syscall.unfinished`, `renacer.filtered`) is just an
    argument: its openat is counted by -c and printed by the text output, as strace does."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    files = [tmp_path / "syscall.unfinished", tmp_path / "renacer.filtered", tmp_path / "plain"]
    for path in files:
        path.write_text("x\n")
    command = ["cat", *map(str, files)]
    report = tmp_path / "strace.txt"
    subprocess.run(["strace", "-f", "-c", "-e", "trace=openat", "-o", str(report), *command],
                   check=True, timeout=60, capture_output=True)
    theirs = {line.split()[-1]: int(line.split()[3]) for line in report.read_text().splitlines()
              if re.match(r"^\s*\d+\.\d+ ", line) and not line.endswith("total")}
    result = renacer("-c", "-e", "trace=openat", "--", *command)
    assert result.returncode == 0, result.stderr
    ours = {line.split()[-1]: int(line.split()[3]) for line in result.stderr.splitlines()
            if re.match(r"^\s*\d+\.\d\d ", line) and not line.endswith("total")}
    assert ours == theirs and ours["openat"] >= len(files)
    text = tmp_path / "trace.txt"
    result = renacer("-o", str(text), "-e", "trace=openat", "--", *command)
    assert result.returncode == 0, result.stderr
    opened = [m.group(4) for m in call_lines(text.read_text()) if m.group(3) == "openat"]
    for path in files:
        assert sum(f'"{path}"' in args for args in opened) == 1


def test_stdin_file_is_the_programs_input_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    given = tmp_path / "input.txt"
    given.write_bytes(b"abc\x00def\n")
    result = renacer("--stdin", str(given), "--", "cat")
    assert result.returncode == 0 and result.stdout == "abc\x00def\n"
    missing = renacer("--stdin", str(tmp_path / "none"), "--", "cat")
    assert missing.returncode == 2 and missing.stderr.strip() == (
        f"renacer-tui: --stdin {tmp_path / 'none'}: No such file or directory")
