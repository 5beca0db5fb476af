"""Span rows (Arrow, `renacer_tui.model.schema.SPAN_SCHEMA`) → OpenTelemetry SDK spans and OTLP messages.

The OTLP exporter worker, `renacer-tui export --format otlp-json` and the tests all go through
here, so a span means the same thing on every path: the stored trace id, span id and parent
(a remote `SpanContext`) are kept, times are the stored epoch nanoseconds, attributes are the
decoded JSON (lists and objects as JSON text), `renacer.links` and the `links` column become OTLP
span links, the `events` column becomes span events, and an RLE row stays one span carrying
`renacer.rle.count`.  Every span, its parent and its links carry the run's W3C trace flags
(`renacer.trace_flags` on the run span, or the flags the converter is given for batches that do
not hold the run span yet), and `to_request` writes them into bits 0-7 of OTLP's `Span.flags` /
`Link.flags`, which the SDK's encoder leaves empty.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Mapping, Sequence

import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from renacer_tui.model import safe_json
from renacer_tui.model.attributes import (
    ATTR_HOST_NAME,
    ATTR_LINK_LOGICAL_CLOCK,
    ATTR_LINK_TYPE,
    ATTR_LINKS,
    ATTR_LOGICAL_CLOCK,
    ATTR_PARENT_LOGICAL_CLOCK,
    ATTR_PROCESS_COMMAND_LINE,
    ATTR_PROCESS_EXECUTABLE_NAME,
    ATTR_PROCESS_PID,
    ATTR_RAW,
    ATTR_RLE_COUNT,
    ATTR_SERVICE_NAME,
    ATTR_SERVICE_VERSION,
    ATTR_SOURCE_C,
    ATTR_SOURCE_PYTHON,
    ATTR_SOURCE_RUST,
    ATTR_THREAD_ID,
    ATTR_TRACE_FLAGS,
    parse_attributes,
)
from renacer_tui.model.kinds import is_run

#: Attribute carrying an RLE row's call count (the schema's `rle_count` column).
_SCOPE = InstrumentationScope("renacer-tui", "0.1.0")
_KINDS = {kind.name: kind for kind in SpanKind}
_STATUS = {"OK": StatusCode.OK, "ERROR": StatusCode.ERROR, "UNSET": StatusCode.UNSET}
_EXTRA_COLUMNS = (
    ("thread_id", ATTR_THREAD_ID),
    ("logical_clock", ATTR_LOGICAL_CLOCK),
    ("parent_logical_clock", ATTR_PARENT_LOGICAL_CLOCK),
    ("rust_source", ATTR_SOURCE_RUST),
    ("python_source", ATTR_SOURCE_PYTHON),
    ("c_source", ATTR_SOURCE_C),
)


def attribute_value(value: Any) -> Any:
    """An OpenTelemetry attribute value for a decoded JSON value (None: leave the key out)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            return str(value)  # OTLP ints are int64
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def decode_attributes(text: str | None) -> dict[str, Any]:
    """The `attributes` JSON of a row as OpenTelemetry attributes; bad JSON is kept as text."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        return {ATTR_RAW: text}
    if not isinstance(raw, dict):
        return {ATTR_RAW: text}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        converted = attribute_value(value)
        if converted is not None:
            out[str(key)] = converted
    return out


def _links(trace_id: int, raw: Any, flags: TraceFlags) -> list[Link]:
    """OTLP span links for the happens-before links recorded in `renacer.links`."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    if not isinstance(raw, list):
        return []
    links: list[Link] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        try:
            span_id = int(str(item.get("span_id", "")), 16)
        except ValueError:
            continue
        if span_id == 0:
            continue
        attrs = {ATTR_LINK_TYPE: str(item.get("type", ""))}
        if isinstance(item.get("logical_clock"), int):
            attrs[ATTR_LINK_LOGICAL_CLOCK] = item["logical_clock"]
        links.append(Link(SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags), attrs))
    return links


def _stored_links(raw: Any, flags: TraceFlags) -> list[Link]:
    """OTLP span links from the `links` column (edges to spans of this or other traces).

    The trace state rides on the SDK link; the SDK's protobuf encoder does not write it, so the
    store keeps it and OTLP export loses it.
    """
    links: list[Link] = []
    for item in raw or ():
        try:
            trace_id, span_id = int(item["trace_id"], 16), int(item["span_id"], 16)
        except (KeyError, TypeError, ValueError):
            continue
        if trace_id == 0 or span_id == 0:
            continue
        state = TraceState.from_header([item["trace_state"]]) if item.get("trace_state") else None
        context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags, trace_state=state)
        links.append(Link(context, decode_attributes(item.get("attributes"))))
    return links


def _stored_events(raw: Any) -> list[Event]:
    """SDK span events from the `events` column."""
    return [
        Event(str(item.get("name") or ""), decode_attributes(item.get("attributes")), int(item.get("time_unix_nano") or 0))
        for item in raw or ()
    ]


class SpanConverter:
    """Builds SDK spans from rows; caches one `Resource` per traced process.

    Each traced process becomes its own OTLP resource (`service.name`, `host.name`,
    `process.pid`, `process.executable.name`, `process.command_line`, plus `resource_attrs`), so
    a backend groups a run's spans by process the way it groups services.

    `trace_flags` are the W3C trace flags of spans whose run span is not in the converted rows
    (the export worker gets the run span last); a run span's `renacer.trace_flags` wins for its
    trace.
    """

    def __init__(self, service_name: str | None = "renacer", resource_attrs: Mapping[str, Any] | None = None,
                 host_name: str | None = None, trace_flags: int = TraceFlags.SAMPLED) -> None:
        self.trace_flags = TraceFlags(trace_flags & 0xFF)
        self.service_name = service_name
        self.resource_attrs = dict(resource_attrs or {})
        self.host_name = host_name or socket.gethostname()
        self._resources: dict[tuple[Any, ...], Resource] = {}

    def resource(self, pid: int, name: str, cmdline: str, service: str, version: str) -> Resource:
        key = (pid, name, cmdline, service, version)
        res = self._resources.get(key)
        if res is None:
            attrs: dict[str, Any] = {
                ATTR_SERVICE_NAME: self.service_name or service or "renacer",
                ATTR_SERVICE_VERSION: version,
                ATTR_HOST_NAME: self.host_name,
                ATTR_PROCESS_PID: pid,
                ATTR_PROCESS_EXECUTABLE_NAME: name,
                ATTR_PROCESS_COMMAND_LINE: cmdline,
                "telemetry.sdk.name": "renacer-tui",
                "telemetry.sdk.language": "python",
            }
            attrs.update(self.resource_attrs)
            res = Resource({k: v for k, v in attrs.items() if v not in (None, "")})
            self._resources[key] = res
        return res

    def convert(self, table: pa.Table | pa.RecordBatch) -> list[ReadableSpan]:
        """One `ReadableSpan` per row, in row order."""
        cols = {name: table.column(name).to_pylist() for name in table.schema.names}
        flags = self._run_flags(cols)
        spans: list[ReadableSpan] = []
        for i in range(table.num_rows):
            row = {name: values[i] for name, values in cols.items()}
            spans.append(self._span(row, flags.get(row["trace_id"], self.trace_flags)))
        return spans

    @staticmethod
    def _run_flags(cols: Mapping[str, list[Any]]) -> dict[str, TraceFlags]:
        """trace id → the trace flags its run span recorded, for the run spans among the rows."""
        out: dict[str, TraceFlags] = {}
        names = cols.get("span_name") or []
        for i, name in enumerate(names):
            if not is_run(name or ""):
                continue
            value = parse_attributes(cols["attributes"][i]).get(ATTR_TRACE_FLAGS)
            try:
                flags = int(value, 16) if isinstance(value, str) else None
            except ValueError:
                flags = None
            if flags is not None and 0 <= flags <= 0xFF:
                out[cols["trace_id"][i]] = TraceFlags(flags)
        return out

    def _span(self, row: Mapping[str, Any], flags: TraceFlags) -> ReadableSpan:
        trace_id = int(row["trace_id"], 16)
        context = SpanContext(trace_id, int(row["span_id"], 16), is_remote=False, trace_flags=flags)
        parent = None
        if row.get("parent_span_id"):
            parent = SpanContext(trace_id, int(row["parent_span_id"], 16), is_remote=True, trace_flags=flags)
        attributes = decode_attributes(row.get("attributes"))
        links = _links(trace_id, attributes.get(ATTR_LINKS), flags) + _stored_links(row.get("links"), flags)
        for column, key in _EXTRA_COLUMNS:
            value = row.get(column)
            if value is not None and key not in attributes:
                attributes[key] = value
        rle = row.get("rle_count") or 1
        if rle != 1:
            attributes[ATTR_RLE_COUNT] = int(rle)
        code = _STATUS.get(str(row.get("status") or "UNSET").upper(), StatusCode.UNSET)
        status = Status(code, row.get("status_message") or None) if code is StatusCode.ERROR else Status(code)
        return ReadableSpan(
            name=row["span_name"],
            context=context,
            parent=parent,
            resource=self.resource(
                int(row.get("process_pid") or 0),
                row.get("process_name") or "",
                row.get("process_cmdline") or "",
                row.get("service_name") or "",
                row.get("service_version") or "",
            ),
            attributes=attributes,
            links=links,
            events=_stored_events(row.get("events")),
            kind=_KINDS.get(str(row.get("span_kind") or "INTERNAL").upper(), SpanKind.INTERNAL),
            status=status,
            start_time=int(row["start_time_nanos"]),
            end_time=int(row["end_time_nanos"]),
            instrumentation_scope=_SCOPE,
        )


def to_request(sdk_spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The OTLP protobuf request for `sdk_spans`: the SDK encoder's, plus the W3C trace flags.

    It has `encode_spans`'s signature, so the export worker can hand it to the SDK's exporters.

    OTLP's `Span.flags` and `Link.flags` hold the trace flags in bits 0-7 (next to the
    is-remote bits the SDK sets); without them every exported span would read as unsampled
    to a collector, whatever the caller's TRACEPARENT said.
    """
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spans = list(sdk_spans)
    request = encode_spans(spans)
    flags: dict[tuple[int, int], tuple[int, list[int]]] = {}
    for span in spans:
        ctx = span.get_span_context()
        if ctx is not None:
            flags[(ctx.trace_id, ctx.span_id)] = (int(ctx.trace_flags), [int(link.context.trace_flags) for link in span.links])
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for encoded in scope_spans.spans:
                key = (int.from_bytes(encoded.trace_id, "big"), int.from_bytes(encoded.span_id, "big"))
                span_flags, link_flags = flags.get(key, (0, []))
                encoded.flags |= span_flags & 0xFF
                for link, link_flag in zip(encoded.links, link_flags):
                    link.flags |= link_flag & 0xFF
    return request


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def request_to_otlp_json(request: ExportTraceServiceRequest, indent: int | None = None) -> str:
    """OTLP/JSON text: proto3 JSON mapping, but ids as hex (the OTLP JSON spec's one exception)."""
    from google.protobuf import json_format

    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    _convert_ids(data, to_hex=True)
    return safe_json.dumps(data, indent=indent)


def otlp_json_to_request(text: str) -> ExportTraceServiceRequest:
    """Parse OTLP/JSON (hex ids) back into an `ExportTraceServiceRequest`."""
    from google.protobuf import json_format

    data = json.loads(text)
    _convert_ids(data, to_hex=False)
    return json_format.ParseDict(data, ExportTraceServiceRequest())


def _convert_ids(node: Any, to_hex: bool) -> None:
    """Rewrite id fields between base64 (proto3 JSON) and hex (OTLP JSON), in place."""
    import base64

    if isinstance(node, list):
        for item in node:
            _convert_ids(item, to_hex)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _ID_FIELDS and isinstance(value, str):
            if to_hex:
                node[key] = base64.b64decode(value).hex()
            else:
                node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
        else:
            _convert_ids(value, to_hex)
