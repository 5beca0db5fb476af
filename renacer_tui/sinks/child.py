"""Sink work in a forked child process: the capture process only writes Arrow IPC bytes to a pipe.

Why a child: every stop of the traced program needs the capture loop's GIL, so Python work in
a sink thread of the capture process (sorting, Parquet encoding, catalog commits, protobuf,
imports) delays the program.  In a child that work runs beside the capture loop — on the other
CPU when one is idle — and the capture side's `write` is a C++ IPC encode plus an `os.write`
that releases the GIL.

Why fork and not exec: a fresh interpreter costs ~0.1 s of CPU and pyarrow's import another
~0.07 s, all of it competing with the traced program on a small machine; a fork inherits both.
Forking is only safe while the process has a single Python thread and no gRPC state (gRPC
must not cross a fork), so callers check `can_fork()` and fall back to an exec'd worker or an
in-process sink.

The child ends on EOF of its pipe — the capture process finished, or died (even `kill -9`) —
after flushing what it holds.  It reports failures as lines on a status pipe, which the
parent turns into one exception (the fan-out reports it once and the run goes on).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import Any, BinaryIO, Callable

import pyarrow as pa

from renacer_tui.model.sink import SpanSink
from renacer_tui.sinks.forking import become_child
from renacer_tui.sinks.ipc_pipe import PIPE_GONE, IpcPipeWriter

#: `child_main(data_stream, report)`: consume the Arrow stream, call `report(line)` for each
#: problem worth telling the user once; its return value is the child's exit status.
ChildMain = Callable[[BinaryIO, Callable[[str], None]], int]

def fork_sink_child(child_main: ChildMain, stderr_fd: int | None = None) -> tuple[int, int, int]:
    """Fork a child running `child_main` on a new pipe; returns (pid, data write fd, status read fd)."""
    data_r, data_w = os.pipe()
    status_r, status_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # or the child would write pending output a second time
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            become_child((data_r, status_w), stderr_fd)

            def report(line: str) -> None:
                os.write(status_w, (" ".join(str(line).split()) + "\n").encode("utf-8", "replace"))

            with os.fdopen(data_r, "rb") as stream:
                code = child_main(stream, report)
        except BaseException as exc:  # one line for the parent, never a traceback
            try:
                os.write(status_w, f"{type(exc).__name__}: {exc}".replace("\n", " ").encode() + b"\n")
            except OSError:
                pass
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(data_r)
    os.close(status_w)
    os.set_blocking(status_r, False)
    return pid, data_w, status_r


def spawn_sink_child(argv: list[str], env: dict[str, str], stderr_fd: int | None = None) -> tuple[int, int, int]:
    """Start `argv` (a sink worker run as a program) on a new data pipe as its stdin; returns
    (pid, data write fd, status read fd), as `fork_sink_child` does.

    For when forking is not safe (several threads, gRPC loaded).  The program inherits the
    status pipe's write end and holds it until it exits, so the capture side sees the exit as
    the pipe's EOF exactly as with a forked child; stdout is /dev/null, stderr `stderr_fd`
    (None: ours, -1: /dev/null).
    """
    data_r, data_w = os.pipe()
    status_r, status_w = os.pipe()
    actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_DUP2, data_r, 0),
                                      (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    if stderr_fd is not None:
        actions.append((os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0) if stderr_fd < 0
                       else (os.POSIX_SPAWN_DUP2, stderr_fd, 2))
    os.set_inheritable(status_w, True)  # every other descriptor of ours is close-on-exec
    try:
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    except OSError:
        for fd in (data_r, data_w, status_r):
            os.close(fd)
        raise
    finally:
        os.close(status_w)
    os.close(data_r)
    os.set_blocking(status_r, False)
    return pid, data_w, status_r


def read_span_stream(stream: BinaryIO, on_batch: Callable[[pa.RecordBatch], None]) -> bool:
    """Feed every batch of an Arrow IPC stream to `on_batch`; False when the stream broke off."""
    try:
        reader = pa.ipc.open_stream(stream)
    except (pa.ArrowInvalid, OSError):
        return False  # the sender died before its first message
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return True
        except (pa.ArrowInvalid, OSError):  # the capture process died mid-batch
            return False
        on_batch(batch)


class SinkProcess:
    """A sink's child process: its pid, the data pipe it reads (`stdin`), its status pipe.

    Forked (`fork`, the usual case: no interpreter start-up) or started as a program (`spawn`,
    where forking is not safe); either way `status_fd` reads what the child reports and reaches
    EOF when the child exits, so waiting needs no polling loop.  `ChildSink` drives it.
    """

    def __init__(self, pid: int, data_w: int, status_fd: int) -> None:
        self.pid, self.status_fd = pid, status_fd
        self.stdin = os.fdopen(data_w, "wb", buffering=0)
        self.returncode: int | None = None

    @classmethod
    def fork(cls, child_main: ChildMain, stderr_fd: int | None = None) -> "SinkProcess":
        """A forked child running `child_main` (see `fork_sink_child`)."""
        return cls(*fork_sink_child(child_main, stderr_fd))

    @classmethod
    def spawn(cls, argv: list[str], env: dict[str, str], stderr_fd: int | None = None) -> "SinkProcess":
        """A child running the program `argv` (see `spawn_sink_child`)."""
        return cls(*spawn_sink_child(argv, env, stderr_fd))

    def poll(self) -> int | None:
        return self.returncode if self._reap(block=False) else None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child (raises subprocess.TimeoutExpired after `timeout` seconds)."""
        import subprocess

        if self.returncode is None and timeout is not None:
            end = time.monotonic() + timeout
            while not self._reap(block=False):
                left = end - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(["sink child", str(self.pid)], timeout)
                self.wait_readable(min(left, 0.05))
                self.read_status()
        self._reap(block=True)
        assert self.returncode is not None
        self.close_status()
        return self.returncode

    def wait_readable(self, timeout: float) -> None:
        """Block until the child reports something or exits, at most `timeout` seconds."""
        if self.status_fd >= 0:
            select.select([self.status_fd], [], [], max(0.0, timeout))

    def read_status(self) -> bytes | None:
        """What the child reported since the last call (b"" if nothing yet); None once it is gone."""
        if self.status_fd < 0:
            return None
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(self.status_fd, 65536)
            except BlockingIOError:
                return b"".join(chunks)
            if not chunk:
                if chunks:
                    return b"".join(chunks)  # EOF is seen again on the next call
                return None
            chunks.append(chunk)

    def close_status(self) -> None:
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it still runs 2 s later; reaps it."""
        import subprocess

        self.terminate()
        try:
            self.wait(2.0)
        except subprocess.TimeoutExpired:
            self.kill()
            self.wait()

    def _signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def _reap(self, block: bool) -> bool:
        if self.returncode is not None:
            return True
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (the capture loop's waitpid(-1))
            self.returncode = -1
            return True
        if pid == 0:
            return False
        self.returncode = os.waitstatus_to_exitcode(status)
        return True


class ChildGone(Exception):
    """The sink's child process exited before the run ended."""


class ChildSink(SpanSink):
    """Capture-process side of a sink whose work runs in a child process: the one owner of
    that child's life, from the first batch to the reaped exit.

    `write` encodes the batch as Arrow IPC and writes it to the child's pipe (blocking only this
    sink's fan-out thread when the child is behind); a problem the child reported is raised
    from the next `write` or from `close` as `error_type(message)`, and a child gone early as
    `error_type("<label> exited early")`.  `close` ends the stream, waits up to `close_timeout`
    for the child to flush and exit, then stops it (SIGTERM, SIGKILL 2 s later) and reaps it;
    with `timeout_is_error` the overrun is raised too (a child that reports its own problems,
    like the OTLP worker on SIGTERM, says False).  Such a child cannot report once it is killed
    by a signal (SIGKILL, or SIGTERM before its handler is set): `killed_message` is raised then,
    so the problem is always told once, by the child or for it.
    """

    def __init__(
        self,
        name: str,
        process: SinkProcess,
        *,
        close_timeout: float = 8.0,
        error_type: type[Exception] | None = None,
        label: str | None = None,
        timeout_is_error: bool = True,
        killed_message: str | None = None,
    ) -> None:
        self._name = name
        self.killed_message = killed_message
        self.close_timeout = close_timeout
        self.error_type = error_type or ChildGone
        self.label = label or f"{name} process"
        self.timeout_is_error = timeout_is_error
        self._proc = process
        self.pid = process.pid
        self._pipe = IpcPipeWriter(process.stdin.fileno())
        self._messages: list[str] = []
        self._raised = False
        self._child_gone = False
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def returncode(self) -> int | None:
        """The child's exit status once closed (negative: killed by that signal)."""
        return self._proc.returncode

    def write(self, batch: pa.RecordBatch) -> None:
        """Forward one batch to the child; raises the child's first reported problem."""
        self._poll()
        self._raise_reported()
        self._guarded(self._pipe.write, batch)

    def close(self) -> None:
        """End the stream, wait up to `close_timeout` for the child to flush and exit."""
        if self._closed:
            return
        self._closed = True
        already_raised = self._raised  # the fan-out reports a sink's first failure only
        gone: Exception | None = None
        try:
            self._guarded(self._pipe.end)
        except Exception as exc:  # the child is gone or reported a problem: still reap it
            gone = exc
        finally:
            self._proc.stdin.close()
        deadline = time.monotonic() + max(0.0, self.close_timeout)
        while not self._child_gone and time.monotonic() < deadline:
            self._proc.wait_readable(deadline - time.monotonic())
            self._poll()
        if self._child_gone:
            self._proc.wait()
        else:
            self._proc.stop()
            if self.timeout_is_error:
                self._messages.append(f"{self.label} did not finish within {self.close_timeout:g} s")
            elif self.killed_message is not None and (self._proc.returncode or 0) < 0:
                self._messages.append(self.killed_message)
        self._proc.close_status()
        if already_raised:
            return
        if gone is not None:
            self._raised = True
            raise gone
        self._raise_reported()

    def _guarded(self, send: Callable[..., None], *args: object) -> None:
        try:
            send(*args)
        except (*PIPE_GONE, ValueError) as exc:  # ValueError: the pipe's file is already closed
            self._poll()
            self._raise_reported()
            self._raised = True
            raise self.error_type(f"{self.label} exited early") from exc

    def _poll(self) -> None:
        """Collect what the child reported so far (non-blocking)."""
        if self._child_gone:
            return
        data = self._proc.read_status()
        if data is None:
            self._child_gone = True
        elif data:
            text = data.decode("utf-8", "replace")
            self._messages.extend(line for line in text.splitlines() if line.strip())

    def _raise_reported(self) -> None:
        if self._messages and not self._raised:
            self._raised = True
            raise self.error_type(self._messages[0])


class ForkedSink(ChildSink):
    """A `ChildSink` whose child is forked to run `child_main` on the stream (`fork_sink_child`)."""

    def __init__(
        self,
        name: str,
        child_main: ChildMain,
        *,
        close_timeout: float = 8.0,
        error_type: type[Exception] | None = None,
        stderr_fd: int | None = None,
    ) -> None:
        super().__init__(name, SinkProcess.fork(child_main, stderr_fd), close_timeout=close_timeout,
                         error_type=error_type or ChildGone)


def run_child_sink(sink: Any, stream: BinaryIO, report: Callable[[str], None], describe: Callable[[BaseException], str]) -> int:
    """The usual child body: feed the stream to an in-process `sink`, report its first failure once.

    After a failure the child keeps draining the stream so the capture side never blocks.
    """
    failed = False

    def on_batch(batch: pa.RecordBatch) -> None:
        nonlocal failed
        if failed:
            return
        try:
            sink.write(batch)
        except Exception as exc:
            failed = True
            report(describe(exc))

    read_span_stream(stream, on_batch)
    try:
        sink.close()
    except Exception as exc:
        if not failed:
            report(describe(exc))
        failed = True
    return 1 if failed else 0
