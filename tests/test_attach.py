"""`renacer-tui -p PID`: attach to a running program and all its threads, detach on SIGINT.

The program must keep running after the tracer lets go: checked in /proc (no tracer, not
stopped) and by the program still answering afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

# Two threads busy in syscalls; each line on stdin is answered with "alive" (proof of life).
SPINNER = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *worker(void *arg) {
    for (;;) { getppid(); usleep(1000); }
    return arg;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("ready\n");
    char line[64];
    while (fgets(line, sizeof line, stdin)) printf("alive\n");
    return 0;
}
"""


@pytest.fixture()
def spinner(cbuild) -> Iterator[subprocess.Popen]:
    exe = cbuild("spinner", SPINNER)
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        assert proc.stdout.readline() == "ready\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def tids_of(pid: int) -> set[int]:
    return {int(t) for t in os.listdir(f"/proc/{pid}/task")}


def attach_for(pid: int, seconds: float, out: Path, *extra: str, wait_spans: bool = True) -> subprocess.CompletedProcess:
    """Attach, let it trace for `seconds`, then SIGINT the tracer (Ctrl-C without a terminal).

    With `wait_spans` the clock starts when the tracer is in its stop loop (blocked in
    waitpid: /proc wchan `do_wait`); without, right after every thread has the tracer attached."""
    tracer = subprocess.Popen(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "--format", "jsonl", "-o", str(out),
         *extra, "-p", str(pid)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        # wait until every thread has a tracer, then give it time to see some calls
        while time.monotonic() < deadline and tracer.poll() is None:
            attached = all(proc_status_tid(pid, tid).get("TracerPid") == str(tracer.pid) for tid in tids_of(pid))
            if attached and (not wait_spans or in_wait(tracer.pid)):
                break
            time.sleep(0.01)
        time.sleep(seconds)
        tracer.send_signal(signal.SIGINT)
        stdout, stderr = tracer.communicate(timeout=30)
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
    return subprocess.CompletedProcess(tracer.args, tracer.returncode, stdout, stderr)


def in_wait(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/wchan") as fh:
            return fh.read().strip() == "do_wait"
    except OSError:
        return False


def proc_status_tid(pid: int, tid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/task/{tid}/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def read_spans(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_running_untraced(proc: subprocess.Popen) -> None:
    assert proc.poll() is None
    for tid in tids_of(proc.pid):
        status = proc_status_tid(proc.pid, tid)
        assert status["TracerPid"] == "0"
        assert status["State"][0] in "SR", status["State"]  # not t (tracing stop) nor T
    proc.stdin.write("ping\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "alive\n"


def test_attach_traces_every_thread_and_detach_leaves_it_running(spinner, tmp_path: Path) -> None:
    out = tmp_path / "attach.jsonl"
    result = attach_for(spinner.pid, 0.3, out)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert_running_untraced(spinner)
    spans = read_spans(out)
    syscalls = [s for s in spans if s["span_name"].startswith("syscall:")]
    assert {s["process_pid"] for s in syscalls} == {spinner.pid}
    threads = {s["thread_id"] for s in syscalls}
    assert spinner.pid in threads and len(threads) == 2  # main thread and the worker
    worker = (threads - {spinner.pid}).pop()
    worker_calls = {s["span_name"] for s in syscalls if s["thread_id"] == worker}
    assert "syscall:getppid" in worker_calls
    getppid_total = sum(s["rle_count"] for s in syscalls if s["span_name"] == "syscall:getppid")
    assert getppid_total >= 10
    (proc,) = [s for s in spans if s["span_name"].startswith("process:")]
    assert proc["process_pid"] == spinner.pid and proc["attributes"].get("renacer.detached") is True
    ids = {s["span_id"] for s in spans}
    assert all(s["parent_span_id"] in ids for s in spans if s["parent_span_id"] is not None)
    run = next(s for s in spans if s["span_name"].startswith("renacer:run"))
    assert run["parent_span_id"] is None and run["attributes"]["process.exit_code"] == 0
    assert "trace_id=" + run["trace_id"] in result.stderr


def test_attach_again_after_detach_and_filter_in_userspace(spinner, tmp_path: Path) -> None:
    first = attach_for(spinner.pid, 0.1, tmp_path / "one.jsonl")
    assert first.returncode == 0, first.stderr
    out = tmp_path / "two.jsonl"
    second = attach_for(spinner.pid, 0.2, out, "-e", "trace=getppid")
    assert second.returncode == 0, second.stderr
    assert_running_untraced(spinner)
    names = {s["span_name"] for s in read_spans(out) if s["span_name"].startswith("syscall:")}
    assert names == {"syscall:getppid"}  # no seccomp on a running process: the builder filters


def test_attach_to_a_thread_id_attaches_its_process(spinner, tmp_path: Path) -> None:
    worker = max(tids_of(spinner.pid) - {spinner.pid})
    out = tmp_path / "tid.jsonl"
    result = attach_for(worker, 0.2, out)
    assert result.returncode == 0, result.stderr
    assert_running_untraced(spinner)
    threads = {s["thread_id"] for s in read_spans(out) if s["span_name"].startswith("syscall:")}
    assert threads == {spinner.pid, worker}


def test_attach_errors_are_one_line() -> None:
    for pid, code in (("999999999", 1), ("0", 1)):
        result = subprocess.run(
            [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-p", pid],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert "Traceback" not in result.stderr
        assert result.returncode == code and len(lines) == 1 and lines[0].startswith("renacer-tui: attach")


@pytest.fixture()
def two_spinners(cbuild) -> Iterator[list[subprocess.Popen]]:
    exe = cbuild("spinner", SPINNER)
    procs = [subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
             for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline() == "ready\n"
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_repeated_p_traces_every_process_in_one_trace(two_spinners, tmp_path: Path) -> None:
    first, second = two_spinners
    out = tmp_path / "both.jsonl"
    # strace -p A -p B; naming a process twice (or by a thread id) attaches it once
    result = attach_for(first.pid, 0.3, out, "-p", str(second.pid), "-p", str(max(tids_of(second.pid))))
    assert result.returncode == 0, result.stderr
    for proc in two_spinners:
        assert_running_untraced(proc)
    spans = read_spans(out)
    calls = [s for s in spans if s["span_name"].startswith("syscall:")]
    assert {s["process_pid"] for s in calls} == {first.pid, second.pid}
    assert {s["thread_id"] for s in calls} == tids_of(first.pid) | tids_of(second.pid)
    processes = [s for s in spans if s["span_name"].startswith("process:")]
    assert sorted(s["process_pid"] for s in processes) == sorted([first.pid, second.pid])
    assert len({s["trace_id"] for s in spans}) == 1
    ids = {s["span_id"] for s in spans}
    assert all(s["parent_span_id"] in ids for s in spans if s["parent_span_id"] is not None)


def test_attach_and_detach_notes_as_strace_and_q_leaves_them_out(spinner, tmp_path: Path) -> None:
    loud = attach_for(spinner.pid, 0.1, tmp_path / "loud.jsonl")
    notes = [line for line in loud.stderr.splitlines() if line.startswith("renacer-tui: Process")]
    assert notes == [f"renacer-tui: Process {spinner.pid} attached", f"renacer-tui: Process {spinner.pid} detached"]
    quiet = attach_for(spinner.pid, 0.1, tmp_path / "quiet.jsonl", "-q")
    assert quiet.returncode == 0 and "Process" not in quiet.stderr
    assert_running_untraced(spinner)


def test_a_bad_pid_among_good_ones_leaves_the_good_ones_untraced(spinner) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-p", str(spinner.pid), "-p", "999999999"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and lines == ["renacer-tui: attach: no such process: 999999999"]
    assert_running_untraced(spinner)


def test_sigint_right_after_attach_detaches_cleanly(spinner, tmp_path: Path) -> None:
    """A Ctrl-C while the tracer is still setting up (sinks, imports) must not be lost."""
    result = attach_for(spinner.pid, 0.0, tmp_path / "early.jsonl", wait_spans=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert_running_untraced(spinner)


def test_attach_follows_new_children_and_detaches_them_too(tmp_path: Path) -> None:
    shell = subprocess.Popen(["sh", "-c", "while :; do /bin/true; sleep 0.05; done"], stdin=subprocess.DEVNULL)
    try:
        out = tmp_path / "children.jsonl"
        result = attach_for(shell.pid, 0.5, out)
        assert result.returncode == 0, result.stderr
        time.sleep(0.1)
        assert shell.poll() is None
        family = [shell.pid] + [
            int(p) for p in os.listdir("/proc")
            if p.isdigit() and os.path.exists(f"/proc/{p}/status") and proc_status_safe(int(p)).get("PPid") == str(shell.pid)
        ]
        for pid in family:  # the shell and the child it is running now: free and not stopped
            status = proc_status_safe(pid)
            if status:
                assert status["TracerPid"] == "0" and status["State"][0] in "SRZ", (pid, status)
        spans = read_spans(out)
        names = {s["span_name"] for s in spans if s["span_name"].startswith("process:")}
        assert {"process:sh", "process:true", "process:sleep"} <= names
        ids = {s["span_id"] for s in spans}
        assert all(s["parent_span_id"] in ids for s in spans if s["parent_span_id"] is not None)
    finally:
        shell.kill()
        shell.wait()


def proc_status_safe(pid: int) -> dict[str, str]:
    try:
        return proc_status(pid)
    except OSError:
        return {}
