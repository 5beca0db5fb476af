"""`renacer-tui -- PROG` in a real terminal (tmux), as it is used over SSH: keys in, screen out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One private tmux server (its own -L socket), killed at the end."""

    def __init__(self) -> None:
        self.socket = f"renacer-test-{uuid.uuid4().hex[:12]}"

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 30.0, *, regex: bool = False) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if (re.search(text, screen, re.M) if regex else text in screen):
                return screen
            assert time.monotonic() < deadline, f"{text!r} never appeared:\n{screen}"
            time.sleep(0.2)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


def test_live_spans_then_clean_quit(db_path: Path, tmp_path: Path) -> None:
    done = tmp_path / "exit-status"
    program = "i=0; while [ $i -lt 200 ]; do cat /etc/hostname >/dev/null; i=$((i+1)); done; sleep 60"
    script = tmp_path / "run.sh"
    script.write_text(
        f"cd {tmp_path}\n"
        f"{sys.executable} -m renacer_tui -- sh -c '{program}'\n"  # Textual draws on stderr: no redirect
        f"echo $? > {done}\n"
        "echo RENACER-TEST-SHELL-BACK; sleep 60\n"
    )
    tmux = Tmux()
    env_args = ["-e", f"RENACER_DB={db_path}", "-e", f"HOME={os.environ['HOME']}", "-e", "TERM=xterm-256color"]
    try:
        tmux.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", *env_args, f"sh {script}")
        tmux.run("resize-window", "-t", "t", "-x", "120", "-y", "40")
        # live spans of the traced program: strace-like lines "  0.001234    4242 openat(…"
        screen = tmux.wait_for(r"│\s+\d+\.\d{6}\s+\d+ [a-z_0-9]+\(", timeout=60, regex=True)
        assert "running" in screen and "processes" in screen and "top syscalls" in screen
        tmux.wait_for(r"└ \d+\s+cat\b", regex=True)  # the process tree shows sh's children
        tmux.run("send-keys", "-t", "t", "q")
        screen = tmux.wait_for("still running")  # the program runs: kill or detach?
        tmux.run("send-keys", "-t", "t", "k")
        screen = tmux.wait_for("RENACER-TEST-SHELL-BACK", timeout=40)
        assert "Traceback" not in screen
        assert done.read_text().strip() == str(128 + 9)  # the program was killed
        assert "trace_id=" in screen  # the closing line on the terminal after the UI left
        leftovers = subprocess.run(["pgrep", "-f", program], capture_output=True, text=True).stdout.split()
        assert leftovers == []  # the traced program is gone
    finally:
        tmux.kill()


def test_detach_returns_to_the_shell_at_once(db_path: Path, tmp_path: Path) -> None:
    program = "while :; do cat /etc/hostname >/dev/null; sleep 0.05; done"
    script = tmp_path / "run.sh"
    script.write_text(
        f"cd {tmp_path}\n"
        f"{sys.executable} -m renacer_tui -- sh -c '{program}'\n"
        "echo RENACER-TEST-EXIT=$?; sleep 60\n"
    )
    tmux = Tmux()
    capture_pid = None
    try:
        tmux.run("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", "-e", f"RENACER_DB={db_path}", f"sh {script}")
        tmux.run("resize-window", "-t", "t", "-x", "120", "-y", "40")
        tmux.wait_for(r"└ \d+\s+cat\b", timeout=60, regex=True)
        tmux.run("send-keys", "-t", "t", "q")
        tmux.wait_for("still running")
        started = time.monotonic()
        tmux.run("send-keys", "-t", "t", "d")
        screen = tmux.wait_for("RENACER-TEST-EXIT=0", timeout=20)
        assert time.monotonic() - started < 10  # the UI does not wait for the program
        assert "Traceback" not in screen and "Fatal Python error" not in screen
        match = re.search(r"detached; capture pid (\d+) keeps tracing", screen)
        assert match, screen
        capture_pid = int(match.group(1))
        os.kill(capture_pid, 0)  # still tracing in the background
    finally:
        tmux.kill()
        if capture_pid is not None:
            try:
                os.killpg(capture_pid, 9)  # the capture leads its own session; the program is in it
            except ProcessLookupError:
                pass
