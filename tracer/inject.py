"""strace's fault injection (`-e inject=SET:error=ERRNO|retval=N|signal=SIG[:when=EXPR]`).

Parsed here; carried out by the stop loop (`tracer.capture`): at the entry of a chosen call the
syscall number is replaced by -1, so the kernel runs nothing, and at its exit the return value is
set to `-ERRNO` or `N`; `signal=` sends the signal to the task once the call returns.  `when=`
counts the calls of each syscall per task, as strace does: `3` (the third only), `3+` (the third
and every one after), `3+2` (every second from the third), `3..5`, `3..9+2`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from renacer_tui.tracer import formats as F
from renacer_tui.tracer.filter_spec import FilterSpecError, parse_trace_spec, signal_number

_WHEN = re.compile(r"(\d+)(?:\.\.(\d+))?(?:\+(\d*))?")
_RETVAL_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Injection:
    """One `-e inject=` expression: which calls, what to do, on which of their invocations."""

    numbers: frozenset[int]
    error: int | None = None  # errno to return (the call does not run)
    retval: int | None = None  # value to return (the call does not run)
    signal: int | None = None  # signal to send once the call returns
    first: int = 1
    last: int | None = None
    step: int = 1  # 0: only `first`

    def applies(self, count: int) -> bool:
        """Whether the `count`-th call (from 1) of the syscall in its task is injected."""
        if count < self.first or (self.last is not None and count > self.last):
            return False
        if self.step == 0:
            return count == self.first
        return (count - self.first) % self.step == 0

    @property
    def replaces_call(self) -> bool:
        """Whether the call is skipped and its result set (error= or retval=)."""
        return self.error is not None or self.retval is not None

    def result(self) -> int:
        """The value the call returns: -ERRNO or N."""
        return -self.error if self.error is not None else (self.retval or 0)


def parse_inject_spec(text: str) -> Injection:
    """`SET:action[:action…]`; raises FilterSpecError with a one-line message."""
    head, _, rest = text.partition(":")
    if not head.strip():
        raise FilterSpecError("inject= needs a syscall set before ':'")
    numbers = parse_trace_spec(head).numbers
    fields: dict[str, str] = {}
    for part in rest.split(":") if rest else []:
        key, eq, value = part.partition("=")
        if not eq or key not in ("error", "retval", "signal", "when"):
            raise FilterSpecError(f"inject= expects error=, retval=, signal= or when=, not {part!r}")
        if key in fields:
            raise FilterSpecError(f"inject= gives {key}= twice")
        fields[key] = value
    if not ({"error", "retval", "signal"} & fields.keys()):
        raise FilterSpecError("inject= needs error=ERRNO, retval=N or signal=SIG")
    if "error" in fields and "retval" in fields:
        raise FilterSpecError("inject= takes error= or retval=, not both")
    error = _errno(fields["error"]) if "error" in fields else None
    retval = _retval(fields["retval"]) if "retval" in fields else None
    sig = signal_number(fields["signal"]) if "signal" in fields else None
    first, last, step = _when(fields.get("when", "1+"))
    return Injection(numbers, error, retval, sig, first, last, step)


def _errno(word: str) -> int:
    if word.isascii() and word.isdigit() and 0 < int(word) < 4096:
        return int(word)
    code = F.errno_code(word) if word.startswith("E") else None
    if code is not None:
        return code
    raise FilterSpecError(f"inject= error={word!r}: not an errno name or number (1-4095)")


def _retval(word: str) -> int:
    if word.isascii() and word.isdigit() and int(word) <= _RETVAL_MAX:
        return int(word)
    raise FilterSpecError(f"inject= retval={word!r}: expected a non-negative number")


def _when(word: str) -> tuple[int, int | None, int]:
    found = _WHEN.fullmatch(word) if word.isascii() else None
    if found is None or int(found[1]) < 1:
        raise FilterSpecError(f"inject= when={word!r}: expected FIRST[..LAST][+[STEP]] (from 1)")
    first = int(found[1])
    last = int(found[2]) if found[2] is not None else None
    if last is not None and last < first:
        raise FilterSpecError(f"inject= when={word!r}: LAST is before FIRST")
    plus = word.endswith("+") or found[3] not in (None, "")
    step = int(found[3]) if found[3] else (1 if plus else 0)
    if last is not None and not plus:
        step = 1  # FIRST..LAST: every call in the range
    if plus and step < 1:
        raise FilterSpecError(f"inject= when={word!r}: STEP must be at least 1")
    return first, last, step
