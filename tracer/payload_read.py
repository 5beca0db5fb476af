"""Which bytes a data syscall moved, read from the stopped tracee at the call's return.

This is the only payload work done on the stop loop: the memory must be read while the task is
stopped (it may reuse the buffer as soon as it runs), so `call_payloads` copies the bytes out
with `process_vm_readv` and hands them on; hashing happens in `tracer.payload_hash`'s thread.
Calls that move bytes inside the kernel (sendfile, copy_file_range, splice) have nothing to
read: they are reported with `None` data and their byte count, so a stream knows how much of
it could not be hashed.
"""

from __future__ import annotations

from collections.abc import Container

from renacer_tui.tracer.events import TraceeMemory

READ = "read"
WRITE = "write"

#: name → (direction, buffer argument index): one flat buffer of `ret` bytes.
_FLAT = {
    "read": (READ, 1), "pread64": (READ, 1), "recvfrom": (READ, 1), "recv": (READ, 1),
    "write": (WRITE, 1), "pwrite64": (WRITE, 1), "sendto": (WRITE, 1), "send": (WRITE, 1),
}
#: name → (direction, iovec argument index, count argument index).
_VECTORED = {
    "readv": (READ, 1, 2), "preadv": (READ, 1, 2), "preadv2": (READ, 1, 2),
    "writev": (WRITE, 1, 2), "pwritev": (WRITE, 1, 2), "pwritev2": (WRITE, 1, 2),
    "vmsplice": (WRITE, 1, 2),
}
#: name → direction, for calls whose second argument is a `struct msghdr *`.
_MESSAGE = {"recvmsg": READ, "sendmsg": WRITE}
#: name → (source fd index, destination fd index): bytes copied in the kernel, never visible.
_IN_KERNEL = {"sendfile": (1, 0), "copy_file_range": (0, 2), "splice": (0, 2)}

#: Every call `call_payloads` knows.
DATA_CALLS = frozenset(_FLAT) | frozenset(_VECTORED) | frozenset(_MESSAGE) | frozenset(_IN_KERNEL)

_MAX_IOV = 1024  # IOV_MAX
_MSG_IOV_OFFSET = 16  # struct msghdr: msg_name, msg_namelen (+pad), msg_iov, msg_iovlen


def _read_iovec(mem: TraceeMemory, tid: int, iov: int, count: int, nbytes: int) -> bytes:
    """The first `nbytes` bytes described by `count` iovecs at `iov`."""
    return b"".join(_read_iovec_parts(mem, tid, iov, count, nbytes))


def _read_iovec_parts(mem: TraceeMemory, tid: int, iov: int, count: int, nbytes: int) -> list[bytes]:
    """The first `nbytes` bytes described by `count` iovecs at `iov`, one string per buffer."""
    count = max(0, min(count, _MAX_IOV))
    table = mem.read_bytes(tid, iov, 16 * count) if count and iov else b""
    parts: list[bytes] = []
    left = nbytes
    for i in range(0, len(table) - 15, 16):
        if left <= 0:
            break
        base = int.from_bytes(table[i : i + 8], "little")
        length = min(int.from_bytes(table[i + 8 : i + 16], "little"), left)
        if length <= 0:
            continue
        data = mem.read_bytes(tid, base, length)
        parts.append(data)
        left -= length
        if len(data) < length:
            break
    return parts


def call_payloads(
    name: str, args: tuple[int, ...], ret: int, tid: int, mem: TraceeMemory
) -> list[tuple[int, str, bytes | None, int]]:
    """[(fd, direction, data or None, byte count)] for a successful data call that moved `ret` bytes.

    Data is None when the kernel moved the bytes itself; it can be shorter than the count when
    part of the buffer was unreadable (the count is what the call reported).
    """
    flat = _FLAT.get(name)
    if flat is not None:
        direction, index = flat
        return [(_fd(args[0]), direction, mem.read_bytes(tid, args[index], ret), ret)]
    vectored = _VECTORED.get(name)
    if vectored is not None:
        direction, index, count = vectored
        return [(_fd(args[0]), direction, _read_iovec(mem, tid, args[index], args[count], ret), ret)]
    message = _MESSAGE.get(name)
    if message is not None:
        header = mem.read_bytes(tid, args[1], _MSG_IOV_OFFSET + 16) if args[1] else b""
        data = b""
        if len(header) == _MSG_IOV_OFFSET + 16:
            iov = int.from_bytes(header[_MSG_IOV_OFFSET : _MSG_IOV_OFFSET + 8], "little")
            count = int.from_bytes(header[_MSG_IOV_OFFSET + 8 :], "little")
            data = _read_iovec(mem, tid, iov, count, ret)
        return [(_fd(args[0]), message, data, ret)]
    in_kernel = _IN_KERNEL.get(name)
    if in_kernel is not None:
        source, target = in_kernel
        return [(_fd(args[source]), READ, None, ret), (_fd(args[target]), WRITE, None, ret)]
    return []


def dumped_buffers(name: str, args: tuple[int, ...], ret: int, tid: int, mem: TraceeMemory,
                   reads: Container[int] | None, writes: Container[int] | None) -> list[bytes] | None:
    """The bytes of each buffer a successful data call moved, when strace's -e read=FDS /
    -e write=FDS asks for its fd (None: not asked, or no bytes a tracer can see).  The capture
    and the decoder both call this, so both make the same reads."""
    fd = _fd(args[0])
    flat = _FLAT.get(name)
    if flat is not None:
        direction, index = flat
        return [mem.read_bytes(tid, args[index], ret)] if _chosen(direction, fd, reads, writes) else None
    vectored = _VECTORED.get(name)
    if vectored is not None:
        direction, index, count = vectored
        if not _chosen(direction, fd, reads, writes):
            return None
        return _read_iovec_parts(mem, tid, args[index], args[count], ret)
    message = _MESSAGE.get(name)
    if message is None or not _chosen(message, fd, reads, writes):
        return None
    header = mem.read_bytes(tid, args[1], _MSG_IOV_OFFSET + 16) if args[1] else b""
    if len(header) < _MSG_IOV_OFFSET + 16:
        return None
    iov = int.from_bytes(header[_MSG_IOV_OFFSET : _MSG_IOV_OFFSET + 8], "little")
    count = int.from_bytes(header[_MSG_IOV_OFFSET + 8 :], "little")
    return _read_iovec_parts(mem, tid, iov, count, ret)


#: calls whose dump is split by buffer (` * 2 bytes in buffer 0`), as strace's
VECTORED_DUMPS = frozenset(_VECTORED) | frozenset(_MESSAGE)


def _chosen(direction: str, fd: int, reads: Container[int] | None, writes: Container[int] | None) -> bool:
    chosen = reads if direction == READ else writes
    return chosen is not None and fd in chosen


def _fd(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
