"""Raw Linux ptrace bindings for the hot capture loop (x86-64).

python-ptrace supplies the classic request numbers and PTRACE_O_* / PTRACE_EVENT_* constants;
its own debugger loop polls with WNOHANG and sleeps, which is far too slow for the hot path, so
the loop calls libc `ptrace` directly through ctypes.  This module adds what python-ptrace
lacks: PTRACE_SEIZE/INTERRUPT/LISTEN, PTRACE_GET_SYSCALL_INFO and its struct, the seccomp
event, EXITKILL, `__WALL`, `process_vm_readv`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import struct

from ptrace.binding.func import (  # the field's constants, where python-ptrace has them
    PTRACE_CONT,
    PTRACE_DETACH,
    PTRACE_EVENT_CLONE,
    PTRACE_EVENT_EXEC,
    PTRACE_EVENT_EXIT,
    PTRACE_EVENT_FORK,
    PTRACE_EVENT_VFORK,
    PTRACE_EVENT_VFORK_DONE,
    PTRACE_GETEVENTMSG,
    PTRACE_GETSIGINFO,
    PTRACE_KILL,
    PTRACE_O_TRACECLONE,
    PTRACE_O_TRACEEXEC,
    PTRACE_O_TRACEFORK,
    PTRACE_O_TRACESYSGOOD,
    PTRACE_O_TRACEVFORK,
    PTRACE_SETOPTIONS,
    PTRACE_SYSCALL,
)

__all__ = [
    "PTRACE_CONT", "PTRACE_DETACH", "PTRACE_EVENT_CLONE", "PTRACE_EVENT_EXEC", "PTRACE_EVENT_EXIT",
    "PTRACE_EVENT_FORK", "PTRACE_EVENT_VFORK", "PTRACE_EVENT_VFORK_DONE", "PTRACE_GETEVENTMSG",
    "PTRACE_GETSIGINFO", "PTRACE_KILL", "PTRACE_O_TRACECLONE", "PTRACE_O_TRACEEXEC",
    "PTRACE_O_TRACEFORK", "PTRACE_O_TRACESYSGOOD", "PTRACE_O_TRACEVFORK", "PTRACE_SETOPTIONS",
    "PTRACE_SYSCALL", "PTRACE_SEIZE", "PTRACE_INTERRUPT", "PTRACE_LISTEN", "PTRACE_GET_SYSCALL_INFO",
    "PTRACE_O_TRACESECCOMP", "PTRACE_O_EXITKILL", "PTRACE_EVENT_SECCOMP", "PTRACE_EVENT_STOP",
    "WALL", "OP_NONE", "OP_ENTRY", "OP_EXIT", "OP_SECCOMP", "SyscallInfo", "SigInfo",
    "PtraceError", "check_platform", "ptrace", "ptrace_checked", "ptrace_fast", "libc",
    "PTRACE_POKEUSER", "USER_RAX", "USER_ORIG_RAX", "poke_user",
]

# Requests and options python-ptrace does not define (linux/ptrace.h).
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E
PTRACE_POKEUSER = 6
#: Offsets in struct user (user_regs_struct first) of rax and orig_rax, x86-64
USER_RAX = 10 * 8
USER_ORIG_RAX = 15 * 8
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128
WALL = 0x40000000  # __WALL: wait for clone children (threads) too

# ptrace_syscall_info.op
OP_NONE, OP_ENTRY, OP_EXIT, OP_SECCOMP = 0, 1, 2, 3

AUDIT_ARCH_X86_64 = 0xC000003E


class PtraceError(OSError):
    """A ptrace request failed; `errno` says why."""


def check_platform() -> None:
    """Raise PtraceError with one clear line unless we run on x86-64 Linux."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise PtraceError(
            errno.ENOSYS, f"renacer-tui traces x86-64 Linux only (this is {platform.system()} {platform.machine()})"
        )


libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

_ptrace = libc.ptrace
_ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
_ptrace.restype = ctypes.c_long

#: Bare libc call: returns -1 and leaves errno set on failure.
ptrace = _ptrace

#: The same call without argtypes, for the hot loop: ctypes then skips four from_param
#: conversions (~0.35 µs a call).  Plain ints must fit in 32 bits (libffi sign-extends them into
#: the 64-bit registers); pass an address as a prebuilt ctypes.c_void_p.
ptrace_fast = libc["ptrace"]
ptrace_fast.restype = ctypes.c_long


def ptrace_checked(request: int, tid: int, addr: int | None = 0, data: int | ctypes._Pointer | None = 0) -> int:
    """ptrace that raises PtraceError (with the errno) instead of returning -1."""
    ctypes.set_errno(0)
    result = _ptrace(request, tid, addr, data)
    if result == -1:
        err = ctypes.get_errno()
        if err:
            raise PtraceError(err, os.strerror(err))
    return result


class SyscallInfo:
    """A reusable buffer for PTRACE_GET_SYSCALL_INFO, decoded with precompiled structs.

    Layout (linux/ptrace.h `struct ptrace_syscall_info`): u8 op, 3 pad, u32 arch, u64 ip,
    u64 sp, then a union at offset 24 — entry {u64 nr, u64 args[6]}, exit {s64 rval, u8
    is_error}, seccomp {u64 nr, u64 args[6], u32 ret_data}.
    """

    SIZE = 88
    _ENTRY = struct.Struct("<7Q")  # nr, args[6] at offset 24
    _EXIT = struct.Struct("<qB")  # rval, is_error at offset 24

    __slots__ = ("buf", "addr", "addr_arg", "unpack_entry", "unpack_exit")

    def __init__(self) -> None:
        self.buf = (ctypes.c_ubyte * self.SIZE)()
        self.addr = ctypes.addressof(self.buf)
        self.addr_arg = ctypes.c_void_p(self.addr)  # for ptrace_fast
        self.unpack_entry = self._ENTRY.unpack_from
        self.unpack_exit = self._EXIT.unpack_from

    def fetch(self, tid: int) -> int:
        """Fill the buffer for stopped `tid`; returns the op byte (OP_NONE when it failed)."""
        if ptrace_fast(PTRACE_GET_SYSCALL_INFO, tid, self.SIZE, self.addr_arg) <= 0:
            return OP_NONE
        return self.buf[0]

    def entry(self) -> tuple[int, tuple[int, int, int, int, int, int]]:
        """(nr, args) of an entry or seccomp stop."""
        values = self.unpack_entry(self.buf, 24)
        return values[0], values[1:]

    def exit(self) -> tuple[int, bool]:
        """(signed return value, is_error) of an exit stop."""
        rval, is_error = self.unpack_exit(self.buf, 24)
        return rval, bool(is_error)

    def arch(self) -> int:
        """AUDIT_ARCH_* of the stopped syscall."""
        return int.from_bytes(bytes(self.buf[4:8]), "little")


#: How many bytes of a delivered signal's siginfo_t the capture keeps: the head and the union
#: members `tracer.siginfo` decodes.
SIGINFO_BYTES = 48


def poke_user(tid: int, offset: int, value: int) -> None:
    """Write one register of a stopped task (PTRACE_POKEUSER); raises PtraceError."""
    ptrace_checked(PTRACE_POKEUSER, tid, offset, value & 0xFFFFFFFFFFFFFFFF)


class SigInfo:
    """A reusable siginfo_t buffer for PTRACE_GETSIGINFO (si_signo, si_errno, si_code, si_pid)."""

    SIZE = 128
    _HEAD = struct.Struct("<iii4xiI")  # signo, errno, code, pad, pid, uid (kill/sigqueue layout)

    __slots__ = ("buf", "addr")

    def __init__(self) -> None:
        self.buf = (ctypes.c_ubyte * self.SIZE)()
        self.addr = ctypes.addressof(self.buf)

    def fetch(self, tid: int) -> tuple[int, int, int] | None:
        """(signo, code, sender pid) of the stopped task's pending signal; None if unavailable."""
        if _ptrace(PTRACE_GETSIGINFO, tid, 0, self.addr) == -1:
            return None
        signo, _err, code, pid, _uid = self._HEAD.unpack_from(self.buf, 0)
        return signo, code, pid

    def raw(self, size: int) -> bytes:
        """The first `size` bytes of the last siginfo fetched (decoded later, by `tracer.siginfo`)."""
        return ctypes.string_at(self.addr, size)


_eventmsg = ctypes.c_ulong()
_eventmsg_addr = ctypes.addressof(_eventmsg)


def get_event_msg(tid: int) -> int:
    """PTRACE_GETEVENTMSG: new child's tid (fork/clone), former tid (exec), exit status."""
    if _ptrace(PTRACE_GETEVENTMSG, tid, 0, _eventmsg_addr) == -1:
        return -1
    return _eventmsg.value


# process_vm_readv(pid, local_iov, liovcnt, remote_iov, riovcnt, flags)
class IOVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


process_vm_readv = libc.process_vm_readv
process_vm_readv.argtypes = (
    ctypes.c_int,
    ctypes.POINTER(IOVec),
    ctypes.c_ulong,
    ctypes.POINTER(IOVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
)
process_vm_readv.restype = ctypes.c_ssize_t
#: Without argtypes (see ptrace_fast): pointers as byref()/c_void_p, counts and pid as ints.
process_vm_readv_fast = libc["process_vm_readv"]
process_vm_readv_fast.restype = ctypes.c_ssize_t

prctl = libc.prctl
prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
prctl.restype = ctypes.c_int

syscall = libc.syscall
syscall.restype = ctypes.c_long
