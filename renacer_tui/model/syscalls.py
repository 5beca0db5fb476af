"""Facts about x86-64 Linux system calls, once, for every layer.

Numbers and names come from python-ptrace's tables; strace's classes (`%file`, `%desc`, …) are
derived from python-ptrace's prototypes where they can say (a `%file` syscall takes a filename
argument, a `%desc` one a file descriptor) and filled in from strace's `syscallent` flags where
they cannot.  The sets below the classes name what the tracer, the analyses and the live screen
each need to know about a call; where two of them look alike they serve different purposes, and
each says which.
"""

from __future__ import annotations

import re
from typing import Callable

from ptrace.syscall.linux.x86_64 import SOCKET_SYSCALL_NAMES
from ptrace.syscall.linux.x86_64 import SYSCALL_NAMES as _RAW_NAMES
from ptrace.syscall.prototypes import FILENAME_ARGUMENTS, SYSCALL_PROTOTYPES

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


#: Calls that create a process or thread (the new task's span hangs under this call's span).
CREATORS = frozenset({"clone", "clone3", "fork", "vfork"})
#: exec family by number (59 execve, 322 execveat): the tracer resets a process's identity there.
EXEC_NUMBERS = frozenset(SYSCALL_NUMBERS[n] for n in ("execve", "execveat"))
#: Calls whose stops the capture loop must see even under a seccomp filter (clone, fork, vfork,
#: clone3 and the execs), so the process tree stays whole.
LIFECYCLE_NUMBERS = frozenset(SYSCALL_NUMBERS[n] for n in ("clone", "fork", "vfork", "clone3")) | EXEC_NUMBERS

#: Data syscalls that move bytes out of / into the process (the byte counts are their results).
WRITE_CALLS = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2", "send", "sendto", "sendmsg", "sendmmsg"})
READ_CALLS = frozenset({"read", "readv", "pread64", "preadv", "preadv2", "recv", "recvfrom", "recvmsg", "recvmmsg"})

#: Syscalls whose successful result is a new fd (its old cache entry is stale).
FD_CREATORS = frozenset({
    "open", "openat", "openat2", "creat", "dup", "dup2", "dup3", "fcntl", "socket", "accept",
    "accept4", "eventfd", "eventfd2", "epoll_create", "epoll_create1", "signalfd", "signalfd4",
    "timerfd_create", "inotify_init", "inotify_init1", "memfd_create", "pidfd_open",
    "pidfd_getfd", "perf_event_open", "userfaultfd", "fanotify_init", "open_by_handle_at",
    "io_uring_setup", "fsopen", "fsmount", "open_tree", "mq_open",
})
#: Calls that fill in two new fds, and the argument they are written to.
FD_PAIRS = {"pipe": 0, "pipe2": 0, "socketpair": 3}
_F_DUPFD, _F_DUPFD_CLOEXEC = 0, 1030


def returns_fd(name: str, args: tuple[int, ...]) -> bool:
    """Whether `name(args)`, when it succeeds, returns a new fd (fcntl only for F_DUPFD*)."""
    return name in FD_CREATORS and (name != "fcntl" or args[1] & 0xFFFFFFFF in (_F_DUPFD, _F_DUPFD_CLOEXEC))


#: Calls that put bytes into the pipe their (first) fd names. splice and tee name their source
#: first, so they are reads of that pipe, not writes.
PIPE_WRITES = frozenset({"write", "writev", "vmsplice"})
PIPE_READS = frozenset({"read", "readv", "preadv", "preadv2", "splice"})
SIGNAL_SENDS = frozenset({"kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"})
WAITS = frozenset({"wait4", "waitid"})
PATH_LOOKUPS = frozenset(
    {"open", "openat", "openat2", "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "readlink", "readlinkat"}
)
BLOCKING_IO = READ_CALLS | WRITE_CALLS | frozenset(
    {"open", "openat", "openat2", "fsync", "fdatasync", "sync", "syncfs", "connect", "accept", "accept4", "poll", "ppoll",
     "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2", "sendfile", "splice", "copy_file_range", "getdents64",
     "flock", "fcntl", "ioctl", "recvmmsg", "io_getevents", "io_uring_enter"}
)

#: Calls whose time is the storage's latency (a cold page cache, a slow disk), not a wait on
#: another party: a 233 ms `getdents64` of a cold directory says how fast the machine is, not
#: how the program is built, and "make it asynchronous" is no fix for `ls`.  Reads and writes
#: count here too when their fd is a regular file (see `waits_on_storage`).
STORAGE_CALLS = frozenset({"getdents", "getdents64", "open", "openat", "openat2"})


def waits_on_storage(call: str, target: object) -> bool:
    """Whether a slow `call` on `target` (its fd object or path) only waited for local storage.

    Pipes, sockets, terminals and devices (`/dev/…`) are waits on another party and stay
    blocking I/O; so does a call whose target is unknown.  `fsync` and friends are a
    durability wait the program chose, never storage latency here.
    """
    if call in STORAGE_CALLS:
        return True
    if call not in READ_CALLS and call not in WRITE_CALLS:
        return False
    return isinstance(target, str) and target.startswith("/") and not target.startswith("/dev/")


#: Errors that answer a question rather than report a failure: `getxattr` → ENODATA is how every
#: `ls -l` learns a file has no ACL, thousands of times on a clean run.  The live alerts share it.
BENIGN_ERRORS = frozenset({"ENODATA"})
