"""Start a program under ptrace, the way strace does with PTRACE_SEIZE.

The child stops itself with SIGSTOP right after fork; the parent seizes it (with all options)
and sends SIGCONT.  Only then does the child install the seccomp filter (a RET_TRACE filter
without a tracer would fail calls with ENOSYS) and exec.  Errors the shell would report are
found in the parent first (`shutil.which`, access checks: 127 / 126); an exec that still fails
is reported by the child through a close-on-exec pipe, as `subprocess` does, so the message
is exact.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
from dataclasses import dataclass

from renacer_tui.tracer.ptrace_raw import PTRACE_SEIZE, PtraceError, ptrace_checked
from renacer_tui.tracer.seccomp import SeccompFilter


class CaptureError(Exception):
    """A capture that cannot start; `message` is one line for stderr, `exit_code` the shell's."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


PTRACE_REFUSED_HINT = "ptrace refused (check /proc/sys/kernel/yama/ptrace_scope, or run with CAP_SYS_PTRACE)"

# Python ignores SIGPIPE and SIGXFSZ for itself (ignored dispositions survive exec); the program
# must get the defaults back, as subprocess's restore_signals does. Handlers reset on exec anyway.
_RESET_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name))


@dataclass(frozen=True)
class Launched:
    """The stopped-and-seized child: pid and the read end of its exec-error pipe."""

    pid: int
    errpipe: int


def resolve_program(argv: list[str], env: dict[str, str] | None) -> str:
    """The executable path for argv[0], or CaptureError with the shell's message and code."""
    if not argv or not argv[0]:
        raise CaptureError("renacer-tui: no command given (usage: renacer-tui [OPTIONS] -- CMD [ARGS...])", 2)
    prog = argv[0]
    if "/" in prog:
        path = prog
        if not os.path.exists(path):
            raise CaptureError(f"renacer-tui: {prog}: No such file or directory", 127)
    else:
        search = (env if env is not None else os.environ).get("PATH", os.defpath)
        found = shutil.which(prog, path=search)
        if found is None:
            if _exists_in_path(prog, search):
                raise CaptureError(f"renacer-tui: {prog}: Permission denied", 126)
            raise CaptureError(f"renacer-tui: {prog}: command not found", 127)
        path = found
    if os.path.isdir(path):
        raise CaptureError(f"renacer-tui: {prog}: Is a directory", 126)
    if not os.access(path, os.X_OK):
        raise CaptureError(f"renacer-tui: {prog}: Permission denied", 126)
    return path


def _exists_in_path(prog: str, search: str) -> bool:
    return any(os.path.isfile(os.path.join(d or ".", prog)) for d in search.split(os.pathsep))


def exec_error(prog: str, err: int) -> CaptureError:
    """The CaptureError for an errno reported by the child's failed execve."""
    code = 127 if err == errno.ENOENT else 126
    return CaptureError(f"renacer-tui: {prog}: {os.strerror(err)}", code)


def launch(
    argv: list[str],
    options_mask: int,
    env: dict[str, str] | None = None,
    seccomp: SeccompFilter | None = None,
    stdio: tuple[int | None, int | None, int | None] = (None, None, None),
) -> Launched:
    """Fork, seize the child with `options_mask` and let it run to its execve.

    The caller (the tracer thread) then owns every later ptrace stop of the child.
    """
    path = resolve_program(argv, env)
    child_env = dict(os.environ) if env is None else env
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # child: only async-signal-safe-ish steps, then exec
        try:
            os.close(rfd)
            for sig in _RESET_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            for target, fd in enumerate(stdio):
                if fd is not None and fd != target:
                    os.dup2(fd, target)
            os.kill(os.getpid(), signal.SIGSTOP)  # wait here until the tracer has seized us
            if seccomp is not None:
                seccomp.install()
            os.execve(path, argv, child_env)
        except OSError as exc:
            try:
                os.write(wfd, str(exc.errno or errno.EINVAL).encode())
            finally:
                os._exit(127 if exc.errno == errno.ENOENT else 126)
        except BaseException:  # never return into the parent's code
            os._exit(127)
        os._exit(127)

    os.close(wfd)
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
    except ChildProcessError as exc:
        os.close(rfd)
        raise CaptureError(f"renacer-tui: {argv[0]}: child vanished", 1) from exc
    if not os.WIFSTOPPED(status):
        err = _read_errno(rfd)
        os.close(rfd)
        if err:
            raise exec_error(argv[0], err)
        raise CaptureError(f"renacer-tui: {argv[0]}: failed to start", 1)
    try:
        ptrace_checked(PTRACE_SEIZE, pid, 0, options_mask)
    except PtraceError as exc:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(rfd)
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise CaptureError(f"renacer-tui: {PTRACE_REFUSED_HINT}", 1) from exc
        raise CaptureError(f"renacer-tui: ptrace: {os.strerror(exc.errno or 0)}", 1) from exc
    os.kill(pid, signal.SIGCONT)
    return Launched(pid, rfd)


def _read_errno(rfd: int) -> int:
    try:
        data = os.read(rfd, 32)
    except OSError:
        return 0
    try:
        return int(data.decode() or 0)
    except ValueError:
        return 0


def read_exec_errno(launched: Launched) -> int:
    """The errno the child wrote before dying without exec (0: none, exec happened)."""
    return _read_errno(launched.errpipe)
