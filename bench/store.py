"""`python -m bench store`: bytes per span, query latency, observer effect, ingest rate (issue 3).

- Bytes per stored span on real traces (a Python import, compiling a C file, `git status`),
  traced by renacer-tui into a fresh store: segment bytes / stored rows, and / spans represented.
- Synthetic stores (1 M and 10 M spans over 1000 traces by default), written through the real
  `Store` and its segment sink (one run per trace, as the tracer writes them): trace-id lookup
  p50/p95 (the spec's §6.1 query), `COUNT(*)`, a one-day time-range aggregation.
- Observer effect on `dd bs=1 count=20000`: every sink on (store, OTLP/gRPC to a loopback
  receiver, live feed read by a `FeedReader`) against `--no-store` (both with `-c`).
- Sustained ingest: pre-built 4096-row batches (the span builder's size) into one segment sink.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bench.common import (
    ROOT,
    base_parser,
    machine,
    machine_line,
    markdown_table,
    median,
    percentile,
    python_env,
    ratio,
    report,
    run_command,
    target_row,
    targets_table,
)
from renacer_tui.model.schema import EVENTS_TYPE, LINKS_TYPE, batch_from_columns

DAY_NS = 86_400 * 10**9
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SYSCALLS = ["read", "write", "openat", "close", "fstat", "mmap", "newfstatat", "futex", "lseek", "brk",
             "rt_sigaction", "getdents64", "pread64", "ioctl", "poll", "access", "munmap", "mprotect"]
_WEIGHTS = np.array([20, 14, 8, 8, 6, 6, 6, 5, 4, 3, 3, 3, 3, 2, 2, 2, 2, 3], dtype=np.float64)
_COMMS = ["python3", "cc1", "gcc", "git", "make", "sh", "ld", "as"]
_PATHS = ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache", "/usr/lib/python3.11/json/__init__.py",
          "/home/dev/src/main.c", "/tmp/ccA1b2C3.s", "/proc/self/maps", "/usr/include/stdio.h", ".git/index"]


# -- synthetic spans ------------------------------------------------------------------------
def hex_strings(values: np.ndarray, width: int) -> pa.Array:
    """Lower-case hex text of unsigned integers (vectorised; `width` hex digits, ≤ 16)."""
    values = values.astype(np.uint64)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    digits = _HEX[((values[:, None] >> shifts) & np.uint64(0xF)).astype(np.intp)]
    raw = np.ascontiguousarray(digits).view(f"S{width}").ravel()
    return pa.array(raw, type=pa.binary(width)).cast(pa.string())


def attribute_pool(rng: np.random.Generator, size: int = 512) -> list[str]:
    """Attribute JSON variants like the tracer's (fd, result, path, sizes)."""
    pool = []
    for _ in range(size):
        attrs: dict[str, Any] = {"syscall.fd": int(rng.integers(0, 40)), "syscall.result": int(rng.integers(-2, 65536))}
        if rng.random() < 0.3:
            attrs["syscall.pathname"] = _PATHS[int(rng.integers(0, len(_PATHS)))]
            attrs["syscall.fd_object"] = attrs["syscall.pathname"]
        if rng.random() < 0.3:
            attrs["syscall.count"] = int(rng.integers(1, 65536))
        pool.append(json.dumps(attrs, separators=(",", ":"), sort_keys=True))
    return pool


def synthetic_trace(rng: np.random.Generator, n: int, start_ns: int, pool: pa.Array, processes: int = 4) -> pa.RecordBatch:
    """One trace of `n` spans: a run span, `processes` process spans, syscalls in program order."""
    n = max(n, processes + 2)
    trace_hex = hex_strings(rng.integers(0, 2**63, size=2, dtype=np.uint64), 16)
    trace_id = trace_hex[0].as_py() + trace_hex[1].as_py()
    prefix = np.uint64(rng.integers(1, 2**32)) << np.uint64(32)
    counters = prefix + np.arange(1, n + 1, dtype=np.uint64)
    span_id = hex_strings(counters, 16)
    gaps = rng.exponential(8_000, size=n).astype(np.int64) + 500
    starts = start_ns + np.cumsum(gaps)
    durs = rng.exponential(6_000, size=n).astype(np.int64) + 200
    ends = starts + durs
    # Row 0: the run span; rows 1..P: processes; the rest: syscalls of those processes.
    starts[0] = start_ns
    ends[0] = int(ends.max())
    proc_of = rng.integers(0, processes, size=n)
    starts[1 : processes + 1] = start_ns + np.arange(processes) * 1000
    ends[1 : processes + 1] = ends[0] - 1
    pids = 10_000 + proc_of.astype(np.int32)
    pids[0] = 9_999
    parent_idx = 1 + proc_of
    parent_idx[1 : processes + 1] = 0
    parent = span_id.take(pa.array(parent_idx))
    parent = pa.concat_arrays([pa.nulls(1, pa.string()), parent.slice(1)])
    calls = rng.choice(len(_SYSCALLS), size=n, p=_WEIGHTS / _WEIGHTS.sum())
    names = np.array([f"syscall:{s}" for s in _SYSCALLS], dtype=object)[calls]
    comms = np.array(_COMMS, dtype=object)[(proc_of + hash(trace_id)) % len(_COMMS)]
    names[0] = f"renacer:run {comms[1]}"
    names[1 : processes + 1] = [f"process:{c}" for c in comms[1 : processes + 1]]
    error = rng.random(n) < 0.02
    attrs = pool.take(pa.array(rng.integers(0, len(pool), size=n)))
    columns = {
        "trace_id": pa.array([trace_id] * n, pa.string()),
        "span_id": span_id,
        "parent_span_id": parent,
        "start_time_nanos": pa.array(starts, pa.int64()),
        "end_time_nanos": pa.array(ends, pa.int64()),
        "span_name": pa.array(names, pa.string()),
        "span_kind": pa.array(["INTERNAL"] * n, pa.string()),
        "status": pa.array(np.where(error, "ERROR", "UNSET").astype(object), pa.string()),
        "status_message": pa.array(np.where(error, "ENOENT", None), pa.string()),
        "attributes": attrs,
        "rust_source": pa.nulls(n, pa.string()),
        "python_source": pa.nulls(n, pa.string()),
        "c_source": pa.nulls(n, pa.string()),
        "process_pid": pa.array(pids, pa.int32()),
        "process_name": pa.array(comms, pa.string()),
        "process_cmdline": pa.array(comms, pa.string()),
        "service_name": pa.array(["renacer"] * n, pa.string()),
        "service_version": pa.array(["0.1.0"] * n, pa.string()),
        "thread_id": pa.array(pids, pa.int32()),
        "logical_clock": pa.array(np.arange(n, dtype=np.int64)),
        "parent_logical_clock": pa.nulls(n, pa.int64()),
        "rle_count": pa.array(np.ones(n, dtype=np.int64)),
        "events": pa.nulls(n, EVENTS_TYPE),
        "links": pa.nulls(n, LINKS_TYPE),
    }
    return batch_from_columns(columns)


def build_synthetic_store(root: Path, total: int, traces: int, days: int, seed: int = 7) -> dict[str, Any]:
    """Write `total` spans over `traces` runs (one trace each) spread over `days` days; returns facts."""
    from renacer_tui.store import Store

    rng = np.random.default_rng(seed)
    pool = pa.array(attribute_pool(rng), pa.string())
    base = (time.time_ns() // DAY_NS - days) * DAY_NS
    per = total // traces
    t0 = time.perf_counter()
    trace_ids = []
    gen_s = 0.0
    with Store.open(root) as store:
        for k in range(traces):
            start = base + int(k * days * DAY_NS / traces) + int(rng.integers(0, 10**9))
            g0 = time.perf_counter()
            batch = synthetic_trace(rng, per, start, pool)
            gen_s += time.perf_counter() - g0
            trace_id = batch.column("trace_id")[0].as_py()
            trace_ids.append(trace_id)
            run_id = f"bench-{k:05d}"
            store.begin_run(run_id, trace_id, "synthetic", started_ns=start)
            sink = store.segment_sink(run_id)
            for offset in range(0, batch.num_rows, 4096):
                sink.write(batch.slice(offset, 4096))
            sink.close()
            store.end_run(run_id, 0, ended_ns=int(batch.column("end_time_nanos")[0].as_py()), spans_represented=batch.num_rows)
    wall = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in (root / "spans").rglob("*.parquet"))
    return {"spans": per * traces, "traces": traces, "days": days, "base_ns": base, "trace_ids": trace_ids,
            "write_s": wall, "generate_s": gen_s, "segment_bytes": size, "bytes_per_span": size / (per * traces)}


def query_figures(root: Path, facts: dict[str, Any], reps: int, lookups: int, seed: int = 11) -> dict[str, Any]:
    """Trace-id lookup latencies, COUNT(*) and a one-day aggregation on a synthetic store."""
    from renacer_tui.store import Store

    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    with Store.open(root) as store:
        ids = facts["trace_ids"]
        lookup_sql = ("SELECT span_name, rust_source, duration_ms FROM spans WHERE trace_id = ? "
                      "ORDER BY start_time_nanos")
        t0 = time.perf_counter()
        first = store.query(lookup_sql, [ids[0]])
        out["first_query_s"] = time.perf_counter() - t0  # includes building the views
        expected = facts["spans"] // facts["traces"]
        out["lookup_rows_ok"] = first.num_rows == expected
        lat = []
        api = []
        for _ in range(lookups):
            tid = ids[int(rng.integers(0, len(ids)))]
            t = time.perf_counter()
            store.query(lookup_sql, [tid])
            lat.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.trace_spans(tid)
            api.append(time.perf_counter() - t)
        out["lookup_p50_s"], out["lookup_p95_s"] = percentile(lat, 50), percentile(lat, 95)
        out["trace_spans_p50_s"], out["trace_spans_p95_s"] = percentile(api, 50), percentile(api, 95)
        counts, raw_counts, day_aggs = [], [], []
        day_lo = facts["base_ns"] + 2 * DAY_NS
        day_sql = ("SELECT span_name, COUNT(*) AS calls, SUM(duration_ns) AS total_ns FROM spans "
                   "WHERE start_time_nanos >= ? AND start_time_nanos < ? GROUP BY span_name")
        for _ in range(reps):
            t = time.perf_counter()
            n = store.query("SELECT COUNT(*) AS n FROM spans").column(0)[0].as_py()
            counts.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.query("SELECT COUNT(*) AS n FROM spans_raw")
            raw_counts.append(time.perf_counter() - t)
            t = time.perf_counter()
            agg = store.query(day_sql, [day_lo, day_lo + DAY_NS])
            day_aggs.append(time.perf_counter() - t)
        out["count_ok"] = n == facts["spans"]
        out["count_s"] = median(counts)
        out["count_raw_s"] = median(raw_counts)
        out["day_agg_s"] = median(day_aggs)
        out["day_agg_spans"] = int(sum(agg.column("calls").to_pylist()))
    return out


def ingest_rate(root: Path, total: int, seed: int = 3) -> dict[str, Any]:
    """Spans/s a segment sink sustains from pre-built 4096-row batches (producer cost excluded)."""
    from renacer_tui.store import Store

    rng = np.random.default_rng(seed)
    pool = pa.array(attribute_pool(rng), pa.string())
    per_trace = min(total, 65_536)
    batches = []
    start = time.time_ns() - DAY_NS
    made = 0
    while made < total:
        trace = synthetic_trace(rng, min(per_trace, total - made), start + made * 10_000, pool)
        batches.extend(trace.slice(o, 4096) for o in range(0, trace.num_rows, 4096))
        made += trace.num_rows
    with Store.open(root) as store:
        store.begin_run("ingest", batches[0].column("trace_id")[0].as_py(), "ingest")
        sink = store.segment_sink("ingest")
        t0 = time.perf_counter()
        for batch in batches:
            sink.write(batch)
        sink.close()
        seconds = time.perf_counter() - t0
        store.end_run("ingest", 0)
        stored = store.query("SELECT COUNT(*) FROM spans_raw").column(0)[0].as_py()
    return {"spans": made, "seconds": seconds, "spans_per_s": made / seconds, "stored_ok": stored == made}


# -- real traces ----------------------------------------------------------------------------
def _git_repo(base: Path) -> Path:
    repo = base / "repo"
    # Under src/: `python -m renacer_tui` runs with the repo as cwd and must not import these copies.
    shutil.copytree(ROOT / "store", repo / "src" / "store", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tracer", repo / "src" / "tracer", ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(git + ["init", "-q", str(repo)], check=True)
    subprocess.run(git + ["-C", str(repo), "add", "."], check=True)
    subprocess.run(git + ["-C", str(repo), "commit", "-q", "-m", "bench"], check=True)
    (repo / "src" / "store" / "schema.py").write_text("# changed\n", encoding="utf-8")
    return repo


def real_workloads(base: Path, quick: bool) -> dict[str, tuple[list[str], Path]]:
    source = base / "hello.c"
    source.write_text('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n', encoding="utf-8")
    loads: dict[str, tuple[list[str], Path]] = {"python import": (["python3", "-c", "import json, sqlite3"], base)}
    if quick:
        return loads
    if shutil.which("gcc"):
        loads["gcc -c hello.c"] = (["gcc", "-O2", "-c", str(source), "-o", str(base / "hello.o")], base)
    if shutil.which("git"):
        loads["git status"] = (["git", "status", "--short"], _git_repo(base))
    return loads


def bytes_per_span(base: Path, quick: bool) -> list[dict[str, Any]]:
    """Trace each real workload into its own fresh store; segment bytes per row and per span."""
    from renacer_tui.store import Store

    rows = []
    env = python_env()
    for name, (argv, cwd) in real_workloads(base, quick).items():
        db = base / f"db-{len(rows)}"
        run = run_command([sys.executable, "-m", "renacer_tui", "--no-tui", "--db", str(db), "-c", "--", *argv], env=env, cwd=cwd)
        with Store.open(db) as store:
            found = store.query("SELECT COUNT(*) AS rows, COALESCE(SUM(rle_count), 0) AS spans FROM spans_raw").to_pylist()[0]
        stored = {k: int(v) for k, v in found.items()}  # SUM comes back as a DECIMAL
        seg = sum(p.stat().st_size for p in (db / "spans").rglob("*.parquet"))
        catalog = sum(p.stat().st_size for p in db.glob("catalog.sqlite*"))
        rows.append({"workload": name, "exit": run.returncode, "rows": stored["rows"], "spans": stored["spans"],
                     "segment_bytes": seg, "catalog_bytes": catalog,
                     "bytes_per_row": ratio(seg, stored["rows"]), "bytes_per_span": ratio(seg, stored["spans"])})
    return rows


# -- observer effect ------------------------------------------------------------------------
#: The parts of this bench, in the order they run (`--only` picks some).
PARTS = ("bytes", "synthetic", "observer", "ingest")
OBSERVER_CONFIGS = {"none": (), "store": ("store",), "otlp": ("otlp",), "feed": ("feed",), "all": ("store", "otlp", "feed")}


def _traced_with_sinks(head: list[str], workload: list[str], sinks: tuple[str, ...], db: Path, endpoint: str,
                       env: dict[str, str], cwd: Path | None = None) -> tuple[float, int]:
    """One traced run with the named sinks on; (wall seconds, dropped spans it reported)."""
    from renacer_tui.sinks.feed import FeedReader

    argv = list(head)
    argv += ["--db", str(db)] if "store" in sinks else ["--no-store"]
    if "otlp" in sinks:
        argv += ["--otlp-endpoint", endpoint]
    pass_fds: tuple[int, ...] = ()
    reader = None
    write_fd = -1
    if "feed" in sinks:
        read_fd, write_fd = os.pipe()

        def drain(fd: int = read_fd) -> None:
            for _batch, _meta in FeedReader(fd):
                pass

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        argv += ["--feed-fd", str(write_fd)]
        pass_fds = (write_fd,)
    t0 = time.perf_counter()
    proc = subprocess.run(argv + ["--", *workload], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, pass_fds=pass_fds, timeout=300)
    seconds = time.perf_counter() - t0
    if reader is not None:
        os.close(write_fd)
        reader.join(10)
    text = proc.stderr.decode("utf-8", "replace")
    dropped = int(text.split(" dropped")[0].rsplit(", ", 1)[-1]) if " dropped" in text else 0
    return seconds, dropped


def observer_effect(base: Path, reps: int, dd_count: int, breakdown: bool = True, pinned: bool = True,
                    baseline: Path | None = None) -> dict[str, Any]:
    """dd under renacer with store + OTLP + live feed (and each alone) against none, interleaved.

    With `pinned`, none and all sinks also run with `--pin-cpu 0` (the tracer and dd on CPU 0,
    the sink children on the others): the unpinned figure depends on where the scheduler puts
    tracer and program (one CPU or two, run to run), the pinned one is steady and shows what
    the sinks cost the capture process itself.  `baseline` (another checkout of renacer-tui)
    runs none and all sinks from that tree too, interleaved: before/after in one round.
    """
    sys.path.insert(0, str(ROOT))
    from tests.otlp_receiver import GrpcReceiver

    env = python_env()
    workload = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={dd_count}"]
    head = [sys.executable, "-m", "renacer_tui", "--no-tui", "-c"]
    configs = OBSERVER_CONFIGS if breakdown else {k: OBSERVER_CONFIGS[k] for k in ("none", "all")}
    pinned = pinned and len(os.sched_getaffinity(0)) >= 2 and 0 in os.sched_getaffinity(0)
    trees: list[tuple[str, Path | None, dict[str, str]]] = [("", None, env)]
    if baseline is not None:
        trees.append((" @baseline", baseline.resolve(), {**env, "PYTHONPATH": str(baseline.resolve())}))
    runs = []
    for suffix, tree, tree_env in trees:
        names = configs if tree is None else ("none", "all")
        runs += [(f"{name}{suffix}", OBSERVER_CONFIGS[name], head, tree, tree_env) for name in names]
        if pinned:
            runs += [(f"{name} pinned{suffix}", OBSERVER_CONFIGS[name], head + ["--pin-cpu", "0"], tree, tree_env)
                     for name in ("none", "all")]
    receiver = GrpcReceiver()
    samples: dict[str, list[float]] = {run[0]: [] for run in runs}
    dropped: list[int] = []
    try:
        for _ in range(reps):
            for name, sinks, argv, tree, tree_env in runs:
                db = base / ("observer-db" + ("-baseline" if tree is not None else ""))
                seconds, lost = _traced_with_sinks(argv, workload, sinks, db, receiver.endpoint, tree_env, cwd=tree)
                samples[name].append(seconds)
                if name == "all":
                    dropped.append(lost)
        time.sleep(0.5)
        received = receiver.count()
    finally:
        receiver.stop()
    med = {name: median(v) for name, v in samples.items()}
    mins = {name: min(v) for name, v in samples.items()}
    base_of = {name: _none_of(name) for name in samples}
    result = {"reps": reps, "median_s": med,
              "ratio_vs_none": {k: ratio(v, med[base_of[k]]) for k, v in med.items()},
              "no_sinks_s": med["none"], "all_sinks_s": med["all"], "ratio": ratio(med["all"], med["none"]),
              # Runs on this VM are bimodal (tracer and program on one CPU or two): the fastest run of
              # each configuration compares like with like.
              "min_s": mins, "ratio_of_min": ratio(mins["all"], mins["none"]),
              "samples_s": samples, "dropped": dropped, "otlp_spans_received": received}
    if pinned:
        result["pinned_ratio"] = ratio(med["all pinned"], med["none pinned"])
        result["pinned_ratio_of_min"] = ratio(mins["all pinned"], mins["none pinned"])
    if baseline is not None:
        result["baseline"] = str(baseline)
    return result


def _none_of(name: str) -> str:
    """The no-sinks configuration a configuration compares with (same tree, same pinning)."""
    return "none" + (" pinned" if " pinned" in name else "") + (" @baseline" if name.endswith(" @baseline") else "")


# -- report ---------------------------------------------------------------------------------
def render(r: dict[str, Any], info: dict[str, Any], command: str) -> str:
    out = [f"### store (`{command}`)", "", f"Machine: {machine_line(info)} (load after: {info.get('load_after')}).", ""]
    if r["bytes"]:
        out.append("Bytes per stored span, real traces (zstd Parquet segments, catalog excluded):")
        out.append("")
        out.append(markdown_table(["workload", "stored rows", "spans represented", "segment bytes", "B / stored row", "B / span", "catalog bytes"],
                                  [[b["workload"], b["rows"], b["spans"], b["segment_bytes"], b["bytes_per_row"], b["bytes_per_span"], b["catalog_bytes"]]
                                   for b in r["bytes"]]))
        out.append("")
    if r["synthetic"]:
        out.append("Synthetic stores (one run = one trace = one segment, written through `Store.segment_sink`):")
        out.append("")
        cells = []
        for s in r["synthetic"]:
            q = s["queries"]
            cells.append([f"{s['spans']:,}", s["traces"], s["write_s"], s["bytes_per_span"], q["first_query_s"] * 1000,
                          q["lookup_p50_s"] * 1000, q["lookup_p95_s"] * 1000, q["trace_spans_p95_s"] * 1000,
                          q["count_s"] * 1000, q["count_raw_s"] * 1000, q["day_agg_s"] * 1000, f"{q['day_agg_spans']:,}",
                          q["lookup_rows_ok"] and q["count_ok"]])
        out.append(markdown_table(["spans", "traces", "write s", "B/span", "1st query ms", "lookup p50 ms", "lookup p95 ms",
                                   "trace_spans() p95 ms", "COUNT(*) spans ms", "COUNT(*) spans_raw ms", "1-day agg ms",
                                   "spans in day", "answers right"], cells))
        out.append("")
    if "observer" in r:
        o = r["observer"]
        out.append(f"Observer effect (`renacer-tui --no-tui -c [sinks] -- dd bs=1 count={r['dd_count']}`, {o['reps']} reps, "
                   f"interleaved; `none` = `--no-store`; OTLP/gRPC to a loopback receiver; feed read by a `FeedReader` thread): "
                   f"all sinks **{o['ratio']:.3f}×** none; dropped per all-sinks run {o['dropped']}, "
                   f"OTLP spans received {o['otlp_spans_received']:,}.")
        out.append("")
        out.append(markdown_table(["sinks", "median s", "× none", "fastest s", "fastest × none's fastest"],
                                  [[k, v, o["ratio_vs_none"][k], o["min_s"][k],
                                    ratio(o["min_s"][k], o["min_s"][_none_of(k)])]
                                   for k, v in o["median_s"].items()]))
        if "pinned_ratio" in o:
            out.append("")
            out.append("`pinned` rows: `--pin-cpu 0` (tracer and dd on CPU 0, the store and OTLP children on the "
                       "other CPUs), compared with `none pinned`.")
        if "baseline" in o:
            out.append("")
            out.append(f"`@baseline` rows: the same runs from the checkout at `{o['baseline']}`, interleaved with these, "
                       "each compared with its own tree's `none`.")
        out.append("")
    if "ingest" in r:
        g = r["ingest"]
        out.append(f"Sustained ingest: {g['spans']:,} spans in {g['seconds']:.2f} s → **{g['spans_per_s']:,.0f} spans/s** "
                   f"(all stored: {g['stored_ok']}).")
        out.append("")
    out.append(targets_table(r["targets"]))
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = base_parser("store", __doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated synthetic store sizes (spans)")
    parser.add_argument("--traces", type=int, default=1000, help="traces per synthetic store")
    parser.add_argument("--days", type=int, default=10, help="days the synthetic traces spread over")
    parser.add_argument("--lookups", type=int, default=40, help="trace-id lookups per store (for p95)")
    parser.add_argument("--ingest", type=int, default=1_000_000, help="spans for the sustained-ingest figure")
    parser.add_argument("--dd-count", type=int, default=20000, help="dd count for the observer effect")
    parser.add_argument("--no-breakdown", action="store_true", help="observer effect: skip the one-sink-at-a-time runs")
    parser.add_argument("--keep", type=Path, default=None, help="build the stores under this folder and keep them")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="observer effect: also run none/all sinks from this checkout, interleaved (before/after)")
    parser.add_argument("--only", choices=PARTS, action="append", default=None,
                        help="run only this part (repeatable); default: all of them")
    args = parser.parse_args(argv)
    parts = set(args.only or PARTS)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    traces, lookups, ingest, dd_count = args.traces, args.lookups, args.ingest, args.dd_count
    reps = args.reps or 7  # the observer effect is a ~5 % question on a noisy machine
    if args.quick:
        sizes, traces, lookups, ingest, dd_count, reps = [2000], 10, 5, 8192, 200, 1
    info = machine()
    base = args.keep or Path(tempfile.mkdtemp(prefix="renacer-bench-store-"))
    base.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RENACER_DB", str(base / "default-db"))
    try:
        result: dict[str, Any] = {"dd_count": dd_count, "synthetic": []}
        result["bytes"] = bytes_per_span(base, args.quick) if "bytes" in parts else []
        for size in sizes if "synthetic" in parts else []:
            root = base / f"synthetic-{size}"
            facts = build_synthetic_store(root, size, traces, args.days)
            facts["queries"] = query_figures(root, facts, reps, lookups)
            facts.pop("trace_ids")
            result["synthetic"].append(facts)
            if args.keep is None:
                shutil.rmtree(root, ignore_errors=True)
        if "observer" in parts:
            result["observer"] = observer_effect(base, reps, dd_count, breakdown=not (args.quick or args.no_breakdown),
                                                pinned=not args.quick, baseline=args.baseline)
        if "ingest" in parts:
            result["ingest"] = ingest_rate(base / "ingest-db", ingest)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    targets = [target_row(f"bytes/stored row, {b['workload']}", b["bytes_per_row"], 30, "B") for b in result["bytes"]]
    for s in result["synthetic"]:
        q = s["queries"]
        big = s["spans"] >= 5_000_000
        targets.append(target_row(f"lookup p95 at {s['spans']:,}", q["lookup_p95_s"] * 1000, 50 if big else 20, "ms"))
        if big or args.quick:
            targets.append(target_row(f"COUNT(*) at {s['spans']:,}", q["count_s"] * 1000, 500, "ms"))
            targets.append(target_row(f"1-day aggregation at {s['spans']:,}", q["day_agg_s"] * 1000, 200, "ms"))
    if "observer" in result:
        o = result["observer"]
        targets.append(target_row("observer effect (all sinks / none), medians", o["ratio"], 1.05, "×"))
        targets.append(target_row("observer effect (all sinks / none), fastest runs", o["ratio_of_min"], 1.05, "×"))
        if "pinned_ratio" in o:
            targets.append(target_row("observer effect, --pin-cpu 0 (all sinks / none), medians", o["pinned_ratio"], 1.05, "×"))
    if "ingest" in result:
        targets.append(target_row("sustained ingest", result["ingest"]["spans_per_s"], 200_000, "spans/s", higher_is_better=True))
    result["targets"] = targets
    info["load_after"] = machine()["load"]
    command = "python -m bench store" + ("" if not argv else " " + " ".join(argv))
    return report("store", {"machine": info, **result}, render(result, info, command), args.out)
