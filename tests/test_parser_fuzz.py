"""Every small parser of user or wire input, fuzzed (hypothesis): for any input it answers or raises
its own one-line error, never anything else (which the command line would show as an internal
error); and what it parses back from a well-formed input is what was written.

The larger languages have their own property tests beside their features (TRACEPARENT in
test_context, filter specs in test_filter_spec, check expressions, check and store config,
transpiler maps, decision lines); this module covers the rest, and the SQL console's input."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from renacer_tui.analysis.critical_path import SpeedupError, parse_speedup
from renacer_tui.analysis.diff_state import PathMapError, map_path, parse_path_maps
from renacer_tui.check.evaluate import parse_ratio
from renacer_tui.receiver.convert import parse_json, parse_protobuf
from renacer_tui.receiver.errors import PayloadError
from renacer_tui.receiver.peer import parse_grpc_peer
from renacer_tui.sinks.otlp import parse_otlp_headers
from renacer_tui.store.maintenance import parse_age
from renacer_tui.store.query import QueryError
from renacer_tui.store.store import Store
from renacer_tui.tracer.filter_spec import FilterSpecError
from renacer_tui.tracer.http_context import parse_request_head
from renacer_tui.tracer.inject import parse_inject_spec
from renacer_tui.tracer.symbols.maps import Mapping, parse_maps
from renacer_tui.tracer.symbols.symbolise import format_frame, parse_frame
from tests.test_store_basic import make_batch, trace_hex, write_run

texts = st.text(max_size=80)
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="="), min_size=1, max_size=20)


@given(texts)
def test_age_is_a_finite_number_of_seconds_or_one_error(text: str) -> None:
    try:
        seconds = parse_age(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert math.isfinite(seconds) and seconds >= 0


@given(st.integers(0, 10**6), st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800), ("", 86400)]))
def test_age_reads_back(count: int, unit: tuple[str, int]) -> None:
    assert parse_age(f"{count}{unit[0]}") == count * unit[1]


def test_an_age_too_large_for_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid age"):
        parse_age("9" * 400 + "d")


def test_vacuum_older_than_the_epoch_removes_nothing(db_path: Path) -> None:
    """Was an internal error (an int too large for SQLite) before the cutoff was clamped."""
    from renacer_tui.store.maintenance import vacuum

    store = Store.open(db_path)
    write_run(store, "r1", trace_hex(1), [make_batch(trace_hex(1), 5)])
    assert vacuum(store, parse_age("99999999999999999999d")) == {"segments": 0, "bytes": 0, "runs": 0, "traces": 0}
    store.close()


@given(texts)
def test_speedup_is_a_key_and_a_positive_factor_or_one_error(text: str) -> None:
    try:
        key, factor = parse_speedup(text)
    except SpeedupError as exc:
        assert "\n" not in str(exc)
        return
    assert key and math.isfinite(factor) and factor > 0


@given(names.filter(lambda s: s.strip() == s and s), st.floats(0.001, 1e6), st.sampled_from(["x", "×", ""]))
def test_speedup_reads_back(key: str, factor: float, suffix: str) -> None:
    assert parse_speedup(f"{key}={factor!r}{suffix}") == (key, factor)


@given(st.lists(texts, max_size=4))
def test_path_maps_parse_or_one_error(values: list[str]) -> None:
    try:
        maps = parse_path_maps(values)
    except PathMapError as exc:
        assert "\n" not in str(exc)
        return
    assert [len(old) for old, _ in maps] == sorted((len(old) for old, _ in maps), reverse=True)


segment = st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=8)


@given(st.lists(segment, min_size=1, max_size=3), st.lists(segment, min_size=1, max_size=3),
       st.lists(segment, max_size=3))
def test_a_mapped_path_moves_from_old_to_new(old: list[str], new: list[str], rest: list[str]) -> None:
    maps = parse_path_maps([f"/{'/'.join(old)}={'/'.join(['', *new])}"])
    path = "/".join(["", *old, *rest])
    assert map_path(path, maps) == "/".join(["", *new, *rest])


@given(texts)
def test_ratio_is_finite_and_not_negative_or_one_error(text: str) -> None:
    try:
        value = parse_ratio(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert math.isfinite(value) and value >= 0


@given(texts, st.lists(texts, max_size=3))
def test_otlp_headers_parse_or_one_error(env: str, cli: list[str]) -> None:
    try:
        headers = parse_otlp_headers(env, cli)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert all(key == key.lower() for key in headers)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True), st.from_regex(r"[A-Za-z0-9]{0,12}", fullmatch=True),
                       max_size=4))
def test_otlp_headers_from_the_command_line_read_back(given_headers: dict[str, str]) -> None:
    assert parse_otlp_headers(None, [f"{k}={v}" for k, v in given_headers.items()]) == given_headers


@given(texts)
def test_grpc_peer_is_an_address_and_port_or_none(text: str) -> None:
    peer = parse_grpc_peer(text)
    assert peer is None or (isinstance(peer[0], str) and isinstance(peer[1], int))


@given(st.ip_addresses(), st.integers(1, 65535))
def test_grpc_peer_reads_back(address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> None:
    text = f"ipv4:{address}:{port}" if address.version == 4 else f"ipv6:[{address}]:{port}"
    expected = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
    assert parse_grpc_peer(text) == (str(expected), port)


@given(texts)
def test_a_frame_is_an_object_and_an_address_or_none(text: str) -> None:
    frame = parse_frame(text)
    assert frame is None or (frame[0] == text.rpartition("+0x")[0] != "" and isinstance(frame[1], int))


@given(st.text(min_size=1, max_size=40), st.integers(0, 2**64 - 1))
def test_a_frame_reads_back(path: str, vaddr: int) -> None:
    assert parse_frame(format_frame(path, vaddr)) == (path, vaddr)


@given(texts)
def test_maps_text_of_any_shape_gives_mappings(text: str) -> None:
    for mapping in parse_maps(text):
        assert mapping.path.startswith("/")


mapping = st.builds(
    lambda start, size, offset, path, perms: (Mapping(start, start + size, offset, path), perms),
    st.integers(0, 2**47), st.integers(1, 2**32), st.integers(0, 2**32),
    st.from_regex(r"/[a-z0-9_./-]{1,30}", fullmatch=True).filter(lambda p: not p.endswith(" (deleted)")),
    st.sampled_from(["r-xp", "r--p", "rw-p", "--xp"]),
)


@given(st.lists(mapping, max_size=6))
def test_maps_read_back_their_executable_mappings(mappings: list[tuple[Mapping, str]]) -> None:
    text = "".join(f"{m.start:x}-{m.end:x} {perms} {m.offset:08x} fd:01 1234     {m.path}\n" for m, perms in mappings)
    expected = sorted((m for m, perms in mappings if "x" in perms), key=lambda m: m.start)
    assert [m.start for m in parse_maps(text)] == [m.start for m in expected]
    assert sorted(parse_maps(text), key=lambda m: (m.start, m.path)) == sorted(expected, key=lambda m: (m.start, m.path))


@given(st.binary(max_size=200))
def test_a_request_head_of_any_bytes_is_a_request_or_none(data: bytes) -> None:
    request = parse_request_head(data)
    assert request is None or (request.method and request.path.startswith("/"))


@given(st.sampled_from(["GET", "POST", "PUT"]), st.from_regex(r"/[a-z0-9/]{0,20}", fullmatch=True),
       st.from_regex(r"[a-z]{1,10}(\.[a-z]{1,5})?", fullmatch=True), st.integers(1, 65535))
def test_a_request_head_reads_back(method: str, path: str, host: str, port: int) -> None:
    head = f"{method} {path}?q=1 HTTP/1.1\r\nHost: {host}:{port}\r\n\r\nbody".encode()
    request = parse_request_head(head)
    assert request is not None and (request.method, request.path, request.host, request.port) == (method, path, host, port)


@given(texts)
def test_inject_spec_parses_or_one_error(text: str) -> None:
    try:
        parse_inject_spec(text)
    except FilterSpecError as exc:
        assert "\n" not in str(exc)


@given(st.binary(max_size=300))
def test_an_otlp_body_of_any_bytes_is_a_request_or_a_payload_error(body: bytes) -> None:
    for parse in (parse_protobuf, parse_json):
        try:
            parse(body)
        except PayloadError as exc:
            assert "\n" not in str(exc)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
                           max_leaves=12)
otlp_keys = st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "name", "kind",
                             "startTimeUnixNano", "attributes", "key", "value", "stringValue", "events", "links"])


@given(st.dictionaries(otlp_keys, json_values, max_size=4))
def test_an_otlp_json_object_of_any_shape_is_a_request_or_a_payload_error(data: dict) -> None:
    import json

    try:
        parse_json(json.dumps(data).encode())
    except PayloadError as exc:
        assert "\n" not in str(exc)


# -- config.toml --------------------------------------------------------------------------------------

toml_scalars = (st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=12)
                | st.lists(st.integers(), max_size=3))
config_keys = st.sampled_from(["path", "retention_days", "compression", "compression_level", "row_group_size",
                               "flush_interval_s", "store_payloads", "enabled", "endpoint", "protocol", "batch_size",
                               "batch_delay_ms", "headers", "tight_loop_threshold", "threshold_us", "sample_rate",
                               "unknown"])


@settings(deadline=None)
@given(st.dictionaries(st.sampled_from(["database", "otlp", "graph", "sampling", "colours"]),
                       st.dictionaries(config_keys, toml_scalars | st.dictionaries(st.text(max_size=5), toml_scalars,
                                                                                     max_size=2), max_size=5),
                       max_size=4))
def test_any_config_document_is_a_config_or_one_error(document: dict) -> None:
    from renacer_tui.store.config import ConfigError, parse_config

    try:
        parse_config(document)
    except ConfigError as exc:
        assert "\n" not in str(exc)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=120) | st.text(max_size=120).map(str.encode))
def test_any_config_file_is_a_config_or_one_error(tmp_path: Path, raw: bytes) -> None:
    from renacer_tui.store.config import ConfigError, load_config

    path = tmp_path / "config.toml"
    path.write_bytes(raw)
    try:
        load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc).strip()


# -- the SQL console's input ------------------------------------------------------------------------

#: What a user (or a pasted script) may type: the console's views, DuckDB's file and extension
#: functions, statements that write, and the punctuation that splits statements or hides them.
SQL_FRAGMENTS = [
    "SELECT", "*", "COUNT(*)", "FROM", "spans", "spans_raw", "runs", "traces", "segments", "WHERE", "1=1", ";",
    "--", "/*", "*/", "'", '"', "(", ")", ",", "read_csv('/etc/passwd')", "read_text('/etc/hostname')",
    "read_parquet('/nonexistent/*.parquet')", "glob('/*')", "COPY spans TO '/tmp/renacer-fuzz-out.csv'",
    "ATTACH '/tmp/renacer-fuzz.db' AS x", "INSTALL httpfs", "LOAD httpfs", "CREATE TABLE t AS SELECT 1",
    "INSERT INTO t VALUES (1)", "DELETE FROM spans", "DROP VIEW spans", "PRAGMA database_list", "SET threads=1",
    "CALL pragma_version()", "EXPLAIN", "EXPLAIN ANALYZE", "WITH q AS (SELECT 1)", "UNION ALL", "LIMIT 3",
    "span_name", "trace_id", "getenv('HOME')", "current_setting('temp_directory')", "\x00", "\n",
]


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sqlfuzz") / "db"
    store = Store.open(root)
    write_run(store, "r1", trace_hex(1), [make_batch(trace_hex(1), 50)])
    store.close()
    return root


def _fingerprint(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(("-shm", "-wal"))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(SQL_FRAGMENTS) | st.text(max_size=6), min_size=1, max_size=8))
def test_sql_console_input_answers_or_refuses_and_never_writes(fuzz_store: Path, tokens: list[str]) -> None:
    sql = " ".join(tokens)
    assume(sql.strip())
    before = _fingerprint(fuzz_store)
    with Store.open(fuzz_store) as store:
        try:
            store.query(sql)
        except QueryError as exc:
            assert "\n" not in str(exc).strip(), str(exc)
    assert _fingerprint(fuzz_store) == before
    for leaked in (Path("/tmp/renacer-fuzz-out.csv"), Path("/tmp/renacer-fuzz.db")):
        assert not leaked.exists(), f"{sql!r} wrote {leaked}"
