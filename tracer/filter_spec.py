"""strace's `-e trace=` / `-e status=` / `-e signal=` expressions, parsed into sets of x86-64
syscalls, statuses and signal numbers.

The capture loop needs syscall *numbers* (for the seccomp-bpf filter, so untraced calls never
stop the program) and the span builder needs a name predicate (for `-p`, where seccomp cannot be
installed in an already-running process).  Both come from one `SyscallFilter`.

Syscall classes are derived from python-ptrace's tables where they can say (a `%file` syscall
takes a filename argument, a `%desc` syscall takes a file descriptor); where the tables cannot
(newer syscalls without prototypes, or classes defined by intent such as `%process`) a short
list cross-checked with strace's `syscallent` flags fills in.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from renacer_tui.model.readable import KERNEL_RTMIN
from renacer_tui.model.syscalls import (
    ALL_NAMES,
    BARE_CLASSES,
    SYSCALL_CLASSES,
    SYSCALL_NAMES,
    SYSCALL_NUMBERS,
)

T = TypeVar("T")


class FilterSpecError(ValueError):
    """A `-e` expression that cannot be understood; `str()` is a one-line message."""




@dataclass(frozen=True)
class SyscallFilter:
    """A set of traced syscalls: names for the builder, x86-64 numbers for seccomp."""

    names: frozenset[str]

    @property
    def numbers(self) -> frozenset[int]:
        return frozenset(SYSCALL_NUMBERS[n] for n in self.names)

    def matches(self, name: str) -> bool:
        return name in self.names

    def matches_nr(self, nr: int) -> bool:
        name = SYSCALL_NAMES.get(nr)
        return name is not None and name in self.names

    def complement(self) -> "SyscallFilter":
        return SyscallFilter(ALL_NAMES - self.names)

    @property
    def is_all(self) -> bool:
        return self.names == ALL_NAMES


def _parse_atom(atom: str) -> frozenset[str]:
    if atom in ("all", "%all"):
        return ALL_NAMES
    if atom == "none":
        return frozenset()
    if len(atom) >= 2 and atom.startswith("/"):
        pattern = atom[1:-1] if atom.endswith("/") and len(atom) > 2 else atom[1:]
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise FilterSpecError(f"invalid regular expression /{pattern}/: {exc}") from None
        return frozenset(n for n in ALL_NAMES if rx.search(n))
    if atom.startswith("%"):
        cls = atom[1:]
        if cls in SYSCALL_CLASSES:
            return SYSCALL_CLASSES[cls]
        raise FilterSpecError(f"unknown syscall class {atom!r}")
    optional = atom.startswith("?")
    name = atom[1:] if optional else atom
    if not name:
        raise FilterSpecError("'?' must be followed by a syscall name")
    if name in ALL_NAMES:
        return frozenset({name})
    if name in BARE_CLASSES:
        return SYSCALL_CLASSES[name]
    if optional:
        return frozenset()
    raise FilterSpecError(f"unknown syscall name {name!r}")


def parse_trace_spec(text: str) -> SyscallFilter:
    """Parse the value of `-e trace=` (without the `trace=` prefix).

    `!` before the whole list negates it (strace's rule); `?name` ignores an unknown name.
    """
    spec = text.strip()
    negate = spec.startswith("!")
    if negate:
        spec = spec[1:].strip()
    if not spec:
        raise FilterSpecError("empty syscall set in trace= expression")
    names: frozenset[str] = frozenset()
    for raw in spec.split(","):
        atom = raw.strip()
        if not atom:
            raise FilterSpecError(f"empty element in trace= expression {text!r}")
        names |= _parse_atom(atom)
    result = SyscallFilter(names)
    return result.complement() if negate else result


STATUS_VALUES = frozenset({"successful", "failed", "unfinished", "unavailable", "detached"})


def _parse_set(text: str, qualifier: str, universe: frozenset[T], word: Callable[[str], T]) -> frozenset[T]:
    """strace's set syntax: comma-separated words, `all`, `none`, `!` before the whole list."""
    spec = text.strip()
    negate = spec.startswith("!")
    if negate:
        spec = spec[1:].strip()
    if not spec:
        raise FilterSpecError(f"empty {qualifier} set in {qualifier}= expression")
    kept: set[T] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if item == "all":
            kept |= universe
        elif item != "none":
            kept.add(word(item))
    return frozenset(universe - kept) if negate else frozenset(kept)


def _status_word(word: str) -> str:
    if word not in STATUS_VALUES:
        raise FilterSpecError(f"unknown status {word!r} (expected successful, failed, unfinished, unavailable, detached)")
    return word


def parse_status_spec(text: str) -> frozenset[str]:
    """Parse `-e status=` into the set of kept statuses (`all`, `none`, `!` as strace)."""
    return _parse_set(text, "status", STATUS_VALUES, _status_word)


#: Every signal number Linux delivers (1–31 and the real-time ones).
ALL_SIGNALS = frozenset(range(1, signal.SIGRTMAX + 1))


def signal_number(word: str) -> int:
    """A signal named as strace takes it: `SIGUSR1`, `usr1`, `10`, `SIGRTMIN` (the kernel's, 32),
    `SIGRT_2` (34: glibc's SIGRTMIN)."""
    if word.isascii() and word.isdigit():  # `str.isdigit` also takes "¹"
        number = int(word)
        if number in ALL_SIGNALS:
            return number
        raise FilterSpecError(f"unknown signal {word!r}")
    name = word.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    realtime = re.fullmatch(r"SIGRT(?:MIN)?(?:_|\+)?(\d*)", name)
    if realtime and name != "SIGRTMAX" and (realtime[1] or name == "SIGRTMIN"):
        number = KERNEL_RTMIN + int(realtime[1] or 0)
        if number <= signal.SIGRTMAX:
            return number
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise FilterSpecError(f"unknown signal {word!r}") from None


def parse_signal_spec(text: str) -> frozenset[int]:
    """Parse `-e signal=` into the signal numbers whose deliveries are recorded (names with or
    without SIG, numbers, `all`, `none`, `!` as strace)."""
    return _parse_set(text, "signal", ALL_SIGNALS, signal_number)


class FdSet(NamedTuple):
    """The fds of `-e read=` / `-e write=`: these numbers, or every fd but these (`all`, `!3`)."""

    fds: frozenset[int]
    negated: bool = False

    def __contains__(self, fd: object) -> bool:
        return (fd in self.fds) != self.negated


def _fd_word(word: str) -> int:
    if not (word.isascii() and word.isdigit()):
        raise FilterSpecError(f"invalid descriptor {word!r}")
    return int(word)


def parse_fd_spec(text: str, qualifier: str) -> FdSet:
    """Parse `-e read=` / `-e write=`: fd numbers, `all`, `none`, `!` before the whole list."""
    spec = text.strip()
    negated = spec.startswith("!")
    spec = spec[1:].strip() if negated else spec
    if not spec:
        raise FilterSpecError(f"empty descriptor set in {qualifier}= expression")
    words = [word.strip() for word in spec.split(",")]
    if "all" in words:
        return FdSet(frozenset(), not negated)
    return FdSet(frozenset(_fd_word(word) for word in words if word != "none"), negated)


class Expression(NamedTuple):
    """One parsed `-e` argument; unpacks as `(qualifier, value)`."""

    qualifier: str  # "trace" | "status" | "signal" | "inject" | "read" | "write"
    value: Any  # SyscallFilter, a set of statuses or signal numbers, an Injection


def parse_expression(text: str) -> Expression:
    """Parse a whole `-e` argument: `trace=…`, `status=…`, or a bare set (meaning trace=)."""
    qualifier, sep, value = text.partition("=")
    if not sep:
        return Expression("trace", parse_trace_spec(text))
    qualifier = qualifier.strip()
    if qualifier in ("trace", "t"):
        return Expression("trace", parse_trace_spec(value))
    if qualifier == "status":
        return Expression("status", parse_status_spec(value))
    if qualifier in ("signal", "signals", "s"):
        return Expression("signal", parse_signal_spec(value))
    if qualifier == "inject":
        from renacer_tui.tracer.inject import parse_inject_spec  # it builds on this module

        return Expression("inject", parse_inject_spec(value))
    if qualifier in ("read", "reads", "r", "write", "writes", "w"):
        direction = "read" if qualifier.startswith("r") else "write"
        return Expression(direction, parse_fd_spec(value, direction))
    raise FilterSpecError(f"unsupported -e qualifier {qualifier!r} (expected trace=, status=, signal=, inject=, "
                          "read= or write=)")
