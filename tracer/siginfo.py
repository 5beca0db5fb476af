"""A delivered signal's siginfo_t, as strace prints it (`{si_signo=SIGCHLD, si_code=CLD_EXITED, …}`).

The capture copies the first bytes of the siginfo PTRACE_GETSIGINFO filled in; this module reads
them in the decoder, after the fact.  The layout is x86-64 Linux's (`<asm-generic/siginfo.h>`):
signo, errno, code, 4 bytes of padding, then a union whose member the signal and code select.
The constant names come from the stdlib where it has them (`signal`); the si_code names do not
exist there and are listed here once.
"""

from __future__ import annotations

import signal
import struct
from typing import Any

from renacer_tui.model.attributes import (
    ATTR_SIGNAL_ADDRESS,
    ATTR_SIGNAL_CHILD_STATUS,
    ATTR_SIGNAL_CODE,
    ATTR_SIGNAL_NAME,
    ATTR_SIGNAL_NUMBER,
    ATTR_SIGNAL_SENDER_PID,
)
from renacer_tui.model.readable import signal_name
from renacer_tui.tracer import formats as F
from renacer_tui.tracer.ptrace_raw import SIGINFO_BYTES

_HEAD = struct.Struct("<iii4x")
_PID_UID = struct.Struct("<iI")  # at 16: kill, sigqueue, SIGCHLD
_CHILD = struct.Struct("<iIi4xqq")  # at 16: pid, uid, status at 24, (pad) utime at 32, stime at 40
_SIGVAL = struct.Struct("<Q")  # at 24: sigval (si_int is its low half, si_ptr the whole)
_TIMER = struct.Struct("<ii")  # at 16: timerid, overrun
_ADDR = struct.Struct("<Q")  # at 16: fault address, SIGSYS call address
_POLL = struct.Struct("<qi")  # at 16: band, fd
_SYS = struct.Struct("<iI")  # at 24: syscall, arch

#: si_code values common to every signal (<= 0 came from a process; SI_KERNEL from the kernel)
_GENERIC = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ", -4: "SI_ASYNCIO",
            -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD", -60: "SI_ASYNCNL"}
#: si_code values > 0, by signal
_PER_SIGNAL: dict[int, tuple[str, ...]] = {
    signal.SIGCHLD: ("CLD_EXITED", "CLD_KILLED", "CLD_DUMPED", "CLD_TRAPPED", "CLD_STOPPED", "CLD_CONTINUED"),
    signal.SIGSEGV: ("SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR", "SEGV_ACCADI", "SEGV_ADIDERR",
                     "SEGV_ADIPERR", "SEGV_MTEAERR", "SEGV_MTESERR"),
    signal.SIGBUS: ("BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO"),
    signal.SIGILL: ("ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR", "ILL_ILLTRP", "ILL_PRVOPC", "ILL_PRVREG",
                    "ILL_COPROC", "ILL_BADSTK", "ILL_BADIADDR"),
    signal.SIGFPE: ("FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV", "FPE_FLTOVF", "FPE_FLTUND", "FPE_FLTRES",
                    "FPE_FLTINV", "FPE_FLTSUB", "FPE_FLTUNK", "FPE_CONDTRAP"),
    signal.SIGTRAP: ("TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT", "TRAP_UNK", "TRAP_PERF"),
    signal.SIGIO: ("POLL_IN", "POLL_OUT", "POLL_MSG", "POLL_ERR", "POLL_PRI", "POLL_HUP"),
    signal.SIGSYS: ("SYS_SECCOMP", "SYS_USER_DISPATCH"),
}
_FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP)
_AUDIT_ARCH_X86_64 = 0xC000003E


def code_name(signo: int, code: int) -> str:
    """The si_code's name for this signal (a number when Linux defines none)."""
    if code > 0 and code != 0x80:
        names = _PER_SIGNAL.get(signo, ())
        if code <= len(names):
            return names[code - 1]
    return _GENERIC.get(code, str(code))


def decode_siginfo(signo: int, raw: bytes) -> tuple[dict[str, Any], str]:
    """(span event attributes, strace's `{si_signo=…}` text) of one delivered signal.

    `raw` is what the capture copied (empty when PTRACE_GETSIGINFO failed: only the number is known).
    """
    name = signal_name(signo)
    attrs: dict[str, Any] = {ATTR_SIGNAL_NAME: name, ATTR_SIGNAL_NUMBER: signo}
    if len(raw) < SIGINFO_BYTES:
        return attrs, "{si_signo=" + F.signal_arg(signo) + "}"
    _signo, errno_, code = _HEAD.unpack_from(raw, 0)
    code_text = code_name(signo, code)
    attrs[ATTR_SIGNAL_CODE] = code_text
    code_raw = F.hex_word(code) if code >= 0 else str(code)
    fields = [f"si_signo={F.signal_arg(signo)}", f"si_code={F.xlat(code_raw, code_text)}"]
    if errno_:
        fields.append(f"si_errno={F.errno_name(errno_)}")
    if signo == signal.SIGCHLD and 0 < code <= 6:
        pid, uid, status, utime, stime = _CHILD.unpack_from(raw, 16)
        exited = code == 1  # an exit code; for the other CLD_* codes, a signal (strace)
        shown = str(status) if exited else F.signal_arg(status)
        fields += [f"si_pid={pid}", f"si_uid={uid}", f"si_status={shown}", f"si_utime={utime}", f"si_stime={stime}"]
        attrs.update({ATTR_SIGNAL_SENDER_PID: pid, ATTR_SIGNAL_CHILD_STATUS: str(status) if exited else signal_name(status)})
    elif signo in _FAULTS and 0 < code < 0x80:
        (addr,) = _ADDR.unpack_from(raw, 16)
        fields.append(f"si_addr={F.pointer(addr)}")
        attrs[ATTR_SIGNAL_ADDRESS] = F.pointer(addr)
    elif signo == signal.SIGIO and 0 < code < 0x80:
        band, fd = _POLL.unpack_from(raw, 16)
        fields += [f"si_band={band}", f"si_fd={fd}"]
    elif signo == signal.SIGSYS and code == 1:
        (addr,) = _ADDR.unpack_from(raw, 16)
        nr, arch = _SYS.unpack_from(raw, 24)
        arch_text = "AUDIT_ARCH_X86_64" if arch == _AUDIT_ARCH_X86_64 else f"{arch:#x}"
        fields += [f"si_call_addr={F.pointer(addr)}", f"si_syscall={nr}", f"si_arch={arch_text}"]
    elif code == -2:  # SI_TIMER
        timer, overrun = _TIMER.unpack_from(raw, 16)
        (value,) = _SIGVAL.unpack_from(raw, 24)
        fields += [f"si_timerid={timer:#x}", f"si_overrun={overrun}", f"si_int={_as_int(value)}", f"si_ptr={value:#x}"]
    elif code <= 0:  # from a process: kill, tkill, sigqueue, mq_notify, …
        pid, uid = _PID_UID.unpack_from(raw, 16)
        fields += [f"si_pid={pid}", f"si_uid={uid}"]
        attrs[ATTR_SIGNAL_SENDER_PID] = pid
        if code in (-1, -3):  # SI_QUEUE, SI_MESGQ carry a value
            (value,) = _SIGVAL.unpack_from(raw, 24)
            fields += [f"si_int={_as_int(value)}", f"si_ptr={value:#x}"]
    return attrs, "{" + ", ".join(fields) + "}"


def _as_int(sigval: int) -> int:
    """si_int: the low 32 bits of the sigval, signed."""
    low = sigval & 0xFFFFFFFF
    return low - (1 << 32) if low & 0x80000000 else low
