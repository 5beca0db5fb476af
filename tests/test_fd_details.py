"""-yy's view of an fd, on this process's own real sockets and devices, against what the socket
module and os.stat say of them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from renacer_tui.tracer.fd_details import fd_details


def _ino(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def test_tcp_endpoints_follow_bind_listen_and_connect() -> None:
    with socket.socket() as server, socket.socket() as client:
        me = os.getpid()
        assert fd_details(me, server.fileno()) == f"TCP:[{_ino(server)}]"  # not bound: only its inode
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert fd_details(me, server.fileno()) == f"TCP:[127.0.0.1:{port}]"
        server.listen(1)
        client.connect(("127.0.0.1", port))
        here = client.getsockname()[1]
        assert fd_details(me, client.fileno()) == f"TCP:[127.0.0.1:{here}->127.0.0.1:{port}]"
        accepted, _ = server.accept()
        with accepted:
            assert fd_details(me, accepted.fileno()) == f"TCP:[127.0.0.1:{port}->127.0.0.1:{here}]"


def test_udp6_and_unix_sockets_as_strace_names_them(tmp_path: Path) -> None:
    me = os.getpid()
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
        udp.bind(("::1", 0))
        assert fd_details(me, udp.fileno()) == f"UDPv6:[[::1]:{udp.getsockname()[1]}]"
    left, right = socket.socketpair()
    with left, right:
        assert fd_details(me, left.fileno()) == f"UNIX-STREAM:[{_ino(left)}->{_ino(right)}]"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as named:
        assert fd_details(me, named.fileno()) == f"UNIX:[{_ino(named)}]"
        path = tmp_path / 'a "quoted" name'
        named.bind(str(path))
        assert fd_details(me, named.fileno()) == f'UNIX:[{_ino(named)},"{str(path).replace(chr(34), chr(92) + chr(34))}"]'


def test_devices_carry_their_numbers_and_files_their_path(tmp_path: Path) -> None:
    me = os.getpid()
    null = os.open("/dev/null", os.O_RDONLY)
    plain = os.open(tmp_path / "f\x1bx", os.O_CREAT | os.O_WRONLY, 0o600)  # an ESC in the name
    try:
        number = os.stat("/dev/null").st_rdev
        assert fd_details(me, null) == f"/dev/null<char {os.major(number)}:{os.minor(number)}>"
        assert fd_details(me, plain) == f"{tmp_path}/f\\33x"
    finally:
        os.close(null)
        os.close(plain)
    assert fd_details(me, plain) is None  # closed: gone
