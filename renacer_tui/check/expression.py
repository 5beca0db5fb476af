"""The condition language of renacer.toml, parsed with lark (never `eval`).

`critical_path.duration_ms < 200ms and not (errors.count > 0)`: numbers with units, arithmetic,
one comparison per operand pair, `and`/`or`/`not`, parentheses, and metric paths
(`spans["syscall:read"].count`, `spans.syscall:read.rle_compressed_ratio`).  Parsing gives a
small tree of frozen dataclasses that prints back to equivalent text (`to_text`) and is
type-checked (a condition is boolean, arithmetic takes numbers) before anything is evaluated,
so a typo fails when the config loads, with the column where it is.

Units are folded into plain numbers: times into milliseconds (every time metric is `*_ms`),
sizes into bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable, Union

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

#: Unit suffix → factor to the base unit (milliseconds for time, bytes for sizes).
UNITS: dict[str, float] = {
    "ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "min": 60e3,
    "B": 1.0, "KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024.0, "MiB": 1024.0**2, "GiB": 1024.0**3,
}

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: NOT not_expr -> not_
         | comparison
?comparison: sum (COMP_OP sum)?
?sum: product (ADD_OP product)*
?product: unary (MUL_OP unary)*
?unary: NEG unary -> neg
      | atom
?atom: QUANTITY -> number
     | TRUE -> true
     | FALSE -> false
     | metric
     | "(" or_expr ")"
metric: NAME segment*
segment: "." NAME (":" NAME)? -> field
       | "[" STRING "]" -> index

_OR.2: /or\b/
_AND.2: /and\b/
NOT.2: /not\b/
TRUE.2: /true\b/
FALSE.2: /false\b/
COMP_OP: "<=" | ">=" | "==" | "!=" | "<" | ">"
ADD_OP: "+" | "-"
NEG.0: "-"
MUL_OP: "*" | "/"
QUANTITY: /(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?(ns|us|µs|ms|min|s|KiB|MiB|GiB|KB|kB|MB|GB|B)?(?![A-Za-z0-9_])/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"[^"\\\n]*"/ | /'[^'\\\n]*'/
%ignore /[ \t\r\n]+/
"""


class ExpressionError(ValueError):
    """A condition that does not parse or type-check; `column` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} (column {column})")
        self.message = message
        self.column = column


# -- the tree -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Number:
    value: float
    text: str = field(default="", compare=False)  # as written (`200ms`); equality is by value
    column: int = field(default=0, compare=False)



@dataclass(frozen=True)
class Boolean:
    value: bool
    column: int = field(default=0, compare=False)  # 1-based; not part of equality



@dataclass(frozen=True)
class Metric:
    """A metric path: `("spans", "syscall:read", "count")` for `spans["syscall:read"].count`."""

    path: tuple[str, ...]
    column: int = field(default=0, compare=False)  # 1-based; not part of equality

    @property
    def name(self) -> str:
        return format_path(self.path)



@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "not"
    operand: "Node"
    column: int = field(default=0, compare=False)  # 1-based; not part of equality



@dataclass(frozen=True)
class Binary:
    op: str  # + - * / < <= > >= == != and or
    left: "Node"
    right: "Node"
    column: int = field(default=0, compare=False)  # 1-based; not part of equality



Node = Union[Number, Boolean, Metric, Unary, Binary]

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
#: Binding strength: a higher number binds tighter.
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, **{op: 4 for op in COMPARISONS}, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}


def format_path(path: tuple[str, ...]) -> str:
    """`spans["syscall:read"].count`: plain names dotted, anything else as a quoted index."""
    out = path[0]
    for part in path[1:]:
        out += f".{part}" if part.isidentifier() else f'["{part}"]'
    return out


def _number_text(value: float) -> str:
    return repr(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def to_text(node: Node, parent: int = 0) -> str:
    """Text that parses back to the same tree, with parentheses only where precedence needs them."""
    if isinstance(node, Number):
        return _number_text(node.value)
    if isinstance(node, Boolean):
        return "true" if node.value else "false"
    if isinstance(node, Metric):
        return node.name
    if isinstance(node, Unary):
        strength = _PRECEDENCE["not" if node.op == "not" else "neg"]
        inner = to_text(node.operand, strength)
        text = f"not {inner}" if node.op == "not" else f"-{inner}"
        return f"({text})" if strength < parent else text
    strength = _PRECEDENCE[node.op]
    # left-associative: the right operand needs parentheses at equal strength; comparisons never chain
    left = to_text(node.left, strength + (1 if node.op in COMPARISONS else 0))
    right = to_text(node.right, strength + 1)
    text = f"{left} {node.op} {right}"
    return f"({text})" if strength < parent else text


# -- parsing --------------------------------------------------------------------------------------
@cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _quantity(text: str) -> float:
    for unit in sorted(UNITS, key=len, reverse=True):
        if text.endswith(unit) and not text[: -len(unit)].endswith(("e", "E")):
            return float(text[: -len(unit)]) * UNITS[unit]
    return float(text)


@v_args(meta=True)
class _Build(Transformer):
    def number(self, meta: Any, children: list[Any]) -> Any:
        token: Token = children[0]
        column = token.column or 0
        value = _quantity(str(token))
        if not math.isfinite(value):
            raise ExpressionError(f"number {token!s} is out of range", column)
        return Number(value, str(token), column)

    def true(self, meta: Any, children: list[Any]) -> Any:
        return Boolean(True, meta.column)

    def false(self, meta: Any, children: list[Any]) -> Any:
        return Boolean(False, meta.column)

    def field(self, meta: Any, children: list[Any]) -> Any:
        return ":".join(str(c) for c in children)

    def index(self, meta: Any, children: list[Any]) -> Any:
        return str(children[0])[1:-1]

    def metric(self, meta: Any, children: list[Any]) -> Any:
        return Metric((str(children[0]), *children[1:]), meta.column)

    def not_(self, meta: Any, children: list[Any]) -> Any:
        return Unary("not", children[1], meta.column)

    def neg(self, meta: Any, children: list[Any]) -> Any:
        return Unary("-", children[1], meta.column)

    def _fold(self, meta: Any, children: list[Any]) -> Any:
        node, rest = children[0], children[1:]
        while rest:
            op, right, rest = str(rest[0]), rest[1], rest[2:]
            node = Binary(op, node, right, _column(node))
        return node

    def comparison(self, meta: Any, children: list[Any]) -> Any:
        return Binary(str(children[1]), children[0], children[2], _column(children[0]))

    sum = product = _fold

    def or_expr(self, meta: Any, children: list[Any]) -> Any:
        return self._join("or", children)

    def and_expr(self, meta: Any, children: list[Any]) -> Any:
        return self._join("and", children)

    @staticmethod
    def _join(op: str, children: list[Any]) -> Node:
        node = children[0]
        for right in children[1:]:
            node = Binary(op, node, right, _column(node))
        return node


def _column(node: Node) -> int:
    return node.column


_EXPECTED_NAMES = {
    "QUANTITY": "a number", "NAME": "a metric", "STRING": "a quoted name", "LPAR": "'('", "RPAR": "')'",
    "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "'*' or '/'", "NEG": "'-'", "NOT": "'not'",
    "TRUE": "'true'", "FALSE": "'false'", "_AND": "'and'", "_OR": "'or'", "DOT": "'.'", "LSQB": "'['",
    "RSQB": "']'", "COLON": "':'", "$END": "the end",
}


def _expected(names: set[str]) -> str:
    words = sorted({_EXPECTED_NAMES.get(n, n.lower()) for n in names})
    return ", ".join(words[:6]) + (", …" if len(words) > 6 else "")


def parse(text: str) -> Node:
    """The tree of `text`; `ExpressionError` with a 1-based column when it does not parse."""
    if not text.strip():
        raise ExpressionError("empty condition", 1)
    if "\n" in text.strip():
        raise ExpressionError("a condition is one line", text.index("\n") + 1)
    try:
        tree = _parser().parse(text)
        return _Build().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, ExpressionError):
            raise exc.orig_exc from None
        raise
    except UnexpectedCharacters as exc:
        where = exc.pos_in_stream if exc.pos_in_stream is not None else max(0, exc.column - 1)
        raise ExpressionError(f"unexpected character {text[where]!r}", exc.column) from None
    except UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            raise ExpressionError(f"unexpected end of condition, expected {_expected(exc.expected)}", len(text) + 1) from None
        raise ExpressionError(f"unexpected {str(token)!r}, expected {_expected(exc.expected)}", token.column) from None
    except UnexpectedEOF as exc:
        raise ExpressionError(f"unexpected end of condition, expected {_expected(set(exc.expected))}", len(text) + 1) from None
    except UnexpectedInput as exc:  # pragma: no cover - the three above are all lark raises
        raise ExpressionError(str(exc).splitlines()[0], getattr(exc, "column", 1) or 1) from None


# -- checking and evaluation ----------------------------------------------------------------------
def kind_of(node: Node) -> str:
    """"number" or "bool"; `ExpressionError` at the first operand of the wrong kind."""
    if isinstance(node, (Number, Metric)):
        return "number"
    if isinstance(node, Boolean):
        return "bool"
    if isinstance(node, Unary):
        want = "bool" if node.op == "not" else "number"
        _expect(node.operand, want, node.op)
        return want
    if node.op in ("and", "or"):
        _expect(node.left, "bool", node.op)
        _expect(node.right, "bool", node.op)
        return "bool"
    _expect(node.left, "number", node.op)
    _expect(node.right, "number", node.op)
    return "bool" if node.op in COMPARISONS else "number"


def _expect(node: Node, want: str, op: str) -> None:
    got = kind_of(node)
    if got != want:
        what = "a comparison or true/false" if want == "bool" else "a number or metric"
        raise ExpressionError(f"'{op}' needs {what} here, not {to_text(node)!r}", node.column or 1)


def metrics_of(node: Node) -> list[Metric]:
    """Every metric the condition reads, in reading order."""
    if isinstance(node, Metric):
        return [node]
    if isinstance(node, Unary):
        return metrics_of(node.operand)
    if isinstance(node, Binary):
        return metrics_of(node.left) + metrics_of(node.right)
    return []


class EvaluationError(ValueError):
    """A condition that cannot be decided on this trace (missing metric, division by zero)."""


def evaluate(node: Node, lookup: Callable[[Metric], float]) -> float | bool:
    """The value of `node`; `lookup` gives a metric's value or raises EvaluationError."""
    if isinstance(node, (Number, Boolean)):
        return node.value
    if isinstance(node, Metric):
        return lookup(node)
    if isinstance(node, Unary):
        value = evaluate(node.operand, lookup)
        return (not value) if node.op == "not" else -value
    if node.op == "and":
        return bool(evaluate(node.left, lookup)) and bool(evaluate(node.right, lookup))
    if node.op == "or":
        return bool(evaluate(node.left, lookup)) or bool(evaluate(node.right, lookup))
    a = evaluate(node.left, lookup)
    b = evaluate(node.right, lookup)
    op = node.op
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            raise EvaluationError(f"division by zero: {to_text(node.right)} is 0 (column {node.right.column or 1})")
        return a / b
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]
