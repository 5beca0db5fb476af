"""What strace -yy shows of an fd: a socket's protocol and endpoints, a device's numbers.

`-y` shows what /proc says an fd is (`socket:[849173]`, `/dev/null`); `-yy` says more, the way
strace 6.1 does: `TCP:[127.0.0.1:48573->127.0.0.1:35348]`, `UDPv6:[[::1]:46128]`,
`UNIX-STREAM:[849167->849168]`, `UNIX:[849191,"/tmp/yy.sock"]`, `/dev/null<char 1:3>`.  A
socket's endpoints change as the program binds and connects, so they are read at every call,
while the task is stopped: the protocol from the socket's `system.sockprotoname` attribute (the
kernel's name for it), the endpoints from the kernel's sock_diag netlink interface, as strace
reads them (/proc/net/tcp lists no socket that is only bound, /proc/net/unix no peer).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import struct

from renacer_tui.tracer.formats import escape_text

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_UDIAG_SHOW_NAME, _UDIAG_SHOW_PEER = 1, 4
_UNIX_DIAG_NAME, _UNIX_DIAG_PEER = 0, 2
_NLMSGHDR = struct.Struct("=IHHII")
_UNIX_DIAG_REQ = struct.Struct("=BBHIIIII")  # family, protocol, pad, states, ino, show, cookie[2]
_UNIX_DIAG_MSG = struct.Struct("=BBBBIII")  # family, type, state, pad, ino, cookie[2]
_RTATTR = struct.Struct("=HH")
_NO_COOKIE = 0xFFFFFFFF
_INET_DIAG_REQ = struct.Struct("=BBBBI48x")  # family, protocol, ext, pad, states, a zero inet_diag_sockid
#: inet_diag_msg: family, state, timer, retrans, sport, dport (big-endian), src, dst, if, cookie,
#: expires, rqueue, wqueue, uid, inode
_INET_DIAG_MSG = struct.Struct("=BBBB2s2s16s16s4x8x4x4x4x4xI")
_INET = {"TCP": (socket.AF_INET, socket.IPPROTO_TCP), "TCPv6": (socket.AF_INET6, socket.IPPROTO_TCP),
         "UDP": (socket.AF_INET, socket.IPPROTO_UDP), "UDPv6": (socket.AF_INET6, socket.IPPROTO_UDP)}


def fd_details(tid: int, fd: int) -> str | None:
    """strace -yy's text for `fd` of task `tid` now (None: the fd is gone), printable: the
    paths in it are escaped as every path the tracer shows."""
    link = f"/proc/{tid}/fd/{fd}"
    try:
        target = os.readlink(link)
    except OSError:
        return None
    if target.startswith("socket:["):
        return _socket(tid, link, int(target[8:-1]))
    shown = escape_text(target)
    try:
        info = os.stat(link)
    except OSError:
        return shown
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        kind = "char" if stat.S_ISCHR(info.st_mode) else "block"
        return f"{shown}<{kind} {os.major(info.st_rdev)}:{os.minor(info.st_rdev)}>"
    return shown


def _socket(tid: int, link: str, inode: int) -> str:
    try:
        protocol = os.getxattr(link, "system.sockprotoname").rstrip(b"\0").decode("ascii", "replace")
    except OSError:
        return f"socket:[{inode}]"
    if protocol.startswith("UNIX"):
        return f"{protocol}:[{_unix(inode) or inode}]"
    endpoints = _inet(protocol, inode) if protocol in _INET else None
    return f"{protocol}:[{endpoints or inode}]"


def _diag(request: bytes, flags: int) -> list[bytes]:
    """The payloads of sock_diag's answers to one request (a dump's, until its end)."""
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | flags, 1, 0)
    answers: list[bytes] = []
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG) as diag:
            diag.settimeout(1.0)
            diag.send(header + request)
            while True:
                reply, offset = diag.recv(1 << 16), 0
                while offset + _NLMSGHDR.size <= len(reply):
                    length, kind = _NLMSGHDR.unpack_from(reply, offset)[:2]
                    if kind in (_NLMSG_DONE, _NLMSG_ERROR) or length < _NLMSGHDR.size:
                        return answers
                    answers.append(reply[offset + _NLMSGHDR.size : offset + length])
                    offset += (length + 3) & ~3
                if not flags & _NLM_F_DUMP:
                    return answers
    except OSError:
        return answers


def _endpoint(family: int, raw: bytes, port: bytes) -> str:
    address = ipaddress.ip_address(raw[:4] if family == socket.AF_INET else raw)
    host = str(address) if address.version == 4 else f"[{address}]"
    return f"{host}:{int.from_bytes(port, 'big')}"


def _inet(protocol: str, inode: int) -> str | None:
    """`127.0.0.1:48573->127.0.0.1:35348` when connected, `[::1]:46128` when bound, None when
    neither (sock_diag does not list a socket that is not bound)."""
    family, number = _INET[protocol]
    for answer in _diag(_INET_DIAG_REQ.pack(family, number, 0, 0, 0xFFFFFFFF), _NLM_F_DUMP):
        if len(answer) < _INET_DIAG_MSG.size:
            continue
        _f, _state, _t, _r, sport, dport, src, dst, found = _INET_DIAG_MSG.unpack_from(answer)
        if found != inode:
            continue
        local = _endpoint(family, src, sport)
        if int.from_bytes(dport, "big") or any(dst):
            return f"{local}->{_endpoint(family, dst, dport)}"
        return local
    return None


def _unix(inode: int) -> str | None:
    """`849167->849168`, `849191,"/tmp/yy.sock"` (None: neither a peer nor a path)."""
    request = _UNIX_DIAG_REQ.pack(socket.AF_UNIX, 0, 0, 0xFFFFFFFF, inode, _UDIAG_SHOW_NAME | _UDIAG_SHOW_PEER,
                                  _NO_COOKIE, _NO_COOKIE)
    answers = _diag(request, 0)
    if not answers or len(answers[0]) < _UNIX_DIAG_MSG.size:
        return None
    reply = answers[0]
    peer, path = 0, None
    offset = _UNIX_DIAG_MSG.size
    while offset + _RTATTR.size <= len(reply):
        size, attr = _RTATTR.unpack_from(reply, offset)
        if size < _RTATTR.size:
            break
        value = reply[offset + _RTATTR.size : offset + size]
        if attr == _UNIX_DIAG_PEER and len(value) >= 4:
            peer = int.from_bytes(value[:4], "little")
        elif attr == _UNIX_DIAG_NAME and value:
            path = value
        offset += (size + 3) & ~3
    if not peer and path is None:
        return None
    text = str(inode) + (f"->{peer}" if peer else "")
    if path is not None:  # an abstract name starts with NUL: strace shows it as "@name"
        shown = "@" + os.fsdecode(path[1:]) if path[:1] == b"\0" else os.fsdecode(path.rstrip(b"\0"))
        text += f',"{escape_text(shown)}"'
    return text
