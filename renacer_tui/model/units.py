"""How a duration or an error reads to a person: one formatter for every screen, CLI and report,
so the same span shows the same number everywhere."""

from __future__ import annotations


def format_duration(ns: int | float) -> str:
    """Three significant digits in the unit that fits: 950ns, 87.0µs, 12.3ms, 143ms, 1.20s."""
    value = float(ns)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1e9:
        return f"{sign}{value / 1e9:.2f}s"
    if value >= 1e6:
        return f"{sign}{value / 1e6:.1f}ms" if value < 1e8 else f"{sign}{value / 1e6:.0f}ms"
    if value >= 1e3:
        return f"{sign}{value / 1e3:.1f}µs"
    return f"{sign}{value:.0f}ns"


def one_line(exc: BaseException, with_type: bool = False) -> str:
    """The first line of an exception's text (its type name when it has none); `with_type`
    prefixes the type, for errors that are ours rather than the user's."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not first:
        return type(exc).__name__
    return f"{type(exc).__name__}: {first}" if with_type else first
