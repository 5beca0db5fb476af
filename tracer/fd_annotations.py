"""What strace's -y and -yy print beside fds: the object an fd refers to, a directory fd's
path, a socket's endpoints and a device's numbers, recorded on the call's span."""

from __future__ import annotations

from renacer_tui.model.attributes import (
    ATTR_DIRFD_OBJECT,
    ATTR_FD_DETAILS,
    ATTR_RESULT_FD_DETAILS,
    ATTR_RESULT_FD_OBJECT,
)
from renacer_tui.model.syscalls import FD_PAIRS, returns_fd
from renacer_tui.tracer import formats as F
from renacer_tui.tracer.decode import Decoded, Plan, pipe_fds
from renacer_tui.tracer.events import TraceeMemory
from renacer_tui.tracer.links import FdObjects
from renacer_tui.tracer.rows import Row


class FdAnnotator:
    """-y (`results`: the objects of directory fds and of new fds) and -yy (`details`: a
    socket's protocol and endpoints, a device's numbers, read at every call: they change)."""

    def __init__(self, fds: FdObjects, *, results: bool, details: bool) -> None:
        self._fds = fds
        self.results = results
        self.details = details

    def at_entry(self, tid: int, tgid: int, row: Row, plan: Plan, args: tuple, fd: int | None, obj: str | None,
                 mem: TraceeMemory) -> None:
        if self.details and fd is not None and obj is not None:
            self._details(tid, row, ATTR_FD_DETAILS, fd, mem)
        if self.results and plan.dirfd_index is not None:  # `AT_FDCWD</tmp>`, `3</etc>`
            self._dirfd_target(tid, tgid, row, F.to_int32(args[plan.dirfd_index]), mem)

    def at_exit(self, tid: int, tgid: int, row: Row, dec: Decoded, args: tuple, ret: int, mem: TraceeMemory) -> None:
        """A successful call returned `ret` (≥ 0)."""
        if not self.results:
            return
        name = dec.plan.name
        if returns_fd(name, args):
            self._result_fd(tid, tgid, row, ret, mem)
        elif name in FD_PAIRS:
            self._result_fds(tid, tgid, row, dec.texts[FD_PAIRS[name]], mem)

    def _new_fd_target(self, tid: int, tgid: int, fd: int, mem: TraceeMemory) -> str | None:
        """What a new fd refers to, read now (the recorder read it at this exit too)."""
        self._fds.forget(tgid, fd)
        target = self._fds.lookup(mem, tgid, tid, fd)
        return None if target is None else F.escape_text(target)

    def _dirfd_target(self, tid: int, tgid: int, row: Row, dirfd: int, mem: TraceeMemory) -> None:
        """The working directory is never cached: chdir changes it."""
        target = mem.fd_target(tid, dirfd) if dirfd == F.AT_FDCWD else self._fds.lookup(mem, tgid, tid, dirfd)
        if target is not None:
            row.attrs[ATTR_DIRFD_OBJECT] = F.escape_text(target)

    def _result_fd(self, tid: int, tgid: int, row: Row, fd: int, mem: TraceeMemory) -> None:
        target = self._new_fd_target(tid, tgid, fd, mem)
        if target is not None:
            row.attrs[ATTR_RESULT_FD_OBJECT] = target
            if self.details:
                self._details(tid, row, ATTR_RESULT_FD_DETAILS, fd, mem)

    def _result_fds(self, tid: int, tgid: int, row: Row, shown: str, mem: TraceeMemory) -> None:
        """What each of a pipe's (or socketpair's) two new fds refers to."""
        fds = pipe_fds(shown) or ()
        targets = [self._new_fd_target(tid, tgid, fd, mem) for fd in fds]
        if targets and None not in targets:
            row.attrs[ATTR_RESULT_FD_OBJECT] = targets
            details = [mem.fd_details(tid, fd) for fd in fds] if self.details else []
            if details and None not in details:
                row.attrs[ATTR_RESULT_FD_DETAILS] = details

    @staticmethod
    def _details(tid: int, row: Row, key: str, fd: int, mem: TraceeMemory) -> None:
        """What strace shows of `fd` at this stop (printable already), under `key`."""
        details = mem.fd_details(tid, fd)
        if details is not None:
            row.attrs[key] = details
