"""The condition language: a parser (lark), never eval; round trips, precedence, every error has a column."""

from __future__ import annotations

import operator

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from renacer_tui.check.expression import (
    COMPARISONS,
    Binary,
    Boolean,
    EvaluationError,
    ExpressionError,
    Metric,
    Number,
    Unary,
    evaluate,
    kind_of,
    metrics_of,
    parse,
    to_text,
)

#: The spec's six example conditions (Sprint 44), verbatim.
SPEC_CONDITIONS = [
    "critical_path.duration_ms < 200",
    "antipatterns.god_process.count == 0",
    "gpu.transfer_time_ms / gpu.compute_time_ms < 5.0",
    "spans.syscall.count < 10000",
    "antipatterns.pcie_bottleneck.count == 0",
    "spans.syscall:read.rle_compressed_ratio > 0.9",
]

names = st.sampled_from(["duration_ms", "a", "b_2", "notable", "ander", "orbit", "trueish"])
selectors = st.sampled_from(["syscall:read", "%file", "syscall:*", "process:ls", "weird name", "x-y"])
metric_paths = st.one_of(
    st.tuples(names),
    st.tuples(names, names),
    st.tuples(st.just("spans"), selectors, st.sampled_from(["count", "duration_ms"])),
)
metrics = metric_paths.map(Metric)
numbers = st.one_of(st.integers(0, 10**9).map(float), st.floats(0, 1e9, allow_nan=False, allow_infinity=False)).map(
    lambda v: Number(v, repr(v))
)


def _numeric(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/"]), children, children),
        st.builds(Unary, st.just("-"), children),
    )


numeric = st.recursive(st.one_of(numbers, metrics), _numeric, max_leaves=8)
comparisons = st.builds(Binary, st.sampled_from(COMPARISONS), numeric, numeric)


def _boolean(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.builds(Binary, st.sampled_from(["and", "or"]), children, children),
        st.builds(Unary, st.just("not"), children),
    )


conditions = st.recursive(st.one_of(comparisons, st.booleans().map(Boolean)), _boolean, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(conditions)
def test_printing_and_parsing_round_trip(tree) -> None:  # type: ignore[no-untyped-def]
    text = to_text(tree)
    assert parse(text) == tree
    assert kind_of(parse(text)) == "bool"


@settings(max_examples=200, deadline=None)
@given(numeric)
def test_numeric_trees_round_trip_too(tree) -> None:  # type: ignore[no-untyped-def]
    assert parse(to_text(tree) + " > 0") == Binary(">", tree, Number(0, "0"))


def _lookup(values: dict[tuple[str, ...], float]):  # type: ignore[no-untyped-def]
    return lambda metric: values.setdefault(metric.path, float(len(metric.name)))


@settings(max_examples=200, deadline=None)
@given(conditions)
def test_the_printed_text_evaluates_like_the_tree(tree) -> None:  # type: ignore[no-untyped-def]
    values: dict[tuple[str, ...], float] = {}
    try:
        expected = evaluate(tree, _lookup(values))
    except (EvaluationError, OverflowError):
        assume(False)
    assert evaluate(parse(to_text(tree)), _lookup(values)) == expected


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 99), min_size=3, max_size=6), st.lists(st.sampled_from(list(_OPS)), min_size=5, max_size=5))
def test_arithmetic_precedence_and_left_associativity_match_python(values, ops) -> None:  # type: ignore[no-untyped-def]
    text = str(values[0])
    for value, op in zip(values[1:], ops):
        text += f" {op} {value}"
    assert evaluate(parse(f"{text} == {text}"), _lookup({})) is True
    assert evaluate(parse(f"{text} > -1e300"), _lookup({})) is True
    # the parsed tree computes what Python computes for the same text
    tree = parse(f"{text} < 0")
    assert isinstance(tree, Binary)
    assert evaluate(tree.left, _lookup({})) == pytest.approx(_school_arithmetic(values, ops))


def _school_arithmetic(values: list[int], ops: list[str]) -> float:
    """The oracle: * and / first, left to right, then + and - left to right."""
    terms: list[float] = [float(values[0])]
    signs: list[str] = []
    for value, op in zip(values[1:], ops):
        if op in "*/":
            terms[-1] = _OPS[op](terms[-1], value)
        else:
            signs.append(op)
            terms.append(float(value))
    total = terms[0]
    for op, term in zip(signs, terms[1:]):
        total = _OPS[op](total, term)
    return total


def test_boolean_precedence_not_binds_looser_than_comparison_and_and_tighter_than_or() -> None:
    tree = parse("not a < 1 and b > 2 or c == 3")
    assert tree == Binary(
        "or",
        Binary("and", Unary("not", Binary("<", Metric(("a",)), Number(1, ""))), Binary(">", Metric(("b",)), Number(2, ""))),
        Binary("==", Metric(("c",)), Number(3, "")),
    )
    assert parse("a < 1 and (b > 2 or c == 3)").right.op == "or"


@pytest.mark.parametrize("text", SPEC_CONDITIONS)
def test_every_condition_of_the_spec_parses(text: str) -> None:
    tree = parse(text)
    assert kind_of(tree) == "bool"
    assert metrics_of(tree)


def test_the_spec_spelling_of_a_span_selector_is_the_indexed_one() -> None:
    assert parse("spans.syscall:read.rle_compressed_ratio > 0.9") == parse('spans["syscall:read"].rle_compressed_ratio > 0.9')
    assert metrics_of(parse("spans['%file'].count > 0"))[0].path == ("spans", "%file", "count")


@pytest.mark.parametrize(
    ("text", "value"),
    [("200ms", 200), ("1.5s", 1500), ("250us", 0.25), ("10MiB", 10 * 1024 * 1024), ("2KB", 2000), ("3e2", 300), (".5s", 500)],
)
def test_units_fold_into_milliseconds_and_bytes(text: str, value: float) -> None:
    tree = parse(f"x < {text}")
    assert tree.right.value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("critical_path.duration_ms <", 28, "end of condition"),
        ("a <> b", 4, "unexpected '>'"),
        ("a < 1 and", 10, "end of condition"),
        ("a < 1 @ 2", 7, "unexpected character '@'"),
        ("(a < 1", 7, "end of condition"),
        ("a < 1 < 2", 7, "unexpected '<'"),
        ("a < 10parsecs", 5, ""),
        ("1 + (a < b) > 0", 6, "needs a number"),
        ("not 3 > 2 and 4", 15, "needs a comparison"),
        ("", 1, "empty"),
        ('__import__("os").system("true") == 0', 11, "unexpected"),
    ],
)
def test_errors_name_a_column(text: str, column: int, words: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        tree = parse(text)
        kind_of(tree)
    assert caught.value.column == column
    assert words in caught.value.message
    assert f"(column {column})" in str(caught.value)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1.:[]\"'()<>=!+-*/ %µsmnot_and_or")), max_size=30))
def test_any_text_parses_or_fails_with_a_message_and_a_column_inside_it(text: str) -> None:
    try:
        tree = parse(text)
        kind_of(tree)
    except ExpressionError as exc:
        assert exc.message
        assert 1 <= exc.column <= len(text) + 1


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SPEC_CONDITIONS), st.data())
def test_a_spec_condition_with_one_character_dropped_still_fails_cleanly(text: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(text) - 1))
    broken = text[:cut] + text[cut + 1 :]
    try:
        kind_of(parse(broken))
    except ExpressionError as exc:
        assert 1 <= exc.column <= len(broken) + 1


def test_division_by_zero_is_a_message_not_a_crash() -> None:
    tree = parse("gpu.transfer_time_ms / gpu.compute_time_ms < 5.0")
    values = {"gpu.transfer_time_ms": 3.0, "gpu.compute_time_ms": 0.0}
    with pytest.raises(EvaluationError, match=r"division by zero: gpu.compute_time_ms is 0 \(column 24\)"):
        evaluate(tree, lambda metric: values[metric.name])
