"""`python bench/bare_loop.py [OPTIONS] -- CMD`: the raw capture loop with a counting listener.

A bench harness, not part of the product: it measures the loop alone (bench/tracer.py) and lets
one poke at it by hand; the real command line is `renacer-tui`, which adds span building and sinks.
"""

from __future__ import annotations

import argparse
import sys
import time

from renacer_tui.tracer.capture import CaptureError, CaptureOptions, CaptureSession


class CountingListener:
    """The cheapest possible listener: counts events, reads nothing."""

    def __init__(self) -> None:
        self.entries = 0
        self.exits = 0
        self.tasks = 0
        self.signals = 0

    def on_start(self, tid: int, t_ns: int) -> None:
        self.tasks += 1

    def on_syscall_entry(self, tid, tgid, nr, args, t_ns, mem) -> None:  # hot path
        self.entries += 1

    def on_syscall_exit(self, tid, ret, is_error, t_ns, mem) -> None:
        self.exits += 1

    def on_new_task(self, tid: int, tgid: int, parent_tid: int, is_thread: bool, t_ns: int) -> None:
        self.tasks += 1

    def on_exec(self, tid: int, tgid: int, former_tid: int, t_ns: int) -> None:
        pass

    def on_injected(self, tid: int) -> None:
        pass

    def on_signal(self, tid: int, signo: int, sender_pid: int, t_ns: int, siginfo: bytes) -> None:
        self.signals += 1

    def on_group_stop(self, tid: int, signo: int, t_ns: int) -> None:
        pass

    def on_exit(self, tid: int, wait_status: int, t_ns: int) -> None:
        pass

    def on_detach(self, t_ns: int) -> None:
        pass


def syscall_numbers(spec: str) -> frozenset[int]:
    """Numbers for a comma list of x86-64 syscall names (python-ptrace's table)."""
    from renacer_tui.model.syscalls import SYSCALL_NUMBERS as by_name

    out = set()
    for name in filter(None, (part.strip() for part in spec.split(","))):
        if name not in by_name:
            raise CaptureError(f"renacer-tui: unknown syscall name: {name}", 2)
        out.add(by_name[name])
    return frozenset(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/bare_loop.py", description=__doc__.splitlines()[0])
    parser.add_argument("-p", dest="pid", type=int, help="attach to a running process")
    parser.add_argument("--trace", help="comma list of syscall names: a seccomp filter")
    parser.add_argument("--no-follow", action="store_true")
    parser.add_argument("--spin-us", type=int, help="default: 50 (0: block at once)")
    parser.add_argument("--pin-cpu", type=int)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    try:
        numbers = syscall_numbers(args.trace) if args.trace else None
        options = CaptureOptions(
            argv=cmd or None if args.pid is None else None,
            attach_pid=args.pid,
            follow=not args.no_follow,
            traced_numbers=numbers,
            spin_us=args.spin_us,
            pin_cpu=args.pin_cpu,
        )
        session = CaptureSession(options)
        session.start()
        listener = CountingListener()
        started = time.perf_counter()
        result = session.run(listener)
        elapsed = time.perf_counter() - started
    except CaptureError as exc:
        print(exc.message, file=sys.stderr)
        return exc.exit_code
    print(
        f"renacer-capture: {result.stops} ptrace stops, entries={listener.entries} exits={listener.exits} "
        f"tasks={result.tasks_seen} exit={result.exit_code} in {elapsed:.3f}s",
        file=sys.stderr,
    )
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
