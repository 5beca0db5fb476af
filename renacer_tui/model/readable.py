"""How a duration, a signal, an exit or an error reads to a person: one wording for every screen,
CLI, report and text output, so the same span reads the same everywhere."""

from __future__ import annotations

import signal

#: strace's `-s` default: how many bytes of a string or buffer an argument shows.
STRING_LIMIT = 32


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


def signal_name(signo: int) -> str:
    """`SIGCHLD`; real-time signals by the kernel's numbering as strace spells them (`SIGRTMIN` is
    32, then `SIGRT_1`…: glibc's SIGRTMIN, 34, is `SIGRT_2`), unknown numbers as digits."""
    if KERNEL_RTMIN <= signo <= signal.SIGRTMAX:
        return "SIGRTMIN" if signo == KERNEL_RTMIN else f"SIGRT_{signo - KERNEL_RTMIN}"
    try:
        return signal.Signals(signo).name
    except ValueError:
        return str(signo)


#: The kernel's first real-time signal; strace counts SIGRT_n from it.
KERNEL_RTMIN = 32


def describe_exit(code: int, killed_by: str | None = None) -> str:
    """The program state for an exit code (negative or 128+N: killed by a signal).

    `killed_by` is what the trace says killed the program (the capture's own exit code is 128+N
    then, which a program could also return on purpose).
    """
    if killed_by:
        return f"killed by {killed_by}"
    if code < 0:
        return f"killed by {signal_name(-code)}"
    if 128 < code <= 128 + 64:
        return f"exited with code {code} ({signal_name(code - 128)}?)"
    return f"exited with code {code}"
