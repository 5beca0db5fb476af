"""The raw ptrace loop on real programs: what it reports, what it filters, how runs end.

The in-process tests drive `CaptureSession` with a listener that records every event (the
loop's whole contract); the command-line tests check exit codes and signal relay the way a
shell sees them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cprograms import DIES_IN_READ

from renacer_tui.model.syscalls import SYSCALL_NAMES, SYSCALL_NUMBERS
from renacer_tui.tracer.capture import CaptureOptions, CaptureResult, CaptureSession

LOOPER = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 3000; i++) getppid();
    for (int i = 0; i < 3; i++) close(open("/dev/null", O_RDONLY));
    return 0;
}
"""

TREE = r"""
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
static void *worker(void *arg) { getppid(); return arg; }
int main(void) {
    pid_t child = fork();
    if (child == 0) { getppid(); _exit(4); }
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    int st;
    waitpid(child, &st, 0);
    return WEXITSTATUS(st) == 4 ? 0 : 1;
}
"""

SIGNALS = r"""
#include <signal.h>
#include <string.h>
#include <unistd.h>
static volatile sig_atomic_t got;
static void on_usr1(int s) { got = s; }
static void on_int(int s) { (void)s; write(1, "got SIGINT\n", 11); _exit(42); }
int main(int argc, char **argv) {
    signal(SIGUSR1, on_usr1);
    signal(SIGINT, on_int);
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        write(1, "ready\n", 6);
        for (;;) pause();
    }
    if (argc > 1 && strcmp(argv[1], "term") == 0) { raise(SIGTERM); return 9; }
    if (argc > 1 && strcmp(argv[1], "segv") == 0) { raise(SIGSEGV); return 9; }
    kill(getpid(), SIGUSR1);
    return got == SIGUSR1 ? 5 : 1;
}
"""


@dataclass
class Recorder:
    """A CaptureListener that keeps every event, in the order the loop reported them."""

    entries: list[tuple[int, int, str]] = field(default_factory=list)  # (tid, tgid, name)
    exits: list[tuple[int, int, bool]] = field(default_factory=list)  # (tid, ret, is_error)
    tasks: list[tuple[int, int, int, bool]] = field(default_factory=list)  # (tid, tgid, parent, thread)
    execs: list[tuple[int, int]] = field(default_factory=list)
    signals: list[tuple[int, int]] = field(default_factory=list)
    gone: list[tuple[int, int]] = field(default_factory=list)  # (tid, wait status)
    stops: list[tuple[int, int]] = field(default_factory=list)  # (tid, the stopping signal)
    open_calls: dict[int, str] = field(default_factory=dict)  # tid -> syscall in flight
    unfinished: list[tuple[int, str]] = field(default_factory=list)
    started: int | None = None
    detached: bool = False

    def on_start(self, tid: int, t_ns: int) -> None:
        self.started = tid

    def on_syscall_entry(self, tid, tgid, nr, args, t_ns, mem) -> None:  # noqa: ANN001
        name = SYSCALL_NAMES.get(nr, str(nr))
        self.entries.append((tid, tgid, name))
        self.open_calls[tid] = name

    def on_syscall_exit(self, tid, ret, is_error, t_ns, mem) -> None:  # noqa: ANN001
        self.exits.append((tid, ret, is_error))
        self.open_calls.pop(tid, None)

    def on_new_task(self, tid: int, tgid: int, parent_tid: int, is_thread: bool, t_ns: int) -> None:
        self.tasks.append((tid, tgid, parent_tid, is_thread))

    def on_exec(self, tid: int, tgid: int, former_tid: int, t_ns: int) -> None:
        self.execs.append((tid, tgid))

    def on_injected(self, tid: int) -> None:
        pass

    def on_signal(self, tid: int, signo: int, sender_pid: int, t_ns: int, siginfo: bytes) -> None:
        self.signals.append((tid, signo))

    def on_group_stop(self, tid: int, signo: int, t_ns: int) -> None:
        self.stops.append((tid, signo))

    def on_exit(self, tid: int, wait_status: int, t_ns: int) -> None:
        self.gone.append((tid, wait_status))
        name = self.open_calls.pop(tid, None)
        if name is not None:
            self.unfinished.append((tid, name))

    def on_detach(self, t_ns: int) -> None:
        self.detached = True

    def names(self) -> Counter[str]:
        return Counter(name for _tid, _tgid, name in self.entries)


def capture(argv: list[str], **options) -> tuple[CaptureResult, Recorder]:
    session = CaptureSession(CaptureOptions(argv=argv, **options))
    session.start()
    recorder = Recorder()
    return session.run(recorder), recorder


def renacer(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """The real command line in its own session (no controlling terminal, like a CI job)."""
    return subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs,
    )


# -- the loop ----------------------------------------------------------------------------------


def test_every_syscall_is_reported_with_entry_and_exit(cbuild) -> None:
    exe = cbuild("looper", LOOPER)
    result, rec = capture([str(exe)])
    assert result.exit_code == 0 and not result.detached
    names = rec.names()
    assert names["getppid"] == 3000
    assert names["openat"] >= 3 and names["close"] >= 3
    assert rec.entries[0][2] == "execve"  # the root is reported from its execve on
    # every call but the final exit_group returned; each return was a stop, as was each entry
    assert len(rec.exits) == len(rec.entries) - 1 and rec.unfinished == [(result.root_pid, "exit_group")]
    assert result.stops >= len(rec.entries) + len(rec.exits)


def test_seccomp_filter_means_untraced_calls_never_stop(cbuild) -> None:
    exe = cbuild("looper", LOOPER)
    full, _ = capture([str(exe)])
    filtered, rec = capture([str(exe)], traced_numbers=frozenset({SYSCALL_NUMBERS["openat"]}))
    assert filtered.exit_code == 0
    names = rec.names()
    assert names["openat"] >= 3
    assert "getppid" not in names and "close" not in names
    assert set(names) <= {"openat", "execve"}  # execve: the kernel filter keeps exec visible
    # 3000 getppid + 3 close + the loader's calls stopped twice each without the filter; with it
    # only the openat calls (a seccomp stop and an exit stop each) and the execve stop remain.
    assert full.stops > 6000
    assert filtered.stops <= 2 * sum(names.values()) + 4
    assert filtered.stops < full.stops / 50


def test_forks_and_threads_are_told_apart(cbuild) -> None:
    exe = cbuild("tree", TREE)
    result, rec = capture([str(exe)])
    assert result.exit_code == 0
    root = result.root_pid
    processes = [t for t in rec.tasks if not t[3]]
    threads = [t for t in rec.tasks if t[3]]
    assert len(processes) == 1 and len(threads) == 1
    child, thread = processes[0], threads[0]
    assert child[1] == child[0] and child[2] == root  # a process is its own thread group
    assert thread[1] == root and thread[0] != root  # a thread belongs to the root's group
    getppid_callers = {(tid, tgid) for tid, tgid, name in rec.entries if name == "getppid"}
    assert getppid_callers == {(child[0], child[0]), (thread[0], root)}
    assert result.tasks_seen == 3
    reaped = dict(rec.gone)
    assert os.WIFEXITED(reaped[child[0]]) and os.WEXITSTATUS(reaped[child[0]]) == 4


def test_no_follow_traces_only_the_first_process(cbuild) -> None:
    exe = cbuild("tree", TREE)
    result, rec = capture([str(exe)], follow=False)
    assert result.exit_code == 0
    assert rec.tasks == []
    assert {tid for tid, _tgid, _name in rec.entries} == {result.root_pid}
    assert rec.names()["getppid"] == 0  # the child and the thread called it, not the root


def test_a_process_killed_inside_a_syscall_leaves_it_unfinished(cbuild) -> None:
    exe = cbuild("dies-in-read", DIES_IN_READ)
    result, rec = capture([str(exe)])
    assert result.exit_code == 0
    child = next(t[0] for t in rec.tasks if not t[3])
    assert (child, "read") in rec.unfinished
    status = dict(rec.gone)[child]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_a_programs_own_signal_reaches_it(cbuild) -> None:
    exe = cbuild("signals", SIGNALS)
    result, rec = capture([str(exe)])
    assert result.exit_code == 5  # the handler ran: the program saw SIGUSR1
    assert (result.root_pid, signal.SIGUSR1) in rec.signals


# -- exit codes and signal relay, as a shell sees them -------------------------------------------


@pytest.mark.parametrize(("arg", "code"), [("", 5), ("term", 143), ("segv", 139)])
def test_exit_code_is_the_programs_or_128_plus_signal(cbuild, arg: str, code: int) -> None:
    exe = cbuild("signals", SIGNALS)
    result = renacer("-o", os.devnull, "--", str(exe), *([arg] if arg else []))
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr


def test_sigint_to_the_tracer_is_forwarded_to_the_program(cbuild) -> None:
    exe = cbuild("signals", SIGNALS)
    tracer = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-o", os.devnull, "--", str(exe), "wait"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert tracer.stdout.readline() == b"ready\n"
        tracer.send_signal(signal.SIGINT)
        out, err = tracer.communicate(timeout=30)
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
    assert out == b"got SIGINT\n"  # the program's own handler ran
    assert tracer.returncode == 42, err
    assert b"Traceback" not in err


def test_sigterm_to_the_tracer_ends_a_program_that_does_not_handle_it() -> None:
    tracer = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-o", os.devnull, "--",
         "sh", "-c", "echo ready; exec sleep 30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert tracer.stdout.readline() == b"ready\n"
        tracer.send_signal(signal.SIGTERM)
        _out, err = tracer.communicate(timeout=30)
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
    assert tracer.returncode == 143, err
    assert re_trace_id(err.decode())


def re_trace_id(stderr: str) -> bool:
    return any(line.startswith("trace_id=") and len(line) == len("trace_id=") + 32 for line in stderr.splitlines())


def test_unknown_pid_and_missing_program_are_one_line(tmp_path: Path) -> None:
    missing = renacer("--", str(tmp_path / "nope"))
    assert missing.returncode == 127
    assert missing.stderr.strip().count("\n") == 0 and missing.stderr.startswith("renacer-tui: ")
    assert "renacer-tui: renacer-tui" not in missing.stderr
    attach = renacer("-p", "999999999")
    assert attach.returncode == 1
    assert attach.stderr.strip().count("\n") == 0 and "999999999" in attach.stderr


def test_sigterm_reaches_a_background_child_that_outlives_the_root(tmp_path: Path) -> None:
    out = tmp_path / "bg.jsonl"
    tracer = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--format", "jsonl", "-o", str(out), "--",
         "sh", "-c", "sleep 30 & echo started"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert tracer.stdout.readline() == b"started\n"
        deadline = time.monotonic() + 10
        while children_of(tracer.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the root (the tracer's only child) has exited and been reaped
        tracer.send_signal(signal.SIGTERM)
        _out, err = tracer.communicate(timeout=15)  # not the 30 s the orphan would sleep
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
    assert tracer.returncode == 0, err  # the root's own exit status
    spans = [json.loads(line) for line in out.read_text().splitlines()]
    procs = [s for s in spans if s["span_name"].startswith("process:")]
    root = next(s for s in spans if s["span_name"].startswith("renacer:run"))["attributes"]["renacer.root_pid"]
    (orphan,) = [p for p in procs if p["process_pid"] != root]  # `sleep` (or its shell before exec)
    assert orphan["attributes"]["process.signal"] == "SIGTERM"


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out
