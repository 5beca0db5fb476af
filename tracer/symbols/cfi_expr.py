"""The DWARF expressions of `.eh_frame` unwind rules, evaluated at the stop.

Most frames are left by "CFA = rsp/rbp + offset", but two kinds that a stack at a syscall
passes through say it with an expression: a signal handler's return trampoline (glibc's
`__restore_rt`: "CFA = *(rsp + 160)", every register "at rsp + N", from the kernel's
`ucontext`) and PLT stubs (the CFA depends on where in the stub rip is). Without them the walk
from a syscall made in a signal handler lost the interrupted frames, which strace -k shows.

The expression is decoded once per FDE with pyelftools' parser; evaluating it needs only the
registers the walk tracks (rsp, rbp, rip) and a word reader, so it runs in the stop loop. An
expression using anything else is not compiled, and its frame is left as before (frame pointers).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

#: One operation: its DWARF name and arguments, as pyelftools' DWARFExprParser gives them.
Op = tuple[str, tuple[int, ...]]
Expr = tuple[Op, ...]

_MASK = (1 << 64) - 1
_SIGN = 1 << 63


def _signed(value: int) -> int:
    return value - (1 << 64) if value & _SIGN else value


#: Binary operations on the two top entries (the second from the top first, as DWARF orders them).
_BINARY: dict[str, Callable[[int, int], int]] = {
    "DW_OP_plus": lambda a, b: a + b,
    "DW_OP_minus": lambda a, b: a - b,
    "DW_OP_mul": lambda a, b: a * b,
    "DW_OP_and": lambda a, b: a & b,
    "DW_OP_or": lambda a, b: a | b,
    "DW_OP_xor": lambda a, b: a ^ b,
    "DW_OP_shl": lambda a, b: a << b if b < 64 else 0,
    "DW_OP_shr": lambda a, b: a >> b,
    "DW_OP_shra": lambda a, b: _signed(a) >> min(b, 63),
    "DW_OP_eq": lambda a, b: int(_signed(a) == _signed(b)),
    "DW_OP_ne": lambda a, b: int(_signed(a) != _signed(b)),
    "DW_OP_lt": lambda a, b: int(_signed(a) < _signed(b)),
    "DW_OP_le": lambda a, b: int(_signed(a) <= _signed(b)),
    "DW_OP_gt": lambda a, b: int(_signed(a) > _signed(b)),
    "DW_OP_ge": lambda a, b: int(_signed(a) >= _signed(b)),
}
_CONSTANTS = frozenset({"DW_OP_addr", "DW_OP_const1u", "DW_OP_const1s", "DW_OP_const2u", "DW_OP_const2s",
                        "DW_OP_const4u", "DW_OP_const4s", "DW_OP_const8u", "DW_OP_const8s", "DW_OP_constu",
                        "DW_OP_consts"})
_STACK = frozenset({"DW_OP_dup", "DW_OP_drop", "DW_OP_swap", "DW_OP_over", "DW_OP_deref", "DW_OP_plus_uconst"})


def _known(name: str, registers: frozenset[int]) -> bool:
    for prefix in ("DW_OP_breg", "DW_OP_lit"):
        number = name[len(prefix):]
        if name.startswith(prefix) and number.isdigit():
            return prefix == "DW_OP_lit" or int(number) in registers
    return name in _BINARY or name in _CONSTANTS or name in _STACK


def compile_expr(ops: Sequence[object], registers: frozenset[int]) -> Expr | None:
    """pyelftools' parsed operations as an Expr, or None when one of them reads a register
    outside `registers` or is an operation this evaluator does not know (control flow, pieces)."""
    out: list[Op] = []
    for op in ops:
        name, args = str(getattr(op, "op_name", "")), tuple(int(a) for a in getattr(op, "args", ()))
        if not _known(name, registers):
            return None
        out.append((name, args))
    return tuple(out) or None


def evaluate(expr: Expr, registers: Mapping[int, int], word: Callable[[int], int | None]) -> int | None:
    """The expression's value (an address, for CFI rules); None when a word it reads is unreadable
    or the expression is malformed (an empty stack)."""
    stack: list[int] = []
    try:
        for name, args in expr:
            if name.startswith("DW_OP_breg"):
                stack.append((registers[int(name[len("DW_OP_breg"):])] + args[0]) & _MASK)
            elif name.startswith("DW_OP_lit"):
                stack.append(int(name[len("DW_OP_lit"):]))
            elif name in _CONSTANTS:
                stack.append(args[0] & _MASK)
            elif name in _BINARY:
                b, a = stack.pop(), stack.pop()
                stack.append(_BINARY[name](a, b) & _MASK)
            elif name == "DW_OP_deref":
                value = word(stack.pop())
                if value is None:
                    return None
                stack.append(value)
            elif name == "DW_OP_plus_uconst":
                stack.append((stack.pop() + args[0]) & _MASK)
            elif name == "DW_OP_dup":
                stack.append(stack[-1])
            elif name == "DW_OP_drop":
                stack.pop()
            elif name == "DW_OP_swap":
                stack[-1], stack[-2] = stack[-2], stack[-1]
            elif name == "DW_OP_over":
                stack.append(stack[-2])
            else:
                return None
    except (IndexError, KeyError):
        return None
    return stack[-1] if stack else None
