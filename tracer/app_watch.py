"""What a traced program says about itself in its own bytes: decision lines and HTTP trace context.

Called by the span builder at the exit of a successful data call (the bytes are still in the
stopped task's memory).  It reads more than `-s` shows: up to 8 KiB of a write to fd 2 when
decision traces are on, and up to 8 KiB of socket data, but only after the first bytes looked
like an HTTP request line, so ordinary socket traffic costs one 8-byte read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from renacer_tui.model.attributes import (
    ATTR_HTTP_REQUEST_METHOD,
    ATTR_HTTP_ROLE,
    ATTR_LINK_TYPE,
    ATTR_SERVER_ADDRESS,
    ATTR_SERVER_PORT,
    ATTR_URL_PATH,
)
from renacer_tui.model.kinds import LinkKind
from renacer_tui.tracer.events import TraceeMemory
from renacer_tui.tracer.payload_read import call_payloads

if TYPE_CHECKING:
    from renacer_tui.tracer.decisions import DecisionRecorder
    from renacer_tui.tracer.processes import Thread
    from renacer_tui.tracer.rows import Row

_STDERR = 2
_STDERR_WRITES = frozenset({"write", "writev"})
_SOCKET_SENDS = frozenset({"write", "writev", "send", "sendto", "sendmsg"})
_SOCKET_RECEIVES = frozenset({"read", "readv", "recv", "recvfrom", "recvmsg"})
_LINE_LIMIT = 8 * 1024


class AppWatch:
    """Decision lines on stderr (when a recorder is given) and HTTP requests on sockets."""

    def __init__(self, decisions: DecisionRecorder | None) -> None:
        self.decisions = decisions
        self.calls = watched_calls(decisions is not None)  # the names `call` wants to see
        self.http_requests = 0

    def call(self, name: str, args: tuple, fd: int | None, obj: str | None, ret: int, th: Thread, row: Row,
             t_ns: int, mem: TraceeMemory) -> None:
        """Look at the `ret` bytes a successful call `name` moved (`obj`: its fd's object)."""
        seen = watched_bytes(name, args, fd, obj, ret, th.tid, mem, self.decisions is not None)
        if seen is None:
            return
        what, data = seen
        if what == _DECISION:
            assert self.decisions is not None
            proc_row = th.proc.row
            if proc_row.events is None:
                proc_row.events = []
            self.decisions.feed(th.proc.tgid, data, t_ns, proc_row.events)
        else:
            self._request(data, "client" if name in _SOCKET_SENDS else "server", row)

    def _request(self, data: bytes, role: str, row: Row) -> None:
        from renacer_tui.tracer.http_context import parse_request_head

        request = parse_request_head(data)
        if request is None:
            return
        self.http_requests += 1
        row.attrs[ATTR_HTTP_REQUEST_METHOD] = request.method
        row.attrs[ATTR_URL_PATH] = request.path
        row.attrs[ATTR_HTTP_ROLE] = role
        if request.host is not None:
            row.attrs[ATTR_SERVER_ADDRESS] = request.host
        if request.port is not None:
            row.attrs[ATTR_SERVER_PORT] = request.port
        if request.trace_id is not None and request.span_id is not None:
            if row.otel_links is None:
                row.otel_links = []
            row.otel_links.append(
                (request.trace_id, request.span_id, request.trace_state,
                 {ATTR_LINK_TYPE: LinkKind.HTTP.value, ATTR_HTTP_ROLE: role})
            )
            row.linked = True  # RLE must not fold the span that carries the link


_DECISION, _HTTP = "decision", "http"


def watched_calls(decisions: bool) -> frozenset[str]:
    """The calls whose successful exits `watched_bytes` reads from."""
    return _SOCKET_SENDS | _SOCKET_RECEIVES | (_STDERR_WRITES if decisions else frozenset())


def watched_bytes(name: str, args: tuple, fd: int | None, obj: str | None, ret: int, tid: int, mem: TraceeMemory,
                  decisions: bool) -> tuple[str, bytes] | None:
    """The bytes `AppWatch.call` looks at, read from the stopped task: ("decision", stderr
    line bytes), ("http", a request head), or None.  The capture process calls it too, to ship
    exactly these reads to the decoder process."""
    if fd == _STDERR and decisions and name in _STDERR_WRITES:
        moved = call_payloads(name, args, min(ret, _LINE_LIMIT), tid, mem)
        return (_DECISION, moved[0][2]) if moved and moved[0][2] else None
    if obj is None or not obj.startswith("socket:"):
        return None
    from renacer_tui.tracer.http_context import HEAD_LIMIT, PEEK_BYTES, looks_like_request

    peek = call_payloads(name, args, min(ret, PEEK_BYTES), tid, mem)
    if not peek or not peek[0][2] or not looks_like_request(peek[0][2]):
        return None
    moved = call_payloads(name, args, min(ret, HEAD_LIMIT), tid, mem)
    return (_HTTP, moved[0][2]) if moved and moved[0][2] else None
