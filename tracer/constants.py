"""Named constants of syscall arguments, as strace 6.1 prints them (`SEEK_CUR`, `AF_UNIX`,
`SOCK_STREAM|SOCK_CLOEXEC`, `F_GETFL`, `TCGETS`, `FUTEX_WAKE_PRIVATE`, `RLIMIT_STACK`…).

Names come from the stdlib where it has them (`os`, `socket`, `fcntl`, `termios`, `resource`,
`time`); the few Linux has and Python does not are listed here once.  Each renderer
takes the argument's value and the call's six arguments (some constants depend on another
argument: the protocol on the domain, fcntl's third argument on its command), and returns
strace's text, a number when the value has no name.  `shape` then drops the arguments strace
leaves out for the command or operation (fcntl F_GETFL has no third, FUTEX_WAKE has three).
"""

from __future__ import annotations

import fcntl
import os
import resource
import socket
import termios
import time
from collections.abc import Callable

from renacer_tui.tracer import formats as F
from renacer_tui.tracer.structs import MSG_FLAGS, STATX_MASKS


def _names(module: object, prefix: str | tuple[str, ...], skip: tuple[str, ...] = ()) -> dict[int, str]:
    """value → name for a module's constants with `prefix` (the first name of a value wins)."""
    table: dict[int, str] = {}
    for name in sorted(dir(module)):
        if name.startswith(prefix) and not name.startswith(skip):
            value = getattr(module, name)
            if isinstance(value, int):
                table.setdefault(value, name)
    return table


def _named(table: dict[int, str], value: int) -> str:
    """The value's name (its number, `%#x`, in -X raw), or the number when it has none."""
    name = table.get(value)
    return str(value) if name is None else F.xlat(F.hex_word(value & 0xFFFFFFFF), name)


_WHENCE = {os.SEEK_SET: "SEEK_SET", os.SEEK_CUR: "SEEK_CUR", os.SEEK_END: "SEEK_END",
           os.SEEK_DATA: "SEEK_DATA", os.SEEK_HOLE: "SEEK_HOLE"}
_FAMILIES = {int(family): family.name for family in socket.AddressFamily}
_FAMILIES[socket.AF_UNIX] = "AF_UNIX"  # not AF_FILE (strace's spelling)
_SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET",
               6: "SOCK_DCCP", 10: "SOCK_PACKET"}
_SOCK_CLOEXEC, _SOCK_NONBLOCK = 0o2000000, 0o4000
_IPPROTO = _names(socket, "IPPROTO_", ("IPPROTO_MAX",))
_IPPROTO[0] = "IPPROTO_IP"
_INET = (socket.AF_INET, socket.AF_INET6)

_FCNTL_CMDS = _names(fcntl, "F_", ("F_RDLCK", "F_WRLCK", "F_UNLCK", "F_EXLCK", "F_SHLCK", "F_SEAL_", "F_OK"))
for _alias, _canonical in ((fcntl.F_GETLK64, "F_GETLK"), (fcntl.F_SETLK64, "F_SETLK"), (fcntl.F_SETLKW64, "F_SETLKW")):
    _FCNTL_CMDS[_alias] = _canonical  # the same numbers on x86-64
_FCNTL_NO_ARG = frozenset({fcntl.F_GETFD, fcntl.F_GETFL, fcntl.F_GETOWN, fcntl.F_GETSIG, fcntl.F_GETLEASE,
                           fcntl.F_GETPIPE_SZ, fcntl.F_GET_SEALS})

_IOCTLS = _names(termios, ("TC", "TIOC", "FIO"), ("TCSA", "TCOO", "TCIO", "TCIF", "TCOF", "TCION", "TCOOF",
                                                   "TIOCM_", "TIOCPKT_", "TIOCSER_"))
_IOCTLS.update({0x5401: "TCGETS", 0x5402: "SNDCTL_TMR_START or TCSETS", 0x5403: "SNDCTL_TMR_STOP or TCSETSW",
                0x5404: "SNDCTL_TMR_CONTINUE or TCSETSF", 0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ",
                0x540F: "TIOCGPGRP", 0x5410: "TIOCSPGRP", 0x541B: "FIONREAD", 0x5421: "FIONBIO",
                0x5451: "FIOCLEX", 0x5450: "FIONCLEX", 0x80045430: "TIOCGPTN", 0x40045431: "TIOCSPTLCK"})

_FUTEX_OPS = ("FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP",
              "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET",
              "FUTEX_WAIT_REQUEUE_PI", "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2")
_FUTEX_PRIVATE, _FUTEX_CLOCK_REALTIME = 128, 256
_FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
#: How many arguments strace shows per futex operation (the others are unused by it).
_FUTEX_ARGS = {0: 4, 1: 3, 2: 3, 3: 5, 4: 6, 5: 6, 6: 4, 7: 2, 8: 2, 9: 6, 10: 6, 11: 5, 12: 6, 13: 4}

_ARCH_PRCTL = {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS", 0x1004: "ARCH_GET_GS",
               0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID", 0x3001: "ARCH_CET_STATUS"}
_RLIMITS = _names(resource, "RLIMIT_", ("RLIMIT_OFILE",))
_CLOCKS = _names(time, "CLOCK_", ("CLOCK_HIGHRES", "CLOCK_UPTIME", "CLOCK_PROF"))
_CLOCKS.update({5: "CLOCK_REALTIME_COARSE", 6: "CLOCK_MONOTONIC_COARSE", 8: "CLOCK_REALTIME_ALARM",
                9: "CLOCK_BOOTTIME_ALARM"})
_GRND = ((os.GRND_NONBLOCK, "GRND_NONBLOCK"), (os.GRND_RANDOM, "GRND_RANDOM"), (4, "GRND_INSECURE"))
_SIGPROCMASK_HOW = {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"}
_MADVISE = {0: "MADV_NORMAL", 1: "MADV_RANDOM", 2: "MADV_SEQUENTIAL", 3: "MADV_WILLNEED", 4: "MADV_DONTNEED",
            8: "MADV_FREE", 9: "MADV_REMOVE", 10: "MADV_DONTFORK", 11: "MADV_DOFORK", 12: "MADV_MERGEABLE",
            13: "MADV_UNMERGEABLE", 14: "MADV_HUGEPAGE", 15: "MADV_NOHUGEPAGE", 16: "MADV_DONTDUMP",
            17: "MADV_DODUMP", 18: "MADV_WIPEONFORK", 19: "MADV_KEEPONFORK", 20: "MADV_COLD", 21: "MADV_PAGEOUT",
            22: "MADV_POPULATE_READ", 23: "MADV_POPULATE_WRITE", 24: "MADV_DONTNEED_LOCKED", 100: "MADV_HWPOISON"}
_FADVISE = _names(os, "POSIX_FADV_")
_SHUTDOWN = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}
_FLOCK = ((fcntl.LOCK_SH, "LOCK_SH"), (fcntl.LOCK_EX, "LOCK_EX"), (fcntl.LOCK_NB, "LOCK_NB"), (fcntl.LOCK_UN, "LOCK_UN"))
_EPOLL_CTL = {1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"}
_WAIT_OPTIONS = ((os.WNOHANG, "WNOHANG"), (os.WUNTRACED, "WSTOPPED"), (os.WEXITED, "WEXITED"),
                 (os.WCONTINUED, "WCONTINUED"), (os.WNOWAIT, "WNOWAIT"), (0x20000000, "__WNOTHREAD"),
                 (0x40000000, "__WALL"), (0x80000000, "__WCLONE"))
_SOL = {socket.SOL_SOCKET: "SOL_SOCKET", socket.SOL_IP: "SOL_IP", socket.SOL_TCP: "SOL_TCP",
        socket.SOL_UDP: "SOL_UDP", 41: "SOL_IPV6"}
_SO = _names(socket, "SO_", ("SO_J1939", "SO_VM", "SO_TYPE_"))  # J1939 and vsock options reuse the numbers
_SO.update({20: "SO_RCVTIMEO_OLD", 21: "SO_SNDTIMEO_OLD", 29: "SO_TIMESTAMP_OLD"})  # strace's names
_TCP = _names(socket, "TCP_")
_FACCESSAT2_FLAGS = ((0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_EACCESS"), (0x1000, "AT_EMPTY_PATH"))
_FD_FLAGS = ((fcntl.FD_CLOEXEC, "FD_CLOEXEC"),)
_TIMER_ABSTIME = ((1, "TIMER_ABSTIME"),)
_PRIO_WHICH = _names(os, "PRIO_", ("PRIO_DARWIN",))
_RUSAGE_WHO = {resource.RUSAGE_SELF: "RUSAGE_SELF", resource.RUSAGE_CHILDREN: "RUSAGE_CHILDREN",
               resource.RUSAGE_THREAD: "RUSAGE_THREAD"}


def rusage_who(value: int) -> str:
    """`RUSAGE_SELF`…; another number reads `0x63 /* RUSAGE_??? */`, as strace marks an unknown value."""
    who = F.to_int32(value)
    name = _RUSAGE_WHO.get(who)
    raw = F.hex_word(who & 0xFFFFFFFF)
    return F.xlat(raw, name) if name else F.xlat_unknown(raw, "RUSAGE")


def socket_type(value: int) -> str:
    """`SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK` (strace's order)."""
    value &= 0xFFFFFFFF
    names = [_named(_SOCK_TYPES, value & 0xF)]  # each part named apart, also in -X verbose (strace)
    if value & _SOCK_CLOEXEC:
        names.append(F.xlat(hex(_SOCK_CLOEXEC), "SOCK_CLOEXEC"))
    if value & _SOCK_NONBLOCK:
        names.append(F.xlat(hex(_SOCK_NONBLOCK), "SOCK_NONBLOCK"))
    rest = value & ~(0xF | _SOCK_CLOEXEC | _SOCK_NONBLOCK)
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def futex_op(value: int) -> str:
    """`FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME`."""
    value = F.to_int32(value)
    cmd = value & ~(_FUTEX_PRIVATE | _FUTEX_CLOCK_REALTIME)
    if not 0 <= cmd < len(_FUTEX_OPS):
        return str(value)
    name = _FUTEX_OPS[cmd] + ("_PRIVATE" if value & _FUTEX_PRIVATE else "")
    return F.xlat(F.hex_word(value & 0xFFFFFFFF), name + ("|FUTEX_CLOCK_REALTIME" if value & _FUTEX_CLOCK_REALTIME else ""))


def fcntl_arg(value: int, args: tuple[int, ...]) -> str:
    """fcntl's third argument, read as its command says (flags, fd flags, a signal, a number)."""
    cmd = F.to_int32(args[1])
    if cmd == fcntl.F_SETFL:
        return F.open_flags(value)
    if cmd == fcntl.F_SETFD:
        return F.bits(value, _FD_FLAGS)
    if cmd == fcntl.F_SETSIG:
        return F.signal_arg(F.to_int32(value)) if value else "0"
    if cmd in (fcntl.F_GETLK, fcntl.F_SETLK, fcntl.F_SETLKW, fcntl.F_OFD_GETLK, fcntl.F_OFD_SETLK,
               fcntl.F_OFD_SETLKW):
        return F.pointer(value)
    return str(F.to_int32(value))


#: kind → renderer (value, the call's arguments) → text
RENDERERS: dict[str, Callable[[int, tuple[int, ...]], str]] = {
    "whence": lambda v, a: _named(_WHENCE, F.to_int32(v)),
    "family": lambda v, a: _named(_FAMILIES, F.to_int32(v)),
    "socktype": lambda v, a: socket_type(v),
    "protocol": lambda v, a: _named(_IPPROTO, F.to_int32(v)) if F.to_int32(a[0]) in _INET else str(F.to_int32(v)),
    "fcntl_cmd": lambda v, a: _named(_FCNTL_CMDS, F.to_int32(v)),
    "fcntl_arg": fcntl_arg,
    "ioctl_cmd": lambda v, a: F.xlat(hex(v & 0xFFFFFFFF), _IOCTLS.get(v & 0xFFFFFFFF, hex(v & 0xFFFFFFFF))),
    "futex_op": lambda v, a: futex_op(v),
    "futex_val3": lambda v, a: (F.xlat(hex(_FUTEX_BITSET_MATCH_ANY), "FUTEX_BITSET_MATCH_ANY")
                                if v & 0xFFFFFFFF == _FUTEX_BITSET_MATCH_ANY else str(v)),
    "arch_prctl": lambda v, a: F.xlat(hex(F.to_int32(v)), _ARCH_PRCTL.get(F.to_int32(v), hex(F.to_int32(v)))),
    "rlimit": lambda v, a: _named(_RLIMITS, F.to_int32(v)),
    "clockid": lambda v, a: _named(_CLOCKS, F.to_int32(v)),
    "timer_flags": lambda v, a: F.bits(v, _TIMER_ABSTIME),
    "grnd": lambda v, a: F.bits(v, _GRND),
    "sigprocmask_how": lambda v, a: _named(_SIGPROCMASK_HOW, F.to_int32(v)),
    "madvise": lambda v, a: _named(_MADVISE, F.to_int32(v)),
    "fadvise": lambda v, a: _named(_FADVISE, F.to_int32(v)),
    "shutdown": lambda v, a: _named(_SHUTDOWN, F.to_int32(v)),
    "flock": lambda v, a: F.bits(v, _FLOCK),
    "epoll_ctl": lambda v, a: _named(_EPOLL_CTL, F.to_int32(v)),
    "wait_options": lambda v, a: F.bits(v & 0xFFFFFFFF, _WAIT_OPTIONS),
    "sol": lambda v, a: _named(_SOL, F.to_int32(v)),
    "sockopt": lambda v, a: _named(_SO if F.to_int32(a[1]) == socket.SOL_SOCKET else
                                   _TCP if F.to_int32(a[1]) == socket.SOL_TCP else {}, F.to_int32(v)),
    "faccessat2_flags": lambda v, a: F.bits(v & 0xFFFFFFFF, _FACCESSAT2_FLAGS),
    "octal": lambda v, a: F.open_mode(v),
    "epoll_flags": lambda v, a: F.bits(v & 0xFFFFFFFF, ((0o2000000, "EPOLL_CLOEXEC"),)),
    "statx_flags": lambda v, a: statx_flags(v),
    "msg_flags": lambda v, a: F.bits(v & 0xFFFFFFFF, MSG_FLAGS),
    "statx_mask": lambda v, a: F.bit_groups(v & 0xFFFFFFFF, STATX_MASKS),
    "rusage_who": lambda v, a: rusage_who(v),
    "prio_which": lambda v, a: _named(_PRIO_WHICH, F.to_int32(v)),
}

#: (syscall, argument name) → kind, for the arguments above
ARGUMENTS: dict[tuple[str, str], str] = {
    ("lseek", "whence"): "whence",
    ("socket", "domain"): "family", ("socket", "type"): "socktype", ("socket", "protocol"): "protocol",
    ("socketpair", "domain"): "family", ("socketpair", "type"): "socktype", ("socketpair", "protocol"): "protocol",
    ("fcntl", "cmd"): "fcntl_cmd", ("fcntl", "arg"): "fcntl_arg",
    ("ioctl", "cmd"): "ioctl_cmd",
    ("futex", "op"): "futex_op", ("futex", "val3"): "futex_val3",
    ("arch_prctl", "code"): "arch_prctl",
    ("prlimit64", "resource"): "rlimit", ("getrlimit", "resource"): "rlimit", ("setrlimit", "resource"): "rlimit",
    ("clock_nanosleep", "which_clock"): "clockid", ("clock_nanosleep", "flags"): "timer_flags",
    ("clock_gettime", "which_clock"): "clockid", ("clock_getres", "which_clock"): "clockid",
    ("clock_settime", "which_clock"): "clockid", ("timerfd_create", "clockid"): "clockid",
    ("getrandom", "flags"): "grnd",
    ("rt_sigprocmask", "how"): "sigprocmask_how",
    ("madvise", "behavior"): "madvise", ("fadvise64", "advice"): "fadvise",
    ("shutdown", "how"): "shutdown", ("flock", "cmd"): "flock", ("epoll_ctl", "op"): "epoll_ctl",
    ("wait4", "options"): "wait_options", ("waitid", "options"): "wait_options",
    ("setsockopt", "level"): "sol", ("setsockopt", "optname"): "sockopt",
    ("getsockopt", "level"): "sol", ("getsockopt", "optname"): "sockopt",
    ("faccessat2", "flags"): "faccessat2_flags",
    ("umask", "mask"): "octal",
    ("epoll_create1", "flags"): "epoll_flags",
    ("statx", "flags"): "statx_flags", ("statx", "mask"): "statx_mask",
    ("sendmsg", "flags"): "msg_flags", ("recvmsg", "flags"): "msg_flags", ("sendto", "flags"): "msg_flags",
    ("recvfrom", "flags"): "msg_flags",
    ("getrusage", "who"): "rusage_who",
    ("getpriority", "which"): "prio_which", ("setpriority", "which"): "prio_which",
}

_STATX_SYNC = {0: "AT_STATX_SYNC_AS_STAT", 0x2000: "AT_STATX_FORCE_SYNC", 0x4000: "AT_STATX_DONT_SYNC"}


def statx_flags(value: int) -> str:
    """statx's flags as strace writes them: the sync type always (AT_STATX_SYNC_AS_STAT is 0), then the AT_* bits."""
    value &= 0xFFFFFFFF
    sync = _named(_STATX_SYNC, value & 0x6000)
    rest = value & ~0x6000
    return sync + (f"|{F.at_flags(rest)}" if rest else "")


def _fcntl_shape(texts: list[str], args: tuple[int, ...]) -> list[str]:
    return texts[:2] if F.to_int32(args[1]) in _FCNTL_NO_ARG else texts


def _futex_shape(texts: list[str], args: tuple[int, ...]) -> list[str]:
    cmd = F.to_int32(args[1]) & ~(_FUTEX_PRIVATE | _FUTEX_CLOCK_REALTIME)
    count = _FUTEX_ARGS.get(cmd, 6)
    if cmd == 9:  # FUTEX_WAIT_BITSET: uaddr2 is unused, val3 is the mask
        return [*texts[:4], texts[5]]
    if cmd == 10:  # FUTEX_WAKE_BITSET: no timeout either
        return [*texts[:3], texts[5]]
    return texts[:count]


def result_text(name: str, args: tuple[int, ...], ret: int) -> str | None:
    """strace's rendering of a successful result that is not a plain number (None: it is)."""
    if name == "umask":
        return F.open_mode(ret)
    if name == "fcntl":
        cmd = F.to_int32(args[1])
        if cmd == fcntl.F_GETFL:
            return f"{ret:#x} (flags {F.open_flag_names(ret)})" if ret else "0 (flags O_RDONLY)"  # C's %#x
        if cmd == fcntl.F_GETFD and ret:
            return f"{ret:#x} (flags {F.bits(ret, _FD_FLAGS)})"
    return None


#: the calls whose result `result_text` may render
RESULT_TEXTS = frozenset({"umask", "fcntl"})

#: syscall → the arguments strace shows, given the call's values
def _clone_shape(texts: list[str], args: tuple[int, ...]) -> list[str]:
    """clone's arguments as strace names them (x86-64 order: flags, stack, parent_tid, child_tid,
    tls), each pointer only when a flag uses it."""
    flags = args[0]
    shown = [f"child_stack={texts[1]}", f"flags={texts[0]}"]
    if flags & F.CLONE_PARENT_SETTID:
        shown.append(f"parent_tid={texts[2]}")
    if flags & F.CLONE_SETTLS:
        shown.append(f"tls={texts[4]}")
    if flags & F.CLONE_CHILD_TID:
        shown.append(f"child_tidptr={texts[3]}")
    return shown


def _one_offset_shape(texts: list[str], args: tuple[int, ...]) -> list[str]:
    """preadv/pwritev(2) pass the offset as two words (pos_l, pos_h); on x86-64 pos_l holds all
    of it and strace prints it once."""
    return texts[:4] + texts[5:]


SHAPES: dict[str, Callable[[list[str], tuple[int, ...]], list[str]]] = {
    "fcntl": _fcntl_shape,
    "futex": _futex_shape,
    "clone": _clone_shape,
    "preadv": _one_offset_shape, "pwritev": _one_offset_shape, "preadv2": _one_offset_shape,
    "pwritev2": _one_offset_shape,
}
