"""Calls in flight in the text output, as strace lays them out: a call is printed at its entry
(one that blocks shows while it waits), a call another line came between ends `<unfinished
...>` and goes on as `<... read resumed>`, restart_syscall names what it resumes — on real
programs, against strace 6.1 where the answer does not depend on scheduling."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from strace_text import whole_lines

from renacer_tui.tracer.formats import quote, split_arguments
from tests.test_strace_options import needs_strace

#: A thread blocks reading a pipe that main writes to after a sleep: the read's exit comes
#: after main's write, so lines of main always come between the read's entry and its exit.
GATED_READ = r"""
#include <pthread.h>
#include <time.h>
#include <unistd.h>
static int p[2];
static void *reader(void *arg) { char b[8]; (void)arg; read(p[0], b, sizeof b); return 0; }
int main(void) {
    pipe(p);
    pthread_t t;
    pthread_create(&t, 0, reader, 0);
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, 0);
    getppid();
    write(p[1], "go", 2);
    pthread_join(t, 0);
    return 0;
}
"""

#: A child sleeps; its parent stops and continues it, so the kernel restarts the sleep with
#: restart_syscall.
RESTARTED = r"""
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    int ready[2]; pipe(ready);
    pid_t child = fork();
    if (child == 0) { struct timespec ts = {1, 0}; write(ready[1], "r", 1); nanosleep(&ts, 0); _exit(0); }
    char byte; read(ready[0], &byte, 1);  /* the child is about to sleep, however loaded the machine */
    struct timespec pause = {0, 300000000};
    nanosleep(&pause, 0);
    kill(child, SIGSTOP);
    nanosleep(&pause, 0);
    kill(child, SIGCONT);
    waitpid(child, 0, 0);
    return 0;
}
"""


def _run(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "ours.txt"
    result = subprocess.run([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-o", str(out), *args],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return out.read_text()


def _index(lines: list[str], pattern: str) -> int:
    found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert found, f"no line matches {pattern!r}"
    return found[0]


def test_a_call_other_lines_come_between_is_unfinished_then_resumed(tmp_path: Path, cbuild) -> None:
    text = _run(tmp_path, str(cbuild("gated-read", GATED_READ)))
    lines = text.splitlines()
    entry = _index(lines, r"^\[pid +\d+\] read\(3,  <unfinished \.\.\.>$")  # strace's two spaces
    write = _index(lines, r'^\[pid +\d+\] write\(4, "go", 2\) = 2 <')
    resumed = _index(lines, r'^\[pid +\d+\] <\.\.\. read resumed>"go", 8\) = 2 <\d+\.\d{6}>$')
    assert entry < write < resumed  # the read returns only after main's write
    reader = re.match(r"\[pid +(\d+)\]", lines[entry])[1]  # type: ignore[index]
    assert re.match(rf"\[pid +{reader}\]", lines[resumed])
    # joined back, the call is the one strace -f prints when nothing comes between
    assert any(re.fullmatch(rf'\[pid +{reader}\] read\(3, "go", 8\) = 2 <[\d.]+>', line) for line in whole_lines(text))
    # the main thread's sleep started before the reader's read and ended before the write: when
    # it is split too, its resumption comes before the write
    assert not any("resumed>" in line for line in lines[write:resumed] if "clock_nanosleep" in line)


@needs_strace
def test_joined_lines_of_each_thread_are_strace_s(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("gated-read", GATED_READ))
    ours = whole_lines(_run(tmp_path, exe))
    subprocess.run(["strace", "-f", "-o", str(tmp_path / "theirs.txt"), exe], capture_output=True, timeout=60)
    theirs = whole_lines((tmp_path / "theirs.txt").read_text())

    def calls(lines: list[str], pattern: str) -> list[str]:
        """The program's pipe and sleep calls, without pid, spacing and time."""
        out = []
        for line in lines:
            body = re.sub(r"^(\[pid +\d+\] |\d+ +)", "", line)
            if re.match(pattern, body):
                out.append(re.sub(r"\s+", " ", re.sub(r" <\d+\.\d+>$", "", body)).strip())
        return out

    pattern = r'(read\(3, "go"|write\(4,|clock_nanosleep\(CLOCK_REALTIME, 0, \{tv_sec=0)'
    # each thread's end has its line, as strace -f prints it: the reader's while main goes on
    endings = [re.sub(r"^(\[pid +\d+\] |\d+ +)", "", line) for line in ours if "+++" in line]
    assert endings == [re.sub(r"^(\[pid +\d+\] |\d+ +)", "", line) for line in theirs if "+++" in line]
    assert endings == ["+++ exited with 0 +++"] * 2
    reader_exit = next(i for i, line in enumerate(ours) if re.search(r"\] exit\(0\) = \?$", line))
    reader = re.match(r"\[pid +(\d+)\]", ours[reader_exit])[1]  # type: ignore[index]
    assert any(re.fullmatch(rf"\[pid +{reader}\] \+\+\+ exited with 0 \+\+\+", line) for line in ours[reader_exit:])
    mine = calls(ours, pattern)
    assert sorted(mine) == sorted([
        "clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=300000000}, NULL) = 0",
        'write(4, "go", 2) = 2', 'read(3, "go", 8) = 2'])
    assert mine == calls(theirs, pattern)  # in strace's order: each joined at its entry


def test_a_call_that_blocks_is_printed_at_its_entry(tmp_path: Path) -> None:
    """cat opens a FIFO nobody writes yet: the -o file ends in its entry while it waits."""
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    out = tmp_path / "ours.txt"
    run = subprocess.Popen([sys.executable, "-m", "renacer_tui", "--no-tui", "--no-store", "-o", str(out), "cat", str(gate)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        waiting = f'openat(AT_FDCWD, "{gate}", O_RDONLY'
        deadline = time.monotonic() + 30
        while not (out.exists() and out.read_text().endswith(waiting)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.read_text().endswith(waiting), out.read_text()[-300:] if out.exists() else "no output"
        with open(gate, "w") as writer:
            writer.write("through\n")
        stdout, stderr = run.communicate(timeout=30)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 0, stderr
    assert stdout == b"through\n"
    text = out.read_text()
    assert re.search(rf"\] {re.escape(waiting)}\) = 3 <\d+\.\d{{6}}>\n", text)  # its exit ends the same line
    assert text.endswith("+++ exited with 0 +++\n")


@needs_strace
def test_restart_syscall_names_the_call_it_resumes(tmp_path: Path, cbuild) -> None:
    exe = str(cbuild("restarted", RESTARTED))
    ours = _run(tmp_path, exe)
    subprocess.run(["strace", "-f", "-o", str(tmp_path / "theirs.txt"), exe], capture_output=True, timeout=60)
    theirs = (tmp_path / "theirs.txt").read_text()
    restart = "restart_syscall(<... resuming interrupted clock_nanosleep ...>) = 0"
    stopped = "si_code=CLD_STOPPED, si_pid="
    assert stopped in theirs and stopped in ours and "si_status=SIGSTOP" in ours  # a signal, as strace
    group_stop = re.compile(r"^\[?(?:pid +)?(\d+)\]? +--- stopped by SIGSTOP ---$", re.M)  # the child's group-stop
    assert len(group_stop.findall(ours)) == len(group_stop.findall(theirs)) == 1
    assert restart in re.sub(r"\s+", " ", theirs)
    assert re.search(rf"\] {re.escape(restart)} <", "\n".join(whole_lines(ours)))
    assert re.search(r"\] clock_nanosleep\(CLOCK_REALTIME, 0, \{tv_sec=1, tv_nsec=0\}, NULL\) = \? "
                     r"ERESTART_RESTARTBLOCK \(Interrupted by signal\) <", "\n".join(whole_lines(ours)))


def test_exit_is_one_line_as_in_strace(tmp_path: Path) -> None:
    lines = _run(tmp_path, "true").splitlines()
    assert re.fullmatch(r"\[pid +\d+\] exit_group\(0\) = \?", lines[-2]) and lines[-1].endswith("+++ exited with 0 +++")


_ARGUMENT = st.one_of(
    st.integers(-(2**63), 2**64).map(str),
    st.binary(max_size=40).map(quote),
    st.lists(st.integers(0, 99).map(str), max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
    st.tuples(st.binary(max_size=12).map(quote), st.integers(0, 9)).map(lambda t: f"{{sun_path={t[0]}, n={t[1]}}}"),
    st.integers(0, 65535).map(lambda port: f"htons({port})"),
)


@given(st.lists(_ARGUMENT, max_size=6), st.integers(0, 7))
def test_any_argument_list_splits_between_its_arguments(arguments: list[str], count: int) -> None:
    text = ", ".join(arguments)
    head, tail = split_arguments(text, count)
    assert head + tail == text
    if count < len(arguments):
        assert head == "".join(argument + ", " for argument in arguments[:count])
    else:
        assert tail == ""


def test_arguments_split_where_strace_splits_them() -> None:
    assert split_arguments('3, "a, b", 8', 1) == ("3, ", '"a, b", 8')
    assert split_arguments('{st_mode=S_IFREG|0644, st_size=1}, [1, 2], "\\", x"', 2) == (
        "{st_mode=S_IFREG|0644, st_size=1}, [1, 2], ", '"\\", x"')
    assert split_arguments("AT_FDCWD, 0x1", 6) == ("AT_FDCWD, 0x1", "")
    assert split_arguments("htons(80), x", 0) == ("", "htons(80), x")
