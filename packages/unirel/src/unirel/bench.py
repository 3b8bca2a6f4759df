"""The retrieval benchmark (spec §9): candidate extraction plus pruning, ``retrieve_subgraph`` with default settings
(k = 2, ρ₀ = ln 51, step 0.5, target 50, m₀ = 5), the fast ``csr`` backend against the plain ``networkx`` reference.

Setup: ``synthetic_kg(100_000, 1_000_000, 200, seed=0)`` and 50 two-seed queries from ``sample_queries(seed=1)``
(``quick``: ``synthetic_kg(20_000, 200_000, 100)`` and 20 queries). The baseline runs in the same process on the
first 10 queries (``quick``: 5); building its graphs is timed separately and excluded. Results must be identical on
every compared query.

Measured: per-query CSR median and p95 and the speed-up over networkx on the same queries; RSS added by the
``KnowledgeGraph``, by its ``to_networkx()`` MultiDiGraph and by the cached undirected ``nx.Graph``; the per-query
peak extra allocation under ``tracemalloc``; and the growth table (median ms, candidate size and µs per candidate
triple for k ∈ {1, 2, 3} with 2 seeds and for 2–4 seeds at k = 2), with the mean number of ρ steps (each one
connected-components pass; the paper's reviewers asked what the ρ loop costs).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from unirel.config import RetrievalConfig
from unirel.data import sample_queries, synthetic_kg
from unirel.kg import KnowledgeGraph
from unirel.retrieval import _nx_undirected, retrieve_subgraph

__all__ = ["bench_tables", "benchmark_retrieval", "check_targets"]

FULL = {"kg": (100_000, 1_000_000, 200), "queries": 50, "baseline": 10, "growth_queries": 10}
QUICK = {"kg": (20_000, 200_000, 100), "queries": 20, "baseline": 5, "growth_queries": 5}

SPEEDUP_TARGET = 20.0
MEDIAN_MS_TARGET = 100.0
P95_MS_TARGET = 400.0
MEMORY_RATIO_TARGET = 0.6
PEAK_MB_TARGET = 64.0
US_PER_TRIPLE_TARGET = 1.0


def _rss_mb() -> float | None:
    """Resident set size of this process in MB (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before, 1)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _run(kg: KnowledgeGraph, seeds: Sequence[str], config: RetrievalConfig) -> tuple[float, Any]:
    return _timed(lambda: retrieve_subgraph(kg, seeds, config))


def _growth_row(
    kg: KnowledgeGraph, label: str, queries: Sequence[Any], config: RetrievalConfig, baseline: int
) -> dict[str, Any]:
    times, candidates, per_triple, steps = [], [], [], []
    for q in queries:
        seconds, result = _run(kg, q.seeds, config)
        times.append(seconds)
        candidates.append(result.sizes["candidate"])
        per_triple.append(1e6 * seconds / max(1, result.sizes["candidate"]))
        steps.append(result.rho_steps)
    row: dict[str, Any] = {
        "setting": label,
        "hops": config.hops,
        "num_seeds": len(queries[0].seeds) if queries else None,
        "queries": len(queries),
        "csr_median_ms": 1e3 * statistics.median(times) if times else None,
        "median_candidate": statistics.median(candidates) if candidates else None,
        "max_candidate": max(candidates) if candidates else None,
        "us_per_candidate_triple": statistics.median(per_triple) if per_triple else None,
        "mean_rho_steps": statistics.fmean(steps) if steps else None,
        "networkx_median_ms": None,
        "ratio": None,
    }
    if baseline:
        nx_config = RetrievalConfig(**{**config.__dict__, "backend": "networkx"})
        nx_times = [_run(kg, q.seeds, nx_config)[0] for q in queries[:baseline]]
        row["networkx_median_ms"] = 1e3 * statistics.median(nx_times)
        row["ratio"] = row["networkx_median_ms"] / row["csr_median_ms"]
    return row


def benchmark_retrieval(
    *,
    quick: bool = False,
    num_entities: int | None = None,
    num_triples: int | None = None,
    num_relations: int | None = None,
    n_queries: int | None = None,
    n_baseline: int | None = None,
    growth: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the benchmark of spec §9 and return its numbers as a JSON-serialisable dict with the keys ``setup``,
    ``memory``, ``speed``, ``growth`` and ``targets`` (``[name, met, measured]`` rows). ``quick`` uses the smaller
    KG; the size arguments override either preset. With a ``console``, progress and the tables are printed."""
    preset = QUICK if quick else FULL
    e, t, r = preset["kg"]
    e, t, r = num_entities or e, num_triples or t, num_relations or r
    n_q = n_queries or preset["queries"]
    n_base = preset["baseline"] if n_baseline is None else n_baseline
    say: Callable[[str], None] = console.log if console is not None else (lambda _msg: None)

    gc.collect()
    rss0 = _rss_mb()
    build_s, kg = _timed(lambda: synthetic_kg(e, t, r, seed=0))
    gc.collect()
    rss1 = _rss_mb()
    say(f"built {kg!r} in {build_s:.1f} s")
    numpy_mb = (
        sum(getattr(kg, name).nbytes for name in ("heads", "rels", "tails", "indptr", "indices", "edge_ids"))
        / 2**20
    )
    multi_s, _ = _timed(kg.to_networkx)
    gc.collect()
    rss2 = _rss_mb()
    undirected_s, _ = _timed(lambda: _nx_undirected(kg))
    gc.collect()
    rss3 = _rss_mb()
    say(f"networkx graphs built in {multi_s:.1f} s + {undirected_s:.1f} s (excluded from the timings)")

    degrees = sorted(kg.degree(x) for x in kg.entities)
    queries = sample_queries(kg, n_q, seed=1)
    config = RetrievalConfig()
    retrieve_subgraph(kg, queries[0].seeds, config)  # warm-up (penalty table, imports)

    say(f"timing the csr backend on {len(queries)} queries")
    csr_times, csr_results = [], []
    for q in queries:
        seconds, result = _run(kg, q.seeds, config)
        csr_times.append(seconds)
        csr_results.append(result)

    say(f"timing the networkx baseline on {min(n_base, len(queries))} queries")
    nx_config = RetrievalConfig(backend="networkx")
    nx_times, identical = [], 0
    for q, fast in zip(queries[:n_base], csr_results, strict=False):
        seconds, result = _run(kg, q.seeds, nx_config)
        nx_times.append(seconds)
        identical += int(result == fast)
    compared = len(nx_times)

    say("measuring per-query peak allocation (tracemalloc)")
    peaks = []
    for q in queries[: max(n_base, 10)]:
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        retrieve_subgraph(kg, q.seeds, config)
        peaks.append((tracemalloc.get_traced_memory()[1] - base) / 2**20)
        tracemalloc.stop()

    csr_same = csr_times[:compared]
    speed: dict[str, Any] = {
        "queries": len(queries),
        "csr_median_ms": 1e3 * statistics.median(csr_times),
        "csr_p95_ms": 1e3 * _percentile(csr_times, 0.95),
        "csr_max_ms": 1e3 * max(csr_times),
        "baseline_queries": compared,
        "csr_median_ms_on_baseline_queries": 1e3 * statistics.median(csr_same) if csr_same else None,
        "networkx_median_ms": 1e3 * statistics.median(nx_times) if nx_times else None,
        "speedup_median": (statistics.median(nx_times) / statistics.median(csr_same)) if nx_times else None,
        "identical": identical,
        "median_candidate": statistics.median(x.sizes["candidate"] for x in csr_results),
        "max_candidate": max(x.sizes["candidate"] for x in csr_results),
        "median_final": statistics.median(x.sizes["compact"] for x in csr_results),
        "mean_rho_steps": statistics.fmean(x.rho_steps for x in csr_results),
        "connected_share": statistics.fmean(float(x.connected) for x in csr_results),
        "over_target_share": statistics.fmean(float(x.over_target) for x in csr_results),
    }
    memory = {
        "kg_rss_mb": _delta(rss1, rss0),
        "kg_numpy_mb": round(numpy_mb, 1),
        "multidigraph_rss_mb": _delta(rss2, rss1),
        "undirected_graph_rss_mb": _delta(rss3, rss2),
        "query_peak_mb_median": statistics.median(peaks),
        "query_peak_mb_max": max(peaks),
    }
    setup = {
        "kg": f"synthetic_kg({e}, {t}, {r}, seed=0)",
        "entities": kg.num_entities,
        "triples": kg.num_triples,
        "max_degree": degrees[-1],
        "median_degree": statistics.median(degrees),
        "mean_degree": statistics.fmean(degrees),
        "kg_build_s": build_s,
        "networkx_build_s": multi_s + undirected_s,
        "config": dict(config.__dict__),
        "quick": quick,
    }

    rows: list[dict[str, Any]] = []
    if growth:
        g_n = preset["growth_queries"]
        for hops in (1, 2, 3):
            say(f"growth: k = {hops}, 2 seeds")
            cfg = RetrievalConfig(hops=hops)
            rows.append(
                _growth_row(kg, f"k = {hops}, 2 seeds", queries[:g_n], cfg, n_base if hops == 1 else 0)
            )
        for num_seeds in (3, 4):
            say(f"growth: k = 2, {num_seeds} seeds")
            qs = sample_queries(kg, g_n, num_seeds=num_seeds, seed=1)
            if qs:
                rows.append(_growth_row(kg, f"k = 2, {num_seeds} seeds", qs, config, 0))

    result: dict[str, Any] = {"setup": setup, "memory": memory, "speed": speed, "growth": rows}
    result["targets"] = [list(row) for row in check_targets(result)]
    if console is not None:
        for table in bench_tables(result):
            console.print(table)
    return result


def check_targets(result: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for each spec §9 target."""
    speed, memory = result["speed"], result["memory"]
    out: list[tuple[str, bool, str]] = []
    ratio = speed["speedup_median"]
    out.append(
        (
            f"speed-up ≥ {SPEEDUP_TARGET:g}× (median)",
            ratio is not None and ratio >= SPEEDUP_TARGET,
            "—" if ratio is None else f"{ratio:.1f}×",
        )
    )
    out.append(
        (
            f"csr median ≤ {MEDIAN_MS_TARGET:g} ms",
            speed["csr_median_ms"] <= MEDIAN_MS_TARGET,
            f"{speed['csr_median_ms']:.1f} ms",
        )
    )
    out.append(
        (
            f"csr p95 ≤ {P95_MS_TARGET:g} ms",
            speed["csr_p95_ms"] <= P95_MS_TARGET,
            f"{speed['csr_p95_ms']:.1f} ms",
        )
    )
    out.append(
        (
            "identical to networkx",
            speed["identical"] == speed["baseline_queries"],
            f"{speed['identical']}/{speed['baseline_queries']}",
        )
    )
    kg_mb, nx_mb = memory["kg_rss_mb"], memory["multidigraph_rss_mb"]
    if kg_mb is not None and nx_mb:
        out.append(
            (
                f"KG RSS ≤ {MEMORY_RATIO_TARGET:g}× to_networkx RSS",
                kg_mb <= MEMORY_RATIO_TARGET * nx_mb,
                f"{kg_mb:.0f} MB vs {nx_mb:.0f} MB ({kg_mb / nx_mb:.2f}×)",
            )
        )
    out.append(
        (
            f"per-query peak ≤ {PEAK_MB_TARGET:g} MB",
            memory["query_peak_mb_max"] <= PEAK_MB_TARGET,
            f"{memory['query_peak_mb_max']:.1f} MB",
        )
    )
    deep = [
        row for row in result["growth"] if row["hops"] >= 2 and row["us_per_candidate_triple"] is not None
    ]
    if deep:
        worst = max(row["us_per_candidate_triple"] for row in deep)
        out.append(
            (
                f"≤ {US_PER_TRIPLE_TARGET:g} µs per candidate triple (k ≥ 2)",
                worst <= US_PER_TRIPLE_TARGET,
                f"{worst:.2f} µs",
            )
        )
    return out


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def bench_tables(result: dict[str, Any]) -> list[Table]:
    """The rich tables of a :func:`benchmark_retrieval` result: speed, memory, growth and targets."""
    setup, speed, memory = result["setup"], result["speed"], result["memory"]
    title = (
        f"{setup['kg']}: {setup['entities']} entities, {setup['triples']} triples, degree max "
        f"{setup['max_degree']} / median {setup['median_degree']:g} / mean {setup['mean_degree']:.1f}"
    )
    speed_table = Table(title=f"retrieval speed (k = 2, 2 seeds) — {title}")
    for col in ("backend", "queries", "median ms", "p95 ms", "max ms", "speed-up", "identical"):
        speed_table.add_column(col, justify="right" if col != "backend" else "left")
    speed_table.add_row(
        "csr",
        str(speed["queries"]),
        _fmt(speed["csr_median_ms"]),
        _fmt(speed["csr_p95_ms"]),
        _fmt(speed["csr_max_ms"]),
        "",
        "",
    )
    speed_table.add_row(
        f"csr (first {speed['baseline_queries']})",
        str(speed["baseline_queries"]),
        _fmt(speed["csr_median_ms_on_baseline_queries"]),
        "",
        "",
        "",
        "",
    )
    speed_table.add_row(
        "networkx",
        str(speed["baseline_queries"]),
        _fmt(speed["networkx_median_ms"]),
        "",
        "",
        _fmt(speed["speedup_median"], ".1f") + "×" if speed["speedup_median"] else "—",
        f"{speed['identical']}/{speed['baseline_queries']}",
    )
    speed_table.caption = (
        f"median candidate {speed['median_candidate']:g} (max {speed['max_candidate']}), "
        f"median final {speed['median_final']:g}, mean ρ steps {speed['mean_rho_steps']:.2f}, "
        f"connected {speed['connected_share']:.0%}, over target {speed['over_target_share']:.0%}; "
        f"networkx graphs built in {setup['networkx_build_s']:.1f} s (excluded)"
    )

    memory_table = Table(title="memory")
    memory_table.add_column("what")
    memory_table.add_column("MB", justify="right")
    for label, key in (
        ("KnowledgeGraph RSS (from synthetic_kg)", "kg_rss_mb"),
        ("  of which numpy arrays", "kg_numpy_mb"),
        ("to_networkx() MultiDiGraph RSS", "multidigraph_rss_mb"),
        ("undirected nx.Graph RSS (networkx backend)", "undirected_graph_rss_mb"),
        ("per-query peak allocation, median", "query_peak_mb_median"),
        ("per-query peak allocation, max", "query_peak_mb_max"),
    ):
        memory_table.add_row(label, _fmt(memory[key]))

    growth_table = Table(title="growth (csr; networkx where run)")
    for col in (
        "setting",
        "queries",
        "median ms",
        "median candidate",
        "max candidate",
        "µs / triple",
        "mean ρ steps",
        "networkx ms",
        "ratio",
    ):
        growth_table.add_column(col, justify="left" if col == "setting" else "right")
    for row in result["growth"]:
        growth_table.add_row(
            row["setting"],
            str(row["queries"]),
            _fmt(row["csr_median_ms"]),
            _fmt(row["median_candidate"], ".0f"),
            _fmt(row["max_candidate"]),
            _fmt(row["us_per_candidate_triple"], ".3f"),
            _fmt(row["mean_rho_steps"], ".2f"),
            _fmt(row["networkx_median_ms"]),
            "—" if row["ratio"] is None else f"{row['ratio']:.1f}×",
        )

    targets = Table(title="spec §9 targets")
    for col in ("target", "met", "measured"):
        targets.add_column(col)
    for name, met, measured in result["targets"]:
        targets.add_row(name, "yes" if met else "NO", measured)
    return [speed_table, memory_table, growth_table, targets]
