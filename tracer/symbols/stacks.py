"""The user stack of a stopped task, as addresses: what `--source` records at each syscall stop.

Why it is shaped like this: it runs while the traced program waits, so it only reads registers
(one PTRACE_GETREGS), a few stack words (process_vm_readv through the loop's memory reader) and
cached tables — no DWARF.  Each frame is left by the `.eh_frame` rule of its address where the
object has one (the C library's syscall wrappers keep no frame pointer, so the call site in the
program is found only this way), else by the frame-pointer chain (rbp → saved rbp, return
address).  A frame is stored as "<object>+0x<ELF vaddr>", independent of the load address, so
the symboliser needs no mappings after the process is gone.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Callable

from renacer_tui.tracer.events import TraceeMemory
from renacer_tui.tracer.ptrace_raw import ptrace
from renacer_tui.tracer.symbols.cfi_expr import evaluate
from renacer_tui.tracer.symbols.elf import OUTERMOST, REG_RA, REG_RBP, REG_RSP, CfaRule, ElfImage, ImageCache
from renacer_tui.tracer.symbols.maps import AddressSpace, read_maps
from renacer_tui.tracer.symbols.symbolise import format_frame, is_runtime_object

PTRACE_GETREGS = 12
#: struct user_regs_struct (x86-64): 27 unsigned longs; rbp, rip, rsp at these indexes.
_REGS = struct.Struct("<27Q")
_RBP, _RIP, _RSP = 4, 16, 19
_WORD = struct.Struct("<Q")
#: Frames recorded per call (the innermost ones); a bound, so a corrupt chain costs little.
DEFAULT_MAX_FRAMES = 16
#: Without -k: frames kept past the C runtime (a shim without line info may come first).
SOURCE_PROGRAM_FRAMES = 3
_WALK_CACHE = 4096  # remembered walks per process
_USER_TOP = 1 << 47  # x86-64 user addresses are below this
_MAX_FRAME_BYTES = 8 << 20  # a frame larger than this is taken for a broken chain
#: The stack is copied once from the stack pointer to the end of its page (the next page too
#: when fewer than this many bytes are left): the frames near the top are read from the copy,
#: one process_vm_readv for most stacks instead of one per word.
_MIN_WINDOW = 1024


class StackSampler:
    """Records the stacks of stopped tasks; one per capture, used from the stop loop only."""

    def __init__(self, max_frames: int = DEFAULT_MAX_FRAMES, program_frames: int | None = None) -> None:
        """`program_frames`: stop once this many frames outside the C runtime are recorded
        (the first with a line fills c_source; -k wants the whole stack: None)."""
        self.max_frames = max(1, max_frames)
        self.program_frames = program_frames
        self._regs = (ctypes.c_ubyte * _REGS.size)()
        self._regs_addr = ctypes.addressof(self._regs)
        self._spaces: dict[int, AddressSpace] = {}
        self._images = ImageCache()
        self._space_images: dict[int, dict[str, ElfImage | None]] = {}
        self._may_refresh = True
        #: per process: (pc, sp, bp) → (the stack bytes the walk read, its frames)
        self._walks: dict[int, dict[tuple[int, int, int], tuple[bytes, tuple[str, ...]]]] = {}
        #: per process: absolute pc → (image, vaddr, frame text, in the program's own objects)
        #: or None (outside any known object)
        self._pcs: dict[int, dict[int, tuple[ElfImage, int, str, bool] | None]] = {}

    @classmethod
    def for_source(cls, whole_stacks: bool) -> "StackSampler":
        """The sampler `--source` runs: up to the program's own frames, or every frame for -k."""
        return cls(program_frames=None if whole_stacks else SOURCE_PROGRAM_FRAMES)

    def forget(self, tgid: int) -> None:
        """The process exec'd or exited: its mappings are no longer what they were."""
        self._spaces.pop(tgid, None)
        self._pcs.pop(tgid, None)
        self._space_images.pop(tgid, None)
        self._walks.pop(tgid, None)

    def sample(self, tid: int, tgid: int, mem: TraceeMemory) -> tuple[str, ...]:
        """The stopped task's stack, innermost frame first (empty when registers are unreadable)."""
        if ptrace(PTRACE_GETREGS, tid, 0, self._regs_addr) == -1:
            return ()
        regs = _REGS.unpack_from(self._regs, 0)
        self._may_refresh = True
        pc, sp, bp = regs[_RIP], regs[_RSP], regs[_RBP]
        size = 4096 - (sp & 0xFFF)  # to the end of the page: one iovec, the reader's fast path
        window = mem.read_bytes(tid, sp, size if size >= _MIN_WINDOW else size + 4096)
        # A loop's calls come back with the same registers and the same stack words: the walk
        # depends on nothing else, so its frames are reused when the bytes it read are unchanged.
        walks = self._walks.get(tgid)
        if walks is None:
            walks = self._walks[tgid] = {}
        key = (pc, sp, bp)
        seen = walks.get(key)
        if seen is not None and window.startswith(seen[0]):
            return seen[1]
        frames, used = self._walk(tid, tgid, pc, sp, bp, window, mem)
        if used >= 0:
            if len(walks) >= _WALK_CACHE:
                walks.clear()
            walks[key] = (window[:used], frames)
        return frames

    def _walk(
        self, tid: int, tgid: int, pc: int, sp: int, bp: int, window: bytes, mem: TraceeMemory
    ) -> tuple[tuple[str, ...], int]:
        """(frames, bytes of `window` the walk depended on; -1: it read elsewhere or ended on an
        unknown address, so it may come out differently next time)."""
        frames: list[str] = []
        low, high = sp, sp + len(window)
        unpack_from = _WORD.unpack_from
        used = 0
        outside = False

        def word(addr: int) -> int | None:
            nonlocal used, outside
            if low <= addr and addr + 8 <= high:
                used = max(used, addr + 8 - low)
                return unpack_from(window, addr - low)[0]
            outside = True
            raw = mem.read_bytes(tid, addr, 8)
            return _WORD.unpack(raw)[0] if len(raw) == 8 else None

        left = self.program_frames if self.program_frames is not None else self.max_frames
        exact = True  # the pc is where the task is, not a return address past a call
        for depth in range(self.max_frames):
            where = self._locate(tgid, pc)
            if where is None:
                outside = True
                break
            image, vaddr, text, own = where
            frames.append(text)
            if own:
                left -= 1
                if left <= 0:
                    break
            rule = image.cfa_rule(vaddr if exact else vaddr - 1)
            if rule is OUTERMOST:
                break
            if rule is not None and rule.by_expression:
                step = self._expression_step(rule, sp, bp, pc, word)  # a signal frame, a PLT stub
                if step is None or (step[0] <= sp and depth):
                    break
                sp, bp, ret = step
                exact = rule.signal  # a signal frame hands back the interrupted pc itself
            elif rule is not None:
                cfa = (sp if rule.reg == REG_RSP else bp) + rule.offset
                if cfa <= sp and depth:
                    break  # the stack grows down: a caller's frame is above its callee's
                got = word(cfa - 8)
                if got is None:
                    break
                ret = got
                if rule.rbp_offset is not None:
                    saved = word(cfa + rule.rbp_offset)
                    if saved is None:
                        break
                    bp = saved
                sp = cfa
                exact = False
            else:
                if bp < sp or bp - sp > _MAX_FRAME_BYTES:
                    break
                next_bp, ret_word = word(bp), word(bp + 8)
                if next_bp is None or ret_word is None:
                    break
                ret = ret_word
                sp = bp + 16
                bp = next_bp
                exact = False
            if ret == 0:
                break
            pc = ret
        return tuple(frames), -1 if outside else used

    @staticmethod
    def _expression_step(rule: CfaRule, sp: int, bp: int, pc: int,
                         word: Callable[[int], int | None]) -> tuple[int, int, int] | None:
        """(caller's sp = CFA, caller's bp, return address) by a rule with DWARF expressions
        (None: a word it needs is unreadable)."""
        registers = {REG_RSP: sp, REG_RBP: bp, REG_RA: pc}
        cfa = evaluate(rule.cfa_expr, registers, word) if rule.cfa_expr is not None else (
            (sp if rule.reg == REG_RSP else bp) + rule.offset)
        if cfa is None:
            return None
        at = evaluate(rule.ra_expr, registers, word) if rule.ra_expr is not None else cfa - 8
        ret = word(at) if at is not None else None
        if ret is None:
            return None
        if rule.rbp_expr is not None or rule.rbp_offset is not None:
            at = evaluate(rule.rbp_expr, registers, word) if rule.rbp_expr is not None else cfa + (rule.rbp_offset or 0)
            saved = word(at) if at is not None else None
            if saved is None:
                return None
            bp = saved
        return cfa, bp, ret

    def _locate(self, tgid: int, pc: int) -> tuple[ElfImage, int, str, bool] | None:
        """(image, ELF vaddr, frame text) of an absolute address in process `tgid`."""
        known = self._pcs.get(tgid)
        if known is None:
            known = self._pcs[tgid] = {}
        elif pc in known:
            return known[pc]
        found = self._resolve(tgid, pc, refresh=False)
        if found is None and self._may_refresh and 0x1000 <= pc < _USER_TOP:
            self._may_refresh = False  # one re-read per stack: a broken chain ends in garbage
            found = self._resolve(tgid, pc, refresh=True)  # mapped since we last read (dlopen)
        known[pc] = found
        return found

    def _resolve(self, tgid: int, pc: int, refresh: bool) -> tuple[ElfImage, int, str, bool] | None:
        space = self._spaces.get(tgid)
        if space is None or refresh:
            space = self._spaces[tgid] = AddressSpace(read_maps(tgid))
            self._space_images.pop(tgid, None)
        mapping = space.find(pc)
        if mapping is None:
            return None
        images = self._space_images.setdefault(tgid, {})
        if mapping.path in images:  # stat once per path and image, not once per address
            image = images[mapping.path]
        else:
            image = images[mapping.path] = self._images.get(mapping.path)
        if image is None:
            return None
        vaddr = image.vaddr_of_offset(pc - mapping.start + mapping.offset)
        if vaddr is None:
            return None
        return image, vaddr, format_frame(mapping.path, vaddr), not is_runtime_object(mapping.path)
