"""The DWARF expressions of unwind rules: glibc's real ones, read from the C library the tests run
on, evaluated over registers and a stack made up for them; and any expression, fuzzed."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renacer_tui.tracer.symbols.cfi_expr import compile_expr, evaluate
from renacer_tui.tracer.symbols.elf import REG_RA, REG_RBP, REG_RSP, WALK_REGISTERS, ImageCache

LIBC = next((p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6") if Path(p).exists()),
            None)


class Op:
    """A parsed operation as pyelftools gives one."""

    def __init__(self, name: str, *args: int) -> None:
        self.op_name, self.args = name, list(args)


def test_the_plt_rule_picks_its_cfa_by_where_rip_is() -> None:
    """gcc's PLT rule: CFA = rsp + 8 + ((rip & 15) >= 11) * 8."""
    plt = compile_expr([Op("DW_OP_breg7", 8), Op("DW_OP_breg16", 0), Op("DW_OP_lit15"), Op("DW_OP_and"),
                        Op("DW_OP_lit11"), Op("DW_OP_ge"), Op("DW_OP_lit3"), Op("DW_OP_shl"), Op("DW_OP_plus")],
                       WALK_REGISTERS)
    assert plt is not None
    assert evaluate(plt, {REG_RSP: 0x1000, REG_RA: 0x4020}, lambda a: None) == 0x1008
    assert evaluate(plt, {REG_RSP: 0x1000, REG_RA: 0x402B}, lambda a: None) == 0x1010


def test_an_expression_on_a_register_the_walk_does_not_know_is_not_compiled() -> None:
    assert compile_expr([Op("DW_OP_breg3", 0)], WALK_REGISTERS) is None  # rbx
    assert compile_expr([Op("DW_OP_bra", 2)], WALK_REGISTERS) is None  # control flow


def test_the_signal_trampolines_rules_read_the_interrupted_registers_from_the_ucontext() -> None:
    if LIBC is None:
        pytest.skip("no glibc at the usual path")
    image = ImageCache().get(LIBC)
    assert image is not None
    # glibc's signal trampoline: the FDE whose rule is a signal frame with a CFA expression
    found = None
    for vaddr in image._table_locs:
        rule = image.cfa_rule(vaddr)
        if rule is not None and rule.signal and rule.cfa_expr is not None:
            found = rule
            break
    assert found is not None and found.ra_expr is not None and found.rbp_expr is not None
    sp = 0x7FFF0000
    stack = {sp + 160: 0x7FFF8000, sp + 168: 0x401234, sp + 120: 0x7FFF9000}  # rsp, rip, rbp in uc_mcontext
    registers = {REG_RSP: sp, REG_RBP: 1, REG_RA: 2}
    assert evaluate(found.cfa_expr, registers, stack.get) == 0x7FFF8000
    assert stack.get(evaluate(found.ra_expr, registers, stack.get)) == 0x401234
    assert stack.get(evaluate(found.rbp_expr, registers, stack.get)) == 0x7FFF9000


names = st.sampled_from(["DW_OP_plus", "DW_OP_minus", "DW_OP_and", "DW_OP_shl", "DW_OP_ge", "DW_OP_deref",
                         "DW_OP_dup", "DW_OP_drop", "DW_OP_swap", "DW_OP_over", "DW_OP_lit3", "DW_OP_breg7",
                         "DW_OP_plus_uconst", "DW_OP_const8s", "DW_OP_shra", "DW_OP_mul"])


@given(st.lists(st.tuples(names, st.integers(-2**63, 2**64 - 1)), max_size=12),
       st.dictionaries(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), max_size=4))
def test_any_expression_gives_a_64_bit_value_or_none(ops: list[tuple[str, int]], memory: dict[int, int]) -> None:
    expr = compile_expr([Op(name, arg) if name in ("DW_OP_breg7", "DW_OP_plus_uconst", "DW_OP_const8s") else Op(name)
                         for name, arg in ops], WALK_REGISTERS)
    if expr is None:
        assert not ops
        return
    value = evaluate(expr, {REG_RSP: 0x1000, REG_RBP: 0x2000, REG_RA: 0x3000}, memory.get)
    assert value is None or 0 <= value < 2**64


def test_deref_reads_the_word_at_the_address_on_the_stack() -> None:
    raw = struct.pack("<Q", 0x1122334455667788)
    expr = compile_expr([Op("DW_OP_breg7", 0), Op("DW_OP_deref")], WALK_REGISTERS)
    assert expr is not None
    assert evaluate(expr, {REG_RSP: 8}, lambda a: struct.unpack("<Q", raw)[0] if a == 8 else None) == 0x1122334455667788
