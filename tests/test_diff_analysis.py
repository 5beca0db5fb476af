"""`analysis.diff_ops` and `analysis.diff_state` on stated traces with known answers.

The real-program tests (test_cli_diff.py) show the spec's example end to end; these pin the
rules: noise is ignored, repeats and cycles fold into one step whatever their count, the
alignment names the first divergence, and stream keys follow --map-path and the cwd.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import span

from renacer_tui.analysis.diff_ops import DELETE, EQUAL, EXACT_STEPS, INSERT, REPLACE, diff_ops
from renacer_tui.analysis.diff_state import PathMapError, parse_path_maps, stream_key
from renacer_tui.model.schema import batch_from_rows

NAMES = ["read", "write", "openat", "close", "mmap", "futex", "lseek"]


def trace(calls: list[tuple[str, int]]) -> pa.Table:
    """A run → process → one syscall span per (name, rle count), in clock order."""
    rows = [span(1, None, 0, 1000, "renacer:run prog", clock=0), span(2, 1, 0, 1000, "process:prog")]
    for i, (name, count) in enumerate(calls):
        rows.append(span(10 + i, 2, i, i + 1, f"syscall:{name}", rle=count))
    return pa.Table.from_batches([batch_from_rows(rows)])


def names_of(steps, side: str) -> list[str]:
    return [getattr(s, side).name for s in steps if getattr(s, side) is not None]


def test_noise_is_ignored_and_repeats_fold_into_one_step() -> None:
    a = trace([("openat", 1), ("mmap", 3), ("write", 1), ("futex", 1), ("write", 1), ("write", 2999), ("close", 1)])
    b = trace([("openat", 1), ("write", 1), ("brk", 1), ("close", 1)])
    ops = diff_ops(a, b)
    assert [(s.tag, s.a.name, s.a.calls, s.b.calls) for s in ops.steps] == [
        (EQUAL, "openat", 1, 1), (EQUAL, "write", 3001, 1), (EQUAL, "close", 1, 1),
    ]
    assert ops.first_divergence is None and not ops.equivalent  # same steps, counts far apart
    write = next(d for d in ops.deltas if d.name == "write")
    assert (write.count_a, write.count_b) == (3001, 1)
    assert not any(d.name in ("mmap", "futex", "brk") for d in ops.deltas)


def test_cycles_fold_and_the_first_divergence_is_named() -> None:
    a = trace([("openat", 1)] + [("read", 1), ("write", 1)] * 50 + [("close", 1)])
    b = trace([("openat", 1), ("read", 1), ("write", 1), ("lseek", 1), ("close", 1)])
    ops = diff_ops(a, b)
    assert names_of(ops.steps, "a") == ["openat", "read+write", "close"]
    assert ops.steps[1].a.calls == 100
    first = ops.steps[ops.first_divergence]
    assert first.tag in (REPLACE, DELETE, INSERT)
    assert {s.tag for s in ops.steps} >= {EQUAL}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.integers(1, 5)), max_size=60),
       st.lists(st.tuples(st.sampled_from(NAMES), st.integers(1, 5)), max_size=60))
def test_alignment_keeps_every_step_and_every_call(calls_a, calls_b) -> None:
    ops = diff_ops(trace(calls_a), trace(calls_b))
    for side, calls in (("a", calls_a), ("b", calls_b)):
        steps = [getattr(s, side) for s in ops.steps if getattr(s, side) is not None]
        expected = sum(count for name, count in calls if name not in ("mmap", "futex"))
        assert sum(s.calls for s in steps) == expected
    for step in ops.steps:
        if step.tag == EQUAL:
            assert step.a.name == step.b.name
        elif step.tag == DELETE:
            assert step.a is not None and step.b is None
        elif step.tag == INSERT:
            assert step.a is None and step.b is not None
    if calls_a == calls_b:
        assert ops.equivalent and ops.first_divergence is None


def test_long_middles_are_compared_step_against_step() -> None:
    n = EXACT_STEPS + 10
    a = trace([("read" if i % 3 else "lseek", 1) for i in range(2 * n)])  # 3-cycles fold: many distinct steps
    b = trace([("openat", 1)] + [("write" if i % 2 else "close", 1) for i in range(2 * n)])
    ops = diff_ops(a, b)
    assert sum(s.a.calls for s in ops.steps if s.a) == 2 * n and sum(s.b.calls for s in ops.steps if s.b) == 2 * n + 1


@pytest.mark.parametrize(
    ("obj", "fd", "cwd", "maps", "key"),
    [
        ("/work/py/out.json", 3, "/work/py", [], "./out.json"),
        ("/work/py/sub/out.json", 3, "/work/py", [], "./sub/out.json"),
        ("/data/py/out.json", 3, "/work/py", ["/data/py=/data/rs"], "/data/rs/out.json"),
        ("/work/py/out.json", 3, "/work/py", ["/work/py=/work/rs"], "./out.json"),
        ("/tmp/x (deleted)", 4, "/", [], "./tmp/x"),
        ("pipe:[1234]", 1, "/work", [], "pipe@fd1"),
        ("socket:[99]", 5, "/work", [], "socket@fd5"),
        ("/dev/pts/3", 2, "/work", [], "tty@fd2"),
    ],
)
def test_stream_keys(obj: str, fd: int, cwd: str, maps: list[str], key: str) -> None:
    assert stream_key(obj, fd, cwd, parse_path_maps(maps)) == key


def test_a_socket_with_an_address_is_keyed_by_it() -> None:
    assert stream_key("socket:[99]", 5, "/work", [], "tcp to 127.0.0.1:8080") == "tcp to 127.0.0.1:8080"


@pytest.mark.parametrize("bad", ["nothing", "=x", "x="])
def test_bad_path_maps(bad: str) -> None:
    with pytest.raises(PathMapError):
        parse_path_maps([bad])


_SEGMENT = st.text(alphabet="abcxyz._-ü", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@settings(max_examples=100, deadline=None)
@given(st.lists(_SEGMENT, min_size=1, max_size=3), st.lists(_SEGMENT, min_size=1, max_size=3),
       st.lists(_SEGMENT, max_size=3))
def test_map_path_moves_exactly_what_is_under_old(old: list[str], new: list[str], rest: list[str]) -> None:
    from renacer_tui.analysis.diff_state import map_path

    old_path, new_path = "/" + "/".join(old), "/" + "/".join(new)
    maps = parse_path_maps([f"{old_path}={new_path}"])
    inside = "/".join([old_path, *rest])
    assert map_path(inside, maps) == "/".join([new_path, *rest])
    sibling = old_path + "x/" + "/".join(rest)  # shares the prefix text but is not under OLD
    assert map_path(sibling, maps) == sibling


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(), st.integers(0, 65535))
def test_proc_net_addresses_decode(ip, port: int) -> None:
    import ipaddress

    from renacer_tui.tracer.socket_peer import _address

    packed = ip.packed
    words = b"".join(packed[i : i + 4][::-1] for i in range(0, len(packed), 4))  # /proc/net: host-order words
    host, got_port = _address(f"{words.hex().upper()}:{port:04X}")
    assert got_port == port
    expected = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
    assert host == (str(expected) if expected.version == 4 else f"[{expected}]")
