"""`renacer-tui serve`: the OTLP receiver as a standalone daemon that stores what it receives.

How spans from many machines land in one store: CI runners, instrumented tools and remote
`renacer-tui --otlp-endpoint` runs send to it.  Loopback unless `--listen` says otherwise, and
any other address needs a bearer token (`--token` or RENACER_TOKEN), checked on every request.
On a terminal it shows the live `serve` screen (traces as spans arrive, the latest spans; the
traces browser and SQL console over the same store); headless (`--no-tui`, or no terminal) a
line on stderr for each second that brought spans.  A summary ends either.
Ctrl-C or SIGTERM stops listening, writes everything received to the store and exits 0.
"""

from __future__ import annotations

import ipaddress
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Optional

import typer

from renacer_tui.cli_common import CliError, one_line, open_store
from renacer_tui.text import escape

PROG = "renacer-tui serve"
HELP = "Receive OTLP traces (gRPC :4317, HTTP :4318) from programs and runs, and store them."
REPORT_INTERVAL_S = 1.0


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the CLI."""
    app.command("serve", help=HELP)(serve_command)


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def listen_host(text: str, token: Optional[str]) -> str:
    """The address to bind: an IP address (or `localhost`); a non-loopback one needs a token."""
    value = text.strip()
    if value == "localhost":
        value = "127.0.0.1"
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        raise CliError(f"--listen needs an IP address, not {escape(text)!r}", 2) from None
    if not address.is_loopback and not token:
        raise CliError(f"listening on {address} (not loopback) needs a bearer token: --token or RENACER_TOKEN", 2)
    return str(address)


def _port(value: int, name: str) -> int:
    if not 0 <= value <= 65535:
        raise CliError(f"{name} must be 0..65535 (0: any free port), not {value}", 2)
    return value


def serve_command(
    grpc_port: int = typer.Option(4317, "--grpc-port", help="OTLP/gRPC port (0: any free port)."),
    http_port: int = typer.Option(4318, "--http-port", help="OTLP/HTTP port, protobuf and JSON (0: any free port)."),
    no_grpc: bool = typer.Option(False, "--no-grpc", help="Do not listen for OTLP/gRPC."),
    no_http: bool = typer.Option(False, "--no-http", help="Do not listen for OTLP/HTTP."),
    listen: str = typer.Option("127.0.0.1", "--listen", metavar="ADDR",
                               help="Address to bind; anything but loopback needs --token."),
    token: Optional[str] = typer.Option(None, "--token", envvar="RENACER_TOKEN", show_envvar=True,
                                        help="Bearer token every request must carry (Authorization: Bearer …)."),
    db: Optional[Path] = typer.Option(None, "--db", help="Store location (default: RENACER_DB or ~/.renacer/db)."),
    max_request_bytes: Optional[int] = typer.Option(None, "--max-request-bytes", min=1024,
                                                    help="Largest request accepted, also after decompression (16 MiB)."),
    no_tui: bool = typer.Option(False, "--no-tui", help="Headless: progress lines on stderr instead of the live screen."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Daemon processes sharing the ports: ingest past one core (headless)."),
) -> int:
    """Receive OTLP spans until Ctrl-C / SIGTERM, storing each sender's traces."""
    from renacer_tui.receiver.daemon import DaemonOptions
    from renacer_tui.receiver.intake import DEFAULT_MAX_BYTES

    try:
        if no_grpc and no_http:
            raise CliError("nothing to listen on: --no-grpc and --no-http together", 2)
        host = listen_host(listen, token)
        options = DaemonOptions(
            host=host,
            grpc_port=None if no_grpc else _port(grpc_port, "--grpc-port"),
            http_port=None if no_http else _port(http_port, "--http-port"),
            token=token or None,
            max_bytes=max_request_bytes or DEFAULT_MAX_BYTES,
        )
        store = open_store(db, from_segments=False)
    except CliError as exc:
        _say(str(exc))
        return exc.code
    if workers > 1:  # each worker opens the store itself, after the fork
        root = store.root
        store.close()
        return _serve_workers(db, root, options, workers)
    try:
        return _serve(store, options, tui=not no_tui and sys.stdin.isatty() and sys.stdout.isatty())
    finally:
        store.close()


def _serve(store: Any, options: Any, tui: bool = False) -> int:
    from renacer_tui.receiver.daemon import ServeDaemon

    model = None
    held: list[str] = []  # sink errors while the screen is up: printed once it is gone
    if tui:
        from renacer_tui.serve_model import ServeModel

        model = ServeModel()

    def sink_failed(name: str, message: str) -> None:
        line = f"{name} sink failed: {escape(message)}"
        if tui:
            held.append(line)
        else:
            _say(line)

    stop = threading.Event()
    # both just end the wait below (even where a parent left SIGINT ignored, as `cmd &` does)
    previous = {signum: signal.signal(signum, lambda signum, frame: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            daemon = ServeDaemon(store, options, command="serve", on_sink_error=sink_failed,
                                 on_batch=model.absorb if model is not None else None)
        except (OSError, RuntimeError) as exc:  # a port in use: grpcio says RuntimeError
            ports = ", ".join(f"{kind} {port}" for kind, port in (("grpc", options.grpc_port), ("http", options.http_port))
                              if port is not None)
            _say(f"cannot listen on {options.host} ({ports}): {one_line(exc)}")
            return 1
        where = ", ".join(f"{kind} {url}" for kind, url in (("grpc", daemon.grpc_endpoint), ("http", daemon.http_endpoint)) if url)
        _say(f"listening: {where}; storing into {escape(store.root)}" + ("; token required" if options.token else ""))
        if model is not None:
            from renacer_tui.app import RenacerApp

            app = RenacerApp(store=store)
            app.start_serve(model, where, daemon.stats, stop)
            try:
                app.run()
            finally:
                final = daemon.close()
        else:
            _report_until(stop, daemon)
            final = daemon.close()
        for line in held:
            _say(line)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    _summary(final)
    return 0


def _reasons(rejected: dict[str, int]) -> str:
    return ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(rejected.items()))


def _progress(last: Any, now: Any) -> None:
    """The line for an interval that brought spans or rejections (nothing for a quiet one)."""
    new_spans = now.spans - last.spans
    new_rejected = sum(now.rejected.values()) - sum(last.rejected.values())
    if new_spans or new_rejected:
        _say(
            f"+{new_spans} spans in {now.requests - last.requests} requests"
            + (f", +{new_rejected} rejected" if new_rejected else "")
            + f" (total {now.spans} spans, {now.traces} traces)"
        )


def _report_until(stop: threading.Event, daemon: Any) -> None:
    """A line for each interval that brought spans or rejections, until `stop` is set."""
    last = daemon.stats()
    while not stop.wait(REPORT_INTERVAL_S):
        now = daemon.stats()
        _progress(last, now)
        last = now


def _serve_workers(db: Optional[Path], store_root: Path, options: Any, count: int) -> int:
    """`--workers N`: N forked daemons on the same ports (headless), counters added up."""
    from renacer_tui.receiver.workers import WorkerPool, run_pool

    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda signum, frame: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            pool = WorkerPool(db, options, count)
        except OSError as exc:
            _say(f"cannot listen on {options.host}: {one_line(exc)}")
            return 1
        if pool.errors:
            pool.stop()
            _say(f"a worker could not start: {escape(pool.errors[0])}")
            return 1
        where = ", ".join(f"{kind} {url}" for kind, url in (("grpc", pool.grpc_endpoint), ("http", pool.http_endpoint)) if url)
        _say(f"listening: {where}; storing into {escape(store_root)}" + ("; token required" if options.token else "")
             + f"; {count} workers")
        final = run_pool(pool, stop, _progress)
        errors = pool.errors
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for message in errors:
        _say(escape(message))
    _summary(final, f" by {count} workers")
    return 0


def _summary(final: Any, who: str = "") -> None:
    rejected = sum(final.rejected.values())
    _say(
        f"stored {final.spans} spans of {final.traces} traces from {final.requests} requests{who}"
        + (f"; {rejected} rejected ({_reasons(final.rejected)})" if rejected else "")
        + (f"; {final.dropped} dropped" if final.dropped else "")
    )
