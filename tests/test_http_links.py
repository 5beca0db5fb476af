"""HTTP trace links: an http.client request with a traceparent against a local http.server, traced."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cli_run import assert_no_traceback, renacer, trace_id_of
from test_cli_run import query_json as query

from renacer_tui.model.attributes import parse_attributes
from renacer_tui.tracer.http_context import looks_like_request, parse_request_head

pytestmark = pytest.mark.timeout(300)

TRACE_ID, SPAN_ID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"

CLIENT_AND_SERVER = r'''
import http.client, http.server, sys, threading

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.handle_request, daemon=True).start()
conn = http.client.HTTPConnection("localhost", server.server_address[1])
padding = "p" * 300  # the head is longer than -s shows
conn.request("POST", "/api/items?page=2", body=b"{}", headers={
    "traceparent": "00-%s-%s-01" % (sys.argv[1], sys.argv[2]), "tracestate": "vendor=1", "x-padding": padding})
assert conn.getresponse().read() == b"ok"
conn.request("GET", "/plain")  # no traceparent: attributes, but no link
conn.close()
'''


def test_a_traceparent_request_links_both_the_client_and_the_server_span(db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "client_server.py"
    script.write_text(CLIENT_AND_SERVER)
    result = renacer("--no-tui", "-o", str(tmp_path / "out.txt"), "--", sys.executable, str(script), TRACE_ID, SPAN_ID)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_no_traceback(result)
    trace_id = trace_id_of(result)
    rows = query(
        "SELECT span_name, attributes, links FROM spans_raw WHERE trace_id = '" + trace_id + "' AND links IS NOT NULL"
    )
    roles: dict[str, dict] = {}
    for row in rows:
        attrs = parse_attributes(row["attributes"])
        assert attrs["http.request.method"] == "POST" and attrs["url.path"] == "/api/items"
        assert attrs["server.address"] == "localhost" and isinstance(attrs["server.port"], int)
        [link] = row["links"]
        assert (link["trace_id"], link["span_id"], link["trace_state"]) == (TRACE_ID, SPAN_ID, "vendor=1")
        link_attrs = parse_attributes(link["attributes"])
        assert link_attrs["renacer.link.type"] == "http"
        roles[attrs["renacer.http.role"]] = row
    assert set(roles) == {"client", "server"}
    assert roles["client"]["span_name"] in {"syscall:sendto", "syscall:send", "syscall:write", "syscall:sendmsg"}
    assert roles["server"]["span_name"] in {"syscall:recvfrom", "syscall:recv", "syscall:read", "syscall:recvmsg"}
    plain = query(
        "SELECT count(*) AS n FROM spans WHERE trace_id = '" + trace_id + "' AND "
        "json_extract_string(attributes, '$.\"url.path\"') = '/plain' AND links IS NULL"
    )
    assert plain[0]["n"] >= 1


def test_request_heads_parse() -> None:
    head = (b"GET /a/b?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\ntraceparent: 00-" + TRACE_ID.encode() + b"-"
            + SPAN_ID.encode() + b"-01\r\n\r\nbody")
    request = parse_request_head(head)
    assert request is not None
    assert (request.method, request.path, request.host, request.port) == ("GET", "/a/b", "::1", 8080)
    assert (request.trace_id, request.span_id) == (TRACE_ID, SPAN_ID)
    bad = parse_request_head(b"GET / HTTP/1.1\r\ntraceparent: 00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01\r\n\r\n")
    assert bad is not None and bad.trace_id is None  # all-zero ids are invalid
    assert parse_request_head(b"HTTP/1.1 200 OK\r\n\r\n") is None
    assert looks_like_request(b"POST /x ") and not looks_like_request(b"\x16\x03\x01\x02\x00\x01\x00\x01")


@given(st.binary(max_size=300))
def test_arbitrary_socket_bytes_never_break_the_parser(data: bytes) -> None:
    looks_like_request(data[:8])
    request = parse_request_head(data)
    assert request is None or data.startswith(request.method.encode())
