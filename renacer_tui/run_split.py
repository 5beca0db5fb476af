"""A traced run in two processes: the capture process records stops, the decoder process builds spans.

Why: the traced program waits for the tracer at every stop, so the stop loop must do only what
cannot wait — read the stop, the tracee bytes and fd targets the decoder needs, and append a
raw record (`tracer.raw_recorder`).  Everything else (decoding, process table, links, clocks,
RLE, batching, sinks, the OTLP receiver) runs in a forked decoder process that replays the
records in order (`tracer.raw_replay`), on another CPU when there is one (`--pin-cpu` keeps it
off the program's CPU).

The decoder is forked before the program is launched, while the capture process has one thread
and has imported little, so its imports (pyarrow, the sinks) overlap the launch.  It opens its
outputs only when the LAUNCHED record says the program started (a command that cannot be run
leaves no run in the store), ignores SIGINT/SIGTERM, and ends at the capture's END record — or
at EOF, if the capture process was killed — after its outputs are complete.  The capture
process waits for it, so the store and the closing lines are done when the command returns.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from contextlib import ExitStack
from typing import Any, Callable

PROG = "renacer-tui"
_READY_TIMEOUT_S = 30.0  # the decoder's set-up (sinks, gRPC receiver) before the program may run

#: (ExitStack, ReplayMemory) -> the run's outputs (run_pipeline._Outputs), built in the decoder
MakeOutputs = Callable[[ExitStack, Any], Any]


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


class DecoderProcess:
    """The decoder process, seen from the capture process."""

    def __init__(self, pid: int, writer: Any, ready_r: int) -> None:
        self.pid = pid
        self._writer = writer
        self._ready_r = ready_r

    @classmethod
    def fork(cls, options: Any, reserved: Any, make_outputs: MakeOutputs) -> "DecoderProcess":
        """Fork the decoder; it waits for the LAUNCHED (or END) record."""
        from renacer_tui.tracer.raw_recorder import RecordWriter

        read_fd, write_fd = os.pipe()
        if reserved is not None and reserved.http_port is not None:
            reserved.placeholders[0].listen(128)  # a program's early export waits in the backlog, not refused
        # gRPC listens on its own socket, made in the decoder: the program may start only after that
        wait_ready = reserved is not None and reserved.grpc_port is not None
        ready_r, ready_w = os.pipe() if wait_ready else (-1, -1)
        for stream in (sys.stdout, sys.stderr):  # or the child would write pending output a second time
            stream.flush()
        pid = os.fork()
        if pid == 0:
            os.close(write_fd)
            if ready_r >= 0:
                os.close(ready_r)
            _decoder_main(options, read_fd, ready_w, reserved, make_outputs)  # never returns
        os.close(read_fd)
        if ready_w >= 0:
            os.close(ready_w)
        if reserved is not None:
            reserved.release()  # the decoder holds the ports now
        return cls(pid, RecordWriter(write_fd), ready_r)

    def abort(self, message: str) -> None:
        """The program could not be started: the decoder ends without opening any output."""
        from renacer_tui.tracer.raw_recorder import write_end

        write_end(self._writer, time.time_ns(), {"error": message})
        self._close_ready()
        _wait(self.pid, {})

    def _close_ready(self) -> None:
        if self._ready_r >= 0:
            os.close(self._ready_r)
            self._ready_r = -1

    def run(self, options: Any, session: Any, dumps: tuple[Any, Any] = (None, None)) -> int:
        """Run the stop loop with a RawRecorder; the program's exit code."""
        from renacer_tui.tracer.capture import CaptureError
        from renacer_tui.tracer.idle import IdleFlusher
        from renacer_tui.tracer.raw_recorder import RawRecorder

        recorder = RawRecorder(self._writer, string_limit=options.string_limit, payloads=options.capture_payloads,
                               decisions=options.trace_transpiler_decisions, attached=options.attach_pid is not None,
                               fd_results=options.decode_fds > 0, dumps=dumps,
                               fd_details=options.decode_fds > 1, stacks=_stack_sampler(options))
        recorder.launched()
        if self._ready_r >= 0:
            select.select([self._ready_r], [], [], _READY_TIMEOUT_S)  # its receiver listens before the program runs
            self._close_ready()
        pid = self.pid
        try:
            with IdleFlusher(session.lock, recorder.flush):  # a program blocked in a long call still shows up
                result = session.run(recorder)
        except CaptureError as exc:
            recorder.finish(time.time_ns(), {"error": exc.message})
            _wait(pid, {})
            raise
        except BaseException as exc:
            recorder.finish(time.time_ns(), {"error": f"{type(exc).__name__}: {exc}"})
            _wait(pid, {})
            raise
        recorder.finish(time.time_ns(), {
            "exit_code": result.exit_code, "root_pid": result.root_pid, "tasks_seen": result.tasks_seen,
            "stops": result.stops, "detached": result.detached,
            "foreign_exits": {str(k): v for k, v in result.foreign_exits.items() if k != pid},
            "exec_failed": result.exec_failed,
        })
        status = _wait(pid, result.foreign_exits)
        if status is not None and status != 0:
            _say("the decoder process failed; the outputs may be incomplete")
        if result.exec_failed is not None:
            print(result.exec_failed, file=sys.stderr, flush=True)
        return int(result.exit_code)


def _stack_sampler(options: Any) -> Any:
    """--source: the stack sampler, here in the capture process because it reads the stopped
    task (registers, stack words); its frames travel to the decoder with the records."""
    if not options.wants_source:
        return None
    from renacer_tui.tracer.symbols.stacks import StackSampler

    return StackSampler.for_source(options.stack_trace)


def _wait(pid: int, reaped: dict[int, int]) -> int | None:
    """The decoder's exit code (the stop loop may already have reaped it, if it died early)."""
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        status = reaped.get(pid)
        return None if status is None else os.waitstatus_to_exitcode(status)


def _decoder_main(options: Any, read_fd: int, ready_w: int, reserved: Any, make_outputs: MakeOutputs) -> None:
    """The decoder process: replay the records onto the span builder and its outputs."""
    code = 70
    try:
        from renacer_tui.sinks.forking import become_child, move_off

        keep = [read_fd, 1]  # stdout stays: `-o /dev/stdout` is the program's stdout, as with strace
        if ready_w >= 0:
            keep.append(ready_w)
        if options.feed_fd is not None:
            keep.append(options.feed_fd)
        if reserved is not None:
            keep += [placeholder.fileno() for placeholder in reserved.placeholders]
        become_child(tuple(keep), None)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # it ends on END or EOF, after flushing
        if options.pin_cpu is not None:
            move_off({options.pin_cpu})
        code = _decode(options, read_fd, ready_w, reserved, make_outputs)
    except BaseException as exc:  # one line, never a traceback
        try:
            _say(f"decoder process failed: {type(exc).__name__}: {exc}")
        except BaseException:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _decode(options: Any, read_fd: int, ready_w: int, reserved: Any, make_outputs: MakeOutputs) -> int:
    from renacer_tui.tracer.capture import CaptureResult
    from renacer_tui.tracer.raw_replay import ReplayMemory, replay, wait_launched

    _preload(options)  # while the capture process launches the program
    first = wait_launched(read_fd)
    if first is None:  # the program did not start (the capture process says why), or the capture died
        return 0
    mem = ReplayMemory()
    with ExitStack() as stack:
        outputs = make_outputs(stack, mem)
        outputs.start_receiver(reserved)
        if ready_w >= 0:
            os.write(ready_w, b"r")
            os.close(ready_w)
        builder = outputs.builder
        try:
            outcome = replay(read_fd, builder, mem, idle=builder.flush_idle, initial=first)
        except BaseException:
            outputs.abort()
            raise
        if outcome is not None and "error" in outcome:
            outputs.abort()  # the capture process reports the error
            return 0
        attached = options.attach_pid is not None
        if outcome is None:
            _say("the capture process ended without its result; the spans recorded until then are kept")
            # PTRACE_O_EXITKILL killed a launched program with the tracer; an attached one runs on
            result = CaptureResult(0 if attached else 128 + signal.SIGKILL, 0, 0, 0, attached)
            raw_dropped = 0
        else:
            result = CaptureResult(
                outcome["exit_code"], outcome["root_pid"], outcome["tasks_seen"], outcome["stops"], outcome["detached"],
                {int(k): v for k, v in outcome["foreign_exits"].items()}, outcome.get("exec_failed"),
            )
            raw_dropped = int(outcome.get("raw_dropped", 0))
        outputs.conclude(result, raw_dropped)
    return 0


def _preload(options: Any) -> None:
    """Import what the outputs will need now, while the program is being launched."""
    import renacer_tui.sinks.fanout  # noqa: F401  (pyarrow)
    import renacer_tui.sinks.headless  # noqa: F401
    import renacer_tui.tracer.spans  # noqa: F401

    if options.store:
        import renacer_tui.store  # noqa: F401
