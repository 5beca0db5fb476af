"""`TraceeMemory` for stopped tracees: process_vm_readv, with /proc/<tid>/mem as fallback.

Remote reads are split at page boundaries into separate iovecs, because the kernel reports a
partial transfer per iovec: a string that ends just before an unmapped page still reads whole.
"""

from __future__ import annotations

import ctypes
import errno
import os

from renacer_tui.tracer.formats import AT_FDCWD
from renacer_tui.tracer.ptrace_raw import IOVec, process_vm_readv, process_vm_readv_fast

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MAX_IOV = 64  # pages per call; reads longer than this loop


class ProcMemory:
    """Reads the memory and fd table of stopped tasks (implements tracer.events.TraceeMemory)."""

    def __init__(self, buffer_size: int = 64 * 1024) -> None:
        self._buf = ctypes.create_string_buffer(buffer_size)
        self._buf_addr = ctypes.addressof(self._buf)
        self._local = IOVec(self._buf_addr, 0)
        self._remote = (IOVec * _MAX_IOV)()
        self._use_vm_readv = True
        # One-page reads (most buffers and strings) reuse one prebuilt iovec pair: no loop.
        self._local1 = IOVec(self._buf_addr, 0)
        self._remote1 = IOVec(0, 0)
        self._local1_ref = ctypes.byref(self._local1)
        self._remote1_ref = ctypes.byref(self._remote1)
        self._last_addr = self._last_size = 0
        self._view = memoryview(self._buf).cast("B")  # slicing it copies only what was read

    # -- bytes ---------------------------------------------------------------------------
    def read_bytes(self, tid: int, addr: int, size: int) -> bytes:
        """Up to `size` bytes at `addr`; fewer (or b"") where memory is unreadable."""
        if size <= 0 or addr <= 0:
            return b""
        if size <= PAGE - (addr % PAGE) and self._use_vm_readv:
            got = self._read_one_page(tid, addr, size)
            if got is not None:
                return got
        out = bytearray()
        while size > 0:
            chunk = self._read_chunk(tid, addr, size)
            if not chunk:
                break
            out += chunk
            if len(chunk) < min(size, len(self._buf)):
                break  # hit unreadable memory
            addr += len(chunk)
            size -= len(chunk)
        return bytes(out)

    def read_cstring(self, tid: int, addr: int, limit: int) -> tuple[bytes, bool]:
        """NUL-terminated bytes at `addr`, at most `limit`; returns (data, truncated).

        Reads a page at a time (never across a page boundary in one go), so a string near
        the end of a mapping is found even when the next page is unmapped.
        """
        if addr <= 0 or limit <= 0:
            return b"", limit <= 0 and addr > 0
        out = bytearray()
        while len(out) <= limit:
            want = min(PAGE - (addr % PAGE), limit + 1 - len(out))
            chunk = self._read_chunk(tid, addr, want)
            if not chunk:
                return bytes(out), False
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                break
            out += chunk
            if len(chunk) < want:
                return bytes(out), False
            addr += len(chunk)
        if len(out) > limit:
            return bytes(out[:limit]), True
        return bytes(out), False

    def _read_one_page(self, tid: int, addr: int, size: int) -> bytes | None:
        """The fast path: a read that stays inside one page (None: use the general path)."""
        if addr != self._last_addr or size != self._last_size:  # a loop reads one buffer over and over
            self._remote1.iov_base = self._last_addr = addr
            self._remote1.iov_len = self._local1.iov_len = self._last_size = size
        got = process_vm_readv_fast(tid, self._local1_ref, 1, self._remote1_ref, 1, 0)
        if got < 0:
            return None
        return self._view[:got].tobytes()

    def _read_chunk(self, tid: int, addr: int, size: int) -> bytes:
        """One process_vm_readv of at most the buffer size, page-split remote iovecs."""
        size = min(size, len(self._buf))
        if not self._use_vm_readv:
            return self._read_proc_mem(tid, addr, size)
        if size <= PAGE - (addr % PAGE):
            got = self._read_one_page(tid, addr, size)
            if got is not None:
                return got
        remote = self._remote
        count = 0
        cur, left = addr, size
        while left > 0 and count < _MAX_IOV:
            n = min(PAGE - (cur % PAGE), left)
            remote[count].iov_base = cur
            remote[count].iov_len = n
            count += 1
            cur += n
            left -= n
        self._local.iov_len = cur - addr
        got = process_vm_readv(tid, ctypes.byref(self._local), 1, remote, count, 0)
        if got < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOSYS, errno.EPERM):
                self._use_vm_readv = False
                return self._read_proc_mem(tid, addr, size)
            return b""
        return ctypes.string_at(self._buf_addr, got)  # not .raw[:got]: that copies all 64 KiB first

    @staticmethod
    def _read_proc_mem(tid: int, addr: int, size: int) -> bytes:
        """Fallback where process_vm_readv is unavailable (seccomp'd containers, gVisor)."""
        try:
            fd = os.open(f"/proc/{tid}/mem", os.O_RDONLY)
        except OSError:
            return b""
        try:
            out = bytearray()
            while size > 0:
                n = min(PAGE - (addr % PAGE), size)
                try:
                    data = os.pread(fd, n, addr)
                except OSError:
                    break
                out += data
                if len(data) < n:
                    break
                addr += n
                size -= n
            return bytes(out)
        finally:
            os.close(fd)

    # -- fds -----------------------------------------------------------------------------
    @staticmethod
    def fd_target(tid: int, fd: int) -> str | None:
        """readlink of /proc/<tid>/fd/<fd> ("pipe:[123]", "/etc/passwd"), None if gone; for
        AT_FDCWD, the task's working directory."""
        try:
            return os.readlink(f"/proc/{tid}/cwd" if fd == AT_FDCWD else f"/proc/{tid}/fd/{fd}")
        except OSError:
            return None

    @staticmethod
    def fd_details(tid: int, fd: int) -> str | None:
        """What strace -yy shows of the fd now, read from /proc and sock_diag."""
        from renacer_tui.tracer.fd_details import fd_details  # only -yy needs it

        return fd_details(tid, fd)
