"""`renacer-tui -- PROG` in a real terminal (tmux), as it is used over SSH: keys in, screen out."""

from __future__ import annotations

import os
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

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
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
        screen = tmux.wait_for("execve(", timeout=60)  # live spans of the traced program
        assert "running" in screen and "processes" in screen and "top syscalls" in screen
        tmux.wait_for("process:cat")  # cats have come and gone while sh loops
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
