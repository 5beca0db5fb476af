"""One traced run, headless: options → trace context → capture → span builder → sinks.

This is the only module that knows both the tracer and the store, so it is where a run is
wired: the capture process forks the program first (before any sink thread exists), then
starts the sinks behind a non-blocking fan-out, runs the ptrace loop, and finally records the
run in the catalog and prints `trace_id=…` for scripts.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from contextlib import ExitStack
from typing import IO, Any, Callable, NamedTuple

from renacer_tui import __version__
from renacer_tui.model.attributes import (
    ATTR_COMMAND,
    ATTR_DROPPED,
    ATTR_PROCESS_EXIT_CODE,
    ATTR_PTRACE_STOPS,
    ATTR_RAW_DROPPED,
    ATTR_RECEIVED_SPANS,
    ATTR_RECEIVER_ENDPOINT,
    ATTR_RECEIVER_REJECTED,
    ATTR_TRACE_FLAGS,
)
from renacer_tui.model.ids import new_span_id
from renacer_tui.model.readable import signal_name
from renacer_tui.run_options import RunOptions

PROG = "renacer-tui"


class UsageError(Exception):
    """Bad options: reported as one line, exit code 2."""


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def run_traced(options: RunOptions) -> int:
    """Trace `options.command` (or attach), return the program's exit code. Never raises."""
    from renacer_tui.tracer.launch import CaptureError

    try:
        return _run(options)
    except UsageError as exc:
        _say(str(exc))
        return 2
    except CaptureError as exc:  # its message already names the program: one line as is
        print(exc.message, file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


class _Filters(NamedTuple):
    """What the -e expressions keep (None: everything): syscall names, statuses, signals."""

    names: Any = None
    statuses: Any = None
    signals: Any = None
    injections: tuple[Any, ...] = ()  # every -e inject= (they add up, as in strace)
    dumps: tuple[Any, Any] = (None, None)  # -e read=FDS, -e write=FDS: the fds whose bytes are dumped


def _parse_filters(options: RunOptions) -> _Filters:
    """The -e expressions, parsed (the last of each qualifier counts, as in strace)."""
    from renacer_tui.tracer.filter_spec import FilterSpecError, parse_expression

    found: dict[str, Any] = {}
    injections: list[Any] = []
    for text in options.expressions:
        try:
            kind, value = parse_expression(text)
        except FilterSpecError as exc:
            raise UsageError(str(exc)) from None
        if kind == "inject":
            injections.append(value)
        else:
            found[kind] = value
    if injections and options.attach_pid is not None:
        raise UsageError("-e inject= needs a program renacer-tui starts, not -p PID")
    return _Filters(found.get("trace"), found.get("status"), found.get("signal"), tuple(injections),
                    (found.get("read"), found.get("write")))


def _with_trace_compute(env: dict[str, str], options: RunOptions) -> dict[str, str]:
    """The program's environment with --trace-compute's hooks armed (when asked for)."""
    if options.trace_compute:
        from renacer_tui.gpu.environment import add_trace_compute

        add_trace_compute(env, 0.0 if options.trace_compute_all else options.trace_compute_threshold_us)
    return env


def _run(options: RunOptions) -> int:
    from renacer_tui.tracer.context import handoff_environment, resolve_trace_context

    problem = options.usage_problem()
    if problem is not None:
        raise UsageError(problem)
    filters = _parse_filters(options)
    name_filter = filters.names
    run_events = _decision_manifest(options)

    base_env = options.program_environment(os.environ)  # -E edits; a TRACEPARENT set there is joined
    context = resolve_trace_context(options.trace_id, options.trace_parent, base_env)
    for warning in context.warnings:
        _say(warning)
    run_span_id = new_span_id()
    reserved = _reserve_receiver(options, base_env)
    env = handoff_environment(base_env, context, run_span_id)
    if reserved is not None:
        env = reserved.program_environment(env)

    decoder = None
    if _decodes_apart(options):  # forked first: its imports run while the program is launched
        from renacer_tui.run_split import DecoderProcess

        decoder = DecoderProcess.fork(
            options, reserved,
            lambda stack, replayed: _Outputs(options, context, run_span_id, filters, stack,
                                             run_events, replayed))
    from renacer_tui.tracer.capture import CaptureError, CaptureOptions, CaptureSession

    # Seccomp can only be installed in a program we launch; with -p the builder filters.
    traced_numbers = name_filter.numbers if (name_filter is not None and options.attach_pid is None) else None
    if traced_numbers is not None:  # an injected call must stop the program, traced or not
        traced_numbers = traced_numbers.union(*(injection.numbers for injection in filters.injections))
    capture_options = CaptureOptions(
        argv=options.command or None,
        attach_pid=options.attach_pid,
        also_attach=tuple(options.attach_pids[1:]),
        injections=filters.injections,
        follow=options.follow,
        traced_numbers=traced_numbers,
        env=_with_trace_compute(env, options),
        spin_us=options.spin_us,
        pin_cpu=options.pin_cpu,
    )
    stdin_fd = None
    if options.stdin_file is not None:
        try:
            stdin_fd = os.open(options.stdin_file, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            problem = f"--stdin {options.stdin_file}: {exc.strerror}"
            if decoder is not None:
                decoder.abort(problem)
            raise UsageError(problem) from None
        capture_options.stdin = stdin_fd
    try:
        session = CaptureSession(capture_options)
        session.start()  # fork/attach first: no sink thread exists yet
    except CaptureError as exc:
        if stdin_fd is not None:
            os.close(stdin_fd)
        if decoder is not None:
            decoder.abort(exc.message)
        print(exc.message, file=sys.stderr, flush=True)
        if reserved is not None:
            reserved.release()
        return exc.exit_code
    if stdin_fd is not None:
        os.close(stdin_fd)  # the program has its own copy
    if options.attach_pids and not options.quiet:  # as strace; -q leaves it out
        for tgid in dict.fromkeys(session.tgids.values()):
            _say(f"Process {tgid} attached")

    with ExitStack() as stack:
        if reserved is not None:
            stack.callback(reserved.release)
        if decoder is not None:
            return decoder.run(options, session, filters.dumps)
        return _trace_inline(options, session, context, run_span_id, filters, stack, reserved,
                             run_events)


def _decodes_apart(options: RunOptions) -> bool:
    """Whether spans are built in a decoder process (the default) rather than on the stop loop:
    not with --inline-decode, nor where forking is unsafe. With --source the capture process
    samples each call's stack at the stop and the records carry it."""
    from renacer_tui.sinks.forking import can_fork

    return not options.inline_decode and can_fork()


def _decision_manifest(options: RunOptions) -> list[Any] | None:
    """The events of the --decisions manifest (read before the program starts: a bad one is refused)."""
    if options.decisions is None:
        return None
    from renacer_tui.tracer.decision_manifest import ManifestError, load_manifest

    try:
        return load_manifest(options.decisions, time.time_ns())
    except ManifestError as exc:
        raise UsageError(str(exc)) from None


def _reserve_receiver(options: RunOptions, env: dict[str, str]):  # noqa: ANN202 (receiver types load lazily)
    """The ports of the run's OTLP receiver, held before the program is forked (None: no receiver).

    Off with --no-receiver, with -p (an attached program's environment is already set), and
    when the program's environment names an endpoint of its own.
    """
    if not options.receiver or options.attach_pid is not None:
        return None
    from renacer_tui.receiver.service import reserve_endpoints

    try:
        return reserve_endpoints(env)
    except OSError as exc:
        _say(f"OTLP receiver unavailable ({exc.strerror or exc}); tracing without it")
        return None


def _start_receiver(reserved, offer, context, run_span_id: str, builder):  # noqa: ANN001, ANN202
    """The receiver's listeners on the reserved ports, feeding the fan-out beside the builder."""
    from renacer_tui.receiver.intake import Intake
    from renacer_tui.receiver.placement import Placement
    from renacer_tui.receiver.service import OtlpReceiver

    intake = Intake(offer, placement=Placement(context.trace_id, run_span_id, builder.process_span_id),
                    traced_pids=builder.traced_pids)
    try:
        return OtlpReceiver.on_reserved(intake, reserved)
    except OSError as exc:
        _say(f"OTLP receiver unavailable ({exc.strerror or exc}); tracing without it")
        return None


class _Outputs:
    """Everything a run feeds: sinks behind the fan-out, the source stage, the span builder and
    the OTLP receiver; built in the process that decodes (the capture process itself with
    --inline-decode or --source, else the decoder process)."""

    def __init__(self, options: RunOptions, context: Any, run_span_id: str, filters: _Filters,
                 stack: ExitStack, run_events: Any, replayed: Any = None) -> None:
        from renacer_tui.sinks.fanout import DropTally, Fanout
        from renacer_tui.tracer.formats import escape_text
        from renacer_tui.tracer.spans import SpanBuilder

        self.options = options
        self.context = context
        self.command_text = (" ".join(map(escape_text, options.command)) if options.command
                             else " ".join(f"-p {pid}" for pid in options.attach_pids))
        tally = DropTally()  # the live feed reports it on every batch; the fan-out counts into it
        self.sinks, self.summary_sink, self.run_store = _open_sinks(options, filters, context, self.command_text,
                                                                    stack, tally)
        if self.run_store is not None:  # its catalog checkpointed and closed (the decoder ends with os._exit)
            stack.callback(_close_store, self.run_store[0])
        self.fanout = Fanout(self.sinks, capacity_batches=options.queue_capacity, on_error=self._sink_error, tally=tally)
        payloads = None
        if options.capture_payloads:  # its thread starts after the sink children were forked
            from renacer_tui.tracer.payload_hash import PayloadHasher

            payloads = PayloadHasher(replayed.stream_facts if replayed is not None else None)
        self.sampler, self.stage = _source_capture(options, self.fanout, replayed is not None)
        # in the decoder process, /proc facts come from the capture's records (tracer.raw_replay)
        extra: dict[str, Any] = {} if replayed is None else {"identity": replayed.identity}
        if options.xlat_style != "abbrev":  # -X: this process renders every call
            from renacer_tui.tracer.decode import use_xlat_style

            use_xlat_style(options.xlat_style)
        self.builder = SpanBuilder(
            trace_id=context.trace_id,
            parent_span_id=context.parent_span_id,
            run_span_id=run_span_id,
            first_clock=context.first_clock,
            parent_logical_clock=context.parent_logical_clock,
            command=options.command or [self.command_text],
            on_batch=self.stage.offer if self.stage is not None else self.fanout.offer,
            string_limit=options.string_limit,
            rle=options.rle,
            status_filter=filters.statuses,
            path_filter=options.trace_paths or None,
            name_filter=filters.names,  # seccomp also lets the lifecycle calls through: drop them here
            signal_filter=filters.signals,
            service_name=options.service_name,
            service_version=__version__,
            attached=options.attach_pid is not None,
            payloads=payloads,
            stacks=self.sampler,
            decisions=options.trace_transpiler_decisions,
            run_events=run_events,
            on_inflight=self.stage.offer_inflight if self.stage is not None else self.fanout.offer_inflight,
            fd_results=options.decode_fds > 0,
            fd_details=options.decode_fds > 1,
            dumps=filters.dumps,
            sampler=_sampler(options) if filters.names is None and not options.trace_paths else None,
            **extra,
        )
        self.run_span_id = run_span_id
        self.receiver: Any = None
        self.started = time.time_ns()

    @staticmethod
    def _sink_error(sink_name: str, message: str) -> None:
        _say(f"{sink_name} sink failed: {message} (other outputs continue)")

    def start_receiver(self, reserved: Any) -> None:
        if reserved is not None:
            self.receiver = _start_receiver(reserved, self.fanout.offer, self.context, self.run_span_id, self.builder)

    def abort(self) -> None:
        """The capture failed: what was captured still reaches the outputs before the error is reported."""
        if self.receiver is not None:
            self.receiver.close()
        if self.stage is not None:
            self.stage.close()
        self.fanout.close()

    def conclude(self, result: Any, raw_dropped: int = 0) -> None:
        """The run span, the catalog's end of the run, and the closing lines on stderr."""
        context, builder, fanout = self.context, self.builder, self.fanout
        receiver = self.receiver
        receiver_attributes: dict[str, object] = {}
        received = 0
        if receiver is not None:
            endpoint = receiver.grpc_endpoint or receiver.http_endpoint
            receiver.close()  # the program has exited: what it sent is in the fan-out
            received = receiver.intake.spans
            receiver_attributes = {ATTR_RECEIVED_SPANS: received, ATTR_RECEIVER_ENDPOINT: endpoint}
            if receiver.intake.rejected:
                receiver_attributes[ATTR_RECEIVER_REJECTED] = dict(receiver.intake.rejected)
        if raw_dropped:
            receiver_attributes[ATTR_RAW_DROPPED] = raw_dropped
        builder.finish(
            {
                ATTR_DROPPED: fanout.dropped,  # after the receiver's last offer
                ATTR_PROCESS_EXIT_CODE: result.exit_code,
                ATTR_COMMAND: self.command_text,
                ATTR_PTRACE_STOPS: result.stops,
                ATTR_TRACE_FLAGS: f"{context.trace_flags:02x}",
                **receiver_attributes,
            }
        )
        stage = self.stage
        if stage is not None:
            stage.close()
            if stage.error is not None:
                _say(f"source correlation stopped: {stage.error} (spans kept without source)")
        fanout.close()
        if result.detached and not self.options.quiet:  # after the last call's line, as strace
            for pid in dict.fromkeys(self.options.attach_pids):
                _say(f"Process {pid} detached")
        dropped = fanout.dropped
        where = shortfall = ""
        if self.run_store is not None:
            store, run_id = self.run_store
            try:
                store.end_run(
                    run_id,
                    exit_code=result.exit_code,
                    ended_ns=time.time_ns(),
                    dropped_spans=dropped,
                    spans_represented=builder.spans_represented,
                    dropped_by_sink=fanout.dropped_per_sink,
                )
                storage = store.run_storage(run_id, builder.spans_emitted)
                where, shortfall = (storage.summary(), "") if storage.complete else ("", storage.summary())
            except Exception as exc:  # CatalogError on a full disk: say so, the exit code is the program's
                _say(f"the store could not record the end of the run ({exc})")
                shortfall = f"; the store at {store.root} could not confirm what it holds"
        if result.exec_failed is not None:  # the program never ran: its one-line reason is all the user reads
            return
        if self.summary_sink is not None:
            print(self.summary_sink.format_summary(), file=self.summary_sink.stream, flush=True)
        elapsed = (time.time_ns() - self.started) / 1e9
        sampler = builder.sampler
        sampled = (f", sampled: 1 in {sampler.every} of the calls under {sampler.threshold_ns / 1000:g} µs "
                   f"({sampler.represented} counted into the rows that stand for them)") if sampler is not None and sampler.kept else ""
        _say(
            f"{builder.spans_represented} spans ({builder.spans_emitted} rows){where}{sampled} in {elapsed:.2f}s,"
            f" {result.stops} ptrace stops"
            + (f", {received} received over OTLP" if received else "")
            + (f", {dropped} dropped ({_per_sink(fanout.dropped_per_sink)})" if dropped else "")
            + (f", {raw_dropped} syscalls not recorded (the decoder fell behind)" if raw_dropped else "")
            + shortfall
        )
        print(f"trace_id={context.trace_id}", file=sys.stderr, flush=True)


def _trace_inline(options, session, context, run_span_id, filters, stack: ExitStack,
                  reserved=None, run_events=None) -> int:  # noqa: ANN001
    from renacer_tui.tracer.idle import IdleFlusher

    outputs = _Outputs(options, context, run_span_id, filters, stack, run_events)
    outputs.start_receiver(reserved)
    try:
        # a program blocked in a long call still gets its latest spans out within ~0.1 s
        with IdleFlusher(session.lock, outputs.builder.flush_idle):
            result = session.run(outputs.builder)
    except BaseException:
        outputs.abort()
        raise
    outputs.conclude(result)
    if result.exec_failed is not None:
        print(result.exec_failed, file=sys.stderr, flush=True)
    return result.exit_code


def _source_capture(options: RunOptions, fanout: Any, replayed: bool = False) -> tuple[Any, Any]:
    """(stack sampler, symbolising stage) for --source / -k / --transpiler-map, else (None, None).
    In the decoder process (`replayed`) the stacks come with the records: the capture process
    sampled them at the stop (`run_split._stack_sampler`)."""
    if not options.wants_source:
        return None, None
    from renacer_tui.tracer.symbols.annotate import start_source_stage
    from renacer_tui.tracer.symbols.transpiler_map import TranspilerMapError

    try:
        stage = start_source_stage(options.transpiler_maps, fanout.offer, inflight=fanout.offer_inflight)
    except TranspilerMapError as exc:
        raise UsageError(f"--transpiler-map {exc}") from None
    if replayed:
        from renacer_tui.tracer.raw_replay import ReplayedStacks

        return ReplayedStacks(), stage
    from renacer_tui.tracer.symbols.stacks import StackSampler

    return StackSampler.for_source(options.stack_trace), stage



def _close_store(store: Any) -> None:
    try:
        store.close()
    except Exception as exc:  # the run is recorded; only the closing failed (a full disk): one line
        _say(f"the store could not be closed cleanly ({exc})")


def _per_sink(dropped: dict[str, int]) -> str:
    """`otlp 91339, store 12`: which sink lost how many spans (those that lost none left out)."""
    return ", ".join(f"{name} {count}" for name, count in dropped.items() if count)


def _open_sinks(options: RunOptions, filters: _Filters, context, command_text: str, stack: ExitStack,  # noqa: ANN001
                dropped: Callable[[], int]):
    """Build the sinks the options ask for; returns (sinks, summary sink or None, (store, run_id) or None).

    `dropped` returns the fan-out's running dropped count (the live feed sends it to the UI)."""
    from renacer_tui.sinks.headless import JsonlSink, SummarySink, TextSink

    sinks: list[Any] = []
    summary_sink = None
    if options.pin_cpu is not None:  # sink children (store, OTLP) go to the other CPUs
        from renacer_tui.sinks.forking import keep_children_off

        keep_children_off({options.pin_cpu})
    stream: IO[str] = sys.stderr
    per_task = None
    if options.per_task_files and options.output is not None:  # -ff: FILE.TID files; the table on stderr
        from renacer_tui.sinks.headless import TaskFiles

        per_task = TaskFiles(options.output)
        stack.callback(per_task.close)
    elif options.output is not None:
        stream = _open_output(str(options.output), stack)
    if options.summary or options.summary_and_trace:
        summary_sink = SummarySink(options.summary_sort, stream)
        sinks.append(summary_sink)
    # -c prints the table instead of the trace (into -o FILE when given, as strace); -C prints both
    if not options.summary or options.summary_and_trace:
        if options.feed_fd is None or options.output is not None:
            if options.output_format == "jsonl":
                sinks.append(JsonlSink(stream))
            else:
                sinks.append(TextSink(stream, show_pid=options.follow, stack_trace=options.stack_trace,
                                      timestamps=options.timestamps, relative=options.relative_timestamps,
                                      exits=options.quiet < 2, per_task=per_task, fd_paths=options.decode_fds > 0,
                                      signals=None if filters.signals is None else frozenset(
                                          map(signal_name, filters.signals))))
    run_store = None
    if options.store:
        run_store = _open_store_sink(options, context, command_text, sinks)
    otlp = _file_config().otlp
    endpoint = options.otlp_endpoint or (otlp.endpoint if otlp.enabled else None)
    if endpoint and options.otlp:
        from renacer_tui.sinks.otlp import OtlpSink, parse_otlp_headers

        headers = {key.lower(): value for key, value in otlp.headers.items()}
        headers.update(parse_otlp_headers(os.environ.get("OTEL_EXPORTER_OTLP_HEADERS"), options.otlp_headers))
        sinks.append(
            OtlpSink(
                endpoint,
                protocol=options.otlp_protocol or otlp.protocol,
                headers=headers,
                service_name=options.service_name,
                trace_flags=context.trace_flags,
                store_payloads=_stores_payloads(options),
                batch_size=otlp.batch_size,
                batch_delay_ms=otlp.batch_delay_ms,
            )
        )
    if options.feed_fd is not None:
        from renacer_tui.sinks.feed import FeedSink

        sinks.append(FeedSink(options.feed_fd, dropped=dropped))
    return sinks, summary_sink, run_store


@functools.cache
def _file_config() -> Any:
    """The config file's settings, read once per run (a bad file: the defaults; the store and
    `renacer-tui config` report it)."""
    from renacer_tui.store.config import Config, ConfigError, load_config

    try:
        return load_config()
    except ConfigError:
        return Config()


def _sampler(options: RunOptions) -> Any:
    """The adaptive sampler the options or `[sampling]` ask for (None: off, the default)."""
    threshold, rate = options.sample_threshold_us, options.sample_rate
    if threshold is None or rate is None:
        sampling = _file_config().sampling
        threshold = sampling.threshold_us if threshold is None else threshold
        rate = sampling.sample_rate if rate is None else rate
    if threshold is None or rate is None or rate >= 1 or threshold <= 0:
        return None
    from renacer_tui.tracer.sampling import Sampler

    return Sampler(threshold, rate)


def _stores_payloads(options: RunOptions) -> bool:
    """--store-payloads, else `[database] store_payloads` (a bad config file: the default, off)."""
    if options.store_payloads is not None:
        return options.store_payloads
    return bool(_file_config().database.store_payloads)


def _open_output(target: str, stack: ExitStack) -> IO[str]:
    """The -o stream: a file, or (`|cmd`, `!cmd`, as strace) the stdin of a shell command the
    run waits for at its end."""
    if target.startswith(("|", "!")):
        import subprocess

        try:
            command = subprocess.Popen(target[1:], shell=True, stdin=subprocess.PIPE, text=True,
                                       encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"cannot run -o {target!r}: {exc.strerror}") from None
        assert command.stdin is not None
        stack.callback(command.wait)
        stack.callback(_close_quietly, command.stdin)  # a command that stopped reading is no error
        return command.stdin
    try:
        return stack.enter_context(open(target, "w", encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None


def _close_quietly(stream: IO[str]) -> None:
    try:
        stream.close()
    except BrokenPipeError:
        pass


def _open_store_sink(options: RunOptions, context, command_text: str, sinks: list[Any]):
    from renacer_tui.store import Store

    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(4).hex()}"
    store = None
    try:
        store = Store.open(options.db)
        for warning in store.warnings:  # a store folder made private, a catalog opened read-only
            _say(f"note: {warning}")
        store.begin_run(
            run_id,
            trace_id=context.trace_id,
            command=command_text,
            cwd=os.getcwd(),
            host=os.uname().nodename,  # gethostname() without importing socket
            started_ns=time.time_ns(),
        )
    except Exception as exc:  # unusable location, config, read-only or full store: trace anyway
        if store is not None:
            store.close()
        _say(f"store unavailable ({exc}); tracing without it")
        return None
    from renacer_tui.sinks.forking import can_fork
    from renacer_tui.sinks.segments import segment_sink_process

    # a forked child writes the segments, unless forking is not safe (threads, gRPC loaded)
    sinks.append(store.segment_sink(run_id, child=segment_sink_process if can_fork() else None,
                                    store_payloads=options.store_payloads))
    return store, run_id
