"""Free loopback ports held for listeners that start later (no protobuf or gRPC imported here).

A run must put the receiver's endpoint in the program's environment before it forks the
program, but may create its listeners only after its last fork (its sink children must not
inherit a listening socket, and gRPC must not cross a fork).  A placeholder is a bound, not
listening, SO_REUSEPORT socket: it keeps the port taken, the listener binds the same port with
SO_REUSEPORT beside it (only a listening socket is offered connections), and then the
placeholder is closed.
"""

from __future__ import annotations

import socket


def reserve_port(host: str = "127.0.0.1") -> socket.socket:
    """A placeholder socket holding a free port on `host` (its port: `getsockname()[1]`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    placeholder = socket.socket(family, socket.SOCK_STREAM)
    try:
        placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        placeholder.bind((host, 0))
    except OSError:
        placeholder.close()
        raise
    return placeholder


def url_host(host: str) -> str:
    """`host` as it goes in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host
