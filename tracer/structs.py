"""Structs a syscall reads or fills in, rendered as strace 6.1 prints them (x86-64 layouts).

`{st_mode=S_IFREG|0644, st_size=3, ...}`, `{tv_sec=0, tv_nsec=1000}`, `{sa_family=AF_INET,
sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}`, `{sa_handler=SIG_DFL, sa_mask=[], …}`,
`{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}`, poll's `[{fd=3, events=POLLIN}]`…

Each kind has a `fetch` that makes the memory reads (the capture process runs it while the task
is stopped and ships what was read; the decoder process runs it again on the replayed memory, so
both read exactly the same addresses and sizes) and a `render` that turns the bytes into text.
Input structs are read at the call's entry, output structs at its exit, and only when it
succeeded (strace prints the address of a struct a failed call did not fill in).
"""

from __future__ import annotations

import re
import select
import socket
import stat
import struct
import termios
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from renacer_tui.model.attributes import (
    ATTR_NETWORK_LOCAL_ADDRESS,
    ATTR_NETWORK_LOCAL_PORT,
    ATTR_NETWORK_PEER_ADDRESS,
    ATTR_NETWORK_PEER_PORT,
    ATTR_NETWORK_TRANSPORT,
)
from renacer_tui.tracer import formats as F
from renacer_tui.tracer.events import TraceeMemory

#: What a fetch returns: the byte strings read, in order.
Fetched = tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class StructKind:
    """How to read and render one struct argument."""

    #: (mem, tid, addr, args, ret, string limit): the reads, in order
    fetch: Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]
    render: Callable[[Fetched, tuple[int, ...], int], tuple[str, dict[str, Any]]]  # → (text, attributes)
    output: bool  # filled in by the call (read at exit) rather than read by it (at entry)
    #: an output read and rendered when the call failed too (`render` sees ret < 0): strace's
    #: `recvmsg(3, {msg_namelen=0}, MSG_DONTWAIT) = -1 EAGAIN`
    on_error: bool = False


def _fixed(size: int) -> Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]:
    def fetch(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
        return (mem.read_bytes(tid, addr, size),)
    return fetch


# -- stat -------------------------------------------------------------------------------------
_STAT = struct.Struct("<QQQIIIxxxxQq")  # dev, ino, nlink, mode, uid, gid, (pad), rdev, size
_FILE_TYPES = ((stat.S_IFREG, "S_IFREG"), (stat.S_IFDIR, "S_IFDIR"), (stat.S_IFCHR, "S_IFCHR"),
               (stat.S_IFBLK, "S_IFBLK"), (stat.S_IFIFO, "S_IFIFO"), (stat.S_IFLNK, "S_IFLNK"),
               (stat.S_IFSOCK, "S_IFSOCK"))


_SPECIAL_MODES = ((stat.S_ISUID, "S_ISUID"), (stat.S_ISGID, "S_ISGID"), (stat.S_ISVTX, "S_ISVTX"))


def file_mode(mode: int) -> str:
    """`S_IFREG|0644`, `S_IFDIR|S_ISVTX|0777` (the type, the set-id and sticky bits by name, then
    the permission bits in octal)."""
    kind = next((name for bits, name in _FILE_TYPES if stat.S_IFMT(mode) == bits), None)
    names = ([kind] if kind else []) + [name for bit, name in _SPECIAL_MODES if mode & bit]
    perms = f"0{mode & 0o777:o}" if mode & 0o777 else "000"
    return F.xlat(f"0{mode:o}", "|".join([*names, perms]))  # -X raw: `0100644`


def _makedev(dev: int) -> str:
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
    return F.xlat(hex(dev), f"makedev({major:#x}, {minor:#x})")


def _render_stat(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw = data[0]
    if len(raw) < _STAT.size:
        return "", {}
    _dev, _ino, _nlink, mode, _uid, _gid, rdev, size = _STAT.unpack_from(raw)
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"{{st_mode={file_mode(mode)}, st_rdev={_makedev(rdev)}, ...}}", {}
    return f"{{st_mode={file_mode(mode)}, st_size={size}, ...}}", {}


# -- timespec ---------------------------------------------------------------------------------
_TIMESPEC = struct.Struct("<qq")


def _render_timespec(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    if len(data[0]) < _TIMESPEC.size:
        return "", {}
    sec, nsec = _TIMESPEC.unpack_from(data[0])
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}", {}


# -- sockaddr ---------------------------------------------------------------------------------
_SOCKADDR_MAX = 128  # sizeof(struct sockaddr_storage)


def _fetch_sockaddr_in(length_index: int) -> Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]:
    def fetch(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
        length = F.to_int32(args[length_index])
        return (mem.read_bytes(tid, addr, min(max(length, 0), _SOCKADDR_MAX)),)
    return fetch


def _fetch_sockaddr_out(length_index: int) -> Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]:
    """The length the kernel wrote back (an `int *`), then that many bytes of the address."""
    def fetch(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
        length_addr = args[length_index]
        raw_length = mem.read_bytes(tid, length_addr, 4) if length_addr else b""
        length = int.from_bytes(raw_length, "little", signed=True) if len(raw_length) == 4 else 0
        return raw_length, mem.read_bytes(tid, addr, min(max(length, 0), _SOCKADDR_MAX))
    return fetch


def sockaddr(raw: bytes) -> tuple[str, str | None, int | None, str | None]:
    """(strace's text, address, port, transport) of a socket address."""
    if len(raw) < 2:
        return "{}", None, None, None
    import ipaddress  # the decoder's work; the capture process only reads the bytes

    family = int.from_bytes(raw[:2], "little")
    name = F.xlat(F.hex_word(family), _FAMILY_NAMES[family]) if family in _FAMILY_NAMES else str(family)
    if family == socket.AF_UNIX:
        path = raw[2:]
        if not path:
            return f"{{sa_family={name}}}", None, None, "unix"
        abstract = path[:1] == b"\0"
        shown = path[1:] if abstract else path.split(b"\0", 1)[0]
        text = ("@" if abstract else "") + F.quote(shown)
        address = ("@" if abstract else "") + F.escape_bytes(shown)
        return f"{{sa_family={name}, sun_path={text}}}", address, None, "unix"
    if family == socket.AF_INET and len(raw) >= 8:
        port = int.from_bytes(raw[2:4], "big")
        host = str(ipaddress.IPv4Address(raw[4:8]))
        shown_port = F.xlat(F.quote_hex(raw[2:4]), f"htons({port})")  # -X: the bytes as they are
        shown_host = F.xlat(F.quote_hex(raw[4:8]), f'inet_addr("{host}")')
        return f"{{sa_family={name}, sin_port={shown_port}, sin_addr={shown_host}}}", host, port, None
    if family == socket.AF_INET6 and len(raw) >= 28:
        port = int.from_bytes(raw[2:4], "big")
        flow = int.from_bytes(raw[4:8], "big")
        host = str(ipaddress.IPv6Address(raw[8:24]))
        scope = int.from_bytes(raw[24:28], "little")
        text = (f"{{sa_family={name}, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
                f'inet_pton(AF_INET6, "{host}", &sin6_addr), sin6_scope_id={scope}}}')
        return text, host, port, None
    if family == socket.AF_NETLINK and len(raw) >= 12:
        pid = int.from_bytes(raw[4:8], "little")
        groups = int.from_bytes(raw[8:12], "little")
        return f"{{sa_family={name}, nl_pid={pid}, nl_groups={groups:08x}}}", None, None, None
    return f"{{sa_family={name}, sa_data={F.quote(raw[2:])}}}", None, None, None


_FAMILY_NAMES = {int(family): family.name for family in socket.AddressFamily}
_FAMILY_NAMES[socket.AF_UNIX] = "AF_UNIX"


def _address_attributes(address: str | None, port: int | None, transport: str | None, local: bool) -> dict[str, Any]:
    """OpenTelemetry's network.* attributes of the address the call names."""
    attrs: dict[str, Any] = {}
    if address is not None:
        attrs[ATTR_NETWORK_LOCAL_ADDRESS if local else ATTR_NETWORK_PEER_ADDRESS] = address
    if port is not None:
        attrs[ATTR_NETWORK_LOCAL_PORT if local else ATTR_NETWORK_PEER_PORT] = port
    if transport is not None:
        attrs[ATTR_NETWORK_TRANSPORT] = transport
    return attrs


def _render_sockaddr(local: bool, output: bool) -> Callable[[Fetched, tuple[int, ...], int], tuple[str, dict[str, Any]]]:
    """An address read at entry (`_fetch_sockaddr_in`) or after its length at exit (`_out`)."""
    def render(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
        text, address, port, transport = sockaddr(data[1] if output else data[0])
        return text, _address_attributes(address, port, transport, local)
    return render


# -- an int behind a pointer: `[16]` (address lengths, setsockopt's value) -----------------------
def _render_int(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw = data[0]
    return (f"[{int.from_bytes(raw, 'little', signed=True)}]", {}) if len(raw) == 4 else ("", {})


def _fetch_optval(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    """setsockopt's value when it is an int (optlen 4); other sizes stay an address."""
    return (mem.read_bytes(tid, addr, 4),) if F.to_int32(args[4]) == 4 else (b"",)


# -- utsname ----------------------------------------------------------------------------------
_UTS_FIELD = 65


def _render_utsname(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw = data[0]
    if len(raw) < 2 * _UTS_FIELD:
        return "", {}
    sysname, nodename = (raw[i * _UTS_FIELD:(i + 1) * _UTS_FIELD].split(b"\0", 1)[0] for i in range(2))
    return f"{{sysname={F.quote(sysname)}, nodename={F.quote(nodename)}, ...}}", {}


# -- sigaction (the kernel's layout for rt_sigaction) ------------------------------------------
_SIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask
_SA_RESTORER = 0x04000000
_SA_FLAGS = ((_SA_RESTORER, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"), (0x10000000, "SA_RESTART"),
             (0x40000000, "SA_NODEFER"), (0x80000000, "SA_RESETHAND"), (4, "SA_SIGINFO"),
             (1, "SA_NOCLDSTOP"), (2, "SA_NOCLDWAIT"))


def _render_sigaction(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw = data[0]
    if len(raw) < _SIGACTION.size:
        return "", {}
    handler, flags, restorer, mask = _SIGACTION.unpack_from(raw)
    named = {0: "SIG_DFL", 1: "SIG_IGN"}.get(handler)
    shown = F.pointer(handler) if named is None else F.xlat(F.hex_word(handler), named)
    text = f"{{sa_handler={shown}, sa_mask={F.sigset(mask)}, sa_flags={F.bits(flags & 0xFFFFFFFF, _SA_FLAGS)}"
    if flags & _SA_RESTORER:
        text += f", sa_restorer={F.pointer(restorer)}"
    return text + "}", {}


# -- rlimit -----------------------------------------------------------------------------------
_RLIMIT = struct.Struct("<QQ")
_RLIM_INFINITY = 2**64 - 1


def _limit(value: int) -> str:
    if value == _RLIM_INFINITY:
        return "RLIM64_INFINITY"
    return f"{value // 1024}*1024" if value > 1024 and value % 1024 == 0 else str(value)


def _render_rlimit(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    if len(data[0]) < _RLIMIT.size:
        return "", {}
    cur, high = _RLIMIT.unpack_from(data[0])
    return f"{{rlim_cur={_limit(cur)}, rlim_max={_limit(high)}}}", {}


# -- pollfd arrays ----------------------------------------------------------------------------
_POLLFD = struct.Struct("<ihh")
_POLL_MAX = 32  # strace shows at most this many elements, then "..."
_POLL_EVENTS = tuple((getattr(select, name), name) for name in (
    "POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL", "POLLRDNORM", "POLLRDBAND",
    "POLLWRNORM", "POLLWRBAND", "POLLMSG", "POLLRDHUP") if hasattr(select, name))


def _fetch_pollfds(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    count = min(args[1] & 0xFFFFFFFF, _POLL_MAX)
    return (mem.read_bytes(tid, addr, count * _POLLFD.size),)


def _pollfds(raw: bytes) -> list[tuple[int, int, int]]:
    return [_POLLFD.unpack_from(raw, i) for i in range(0, len(raw) - len(raw) % _POLLFD.size, _POLLFD.size)]


def _render_pollfds(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    entries = [f"{{fd={fd}, events={F.bits(events & 0xFFFF, _POLL_EVENTS)}}}" for fd, events, _r in _pollfds(data[0])]
    more = ", ..." if args[1] & 0xFFFFFFFF > _POLL_MAX else ""
    return "[" + ", ".join(entries) + more + "]", {}


def poll_result(data: Fetched, ret: int) -> str:
    """poll's result as strace writes it: `2 ([{fd=3, revents=POLLIN}, …])`, `0 (Timeout)`."""
    if ret == 0:
        return "0 (Timeout)"
    ready = [f"{{fd={fd}, revents={F.bits(revents & 0xFFFF, _POLL_EVENTS)}}}"
             for fd, _e, revents in _pollfds(data[0]) if revents]
    return f"{ret} ([{', '.join(ready)}])"


# -- epoll_event (packed on x86-64: events u32, data u64) -------------------------------------
_EPOLL_EVENT = struct.Struct("<IQ")
_EPOLL_EVENTS = (
    (select.EPOLLIN, "EPOLLIN"), (select.EPOLLPRI, "EPOLLPRI"), (select.EPOLLOUT, "EPOLLOUT"),
    (select.EPOLLERR, "EPOLLERR"), (select.EPOLLHUP, "EPOLLHUP"), (0x20, "EPOLLNVAL"),
    (select.EPOLLRDHUP, "EPOLLRDHUP"), (select.EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE"), (1 << 29, "EPOLLWAKEUP"),
    (select.EPOLLONESHOT, "EPOLLONESHOT"), (select.EPOLLET, "EPOLLET"),
)  # strace's order; EPOLLNVAL and EPOLLWAKEUP are not in the stdlib


def _fetch_epoll_event(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    """The event of EPOLL_CTL_ADD / _MOD (EPOLL_CTL_DEL ignores it: strace shows the address)."""
    return (mem.read_bytes(tid, addr, _EPOLL_EVENT.size),) if F.to_int32(args[1]) in (1, 3) else (b"",)


def _render_epoll_event(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    if len(data[0]) < _EPOLL_EVENT.size:
        return "", {}
    events, value = _EPOLL_EVENT.unpack_from(data[0])
    return f"{{events={F.bits(events, _EPOLL_EVENTS)}, data={{u32={value & 0xFFFFFFFF}, u64={value}}}}}", {}


# -- sigset (the kernel's 8 bytes on x86-64, rt_sigprocmask's sigsetsize) ------------------------
_SIGSET_BYTES = 8


def _render_sigset(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw = data[0]
    return (F.sigset(int.from_bytes(raw, "little")), {}) if len(raw) == _SIGSET_BYTES else ("", {})


# -- ioctl's argument, by request: termios, winsize, an int ---------------------------------------
_TERMIOS = struct.Struct("<IIII")  # c_iflag, c_oflag, c_cflag, c_lflag (then c_line, c_cc[19])
_WINSIZE = struct.Struct("<HHHH")
_TERMIOS_REQUESTS = frozenset({termios.TCGETS, termios.TCSETS, termios.TCSETSW, termios.TCSETSF})
_WINSIZE_REQUESTS = frozenset({termios.TIOCGWINSZ, termios.TIOCSWINSZ})
#: requests whose argument points at an int (strace: `[0]`)
_INT_REQUESTS = frozenset({termios.FIONREAD, termios.TIOCGPGRP, termios.TIOCSPGRP, termios.FIONBIO, termios.TIOCOUTQ,
                           0x80045430, 0x40045431})  # TIOCGPTN, TIOCSPTLCK (not in the stdlib)


_TERMIOS_EXTRA = {"IUTF8": 0o40000, "EXTPROC": 0o200000, "CMSPAR": 0o10000000000}  # Linux's, not in the stdlib


def _flag_table(*names: str) -> tuple[tuple[int, str], ...]:
    values = {name: getattr(termios, name, None) or _TERMIOS_EXTRA.get(name) for name in names}
    return tuple((value, name) for name, value in values.items() if value is not None)


# strace's tables, in its order
_IFLAGS = _flag_table("IGNBRK", "BRKINT", "IGNPAR", "PARMRK", "INPCK", "ISTRIP", "INLCR", "IGNCR", "ICRNL",
                      "IUCLC", "IXON", "IXANY", "IXOFF", "IMAXBEL", "IUTF8")
_OFLAGS = _flag_table("OPOST", "OLCUC", "ONLCR", "OCRNL", "ONOCR", "ONLRET", "OFILL", "OFDEL")
_CFLAGS = _flag_table("CSTOPB", "CREAD", "PARENB", "PARODD", "HUPCL", "CLOCAL", "CMSPAR", "CRTSCTS")
_LFLAGS = _flag_table("ISIG", "ICANON", "XCASE", "ECHO", "ECHOE", "ECHOK", "ECHONL", "NOFLSH", "IEXTEN", "ECHOCTL",
                      "ECHOPRT", "ECHOKE", "FLUSHO", "PENDIN", "TOSTOP", "EXTPROC")
#: c_oflag's delay fields, each shown by its value's name (`NL0|CR0|TAB0|…` as strace)
_ODELAYS = tuple((getattr(termios, mask), {getattr(termios, f"{prefix}{i}"): f"{prefix}{i}" for i in range(count)})
                 for mask, prefix, count in (("NLDLY", "NL", 2), ("CRDLY", "CR", 4), ("TABDLY", "TAB", 4),
                                             ("BSDLY", "BS", 2), ("VTDLY", "VT", 2), ("FFDLY", "FF", 2)))
_BAUDS = {value: name for name, value in vars(termios).items() if re.fullmatch(r"B\d+", name)}
_CSIZES = {termios.CS5: "CS5", termios.CS6: "CS6", termios.CS7: "CS7", termios.CS8: "CS8"}


def _flags(value: int, table: tuple[tuple[int, str], ...]) -> list[str]:
    names = [name for bit, name in table if value & bit == bit]
    rest = value & ~sum(bit for bit, _name in table)
    return names + ([hex(rest)] if rest else [])


def _flag_word(value: int, table: tuple[tuple[int, str], ...]) -> str:
    """One flag word as a single constant (`ICRNL|IXON`, `0x500` in -X raw)."""
    return F.xlat(F.hex_word(value), "|".join(_flags(value, table)) or "0")


def _field(value: int, names: dict[int, str]) -> str:
    """One field of a flag word (a delay, the baud rate, the character size) by its value's name."""
    return F.xlat(F.hex_word(value), names.get(value, hex(value)))


def _render_termios(raw: bytes) -> str:
    """strace's termios: each word's fields apart (`c_oflag=NL0|CR0|…|OPOST|ONLCR`; in -X raw
    `0|0|…|0x5`), the plain flag words whole."""
    iflag, oflag, cflag, lflag = _TERMIOS.unpack_from(raw)
    oparts = [_field(oflag & mask, names) for mask, names in _ODELAYS]
    oflag &= ~sum(mask for mask, _names in _ODELAYS)
    if oflag:
        oparts.append(_flag_word(oflag, _OFLAGS))
    cparts = [_field(cflag & termios.CBAUD, _BAUDS), _field(cflag & termios.CSIZE, _CSIZES)]
    rest = cflag & ~(termios.CBAUD | termios.CSIZE)
    if rest:
        cparts.append(_flag_word(rest, _CFLAGS))
    return (f"{{c_iflag={_flag_word(iflag, _IFLAGS)}, c_oflag={'|'.join(oparts)}, "
            f"c_cflag={'|'.join(cparts)}, c_lflag={_flag_word(lflag, _LFLAGS)}, ...}}")


def _fetch_ioctl_arg(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    request = args[1] & 0xFFFFFFFF
    size = (_TERMIOS.size if request in _TERMIOS_REQUESTS else _WINSIZE.size if request in _WINSIZE_REQUESTS
            else 4 if request in _INT_REQUESTS else 0)
    return (mem.read_bytes(tid, addr, size) if size else b"",)


def _render_ioctl_arg(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw, request = data[0], args[1] & 0xFFFFFFFF
    if request in _TERMIOS_REQUESTS and len(raw) == _TERMIOS.size:
        return _render_termios(raw), {}
    if request in _WINSIZE_REQUESTS and len(raw) == _WINSIZE.size:
        row, col, xpixel, ypixel = _WINSIZE.unpack_from(raw)
        return f"{{ws_row={row}, ws_col={col}, ws_xpixel={xpixel}, ws_ypixel={ypixel}}}", {}
    return _render_int(data, args, ret) if request in _INT_REQUESTS else ("", {})


# -- iovec arrays (readv/writev and their p- forms) ----------------------------------------------
_IOVEC = struct.Struct("<QQ")  # iov_base, iov_len


def _read_iovec(mem: TraceeMemory, tid: int, addr: int, count: int, moved: int | None, limit: int) -> list[bytes]:
    """An iovec array (at most `limit` entries, as strace), then the first `limit` bytes of each
    buffer: all of them, or the `moved` bytes a read filled in (spread in order)."""
    raw = mem.read_bytes(tid, addr, min(count, max(limit, 1)) * _IOVEC.size)
    out = [raw]
    left = moved
    for base, length in _iovecs(raw):
        size = length if left is None else min(length, max(left, 0))
        if left is not None:
            left -= size
        out.append(mem.read_bytes(tid, base, min(size, limit)) if size > 0 else b"")
    return out


def _iovec_text(data: Fetched | list[bytes], count: int, moved: int | None) -> str:
    """`[{iov_base="ab", iov_len=2}, …]` from what `_read_iovec` read ("" when unreadable)."""
    entries = _iovecs(data[0])
    if not entries and count:
        return ""
    left = moved
    shown = []
    for (_base, length), data_i in zip(entries, data[1:]):
        size = length if left is None else min(length, max(left, 0))
        if left is not None:
            left -= size
        shown.append(f"{{iov_base={F.quote(data_i, len(data_i) < size)}, iov_len={length}}}")
    more = ", ..." if count > len(entries) else ""
    return "[" + ", ".join(shown) + more + "]"


def _fetch_iovec(output: bool) -> Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]:
    """readv/writev's array and buffers (a readv's: the bytes its result says it read)."""
    def fetch(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
        return tuple(_read_iovec(mem, tid, addr, args[2], ret if output else None, limit))
    return fetch


def _iovecs(raw: bytes) -> list[tuple[int, int]]:
    return [_IOVEC.unpack_from(raw, i) for i in range(0, len(raw) - len(raw) % _IOVEC.size, _IOVEC.size)]


def _render_iovec(output: bool) -> Callable[[Fetched, tuple[int, ...], int], tuple[str, dict[str, Any]]]:
    def render(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
        return _iovec_text(data, args[2], ret if output else None), {}
    return render


# -- struct msghdr (sendmsg at entry, recvmsg at exit) -------------------------------------------
_MSGHDR = struct.Struct("<QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags
MSG_FLAGS = tuple(sorted((int(flag), flag.name) for flag in socket.MsgFlag if flag.name))


def _fetch_msghdr(output: bool) -> Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]:
    """The header, the address it names, then its iovec array and buffers (a recvmsg's: the bytes
    its result says it received)."""
    def fetch(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
        raw = mem.read_bytes(tid, addr, _MSGHDR.size)
        if len(raw) < _MSGHDR.size or ret < 0:  # a failed recvmsg: its header only
            return (raw,)
        name, namelen, iov, iovlen, control, controllen = _MSGHDR.unpack_from(raw)[:6]
        address = mem.read_bytes(tid, name, min(namelen, _SOCKADDR_MAX)) if name and namelen else b""
        controls = mem.read_bytes(tid, control, min(controllen, _CONTROL_MAX)) if control and controllen else b""
        return (raw, address, controls, *_read_iovec(mem, tid, iov, iovlen, ret if output else None, limit))
    return fetch


_CONTROL_MAX = 4096
_CMSGHDR = struct.Struct("<Qii")  # cmsg_len, cmsg_level, cmsg_type; the data follows, 8-byte aligned
_CMSG_LEVELS = {socket.SOL_SOCKET: "SOL_SOCKET", socket.SOL_IP: "SOL_IP", 41: "SOL_IPV6", socket.SOL_TCP: "SOL_TCP",
                socket.SOL_UDP: "SOL_UDP"}
_SCM_TYPES = {1: "SCM_RIGHTS", 2: "SCM_CREDENTIALS", 3: "SCM_SECURITY", 4: "SCM_PIDFD"}
_UCRED = struct.Struct("<iII")


def _control_messages(raw: bytes) -> str:
    """strace's `[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[5]}, …]`: the
    fds passed (SCM_RIGHTS) and the credentials (SCM_CREDENTIALS) decoded, other data left out."""
    messages, offset = [], 0
    while offset + _CMSGHDR.size <= len(raw):
        length, level, kind = _CMSGHDR.unpack_from(raw, offset)
        if length < _CMSGHDR.size:
            break
        data = raw[offset + _CMSGHDR.size : offset + length]
        level_name = _CMSG_LEVELS.get(level, str(level))
        socket_level = level == socket.SOL_SOCKET
        kind_name = _SCM_TYPES.get(kind, hex(kind)) if socket_level else hex(kind)
        fields = [f"cmsg_len={length}", f"cmsg_level={level_name}", f"cmsg_type={kind_name}"]
        if socket_level and kind == 1:
            fds = [str(int.from_bytes(data[i : i + 4], "little", signed=True)) for i in range(0, len(data) - 3, 4)]
            fields.append(f"cmsg_data=[{', '.join(fds)}]")
        elif socket_level and kind == 2 and len(data) >= _UCRED.size:
            pid, uid, gid = _UCRED.unpack_from(data)
            fields.append(f"cmsg_data={{pid={pid}, uid={uid}, gid={gid}}}")
        messages.append("{" + ", ".join(fields) + "}")
        offset += (length + 7) & ~7
    return "[" + ", ".join(messages) + "]"


def _render_msghdr(output: bool) -> Callable[[Fetched, tuple[int, ...], int], tuple[str, dict[str, Any]]]:
    """strace's `{msg_name=…, msg_namelen=16, msg_iov=[…], msg_iovlen=1, msg_control=[…],
    msg_controllen=24, msg_flags=0}`."""
    def render(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
        if len(data[0]) < _MSGHDR.size:
            return "", {}
        name, namelen, _iov, iovlen, control, controllen, flags = _MSGHDR.unpack_from(data[0])
        if ret < 0:  # strace shows what a failed recvmsg was given room for
            return f"{{msg_namelen={namelen}}}", {}
        attrs: dict[str, Any] = {}
        if name and data[1]:
            shown_name, address, port, transport = sockaddr(data[1])
            attrs = _address_attributes(address, port, transport, False)
        else:
            shown_name = F.pointer(name)
        fields = [f"msg_name={shown_name}", f"msg_namelen={namelen}",
                  f"msg_iov={_iovec_text(data[3:], iovlen, ret if output else None) or '[]'}", f"msg_iovlen={iovlen}"]
        if controllen:
            fields.append(f"msg_control={_control_messages(data[2]) if data[2] else F.pointer(control)}")
        fields += [f"msg_controllen={controllen}", f"msg_flags={F.bits(flags & 0xFFFFFFFF, MSG_FLAGS)}"]
        return "{" + ", ".join(fields) + "}", attrs
    return render


_IOVEC_IN = StructKind(_fetch_iovec(False), _render_iovec(False), False)
_IOVEC_OUT = StructKind(_fetch_iovec(True), _render_iovec(True), True)

# -- clone3's struct clone_args (read at the exit: the new task's ids are in it then) -----------
_CLONE_ARGS = struct.Struct("<11Q")  # flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, …


def _fetch_clone_args(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    """The struct, then what the call wrote through it: the parent's copy of the new tid, the pidfd."""
    raw = mem.read_bytes(tid, addr, min(args[1], _CLONE_ARGS.size))
    if len(raw) < _CLONE_ARGS.size:
        return (raw, b"", b"")
    flags, pidfd, _child_tid, parent_tid = _CLONE_ARGS.unpack_from(raw)[:4]
    written = [mem.read_bytes(tid, pointer, 4) if flags & bit and pointer else b""
               for bit, pointer in ((F.CLONE_PARENT_SETTID, parent_tid), (F.CLONE_PIDFD, pidfd))]
    return (raw, *written)


def _render_clone_args(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    """strace's `{flags=CLONE_VM|…, child_tid=…, exit_signal=0, stack=…, stack_size=0x7fff80, tls=…}
    => {parent_tid=[1235]}`: each pointer only when a flag uses it."""
    raw, parent_written, pidfd_written = data
    if len(raw) < _CLONE_ARGS.size:
        return "", {}
    flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, _set_tid, _count, cgroup = \
        _CLONE_ARGS.unpack_from(raw)
    fields = [f"flags={F.bits(flags, F.CLONE_FLAGS)}"]
    if flags & F.CLONE_PIDFD:
        fields.append(f"pidfd={F.pointer(pidfd)}")
    if flags & F.CLONE_CHILD_TID:
        fields.append(f"child_tid={F.pointer(child_tid)}")
    if flags & F.CLONE_PARENT_SETTID:
        fields.append(f"parent_tid={F.pointer(parent_tid)}")
    fields.append(f"exit_signal={F.signal_arg(exit_signal) if exit_signal else 0}")
    fields += [f"stack={F.pointer(stack)}", f"stack_size={F.hex_word(stack_size)}"]
    if flags & F.CLONE_SETTLS:
        fields.append(f"tls={F.pointer(tls)}")
    if flags & F.CLONE_INTO_CGROUP:
        fields.append(f"cgroup={cgroup}")
    written = [f"{name}=[{int.from_bytes(value, 'little', signed=True)}]"
               for name, value in (("parent_tid", parent_written), ("pidfd", pidfd_written)) if len(value) == 4]
    return "{" + ", ".join(fields) + "}" + (f" => {{{', '.join(written)}}}" if written else ""), {}


# -- statx ------------------------------------------------------------------------------------
_STATX = struct.Struct("<IIQIIIH")  # stx_mask, stx_blksize, stx_attributes, stx_nlink, uid, gid, stx_mode
_STATX_SIZE = struct.Struct("<Q")  # stx_size, at offset 40 (after the padding and stx_ino)
#: stx_mask's bits in strace's order, the groups first (the kernel's STATX_*)
STATX_MASKS = ((0xFFF, "STATX_ALL"), (0x7FF, "STATX_BASIC_STATS"), (0x1, "STATX_TYPE"), (0x2, "STATX_MODE"),
               (0x4, "STATX_NLINK"), (0x8, "STATX_UID"), (0x10, "STATX_GID"), (0x20, "STATX_ATIME"),
               (0x40, "STATX_MTIME"), (0x80, "STATX_CTIME"), (0x100, "STATX_INO"), (0x200, "STATX_SIZE"),
               (0x400, "STATX_BLOCKS"), (0x800, "STATX_BTIME"), (0x1000, "STATX_MNT_ID"), (0x2000, "STATX_DIOALIGN"))
_STATX_ATTRIBUTES = ((0x4, "STATX_ATTR_COMPRESSED"), (0x10, "STATX_ATTR_IMMUTABLE"), (0x20, "STATX_ATTR_APPEND"),
                     (0x40, "STATX_ATTR_NODUMP"), (0x800, "STATX_ATTR_ENCRYPTED"), (0x1000, "STATX_ATTR_AUTOMOUNT"),
                     (0x2000, "STATX_ATTR_MOUNT_ROOT"), (0x100000, "STATX_ATTR_VERITY"), (0x200000, "STATX_ATTR_DAX"))


def _render_statx(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw = data[0]
    if len(raw) < 48:
        return "", {}
    mask, _blksize, attributes, _nlink, _uid, _gid, mode = _STATX.unpack_from(raw)
    (size,) = _STATX_SIZE.unpack_from(raw, 40)
    return (f"{{stx_mask={F.bit_groups(mask, STATX_MASKS)}, stx_attributes={F.bits(attributes, _STATX_ATTRIBUTES)}, "
            f"stx_mode={file_mode(mode)}, stx_size={size}, ...}}"), {}


# -- fd_set (select, pselect6) ----------------------------------------------------------------
_FD_SETSIZE = 1024
_TIMEVAL = struct.Struct("<qq")


def _fd_set_bytes(args: tuple[int, ...]) -> int:
    nfds = min(max(F.to_int32(args[0]), 0), _FD_SETSIZE)
    return (nfds + 7) // 8


def _fetch_fd_set(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    return (mem.read_bytes(tid, addr, _fd_set_bytes(args)),)


def _fds_in(raw: bytes, nfds: int) -> list[int]:
    return [fd for fd in range(min(nfds, len(raw) * 8)) if raw[fd // 8] >> (fd % 8) & 1]


def _render_fd_set(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    if len(data[0]) < _fd_set_bytes(args):
        return "", {}
    return "[" + " ".join(map(str, _fds_in(data[0], F.to_int32(args[0])))) + "]", {}


def _render_timeval(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    if len(data[0]) < _TIMEVAL.size:
        return "", {}
    sec, usec = _TIMEVAL.unpack_from(data[0])
    return f"{{tv_sec={sec}, tv_usec={usec}}}", {}


def _fetch_pselect_sigmask(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int,
                           limit: int = 0) -> Fetched:
    """pselect6's sixth argument: a {const sigset_t *, size_t} pair, then the set it points to."""
    raw = mem.read_bytes(tid, addr, 16)
    pointer = int.from_bytes(raw[:8], "little") if len(raw) == 16 else 0
    return (raw, mem.read_bytes(tid, pointer, _SIGSET_BYTES) if pointer else b"")


def _render_pselect_sigmask(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw, mask = data
    if len(raw) < 16:
        return "", {}
    pointer, size = struct.unpack("<QQ", raw)
    shown = F.sigset(int.from_bytes(mask, "little")) if len(mask) == _SIGSET_BYTES else F.pointer(pointer)
    return f"{{sigmask={shown}, sigsetsize={size}}}", {}


def _fetch_select_result(timeout: struct.Struct) -> Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]:
    """The three sets as the call left them, and what is left of its timeout."""
    def fetch(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
        size = _fd_set_bytes(args)
        sets = tuple(mem.read_bytes(tid, args[i], size) if args[i] and ret > 0 else b"" for i in (1, 2, 3))
        return (*sets, mem.read_bytes(tid, args[4], timeout.size) if args[4] else b"")
    return fetch


def _render_select_result(nanoseconds: bool) -> Callable[[Fetched, tuple[int, ...], int], str]:
    """strace's `1 (in [3], left {tv_sec=0, tv_usec=999000})`, `0 (Timeout)`."""
    def render(data: Fetched, args: tuple[int, ...], ret: int) -> str:
        if ret == 0:
            return "0 (Timeout)"
        nfds = F.to_int32(args[0])
        parts = [f"{name} [{' '.join(map(str, _fds_in(raw, nfds)))}]"
                 for name, raw in zip(("in", "out", "except"), data[:3]) if _fds_in(raw, nfds)]
        left = data[3]
        if len(left) == 16:
            sec, fraction = _TIMEVAL.unpack_from(left)
            parts.append(f"left {{tv_sec={sec}, {'tv_nsec' if nanoseconds else 'tv_usec'}={fraction}}}")
        return f"{ret} ({', '.join(parts)})" if parts else str(ret)
    return render



# -- rusage (getrusage, wait4) and sysinfo -----------------------------------------------------
_RUSAGE_TIMES = struct.Struct("<qqqq")  # ru_utime, ru_stime (timevals); fourteen longs follow
_RUSAGE_SIZE = _RUSAGE_TIMES.size + 14 * 8


def _render_rusage(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    """strace's abbreviated rusage: the two times, then `...` (its -v prints the counters)."""
    if len(data[0]) < _RUSAGE_SIZE:
        return "", {}
    usec, uusec, ssec, susec = _RUSAGE_TIMES.unpack_from(data[0])
    return (f"{{ru_utime={{tv_sec={usec}, tv_usec={uusec}}}, ru_stime={{tv_sec={ssec}, tv_usec={susec}}}, ...}}",
            {})


#: uptime, loads[3], totalram, freeram, sharedram, bufferram, totalswap, freeswap, procs,
#: (padding), totalhigh, freehigh, mem_unit
_SYSINFO = struct.Struct("<q3Q6QH6xQQI4x")
_SYSINFO_FIELDS = ("totalram", "freeram", "sharedram", "bufferram", "totalswap", "freeswap")


def _render_sysinfo(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    if len(data[0]) < _SYSINFO.size:
        return "", {}
    uptime, *rest = _SYSINFO.unpack_from(data[0])
    loads, memory, (procs, high, free_high, unit) = rest[:3], rest[3:9], rest[9:]
    fields = ", ".join(f"{name}={value}" for name, value in zip(_SYSINFO_FIELDS, memory))
    return (f"{{uptime={uptime}, loads=[{', '.join(map(str, loads))}], {fields}, procs={procs}, "
            f"totalhigh={high}, freehigh={free_high}, mem_unit={unit}}}"), {}


# -- epoll_wait's ready events ----------------------------------------------------------------
def _fetch_epoll_events(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int,
                        limit: int = 0) -> Fetched:
    """The `ret` events the call filled in (at most strace's array limit)."""
    count = min(max(ret, 0), _POLL_MAX)
    return (mem.read_bytes(tid, addr, count * _EPOLL_EVENT.size) if count else b"",)


def _render_epoll_events(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    raw = data[0]
    if len(raw) < min(max(ret, 0), _POLL_MAX) * _EPOLL_EVENT.size:
        return "", {}
    events = [_render_epoll_event((raw[i:i + _EPOLL_EVENT.size],), args, ret)[0]
              for i in range(0, len(raw), _EPOLL_EVENT.size)]
    return "[" + ", ".join(events) + (", ..." if ret > _POLL_MAX else "") + "]", {}



# -- getdents / getdents64: strace counts the records the call filled in -----------------------
_DIRENT_RECLEN = struct.Struct("<H")  # d_reclen, at offset 16 in both layouts
_DIRENT_MAX = 1 << 20


def _fetch_dirents(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    return (mem.read_bytes(tid, addr, min(max(ret, 0), _DIRENT_MAX)) if ret > 0 else b"",)


def _render_dirents(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    """`0x5593cb0f62a0 /* 140 entries */`, the records walked by their d_reclen."""
    raw, count, offset = data[0], 0, 0
    if len(raw) < min(max(ret, 0), _DIRENT_MAX):
        return "", {}
    while offset + 18 <= len(raw):
        (length,) = _DIRENT_RECLEN.unpack_from(raw, offset + 16)
        if length == 0:
            break
        count, offset = count + 1, offset + length
    return f"{F.pointer(args[1])} /* {count} entries */", {}



# -- arch_prctl's ARCH_GET_FS / ARCH_GET_GS: the base the kernel writes back -------------------
_ARCH_GETS = frozenset({0x1003, 0x1004})


def _fetch_arch_base(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    return (mem.read_bytes(tid, addr, 8) if F.to_int32(args[0]) in _ARCH_GETS else b"",)


def _render_arch_base(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    """`[0x7fb445774740]` (the other codes pass a value: strace shows it as is)."""
    return (f"[{int.from_bytes(data[0], 'little'):#x}]", {}) if len(data[0]) == 8 else ("", {})



# -- getcwd, sched_getaffinity, getgroups/setgroups: what `ret` (or the count) says is there ----
def _fetch_ret_bytes(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    return (mem.read_bytes(tid, addr, min(max(ret, 0), 4096)),)


def _render_cwd(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    """getcwd's path (its result counts the NUL), in full as every path."""
    return (F.quote(data[0].rstrip(b"\0")), {}) if len(data[0]) == ret > 0 else ("", {})


def _render_cpus(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    """sched_getaffinity's mask as the CPUs in it: `[0 1]`."""
    mask = int.from_bytes(data[0], "little")
    return ("[" + " ".join(str(cpu) for cpu in range(len(data[0]) * 8) if mask >> cpu & 1) + "]", {})


_GID_MAX = 4096


def _fetch_gids(count_from_ret: bool) -> Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]:
    def fetch(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
        count = ret if count_from_ret else F.to_int32(args[0])
        return (mem.read_bytes(tid, addr, 4 * min(max(count, 0), _GID_MAX)) if count > 0 else b"",)
    return fetch


def _render_gids(data: Fetched, args: tuple[int, ...], ret: int) -> tuple[str, dict[str, Any]]:
    """`[0, 4, 24]` (getgroups: the ones the call wrote; setgroups: the ones it was given)."""
    raw = data[0]
    return "[" + ", ".join(str(int.from_bytes(raw[i:i + 4], "little")) for i in range(0, len(raw) - 3, 4)) + "]", {}


_FD_SET_IN = StructKind(_fetch_fd_set, _render_fd_set, False)

_STAT_KIND = StructKind(_fixed(_STAT.size), _render_stat, True)
_TIMESPEC_IN = StructKind(_fixed(_TIMESPEC.size), _render_timespec, False)
_RLIMIT_IN = StructKind(_fixed(_RLIMIT.size), _render_rlimit, False)
_RLIMIT_OUT = StructKind(_fixed(_RLIMIT.size), _render_rlimit, True)
_SIGACTION_IN = StructKind(_fixed(_SIGACTION.size), _render_sigaction, False)
_SIGACTION_OUT = StructKind(_fixed(_SIGACTION.size), _render_sigaction, True)
_LENGTH_OUT = StructKind(_fixed(4), _render_int, True, on_error=True)  # a failed call left the length given
_RUSAGE_OUT = StructKind(_fixed(_RUSAGE_SIZE), _render_rusage, True)
_EPOLL_EVENTS_OUT = StructKind(_fetch_epoll_events, _render_epoll_events, True)
_DIRENTS_OUT = StructKind(_fetch_dirents, _render_dirents, True)

#: (syscall, argument name) → how to read and render it
STRUCTS: dict[tuple[str, str], StructKind] = {
    ("newfstatat", "statbuf"): _STAT_KIND, ("fstat", "statbuf"): _STAT_KIND, ("stat", "statbuf"): _STAT_KIND,
    ("lstat", "statbuf"): _STAT_KIND, ("statx", "statxbuf"): StructKind(_fixed(48), _render_statx, True),
    ("nanosleep", "rqtp"): _TIMESPEC_IN, ("clock_nanosleep", "rqtp"): _TIMESPEC_IN,
    ("connect", "addr"): StructKind(_fetch_sockaddr_in(2), _render_sockaddr(False, False), False),
    ("bind", "addr"): StructKind(_fetch_sockaddr_in(2), _render_sockaddr(True, False), False),
    ("sendto", "dest_addr"): StructKind(_fetch_sockaddr_in(5), _render_sockaddr(False, False), False),
    ("accept", "addr"): StructKind(_fetch_sockaddr_out(2), _render_sockaddr(False, True), True),
    ("accept4", "addr"): StructKind(_fetch_sockaddr_out(2), _render_sockaddr(False, True), True),
    ("getpeername", "addr"): StructKind(_fetch_sockaddr_out(2), _render_sockaddr(False, True), True),
    ("getsockname", "addr"): StructKind(_fetch_sockaddr_out(2), _render_sockaddr(True, True), True),
    ("recvfrom", "src_addr"): StructKind(_fetch_sockaddr_out(5), _render_sockaddr(False, True), True),
    ("accept", "addrlen"): _LENGTH_OUT, ("accept4", "addrlen"): _LENGTH_OUT,
    ("getpeername", "addrlen"): _LENGTH_OUT, ("getsockname", "addrlen"): _LENGTH_OUT,
    ("recvfrom", "addrlen"): _LENGTH_OUT,
    ("uname", "buf"): StructKind(_fixed(6 * _UTS_FIELD), _render_utsname, True),
    ("rt_sigaction", "act"): _SIGACTION_IN, ("rt_sigaction", "oldact"): _SIGACTION_OUT,
    ("prlimit64", "new_rlim"): _RLIMIT_IN, ("prlimit64", "old_rlim"): _RLIMIT_OUT,
    ("setrlimit", "rlim"): _RLIMIT_IN, ("getrlimit", "rlim"): _RLIMIT_OUT,
    ("poll", "ufds"): StructKind(_fetch_pollfds, _render_pollfds, False),
    ("epoll_ctl", "event"): StructKind(_fetch_epoll_event, _render_epoll_event, False),
    ("setsockopt", "optval"): StructKind(_fetch_optval, _render_int, False),
    ("rt_sigprocmask", "set"): StructKind(_fixed(_SIGSET_BYTES), _render_sigset, False),
    ("rt_sigprocmask", "oset"): StructKind(_fixed(_SIGSET_BYTES), _render_sigset, True),
    # read at the exit (what a TCGETS fills in); a set request's struct is the same bytes then
    ("ioctl", "arg"): StructKind(_fetch_ioctl_arg, _render_ioctl_arg, True),
    ("clone3", "uargs"): StructKind(_fetch_clone_args, _render_clone_args, True),
    ("sendmsg", "msg"): StructKind(_fetch_msghdr(False), _render_msghdr(False), False),
    ("recvmsg", "msg"): StructKind(_fetch_msghdr(True), _render_msghdr(True), True, on_error=True),
    ("select", "readfds"): _FD_SET_IN, ("select", "writefds"): _FD_SET_IN, ("select", "errorfds"): _FD_SET_IN,
    ("select", "timeout"): StructKind(_fixed(_TIMEVAL.size), _render_timeval, False),
    ("pselect6", "readfds"): _FD_SET_IN, ("pselect6", "writefds"): _FD_SET_IN, ("pselect6", "exceptfds"): _FD_SET_IN,
    ("pselect6", "timeout"): _TIMESPEC_IN,
    ("pselect6", "sigmask"): StructKind(_fetch_pselect_sigmask, _render_pselect_sigmask, False),
    ("writev", "vec"): _IOVEC_IN, ("pwritev", "vec"): _IOVEC_IN, ("pwritev2", "vec"): _IOVEC_IN,
    ("readv", "vec"): _IOVEC_OUT, ("preadv", "vec"): _IOVEC_OUT, ("preadv2", "vec"): _IOVEC_OUT,
    ("getrusage", "ru"): _RUSAGE_OUT, ("wait4", "ru"): _RUSAGE_OUT,
    ("sysinfo", "info"): StructKind(_fixed(_SYSINFO.size), _render_sysinfo, True),
    ("epoll_wait", "events"): _EPOLL_EVENTS_OUT, ("epoll_pwait", "events"): _EPOLL_EVENTS_OUT,
    ("epoll_pwait2", "events"): _EPOLL_EVENTS_OUT,
    ("getdents64", "dirent"): _DIRENTS_OUT, ("getdents", "dirent"): _DIRENTS_OUT,
    ("arch_prctl", "addr"): StructKind(_fetch_arch_base, _render_arch_base, True),
    ("getcwd", "pathname"): StructKind(_fetch_ret_bytes, _render_cwd, True),
    ("sched_getaffinity", "user_mask_ptr"): StructKind(_fetch_ret_bytes, _render_cpus, True),
    ("getgroups", "grouplist"): StructKind(_fetch_gids(True), _render_gids, True),
    ("setgroups", "grouplist"): StructKind(_fetch_gids(False), _render_gids, False),
}

@dataclass(frozen=True, slots=True)
class ResultKind:
    """A result rendered from memory at the exit (poll's ready fds, select's sets): `fetch` is
    given the call's arguments (its `addr` is unused), `render` the bytes and the result."""

    fetch: Callable[[TraceeMemory, int, int, tuple[int, ...], int, int], Fetched]
    render: Callable[[Fetched, tuple[int, ...], int], str]


def _fetch_poll_result(mem: TraceeMemory, tid: int, addr: int, args: tuple[int, ...], ret: int, limit: int = 0) -> Fetched:
    return _fetch_pollfds(mem, tid, args[0], args, ret) if args[0] else (b"",)


#: calls whose result is rendered from memory at exit: name → how
RESULT_STRUCTS: dict[str, ResultKind] = {
    "poll": ResultKind(_fetch_poll_result, lambda data, args, ret: poll_result(data, ret)),
    "select": ResultKind(_fetch_select_result(_TIMEVAL), _render_select_result(False)),
    "pselect6": ResultKind(_fetch_select_result(_TIMESPEC), _render_select_result(True)),
}
