"""Every attribute key of a span, once, and the one way to read the attribute JSON.

Keys follow OpenTelemetry's semantic conventions where one exists (`process.pid`,
`process.command_line`, `thread.id`, `host.name`, `service.name`); renacer's own facts live
under `syscall.*` and `renacer.*`.  The stored key strings never change meaning: traces written
by older versions read the same.

`attributes` is JSON object text in the schema.  `parse_attributes` is the only decoder and
`attribute_column` / `attribute_array` the only readers over a batch: no reader looks into the JSON with a
substring test or a regular expression (tests/test_model.py greps the tree for that).
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the capture process imports the keys; pyarrow (~70 ms with numpy) only the helpers
    import pyarrow as pa

# --- syscall spans -----------------------------------------------------------------------------
ATTR_SYSCALL_NAME = "syscall.name"
ATTR_SYSCALL_RESULT = "syscall.result"
#: A result strace renders as more than its number (`0x8002 (flags O_RDWR|O_LARGEFILE)`, umask's `022`).
ATTR_SYSCALL_RESULT_TEXT = "syscall.result_text"
#: The call was injected (-e inject=): it did not run and returned what was asked, or a signal followed it.
ATTR_SYSCALL_INJECTED = "syscall.injected"
ATTR_SYSCALL_ERRNO = "syscall.errno"
ATTR_SYSCALL_FD = "syscall.fd"
ATTR_SYSCALL_PATH = "syscall.pathname"
ATTR_SYSCALL_ARGS = "syscall.args"  # the decoded argument list, strace-rendered
ATTR_SYSCALL_FLAGS = "syscall.flags"  # the decoded flag word of open-like calls
ATTR_SYSCALL_UNFINISHED = "syscall.unfinished"  # the call had not returned at exit/detach
#: a call still in flight (what a thread is blocked in): only on the live outputs, never stored
ATTR_SYSCALL_IN_FLIGHT = "syscall.in_flight"
#: Identity of the kernel object behind an fd ("pipe:[1234]", "socket:[99]", "/path") so
#: data-flow survives fd reuse.
ATTR_FD_OBJECT = "syscall.fd_object"
#: what the fd a call returned refers to (-y: `openat(…) = 3</etc/hostname>`), as /proc shows it
ATTR_RESULT_FD_OBJECT = "syscall.result_fd_object"
#: -yy: what strace shows of the fd argument and of a returned fd (or the pair of them) at the call:
#: `TCP:[127.0.0.1:48573->127.0.0.1:35348]`, `UNIX-STREAM:[849167->849168]`, `/dev/null<char 1:3>`
ATTR_FD_DETAILS = "syscall.fd_details"
ATTR_RESULT_FD_DETAILS = "syscall.result_fd_details"
#: -y: what a call's directory fd refers to (the working directory for AT_FDCWD: `AT_FDCWD</tmp>`)
ATTR_DIRFD_OBJECT = "syscall.dirfd_object"
#: -e read=FDS / -e write=FDS: the bytes the call moved as strace's hex dump lines (` | 00000  68 69 …`);
#: a payload, so a store or collector keeps it only with --store-payloads
ATTR_SYSCALL_DUMP = "syscall.dump"
ATTR_THREAD_ID = "thread.id"

# --- source correlation (--source, --transpiler-map) ----------------------------------------------
#: The call's user stack as captured at its entry stop: "<object path>+0x<ELF vaddr>" per frame,
#: innermost first (addresses only; symbolised off the stop loop).
ATTR_STACK = "renacer.stack"
#: OpenTelemetry's code.* keys, from the first frame in the program's own objects.
ATTR_CODE_FILEPATH = "code.filepath"
ATTR_CODE_LINENO = "code.lineno"
ATTR_CODE_FUNCTION = "code.function"
#: The whole symbolised stack, one frame a line (what -k prints).
ATTR_CODE_STACKTRACE = "code.stacktrace"
#: The Python function a transpiler source map names for the call's generated line.
ATTR_PYTHON_FUNCTION = "python.function"

# --- process spans -------------------------------------------------------------------------------
ATTR_PROCESS_PID = "process.pid"
ATTR_PROCESS_PARENT_PID = "process.parent_pid"
ATTR_PROCESS_COMMAND_LINE = "process.command_line"
ATTR_PROCESS_COMMAND_ARGS = "process.command_args"
ATTR_PROCESS_EXECUTABLE_NAME = "process.executable.name"
ATTR_PROCESS_EXIT_CODE = "process.exit_code"
ATTR_PROCESS_SIGNAL = "process.signal"

# --- GPU spans (`gpu:<kernel>`) -------------------------------------------------------------------
ATTR_GPU_COMPUTE_TIME = "gpu.compute_time_nanos"
ATTR_GPU_TRANSFER_TIME = "gpu.transfer_time_nanos"
# --- payloads (--capture-payloads) -----------------------------------------------------------------
#: On a data syscall: the SHA-256 (hex) of the bytes it moved and their count. On an `io:stream`
#: span: the same for the whole stream of one object in one direction.
ATTR_IO_SHA256 = "io.sha256"
ATTR_IO_BYTES = "io.bytes"
ATTR_IO_OBJECT = "io.object"  # the stream's object: a path, "pipe:[ino]", "socket:[ino]"
ATTR_IO_DIRECTION = "io.direction"  # "read" or "write"
ATTR_IO_FD = "io.fd"  # the fd of the first call seen on the stream
ATTR_IO_INODE = "io.inode"  # files: the inode the path had when the stream was first seen
#: Sockets: the address they are known by across runs ("tcp to 127.0.0.1:8080", "unix /run/x").
ATTR_IO_PEER = "io.peer"
ATTR_IO_CALLS = "io.calls"  # calls that moved the stream's bytes
ATTR_IO_CHUNK_SIZE = "io.chunk_size"
#: The stream's chunk digests, packed: 16 hex digits (the first 8 bytes of SHA-256) per chunk.
ATTR_IO_CHUNK_SHA256 = "io.chunk_sha256"
#: Bytes the kernel moved itself (sendfile, splice, copy_file_range) or that were unreadable.
ATTR_IO_UNHASHED_BYTES = "io.unhashed_bytes"
#: On the run span: the run was recorded with --capture-payloads.
ATTR_CAPTURE_PAYLOADS = "renacer.capture_payloads"

# --- resource ------------------------------------------------------------------------------------
ATTR_SERVICE_NAME = "service.name"
ATTR_SERVICE_VERSION = "service.version"
ATTR_HOST_NAME = "host.name"

# --- run-length encoding -------------------------------------------------------------------------
ATTR_RLE_COUNT = "renacer.rle.count"  # OTLP export: an RLE row stays one span carrying its count
#: Adaptive sampling: this row was kept for `k` fast calls of its syscall on its thread
#: (`rle_count` = k; counts and sums over it are estimates), tracer.sampling.
ATTR_SAMPLED = "renacer.sampled"
ATTR_RLE_FIRST = "renacer.rle.first_timestamp"
ATTR_RLE_LAST = "renacer.rle.last_timestamp"
ATTR_RLE_TOTAL = "renacer.rle.total_duration_ns"
ATTR_RLE_MAX = "renacer.rle.max_duration_ns"

# --- GPU work (gpu:<label> spans from renacer_tui.gpu's profiler) ------------------------------
ATTR_GPU_KIND = "gpu.kind"  # GpuWorkKind: compute | transfer
#: GPU time of the work from timestamp queries (host wall time when `gpu.timing` is "host").
ATTR_GPU_TIME = "gpu.time_nanos"
#: (ATTR_GPU_COMPUTE_TIME / ATTR_GPU_TRANSFER_TIME above are the PCIe detector's two sums: a
#: compute span carries the first, a transfer span the second.)
ATTR_GPU_HOST_TIME = "gpu.host_time_nanos"  # the host's wall time from recording to results
ATTR_GPU_TIMING = "gpu.timing"  # "timestamp" (GPU timestamp queries) or "host" (no timestamps)
ATTR_GPU_BYTES = "gpu.transfer.bytes"
ATTR_GPU_DIRECTION = "gpu.transfer.direction"  # TransferDirection
ATTR_GPU_WORKGROUPS = "gpu.workgroups"  # [x, y, z] of the dispatches of one compute pass, summed
ATTR_GPU_DISPATCHES = "gpu.dispatches"
ATTR_GPU_ADAPTER = "gpu.adapter.name"
ATTR_GPU_BACKEND = "gpu.adapter.backend"  # Vulkan, OpenGL, Metal, D3D12
ATTR_GPU_ADAPTER_TYPE = "gpu.adapter.type"  # DiscreteGPU, IntegratedGPU, CPU

# --- renacer's own facts -------------------------------------------------------------------------
#: Happens-before / data-flow links: list of {"type": LinkKind, "span_id": …, "logical_clock": …}
#: recorded on the span that is the *effect* of the link.
ATTR_LINKS = "renacer.links"
ATTR_LINK_TYPE = "renacer.link.type"  # OTLP export of one renacer.links entry
ATTR_LINK_LOGICAL_CLOCK = "renacer.link.logical_clock"
ATTR_FILTERED = "renacer.filtered"  # kept only for the tree's sake; not a call the user asked for
ATTR_DROPPED = "renacer.dropped_spans"
#: Syscalls the capture process did not record because the decoder process fell too far behind.
ATTR_RAW_DROPPED = "renacer.dropped_syscalls"
ATTR_PTRACE_STOPS = "renacer.ptrace_stops"
ATTR_DETACHED = "renacer.detached"
ATTR_ROOT_PID = "renacer.root_pid"
ATTR_RUN_ID = "renacer.run_id"
ATTR_COMMAND = "renacer.command"
#: W3C trace flags of the run (two hex digits, "01" sampled): kept end to end so an unsampled
#: incoming context stays unsampled in the program's TRACEPARENT and in OTLP export.
ATTR_TRACE_FLAGS = "renacer.trace_flags"
#: OTLP export of columns that have no OpenTelemetry field.
ATTR_LOGICAL_CLOCK = "renacer.logical_clock"
ATTR_PARENT_LOGICAL_CLOCK = "renacer.parent_logical_clock"
ATTR_SOURCE_RUST = "renacer.source.rust"
ATTR_SOURCE_PYTHON = "renacer.source.python"
ATTR_SOURCE_C = "renacer.source.c"
#: Attribute text that is not a JSON object, kept verbatim by exporters.
ATTR_RAW = "renacer.attributes_raw"


def parse_attributes(text: str | bytes | None) -> dict[str, Any]:
    """The attribute JSON as a dict; `{}` for None, empty text, bad JSON or a non-object."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def parse_attributes_keeping_raw(text: str | None) -> dict[str, Any]:
    """As `parse_attributes`, but text that is not a JSON object comes back under ATTR_RAW.

    For exporters, which must not lose what a row held even when it is not ours to read.
    """
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return {ATTR_RAW: text}
    return value if isinstance(value, dict) else {ATTR_RAW: text}


def attribute_column(data: pa.Table | pa.RecordBatch, key: str) -> list[Any]:
    """`key`'s value in every row of `data`'s `attributes` column (None where absent).

    One JSON parse per row, nothing else: a substring prefilter would also match the key inside
    a value (a file named `syscall.unfinished`), which is how `-c` once lost calls.
    """
    column = data.column("attributes")
    loads = json.loads
    out: list[Any] = []
    append = out.append
    for text in column.to_pylist():
        if not text:
            append(None)
            continue
        try:
            value = loads(text)
        except ValueError:
            append(None)
            continue
        append(value.get(key) if isinstance(value, dict) else None)
    return out


_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN"}  # by str(type)
_local = threading.local()


def attribute_array(data: pa.Table | pa.RecordBatch, key: str, type: pa.DataType | None = None) -> pa.Array:
    """`key`'s value in every row as an Arrow array of `type` (null where absent or unreadable).

    Vectorised for the live screen's rates: DuckDB parses the JSON in C++, one pass per call,
    with the key as a quoted JSON path so a dotted key is one member, never a path.
    """
    import pyarrow as pa

    type = pa.string() if type is None else type
    sql_type = _SQL_TYPES.get(str(type))
    if sql_type is None:
        raise ValueError(f"attribute_array: unsupported type {type}")
    connection = getattr(_local, "connection", None)
    if connection is None:
        import duckdb  # here, not at the top: a headless run never loads the SQL engine

        connection = _local.connection = duckdb.connect()
    path = "$." + json.dumps(key)
    extract = "json_extract_string" if sql_type == "VARCHAR" else "json_extract"
    connection.register("attribute_rows", pa.table({"attributes": data.column("attributes")}))
    try:
        result = connection.sql(
            f"SELECT TRY_CAST(CASE WHEN json_valid(attributes) THEN {extract}(attributes, $path) END AS {sql_type}) AS v"
            " FROM attribute_rows",
            params={"path": path},
        ).to_arrow_table()
    finally:
        connection.unregister("attribute_rows")
    column = result.column("v")
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column

# --- spans received over OTLP ----------------------------------------------------------------------
#: How a span reached renacer-tui ("otlp/grpc", "otlp/http-protobuf", "otlp/http-json").
ATTR_RECEIVED_VIA = "renacer.received_via"
#: The pid of the loopback peer that sent the span (resolved through /proc), when known.
ATTR_SENDER_PID = "renacer.sender_pid"
#: On a link the receiver adds (to the sender's process span, from a span of another trace): why.
ATTR_RECEIVED_LINK = "renacer.received_link"
#: On the run span: spans the run's receiver took in, and requests it refused (by reason).
ATTR_RECEIVED_SPANS = "renacer.received_spans"
ATTR_RECEIVER_REJECTED = "renacer.receiver.rejected"
#: On the run span: the endpoint the program was told (OTEL_EXPORTER_OTLP_ENDPOINT).
ATTR_RECEIVER_ENDPOINT = "renacer.receiver.endpoint"
#: The instrumentation scope of a received span (OpenTelemetry's names for non-OTLP formats).
ATTR_SCOPE_NAME = "otel.scope.name"
ATTR_SCOPE_VERSION = "otel.scope.version"
ATTR_PROCESS_COMMAND = "process.command"
ATTR_PROCESS_EXECUTABLE_PATH = "process.executable.path"

# --- decision traces (--trace-transpiler-decisions, --decisions FILE) ------------------------------
#: On a `decision:<category>::<name>` span event: what the traced program (a transpiler) decided.
#: Input and result are JSON text as the program wrote it (re-encoded compactly when valid).
ATTR_DECISION_ID = "decision.id"
ATTR_DECISION_CATEGORY = "decision.category"
ATTR_DECISION_NAME = "decision.name"
ATTR_DECISION_INPUT = "decision.input"
ATTR_DECISION_RESULT = "decision.result"
ATTR_DECISION_SOURCE_FILE = "decision.source.file"  # manifest entries: where the decision is made
ATTR_DECISION_SOURCE_LINE = "decision.source.line"
ATTR_DECISION_ORIGIN = "decision.origin"  # "stderr" (a [DECISION] line) or "manifest"

# --- signals and exits (span events) --------------------------------------------------------------
#: A signal delivered to a thread: an event of that thread's next recorded call (strace prints the
#: `--- SIG… ---` line before it), or of its process span when the thread makes no call after it.
EVENT_SIGNAL = "signal"
#: A thread entered a group-stop (SIGSTOP, SIGTSTP…): strace's `--- stopped by SIGSTOP ---`; an
#: event of the same span a signal would go on, with `signal.name`, `signal.number`, `thread.id`.
EVENT_STOPPED = "thread.stopped"
#: The end of a process, on its process span: exited with a code, or killed by a signal.
EVENT_EXITED = "process.exited"
EVENT_KILLED = "process.killed"
#: The end of a thread while others of its process go on, on the span of its last call (its
#: exit): strace's `[pid N] +++ exited with 0 +++` for a thread; the attributes are the process
#: events' (`process.exit_code`, or `process.signal`), with `thread.id`.
EVENT_THREAD_EXITED = "thread.exited"
EVENT_THREAD_KILLED = "thread.killed"
#: On a signal event: `signal.name`, `signal.number`, `signal.code` (si_code's name), the sender
#: or child pid, and strace's rendering of the siginfo (`{si_signo=SIGCHLD, si_code=CLD_EXITED, …}`).
ATTR_SIGNAL_NAME = "signal.name"
ATTR_SIGNAL_NUMBER = "signal.number"
ATTR_SIGNAL_CODE = "signal.code"
ATTR_SIGNAL_SENDER_PID = "signal.sender_pid"  # si_pid: the sender, or the child for SIGCHLD
ATTR_SIGNAL_CHILD_STATUS = "signal.child_status"  # SIGCHLD: the exit code or the killing signal
ATTR_SIGNAL_ADDRESS = "signal.address"  # SIGSEGV, SIGBUS, …: the faulting address
ATTR_SIGNAL_INFO = "signal.info"
#: On a process.killed event: whether the kernel wrote a core dump.
ATTR_PROCESS_CORE_DUMPED = "process.core_dumped"

# --- socket addresses a call names (OpenTelemetry's network.* names) ------------------------------
#: connect/sendto/accept/getpeername/recvfrom: the other end; bind/getsockname: this end.  A Unix
#: socket's address is its path (`@name` for an abstract one) with network.transport "unix".
ATTR_NETWORK_PEER_ADDRESS = "network.peer.address"
ATTR_NETWORK_PEER_PORT = "network.peer.port"
ATTR_NETWORK_LOCAL_ADDRESS = "network.local.address"
ATTR_NETWORK_LOCAL_PORT = "network.local.port"
ATTR_NETWORK_TRANSPORT = "network.transport"

# --- HTTP requests seen in socket data (OpenTelemetry HTTP semantic conventions) -------------------
ATTR_HTTP_REQUEST_METHOD = "http.request.method"
ATTR_URL_PATH = "url.path"
ATTR_SERVER_ADDRESS = "server.address"
ATTR_SERVER_PORT = "server.port"
#: "client" (the span wrote the request) or "server" (the span read it).
ATTR_HTTP_ROLE = "renacer.http.role"
