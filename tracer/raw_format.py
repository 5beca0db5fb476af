"""The raw stop record: what the capture process sends the decoder process, byte for byte.

The stop loop must not decode (that is Python work the traced program would wait for), so per
stop it appends one fixed-size header and the tracee bytes the decoder will need (strings,
buffers, fd targets, process identities) to a buffer that goes to the decoder through a pipe.
The decoder replays the records, in order, onto the span builder.  Every record starts with
one byte of kind; the layouts below are the whole format (little-endian, native sizes fixed).

A record carries `nregions` regions after its fixed part: `(addr, requested, flags, length)`
and `length` bytes.  A region is a memory read as the capture made it (`requested` bytes asked
at `addr`, fewer where memory ended), a NUL-terminated string read, an fd's /proc target, or
one half of a process identity (comm, cmdline), or the facts of a payload stream.
"""

from __future__ import annotations

import struct

# record kinds
START, ENTRY, EXIT, NEW_TASK, EXEC, SIGNAL, TASK_EXIT, DETACH, END, LAUNCHED, GROUP_STOP = range(1, 12)

#: kind, nregions, tid, t_ns, then the kind's own fields
ENTRY_REC = struct.Struct("<BHiqiQ6Q")  # + tgid, nr, args
EXIT_REC = struct.Struct("<BHiqiqB")  # + tgid, ret, flags (1: is_error, EXIT_INJECTED)
EXIT_INJECTED = 2  # the call was injected (-e inject=)
NEW_TASK_REC = struct.Struct("<BHiqiiB")  # + tgid, parent_tid, is_thread
EXEC_REC = struct.Struct("<BHiqii")  # + tgid, former_tid
SIGNAL_REC = struct.Struct("<BHiqii")  # + signo, sender_pid; one R_BYTES region: the siginfo head
TASK_EXIT_REC = struct.Struct("<BHiqi")  # + wait_status
GROUP_STOP_REC = struct.Struct("<BHiqi")  # + the stopping signal
START_REC = struct.Struct("<BHiq")
LAUNCHED_REC = START_REC  # the program started (or was attached): the decoder opens its outputs
DETACH_REC = struct.Struct("<BHiq")
END_REC = struct.Struct("<BHiqI")  # + length of the JSON result that follows

LAYOUTS = {
    START: START_REC, ENTRY: ENTRY_REC, EXIT: EXIT_REC, NEW_TASK: NEW_TASK_REC, EXEC: EXEC_REC,
    SIGNAL: SIGNAL_REC, TASK_EXIT: TASK_EXIT_REC, DETACH: DETACH_REC, END: END_REC, LAUNCHED: LAUNCHED_REC,
    GROUP_STOP: GROUP_STOP_REC,
}

REGION = struct.Struct("<QIBI")  # addr, requested, flags, length
# region flags
R_BYTES = 0  # read_bytes(addr, requested) returned the data
R_CSTRING = 1  # read_cstring(addr, limit=requested) returned (data, False)
R_CSTRING_CUT = 2  # ... returned (data, True)
R_FD = 3  # addr is an fd of the record's process; data is its /proc target (surrogateescape UTF-8)
R_FD_GONE = 4  # addr is an fd whose target could not be read (None)
R_COMM = 5  # addr is a tgid; data is /proc/<tgid>/comm without the newline
R_CMDLINE = 6  # addr is a tgid; data is /proc/<tgid>/cmdline as read
R_STREAM = 7  # addr is an fd; data is JSON [inode, socket peer] of its payload stream (first sight)
R_FD_DETAILS = 9  # -yy: addr is an fd; data is what strace -yy shows of it at this stop
R_CWD = 8  # -y, a call relative to AT_FDCWD: data is /proc/<tid>/cwd at its entry (addr unused)
R_STACK = 10  # --source: the call's user stack at its entry, frames joined by NULs (addr unused)

#: At most this many regions in one record (the header's count is 16 bits).
MAX_REGIONS = 0xFFFF


def pack_regions(regions: list[tuple[int, int, int, bytes]]) -> bytes:
    """The regions part of a record."""
    pack = REGION.pack
    return b"".join(pack(addr, requested, flags, len(data)) + data for addr, requested, flags, data in regions)
