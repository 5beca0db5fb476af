"""The contract between the ptrace capture loop and the span builder.

The capture loop (`tracer.capture`) owns the kernel side: it waits for stops, reads
`PTRACE_GET_SYSCALL_INFO`, follows forks/clones/execs and reaps exits.  For every event it calls
one method of a `CaptureListener` (implemented by `tracer.spans.SpanBuilder`), in the exact
order the tracer observed them — that order is the run's causal order (Lamport clock).

Methods are called while the task is stopped, so the listener may read its memory through the
`TraceeMemory` it is handed (paths at entry, buffers at exit).  Listeners must be cheap: the
traced program is waiting.
"""

from __future__ import annotations

from typing import Protocol


class TraceeMemory(Protocol):
    """Read a stopped task's memory and fd table (process_vm_readv, /proc)."""

    def read_bytes(self, tid: int, addr: int, size: int) -> bytes:
        """Up to `size` bytes at `addr`; fewer (or b"") where memory is unreadable."""

    def read_cstring(self, tid: int, addr: int, limit: int) -> tuple[bytes, bool]:
        """NUL-terminated bytes at `addr`, at most `limit`; returns (data, truncated)."""

    def fd_target(self, tid: int, fd: int) -> str | None:
        """readlink of /proc/<tid>/fd/<fd> ("pipe:[123]", "/etc/passwd"), None if gone; for
        AT_FDCWD (-100), the task's working directory."""

    def fd_details(self, tid: int, fd: int) -> str | None:
        """What strace -yy shows of the fd now (`TCP:[127.0.0.1:80->…]`, `/dev/null<char 1:3>`),
        None if gone (tracer.fd_details)."""


class CaptureListener(Protocol):
    """Receives raw capture events in observation order. Times are Unix epoch ns."""

    def on_start(self, tid: int, t_ns: int) -> None:
        """The root tracee (launched or attached) is under trace."""

    def on_syscall_entry(
        self, tid: int, tgid: int, nr: int, args: tuple[int, int, int, int, int, int], t_ns: int, mem: TraceeMemory
    ) -> None:
        """A syscall-entry stop (or a seccomp stop, which the loop reports as an entry)."""

    def on_syscall_exit(self, tid: int, ret: int, is_error: bool, t_ns: int, mem: TraceeMemory) -> None:
        """The matching exit stop; `ret` is the signed return value (-errno when is_error)."""

    def on_new_task(self, tid: int, tgid: int, parent_tid: int, is_thread: bool, t_ns: int) -> None:
        """A fork/vfork/clone child is now traced. Called after the parent's creating syscall
        entry was reported and before any event of the child."""

    def on_exec(self, tid: int, tgid: int, former_tid: int, t_ns: int) -> None:
        """execve succeeded in `tgid` (the kernel may have changed the tid: `former_tid`)."""

    def on_injected(self, tid: int) -> None:
        """The call `tid` is in was injected (-e inject=): its exit, reported next, is the one
        the capture set (or, for signal=, the call ran and a signal follows)."""

    def on_signal(self, tid: int, signo: int, sender_pid: int, t_ns: int, siginfo: bytes) -> None:
        """A signal is being delivered to `tid` (signal-delivery-stop); `siginfo` is the head of its
        siginfo_t as PTRACE_GETSIGINFO filled it (empty when that failed)."""

    def on_group_stop(self, tid: int, signo: int, t_ns: int) -> None:
        """The task entered a group-stop for `signo` (SIGSTOP, SIGTSTP…); the loop keeps it
        stopped with PTRACE_LISTEN until a SIGCONT."""

    def on_exit(self, tid: int, wait_status: int, t_ns: int) -> None:
        """The task is gone (os.WIFEXITED/WIFSIGNALED decode `wait_status`). A syscall still
        open on this task is unfinished."""

    def on_detach(self, t_ns: int) -> None:
        """The tracer detached (Ctrl-C on -p) or everything exited; flush state."""
