"""Which process is on the other end of a loopback TCP connection (Linux /proc).

A traced program that exports its spans to the run's receiver connects over loopback, so the
connection's socket is in /proc/net/tcp{,6} (local = the sender's address, remote = ours) with
its inode, and the sender holds `socket:[inode]` in /proc/PID/fd.  Only the pids a caller names
are searched (a run's traced processes): no scan of every process on the machine.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Iterable
from urllib.parse import unquote


def _proc_address(text: str) -> tuple[str, int]:
    """`0100007F:1F90` (the kernel's host-order words) → ("127.0.0.1", 8080)."""
    hex_ip, hex_port = text.split(":")
    raw = bytes.fromhex(hex_ip)
    host_order = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(host_order)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address), int(hex_port, 16)


def _plain(host: str) -> str:
    address = ipaddress.ip_address(host.strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def socket_inode(peer: tuple[str, int], ours: tuple[str, int]) -> int | None:
    """The inode of the sender's socket of the connection `peer` → `ours`, or None."""
    want_local = (_plain(peer[0]), int(peer[1]))
    want_remote = (_plain(ours[0]), int(ours[1]))
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            try:
                if _proc_address(fields[1]) == want_local and _proc_address(fields[2]) == want_remote:
                    return int(fields[9]) or None
            except ValueError:
                continue
    return None


def pid_holding(inode: int, pids: Iterable[int]) -> int | None:
    """The first of `pids` with an fd on `socket:[inode]` (threads share the table: pids are enough)."""
    target = f"socket:[{inode}]"
    for pid in pids:
        directory = f"/proc/{pid}/fd"
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            try:
                if os.readlink(f"{directory}/{name}") == target:
                    return pid
            except OSError:
                continue
    return None


def sender_pid(peer: tuple[str, int], ours: tuple[str, int], pids: Iterable[int]) -> int | None:
    """The pid among `pids` that sent on the loopback connection `peer` → `ours`, or None."""
    try:
        inode = socket_inode(peer, ours)
    except ValueError:
        return None
    return pid_holding(inode, pids) if inode is not None else None


def parse_grpc_peer(text: str) -> tuple[str, int] | None:
    """`ipv4:127.0.0.1:5555` / `ipv6:[::1]:5555` (grpc's `context.peer()`) → (host, port)."""
    kind, _, rest = unquote(text).partition(":")
    if kind not in ("ipv4", "ipv6") or ":" not in rest:
        return None
    host, _, port = rest.rpartition(":")
    try:
        return _plain(host), int(port)
    except ValueError:
        return None
