"""Signals and exits as records: strace's `--- SIG… {siginfo} ---` and `+++ exited/killed +++`
lines, against strace 6.1 on a real program, and the same facts as span events in the store and
the JSONL output (stored as events, so OTLP and Perfetto carry them too)."""

from __future__ import annotations

import json
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.model.attributes import EVENT_EXITED, EVENT_KILLED, EVENT_SIGNAL
from renacer_tui.store import Store
from renacer_tui.tracer.ptrace_raw import SIGINFO_BYTES
from renacer_tui.tracer.siginfo import decode_siginfo
from tests.test_strace_options import needs_strace

SIGNALS = r"""
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_signal(int s) { (void)s; }
int main(void) {
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, 0); sigaction(SIGUSR2, &sa, 0); sigaction(SIGCHLD, &sa, 0);
    /* SIGCHLD stays blocked but where it is let through: it is delivered at the same call in
       every run, not wherever the child's exit happens to fall */
    sigset_t chld; sigemptyset(&chld); sigaddset(&chld, SIGCHLD); sigprocmask(SIG_BLOCK, &chld, 0);
    kill(getpid(), SIGUSR1);                                        /* SI_USER */
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);    /* SI_TKILL */
    pid_t c = fork();
    if (c == 0) _exit(3);                                           /* CLD_EXITED, status 3 */
    waitpid(c, 0, 0);
    sigprocmask(SIG_UNBLOCK, &chld, 0); sigprocmask(SIG_BLOCK, &chld, 0);
    c = fork();
    if (c == 0) { kill(getpid(), SIGKILL); pause(); }               /* CLD_KILLED, SIGKILL */
    waitpid(c, 0, 0);
    sigprocmask(SIG_UNBLOCK, &chld, 0); sigprocmask(SIG_BLOCK, &chld, 0);
    c = fork();
    if (c == 0) { *(volatile int *)0 = 1; _exit(0); }               /* SEGV_MAPERR at NULL */
    waitpid(c, 0, 0);
    sigprocmask(SIG_UNBLOCK, &chld, 0); sigprocmask(SIG_BLOCK, &chld, 0);
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 7});    /* SI_QUEUE with a value */
    return 4;
}
"""


def _renacer(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", *args],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _per_process(text: str, ours: bool) -> list[list[str]]:
    """Each process's lines in order, as tokens: a call's name (RLE rows expanded), or a whole
    `---`/`+++` line with pids numbered by first appearance (the runs get different pids)."""
    line_re = re.compile(r"\[pid +(\d+)\] (.*)" if ours else r"(\d+) +(.*)")
    numbering: dict[str, str] = {}
    sequences: dict[str, list[str]] = {}
    for line in text.splitlines():
        found = line_re.match(line)
        if found is None:
            continue
        pid, rest = found.groups()
        numbering.setdefault(pid, f"P{len(numbering)}")
        if rest.startswith(("---", "+++")):
            tokens = [re.sub(r"si_pid=(\d+)", lambda m: "si_pid=" + numbering.setdefault(m[1], f"P{len(numbering)}"),
                             rest.strip())]
        elif rest.startswith("<..."):
            continue  # strace's resumption of an interleaved call (one line per call here)
        else:
            repeat = re.search(r" ×(\d+)$", rest)
            tokens = [re.match(r"([a-z_0-9]+)\(", rest)[1]] * (int(repeat[1]) if repeat else 1)
        sequences.setdefault(pid, []).extend(tokens)
    return list(sequences.values())


@needs_strace
@pytest.mark.parametrize("decode", ["apart", "inline"])
def test_signal_and_exit_lines_equal_strace(tmp_path: Path, cbuild, decode: str) -> None:
    exe = str(cbuild("signals", SIGNALS))
    extra = ["--inline-decode"] if decode == "inline" else []
    result = _renacer(tmp_path, "--no-store", *extra, "-o", "ours.txt", "--", exe)
    assert result.returncode == 4
    ours = (tmp_path / "ours.txt").read_text()
    subprocess.run(["strace", "-f", "-o", "theirs.txt", exe], capture_output=True, timeout=120, cwd=tmp_path)
    theirs = (tmp_path / "theirs.txt").read_text()
    # every call, signal and exit of each process, in strace's order
    assert _per_process(ours, True) == _per_process(theirs, False)
    assert "si_code=SI_TKILL" in ours and "si_status=SIGKILL" in ours and "si_addr=NULL" in ours
    assert re.search(r"\+\+\+ killed by SIGSEGV( \(core dumped\))? \+\+\+", ours)
    assert ours.rstrip().endswith("+++ exited with 4 +++")


def test_signals_and_exits_are_span_events_in_the_store_and_jsonl(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("signals", SIGNALS))
    result = _renacer(tmp_path, "--db", str(tmp_path / "db"), "--format", "jsonl", "-o", "out.jsonl", "--", exe)
    assert result.returncode == 4
    store = Store.open(tmp_path / "db")
    try:
        rows = store.query("SELECT span_name, process_pid, events FROM spans WHERE events IS NOT NULL").to_pylist()
    finally:
        store.close()
    events = [(row["span_name"], row["process_pid"], e["name"], json.loads(e["attributes"]))
              for row in rows for e in row["events"]]
    root = min(pid for _n, pid, _e, _a in events)
    delivered = [(name, a["signal.name"], a.get("signal.code")) for name, pid, e, a in events
                 if e == EVENT_SIGNAL and pid == root]
    # each delivery rides on the call the handler's return makes next
    assert delivered == [("syscall:rt_sigreturn", "SIGUSR1", "SI_USER"), ("syscall:rt_sigreturn", "SIGUSR2", "SI_TKILL")] + [
        ("syscall:rt_sigreturn", "SIGCHLD", code) for code in ("CLD_EXITED", "CLD_KILLED", "CLD_KILLED")
    ] + [("syscall:rt_sigreturn", "SIGUSR1", "SI_QUEUE")]
    senders = [a["signal.sender_pid"] for _n, pid, e, a in events if e == EVENT_SIGNAL and pid == root]
    assert senders[:2] == [root, root] and all(s != root for s in senders[2:5])
    endings = sorted((e, a.get("process.exit_code", a.get("process.signal"))) for n, _p, e, a in events
                     if n.startswith("process:") and e in (EVENT_EXITED, EVENT_KILLED))
    assert endings == [(EVENT_EXITED, 3), (EVENT_EXITED, 4), (EVENT_KILLED, "SIGKILL"), (EVENT_KILLED, "SIGSEGV")]
    # the SIGSEGV child made no call after the fault: its delivery is an event of its process span
    assert any(n.startswith("process:") and a.get("signal.address") == "NULL" for n, _p, e, a in events)
    spans = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    names = [e["name"] for s in spans for e in (s.get("events") or ())]
    assert names.count(EVENT_SIGNAL) == 7 and names.count(EVENT_EXITED) == 2 and names.count(EVENT_KILLED) == 2


def _siginfo(signo: int, code: int, rest: bytes) -> bytes:
    return struct.pack("<iii4x", signo, 0, code) + rest.ljust(SIGINFO_BYTES - 16, b"\0")


def test_siginfo_rendering_follows_strace() -> None:
    child = _siginfo(signal.SIGCHLD, 1, struct.pack("<iIi4xqq", 42, 1000, 3, 5, 6))
    assert decode_siginfo(signal.SIGCHLD, child)[1] == (
        "{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=42, si_uid=1000, si_status=3, si_utime=5, si_stime=6}")
    fault = _siginfo(signal.SIGBUS, 2, struct.pack("<Q", 0xdead000))
    assert decode_siginfo(signal.SIGBUS, fault)[1] == "{si_signo=SIGBUS, si_code=BUS_ADRERR, si_addr=0xdead000}"
    kernel = _siginfo(signal.SIGALRM, 0x80, b"")
    assert decode_siginfo(signal.SIGALRM, kernel)[1] == "{si_signo=SIGALRM, si_code=SI_KERNEL}"
    queued = _siginfo(signal.SIGRTMIN + 2, -1, struct.pack("<iIq", 9, 0, -1))
    attrs, text = decode_siginfo(signal.SIGRTMIN + 2, queued)
    assert text == "{si_signo=SIGRT_4, si_code=SI_QUEUE, si_pid=9, si_uid=0, si_int=-1, si_ptr=0xffffffffffffffff}"
    assert attrs["signal.sender_pid"] == 9 and attrs["signal.number"] == signal.SIGRTMIN + 2
    # PTRACE_GETSIGINFO failed: only the number is known
    assert decode_siginfo(signal.SIGTERM, b"")[1] == "{si_signo=SIGTERM}"


@given(st.integers(1, 64), st.binary(max_size=SIGINFO_BYTES + 8))
def test_any_siginfo_bytes_render_as_one_brace_group(signo: int, raw: bytes) -> None:
    attrs, text = decode_siginfo(signo, raw)
    assert text.startswith("{si_signo=") and text.endswith("}") and "\n" not in text
    assert text.count("{") == 1 and attrs["signal.number"] == signo


@needs_strace
@pytest.mark.parametrize("spec", ["SIGCHLD", "!SIGCHLD,usr2", "none", "10"])
def test_signal_qualifier_keeps_the_signals_strace_keeps(tmp_path: Path, cbuild, spec: str) -> None:
    exe = str(cbuild("signals", SIGNALS))
    result = _renacer(tmp_path, "--no-store", "-e", f"signal={spec}", "-o", "ours.txt", "--", exe)
    assert result.returncode == 4
    subprocess.run(["strace", "-f", "-e", f"signal={spec}", "-o", "theirs.txt", exe], capture_output=True,
                   timeout=120, cwd=tmp_path)
    ours = _per_process((tmp_path / "ours.txt").read_text(), True)
    assert ours == _per_process((tmp_path / "theirs.txt").read_text(), False)


def test_unknown_signal_is_refused_in_one_line(tmp_path: Path) -> None:
    result = _renacer(tmp_path, "--no-store", "-e", "signal=SIGNOPE", "--", "true")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "renacer-tui: unknown signal 'SIGNOPE'"]
