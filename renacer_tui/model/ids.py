"""W3C trace and span ids: the one validation and the one generator every layer uses.

Ids are lower-case hex text (the spec's SQL compares them as strings).  Generation uses
os.urandom directly, which is what OpenTelemetry's RandomIdGenerator and `secrets` do, without
importing either (they pull in hmac and OpenSSL's hashlib: start-up the traced program waits for).
"""

from __future__ import annotations

import os

TRACE_ID_HEX = 32
SPAN_ID_HEX = 16
_HEX = frozenset("0123456789abcdef")


def _valid(value: object, width: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == width
        and _HEX.issuperset(value)
        and value != "0" * width
    )


def is_valid_trace_id(value: object) -> bool:
    """32 lower-case hex digits, not all zeros (W3C trace-context §3.2.2.3)."""
    return _valid(value, TRACE_ID_HEX)


def is_valid_span_id(value: object) -> bool:
    """16 lower-case hex digits, not all zeros."""
    return _valid(value, SPAN_ID_HEX)


def normalize_trace_id(text: str) -> str | None:
    """`text` stripped and lower-cased when that is a valid trace id, else None.

    For ids a person typed (upper-case hex copied from a UI is the same id); ids read from a
    W3C header must already be lower case and go through `is_valid_trace_id` as they are.
    """
    value = text.strip().lower()
    return value if is_valid_trace_id(value) else None


def random_nonzero(bits: int) -> int:
    """Random `bits` bits, never zero (the invalid id)."""
    while True:
        value = int.from_bytes(os.urandom(bits // 8), "big")
        if value:
            return value


def new_trace_id() -> str:
    """A fresh random trace id: 32 lower-case hex digits, never all zeros."""
    return f"{random_nonzero(128):032x}"


def new_span_id() -> str:
    """A fresh random span id: 16 lower-case hex digits, never all zeros."""
    return f"{random_nonzero(64):016x}"


def new_span_prefix() -> str:
    """The 8 random hex digits a run puts before its logical clock in every span id it makes.

    `<prefix><8 hex clock>` is unique within the trace and never zero (the prefix is not).
    """
    return f"{random_nonzero(32):08x}"
