"""PageRank hot spots on the causal graph, aggregated by span name and by call site.

Why aggregate: a per-span score says little in a trace of a million syscalls; what a reader
acts on is "which *kind* of call" (span name) and "which line of my code" (the `c_source`,
`python_source` or `rust_source` column, when the source correlation filled it in).
The scores are rustworkx.pagerank's (same damping, uniform teleport and dangling mass, parallel
edges summed, stop when the L1 change drops below n·tol, keeping the previous iterate) computed by power iteration
over the graph's edge arrays with numpy: no rustworkx graph has to exist, and one
`np.bincount` sparse product per iteration beats rustworkx's own at a million spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc
import rustworkx as rx

from renacer_tui.analysis.graph import CausalGraph
from renacer_tui.model.schema import SOURCE_COLUMNS

#: The Python line first: where a transpiler map gave one, it is the line the user wrote.


@dataclass
class HotSpot:
    """One aggregated PageRank entry: a span name or a call site."""

    key: str
    score: float
    spans: int
    calls: int  # RLE rows count as the calls they stand for

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "score": self.score, "spans": self.spans, "calls": self.calls}


@dataclass
class PageRank:
    """Per-node scores (summing to 1) and the aggregations readers want."""

    cg: CausalGraph
    scores: np.ndarray

    def top(self, n: int = 10, by: str = "name") -> list[HotSpot]:
        """The `n` highest aggregated scores; `by` is "name", "source" or "span"."""
        cols = self.cg.cols
        if by == "span":
            best = np.argsort(-self.scores, kind="stable")[:n]
            return [HotSpot(cols.id_of(i), float(self.scores[i]), 1, int(cols.rle_count[i])) for i in best.tolist()]
        if by == "name":
            codes, labels = cols.name_code, cols.names
        elif by == "source":
            source_codes, labels = self._source_codes()
            if source_codes is None:
                return []
            codes = source_codes
        else:
            raise ValueError(f"unknown aggregation {by!r} (name, source or span)")
        keep = codes >= 0
        k = len(labels)
        score = np.bincount(codes[keep], weights=self.scores[keep], minlength=k)
        spans = np.bincount(codes[keep], minlength=k)
        calls = np.bincount(codes[keep], weights=cols.rle_count[keep], minlength=k)
        best = np.argsort(-score, kind="stable")[:n]
        return [HotSpot(labels[j], float(score[j]), int(spans[j]), int(calls[j])) for j in best.tolist() if spans[j]]

    def has_sources(self) -> bool:
        return self._source_codes()[0] is not None

    def _source_codes(self) -> tuple[np.ndarray | None, list[str]]:
        """Codes of the first non-null source column per span (-1 where none is known)."""
        table = self.cg.cols.table
        merged = None
        for name in SOURCE_COLUMNS:
            if name in table.schema.names:
                column = table.column(name)
                merged = column if merged is None else pc.coalesce(merged, column)
        if merged is None or merged.null_count == len(merged):
            return None, []
        encoded = pc.dictionary_encode(merged).combine_chunks()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return codes, encoded.dictionary.to_pylist()


class _NotConverged(Exception):
    """Power iteration ran out of iterations (rustworkx raises FailedToConverge there)."""


def _power_iteration(cg: CausalGraph, alpha: float, max_iter: int, tol: float) -> np.ndarray:
    """rustworkx.pagerank's iteration on the live edge arrays; `_NotConverged` after `max_iter`."""
    n = cg.n
    src, dst, _ = cg.live_edges()
    out_degree = np.bincount(src, minlength=n).astype(np.float64)
    dangling = np.flatnonzero(out_degree == 0)
    inv_out = np.zeros(n, dtype=np.float64)
    np.divide(1.0, out_degree, out=inv_out, where=out_degree > 0)
    x = np.full(n, 1.0 / n)
    teleport = (1.0 - alpha) / n
    for _ in range(max_iter):
        spread = np.bincount(dst, weights=(x * inv_out)[src], minlength=n) if len(src) else np.zeros(n)
        new = alpha * spread + (alpha * float(x[dangling].sum()) / n + teleport)
        if float(np.abs(new - x).sum()) < n * tol:
            return x  # like rustworkx: the iterate that the last step confirmed
        x = new
    raise _NotConverged


def pagerank(cg: CausalGraph, alpha: float = 0.85, max_iter: int = 100, tol: float = 1e-6) -> PageRank:
    """PageRank of every span in the causal graph (rustworkx's definition; scores sum to 1)."""
    n = cg.n
    if n == 0:
        return PageRank(cg, np.zeros(0, dtype=np.float64))
    try:
        scores = _power_iteration(cg, alpha, max_iter, tol)
    except _NotConverged:
        # Still a usable ranking: retry with a looser tolerance rather than fail the command.
        try:
            scores = _power_iteration(cg, alpha, max_iter * 10, tol * 100)
        except _NotConverged:
            raise rx.FailedToConverge(f"PageRank did not converge in {max_iter * 10} iterations") from None
    return PageRank(cg, scores)
