"""HTTP/1.x request heads in socket data: method, path, host and the `traceparent` they announce.

When a traced program sends an HTTP request carrying W3C trace context, the call span that wrote
it gets an OTLP link to the announced span (the client's), and the span that read it on the
server side gets the same link: the two programs' traces are joined even when neither is ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from renacer_tui.tracer.context import parse_traceparent

#: Request methods (RFC 9110 and WebDAV's common ones) followed by the space that ends them.
_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"PATCH ", b"CONNECT ",
            b"TRACE ", b"PROPFIND ")
PEEK_BYTES = 8  # enough for the longest method and its space
HEAD_LIMIT = 8 * 1024  # how much of a request is read to find its headers


@dataclass(frozen=True)
class HttpRequest:
    """The facts of one request head; trace fields are set only for a valid traceparent."""

    method: str
    path: str
    host: str | None = None
    port: int | None = None
    trace_id: str | None = None
    span_id: str | None = None
    trace_state: str | None = None


def looks_like_request(prefix: bytes) -> bool:
    """Whether the first bytes of a socket write or read start an HTTP request line."""
    return prefix.startswith(_METHODS) or any(m.startswith(prefix[: len(m)]) for m in _METHODS if len(prefix) < len(m))


def _host(value: str) -> tuple[str | None, int | None]:
    value = value.strip()
    if value.startswith("["):  # [v6]:port
        host, _sep, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _sep, port_text = value.partition(":")
    port = int(port_text) if port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536 else None
    return (host or None), port


def parse_request_head(data: bytes) -> HttpRequest | None:
    """The request whose head `data` starts with (HTTP/1.0 or 1.1), or None."""
    if not data.startswith(_METHODS):
        return None
    head = data.split(b"\r\n\r\n", 1)[0]
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    method, target = parts[0], parts[1]
    path = target.split("?", 1)[0].split("#", 1)[0] or "/"
    if "://" in path:  # absolute form (to a proxy): the path is what follows the authority
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name and name == name.strip():
            headers.setdefault(name.lower(), value.strip())
    host, port = _host(headers["host"]) if "host" in headers else (None, None)
    context = parse_traceparent(headers["traceparent"]) if "traceparent" in headers else None
    if context is None:
        return HttpRequest(method, path, host, port)
    trace_id, span_id, _flags = context
    return HttpRequest(method, path, host, port, trace_id, span_id, headers.get("tracestate") or None)
