"""strace `-e trace=`/`status=`/`signal=` parsing against python-ptrace's real syscall tables."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renacer_tui.tracer.filter_spec import (
    ALL_NAMES,
    ALL_SIGNALS,
    SYSCALL_CLASSES,
    SYSCALL_NUMBERS,
    FilterSpecError,
    parse_expression,
    parse_signal_spec,
    parse_status_spec,
    parse_trace_spec,
)

NAMES = sorted(ALL_NAMES)
CLASS_WORDS = sorted(f"%{c}" for c in SYSCALL_CLASSES)


def test_known_numbers_are_x86_64() -> None:
    f = parse_trace_spec("read,write,openat,execve,clone3")
    assert f.numbers == {0, 1, 257, 59, 435}
    assert f.matches("openat") and not f.matches("close")
    assert f.matches_nr(0) and not f.matches_nr(3)


def test_file_class_is_derived_from_filename_arguments() -> None:
    f = parse_trace_spec("%file")
    for name in ("open", "openat", "stat", "execve", "unlink", "rename", "chdir", "openat2"):
        assert f.matches(name), name
    for name in ("read", "write", "close", "mmap", "fstat"):
        assert not f.matches(name), name


def test_classes_match_strace_intent() -> None:
    assert {"read", "write", "close", "dup2", "pipe2"} <= parse_trace_spec("%desc").names
    assert {"clone", "fork", "vfork", "execve", "wait4", "exit_group"} <= parse_trace_spec("%process").names
    assert {"socket", "connect", "accept4", "sendto"} <= parse_trace_spec("%network").names
    assert parse_trace_spec("%net") == parse_trace_spec("%network")
    assert {"kill", "rt_sigaction", "tgkill"} <= parse_trace_spec("%signal").names
    assert {"shmget", "semop", "msgsnd"} <= parse_trace_spec("%ipc").names
    assert {"mmap", "munmap", "brk", "mprotect"} <= parse_trace_spec("%memory").names
    assert "read" not in parse_trace_spec("%memory").names
    assert {"getpid", "gettid"} <= parse_trace_spec("%pure").names


@pytest.mark.parametrize("word", ["file", "network", "process", "memory"])
def test_bare_class_words(word: str) -> None:
    assert parse_trace_spec(word) == parse_trace_spec("%" + word)


def test_all_none_regex() -> None:
    assert parse_trace_spec("all").names == ALL_NAMES
    assert parse_trace_spec("none").names == frozenset()
    assert parse_trace_spec("!none").names == ALL_NAMES
    assert parse_trace_spec("/^read/").names == {n for n in NAMES if n.startswith("read")}
    assert parse_trace_spec("?no_such_call,read").names == {"read"}


@pytest.mark.parametrize(
    "bad", ["", "!", "bogus_call", "%nope", "/[unclosed/", "read,,write", "read,%", "?", "%"]
)
def test_bad_specs_raise_one_line(bad: str) -> None:
    with pytest.raises(FilterSpecError) as info:
        parse_trace_spec(bad)
    assert "\n" not in str(info.value) and str(info.value)


def test_status_and_expression() -> None:
    assert parse_status_spec("failed") == {"failed"}
    assert parse_status_spec("successful,failed") == {"successful", "failed"}
    assert "failed" not in parse_status_spec("!failed")
    assert parse_status_spec("none") == frozenset()
    kind, value = parse_expression("status=failed")
    assert kind == "status" and value == {"failed"}
    kind, value = parse_expression("trace=%file")
    assert kind == "trace" and value == parse_trace_spec("%file")
    assert parse_expression("openat") == ("trace", parse_trace_spec("openat"))
    for bad in ("status=maybe", "verbose=all", "trace=nope"):
        with pytest.raises(FilterSpecError):
            parse_expression(bad)


@given(st.sampled_from(NAMES))
def test_every_table_name_parses(name: str) -> None:
    f = parse_trace_spec(name)
    assert f.names == {name}
    assert f.numbers == {SYSCALL_NUMBERS[name]}


@given(st.lists(st.sampled_from(NAMES + CLASS_WORDS), min_size=1, max_size=8))
def test_negation_is_the_complement(atoms: list[str]) -> None:
    spec = ",".join(atoms)
    pos, neg = parse_trace_spec(spec), parse_trace_spec("!" + spec)
    assert pos.names | neg.names == ALL_NAMES
    assert not pos.names & neg.names
    assert not pos.numbers & neg.numbers


@given(st.sets(st.sampled_from(NAMES), min_size=1, max_size=20))
def test_round_trip_of_name_lists(names: set[str]) -> None:
    f = parse_trace_spec(",".join(sorted(names)))
    assert f.names == names
    assert parse_trace_spec(",".join(sorted(f.names))) == f


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_garbage_raises_only_filter_spec_error(text: str) -> None:
    try:
        f = parse_trace_spec(text)
    except FilterSpecError as exc:
        assert "\n" not in str(exc) or "\n" in text
    else:
        assert f.names <= ALL_NAMES


#: The stdlib's names but glibc's SIGRTMIN/SIGRTMAX (34, 64): strace counts those from the kernel's 32.
SIGNAL_NAMES = sorted(sig.name for sig in signal.Signals
                      if sig.name.startswith("SIG") and not sig.name.startswith(("SIG_", "SIGRT")))


@given(st.lists(st.sampled_from(SIGNAL_NAMES), min_size=1, max_size=5), st.booleans(), st.booleans())
def test_signal_sets_name_the_stdlib_signals(names: list[str], short: bool, negate: bool) -> None:
    words = [name.removeprefix("SIG").lower() if short else name for name in names]
    numbers = {int(signal.Signals[name]) for name in names}
    parsed = parse_signal_spec(("!" if negate else "") + ",".join(words))
    assert parsed == (ALL_SIGNALS - numbers if negate else numbers)
    assert parse_expression("signal=" + ",".join(words)) == ("signal", parse_signal_spec(",".join(words)))


def test_signal_set_words() -> None:
    assert parse_signal_spec("all") == ALL_SIGNALS and parse_signal_spec("none") == frozenset()
    assert parse_signal_spec("9,SIGRTMIN,SIGRT_1,SIGRT_2") == {9, 32, 33, 34}  # strace's: the kernel's numbering
    for bad in ("SIGNOPE", "0", "65", "", "!", "SIGCHLD,,SIGUSR1", "¹", "SIGRT_99"):
        with pytest.raises(FilterSpecError):
            parse_signal_spec(bad)


@given(st.text(max_size=30))
def test_any_signal_spec_parses_or_is_refused_with_a_message(text: str) -> None:
    try:
        parsed = parse_signal_spec(text)
    except FilterSpecError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert parsed <= ALL_SIGNALS
