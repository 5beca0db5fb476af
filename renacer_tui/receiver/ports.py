"""Free loopback ports held for listeners that start later (no protobuf or gRPC imported here).

A run must put the receiver's endpoint in the program's environment before it forks the
program, but may create its listeners only after its last fork (its sink children must not
inherit a listening socket, and gRPC must not cross a fork).  The HTTP port is a bound socket that
is made to listen then; the gRPC one is a bound, not listening, SO_REUSEPORT placeholder: grpcio
binds the same port with SO_REUSEPORT beside it (only a listening socket is offered
connections), and then the placeholder is closed.
"""

from __future__ import annotations

import socket


def reserve_port(host: str = "127.0.0.1", reuse_port: bool = True) -> socket.socket:
    """A socket bound to a free port on `host`, not listening yet (its port: `getsockname()[1]`).

    `reuse_port`: a placeholder another listener will bind beside (gRPC); without it the
    socket itself is made to listen later (`socket.listen()`), as the HTTP listener's is.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    placeholder = socket.socket(family, socket.SOCK_STREAM)
    try:
        if reuse_port:
            placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        placeholder.bind((host, 0))
    except OSError:
        placeholder.close()
        raise
    return placeholder


def listening_socket(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A TCP socket listening on `host:port` (SO_REUSEADDR, as http.server sets it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def url_host(host: str) -> str:
    """`host` as it goes in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host
