"""strace-style rendering of syscall argument values: strings, flag sets, signals, errno.

Everything traced is untrusted text: a path or a read buffer may hold terminal escape
sequences or invalid UTF-8.  `escape_bytes` turns any bytes into a quoted, printable str the
way strace does (`"\\33[31m"`), so nothing downstream — the text output, the TUI, JSON — ever
receives a raw control character.
"""

from __future__ import annotations

import errno
import os
import re
from functools import lru_cache

from ptrace.syscall.posix_arg import (
    CLONE_FLAGS_BITMASK,
    MMAP_PROT_BITMASK,
)
from ptrace.tools import readBits

from renacer_tui.model.readable import signal_name

AT_FDCWD = -100

#: strace's -X: how a named constant is written, `abbrev` (its name, the default), `raw` (the
#: number) or `verbose` (the number, then the name as a comment: `0x3 /* PROT_READ|PROT_WRITE */`)
XLAT_STYLES = ("raw", "abbrev", "verbose")
_xlat_style = "abbrev"


def set_xlat_style(style: str) -> None:
    """Choose the -X style of this process's decoding (`decode.use_xlat_style` also empties the
    caches that hold texts rendered in the old one)."""
    global _xlat_style
    if style not in XLAT_STYLES:
        raise ValueError(f"unknown -X style {style!r}")
    _xlat_style = style
    for cached in (open_flags, prot, map_flags, clone_flags, access_mode, at_flags):
        cached.cache_clear()


def xlat(raw: str, name: str) -> str:
    """One named constant in the -X style: `name`, `raw` or `raw /* name */` (a name that is
    only the number, such as a flag word's unknown bits, is the number in every style)."""
    if _xlat_style == "abbrev" or name == raw:
        return name
    return raw if _xlat_style == "raw" else f"{raw} /* {name} */"


def xlat_unknown(raw: str, what: str) -> str:
    """A value its table does not name: `0x63 /* RUSAGE_??? */` (but `0x63` in -X raw)."""
    return raw if _xlat_style == "raw" else f"{raw} /* {what}_??? */"


def hex_word(value: int) -> str:
    """C's `%#x`: `0` for zero, `0x1f` otherwise (how strace writes a constant's number)."""
    return hex(value) if value else "0"


def signal_arg(signo: int) -> str:
    """A signal number as an argument or a field: `SIGTERM`, `15` (-X raw), `15 /* SIGTERM */`."""
    name = signal_name(signo)
    return xlat(str(signo), name)

_SAFE = re.compile(rb"[\x20-\x21\x23-\x5b\x5d-\x7e]*")
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\v": "\\v", "\f": "\\f", '"': '\\"', "\\": "\\\\"}
_OCTAL_DIGITS = frozenset("01234567")


def _octal(byte: int, following: str) -> str:
    """strace's escape of a byte: octal, in the fewest digits, or three when an octal digit
    follows (`\\0` then `8`, but `\\0007`)."""
    return f"\\{byte:03o}" if following in _OCTAL_DIGITS else f"\\{byte:o}"


def escape_bytes(data: bytes) -> str:
    """Printable text of `data` (no quotes), as strace escapes it: `\\n`, `\\t`…, `\\"`, `\\\\`, and
    octal for other controls and for bytes that are not UTF-8 (`\\177ELF\\2\\1`); printable UTF-8
    text is kept as it is (strace writes it in octal too)."""
    if _SAFE.fullmatch(data):
        return data.decode("ascii")
    text = data.decode("utf-8", errors="surrogateescape")
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        code = ord(ch)
        following = text[i + 1] if i < last else ""
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
            out.append(_octal(code - 0xDC00, following))
        elif code < 0x80 and not ch.isprintable():
            out.append(_octal(code, following))
        elif not ch.isprintable():  # a control or format character beyond ASCII: its UTF-8 bytes
            raw = ch.encode("utf-8")
            out.extend(_octal(b, following if k == len(raw) - 1 else "") for k, b in enumerate(raw))
        else:
            out.append(ch)
    return "".join(out)


_QUOTED: dict[bytes, str] = {}  # short strings seen before: loops write the same bytes again and again
_QUOTED_MAX = 4096


def quote(data: bytes, truncated: bool = False) -> str:
    """`"text"` or `"text"...` (strace marks a string cut at the -s limit with three dots)."""
    if len(data) <= 32 and not truncated:
        text = _QUOTED.get(data)
        if text is None:
            if len(_QUOTED) >= _QUOTED_MAX:
                _QUOTED.clear()
            text = _QUOTED[data] = f'"{escape_bytes(data)}"'
        return text
    return f'"{escape_bytes(data)}"' + ("..." if truncated else "")


def _mask_name(signo: int) -> str:
    """A signal in a mask as strace writes it: `CHLD`, `RTMIN`, `RT_1` (`17 /* CHLD */` in -X verbose)."""
    return xlat(str(signo), signal_name(signo).removeprefix("SIG"))  # RTMIN, RT_1, … as well


def sigset(mask: int, size: int = 64) -> str:
    """`[CHLD USR1]`, or `~[KILL STOP]` when more than half the signals are in the mask (strace)."""
    members = [n for n in range(1, size + 1) if mask >> (n - 1) & 1]
    if len(members) * 2 > size:
        return "~[" + " ".join(_mask_name(n) for n in range(1, size + 1) if not mask >> (n - 1) & 1) + "]"
    return "[" + " ".join(_mask_name(n) for n in members) + "]"


_DUMP_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))  # the rest reads "."


def hex_dump(data: bytes) -> list[str]:
    """strace's -e read=/write= dump of `data`: sixteen bytes a line, offset, hex and text
    (` | 00000  68 65 6c 6c 6f 20 77 6f  72 6c 64 0a                       hello world.     |`)."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset:offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8]) + ("  " + " ".join(f"{b:02x}" for b in chunk[8:]) if len(chunk) > 8 else "")
        text = chunk.translate(_DUMP_PRINTABLE).decode("ascii")
        lines.append(f" | {offset:05x}  {hexes:<48}  {text:<16} |")
    return lines


def buffers_dump(buffers: list[bytes], vectored: bool) -> str:
    """The lines strace prints under a call of -e read=/write=: the dump, per buffer for the
    vectored calls (` * 20 bytes in buffer 1`)."""
    if not vectored:
        return "\n".join(hex_dump(b"".join(buffers)))
    lines = []
    for index, data in enumerate(buffers):
        lines.append(f" * {len(data)} bytes in buffer {index}")
        lines += hex_dump(data)
    return "\n".join(lines)


def quote_hex(data: bytes, truncated: bool = False) -> str:
    """`"\\x22\\x2e"`: every byte in hex, as strace prints random bytes (getrandom)."""
    return '"' + "".join(f"\\x{b:02x}" for b in data) + '"' + ("..." if truncated else "")


def escape_text(text: str) -> str:
    """Make an already-decoded str printable (for /proc contents and similar)."""
    return escape_bytes(text.encode("utf-8", errors="surrogateescape"))


def utf8_text(text: str) -> str:
    """`text` with the bytes that were not UTF-8 (surrogate escapes, as in sys.argv) written as
    `\\xNN`, and nothing else changed: a value that can be stored and exported as UTF-8."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def bits(value: int, table: tuple[tuple[int, str], ...] | list[tuple[int, str]], zero: str = "0") -> str:
    """`A|B|0x40` from a bit table (python-ptrace's readBits), leftovers in hex."""
    if value == 0:
        return xlat("0", zero)
    names = readBits(value, table)
    return xlat(hex(value), "|".join(n if not n.isdigit() else hex(int(n)) for n in names))


def bit_groups(value: int, table: tuple[tuple[int, str], ...]) -> str:
    """`STATX_BASIC_STATS|STATX_MNT_ID`: like `bits`, but a name of several bits only when all of
    them are set (the groups come first in `table`, and take their bits), leftovers in hex."""
    return xlat(hex_word(value), "|".join(_group_names(value, table)) or "0")


def _group_names(value: int, table: tuple[tuple[int, str], ...]) -> list[str]:
    """The names of `table` whose bits are all set, each taking its bits, then the rest in hex."""
    names = []
    for mask, name in table:
        if value & mask == mask:
            names.append(name)
            value &= ~mask
    return names + ([hex(value)] if value else [])


#: open(2) flags in strace's order (its `open_mode_flags` table; python-ptrace's table has another
#: order and names O_TMPFILE whenever O_DIRECTORY alone is set).  O_SYNC and O_TMPFILE are
#: several bits each and are named only when all of them are set.
OPEN_FLAGS = (
    (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"), (0o4010000, "O_SYNC"), (0o10000, "O_DSYNC"), (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"), (0o20200000, "O_TMPFILE"), (0o200000, "O_DIRECTORY"), (0o20000, "FASYNC"),
)


def open_flag_names(value: int) -> str:
    """`O_RDONLY|O_CLOEXEC` (the access mode is a two-bit field, not a flag), in every -X style
    (strace names fcntl F_GETFL's result so even in -X raw)."""
    value &= 0xFFFFFFFF
    mode = ("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")[value & 3]
    return "|".join([mode, *_group_names(value & ~3, OPEN_FLAGS)])


@lru_cache(maxsize=1024)  # flag words repeat: mmap's prot/flags, openat's flags
def open_flags(value: int) -> str:
    """`O_RDONLY|O_CLOEXEC`, or its number (-X)."""
    return xlat(hex_word(value & 0xFFFFFFFF), open_flag_names(value))


def open_flags_nomode(value: int) -> str:
    """dup3's and pipe2's flags: open flags without an access mode (`O_CLOEXEC`, `0`)."""
    names = open_flag_names(value & ~3).removeprefix("O_RDONLY").removeprefix("|")
    return xlat(hex_word(value & 0xFFFFFFFF), names or "0")


def open_mode(value: int) -> str:
    return f"0{value & 0o7777:o}" if value else "000"


@lru_cache(maxsize=1024)  # flag words repeat: mmap's prot/flags, openat's flags
def prot(value: int) -> str:
    return bits(value, MMAP_PROT_BITMASK, "PROT_NONE")


MAP_FLAGS = (
    (0x01, "MAP_SHARED"), (0x02, "MAP_PRIVATE"), (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"),
    (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"), (0x100000, "MAP_FIXED_NOREPLACE"),
)  # python-ptrace has no MAP_* table; values from <linux/mman.h> (x86-64)


_MAP_HUGE_SHIFT, _MAP_HUGE_MASK = 26, 0x3F


@lru_cache(maxsize=1024)  # flag words repeat: mmap's prot/flags, openat's flags
def map_flags(value: int) -> str:
    """`MAP_PRIVATE|MAP_ANONYMOUS`; a huge page size as strace writes it, `21<<MAP_HUGE_SHIFT`."""
    huge = (value >> _MAP_HUGE_SHIFT) & _MAP_HUGE_MASK
    rest = value & ~(_MAP_HUGE_MASK << _MAP_HUGE_SHIFT)
    if not huge:
        return bits(value, MAP_FLAGS)
    names = [n if not n.isdigit() else hex(int(n)) for n in readBits(rest, MAP_FLAGS)] if rest else []
    return xlat(hex(value), "|".join([*names, f"{huge}<<MAP_HUGE_SHIFT"]))


#: The CLONE_* bits that decide which of clone's and clone3's pointers strace shows.
CLONE_PIDFD, CLONE_SETTLS, CLONE_PARENT_SETTID = 0x1000, 0x80000, 0x100000
CLONE_CHILD_TID = 0x1000000 | 0x200000  # CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID
CLONE_INTO_CGROUP = 0x200000000
#: python-ptrace's CLONE_* table with the flags newer kernels added, in bit order (strace's)
CLONE_FLAGS = tuple(sorted(dict([*CLONE_FLAGS_BITMASK, (0x80, "CLONE_NEWTIME"), (0x1000, "CLONE_PIDFD"),
                                 (0x100000000, "CLONE_CLEAR_SIGHAND"), (0x200000000, "CLONE_INTO_CGROUP")]).items()))


@lru_cache(maxsize=1024)  # flag words repeat: mmap's prot/flags, openat's flags
def clone_flags(value: int) -> str:
    """`CLONE_VM|CLONE_FS|…|SIGCHLD`: the low byte is the exit signal."""
    sig = value & 0xFF
    parts = [bits(value & ~0xFF, CLONE_FLAGS)] if value & ~0xFF else []
    if sig:
        parts.append(signal_arg(sig))
    return "|".join(parts) if parts else "0"


ACCESS_MODE = ((4, "R_OK"), (2, "W_OK"), (1, "X_OK"))


@lru_cache(maxsize=1024)  # flag words repeat: mmap's prot/flags, openat's flags
def access_mode(value: int) -> str:
    return bits(value, ACCESS_MODE, "F_OK")


AT_FLAGS = (
    (0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"),
)


@lru_cache(maxsize=1024)  # flag words repeat: mmap's prot/flags, openat's flags
def at_flags(value: int) -> str:
    return bits(value & 0xFFFFFFFF, AT_FLAGS)


def dirfd(value: int) -> str:
    value = to_int32(value)
    return xlat(str(AT_FDCWD), "AT_FDCWD") if value == AT_FDCWD else str(value)




# Kernel-internal codes a tracer sees when a signal interrupts a call (never returned to the
# program); names and texts as strace prints them.
_KERNEL_ERRNOS: dict[int, tuple[str, str]] = {
    512: ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    513: ("ERESTARTNOINTR", "To be restarted"),
    514: ("ERESTARTNOHAND", "To be restarted if no handler"),
    515: ("ENOIOCTLCMD", "No ioctl command"),
    516: ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
    517: ("EPROBE_DEFER", "Requested probe deferral"),
    518: ("EOPENSTALE", "Open found a stale dentry"),
    519: ("ENOPARAM", "Parameter not supported"),
}
_KERNEL_ERRNO_CODES = {name: code for code, (name, _text) in _KERNEL_ERRNOS.items()}
#: Codes of a call the kernel restarts or abandons for a signal: the program never sees -1.
RESTART_ERRNOS = frozenset({512, 513, 514, 516})


def errno_name(code: int) -> str:
    """`ENOENT` for 2 (errno module), `ERESTARTSYS` for the kernel's own, `E<code>` otherwise."""
    name = errno.errorcode.get(code)
    if name is None:
        name = _KERNEL_ERRNOS[code][0] if code in _KERNEL_ERRNOS else f"E{code}"
    return name


def errno_code(name: str) -> int | None:
    """The number of an errno name (the inverse of `errno_name`), None when unknown."""
    code = getattr(errno, name, None)
    return code if isinstance(code, int) else _KERNEL_ERRNO_CODES.get(name)


def errno_message(code: int) -> str:
    if code in _KERNEL_ERRNOS:
        return _KERNEL_ERRNOS[code][1]
    return os.strerror(code)


def error_result(code: int) -> str:
    """strace's result text of a failed call: `-1 ENOENT (No such file or directory)`, or
    `? ERESTARTSYS (To be restarted if SA_RESTART is set)` for a call a signal interrupted."""
    lead = "?" if code in RESTART_ERRNOS else "-1"
    return f"{lead} {errno_name(code)} ({errno_message(code)})"


def to_int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def to_int64(value: int) -> int:
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value & (1 << 63) else value


def pointer(value: int) -> str:
    return "NULL" if value == 0 else hex(value & 0xFFFFFFFFFFFFFFFF)


def wait_status(status: int) -> str:
    """strace's `[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]` rendering of a wait status."""
    if os.WIFEXITED(status):
        return f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {os.WEXITSTATUS(status)}}}]"
    if os.WIFSIGNALED(status):
        core = " && WCOREDUMP(s)" if os.WCOREDUMP(status) else ""
        return f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {signal_name(os.WTERMSIG(status))}{core}}}]"
    if os.WIFSTOPPED(status):
        return f"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {signal_name(os.WSTOPSIG(status))}}}]"
    return f"[{status:#x}]"


_OPENERS = {"(": ")", "[": "]", "{": "}"}


def arguments(text: str) -> list[str]:
    """`text` (an argument list as these functions render it) as its arguments."""
    out = []
    while text:
        head, text = split_arguments(text, 1)
        out.append(head.removesuffix(", ") if text else head)
    return out


def split_arguments(text: str, count: int) -> tuple[str, str]:
    """`text` (an argument list as these functions render it) cut after its first `count`
    arguments: (head, tail) with `head + tail == text`, the separator ending `head` when there is
    a tail.  Commas inside quoted strings, structs, arrays and `htons(…)` are not separators."""
    if count <= 0:
        return "", text
    depth = 0
    in_string = False
    escaped = False
    seen = 0
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _OPENERS:
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0 and text.startswith(", ", i):
            seen += 1
            if seen == count:
                return text[: i + 2], text[i + 2 :]
    return text, ""
