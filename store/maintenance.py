"""Keeping a store healthy: orphan recovery, stats, size, vacuum, compaction, doctor.

Every change that removes files follows one order so a crash at any point leaves a
consistent store: (1) new file written and renamed (announced in `pending` first), (2) one
catalog transaction swaps rows and tombstones the old paths, (3) old files unlinked.  A
tombstoned file found later is finished off; a pending one is left to `doctor`.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from renacer_tui.model.readable import one_line
from renacer_tui.model.schema import SPAN_SCHEMA
from renacer_tui.store.catalog import CATALOG_NAME, Catalog, CatalogDamaged, SegmentInfo
from renacer_tui.store.config import private_mkdir
from renacer_tui.store.writer import (
    ATTR_RUN_ID,
    SEGMENT_SUFFIX,
    SPANS_DIR,
    TMP_SUFFIX,
    segment_dir,
    trace_stats,
    write_segment,
)

if TYPE_CHECKING:
    from renacer_tui.store.store import Store

QUARANTINE_DIR = "quarantine"
STALE_TMP_S = 300.0
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_S = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

Progress = Callable[[int, int], None]


def parse_age(text: str) -> float:
    """'90d', '12h', '30m', '2w', '45s' (a bare number means days) → seconds; ValueError otherwise."""
    match = _AGE.match(text or "")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2).lower()] if match else math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"invalid age {text!r}: use a number with s, m, h, d or w (e.g. 90d)")
    return seconds


def scan_files(root: Path) -> tuple[list[str], list[str]]:
    """Segment files and leftover temporary files under `spans/`, relative to the root."""
    segments: list[str] = []
    temps: list[str] = []
    base = root / SPANS_DIR
    if not base.is_dir():
        return segments, temps
    for dirpath, _dirs, names in os.walk(base):
        for name in names:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if name.endswith(TMP_SUFFIX):
                temps.append(rel)
            elif name.endswith(SEGMENT_SUFFIX):
                segments.append(rel)
    return sorted(segments), sorted(temps)


def segment_info_from_file(root: Path, rel: str) -> SegmentInfo:
    """Rebuild a catalog entry from a segment file (raises on an unreadable file)."""
    full = root / rel
    meta = pq.read_metadata(full)
    table = pq.read_table(
        full, columns=["trace_id", "status", "rle_count", "start_time_nanos", "end_time_nanos", "process_pid"]
    )
    if table.num_rows != meta.num_rows:
        raise ValueError("row count does not match the footer")
    stats = trace_stats(table)
    kv = meta.metadata or {}
    run_id = kv.get(ATTR_RUN_ID.encode(), b"").decode() or None
    return SegmentInfo(
        path=rel,
        run_id=run_id,
        min_start_ns=min(t.min_start_ns for t in stats) if stats else 0,
        max_end_ns=max(t.max_end_ns for t in stats) if stats else 0,
        rows=table.num_rows,
        bytes=full.stat().st_size,
        created_ns=time.time_ns(),
        traces=stats,
    )


def recover_orphans(store: "Store") -> list[str]:
    """Catalog segment files that have no row (crash between rename and insert); finish removals."""
    files, _temps = scan_files(store.root)
    known = {r["path"] for r in store.catalog.rows("SELECT path FROM segments")}
    orphans = [f for f in files if f not in known]
    if not orphans:
        return []
    tombstoned = store.catalog.tombstoned()
    pending = {r["path"] for r in store.catalog.rows("SELECT path FROM pending")}
    recovered, finished = [], []
    for rel in orphans:
        if rel in pending:
            continue
        if rel in tombstoned:
            _unlink(store.root / rel)
            finished.append(rel)
            continue
        try:
            info = segment_info_from_file(store.root, rel)
        except (OSError, ValueError, pa.ArrowException):
            store.warn(f"orphan segment is unreadable (run `renacer-tui db doctor`): {store.root / rel}")
            continue
        if store.catalog.add_segment(info):
            recovered.append(rel)
    if finished:
        store.catalog.forget_tombstones(finished)
    return recovered


def stats(store: "Store") -> dict[str, Any]:
    """Counts for `db stats`: traces, runs, spans stored/represented, bytes, bytes/span, time range."""
    seg = store.catalog.rows(
        "SELECT COUNT(*) AS segments, COALESCE(SUM(rows),0) AS rows, COALESCE(SUM(spans),0) AS spans, "
        "COALESCE(SUM(errors),0) AS errors, COALESCE(SUM(bytes),0) AS bytes, MIN(min_start_ns) AS first_ns, "
        "MAX(max_end_ns) AS last_ns FROM segments"
    )[0]
    runs = store.catalog.rows(
        "SELECT COUNT(*) AS runs, COALESCE(SUM(dropped_spans),0) AS dropped, "
        "COALESCE(SUM(status = 'running'),0) AS running FROM runs"
    )[0]
    traces = store.catalog.rows("SELECT COUNT(*) AS n FROM traces")[0]["n"]
    return {
        "path": str(store.root),
        "traces": traces,
        "runs": runs["runs"],
        "runs_running": runs["running"],
        "segments": seg["segments"],
        "spans_stored": seg["rows"],
        "spans_represented": seg["spans"],
        "error_spans": seg["errors"],
        "dropped_spans": runs["dropped"],
        "bytes": seg["bytes"],
        "bytes_per_span": (seg["bytes"] / seg["rows"]) if seg["rows"] else 0.0,
        "bytes_per_represented_span": (seg["bytes"] / seg["spans"]) if seg["spans"] else 0.0,
        "first_ns": seg["first_ns"],
        "last_ns": seg["last_ns"],
    }


def size(store: "Store") -> dict[str, int]:
    """Bytes on disk: segments, catalog (with its WAL), quarantine, total."""
    out = {"segments": 0, "catalog": 0, "quarantine": 0, "other": 0}
    for dirpath, _dirs, names in os.walk(store.root):
        for name in names:
            full = Path(dirpath) / name
            try:
                n = full.stat().st_size
            except OSError:
                continue
            rel = full.relative_to(store.root).as_posix()
            if rel.startswith(QUARANTINE_DIR + "/"):
                out["quarantine"] += n
            elif rel.startswith(SPANS_DIR + "/"):
                out["segments"] += n
            elif name.startswith("catalog.sqlite"):
                out["catalog"] += n
            else:
                out["other"] += n
    out["total"] = sum(out.values())
    return out


def vacuum(store: "Store", older_than_s: float | None = None) -> dict[str, int]:
    """Delete segments whose spans all ended before now − age (default: retention_days)."""
    age = older_than_s if older_than_s is not None else store.config.database.retention_days * 86400
    cutoff = max(time.time_ns() - int(age * 1e9), 0)  # older than the epoch: nothing is
    old = store.catalog.rows("SELECT path, bytes FROM segments WHERE max_end_ns < ?", [cutoff])
    paths = [r["path"] for r in old]
    if paths:
        store.catalog.replace_segments(paths)
        for rel in paths:
            _unlink(store.root / rel)
        store.catalog.forget_tombstones(paths)
    runs, traces = store.catalog.delete_runs_and_traces(cutoff)
    return {"segments": len(paths), "bytes": sum(r["bytes"] for r in old), "runs": runs, "traces": traces}


def compact(
    store: "Store", *, small_bytes: int = 8 << 20, target_rows: int = 1_000_000, progress: Progress | None = None
) -> dict[str, int]:
    """Merge small segments of finished runs, per date partition, into segments of ≤ target_rows."""
    rows = store.catalog.rows(
        "SELECT s.path, s.rows, s.bytes, s.min_start_ns FROM segments s LEFT JOIN runs r ON r.run_id = s.run_id "
        "WHERE s.bytes < ? AND COALESCE(r.status, '') != 'running' ORDER BY s.min_start_ns, s.path",
        [small_bytes],
    )
    groups: list[list[dict[str, Any]]] = []
    for row in rows:
        day = segment_dir(store.root, row["min_start_ns"])
        current = groups[-1] if groups else None
        if (
            current is None
            or segment_dir(store.root, current[0]["min_start_ns"]) != day
            or sum(r["rows"] for r in current) + row["rows"] > target_rows
        ):
            groups.append([row])
        else:
            current.append(row)
    groups = [g for g in groups if len(g) > 1]
    total = sum(len(g) for g in groups)
    done = merged = 0
    before = after = 0
    if progress:
        progress(0, total)
    host, pid = socket.gethostname(), os.getpid()
    for index, group in enumerate(groups):
        paths = [r["path"] for r in group]
        try:
            table = pa.concat_tables(
                pq.read_table(store.root / p, schema=SPAN_SCHEMA).replace_schema_metadata(None) for p in paths
            )
        except (OSError, pa.ArrowException) as exc:
            store.warn(f"compaction skipped a group with an unreadable segment ({one_line(exc)})")
            done += len(group)
            continue
        name = f"compact-{time.time_ns()}-{index:04d}"
        announced: list[str] = []

        def announce(rel: str) -> None:
            announced.append(rel)
            store.catalog.add_pending(rel, pid, host)

        info = write_segment(store.root, table, name, store.config.database, None, before_rename=announce)
        store.catalog.replace_segments(paths, info)
        for rel in paths:
            _unlink(store.root / rel)
        store.catalog.forget_tombstones(paths)
        merged += len(paths)
        before += sum(r["bytes"] for r in group)
        after += info.bytes
        done += len(group)
        if progress:
            progress(done, total)
    return {"merged": merged, "written": len(groups), "bytes_before": before, "bytes_after": after}


@dataclass
class Problem:
    """One finding of `doctor`; `fixed` says whether --quarantine dealt with it."""

    kind: str
    path: str
    detail: str
    fixed: bool = False


def doctor(store: "Store", quarantine: bool = False) -> list[Problem]:
    """Find a damaged catalog, missing, truncated, corrupt and orphan segments, stale temp files
    and dead runs.  With `quarantine`, a damaged catalog is moved to quarantine/ first and
    rebuilt from the segments, then the segments are checked against the rebuilt catalog."""
    problems: list[Problem] = []
    damage = store.catalog_damage or _catalog_integrity(store)
    if damage:
        problem = Problem(
            "catalog", CATALOG_NAME,
            f"damaged ({damage}); the segments hold the spans and their own metadata: "
            "--quarantine moves it to quarantine/ and rebuilds the catalog from them",
        )
        problems.append(problem)
        if quarantine:
            problem.detail = f"damaged ({damage}); moved to {_rebuild_catalog(store)}, rebuilt from the segments"
            problem.fixed = True
    files, temps = scan_files(store.root)
    on_disk = set(files)
    catalogued = {r["path"]: r for r in store.catalog.segments()}
    pending = {r["path"]: r for r in store.catalog.rows("SELECT * FROM pending")}
    for rel, row in catalogued.items():
        if rel not in on_disk:
            problems.append(Problem("missing", rel, "catalogued segment file is gone"))
            continue
        issue = _check_segment(store.root / rel, row["rows"], row["bytes"])
        if issue:
            problems.append(Problem("corrupt", rel, issue))
    for rel in sorted(on_disk - set(catalogued)):
        if rel in pending:
            continue
        problems.append(Problem("orphan", rel, _check_segment(store.root / rel, None, None) or "not in the catalog"))
    now = time.time()
    for rel in temps:
        try:
            age = now - (store.root / rel).stat().st_mtime
        except OSError:
            continue
        if age > STALE_TMP_S:
            problems.append(Problem("temp", rel, f"unfinished write left {age:.0f} s ago"))
    host = socket.gethostname()
    for run in store.catalog.rows("SELECT run_id, pid, host FROM runs WHERE status = 'running'"):
        if run["host"] == host and run["pid"] and not _alive(run["pid"]):
            problems.append(Problem("interrupted", run["run_id"], f"tracer pid {run['pid']} is gone; run never ended"))
    if quarantine:
        _fix(store, problems)
    return problems


def _catalog_integrity(store: "Store") -> str:
    """What `PRAGMA quick_check` finds wrong in the catalog ("" when nothing): damage inside pages
    that opening the store did not read."""
    try:
        rows = store.catalog.rows("PRAGMA quick_check")
    except CatalogDamaged as exc:
        return exc.reason
    verdicts = [str(next(iter(r.values()))) for r in rows]
    return "" if verdicts == ["ok"] else "quick_check: " + "; ".join(verdicts[:3])


def _rebuild_catalog(store: "Store") -> str:
    """Move the damaged catalog (and its -wal/-shm/-journal) to quarantine/catalog-<ns>/, create a
    new one and catalog every segment from its own metadata; returns where the old one went."""
    target = store.root / QUARANTINE_DIR / f"catalog-{time.time_ns()}"
    private_mkdir(target, store.root)
    store.catalog.close()
    for suffix in ("", "-wal", "-shm", "-journal"):
        source = store.root / (CATALOG_NAME + suffix)
        if source.exists():
            shutil.move(str(source), target / source.name)
    store.catalog = Catalog(store.root)
    store.catalog_damage = ""
    recover_orphans(store)
    return target.relative_to(store.root).as_posix()


def _check_segment(full: Path, rows: int | None, size_bytes: int | None) -> str | None:
    """None if the file reads back completely (and matches the catalog), else why not."""
    try:
        actual = full.stat().st_size
        if size_bytes is not None and actual != size_bytes:
            return f"size {actual} bytes, catalog says {size_bytes} (truncated or altered)"
        pf = pq.ParquetFile(full)
        count = 0
        for i in range(pf.num_row_groups):
            count += pf.read_row_group(i).num_rows
        if rows is not None and count != rows:
            return f"{count} rows, catalog says {rows}"
    except (OSError, pa.ArrowException) as exc:
        return one_line(exc)
    return None


def _fix(store: "Store", problems: list[Problem]) -> None:
    qdir = store.root / QUARANTINE_DIR
    for p in problems:
        if p.kind in ("corrupt", "orphan"):
            target = qdir / p.path
            private_mkdir(target.parent, store.root)
            shutil.move(str(store.root / p.path), target)
            if p.kind == "corrupt":
                store.catalog.replace_segments([p.path])
                store.catalog.forget_tombstones([p.path])
            p.fixed = True
        elif p.kind == "missing":
            store.catalog.replace_segments([p.path])
            store.catalog.forget_tombstones([p.path])
            p.fixed = True
        elif p.kind == "temp":
            _unlink(store.root / p.path)
            p.fixed = True
        elif p.kind == "interrupted":
            store.catalog.set_run_status(p.path, "interrupted")
            p.fixed = True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
