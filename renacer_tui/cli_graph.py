"""`renacer-tui graph build|critical-path|antipatterns|pagerank|export`: analyses of a stored trace.

Thin: loads the trace through `store.Store`, builds the causal graph with `analysis.graph` and
prints what the analysis functions return.  Every string that came from the traced program is
rendered literally (`renacer_tui.text`), so a span named ``[red]x`` or holding an escape
sequence prints as those characters.  Problems are one line on stderr — exit 1 for an unknown
trace or an unreadable store, 2 for bad arguments (trace id, speedup, format) — never a
traceback.  `--trace-id` defaults to the most recently stored trace.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.text import Text

from renacer_tui.cli_common import (
    CliError,
    check_format,
    emit_text,
    literal_console,
    normalize_trace_id,
    one_line,
    open_store,
    print_store_warnings,
)
from renacer_tui.model import safe_json
from renacer_tui.model.readable import format_duration
from renacer_tui.text import escape, literal

if TYPE_CHECKING:
    from renacer_tui.analysis.graph import CausalGraph

_SEVERITY_STYLE = {"high": ("🔴", "bold red"), "medium": ("🟡", "yellow"), "low": ("🔵", "blue")}
_TRACE_HELP = "The 32-hex trace id (default: the most recent stored trace)."
_DB_HELP = "Store location (default: RENACER_DB or ~/.renacer/db)."


def register(app: typer.Typer) -> None:
    """Add the `graph` command group."""
    graph = typer.Typer(
        name="graph",
        help="Causal analyses of a stored trace: critical path with what-if, anti-patterns, PageRank, DOT/SVG export.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    graph.command("build", help="Build the causal graph and print its node/edge counts and defects.")(build_command)
    graph.command("critical-path", help="The critical path: each step, its duration and share; --speedup asks what-if.")(
        critical_path_command
    )
    graph.command("antipatterns", help="Detected anti-patterns with severity, evidence and a one-line fix.")(
        antipatterns_command
    )
    graph.command("pagerank", help="PageRank hot spots, aggregated by span name or call site.")(pagerank_command)
    graph.command("export", help="The causal graph as DOT, or SVG (Graphviz if installed, else a built-in waterfall).")(
        export_command
    )
    app.add_typer(graph, name="graph")


# ------------------------------------------------------------------------------- plumbing


def _run(command: str, body: Any) -> int:
    """Run `body()`; a CliError becomes one line on stderr and its exit code."""
    try:
        return int(body() or 0)
    except CliError as exc:
        print(f"renacer-tui graph {command}: {exc}", file=sys.stderr)
        return exc.code


def _load_graph(command: str, trace_id: Optional[str], db: Optional[Path]) -> tuple[str, "CausalGraph"]:
    """Resolve the trace id (default: newest), read its spans and build the causal graph."""
    from renacer_tui.analysis.graph import build_graph
    from renacer_tui.analysis.loading import TraceNotFound, load_trace

    wanted = normalize_trace_id(trace_id) if trace_id is not None else None
    store = open_store(db)
    try:
        if wanted is None:
            recent = store.list_traces(1).column("trace_id").to_pylist()
            if not recent:
                raise CliError(f"no traces in {store.root}; trace a program first or pass --trace-id", 1)
            wanted = str(recent[0])
        try:
            table = load_trace(store, wanted)
        except TraceNotFound:
            raise CliError(f"no trace {wanted} in {store.root}", 1) from None
        except Exception as exc:
            raise CliError(f"cannot read trace {wanted}: {one_line(exc)}", 1) from None
        print_store_warnings(store)
    finally:
        store.close()
    cg = build_graph(table)
    if command != "build":
        for defect in cg.defects:
            print(f"renacer-tui: warning: trace defect ({defect.kind}): {escape(defect.message)}", file=sys.stderr)
    return wanted, cg


# ------------------------------------------------------------------------------- build


def build_command(
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help=_TRACE_HELP),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """Node and edge counts by type, and every defect found in the recording."""

    def body() -> int:
        kind = check_format(fmt, ("text", "json"))
        tid, cg = _load_graph("build", trace_id, db)
        counts = cg.counts()
        defects = [{"kind": d.kind, "message": d.message, "span_ids": d.span_ids} for d in cg.defects]
        if kind == "json":
            emit_text(safe_json.dumps({"trace_id": tid, **counts, "defects": defects}, indent=2), None, "")
            return 0
        out = literal_console(soft_wrap=True)
        out.print(f"Causal graph of trace {tid}: {counts['nodes']} spans, {counts['edges']} edges")
        for name, value in counts["by_type"].items():
            out.print(f"  {name:<15} {value}")
        out.print("  by source: " + ", ".join(f"{k} {v}" for k, v in counts["by_kind"].items()))
        if not defects:
            out.print("No defects: the graph is a DAG.")
        for d in cg.defects:
            line = Text("defect ", style="bold red")
            line.append(f"({d.kind}): ")
            line.append_text(literal(d.message))
            out.print(line)
        return 0

    return _run("build", body)


# ------------------------------------------------------------------------------- critical path


def critical_path_command(
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help=_TRACE_HELP),
    fmt: str = typer.Option("text", "--format", "-f", help="text, json or svg."),
    speedup: Optional[list[str]] = typer.Option(
        None, "--speedup", help="What-if: NAME_OR_SPAN_ID=10x makes that span (or every span of that name) 10× faster; repeatable."
    ),
    limit: int = typer.Option(40, "--limit", "-n", help="Show the N longest steps in time order (0: all)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to FILE instead of stdout."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """Print the critical path: non-overlapping steps summing to at most the trace's wall time."""

    def body() -> int:
        from renacer_tui.analysis.critical_path import (
            SpeedupError,
            critical_path,
            parse_speedup,
            what_if,
        )

        kind = check_format(fmt, ("text", "json", "svg"))
        if limit < 0:
            raise CliError(f"--limit must be 0 or more, got {limit}", 2)
        factors: dict[str, float] = {}
        for item in speedup or []:
            try:
                key, factor = parse_speedup(item)
            except SpeedupError as exc:
                raise CliError(escape(str(exc)), 2) from None
            factors[key] = factor
        tid, cg = _load_graph("critical-path", trace_id, db)
        cp = critical_path(cg)
        wi = None
        if factors:
            try:
                wi = what_if(cg, factors, cp)
            except SpeedupError as exc:
                raise CliError(escape(str(exc)), 2) from None
        if kind == "json":
            doc = {"trace_id": tid, **cp.to_dict(limit or None)}
            if wi is not None:
                doc["what_if"] = wi.to_dict()
            emit_text(safe_json.dumps(doc, indent=2), output, "the critical path (json)")
        elif kind == "svg":
            from renacer_tui.exporters.graph_drawing import waterfall_svg

            emit_text(waterfall_svg(cp), output, "the critical path (svg)")
            if wi is not None:
                print(f"renacer-tui: {escape(wi.sentence())}", file=sys.stderr)
        else:
            _print_path(tid, cp, wi, limit, output)
        return 0

    return _run("critical-path", body)


def _print_path(trace_id: str, cp: Any, wi: Any, limit: int, output: Optional[Path]) -> None:
    """The spec's §5.2 listing: the chain, then one row per step, the bottleneck marked."""
    
    rows = cp.rows(cp.top(limit) if limit else None)
    b = cp.bottleneck
    to_file = output is not None and str(output) != "-"
    console = literal_console(io.StringIO() if to_file else None, soft_wrap=True)
    wall = max(cp.wall_ns, 1)
    console.print(
        f"Critical path of trace {trace_id}: {format_duration(cp.total_ns)} in {len(cp.node)} steps "
        f"({cp.total_ns / wall:.1%} of the {format_duration(cp.wall_ns)} wall time)"
    )
    if not rows:
        console.print("The trace has no root span: nothing to walk.")
    chain = Text()
    for row in rows:
        if row["share"] < 0.01 and row["index"] != b:
            continue
        if chain.plain:
            chain.append(" → ")
        chain.append_text(literal(row["name"], "bold red" if row["index"] == b else ""))
        chain.append(f" ({format_duration(row['self_ns'])})")
    if chain.plain:
        console.print(chain)
    if limit and len(rows) < len(cp.node):
        console.print(f"showing the {len(rows)} longest of {len(cp.node)} steps, in time order (--limit 0 for all)")
    console.print(f"{'step':>5}  {'duration':>9}  {'share':>6}  span")
    for row in rows:
        hot = row["index"] == b
        line = Text(f"{row['index'] + 1:>5}  {format_duration(row['self_ns']):>9}  {row['share']:>6.1%}  ", style="bold red" if hot else "")
        line.append_text(literal(row["name"], "bold red" if hot else "bold"))
        if row["calls"] > 1:
            line.append(f" ×{row['calls']}")
        if row["detail"]:
            line.append("  ")
            line.append_text(literal(row["detail"], "dim"))
        line.append(f"  [{row['span_id']}]", style="dim")
        if hot:
            line.append("  ◀ bottleneck", style="bold red")
        console.print(line)
    if b >= 0:
        top = cp.rows([b])[0]
        line = Text("Bottleneck: ")
        line.append_text(literal(top["name"], "bold red"))
        line.append(f" {format_duration(top['self_ns'])} ({top['share']:.1%} of the path), span {top['span_id']}")
        console.print(line)
    if wi is not None:
        console.print(literal(wi.sentence(), "bold"))
    if to_file:
        emit_text(console.file.getvalue(), output, "the critical path (text)")


# ------------------------------------------------------------------------------- anti-patterns


def antipatterns_command(
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help=_TRACE_HELP),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """List findings, most severe first (exit 0 whether or not any were found)."""

    def body() -> int:
        from renacer_tui.analysis.antipatterns import detect
        from renacer_tui.store.config import ConfigError, load_config
        from renacer_tui.thresholds import configured_thresholds, graph_key_warnings

        kind = check_format(fmt, ("text", "json"))
        try:
            config = load_config()
        except ConfigError as exc:
            raise CliError(one_line(exc), 2) from None
        for warning in graph_key_warnings(config):
            print(f"renacer-tui: warning: {escape(warning)}", file=sys.stderr)
        if not config.graph.enable_antipattern_detection:
            where = config.source or "config.toml"
            print(f"anti-pattern detection is off (enable_antipattern_detection = false in {escape(where)})")
            return 0
        try:
            thresholds = configured_thresholds()
        except (TypeError, ValueError) as exc:
            raise CliError(f"bad [graph] threshold in config.toml: {one_line(exc)}", 2) from None
        tid, cg = _load_graph("antipatterns", trace_id, db)
        findings = detect(cg, thresholds)
        if kind == "json":
            emit_text(safe_json.dumps({"trace_id": tid, "findings": [f.to_dict() for f in findings]}, indent=2), None, "")
            return 0
        out = literal_console(soft_wrap=True)
        if not findings:
            out.print(f"No anti-patterns found in trace {tid} ({cg.n} spans).")
            return 0
        out.print(f"{len(findings)} anti-pattern(s) in trace {tid}:")
        for f in findings:
            icon, style = _SEVERITY_STYLE.get(f.severity, ("•", ""))
            line = Text(f"{icon} ")
            line.append(f"{f.severity:<6} ", style=style)
            line.append_text(literal(f.title, style))
            out.print(line)
            out.print(Text("     fix: ").append_text(literal(f.fix)))
            evidence = [f"{f.count} call(s)"]
            if f.path:
                evidence.append(f"path {f.path}")
            if f.fd is not None:
                evidence.append(f"fd {f.fd}")
            if f.pid is not None:
                evidence.append(f"pid {f.pid}")
            shown = ", ".join(f.span_ids[:5]) + (f", … ({len(f.span_ids)} listed)" if len(f.span_ids) > 5 else "")
            evidence.append(f"spans {shown}")
            out.print(Text("     evidence: ", style="dim").append_text(literal("; ".join(evidence), "dim")))
        return 0

    return _run("antipatterns", body)


# ------------------------------------------------------------------------------- PageRank


def pagerank_command(
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help=_TRACE_HELP),
    top: int = typer.Option(10, "--top", "-n", help="How many hot spots to list."),
    by: str = typer.Option("name", "--by", help="Aggregate by span name, by call site (source), or per span."),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """The highest aggregated PageRank scores on the causal graph."""

    def body() -> int:
        from renacer_tui.analysis.pagerank import pagerank

        kind = check_format(fmt, ("text", "json"))
        group = by.strip().lower()
        if group not in ("name", "source", "span"):
            raise CliError(f"unknown --by {escape(by)!r} (use name, source or span)", 2)
        if top < 1:
            raise CliError(f"--top must be at least 1, got {top}", 2)
        tid, cg = _load_graph("pagerank", trace_id, db)
        ranks = pagerank(cg)
        if group == "source" and not ranks.has_sources():
            raise CliError(f"trace {tid} records no call-site source; use --by name", 1)
        spots = ranks.top(top, by=group)
        if kind == "json":
            emit_text(safe_json.dumps({"trace_id": tid, "by": group, "hot_spots": [s.to_dict() for s in spots]}, indent=2), None, "")
            return 0
        out = literal_console(soft_wrap=True)
        out.print(f"PageRank hot spots of trace {tid} by {group} ({cg.n} spans):")
        for rank, spot in enumerate(spots, 1):
            line = Text(f"{rank:>3}. ")
            line.append_text(literal(spot.key, "bold"))
            line.append(f" - PageRank: {spot.score:.4f}  ({spot.spans} spans, {spot.calls} calls)")
            out.print(line)
        return 0

    return _run("pagerank", body)


# ------------------------------------------------------------------------------- export


def export_command(
    trace_id: Optional[str] = typer.Option(None, "--trace-id", help=_TRACE_HELP),
    fmt: str = typer.Option("dot", "--format", "-f", help="dot or svg."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to FILE instead of stdout."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> int:
    """DOT always; SVG through Graphviz when `dot` is installed, else the built-in waterfall."""

    def body() -> int:
        from renacer_tui.exporters.graph_drawing import to_dot, to_svg

        kind = check_format(fmt, ("dot", "svg"))
        tid, cg = _load_graph("export", trace_id, db)
        text = to_dot(cg) if kind == "dot" else to_svg(cg)
        emit_text(text, output, f"the causal graph of trace {tid} ({kind})")
        return 0

    return _run("export", body)
