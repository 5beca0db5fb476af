"""`-e inject=` (strace's fault injection) on a real program, against strace 6.1: which calls
are failed or faked (`when=`), what the program then sees, the `(INJECTED)` marks, a signal=
delivery; bad specs get one line and exit 2; the spec parser is property-tested."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.tracer.filter_spec import FilterSpecError
from renacer_tui.tracer.inject import Injection, parse_inject_spec
from tests.test_strace_options import needs_strace

PROGRAM = r"""
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 4; i++) printf("getppid %d\n", getppid());
    for (int i = 0; i < 3; i++) printf("mkdir %d\n", mkdir("/nonexistent-renacer/x", 0700));
    return 0;
}
"""

SPECS = ["-e", "inject=getppid:retval=42:when=2..3", "-e", "inject=mkdir:error=EACCES:when=2+"]


def _calls(text: str, ours: bool) -> list[str]:
    """`name = result[ (INJECTED)]` per call of getppid/mkdir, RLE rows expanded."""
    out = []
    for line in text.splitlines():
        found = re.match(r"(?:\[pid +\d+\] )?(getppid|mkdir)\(.*?\) += (.*?)( \(INJECTED\))?(?: <[\d.]+>)?( ×(\d+))?$",
                         line.strip())
        if found:
            result = "PPID" if found[1] == "getppid" and found[2] != "42" else found[2]
            out += [f"{found[1]} = {result}{found[3] or ''}"] * (int(found[5]) if found[5] else 1)
    return out


@needs_strace
@pytest.mark.parametrize("extra", [[], ["--inline-decode"], ["-e", "trace=mkdir,getppid"]],
                         ids=["apart", "inline", "seccomp"])
def test_injected_results_equal_strace(tmp_path: Path, cbuild, extra: list[str]) -> None:
    exe = str(cbuild("inject", PROGRAM))
    ours = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", *extra, *SPECS,
                           "-o", "ours.txt", "--", exe], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=tmp_path)
    theirs = subprocess.run(["strace", "-o", "theirs.txt", *SPECS, exe], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    # the program saw the same under both: its 2nd and 3rd getppid returned 42, every mkdir failed
    def seen_by_program(stdout: str) -> str:
        return re.sub(r"getppid (?!42\b)\d+", "getppid PPID", stdout)

    assert seen_by_program(ours.stdout) == seen_by_program(theirs.stdout)
    seen = [line.split()[1] for line in ours.stdout.splitlines()]
    assert seen[1:3] == ["42", "42"] and seen[0] != "42" and seen[3] != "42" and seen[4:] == ["-1", "-1", "-1"]
    expected = _calls((tmp_path / "theirs.txt").read_text(), False)
    assert expected == ["getppid = PPID", "getppid = 42 (INJECTED)", "getppid = 42 (INJECTED)", "getppid = PPID",
                        "mkdir = -1 ENOENT (No such file or directory)",
                        "mkdir = -1 EACCES (Permission denied) (INJECTED)",
                        "mkdir = -1 EACCES (Permission denied) (INJECTED)"]
    assert _calls((tmp_path / "ours.txt").read_text(), True) == expected


@needs_strace
def test_injected_signal_is_delivered_as_strace_delivers_it(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("inject", PROGRAM))
    spec = ["-e", "inject=getppid:signal=SIGUSR1:when=2"]
    ours = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", *spec, "-o", "ours.txt",
                           "--", exe], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          cwd=tmp_path)
    subprocess.run(["strace", "-o", "theirs.txt", *spec, exe], capture_output=True, timeout=120, cwd=tmp_path)
    assert ours.returncode == 128 + 10  # killed by SIGUSR1 after its second getppid

    def tail(text: str) -> list[str]:
        lines = [re.sub(r"^\[pid +\d+\] ", "", line) for line in text.splitlines()]
        return [re.sub(r" <[\d.]+>$", "", re.sub(r"= \d+", "= N", re.sub(r"\s+=\s+", " = ", line)))
                for line in lines[-3:]]

    assert tail((tmp_path / "ours.txt").read_text()) == tail((tmp_path / "theirs.txt").read_text()) == [
        "getppid() = N", "--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_KERNEL} ---", "+++ killed by SIGUSR1 +++"]


@pytest.mark.parametrize("spec, message", [
    ("inject=getppid", "needs error=ERRNO, retval=N or signal=SIG"),
    ("inject=getppid:error=ENOPE", "not an errno name"),
    ("inject=getppid:when=0:error=EIO", "expected FIRST"),
    ("inject=getppid:error=EIO:retval=1", "not both"),
    ("inject=nosuchcall:error=EIO", "unknown syscall name"),
    ("inject=getppid:error=EIO:when=5..2", "LAST is before FIRST"),
])
def test_bad_inject_specs_are_one_line(spec: str, message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-e", spec, "--", "true"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr


def test_inject_needs_a_launched_program() -> None:
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-e",
                             "inject=read:error=EIO", "-p", "1"], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "not -p PID" in result.stderr


@pytest.mark.parametrize("when, chosen", [
    ("3", [3]), ("3+", [3, 4, 5, 6, 7, 8]), ("3+2", [3, 5, 7]), ("2..4", [2, 3, 4]), ("2..7+3", [2, 5]), ("1+", list(range(1, 9))),
])
def test_when_counts_as_strace(when: str, chosen: list[int]) -> None:
    injection = parse_inject_spec(f"read:error=EIO:when={when}")
    assert [n for n in range(1, 9) if injection.applies(n)] == chosen


@given(st.text(max_size=40))
def test_any_inject_text_parses_or_is_refused(text: str) -> None:
    try:
        injection = parse_inject_spec(text)
    except FilterSpecError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(injection, Injection) and injection.numbers
        assert injection.replaces_call or injection.signal is not None
