"""The capture child of the live TUI: the process that runs ptrace, its feed, the program's output.

The UI process never runs ptrace itself (the stop loop needs its own interpreter, see
docs/architecture.md).  It starts `python -m renacer_tui --no-tui --feed-fd W … -- CMD` with the
write end of a pipe, reads the Arrow IPC feed from the read end in a worker thread, and sends
the capture's and the program's stdout/stderr to a log file (shown in the output pane) so they
never corrupt the screen.  The program's stdin is a pipe the UI writes what the user types into
(`send_input`; `close_input` is its end of file), unless `--stdin FILE` gave it one or it was
attached with `-p`.  The capture child's exit code is the program's.

Quitting while the program runs asks what to do:
- kill: SIGKILL every traced process the feed has shown (the capture then sees them exit, stores
  the trace and ends); if it has not ended a few seconds later it gets SIGTERM, then SIGKILL.
- detach: for `-p PID` the capture gets SIGINT, detaches ptrace and leaves the process running;
  for a launched program the capture keeps running in its own session in the background (the
  trace is still stored, the live feed is simply closed) and its pid is printed.
"""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

from renacer_tui.sinks.feed import FeedReader

PROG = "renacer-tui"


class StoppableFeed(io.RawIOBase):
    """The feed pipe's read end; after `stop()` it reads as end of file.

    The UI's feed thread blocks reading this pipe.  After a detach the capture keeps writing, and
    a thread woken inside pyarrow while the interpreter shuts down aborts the process; `stop()`
    ends the stream first so the thread finishes before the UI process exits.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._wake_r, self._wake_w = os.pipe()

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        """The pipe's descriptor (the feed reader asks whether more is waiting)."""
        return self._fd

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            return 0
        ready, _, _ = select.select([self._fd, self._wake_r], [], [])
        if self._wake_r in ready:
            return 0
        return os.readv(self._fd, [buffer])

    def stop(self) -> None:
        """Make the reader see end of file now (from any thread)."""
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def close(self) -> None:
        if not self.closed:
            for fd in (self._fd, self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
        super().close()


class CaptureChild:
    """The headless capture process the TUI launches and later waits for, kills or detaches."""

    def __init__(self, capture_args: list[str], command: list[str], log_path: Path | None = None) -> None:
        self.capture_args = list(capture_args)
        self.command = list(command)
        self.attached = any(arg == "-p" or arg.startswith("--attach") for arg in capture_args)
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="renacer-output-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.decision: str | None = None  # "kill" or "detach" once the user chose
        #: whether the program reads what the user types (not with --stdin FILE, not with -p)
        self.takes_input = not self.attached and not any(arg.startswith("--stdin") for arg in capture_args)
        self._input: int | None = None  # the write end of the program's stdin
        self._proc: subprocess.Popen[bytes] | None = None
        self._feed: StoppableFeed | None = None

    def argv(self, feed_fd: int) -> list[str]:
        """The capture child's command line."""
        return [sys.executable, "-m", "renacer_tui", "--no-tui", "--feed-fd", str(feed_fd), *self.capture_args, "--", *self.command]

    def start(self) -> FeedReader:
        """Start the capture child; returns the reader of its live feed."""
        read_fd, write_fd = os.pipe()
        stdin_r = -1
        if self.takes_input:
            stdin_r, self._input = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(self._input, False)  # a program that does not read never stalls the UI
        try:
            with open(self.log_path, "ab") as log, open(os.devnull, "rb") as devnull:
                self._proc = subprocess.Popen(
                    self.argv(write_fd),
                    stdin=stdin_r if stdin_r >= 0 else devnull,
                    stdout=log,
                    stderr=log,
                    pass_fds=(write_fd,),
                    start_new_session=True,  # terminal signals (^C, SIGHUP) reach the UI only
                )
        except OSError:
            os.close(read_fd)
            self.close_input()
            raise
        finally:
            os.close(write_fd)
            if stdin_r >= 0:
                os.close(stdin_r)
        self._feed = StoppableFeed(read_fd)
        return FeedReader(io.BufferedReader(self._feed, 1 << 16))

    def send_input(self, data: bytes) -> bool:
        """Write `data` to the program's stdin; False when it cannot take it (its input was
        ended, it exited, or the pipe is full because it does not read)."""
        if self._input is None:
            return False
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._input, view):]
        except (BlockingIOError, BrokenPipeError):
            return False
        return True

    def close_input(self) -> None:
        """End the program's input (it reads end of file)."""
        if self._input is not None:
            os.close(self._input)
            self._input = None

    @property
    def input_open(self) -> bool:
        return self._input is not None

    def stop_feed(self) -> None:
        """End the live feed for the UI (the capture itself goes on writing its other sinks)."""
        if self._feed is not None:
            self._feed.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        """The program's exit code once the capture ended, else None."""
        return self._proc.poll() if self._proc else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the capture to end; None on timeout."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_program(self, pids: Iterable[int]) -> None:
        """SIGKILL the traced processes (the capture sees them die and finishes normally):
        those the feed has shown, and every process the capture is tracing now (a child born
        since the last batch, not on screen yet, would otherwise keep the run alive)."""
        self.decision = "kill"
        sent = False
        for pid in {*pids, *self._traced_now()}:
            if pid != self.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                    sent = True
                except (ProcessLookupError, PermissionError):
                    pass
        if not sent:
            self._signal_capture(signal.SIGTERM)

    def _traced_now(self) -> list[int]:
        """The processes whose tracer is the capture child (/proc's TracerPid)."""
        if self._proc is None:
            return []
        tracer = str(self._proc.pid)
        traced = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/status", "rb") as fh:
                    for line in fh:
                        if line.startswith(b"TracerPid:"):
                            if line.split()[1].decode() == tracer:
                                traced.append(int(name))
                            break
            except OSError:
                continue  # gone meanwhile
        return traced

    def detach(self) -> None:
        """Leave the program running: SIGINT detaches a `-p` capture; a launched one runs on."""
        self.decision = "detach"
        if self.attached:
            self._signal_capture(signal.SIGINT)

    def finish(self) -> int:
        """After the UI closed: the exit code to return, escalating a kill that did not take."""
        if self._proc is None:
            return 1
        self.close_input()  # the UI is gone: nobody types any more
        if self.decision == "detach" and not self.attached:
            return 0
        code = self.wait(5.0)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if code is not None:
                break
            self._signal_capture(sig)
            code = self.wait(3.0)
        return code if code is not None else 1

    def _signal_capture(self, sig: int) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.send_signal(sig)
            except ProcessLookupError:
                pass
