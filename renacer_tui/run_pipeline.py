"""One traced run, headless: options → trace context → capture → span builder → sinks.

This is the only module that knows both the tracer and the store, so it is where a run is
wired: the capture process forks the program first (before any sink thread exists), then
starts the sinks behind a non-blocking fan-out, runs the ptrace loop, and finally records the
run in the catalog and prints `trace_id=…` for scripts.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from typing import IO, Any

from renacer_tui import __version__
from renacer_tui.model.attributes import (
    ATTR_COMMAND,
    ATTR_DROPPED,
    ATTR_PROCESS_EXIT_CODE,
    ATTR_PTRACE_STOPS,
)
from renacer_tui.model.ids import new_span_id
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


def _parse_filters(options: RunOptions) -> tuple[Any, Any]:
    """(syscall name filter or None, status filter or None) from the -e expressions."""
    from renacer_tui.tracer.filter_spec import FilterSpecError, parse_expression

    name_filter = None
    status_filter = None
    for text in options.expressions:
        try:
            kind, value = parse_expression(text)
        except FilterSpecError as exc:
            raise UsageError(str(exc)) from None
        if kind == "trace":
            name_filter = value
        else:
            status_filter = value
    return name_filter, status_filter


def _child_environment(traceparent: str) -> dict[str, str]:
    env = dict(os.environ)
    env["TRACEPARENT"] = traceparent
    env["RENACER_LOGICAL_CLOCK"] = "0"
    return env


def _run(options: RunOptions) -> int:
    from renacer_tui.tracer.capture import CaptureError, CaptureOptions, CaptureSession
    from renacer_tui.tracer.context import format_traceparent, resolve_trace_context

    problem = options.usage_problem()
    if problem is not None:
        raise UsageError(problem)
    name_filter, status_filter = _parse_filters(options)

    context = resolve_trace_context(options.trace_id, options.trace_parent, os.environ)
    for warning in context.warnings:
        _say(warning)
    run_span_id = new_span_id()
    traceparent = format_traceparent(context.trace_id, run_span_id, sampled=True)

    # Seccomp can only be installed in a program we launch; with -p the builder filters.
    traced_numbers = name_filter.numbers if (name_filter is not None and options.attach_pid is None) else None
    capture_options = CaptureOptions(
        argv=options.command or None,
        attach_pid=options.attach_pid,
        follow=options.follow,
        traced_numbers=traced_numbers,
        env=_child_environment(traceparent),
        spin_us=options.spin_us,
        pin_cpu=options.pin_cpu,
    )
    session = CaptureSession(capture_options)
    try:
        session.start()  # fork/attach first: no sink thread exists yet
    except CaptureError as exc:
        print(exc.message, file=sys.stderr, flush=True)
        return exc.exit_code

    with ExitStack() as stack:
        return _trace_started(options, session, context, run_span_id, name_filter, status_filter, stack)


def _trace_started(options, session, context, run_span_id, name_filter, status_filter, stack: ExitStack) -> int:
    from renacer_tui.tracer.fanout import Fanout
    from renacer_tui.tracer.formats import escape_text
    from renacer_tui.tracer.idle import IdleFlusher
    from renacer_tui.tracer.spans import SpanBuilder

    command_text = " ".join(map(escape_text, options.command)) if options.command else f"-p {options.attach_pid}"
    sinks, summary_sink, run_store = _open_sinks(options, context, command_text, stack)
    errors: list[str] = []

    def report_sink_error(sink_name: str, message: str) -> None:
        errors.append(sink_name)
        _say(f"{sink_name} sink failed: {message} (other outputs continue)")

    fanout = Fanout(sinks, capacity_batches=options.queue_capacity, on_error=report_sink_error)
    for sink in sinks:
        if hasattr(sink, "bind_dropped_counter"):
            sink.bind_dropped_counter(lambda: fanout.dropped)
    builder = SpanBuilder(
        trace_id=context.trace_id,
        parent_span_id=context.parent_span_id,
        run_span_id=run_span_id,
        command=options.command or [command_text],
        on_batch=fanout.offer,
        string_limit=options.string_limit,
        rle=options.rle,
        status_filter=status_filter,
        path_filter=options.trace_paths or None,
        name_filter=name_filter,  # seccomp also lets the lifecycle calls through: drop them here
        service_name=options.service_name,
        service_version=__version__,
        attached=options.attach_pid is not None,
    )
    started = time.time_ns()
    try:
        # a program blocked in a long call still gets its latest spans out within ~0.1 s
        with IdleFlusher(session.lock, builder.flush_idle):
            result = session.run(builder)
    except BaseException:
        fanout.close()  # what was captured still reaches the outputs before the error is reported
        raise
    builder.finish(
        {
            ATTR_DROPPED: fanout.dropped,
            ATTR_PROCESS_EXIT_CODE: result.exit_code,
            ATTR_COMMAND: command_text,
            ATTR_PTRACE_STOPS: result.stops,
        }
    )
    fanout.close()
    dropped = fanout.dropped
    where = shortfall = ""
    if run_store is not None:
        store, run_id = run_store
        try:
            store.end_run(
                run_id,
                exit_code=result.exit_code,
                ended_ns=time.time_ns(),
                dropped_spans=dropped,
                spans_represented=builder.spans_represented,
            )
            storage = store.run_storage(run_id, builder.spans_emitted)
            where, shortfall = (storage.summary(), "") if storage.complete else ("", storage.summary())
        except Exception as exc:  # CatalogError on a full disk: say so, the exit code is the program's
            _say(f"the store could not record the end of the run ({exc})")
            shortfall = f"; the store at {store.root} could not confirm what it holds"
    if summary_sink is not None:
        print(summary_sink.format_summary(), file=sys.stderr)
    elapsed = (time.time_ns() - started) / 1e9
    _say(
        f"{builder.spans_represented} spans ({builder.spans_emitted} rows){where} in {elapsed:.2f}s,"
        f" {result.stops} ptrace stops"
        + (f", {dropped} dropped" if dropped else "")
        + shortfall
    )
    print(f"trace_id={context.trace_id}", file=sys.stderr, flush=True)
    return result.exit_code


def _open_sinks(options: RunOptions, context, command_text: str, stack: ExitStack):
    """Build the sinks the options ask for; returns (sinks, summary sink or None, (store, run_id) or None)."""
    from renacer_tui.tracer.output import JsonlSink, SummarySink, TextSink

    sinks: list[Any] = []
    summary_sink = None
    if options.pin_cpu is not None:  # sink children (store, OTLP) go to the other CPUs
        from renacer_tui.store.forked import keep_children_off

        keep_children_off({options.pin_cpu})
    if options.summary:
        summary_sink = SummarySink()
        sinks.append(summary_sink)
    if options.output is not None or not options.summary:
        stream: IO[str]
        if options.output is not None:
            try:
                stream = stack.enter_context(open(options.output, "w", encoding="utf-8", errors="replace"))
            except OSError as exc:
                raise UsageError(f"cannot write {options.output}: {exc.strerror}") from None
        else:
            stream = sys.stderr
        if options.feed_fd is None or options.output is not None:
            if options.output_format == "jsonl":
                sinks.append(JsonlSink(stream))
            else:
                sinks.append(TextSink(stream, show_pid=options.follow))
    run_store = None
    if options.store:
        run_store = _open_store_sink(options, context, command_text, sinks)
    if options.otlp_endpoint:
        from renacer_tui.store.otlp_sink import OtlpSink, parse_otlp_headers

        headers = parse_otlp_headers(os.environ.get("OTEL_EXPORTER_OTLP_HEADERS"), options.otlp_headers)
        sinks.append(
            OtlpSink(
                options.otlp_endpoint,
                protocol=options.otlp_protocol,
                headers=headers,
                service_name=options.service_name,
            )
        )
    if options.feed_fd is not None:
        from renacer_tui.store.feed import FeedSink

        sinks.append(FeedSink(options.feed_fd))
    return sinks, summary_sink, run_store


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
    sinks.append(store.segment_sink(run_id, in_child=True))
    return store, run_id
