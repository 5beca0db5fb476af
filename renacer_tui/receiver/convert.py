"""Received OTLP spans (`ExportTraceServiceRequest`) → `SPAN_SCHEMA` rows.

The other direction of `sinks.otlp_convert`: a span keeps its own trace id, span id, parent,
kind, status, times, events and links; ids become lower-case hex text, attributes the JSON
object text (arrays and key-value lists stay JSON arrays and objects, bytes become hex), and
the resource's `service.name` / `service.version` / `process.*` fill their columns; events and
links fill the `events` / `links` columns (null when a span has none).  The rest
of the resource and the instrumentation scope are kept in the span's attributes, so nothing a
sender said is lost.  Where the span sits in a run (`Placement`) is decided here too: a span of
the run's trace without a parent hangs under `renacer:run`, and a span whose sender is a traced
process links to that process span.
"""

from __future__ import annotations

import base64
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Iterable

import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from renacer_tui.model.attributes import (
    ATTR_LINK_TYPE,
    ATTR_LINKS,
    ATTR_LOGICAL_CLOCK,
    ATTR_PARENT_LOGICAL_CLOCK,
    ATTR_PROCESS_COMMAND,
    ATTR_PROCESS_COMMAND_ARGS,
    ATTR_PROCESS_COMMAND_LINE,
    ATTR_PROCESS_EXECUTABLE_NAME,
    ATTR_PROCESS_EXECUTABLE_PATH,
    ATTR_PROCESS_PID,
    ATTR_RECEIVED_LINK,
    ATTR_RECEIVED_VIA,
    ATTR_RLE_COUNT,
    ATTR_SCOPE_NAME,
    ATTR_SCOPE_VERSION,
    ATTR_SENDER_PID,
    ATTR_SERVICE_NAME,
    ATTR_SERVICE_VERSION,
    ATTR_SOURCE_C,
    ATTR_SOURCE_PYTHON,
    ATTR_SOURCE_RUST,
    ATTR_THREAD_ID,
    parse_attributes,
)
from renacer_tui.model.kinds import LinkKind
from renacer_tui.model.schema import (
    COLUMN_NAMES,
    STATUS_ERROR,
    STATUS_OK,
    STATUS_UNSET,
    batch_from_columns,
)
from renacer_tui.receiver.errors import PayloadError
from renacer_tui.receiver.placement import Placement

#: OTLP `Span.SpanKind` numbers → the names the schema stores (OpenTelemetry's, as
#: `sinks.otlp_convert` reads them back); UNSPECIFIED is INTERNAL, as the SDKs treat it.
KIND_NAMES = {0: "INTERNAL", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_NAMES = {0: STATUS_UNSET, 1: STATUS_OK, 2: STATUS_ERROR}
UNKNOWN_SERVICE = "unknown_service"
#: The instrumentation scope renacer-tui's own OTLP export uses (`sinks.otlp_convert`).
RENACER_SCOPE = "renacer-tui"
_INT31 = 2**31
_INT63 = 2**63
#: Resource keys that fill columns (or say only which SDK sent): not copied into span attributes.
_RESOURCE_COLUMNS = frozenset({ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION, ATTR_PROCESS_PID, ATTR_PROCESS_EXECUTABLE_NAME,
                               ATTR_PROCESS_COMMAND_LINE})
#: Columns `sinks.otlp_convert` exports as attributes, read back into their columns.
_INT_COLUMNS = (("logical_clock", ATTR_LOGICAL_CLOCK), ("parent_logical_clock", ATTR_PARENT_LOGICAL_CLOCK),
                ("rle_count", ATTR_RLE_COUNT))
_TEXT_COLUMNS = (("rust_source", ATTR_SOURCE_RUST), ("python_source", ATTR_SOURCE_PYTHON), ("c_source", ATTR_SOURCE_C))


def plain_value(value: AnyValue) -> Any:
    """JSON-ready Python for an OTLP AnyValue (bytes as hex text, non-finite doubles as text)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [plain_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind == "double_value" and not math.isfinite(value.double_value):
        return str(value.double_value)
    return getattr(value, kind)


_SCALARS = frozenset({"string_value", "int_value", "bool_value"})


def plain_attributes(items: Iterable[Any]) -> dict[str, Any]:
    """OTLP `KeyValue`s as a dict (a key repeated keeps its last value, as the SDKs do)."""
    out: dict[str, Any] = {}
    for kv in items:  # the common scalar kinds inline: this runs for every attribute received
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = getattr(value, kind) if kind in _SCALARS else plain_value(value)
    return out


_json = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode


def _hex_id(raw: bytes, width: int) -> str | None:
    """Lower-case hex for an id of `width` bytes; None when empty or all zeros (no id)."""
    if not raw or not any(raw):
        return None
    if len(raw) != width:
        raise PayloadError(f"id of {len(raw)} bytes (expected {width})")
    return raw.hex()


def _pid(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value < _INT31:
        return value
    if isinstance(value, str) and value.isdigit() and 0 < int(value) < _INT31:
        return int(value)
    return None


@dataclass(frozen=True)
class _Resource:
    service_name: str
    service_version: str
    pid: int | None
    process_name: str
    cmdline: str
    extra: dict[str, Any]


def _resource(attributes: dict[str, Any]) -> _Resource:
    service = attributes.get(ATTR_SERVICE_NAME)
    version = attributes.get(ATTR_SERVICE_VERSION)
    args = attributes.get(ATTR_PROCESS_COMMAND_ARGS)
    cmdline = attributes.get(ATTR_PROCESS_COMMAND_LINE)
    if not isinstance(cmdline, str):
        cmdline = " ".join(map(str, args)) if isinstance(args, list) else ""
    name = attributes.get(ATTR_PROCESS_EXECUTABLE_NAME)
    if not isinstance(name, str) or not name:
        path = attributes.get(ATTR_PROCESS_EXECUTABLE_PATH) or attributes.get(ATTR_PROCESS_COMMAND)
        name = os.path.basename(path) if isinstance(path, str) else ""
    extra = {k: v for k, v in attributes.items() if k not in _RESOURCE_COLUMNS and not k.startswith("telemetry.sdk.")}
    return _Resource(
        service_name=service if isinstance(service, str) and service else UNKNOWN_SERVICE,
        service_version=version if isinstance(version, str) else "",
        pid=_pid(attributes.get(ATTR_PROCESS_PID)),
        process_name=name,
        cmdline=cmdline,
        extra=extra,
    )


def request_rows(
    request: ExportTraceServiceRequest,
    *,
    via: str,
    sender_pid: int | None = None,
    placement: Placement | None = None,
) -> list[dict[str, Any]]:
    """One row dict per span of `request` (columns of SPAN_SCHEMA; `events`/`links` as lists).

    Raises PayloadError for a span without a valid trace or span id.
    """
    rows: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = _resource(plain_attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_attrs: dict[str, Any] = {}
            if scope.name == RENACER_SCOPE:  # a span renacer-tui exported: read its columns back
                rows.extend(_row(span, resource, {}, via, sender_pid, placement, True) for span in scope_spans.spans)
                continue
            if scope.name:
                scope_attrs[ATTR_SCOPE_NAME] = scope.name
            if scope.version:
                scope_attrs[ATTR_SCOPE_VERSION] = scope.version
            for span in scope_spans.spans:
                rows.append(_row(span, resource, scope_attrs, via, sender_pid, placement))
    return rows


def _row(span: Any, resource: _Resource, scope_attrs: dict[str, Any], via: str, sender_pid: int | None,
         placement: Placement | None, from_renacer: bool = False) -> dict[str, Any]:
    trace_id = _hex_id(span.trace_id, 16)
    span_id = _hex_id(span.span_id, 8)
    if trace_id is None or span_id is None:
        raise PayloadError("a span without a trace id or span id")
    attributes: dict[str, Any] = dict(resource.extra)
    attributes.update(scope_attrs)
    attributes.update(plain_attributes(span.attributes))
    attributes[ATTR_RECEIVED_VIA] = via
    pid = resource.pid or 0
    if sender_pid is not None:
        attributes[ATTR_SENDER_PID] = sender_pid
        pid = sender_pid
    links = [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "trace_state": link.trace_state or None,
            "attributes": _json(plain_attributes(link.attributes)),
        }
        for link in span.links
    ]
    start = int(span.start_time_unix_nano)
    row: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": _hex_id(span.parent_span_id, 8),
        "start_time_nanos": start,
        "end_time_nanos": max(start, int(span.end_time_unix_nano)),
        "span_name": span.name,
        "span_kind": KIND_NAMES.get(span.kind, "INTERNAL"),
        "status": STATUS_NAMES.get(span.status.code, STATUS_UNSET),
        "status_message": span.status.message or None,
        "process_pid": pid,
        "process_name": resource.process_name or resource.service_name,
        "process_cmdline": resource.cmdline,
        "service_name": resource.service_name,
        "service_version": resource.service_version,
        "thread_id": _pid(attributes.get(ATTR_THREAD_ID)) or pid,
        "logical_clock": 0,
        "parent_logical_clock": None,
        "rle_count": 1,
        "rust_source": None,
        "python_source": None,
        "c_source": None,
        "events": [
            {
                "name": event.name,
                "time_unix_nano": int(event.time_unix_nano),
                "attributes": _json(plain_attributes(event.attributes)),
            }
            for event in span.events
        ] or None,  # null, not [], for a span without events (as the schema's other producers)
    }
    if from_renacer:
        links = _restore_renacer_columns(row, attributes, links)
    if placement is not None:
        row["parent_span_id"] = _place(placement, trace_id, row["parent_span_id"],
                                       pid if sender_pid is not None else None, attributes, links)
    row["attributes"] = _json(attributes)
    row["links"] = links or None
    return row


def _restore_renacer_columns(row: dict[str, Any], attributes: dict[str, Any],
                             links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A span of renacer-tui's own export: its columns back out of the attributes it used.

    Logical clocks, RLE count, thread and source columns leave the attributes for their
    columns, the `renacer.links` list is JSON again (OTLP carried it as text), and the OTLP
    links that only repeated those entries (they carry `renacer.link.type`) are not kept twice.
    """
    for column, key in _INT_COLUMNS:
        value = attributes.pop(key, None)
        if isinstance(value, int) and not isinstance(value, bool) and -_INT63 <= value < _INT63:
            row[column] = value
    for column, key in _TEXT_COLUMNS:
        value = attributes.pop(key, None)
        if isinstance(value, str):
            row[column] = value
    thread = _pid(attributes.pop(ATTR_THREAD_ID, None))
    if thread is not None:
        row["thread_id"] = thread
    links_text = attributes.get(ATTR_LINKS)
    if isinstance(links_text, str):
        try:
            attributes[ATTR_LINKS] = json.loads(links_text)
        except ValueError:
            pass
    return [link for link in links if ATTR_LINK_TYPE not in parse_attributes(link["attributes"])]


def _place(placement: Placement, trace_id: str, parent: str | None, sender_pid: int | None,
           attributes: dict[str, Any], links: list[dict[str, Any]]) -> str | None:
    """The span's parent in the run; records the link to the sender's process span.

    The program was handed the run span as TRACEPARENT (one environment serves every process
    of the run), so a root span of the program's own hangs under the process that made it when
    that process is known (`process:python3 → app span`), else under `renacer:run`; the run
    stays an ancestor either way, and every other parent is the sender's own.
    """
    golden = trace_id == placement.trace_id
    process_span = placement.process_span(sender_pid) if sender_pid is not None else None
    if golden and parent in (None, placement.run_span_id):
        parent = process_span or placement.run_span_id
    if process_span is not None:
        if golden:
            existing = attributes.get(ATTR_LINKS)
            attributes[ATTR_LINKS] = [*(existing if isinstance(existing, list) else []),
                                      {"type": LinkKind.PROCESS.value, "span_id": process_span}]
        else:
            links.append({"trace_id": placement.trace_id, "span_id": process_span, "trace_state": None,
                          "attributes": _json({ATTR_RECEIVED_LINK: LinkKind.PROCESS.value})})
    return parent


def rows_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """A SPAN_SCHEMA batch of converted rows (each has every column, attributes already JSON)."""
    return batch_from_columns({name: [row[name] for row in rows] for name in COLUMN_NAMES})


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """The request in an OTLP/protobuf body, or PayloadError."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # DecodeError, and the C++ backend's RuntimeWarnings-as-errors
        raise PayloadError(f"not an OTLP protobuf message ({type(exc).__name__})") from None
    return request


_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    """The request in an OTLP/JSON body (hex ids, as the OTLP spec says), or PayloadError.

    Unknown fields are ignored (the spec requires it of receivers); enums may be names or numbers.
    """
    from google.protobuf import json_format

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("not JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("OTLP/JSON must be an object")
    _hex_ids_to_base64(data)
    try:
        return json_format.ParseDict(data, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise PayloadError(f"not an OTLP/JSON trace request: {str(exc).splitlines()[0] if str(exc) else ''}") from None


def _hex_ids_to_base64(node: Any) -> None:
    """proto3 JSON reads bytes as base64; OTLP/JSON writes ids as hex: convert in place."""
    if isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError:
                    raise PayloadError(f"{key} is not hex") from None
            else:
                _hex_ids_to_base64(value)
