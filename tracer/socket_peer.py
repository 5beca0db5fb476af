"""The address a socket stream is known by across runs, from /proc/<pid>/net.

A socket's inode (`socket:[123]`) changes every run, so a diff needs something stable: for TCP
and UDP the service's endpoint — `tcp at 127.0.0.1:8080` on a socket whose local port is one a
socket of the same table listens on (a server's accepted connection), else `tcp to
127.0.0.1:8080`, the remote end (a client; its own port is an ephemeral one) — and for Unix
sockets their bound path.  Read once per stream, when it is first
seen, while the task is stopped.
"""

from __future__ import annotations

import ipaddress

_TABLES = ("tcp", "tcp6", "udp", "udp6")


def _address(text: str) -> tuple[str, int]:
    """`0100007F:1F90` → ("127.0.0.1", 8080); IPv6 as four little-endian words."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(raw[::-1])
    else:
        ip = ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    shown = str(ip) if ip.version == 4 else f"[{ip}]"
    return shown, int(port, 16)


_LISTEN = "0A"  # TCP_LISTEN in the `st` column


def _inet_peer(pid: int, inode: str) -> str | None:
    for table in _TABLES:
        try:
            with open(f"/proc/{pid}/net/{table}", encoding="ascii", errors="replace") as fh:
                next(fh, None)
                rows = [line.split() for line in fh]
        except OSError:
            continue
        try:
            mine = next((f for f in rows if len(f) > 9 and f[9] == inode), None)
            if mine is None:
                continue
            (lhost, lport), (rhost, rport) = _address(mine[1]), _address(mine[2])
            listening = {_address(f[1])[1] for f in rows if len(f) > 9 and f[3] == _LISTEN}
        except ValueError:
            return None
        proto = table.rstrip("6")
        if rport and lport not in listening:
            return f"{proto} to {rhost}:{rport}"
        return f"{proto} at {lhost}:{lport}"
    return None


def _unix_peer(pid: int, inode: str) -> str | None:
    try:
        with open(f"/proc/{pid}/net/unix", encoding="utf-8", errors="surrogateescape") as fh:
            next(fh, None)
            for line in fh:
                fields = line.split(None, 7)
                if len(fields) == 8 and fields[6] == inode:
                    return f"unix {fields[7].rstrip()}"
    except OSError:
        return None
    return None


def socket_peer(pid: int, obj: str) -> str | None:
    """The stable name of `socket:[inode]` in process `pid`, None when there is none."""
    if not (obj.startswith("socket:[") and obj.endswith("]")):
        return None
    inode = obj[len("socket:[") : -1]
    return _inet_peer(pid, inode) or _unix_peer(pid, inode)
