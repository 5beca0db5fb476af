"""A seccomp-bpf filter that stops the tracee only for the syscalls we trace.

The program checks `seccomp_data.arch == AUDIT_ARCH_X86_64` (anything else — i386 via int 0x80,
which our x86-64 tables cannot name — is allowed untraced), loads `nr` and returns
`SECCOMP_RET_TRACE` for the traced numbers (sorted into contiguous ranges: one or three
instructions each), `SECCOMP_RET_ALLOW` otherwise.  With `PTRACE_O_TRACESECCOMP` the tracer
then gets a seccomp stop per traced call and nothing at all for the rest — what
`strace --seccomp-bpf` does.

A filter can only be installed by the task itself, so it works for launched programs
(installed in the forked child before exec, after `PR_SET_NO_NEW_PRIVS`), never for `-p`
attach: there the capture reports every syscall and the span builder filters in userspace.
Caution: `SECCOMP_RET_TRACE` with no tracer attached fails the call with ENOSYS, so the child
must already be traced when it installs the filter.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Iterable

from renacer_tui.tracer.ptrace_raw import AUDIT_ARCH_X86_64, libc

# linux/filter.h, linux/bpf_common.h
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00
BPF_JEQ, BPF_JGT, BPF_JGE = 0x10, 0x20, 0x30

# linux/seccomp.h
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_SET_MODE_FILTER = 1
SYS_SECCOMP = 317  # x86-64
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARCH = 4
BPF_MAXINSNS = 4096

Insn = tuple[int, int, int, int]  # code, jt, jf, k


def _stmt(code: int, k: int) -> Insn:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> Insn:
    return (code, jt, jf, k)


def ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged inclusive ranges of the given syscall numbers."""
    out: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if n < 0:
            raise ValueError(f"negative syscall number {n}")
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def build_program(traced: Iterable[int]) -> list[Insn]:
    """The classic-BPF program (list of (code, jt, jf, k)) for the traced syscall numbers."""
    prog: list[Insn] = [
        _stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH),
        _jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        _stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        _stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR),
    ]
    for lo, hi in ranges(traced):
        if lo == hi:
            prog.append(_jump(BPF_JMP | BPF_JEQ | BPF_K, lo, 0, 1))
        else:
            prog.append(_jump(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 2))  # nr < lo: skip range
            prog.append(_jump(BPF_JMP | BPF_JGT | BPF_K, hi, 1, 0))  # nr > hi: skip RET
        prog.append(_stmt(BPF_RET | BPF_K, SECCOMP_RET_TRACE))
    prog.append(_stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW))
    if len(prog) > BPF_MAXINSNS:
        raise ValueError(f"seccomp program too long ({len(prog)} instructions)")
    return prog


def run_program(prog: list[Insn], nr: int, arch: int = AUDIT_ARCH_X86_64) -> int:
    """Interpret the program for one (arch, nr) — the same semantics as the kernel, for tests."""
    acc = 0
    pc = 0
    data = {SECCOMP_DATA_NR: nr & 0xFFFFFFFF, SECCOMP_DATA_ARCH: arch}
    while True:
        code, jt, jf, k = prog[pc]
        if code == BPF_LD | BPF_W | BPF_ABS:
            acc = data[k]
            pc += 1
        elif code & 0x07 == BPF_JMP:
            op = code & 0xF0
            taken = {BPF_JEQ: acc == k, BPF_JGT: acc > k, BPF_JGE: acc >= k}[op]
            pc += 1 + (jt if taken else jf)
        elif code == BPF_RET | BPF_K:
            return k
        else:
            raise ValueError(f"unknown BPF instruction {code:#x}")


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


class SeccompFilter:
    """A ready-to-install filter. Build it in the parent; `install()` in the forked child.

    Everything is allocated up front so the child, between fork and exec, only makes two
    system calls (prctl and seccomp).
    """

    def __init__(self, traced: Iterable[int]) -> None:
        self.numbers = frozenset(traced)
        self.program = build_program(self.numbers)
        self._insns = (SockFilter * len(self.program))(*[SockFilter(c, t, f, k) for c, t, f, k in self.program])
        self._fprog = SockFprog(len(self.program), self._insns)

    def packed(self) -> bytes:
        """The program as the kernel sees it (struct sock_filter[]), for inspection."""
        return b"".join(struct.pack("<HBBI", *insn) for insn in self.program)

    def install(self) -> None:
        """Install on the calling thread (and its future children). Raises OSError."""
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "prctl(PR_SET_NO_NEW_PRIVS) failed")
        rc = libc.syscall(
            ctypes.c_long(SYS_SECCOMP), ctypes.c_long(SECCOMP_SET_MODE_FILTER), ctypes.c_long(0), ctypes.byref(self._fprog)
        )
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, "seccomp(SECCOMP_SET_MODE_FILTER) failed")
