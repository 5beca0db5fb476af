"""The options of one traced run, shared by the headless pipeline and the TUI launcher."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from renacer_tui.model.readable import STRING_LIMIT


@dataclass
class RunOptions:
    """Everything `renacer-tui [OPTIONS] -- CMD` was asked to do."""

    command: list[str] = field(default_factory=list)
    follow: bool = True
    attach_pids: list[int] = field(default_factory=list)  # -p PID, repeatable
    expressions: list[str] = field(default_factory=list)
    trace_paths: list[str] = field(default_factory=list)
    env_edits: list[str] = field(default_factory=list)  # -E VAR=VAL / -E VAR, in order
    stdin_file: Path | None = None  # --stdin FILE: the launched program's stdin
    string_limit: int = STRING_LIMIT
    output: Path | None = None
    output_format: str = "text"
    per_task_files: bool = False  # -ff: with -o FILE, one file per task (FILE.TID)
    summary: bool = False
    summary_and_trace: bool = False  # -C: the table and the trace
    summary_sort: str = "time"  # -S
    timestamps: int = 0  # -t, -tt, -ttt
    relative_timestamps: bool = False  # -r
    decode_fds: int = 0  # -y: fd arguments and results with what they refer to (`3</etc/hostname>`)
    #: adaptive sampling (`[sampling]` unless given): calls under the threshold kept at the rate
    sample_threshold_us: float | None = None
    sample_rate: float | None = None
    xlat_style: str = "abbrev"  # -X: named constants as names, numbers (raw) or both (verbose)
    quiet: int = 0  # -q: no attach/detach notes; -qq: no `+++ exited` lines either
    trace_id: str | None = None
    trace_parent: str | None = None
    store: bool = True
    db: Path | None = None
    rle: bool = True
    otlp_endpoint: str | None = None  # None: `[otlp] endpoint` when `[otlp] enabled`
    otlp_protocol: str | None = None  # None: `[otlp] protocol` (grpc)
    otlp: bool = True  # --no-otlp: no export, whatever `[otlp] enabled` says
    otlp_headers: list[str] = field(default_factory=list)
    service_name: str = "renacer"
    spin_us: int | None = None  # None: the capture's default (50 µs)
    pin_cpu: int | None = None
    queue_capacity: int = 256
    feed_fd: int | None = None
    receiver: bool = True  # the loopback OTLP receiver for the program's own spans
    trace_compute: bool = False  # profile a traced Python program's wgpu work (renacer_tui.gpu.hooks)
    trace_compute_threshold_us: float = 100.0
    trace_compute_all: bool = False
    capture_payloads: bool = False  # hash the bytes of every data syscall (tracer.payload_hash)
    #: Keep buffer contents in the store and OTLP export (None: `[database] store_payloads`).
    store_payloads: bool | None = None
    source: bool = False  # --source: user stacks → c_source / rust_source / code.*
    stack_trace: bool = False  # -k: the symbolised stack under each text line
    transpiler_maps: list[str] = field(default_factory=list)
    inline_decode: bool = False  # decode on the stop loop (no decoder process): the old path, for tests

    @property
    def attach_pid(self) -> int | None:
        """The first -p PID (its process is the run's root), None when a command is launched."""
        return self.attach_pids[0] if self.attach_pids else None

    @property
    def wants_source(self) -> bool:
        """Whether stacks are recorded: --source, or an option that needs them (-k, a map)."""
        return self.source or self.stack_trace or bool(self.transpiler_maps)
    trace_transpiler_decisions: bool = False  # [DECISION]/[RESULT] stderr lines → span events
    decisions: Path | None = None  # a decision manifest (JSON) → events of the run span

    def usage_problem(self) -> str | None:
        """What makes these options unusable, in one line (None: nothing).

        Checked before the TUI or the headless pipeline starts, so both paths refuse the same
        options with the same words; filter expressions are checked where they are parsed.
        """
        if not self.command and self.attach_pid is None:
            return "nothing to trace: give a command after -- or -p PID"
        if self.stdin_file is not None and self.attach_pid is not None:
            return "--stdin gives a program renacer-tui starts its input, not -p PID"
        if self.env_edits and self.attach_pid is not None:
            return "-E sets the environment of a program renacer-tui starts, not of -p PID"
        bad = next((edit for edit in self.env_edits if not edit.partition("=")[0]), None)
        if bad is not None:
            return f"-E {bad!r}: expected VAR=VALUE or VAR"
        if self.per_task_files and (self.output is None or str(self.output).startswith(("|", "!"))):
            return "-ff needs -o FILE (each task's lines go to FILE.TID)"
        if self.per_task_files and self.output_format != "text":
            return "-ff writes text files; it cannot be used with --format jsonl"
        if self.output_format not in ("text", "jsonl"):
            return f"unknown --format {self.output_format!r} (expected text or jsonl)"
        if self.sample_rate is not None and not 0 < self.sample_rate <= 1:
            return f"--sample-rate must be in (0, 1], not {self.sample_rate!r}"
        if self.decode_fds > 2:
            return "-y can be given at most twice (-yy: socket and device details too)"
        if self.otlp_protocol not in (None, "grpc", "http/protobuf"):
            return f"unknown --otlp-protocol {self.otlp_protocol!r} (expected grpc or http/protobuf)"
        if (self.trace_compute_all or self.trace_compute_threshold_us != 100.0) and not self.trace_compute:
            return "--trace-compute-threshold and --trace-compute-all need --trace-compute"
        if self.transpiler_maps:
            from renacer_tui.tracer.symbols.transpiler_map import TranspilerMapError, TranspilerMaps

            try:
                TranspilerMaps.load(self.transpiler_maps)
            except TranspilerMapError as exc:
                return f"--transpiler-map {exc}"
        if self.trace_id is not None or self.trace_parent is not None:
            from renacer_tui.tracer.context import check_trace_options

            return check_trace_options(self.trace_id, self.trace_parent)
        return None

    def program_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with the -E edits applied in order: `VAR=VAL` sets, a bare `VAR` removes."""
        env = dict(base)
        for edit in self.env_edits:
            name, eq, value = edit.partition("=")
            if eq:
                env[name] = value
            else:
                env.pop(name, None)
        return env

    def capture_args(self) -> list[str]:
        """The options as command-line flags (without the command), for a capture child process.

        The TUI re-runs the capture headless in a child so the ptrace loop owns an interpreter.
        Values are attached (`--trace-path=-odd`), so one that starts with "-" is still a value.
        """
        args: list[str] = []
        if not self.follow:
            args.append("--no-follow")
        args += [f"--attach={pid}" for pid in self.attach_pids]
        args += [f"--expr={expression}" for expression in self.expressions]
        args += [f"--trace-path={path}" for path in self.trace_paths]
        args += [f"--env={edit}" for edit in self.env_edits]
        if self.stdin_file is not None:
            args.append(f"--stdin={self.stdin_file}")
        if self.string_limit != STRING_LIMIT:
            args.append(f"--string-limit={self.string_limit}")
        if self.output is not None:
            args += [f"--output={self.output}", f"--format={self.output_format}"]
        if self.summary_sort != "time":
            args.append(f"--summary-sort={self.summary_sort}")
        args += ["--timestamps"] * self.timestamps
        if self.relative_timestamps:
            args.append("--relative-timestamps")
        args += ["--decode-fds"] * self.decode_fds
        if self.xlat_style != "abbrev":
            args.append(f"--const-style={self.xlat_style}")
        if self.sample_threshold_us is not None:
            args.append(f"--sample-threshold-us={self.sample_threshold_us!r}")
        if self.sample_rate is not None:
            args.append(f"--sample-rate={self.sample_rate!r}")
        args += ["--quiet"] * self.quiet
        if self.per_task_files:
            args.append("--per-task-files")
        if self.trace_id is not None:
            args.append(f"--trace-id={self.trace_id}")
        if self.trace_parent is not None:
            args.append(f"--trace-parent={self.trace_parent}")
        if not self.store:
            args.append("--no-store")
        if self.db is not None:
            args.append(f"--db={self.db}")
        if not self.rle:
            args.append("--no-rle")
        if self.otlp_endpoint is not None:
            args.append(f"--otlp-endpoint={self.otlp_endpoint}")
        if self.otlp_protocol is not None:
            args.append(f"--otlp-protocol={self.otlp_protocol}")
        if not self.otlp:
            args.append("--no-otlp")
        args += [f"--otlp-header={header}" for header in self.otlp_headers]
        if self.service_name != "renacer":
            args.append(f"--service-name={self.service_name}")
        if self.spin_us is not None:
            args.append(f"--spin-us={self.spin_us}")
        if self.pin_cpu is not None:
            args.append(f"--pin-cpu={self.pin_cpu}")
        if self.capture_payloads:
            args.append("--capture-payloads")
        if self.store_payloads:
            args.append("--store-payloads")
        if self.inline_decode:
            args.append("--inline-decode")
        if self.trace_transpiler_decisions:
            args.append("--trace-transpiler-decisions")
        if self.decisions is not None:
            args.append(f"--decisions={self.decisions}")
        if self.queue_capacity != 256:
            args.append(f"--queue-capacity={self.queue_capacity}")
        if not self.receiver:
            args.append("--no-receiver")
        if self.trace_compute:
            args.append("--trace-compute")
        if self.trace_compute_threshold_us != 100.0:
            args.append(f"--trace-compute-threshold={self.trace_compute_threshold_us!r}")  # exact
        if self.trace_compute_all:
            args.append("--trace-compute-all")
        if self.source:
            args.append("--source")
        if self.stack_trace:
            args.append("--stack-trace")
        args += [f"--transpiler-map={path}" for path in self.transpiler_maps]
        return args
