"""Per-syscall argument decoding driven by python-ptrace's prototype table.

Each syscall number gets a *plan* once (a tuple of argument kinds derived from its prototype),
so a stop costs a few dictionary lookups plus the memory reads that strings need.  Inputs are
decoded at entry (a path may be rewritten or freed by the time the call returns); outputs that
matter for the golden thread — read buffers, pipe fds, wait statuses — at exit.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from ptrace.syscall.linux_constants import SYSCALL_ARG_DICT
from ptrace.syscall.prototypes import ALIASES, FILENAME_ARGUMENTS, SYSCALL_PROTOTYPES

from renacer_tui.model.attributes import ATTR_FD_OBJECT, ATTR_SYSCALL_FD, ATTR_SYSCALL_FLAGS, ATTR_SYSCALL_PATH
from renacer_tui.model.readable import STRING_LIMIT
from renacer_tui.model.syscalls import SYSCALL_NAMES, SYSCALL_NUMBERS
from renacer_tui.tracer import formats as F
from renacer_tui.tracer.constants import ARGUMENTS as CONSTANT_ARGUMENTS
from renacer_tui.tracer.constants import RENDERERS as CONSTANT_RENDERERS
from renacer_tui.tracer.constants import SHAPES
from renacer_tui.tracer.events import TraceeMemory
from renacer_tui.tracer.structs import RESULT_STRUCTS, STRUCTS, ResultKind, StructKind

# Prototypes python-ptrace lacks (newer syscalls), from the kernel's include/linux/syscalls.h.
_EXTRA_PROTOTYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "arch_prctl": (("int", "code"), ("unsigned long", "addr")),
    "rseq": (("struct rseq *", "rseq"), ("u32", "rseq_len"), ("int", "flags"), ("u32", "sig")),
    "clone3": (("struct clone_args *", "uargs"), ("size_t", "size")),
    "openat2": (("int", "dirfd"), ("const char *", "pathname"), ("struct open_how *", "how"), ("size_t", "size")),
    "faccessat2": (("int", "dirfd"), ("const char *", "pathname"), ("int", "mode"), ("int", "flags")),
    "close_range": (("unsigned int", "fd"), ("unsigned int", "max_fd"), ("unsigned int", "flags")),
    "pidfd_open": (("pid_t", "pid"), ("unsigned int", "flags")),
    "pidfd_send_signal": (("int", "pidfd"), ("int", "sig"), ("siginfo_t *", "info"), ("unsigned int", "flags")),
    "pidfd_getfd": (("int", "pidfd"), ("int", "fd"), ("unsigned int", "flags")),
    "umount2": (("const char *", "target"), ("int", "flags")),
    "preadv2": (("unsigned long", "fd"), ("const struct iovec *", "vec"), ("unsigned long", "vlen"),
                ("unsigned long", "pos_l"), ("unsigned long", "pos_h"), ("int", "flags")),
    "pwritev2": (("unsigned long", "fd"), ("const struct iovec *", "vec"), ("unsigned long", "vlen"),
                 ("unsigned long", "pos_l"), ("unsigned long", "pos_h"), ("int", "flags")),
    "io_uring_setup": (("u32", "entries"), ("struct io_uring_params *", "p")),
    "io_uring_enter": (("unsigned int", "fd"), ("u32", "to_submit"), ("u32", "min_complete"),
                       ("u32", "flags"), ("const void *", "argp"), ("size_t", "argsz")),
    "io_uring_register": (("unsigned int", "fd"), ("unsigned int", "opcode"), ("void *", "arg"), ("unsigned int", "nr_args")),
    "pkey_mprotect": (("unsigned long", "start"), ("size_t", "len"), ("unsigned long", "prot"), ("int", "pkey")),
    "pkey_alloc": (("unsigned long", "flags"), ("unsigned long", "init_val")),
    "pkey_free": (("int", "pkey"),),
    "set_thread_area": (("struct user_desc *", "u_info"),),
    "get_thread_area": (("struct user_desc *", "u_info"),),
    "rt_sigreturn": (),
    "process_madvise": (("int", "pidfd"), ("const struct iovec *", "vec"), ("size_t", "vlen"), ("int", "advice"), ("unsigned int", "flags")),
}
_ALIAS_OF = {alias: name for name, aliases in ALIASES.items() for alias in aliases}

_FD_NAMES = re.compile(r"^(fd|fildes|oldfd|newfd|sockfd|epfd|ufd|fd_in|fd_out|in_fd|out_fd|fdin|fdout|pidfd|fanotify_fd|mount_fd)$")
_DIRFD_NAMES = frozenset({"dfd", "dirfd", "olddfd", "newdfd"})
_SIGNAL_NAMES = frozenset({"sig", "signum", "signal"})
_READ_BUFFERS = frozenset({"read", "pread64", "recvfrom", "recv", "getrandom", "readlink", "readlinkat", "getcwd"})
_WRITE_BUFFERS = frozenset({"write", "pwrite64", "sendto", "send"})
_O_CREATE_ANY = 0o100 | 0o20000000  # O_CREAT | __O_TMPFILE
_HEX_RESULTS = frozenset({"mmap", "brk", "mremap", "shmat"})
PATH_MAX = 4096

# Special-cased (syscall, argument) → kind.
_SPECIAL: dict[tuple[str, str], str] = {
    ("open", "flags"): "oflags", ("openat", "flags"): "oflags", ("creat", "mode"): "mode",
    ("open", "mode"): "mode", ("openat", "mode"): "mode", ("mkdir", "mode"): "mode",
    ("mkdirat", "mode"): "mode", ("chmod", "mode"): "mode", ("fchmodat", "mode"): "mode",
    ("fchmod", "mode"): "mode",
    ("mmap", "prot"): "prot", ("mprotect", "prot"): "prot", ("pkey_mprotect", "prot"): "prot",
    ("mmap", "flags"): "mapflags", ("mmap", "fd"): "fd", ("mmap", "pgoff"): "hexint",  # strace: 0x7000
    ("rseq", "rseq_len"): "hexint", ("rseq", "sig"): "hexint",
    ("clone", "flags"): "clone", ("access", "mode"): "access", ("faccessat", "mode"): "access",
    ("faccessat2", "mode"): "access",
    ("newfstatat", "flag"): "atflags", ("statx", "flags"): "atflags", ("unlinkat", "flag"): "atflags",
    ("fchownat", "flag"): "atflags", ("linkat", "flags"): "atflags",
    ("execve", "argv"): "argv", ("execve", "envp"): "envp",
    ("execveat", "argv"): "argv", ("execveat", "envp"): "envp",
    ("pipe", "fildes"): "pipefds", ("pipe2", "fildes"): "pipefds", ("socketpair", "sv"): "pipefds", ("pipe2", "flags"): "oflags_nomode",
    ("wait4", "stat_addr"): "wstatus", ("kill", "sig"): "signal", ("tkill", "sig"): "signal",
    ("tgkill", "sig"): "signal", ("pidfd_send_signal", "sig"): "signal",
    ("dup3", "flags"): "oflags_nomode",
    **CONSTANT_ARGUMENTS,
}


@dataclass(slots=True)
class Plan:
    """How to render one syscall's arguments: (kind, name) per argument."""

    name: str
    kinds: tuple[tuple[str, str], ...]
    fd_index: int | None
    path_index: int | None
    flags_index: int | None
    has_outputs: bool
    hex_result: bool
    pure: bool  # no argument is read from memory: the rendering depends on the numbers only
    span_name: str  # "syscall:<name>"
    renderers: tuple  # per argument: its entry renderer (`RENDERERS`), None for a struct
    outputs: tuple[tuple[int, str], ...]  # (index, kind) of the arguments decode_exit fills in
    structs: tuple[StructKind | None, ...]  # per argument: how to read and render its struct
    result_struct: ResultKind | None  # how the result is rendered from memory (poll, select)
    #: the arguments strace prints at the call's entry: those before the first it fills in
    #: (`read(3, ` … `<... read resumed>"data", 4096) = 4` when another line came between)
    entry_args: int
    dirfd_index: int | None  # the directory fd a path is relative to (openat's, newfstatat's…)
    error_outputs: tuple[int, ...]  # the struct outputs rendered when the call failed too


def _kind(name: str, ctype: str, arg: str) -> str:
    struct_kind = STRUCTS.get((name, arg))
    if struct_kind is not None:
        return "struct_out" if struct_kind.output else "struct_in"
    special = _SPECIAL.get((name, arg))
    if special:
        return special
    if arg in _DIRFD_NAMES:
        return "dirfd"
    if _FD_NAMES.match(arg) and "*" not in ctype and "[" not in ctype:
        return "fd"
    if name in SYSCALL_ARG_DICT and arg in SYSCALL_ARG_DICT[name]:
        return "dict"
    if arg in _SIGNAL_NAMES and "*" not in ctype:
        return "signal"
    if "char" in ctype and "*" in ctype and "const" in ctype and "*const" not in ctype.replace(" ", ""):
        if arg == "buf" and name in _WRITE_BUFFERS:
            return "wbuf"
        return "path" if arg in FILENAME_ARGUMENTS or arg in ("target", "name") else "str"
    if "*" in ctype or "[" in ctype:
        if arg in ("buf",) and name in _READ_BUFFERS:
            return "rbuf_hex" if name == "getrandom" else "rbuf"
        if arg == "buf" and name in _WRITE_BUFFERS:
            return "wbuf"
        return "ptr"
    if arg in ("mode",):
        return "mode"
    if ctype.startswith("unsigned long") and arg in ("addr", "start", "brk", "child_stack", "regs", "newsp"):
        return "ptr"
    if arg == "flags":
        return "hexint"
    if ctype in ("int", "pid_t", "uid_t", "gid_t", "clockid_t", "key_t", "mqd_t", "timer_t"):
        return "int32"
    return "int"


def _build_plan(nr: int) -> Plan:
    name = SYSCALL_NAMES.get(nr, f"syscall_{nr}")
    proto = SYSCALL_PROTOTYPES.get(name) or SYSCALL_PROTOTYPES.get(_ALIAS_OF.get(name, ""))
    if proto is not None:
        args = proto[1]
    elif name in _EXTRA_PROTOTYPES:
        args = _EXTRA_PROTOTYPES[name]
    else:  # unknown to every table: strace shows raw words too
        args = tuple(("unsigned long", f"arg{i}") for i in range(6))
    kinds = tuple((_kind(name, ctype, arg), arg) for ctype, arg in args)
    fd_index = next((i for i, (k, _) in enumerate(kinds) if k == "fd"), None)
    path_index = next((i for i, (k, _) in enumerate(kinds) if k == "path"), None)
    dirfd_index = next((i for i, (k, _) in enumerate(kinds) if k == "dirfd"), None)
    error_outputs = tuple(i for i, (_k, arg) in enumerate(kinds) if (kind := STRUCTS.get((name, arg))) and kind.on_error)
    flag_kinds = [i for i, (k, _) in enumerate(kinds) if k in ("oflags", "oflags_nomode", "mapflags", "clone", "atflags")]
    flag_kinds += [i for i, (k, _) in enumerate(kinds) if k == "prot"]
    flags_index = flag_kinds[0] if flag_kinds else None
    has_outputs = any(k in _OUTPUT_KINDS for k, _ in kinds) or name in RESULT_STRUCTS
    pure = not any(k in _MEMORY_KINDS for k, _ in kinds)
    renderers = tuple(_renderer(kind, arg, name) for kind, arg in kinds)
    outputs = tuple((i, k) for i, (k, _) in enumerate(kinds) if k in _OUTPUT_KINDS)
    structs = tuple(STRUCTS.get((name, arg)) for _kind_of, arg in kinds)
    entry_args = min([i for i, _k in outputs] + [_EXIT_PRINTED_FROM.get(name, 6)])  # 6: all of them
    return Plan(
        name, kinds, fd_index, path_index, flags_index, has_outputs, name in _HEX_RESULTS, pure, "syscall:" + name,
        renderers, outputs, structs, RESULT_STRUCTS.get(name), entry_args, dirfd_index, error_outputs,
    )


#: Calls strace prints from an argument on at their exit although we render that argument at
#: entry (a pointer the kernel fills in, not decoded here): the index of the first such argument.
_EXIT_PRINTED_FROM = {
    "nanosleep": 1, "clock_nanosleep": 3, "epoll_wait": 1, "epoll_pwait": 1, "epoll_pwait2": 1,
    "recvfrom": 1, "recvmsg": 1, "recvmmsg": 1, "readv": 1, "preadv": 1, "preadv2": 1, "waitid": 2,
    "accept": 1, "accept4": 1, "getsockname": 1, "getpeername": 1, "io_getevents": 3, "rt_sigtimedwait": 1,
    "msgrcv": 1, "mq_timedreceive": 1, "clock_gettime": 1, "gettimeofday": 0, "getrusage": 1,
    "wait4": 1, "rt_sigaction": 2, "rt_sigprocmask": 2, "sigaltstack": 1, "getitimer": 1, "setitimer": 2,
    "prlimit64": 3, "getrlimit": 1, "sched_getaffinity": 2, "getresuid": 0, "getresgid": 0,
}


@functools.lru_cache(maxsize=None)
def plan_named(name: str) -> Plan | None:
    """The plan of the syscall called `name` (None: a name with no number, such as `syscall_451`),
    for readers that have a span's name rather than the call's number."""
    nr = SYSCALL_NUMBERS.get(name)
    return None if nr is None else plan_for(nr)


_PLANS: dict[int, Plan] = {}
PLANS = _PLANS  #: the plans built so far, by number (hot callers try this before `plan_for`)
#: Decoded inputs of memory-free calls by (nr, args): a loop repeating one call renders it once.
#: Bounded, because pointers and sizes vary without end in some programs.
_PURE_CACHE: dict[tuple[int, tuple[int, ...]], tuple[tuple[str, ...], int | None, str | None]] = {}
_PURE_CACHE_MAX = 4096


def use_xlat_style(style: str) -> None:
    """strace's -X for this process's decoding: `raw`, `abbrev` or `verbose` (see formats.xlat).
    The caches of rendered texts are emptied, so nothing decoded in the old style is reused."""
    F.set_xlat_style(style)
    _PURE_CACHE.clear()


def plan_for(nr: int) -> Plan:
    """The cached decoding plan of syscall `nr` (x86-64)."""
    plan = _PLANS.get(nr)
    if plan is None:
        plan = _PLANS[nr] = _build_plan(nr)
    return plan


def syscall_name(nr: int) -> str:
    return plan_for(nr).name


@dataclass(slots=True)
class Decoded:
    """One call's decoded inputs (entry) and, after `decode_exit`, its outputs."""

    plan: Plan
    texts: list[str]
    fd: int | None
    path: str | None
    flags: str | None
    #: attributes a decoded struct adds (a connect's network.peer.address, …)
    extra: dict[str, Any] | None = None
    #: the result as strace renders it from memory (poll's ready fds), when not a plain number
    result: str | None = None

    def describe(self, attrs: dict[str, Any], obj: str | None) -> None:
        """Put what the call names on `attrs`: its fd, the fd's object `obj`, path and flags
        (the attributes of a span whose call has no finished row to carry them)."""
        if self.fd is not None:
            attrs[ATTR_SYSCALL_FD] = self.fd
        if obj is not None:
            attrs[ATTR_FD_OBJECT] = F.escape_text(obj)
        if self.path is not None:
            attrs[ATTR_SYSCALL_PATH] = self.path
        if self.flags is not None:
            attrs[ATTR_SYSCALL_FLAGS] = self.flags


def fetch_string(mem: TraceeMemory, tid: int, addr: int, limit: int) -> tuple[bytes, bool] | None:
    """The NUL-terminated bytes at a non-NULL `addr` as (data, truncated); None: unreadable."""
    data, truncated = mem.read_cstring(tid, addr, limit)
    if not data and not truncated and not mem.read_bytes(tid, addr, 1):
        return None
    return data, truncated


def _read_string(mem: TraceeMemory, tid: int, addr: int, limit: int) -> str:
    if addr == 0:
        return "NULL"
    got = fetch_string(mem, tid, addr, limit)
    return F.pointer(addr) if got is None else F.quote(*got)


def fetch_buffer(mem: TraceeMemory, tid: int, addr: int, size: int, limit: int) -> bytes:
    """The first `limit` of the `size` bytes at a non-NULL `addr`."""
    return mem.read_bytes(tid, addr, min(size, limit)) if size > 0 else b""


def _read_buffer(mem: TraceeMemory, tid: int, addr: int, size: int, limit: int) -> str:
    if addr == 0:
        return "NULL"
    return F.quote(fetch_buffer(mem, tid, addr, size, limit), size > limit)


def _read_pointers(mem: TraceeMemory, tid: int, addr: int, max_items: int) -> list[int]:
    out: list[int] = []
    while len(out) < max_items:
        chunk = mem.read_bytes(tid, addr + 8 * len(out), 8 * 32)
        if len(chunk) < 8:
            break
        for i in range(0, len(chunk) - 7, 8):
            value = int.from_bytes(chunk[i : i + 8], "little")
            if value == 0:
                return out
            out.append(value)
        if len(chunk) < 8 * 32:
            break
    return out


def _argv(mem: TraceeMemory, tid: int, addr: int, limit: int) -> str:
    if addr == 0:
        return "NULL"
    ptrs = _read_pointers(mem, tid, addr, 33)
    shown = [_read_string(mem, tid, p, limit) for p in ptrs[:32]]
    return "[" + ", ".join(shown) + ("..." if len(ptrs) > 32 else "") + "]"


def _fetch_argv(mem: TraceeMemory, tid: int, addr: int, limit: int) -> None:
    for p in _read_pointers(mem, tid, addr, 33)[:32]:
        if p:
            fetch_string(mem, tid, p, limit)


def _envp(mem: TraceeMemory, tid: int, addr: int) -> str:
    if addr == 0:
        return "NULL"
    count = len(_read_pointers(mem, tid, addr, 4096))
    return f"{F.pointer(addr)} /* {count} vars */"


#: (value, the call's arguments, tid, memory, string limit) → an argument's text at entry
Renderer = Callable[[int, tuple[int, ...], int, TraceeMemory, int], str]


def _constant(render: Callable[[int, tuple[int, ...]], str]) -> Renderer:
    return lambda value, args, tid, mem, limit: render(value, args)


#: The one table of argument renderers, by kind (the kinds `_kind` assigns).  Kinds missing
#: here are outputs the call fills in (rbuf, wstatus, …) or unknown words: at entry their
#: address is shown.  `struct_in` is rendered by its `StructKind`, `dict` by the call's own
#: table (`_renderer`).
RENDERERS: dict[str, Renderer] = {
    **{kind: _constant(render) for kind, render in CONSTANT_RENDERERS.items()},
    "int": lambda value, args, tid, mem, limit: str(F.to_int64(value)),
    "int32": lambda value, args, tid, mem, limit: str(F.to_int32(value)),
    "fd": lambda value, args, tid, mem, limit: str(F.to_int32(value)),
    "dirfd": lambda value, args, tid, mem, limit: F.dirfd(value),
    "ptr": lambda value, args, tid, mem, limit: F.pointer(value),
    "hexint": lambda value, args, tid, mem, limit: F.hex_word(value),
    "oflags": lambda value, args, tid, mem, limit: F.open_flags(value),
    "oflags_nomode": lambda value, args, tid, mem, limit: F.open_flags_nomode(value),
    "mode": lambda value, args, tid, mem, limit: F.open_mode(value),
    "prot": lambda value, args, tid, mem, limit: F.prot(value),
    "mapflags": lambda value, args, tid, mem, limit: F.map_flags(value),
    "clone": lambda value, args, tid, mem, limit: F.clone_flags(value),
    "access": lambda value, args, tid, mem, limit: F.access_mode(value),
    "atflags": lambda value, args, tid, mem, limit: F.at_flags(value),
    "signal": lambda value, args, tid, mem, limit: F.signal_arg(F.to_int32(value)),
    # strace: "filenames are not considered strings and are always printed in full"
    "path": lambda value, args, tid, mem, limit: _read_string(mem, tid, value, PATH_MAX),
    "str": lambda value, args, tid, mem, limit: _read_string(mem, tid, value, limit),
    "wbuf": lambda value, args, tid, mem, limit: _read_buffer(mem, tid, value, args[2], limit),
    "argv": lambda value, args, tid, mem, limit: _argv(mem, tid, value, limit),
    "envp": lambda value, args, tid, mem, limit: _envp(mem, tid, value),
}
_ADDRESS = RENDERERS["ptr"]


def _renderer(kind: str, arg: str, name: str) -> Renderer | None:
    """The renderer of argument `arg` of syscall `name` (None: a struct, see `_render_struct`)."""
    if kind == "struct_in":
        return None
    if kind == "dict":
        names = SYSCALL_ARG_DICT[name][arg]

        def named(value: int, args: tuple[int, ...], tid: int, mem: TraceeMemory, limit: int) -> str:
            shown = names.get(value)
            return str(value) if shown is None else F.xlat(F.hex_word(value), shown)

        return named
    return RENDERERS.get(kind, _ADDRESS)


def render_input(kind: str, arg: str, name: str, value: int, args: tuple[int, ...], tid: int,
                 mem: TraceeMemory, limit: int) -> str:
    """One argument's text at entry, rendered as a plan would render it (for tests and tools)."""
    render = _renderer(kind, arg, name)
    assert render is not None, "structs are rendered from memory by their StructKind"
    return render(value, args, tid, mem, limit)


def decode_entry(nr: int, args: tuple[int, ...], tid: int, mem: TraceeMemory, string_limit: int = STRING_LIMIT) -> Decoded:
    """Render a call's inputs while the task sits at its entry stop."""
    return decode_plan(plan_for(nr), nr, args, tid, mem, string_limit)


def decode_plan(plan: Plan, nr: int, args: tuple[int, ...], tid: int, mem: TraceeMemory, string_limit: int = STRING_LIMIT) -> Decoded:
    """`decode_entry` for a caller that already holds the plan of `nr`."""
    if plan.pure:
        key = (nr, args)
        hit = _PURE_CACHE.get(key)
        if hit is None:
            texts, _extra = _render_inputs(plan, args, tid, mem, string_limit)
            fd = F.to_int32(args[plan.fd_index]) if plan.fd_index is not None else None
            flags = texts[plan.flags_index] if plan.flags_index is not None else None
            if len(_PURE_CACHE) >= _PURE_CACHE_MAX:
                _PURE_CACHE.clear()
            hit = _PURE_CACHE[key] = (tuple(texts), fd, flags)
        return Decoded(plan, list(hit[0]), hit[1], None, hit[2])
    texts, extra = _render_inputs(plan, args, tid, mem, string_limit)
    fd = F.to_int32(args[plan.fd_index]) if plan.fd_index is not None else None
    path = None
    if plan.path_index is not None:
        text = texts[plan.path_index]
        if text.startswith('"'):
            path = text[1 : text.rindex('"')]
    flags = texts[plan.flags_index] if plan.flags_index is not None else None
    return Decoded(plan, texts, fd, path, flags, extra)


def _render_inputs(plan: Plan, args: tuple[int, ...], tid: int, mem: TraceeMemory,
                   string_limit: int) -> tuple[list[str], dict[str, Any] | None]:
    """The arguments' texts, and the attributes their structs add (None: none)."""
    texts = []
    extra: dict[str, Any] | None = None
    for i, render in enumerate(plan.renderers):
        if render is not None:
            texts.append(render(args[i], args, tid, mem, string_limit))
            continue
        if not args[i]:
            texts.append("NULL")
            continue
        text, attrs = _render_struct(_struct_at(plan, i), args[i], args, 0, tid, mem, string_limit)
        texts.append(text)
        if attrs:
            extra = {**(extra or {}), **attrs}
    if plan.name in ("open", "openat") and plan.flags_index is not None and not args[plan.flags_index] & _O_CREATE_ANY:
        texts.pop()  # strace shows the mode only when the call can create a file
    shape = SHAPES.get(plan.name)
    return (texts if shape is None else shape(texts, args)), extra


def _render_struct(kind: StructKind, addr: int, args: tuple[int, ...], ret: int, tid: int,
                   mem: TraceeMemory, string_limit: int) -> tuple[str, dict[str, Any]]:
    """A struct argument's text (its address when it could not be read) and attributes."""
    text, attrs = kind.render(kind.fetch(mem, tid, addr, args, ret, string_limit), args, ret)
    return (text or F.pointer(addr)), attrs


# -- the bytes each kind needs, read while the task is stopped ---------------------------------
# The capture process runs these (tracer.raw_recorder) and ships what they read; the decoder
# process renders from those bytes with the functions above.  Both sides go through the same
# fetch_* calls with the same sizes, so what is read is exactly what is rendered.


def prefetch_entry(plan: Plan, args: tuple[int, ...], tid: int, mem: TraceeMemory, string_limit: int) -> None:
    """Make the reads `decode_plan` will make for this call's inputs."""
    for i, (kind, _arg) in enumerate(plan.kinds):
        if kind not in _MEMORY_KINDS:
            continue
        addr = args[i]
        if addr == 0:
            continue
        if kind == "struct_in":
            _struct_at(plan, i).fetch(mem, tid, addr, args, 0, string_limit)
        else:
            _ENTRY_READS[kind](mem, tid, addr, args, string_limit)


#: What each memory kind reads at entry (kind → (memory, tid, address, arguments, string
#: limit)): the same fetch_* calls, with the same sizes, that its renderer in RENDERERS makes.
_ENTRY_READS: dict[str, Callable[[TraceeMemory, int, int, tuple[int, ...], int], object]] = {
    "path": lambda mem, tid, addr, args, limit: fetch_string(mem, tid, addr, PATH_MAX),
    "str": lambda mem, tid, addr, args, limit: fetch_string(mem, tid, addr, limit),
    "wbuf": lambda mem, tid, addr, args, limit: fetch_buffer(mem, tid, addr, args[2], limit),
    "argv": lambda mem, tid, addr, args, limit: _fetch_argv(mem, tid, addr, limit),
    "envp": lambda mem, tid, addr, args, limit: _read_pointers(mem, tid, addr, 4096),
}
_MEMORY_KINDS = frozenset(_ENTRY_READS) | {"struct_in"}
MEMORY_KINDS = _MEMORY_KINDS  #: argument kinds read from memory at entry (the recorder plans its reads by them)


def _struct_at(plan: Plan, index: int) -> StructKind:
    """The struct of argument `index` (one of STRUCTS: its kind is struct_in/out)."""
    kind = plan.structs[index]
    assert kind is not None
    return kind


def prefetch_exit(plan: Plan, args: tuple[int, ...], ret: int, is_error: bool, tid: int, mem: TraceeMemory,
                  string_limit: int) -> None:
    """Make the reads `decode_exit` will make for this call's outputs."""
    if is_error:
        for i in plan.error_outputs:
            if args[i]:
                _struct_at(plan, i).fetch(mem, tid, args[i], args, ret, string_limit)
        return
    if not plan.has_outputs:
        return
    result = plan.result_struct
    if result is not None:
        result.fetch(mem, tid, 0, args, ret, string_limit)
    for i, kind in plan.outputs:
        addr = args[i]
        if not addr:
            continue
        if kind == "struct_out":
            _struct_at(plan, i).fetch(mem, tid, addr, args, ret, string_limit)
        else:
            _OUTPUTS[kind].fetch(mem, tid, addr, ret, string_limit)


def decode_exit(decoded: Decoded, args: tuple[int, ...], ret: int, is_error: bool, tid: int,
                mem: TraceeMemory, string_limit: int = STRING_LIMIT) -> None:
    """Fill in the outputs (read buffers, pipe fds, wait status) at the exit stop."""
    plan = decoded.plan
    if is_error:
        for i in plan.error_outputs:
            if args[i]:
                decoded.texts[i] = _render_struct(_struct_at(plan, i), args[i], args, ret, tid, mem, string_limit)[0]
        return
    if not plan.has_outputs:
        return
    result = plan.result_struct
    if result is not None:
        decoded.result = result.render(result.fetch(mem, tid, 0, args, ret, string_limit), args, ret)
    for i, kind in plan.outputs:
        addr = args[i]
        if kind == "struct_out":
            if addr:
                text, attrs = _render_struct(_struct_at(plan, i), addr, args, ret, tid, mem, string_limit)
                decoded.texts[i] = text
                if attrs:
                    decoded.extra = {**(decoded.extra or {}), **attrs}
            continue
        shown = _OUTPUTS[kind].render(mem, tid, addr, ret, string_limit)
        if shown is not None:
            decoded.texts[i] = shown


class _Output(NamedTuple):
    """How an argument the call fills in is read (at its exit stop, by the capture process)
    and rendered (by the decoder, from those same bytes); both take (memory, tid, address,
    result, string limit).  `render` returns None to leave the entry's text (the address)."""

    fetch: Callable[[TraceeMemory, int, int, int, int], object]
    render: Callable[[TraceeMemory, int, int, int, int], str | None]


def _pipe_fds(raw: bytes) -> str | None:
    if len(raw) != 8:
        return None
    return f"[{int.from_bytes(raw[:4], 'little', signed=True)}, {int.from_bytes(raw[4:], 'little', signed=True)}]"


def _wait_status(raw: bytes) -> str | None:
    return F.wait_status(int.from_bytes(raw, "little")) if len(raw) == 4 else None


#: The kinds of outputs that are not structs, by kind (see `_kind`).
_OUTPUTS: dict[str, _Output] = {
    "rbuf": _Output(lambda mem, tid, addr, ret, limit: fetch_buffer(mem, tid, addr, ret, limit),
                    lambda mem, tid, addr, ret, limit: _read_buffer(mem, tid, addr, ret, limit)),
    # strace shows getrandom's bytes in hex
    "rbuf_hex": _Output(lambda mem, tid, addr, ret, limit: fetch_buffer(mem, tid, addr, ret, limit),
                        lambda mem, tid, addr, ret, limit: F.quote_hex(fetch_buffer(mem, tid, addr, ret, limit),
                                                                        ret > limit) if addr else None),
    "pipefds": _Output(lambda mem, tid, addr, ret, limit: mem.read_bytes(tid, addr, 8),
                       lambda mem, tid, addr, ret, limit: _pipe_fds(mem.read_bytes(tid, addr, 8)) if addr else None),
    "wstatus": _Output(lambda mem, tid, addr, ret, limit: mem.read_bytes(tid, addr, 4) if ret > 0 else None,
                       lambda mem, tid, addr, ret, limit: (_wait_status(mem.read_bytes(tid, addr, 4))
                                                           if addr and ret > 0 else None)),
}
_OUTPUT_KINDS = frozenset(_OUTPUTS) | {"struct_out"}


_CLD_EXITED, _CLD_DUMPED = 1, 3


def waitid_reaped(mem: TraceeMemory, tid: int, args: tuple[int, ...]) -> int:
    """The pid a successful waitid reported as exited/killed (siginfo: si_code at 8, si_pid at 16)."""
    infop = args[2]
    raw = mem.read_bytes(tid, infop, 20) if infop else b""
    if len(raw) < 20:
        return 0
    code = int.from_bytes(raw[8:12], "little", signed=True)
    pid = int.from_bytes(raw[16:20], "little", signed=True)
    return pid if _CLD_EXITED <= code <= _CLD_DUMPED else 0


def pipe_fds(text: str) -> tuple[int, int] | None:
    """The two fds of a decoded `[r, w]` pipe argument."""
    if text.startswith("[") and "," in text:
        left, right = text[1:-1].split(",", 1)
        try:
            return int(left), int(right)
        except ValueError:
            return None
    return None

