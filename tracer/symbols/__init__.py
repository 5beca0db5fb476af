"""Source correlation: the user stack at a syscall stop, and its frames as file:line.

`elf` (build-id, load segments, `.eh_frame` rules), `maps` (/proc/PID/maps), `lines` (DWARF
line tables cached per build-id), `symbolise` (frames → source), `stacks` (the sampler the
stop loop calls), `transpiler_map` (generated line → Python line) and `annotate` (the batch
stage that fills the *_source columns and code.* attributes off the stop loop).
"""
