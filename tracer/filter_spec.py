"""strace's `-e trace=` / `-e status=` expressions, parsed into sets of x86-64 syscalls.

The capture loop needs syscall *numbers* (for the seccomp-bpf filter, so untraced calls never
stop the program) and the span builder needs a name predicate (for `-p`, where seccomp cannot be
installed in an already-running process).  Both come from one `SyscallFilter`.

Syscall classes are derived from python-ptrace's tables where they can say (a `%file` syscall
takes a filename argument, a `%desc` syscall takes a file descriptor); where the tables cannot
(newer syscalls without prototypes, or classes defined by intent such as `%process`) a short
list cross-checked with strace's `syscallent` flags fills in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, NamedTuple

from ptrace.syscall.linux.x86_64 import SOCKET_SYSCALL_NAMES
from ptrace.syscall.linux.x86_64 import SYSCALL_NAMES as _RAW_NAMES
from ptrace.syscall.prototypes import FILENAME_ARGUMENTS, SYSCALL_PROTOTYPES


class FilterSpecError(ValueError):
    """A `-e` expression that cannot be understood; `str()` is a one-line message."""


#: x86-64 numbers → names.  Numbers ≥ 512 in python-ptrace's table are the x32 ABI entries
#: (reached only with __X32_SYSCALL_BIT); a 64-bit tracee never issues them.
SYSCALL_NAMES: dict[int, str] = {nr: name for nr, name in _RAW_NAMES.items() if nr < 512}
SYSCALL_NUMBERS: dict[str, int] = {}
for _nr, _name in sorted(SYSCALL_NAMES.items()):
    SYSCALL_NUMBERS.setdefault(_name, _nr)
ALL_NAMES: frozenset[str] = frozenset(SYSCALL_NUMBERS)


def _args(name: str) -> tuple[tuple[str, str], ...]:
    proto = SYSCALL_PROTOTYPES.get(name)
    return proto[1] if proto else ()


_FD_ARG = re.compile(r"^(fd|fildes|oldfd|newfd|dfd|olddfd|newdfd|dirfd|sockfd|epfd|ufd|fd_in|fd_out|in_fd|out_fd|fdin|fdout|fanotify_fd|mount_fd)$")


def _takes_filename(name: str) -> bool:
    return any(arg in FILENAME_ARGUMENTS and "char" in ctype for ctype, arg in _args(name))


def _takes_fd(name: str) -> bool:
    return any(_FD_ARG.match(arg) and "*" not in ctype for ctype, arg in _args(name))


def _derived(pred: Callable[[str], bool], extra: set[str]) -> frozenset[str]:
    return frozenset(n for n in ALL_NAMES if pred(n)) | frozenset(extra & ALL_NAMES)


# Supplements: syscalls the prototype table lacks or names differently, from strace's TF/TD flags.
_FILE_EXTRA = {
    "acct", "mount", "umount2", "swapon", "swapoff", "pivot_root", "quotactl", "uselib",
    "name_to_handle_at", "openat2", "faccessat2", "open_tree", "move_mount", "fspick",
    "fsconfig", "mount_setattr", "execveat", "statx", "newfstatat",
}
_DESC_EXTRA = {
    "open", "openat", "openat2", "creat", "pipe", "pipe2", "dup", "dup2", "dup3", "close",
    "close_range", "eventfd", "eventfd2", "epoll_create", "epoll_create1", "signalfd",
    "signalfd4", "timerfd_create", "inotify_init", "inotify_init1", "fanotify_init",
    "memfd_create", "userfaultfd", "perf_event_open", "pidfd_open", "pidfd_getfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "select", "pselect6", "poll",
    "ppoll", "fsopen", "fsmount", "open_tree", "socket", "socketpair", "accept", "accept4",
    "preadv2", "pwritev2", "copy_file_range", "splice", "tee", "vmsplice", "epoll_pwait2",
    "open_by_handle_at", "mq_open",
}
_NETWORK = {
    "accept4", "recvmmsg", "sendmmsg", "socketpair",
} | set(SOCKET_SYSCALL_NAMES)
_PROCESS = {
    "clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4",
    "waitid", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "pidfd_send_signal", "unshare", "setns",
}
_MEMORY = {
    "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "mlock", "mlock2", "munlock",
    "mlockall", "munlockall", "mincore", "msync", "remap_file_pages", "mbind",
    "set_mempolicy", "get_mempolicy", "migrate_pages", "move_pages", "pkey_mprotect",
    "process_madvise", "set_mempolicy_home_node",
}
_CREDS = {
    "getuid", "setuid", "getgid", "setgid", "geteuid", "getegid", "setreuid", "setregid",
    "getresuid", "setresuid", "getresgid", "setresgid", "setfsuid", "setfsgid", "getgroups",
    "setgroups", "capget", "capset", "prctl",
}
_CLOCK = {
    "adjtimex", "clock_adjtime", "clock_getres", "clock_gettime", "clock_settime",
    "gettimeofday", "settimeofday", "time",
}
_PURE = {
    "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getpgrp",
}


def _build_classes() -> dict[str, frozenset[str]]:
    file_ = _derived(_takes_filename, _FILE_EXTRA)
    desc = _derived(_takes_fd, _DESC_EXTRA)
    network = frozenset(_NETWORK & ALL_NAMES)
    process = frozenset(_PROCESS & ALL_NAMES)
    signal = frozenset(
        n for n in ALL_NAMES if "sig" in n or n in {"kill", "tkill", "tgkill", "pause"}
    )
    ipc = frozenset(n for n in ALL_NAMES if n[:3] in {"msg", "sem", "shm"})
    memory = frozenset(_MEMORY & ALL_NAMES)
    classes = {
        "file": file_,
        "desc": desc,
        "network": network,
        "net": network,
        "process": process,
        "signal": signal,
        "ipc": ipc,
        "memory": memory,
        "creds": frozenset(_CREDS & ALL_NAMES),
        "clock": frozenset(_CLOCK & ALL_NAMES),
        "stat": frozenset({"stat"} & ALL_NAMES),
        "lstat": frozenset({"lstat"} & ALL_NAMES),
        "fstat": frozenset({"fstat", "newfstatat", "statx"} & ALL_NAMES),
        "%stat": frozenset({"stat", "lstat", "fstat", "newfstatat", "statx"} & ALL_NAMES),
        "statfs": frozenset({"statfs"} & ALL_NAMES),
        "fstatfs": frozenset({"fstatfs"} & ALL_NAMES),
        "%statfs": frozenset({"statfs", "fstatfs", "ustat"} & ALL_NAMES),
        "pure": frozenset(_PURE & ALL_NAMES),
    }
    return classes


#: `%class` → names (keys without the leading `%`; `%%stat` is stored as "%stat").
SYSCALL_CLASSES: dict[str, frozenset[str]] = _build_classes()
#: renacer's bare class words (`-e trace=file`), accepted where no syscall has that name.
BARE_CLASSES = ("file", "network", "process", "memory")


@dataclass(frozen=True)
class SyscallFilter:
    """A set of traced syscalls: names for the builder, x86-64 numbers for seccomp."""

    names: frozenset[str]

    @property
    def numbers(self) -> frozenset[int]:
        return frozenset(SYSCALL_NUMBERS[n] for n in self.names)

    def matches(self, name: str) -> bool:
        return name in self.names

    def matches_nr(self, nr: int) -> bool:
        name = SYSCALL_NAMES.get(nr)
        return name is not None and name in self.names

    def complement(self) -> "SyscallFilter":
        return SyscallFilter(ALL_NAMES - self.names)

    @property
    def is_all(self) -> bool:
        return self.names == ALL_NAMES


def _parse_atom(atom: str) -> frozenset[str]:
    if atom in ("all", "%all"):
        return ALL_NAMES
    if atom == "none":
        return frozenset()
    if len(atom) >= 2 and atom.startswith("/"):
        pattern = atom[1:-1] if atom.endswith("/") and len(atom) > 2 else atom[1:]
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise FilterSpecError(f"invalid regular expression /{pattern}/: {exc}") from None
        return frozenset(n for n in ALL_NAMES if rx.search(n))
    if atom.startswith("%"):
        cls = atom[1:]
        if cls in SYSCALL_CLASSES:
            return SYSCALL_CLASSES[cls]
        raise FilterSpecError(f"unknown syscall class {atom!r}")
    optional = atom.startswith("?")
    name = atom[1:] if optional else atom
    if not name:
        raise FilterSpecError("'?' must be followed by a syscall name")
    if name in ALL_NAMES:
        return frozenset({name})
    if name in BARE_CLASSES:
        return SYSCALL_CLASSES[name]
    if optional:
        return frozenset()
    raise FilterSpecError(f"unknown syscall name {name!r}")


def parse_trace_spec(text: str) -> SyscallFilter:
    """Parse the value of `-e trace=` (without the `trace=` prefix).

    `!` before the whole list negates it (strace's rule); `?name` ignores an unknown name.
    """
    spec = text.strip()
    negate = spec.startswith("!")
    if negate:
        spec = spec[1:].strip()
    if not spec:
        raise FilterSpecError("empty syscall set in trace= expression")
    names: frozenset[str] = frozenset()
    for raw in spec.split(","):
        atom = raw.strip()
        if not atom:
            raise FilterSpecError(f"empty element in trace= expression {text!r}")
        names |= _parse_atom(atom)
    result = SyscallFilter(names)
    return result.complement() if negate else result


STATUS_VALUES = frozenset({"successful", "failed", "unfinished", "unavailable", "detached"})


def parse_status_spec(text: str) -> frozenset[str]:
    """Parse `-e status=` into the set of kept statuses (`all`, `none`, `!` as strace)."""
    spec = text.strip()
    negate = spec.startswith("!")
    if negate:
        spec = spec[1:].strip()
    if not spec:
        raise FilterSpecError("empty status set in status= expression")
    kept: set[str] = set()
    for raw in spec.split(","):
        word = raw.strip()
        if word == "all":
            kept |= STATUS_VALUES
        elif word == "none":
            continue
        elif word in STATUS_VALUES:
            kept.add(word)
        else:
            raise FilterSpecError(
                f"unknown status {word!r} (expected successful, failed, unfinished, unavailable, detached)"
            )
    return frozenset(STATUS_VALUES - kept) if negate else frozenset(kept)


class Expression(NamedTuple):
    """One parsed `-e` argument; unpacks as `(qualifier, value)`."""

    qualifier: str  # "trace" | "status"
    value: SyscallFilter | frozenset[str]


def parse_expression(text: str) -> Expression:
    """Parse a whole `-e` argument: `trace=…`, `status=…`, or a bare set (meaning trace=)."""
    qualifier, sep, value = text.partition("=")
    if not sep:
        return Expression("trace", parse_trace_spec(text))
    qualifier = qualifier.strip()
    if qualifier in ("trace", "t"):
        return Expression("trace", parse_trace_spec(value))
    if qualifier == "status":
        return Expression("status", parse_status_spec(value))
    raise FilterSpecError(f"unsupported -e qualifier {qualifier!r} (expected trace= or status=)")
