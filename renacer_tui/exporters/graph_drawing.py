"""Export the causal graph as DOT, and as SVG with or without Graphviz.

Why two SVG paths: Graphviz renders the real graph but is an external binary many hosts lack;
the built-in renderer draws what a reader needs first — the critical path as a waterfall —
with nothing but the standard library, so `graph export --format svg` always works.
Span names come from traced programs and are hostile: every label is escaped for its target
(DOT string rules, XML text and attributes), and control characters are made visible.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import numpy as np

from renacer_tui.analysis.critical_path import (
    CriticalPath,
    critical_path,
    describe,
)
from renacer_tui.analysis.graph import EDGE_KINDS, CausalGraph
from renacer_tui.model.readable import format_duration

#: Beyond this many nodes the DOT holds the critical path's spans and the edges among them.
DOT_MAX_NODES = 2000
#: Graphviz gets this long before the built-in waterfall is drawn instead.
GRAPHVIZ_TIMEOUT_S = 60
#: The waterfall draws at most this many segments (the largest, in time order).
SVG_MAX_ROWS = 400
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ExportError(RuntimeError):
    """Graphviz failed on a graph we produced (reported, then the built-in SVG is used)."""


def visible(text: str) -> str:
    """Control characters as \\xNN so no label can move a cursor or break a line."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _dot_text(text: str) -> str:
    return visible(text).replace("\\", "\\\\").replace('"', '\\"')


def dot_quote(text: str) -> str:
    """A DOT double-quoted string whose content is shown literally."""
    return '"' + _dot_text(text) + '"'


def to_dot(
    cg: CausalGraph, max_nodes: int = DOT_MAX_NODES, path: CriticalPath | None = None, for_layout: bool = False
) -> str:
    """The causal graph in DOT; large graphs are cut down to the critical path's spans.

    `for_layout` (what the SVG hands to Graphviz) leaves out the parent edge of a span that a
    program-order edge already reaches: a process's edge to each of its N calls, beside the
    chain of those calls, spans up to N ranks and makes Graphviz route O(N²) virtual nodes —
    more than 100 s of CPU for 1137 spans, against 1.3 s without them.  The first call of each
    thread keeps its parent edge, so the drawing still shows which process every chain is in.
    """
    cols = cg.cols
    src, dst, kind = cg.live_edges()
    if for_layout:
        chained = np.zeros(cols.n, bool)
        chained[dst[kind == EDGE_KINDS.index("program-order")]] = True
        keep_edge = ~((kind == EDGE_KINDS.index("parent")) & chained[dst])
        src, dst, kind = src[keep_edge], dst[keep_edge], kind[keep_edge]
    cp = path if path is not None else critical_path(cg)
    on_path = np.zeros(cols.n, bool)
    on_path[cp.node] = True
    if cols.n <= max_nodes:
        nodes = np.arange(cols.n)
        note = ""
    else:
        nodes = np.unique(cp.node)[:max_nodes]
        note = f"  // {cols.n} spans: showing the {len(nodes)} on the critical path\n"
    keep = np.zeros(cols.n, bool)
    keep[nodes] = True
    trace = cols.table.column("trace_id")[0].as_py() if cols.n else "empty"
    lines = [f"digraph {dot_quote('trace_' + str(trace))} {{", "  rankdir=TB;", "  node [shape=box, fontname=monospace];"]
    if note:
        lines.append(note.rstrip("\n"))
    for i in nodes.tolist():
        parts = [cols.name(i), format_duration(int(cols.duration[i]))]
        source = cols.source(i)
        parts += [extra for extra in (describe(cg, i), source) if extra]
        if cols.rle_count[i] > 1:
            parts.append(f"×{int(cols.rle_count[i])}")
        style = ", color=red, penwidth=2" if on_path[i] else ""
        # Each part is escaped on its own; the "\n" DOT line breaks are added between them.
        quoted = '"' + "\\n".join(_dot_text(part) for part in parts) + '"'
        lines.append(f"  n{i} [label={quoted}{style}];")
    both = keep[src] & keep[dst]
    for u, v, k in zip(src[both].tolist(), dst[both].tolist(), kind[both].tolist()):
        lines.append(f'  n{u} -> n{v} [label="{EDGE_KINDS[k]}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(cg: CausalGraph, use_graphviz: bool = True, path: CriticalPath | None = None) -> str:
    """SVG: Graphviz's drawing of the DOT when `dot` is installed, else the built-in waterfall."""
    cp = path if path is not None else critical_path(cg)
    exe = shutil.which("dot") if use_graphviz else None
    if exe:
        try:
            dot = to_dot(cg, path=cp, for_layout=True).encode()
            done = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, timeout=GRAPHVIZ_TIMEOUT_S)
            if done.returncode == 0 and done.stdout:
                return done.stdout.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired):
            pass
    return waterfall_svg(cp)


def waterfall_svg(cp: CriticalPath, width: int = 1000) -> str:
    """The critical path as a waterfall: one bar per segment on the trace's time axis."""
    cols = cp.cg.cols
    picked = cp.top(SVG_MAX_ROWS)
    row_h, label_w, top = 18, 360, 48
    bar_w = width - label_w - 20
    height = top + row_h * max(len(picked), 1) + 40
    t0 = int(cp.start[0]) if len(cp.node) else 0
    span = max(int(cp.end[-1]) - t0 if len(cp.node) else 1, 1)
    total = max(cp.total_ns, 1)
    bottleneck = cp.bottleneck
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="monospace" font-size="12">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{xml_escape(visible("Critical path — total " + format_duration(cp.total_ns) + f" of {format_duration(cp.wall_ns)} wall, {len(cp.node)} steps"))}</text>',
    ]
    if len(picked) < len(cp.node):
        out.append(f'<text x="10" y="36" fill="#666666">showing the {len(picked)} longest steps in time order</text>')
    for row, k in enumerate(picked):
        i = int(cp.node[k])
        dur = int(cp.end[k] - cp.start[k])
        y = top + row * row_h
        x = label_w + (int(cp.start[k]) - t0) / span * bar_w
        w = max(dur / span * bar_w, 1.0)
        hot = k == bottleneck
        name = visible(cols.name(i))
        label = f"{name} {format_duration(dur)} ({dur / total:.0%})" + (" BOTTLENECK" if hot else "")
        tip = f"{name} span {cols.id_of(i)} {visible(describe(cp.cg, i))}"
        out.append(f'<g><title>{xml_escape(tip)}</title>')
        out.append(f'<text x="10" y="{y + 13}"{" fill=" + quoteattr("#b00000") if hot else ""}>{xml_escape(label[:56])}</text>')
        fill = "#d62728" if hot else "#1f77b4"
        out.append(f'<rect x="{x:.2f}" y="{y + 3}" width="{w:.2f}" height="{row_h - 6}" fill="{fill}"/></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
