"""The golden thread of real runs: one connected span tree with causal links, RLE and filters.

Every test runs `renacer-tui --no-tui --format jsonl` on a real program (tiny C programs built
by the `cbuild` fixture, or coreutils) and checks the spans it wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cprograms import DIES_IN_READ, WAIT_SLEEPING

from renacer_tui.tracer.filter_spec import parse_trace_spec

Span = dict[str, Any]

FORKS = r"""
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void *worker(void *arg) {
    int fd = open("/dev/null", O_WRONLY);
    write(fd, "t", 1);
    close(fd);
    return arg;
}
int main(void) {
    /* SIGCHLD blocked: no signal interrupts a call, so every count is the same on every run */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    for (int i = 0; i < 2; i++) {
        if (fork() == 0) {
            pid_t q = fork();
            if (q == 0) { getppid(); _exit(3); }
            int st;
            waitpid(q, &st, 0);
            _exit(WEXITSTATUS(st) + i);
        }
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, NULL);
    usleep(100000);  /* let the threads finish, so join never waits: futex counts are then fixed */
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    int st;
    while (wait(&st) > 0) {}
    return 0;
}
"""

# Two pipes that get the same fd numbers; the first keeps 2 unread bytes when it is closed, so
# matching by fd number would pair the second read with the first pipe's write.
PIPES = r"""
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void round_trip(const char *msg, int len, int readlen) {
    int p[2];
    char buf[16];
    if (pipe(p) != 0) exit(10);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        dup2(p[1], 7);
        close(p[1]);
        write(7, msg, len);
        _exit(0);
    }
    close(p[1]);
    waitpid(c, NULL, 0);
    if (read(p[0], buf, readlen) != readlen) exit(11);
    close(p[0]);
}
int main(void) {
    round_trip("AAAA", 4, 2);
    round_trip("BB", 2, 2);
    return 0;
}
"""

LOOPER = r"""
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 3000; i++) getppid();
    for (int i = 0; i < 3; i++) close(open("/dev/null", O_RDONLY));
    access("/nonexistent/renacer-test", F_OK);
    return 0;
}
"""



def trace(tmp_path: Path, *args: str) -> tuple[list[Span], subprocess.CompletedProcess]:
    """Run the real command line with JSONL output; returns (spans, the finished process)."""
    out = tmp_path / f"trace-{len(list(tmp_path.iterdir()))}.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--format", "jsonl", "-o", str(out), *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr, result.stderr
    spans = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return spans, result


def syscalls(spans: list[Span], name: str | None = None) -> list[Span]:
    out = [s for s in spans if s["span_name"].startswith("syscall:")]
    if name is not None:
        out = [s for s in out if s["span_name"] == f"syscall:{name}"]
    return sorted(out, key=lambda s: s["logical_clock"])


def wanted(spans: list[Span]) -> list[Span]:
    """Syscall spans the user asked for (not those kept only as a process's parent)."""
    return [s for s in syscalls(spans) if not s["attributes"].get("renacer.filtered")]


def processes(spans: list[Span]) -> dict[int, Span]:
    return {s["process_pid"]: s for s in spans if s["span_name"].startswith("process:")}


def run_span(spans: list[Span]) -> Span:
    return next(s for s in spans if s["span_name"].startswith("renacer:run"))


def assert_connected(spans: list[Span]) -> None:
    """One trace, unique ids, one root (the run span), every parent id resolves."""
    ids = [s["span_id"] for s in spans]
    assert len(ids) == len(set(ids))
    assert len({s["trace_id"] for s in spans}) == 1
    roots = [s for s in spans if s["parent_span_id"] is None]
    assert len(roots) == 1 and roots[0]["span_name"].startswith("renacer:run ")
    known = set(ids)
    dangling = [s["span_name"] for s in spans if s["parent_span_id"] is not None and s["parent_span_id"] not in known]
    assert dangling == []
    by_id = {s["span_id"]: s for s in spans}
    for span in spans:  # every happens-before link names an emitted span, with its clock
        for link in span["attributes"].get("renacer.links", []):
            assert by_id[link["span_id"]]["logical_clock"] == link["logical_clock"], link
            assert link["logical_clock"] < span["logical_clock"], (span["span_name"], link)  # never the future


def links(span: Span, kind: str) -> list[dict[str, Any]]:
    return [link for link in span["attributes"].get("renacer.links", []) if link["type"] == kind]


# -- the tree ----------------------------------------------------------------------------------


def test_fork_tree_with_threads_is_one_connected_tree(tmp_path: Path, cbuild) -> None:
    exe = cbuild("forks", FORKS)
    spans, result = trace(tmp_path, "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert_connected(spans)
    by_id = {s["span_id"]: s for s in spans}
    procs = processes(spans)
    assert len(procs) == 5  # the program, two children, two grandchildren: threads are not processes
    root_proc = procs[run_span(spans)["attributes"]["renacer.root_pid"]]
    assert by_id[root_proc["parent_span_id"]]["span_name"].startswith("renacer:run")
    for pid, proc in procs.items():
        if proc is root_proc:
            continue
        creator = by_id[proc["parent_span_id"]]  # the fork/clone span that made it
        assert creator["span_name"] in ("syscall:clone", "syscall:clone3", "syscall:fork", "syscall:vfork")
        assert creator["attributes"]["syscall.result"] == pid
        assert creator["process_pid"] == proc["attributes"]["process.parent_pid"]
        assert proc["attributes"]["process.exit_code"] in (3, 4)
    for span in syscalls(spans):
        assert by_id[span["parent_span_id"]] is procs[span["process_pid"]]
    thread_ids = {s["thread_id"] for s in syscalls(spans)} - set(procs)
    assert len(thread_ids) == 2  # the two pthreads: their spans sit in the program's process
    for span in syscalls(spans):
        if span["thread_id"] in thread_ids:
            assert span["process_pid"] == root_proc["process_pid"]
    workers_writes = [s for s in syscalls(spans, "write") if s["thread_id"] in thread_ids]
    assert len(workers_writes) == 2


def test_fork_links_to_the_childs_first_span_and_exit_to_the_parents_wait(tmp_path: Path, cbuild) -> None:
    exe = cbuild("forks", FORKS)
    spans, _ = trace(tmp_path, "--", str(exe))
    by_id = {s["span_id"]: s for s in spans}
    procs = processes(spans)
    root_pid = run_span(spans)["attributes"]["renacer.root_pid"]
    for pid, proc in procs.items():
        if pid == root_pid:
            continue
        first = syscalls([s for s in spans if s["thread_id"] == pid])[0]
        fork_links = links(first, "fork")
        assert [link["span_id"] for link in fork_links] == [proc["parent_span_id"]]
        assert fork_links[0]["logical_clock"] < first["logical_clock"]
        # the wait that reaped it links to the child's last span (its exit)
        waits = [s for s in syscalls(spans, "wait4") if s["attributes"]["syscall.result"] == pid]
        assert len(waits) == 1
        (wait_link,) = links(waits[0], "wait")
        source = by_id[wait_link["span_id"]]
        assert source["process_pid"] == pid
        assert source["span_name"] == "syscall:exit_group"
        assert source["logical_clock"] < waits[0]["logical_clock"]
    # a thread's first span links to the clone that created it, too
    threads = {s["thread_id"] for s in syscalls(spans)} - set(procs)
    for tid in threads:
        first = syscalls([s for s in spans if s["thread_id"] == tid])[0]
        (link,) = links(first, "fork")
        assert by_id[link["span_id"]]["span_name"] in ("syscall:clone", "syscall:clone3")
        assert by_id[link["span_id"]]["attributes"]["syscall.result"] == tid


def test_logical_clocks_are_unique_and_parents_happen_before(tmp_path: Path, cbuild) -> None:
    exe = cbuild("forks", FORKS)
    spans, _ = trace(tmp_path, "--", str(exe))
    clocks = [s["logical_clock"] for s in spans]
    assert len(clocks) == len(set(clocks))
    for span in spans:
        if span["parent_logical_clock"] is not None:
            assert span["parent_logical_clock"] < span["logical_clock"], span["span_name"]


def test_exec_chain_renames_the_process(tmp_path: Path) -> None:
    spans, result = trace(tmp_path, "--", "sh", "-c", "exec env true chain-arg")
    assert result.returncode == 0, result.stderr
    assert_connected(spans)
    (proc,) = processes(spans).values()  # exec replaces the image, not the process
    assert proc["span_name"] == "process:true"
    assert proc["process_cmdline"] == "true chain-arg"
    execs = [s for s in syscalls(spans, "execve") if s["attributes"]["syscall.result"] == 0]
    assert [s["process_name"] for s in execs] == ["sh", "sh", "env"]  # who called each execve
    assert execs[0]["process_cmdline"] == "sh -c exec env true chain-arg"
    assert execs[2]["process_cmdline"] == "env true chain-arg"
    last = syscalls(spans)[-1]
    assert last["process_name"] == "true" and last["span_name"] == "syscall:exit_group"


def test_pipe_reads_link_to_writes_by_pipe_identity(tmp_path: Path, cbuild) -> None:
    exe = cbuild("pipes", PIPES)
    spans, result = trace(tmp_path, "--", str(exe))
    assert result.returncode == 0, result.stderr
    by_id = {s["span_id"]: s for s in spans}
    pipes = syscalls(spans, "pipe2") + syscalls(spans, "pipe")
    assert [p["attributes"]["syscall.args"].split("]")[0] for p in pipes] == ["[3, 4", "[3, 4"]  # reused fds
    writes = [s for s in syscalls(spans, "write") if s["attributes"].get("syscall.fd") == 7]
    reads = [s for s in syscalls(spans, "read") if s["attributes"].get("syscall.fd_object", "").startswith("pipe:")]
    assert len(writes) == 2 and len(reads) == 2
    assert writes[0]["attributes"]["syscall.fd_object"] != writes[1]["attributes"]["syscall.fd_object"]
    for read, write in zip(reads, writes):
        assert read["attributes"]["syscall.fd_object"] == write["attributes"]["syscall.fd_object"]
        (link,) = links(read, "pipe")
        assert link["span_id"] == write["span_id"]
        assert by_id[link["span_id"]]["process_pid"] != read["process_pid"]
        assert link["logical_clock"] < read["logical_clock"]


# The reader is blocked in read() before each write: its exit stop races the writer's.
PING_PIPE = r"""
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int p[2];
    pipe(p);
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        char msg[8];
        for (int i = 0; i < 30; i++) {
            int n = snprintf(msg, sizeof msg, "m%02d", i);
            usleep(1000);
            write(p[1], msg, n);
        }
        _exit(0);
    }
    close(p[1]);
    char buf[8];
    while (read(p[0], buf, 3) > 0) {}
    waitpid(c, NULL, 0);
    return 0;
}
"""


def test_each_read_of_a_blocking_reader_links_to_the_write_it_got(tmp_path: Path, cbuild) -> None:
    exe = cbuild("ping-pipe", PING_PIPE)
    spans, result = trace(tmp_path, "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert_connected(spans)
    by_id = {s["span_id"]: s for s in spans}
    reads = [s for s in syscalls(spans, "read") if s["attributes"].get("syscall.fd_object", "").startswith("pipe:")]
    reads = [s for s in reads if s["attributes"]["syscall.result"] > 0]
    assert len(reads) == 30
    for read in reads:
        (link,) = links(read, "pipe")
        write = by_id[link["span_id"]]
        assert write["span_name"] == "syscall:write"
        data = read["attributes"]["syscall.args"].split(", ")[1]  # the bytes read…
        assert write["attributes"]["syscall.args"].split(", ")[1] == data  # …are the bytes written
        assert write["logical_clock"] < read["logical_clock"]


def test_span_counts_equal_strace_f_c(tmp_path: Path, cbuild) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    exe = cbuild("forks", FORKS)
    report = tmp_path / "strace.txt"
    subprocess.run(["strace", "-f", "-c", "-o", str(report), str(exe)], check=True, timeout=60)
    theirs: dict[str, int] = {}
    for line in report.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            theirs[parts[-1]] = int(parts[3])
    spans, _ = trace(tmp_path, "--", str(exe))
    ours: Counter[str] = Counter()
    for span in syscalls(spans):
        if not span["attributes"].get("syscall.unfinished"):  # strace -c counts calls that returned
            ours[span["span_name"].split(":", 1)[1]] += span["rle_count"]
    assert dict(ours) == theirs


def test_a_call_in_flight_when_its_process_dies_is_kept_unfinished(tmp_path: Path, cbuild) -> None:
    exe = cbuild("dies-in-read", DIES_IN_READ)
    spans, result = trace(tmp_path, "--", str(exe))
    assert result.returncode == 0, result.stderr
    root_pid = run_span(spans)["attributes"]["renacer.root_pid"]
    (child,) = [p for pid, p in processes(spans).items() if pid != root_pid]
    child_calls = syscalls([s for s in spans if s["process_pid"] == child["process_pid"]])
    assert child_calls[-1]["span_name"] == "syscall:read"
    assert child_calls[-1]["attributes"]["syscall.unfinished"] is True
    assert child["attributes"]["process.signal"] == "SIGKILL"
    assert child["attributes"]["process.exit_code"] == 137


EXEC_FROM_THREAD = r"""
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
""" + WAIT_SLEEPING + r"""static void *worker(void *arg) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", getpid());
    wait_sleeping(path);  /* the main thread is in pause() */
    char *argv[] = {"/bin/echo", "said-by-thread", NULL};
    execv("/bin/echo", argv);
    return arg;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    for (;;) pause();
}
"""


def test_exec_from_a_thread_takes_over_the_process(tmp_path: Path, cbuild) -> None:
    exe = cbuild("exec-from-thread", EXEC_FROM_THREAD)
    spans, result = trace(tmp_path, "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "said-by-thread\n"
    assert_connected(spans)
    (proc,) = processes(spans).values()
    pid = proc["process_pid"]
    assert proc["span_name"] == "process:echo"
    (execve,) = [s for s in syscalls(spans, "execve") if "said-by-thread" in s["attributes"]["syscall.args"]]
    assert execve["thread_id"] != pid and execve["attributes"]["syscall.result"] == 0
    # the leader was in pause() when the exec killed it: kept, marked unfinished
    (pause,) = syscalls(spans, "pause")
    assert pause["thread_id"] == pid and pause["attributes"]["syscall.unfinished"] is True
    # after the exec the program runs on the leader's tid
    (write,) = [s for s in syscalls(spans, "write") if "said-by-thread" in s["attributes"]["syscall.args"]]
    assert write["thread_id"] == pid and write["process_name"] == "echo"


SIGNAL_CHILD = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_usr1(int s) { (void)s; }
int main(void) {
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        /* SIGUSR1 stays blocked until sigsuspend, so it cannot land before the child waits */
        sigset_t usr1, none;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigemptyset(&none);
        sigprocmask(SIG_BLOCK, &usr1, NULL);
        signal(SIGUSR1, on_usr1);
        write(ready[1], "r", 1);
        sigsuspend(&none);
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    kill(child, SIGUSR1);
    waitpid(child, NULL, 0);
    return 0;
}
"""


def test_a_signal_links_the_kill_to_the_receivers_next_span(tmp_path: Path, cbuild) -> None:
    exe = cbuild("signal-child", SIGNAL_CHILD)
    spans, result = trace(tmp_path, "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert_connected(spans)
    (kill,) = syscalls(spans, "kill")
    child = kill["attributes"]["syscall.args"].split(",")[0]
    receiver = [s for s in syscalls(spans) if links(s, "signal")]
    assert len(receiver) == 1
    assert str(receiver[0]["process_pid"]) == child
    assert links(receiver[0], "signal")[0]["span_id"] == kill["span_id"]
    assert receiver[0]["logical_clock"] > kill["logical_clock"]


STOP_THEN_REAP = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t c = fork();
    if (c == 0) { raise(SIGSTOP); _exit(7); }
    int st;
    waitpid(c, &st, WUNTRACED);  /* reports the stop: nothing was reaped */
    kill(c, SIGCONT);
    waitpid(c, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1;
}
"""


def test_only_the_wait_that_reaps_links_to_the_exit(tmp_path: Path, cbuild) -> None:
    exe = cbuild("stop-then-reap", STOP_THEN_REAP)
    spans, result = trace(tmp_path, "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert_connected(spans)
    waits = [s for s in syscalls(spans, "wait4") if s["attributes"]["syscall.result"] > 0]
    assert len(waits) == 2
    stopped, reaped = waits
    assert "WIFSTOPPED" in stopped["attributes"]["syscall.args"] and not links(stopped, "wait")
    assert "WIFEXITED" in reaped["attributes"]["syscall.args"]
    (link,) = links(reaped, "wait")
    by_id = {s["span_id"]: s for s in spans}
    assert by_id[link["span_id"]]["span_name"] == "syscall:exit_group"
    assert link["logical_clock"] < reaped["logical_clock"]


WAITID = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t c = fork();
    if (c == 0) _exit(5);
    siginfo_t info;
    waitid(P_PID, c, &info, WEXITED | WNOWAIT);  /* Go's way: peek first… */
    waitid(P_PID, c, &info, WEXITED);             /* …then reap */
    return info.si_status == 5 ? 0 : 1;
}
"""


def test_waitid_links_to_the_exit_it_reports(tmp_path: Path, cbuild) -> None:
    exe = cbuild("waitid", WAITID)
    spans, result = trace(tmp_path, "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert_connected(spans)
    by_id = {s["span_id"]: s for s in spans}
    waits = syscalls(spans, "waitid")
    assert len(waits) == 2
    child = next(pid for pid in processes(spans) if pid != run_span(spans)["attributes"]["renacer.root_pid"])
    for wait in waits:
        (link,) = links(wait, "wait")
        source = by_id[link["span_id"]]
        assert source["process_pid"] == child and source["span_name"] == "syscall:exit_group"


# -- RLE ------------------------------------------------------------------------------------------


def _dd_rows(spans: list[Span], name: str, target: str) -> list[Span]:
    return [s for s in syscalls(spans, name) if s["attributes"].get("syscall.fd_object") == target]


@pytest.mark.slow
def test_rle_folds_a_long_run_of_calls_into_a_few_rows(tmp_path: Path) -> None:
    # 2**16 one-byte copies: the run lasts seconds under ptrace, so it crosses many batch cuts
    # (4096 rows, 100 ms) — what could split it. 2**18 proves nothing more and costs ~35 s here.
    count = 65536
    spans, result = trace(tmp_path, "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}")
    assert result.returncode == 0, result.stderr
    for name, target in (("read", "/dev/zero"), ("write", "/dev/null")):
        rows = _dd_rows(spans, name, target)
        assert len(rows) <= 10
        assert sum(r["rle_count"] for r in rows) == count
        folded = max(rows, key=lambda r: r["rle_count"])
        attrs = folded["attributes"]
        assert attrs["renacer.rle.first_timestamp"] <= attrs["renacer.rle.last_timestamp"]
        assert 0 < attrs["renacer.rle.total_duration_ns"] <= folded["end_time_nanos"] - folded["start_time_nanos"]
    assert len(syscalls(spans)) < 200


def test_no_rle_keeps_every_call(tmp_path: Path) -> None:
    count = 1500
    spans, result = trace(tmp_path, "--no-rle", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}")
    assert result.returncode == 0, result.stderr
    rows = _dd_rows(spans, "read", "/dev/zero")
    assert len(rows) == count and all(r["rle_count"] == 1 for r in rows)
    assert all(s["rle_count"] == 1 for s in spans)


# -- filters ----------------------------------------------------------------------------------------


def _stops(spans: list[Span]) -> int:
    return run_span(spans)["attributes"]["renacer.ptrace_stops"]


@pytest.mark.parametrize(
    "spec",
    ["openat,close", "%file", "!getppid", "/^(open|acc)", "file"],
)
def test_trace_filters_keep_exactly_the_named_calls(tmp_path: Path, cbuild, spec: str) -> None:
    exe = cbuild("looper", LOOPER)
    spans, result = trace(tmp_path, "-e", f"trace={spec}", "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert_connected(spans)
    selected = parse_trace_spec(spec)
    names = Counter(s["span_name"].split(":", 1)[1] for s in wanted(spans))
    assert names, spec
    assert all(selected.matches(name) for name in names), names
    assert names["getppid"] == 0
    # untraced calls caused no ptrace stop: the 3000 getppid calls would be 6000 stops
    assert _stops(spans) < 1000
    if spec == "!getppid":
        assert names["close"] >= 3 and names["openat"] >= 3
    if spec.startswith("/"):
        assert set(names) >= {"openat", "access"}


def test_unfiltered_run_stops_at_every_call(tmp_path: Path, cbuild) -> None:
    exe = cbuild("looper", LOOPER)
    spans, _ = trace(tmp_path, "--", str(exe))
    assert Counter(s["span_name"] for s in syscalls(spans))["syscall:getppid"] >= 1
    assert sum(s["rle_count"] for s in syscalls(spans, "getppid")) == 3000
    assert _stops(spans) >= 6000


def test_filtered_tree_stays_connected_and_leaves_out_structural_calls(tmp_path: Path, cbuild) -> None:
    exe = cbuild("forks", FORKS)
    spans, result = trace(tmp_path, "-e", "trace=getppid", "--", str(exe))
    assert result.returncode == 0, result.stderr
    assert_connected(spans)
    assert len(processes(spans)) == 5
    assert {s["span_name"] for s in wanted(spans)} == {"syscall:getppid"}
    assert len(wanted(spans)) == 2
    # the calls that created the 4 processes and 2 threads stay (spans and links hang off them)
    creators = [s for s in syscalls(spans) if s["attributes"].get("renacer.filtered")]
    assert sorted(s["span_name"] for s in creators) == ["syscall:clone"] * 4 + ["syscall:clone3"] * 2
    children = set(processes(spans)) - {run_span(spans)["attributes"]["renacer.root_pid"]}
    assert {s["attributes"]["syscall.result"] for s in creators if s["span_name"] == "syscall:clone"} == children
    assert not {s["attributes"]["syscall.result"] for s in creators if s["span_name"] == "syscall:clone3"} & children


def test_status_failed_keeps_only_failed_calls(tmp_path: Path, cbuild) -> None:
    exe = cbuild("looper", LOOPER)
    spans, result = trace(tmp_path, "-e", "status=failed", "--", str(exe))
    assert result.returncode == 0, result.stderr
    kept = wanted(spans)
    assert kept and all(s["status"] == "ERROR" for s in kept)
    assert any(s["attributes"].get("syscall.pathname") == "/nonexistent/renacer-test" for s in kept)
    assert all(s["attributes"]["syscall.result"] == -1 and s["attributes"]["syscall.errno"] for s in kept)


def test_trace_path_keeps_calls_on_that_file_by_name_or_fd(tmp_path: Path) -> None:
    target = tmp_path / "watched.txt"
    target.write_text("hello\n")
    spans, result = trace(tmp_path, "-P", str(target), "--", "sh", "-c", f"cat {target} /etc/hostname >/dev/null")
    assert result.returncode == 0, result.stderr
    kept = wanted(spans)
    names = {s["span_name"] for s in kept}
    assert {"syscall:openat", "syscall:read", "syscall:close"} <= names
    for span in kept:
        attrs = span["attributes"]
        assert str(target) in (attrs.get("syscall.pathname"), attrs.get("syscall.fd_object"))
    assert_connected(spans)


def test_string_limit_truncates_buffers_but_not_paths(tmp_path: Path) -> None:
    long_dir = tmp_path / ("d" * 40)
    long_dir.mkdir()
    spans, result = trace(tmp_path, "-s", "5", "--", "sh", "-c", f"echo hello-world; ls {long_dir}")
    assert result.returncode == 0, result.stderr
    (write,) = [s for s in syscalls(spans, "write") if "hello" in s["attributes"]["syscall.args"]]
    assert write["attributes"]["syscall.args"] == '1, "hello"..., 12'
    paths = [s["attributes"].get("syscall.pathname", "") for s in syscalls(spans)]
    assert str(long_dir) in paths


def test_environment_carries_traceparent_to_grandchildren(tmp_path: Path) -> None:
    spans, result = trace(tmp_path, "--", "sh", "-c", 'sh -c \'echo "$TRACEPARENT $RENACER_LOGICAL_CLOCK"\'')
    assert result.returncode == 0, result.stderr
    run = run_span(spans)
    version, trace_id, parent, flags = result.stdout.split()[0].split("-")
    assert (version, trace_id, parent, flags) == ("00", run["trace_id"], run["span_id"], "01")
    assert result.stdout.split()[1].isdigit()
    assert os.environ.get("TRACEPARENT") != result.stdout.split()[0]
