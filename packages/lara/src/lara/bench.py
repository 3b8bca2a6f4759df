"""Memory and time of LARA and B-LARA against full-context ICL (spec §9), measured on one model and one set of
queries with one engine, prefix cache off everywhere.

Methods per N (k fixed): ``icl`` (one prompt with all N demos, the named baseline), ``lara_batched`` (all G
groups in one forward call), ``lara_sequential`` (``group_batch_size=1``, one group at a time: the official
code's schedule and the memory saving), ``blara_half`` (the fixed mask selecting groups 0, 2, 4, ..., batched).
Every method decodes exactly ``max_new_tokens`` tokens (EOS and stop strings ignored) so the work compared is
the same; the weights are uniform because cost does not depend on their values.

Per method and N: the median per-query seconds after one warm-up query, and the engine's counters over the timed
queries: ``peak_kv_tokens``, ``peak_attention_cells``, ``group_rows`` (per query) and, on CUDA, the peak
allocation above the model's own. Ratios are method / ICL at the same N.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from lara.grouping import cross_fit_groups

__all__ = ["BENCH_METHODS", "bench_table", "benchmark", "check_targets"]

BENCH_METHODS = ("icl", "lara_batched", "lara_sequential", "blara_half")


def _ensembles(
    demos: Sequence[dict], group_size: int
) -> dict[str, tuple[list[list[dict]], list[float], int | None]]:
    """(groups, weights, group_batch_size) of each benchmarked method."""
    ga, gb = cross_fit_groups(list(demos), group_size)
    groups = [*ga, *gb]
    uniform = [1.0 / len(groups)] * len(groups)
    half = [1.0 if i % 2 == 0 else 0.0 for i in range(len(groups))]
    return {
        "icl": ([list(demos)], [1.0], None),
        "lara_batched": (groups, uniform, None),
        "lara_sequential": (groups, uniform, 1),
        "blara_half": (groups, half, None),
    }


def _cuda_peak(torch: Any, baseline: int) -> int | None:
    if not torch.cuda.is_available():
        return None
    return int(torch.cuda.max_memory_allocated() - baseline)


def benchmark(
    model_spec: str,
    records: Sequence[dict],
    *,
    n_demos: Sequence[int] = (8, 16, 32, 64),
    group_size: int = 4,
    n_queries: int = 4,
    max_new_tokens: int = 4,
) -> list[dict]:
    """One row per N and method (see the module docstring). ``records`` must hold at least
    max(N) + n_queries + 1 examples (demos first, then the warm-up query and the timed queries)."""
    import torch

    from lara.arithmetic import GroupedLM

    need = max(n_demos) + n_queries + 1
    if len(records) < need:
        raise ValueError(f"benchmark needs {need} records (max N + queries + 1 warm-up), got {len(records)}")
    if n_queries < 1 or group_size < 1:
        raise ValueError("n_queries and group_size must be >= 1")
    engine = GroupedLM.from_spec(model_spec)
    baseline = torch.cuda.memory_allocated() if torch.cuda.is_available() else 0
    rows: list[dict] = []
    for n in n_demos:
        demos = list(records[:n])
        queries = list(records[n : n + n_queries + 1])
        for method, (groups, weights, batch) in _ensembles(demos, group_size).items():
            engine.group_batch_size = batch
            engine.prefix_cache = False
            engine.generate(groups, weights, queries[0], max_new_tokens=max_new_tokens, ignore_eos=True)
            engine.stats.reset()
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            times = []
            for query in queries[1:]:
                start = time.perf_counter()
                engine.generate(groups, weights, query, max_new_tokens=max_new_tokens, ignore_eos=True)
                times.append(time.perf_counter() - start)
            stats = engine.stats
            rows.append(
                {
                    "n_demos": n,
                    "method": method,
                    "G": len(groups),
                    "groups_run": sum(1 for w in weights if w != 0),
                    "seconds_per_query": statistics.median(times),
                    "peak_kv_tokens": stats.peak_kv_tokens,
                    "peak_attention_cells": stats.peak_attention_cells,
                    "group_rows": stats.group_rows / len(times),
                    "prefill_tokens": stats.prefill_tokens / len(times),
                    "cuda_peak_bytes": _cuda_peak(torch, baseline),
                }
            )
    for row in rows:
        icl = next(r for r in rows if r["n_demos"] == row["n_demos"] and r["method"] == "icl")
        row["time_ratio"] = row["seconds_per_query"] / icl["seconds_per_query"]
        row["kv_ratio"] = row["peak_kv_tokens"] / icl["peak_kv_tokens"]
        row["attention_ratio"] = row["peak_attention_cells"] / icl["peak_attention_cells"]
        if row["cuda_peak_bytes"] is not None and icl["cuda_peak_bytes"]:
            row["cuda_ratio"] = row["cuda_peak_bytes"] / icl["cuda_peak_bytes"]
    return rows


def bench_table(rows: Sequence[dict]) -> Table:
    """The benchmark as a rich table, ratios against ICL at the same N."""
    table = Table(title="LARA / B-LARA versus full-context ICL (ratios = method / ICL at the same N)")
    for col in (
        "N",
        "method",
        "groups run",
        "s/query",
        "× time",
        "peak KV",
        "× KV",
        "peak attn",
        "× attn",
        "rows/query",
    ):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        table.add_row(
            str(r["n_demos"]),
            r["method"],
            f"{r['groups_run']}/{r['G']}",
            f"{r['seconds_per_query']:.3f}",
            f"{r['time_ratio']:.2f}",
            str(r["peak_kv_tokens"]),
            f"{r['kv_ratio']:.2f}",
            str(r["peak_attention_cells"]),
            f"{r['attention_ratio']:.2f}",
            f"{r['group_rows']:.1f}",
        )
    return table


def _row(rows: Sequence[dict], n: int, method: str) -> dict | None:
    return next((r for r in rows if r["n_demos"] == n and r["method"] == method), None)


def check_targets(rows: Sequence[dict]) -> list[tuple[str, bool, str]]:
    """Spec §9's targets as (target, met, measured) for the Ns present."""
    import math

    out: list[tuple[str, bool, str]] = []
    seq32, bat32, half32 = (_row(rows, 32, m) for m in ("lara_sequential", "lara_batched", "blara_half"))
    if seq32:
        out.append(
            (
                "N=32: LARA sequential peak KV ≤ 0.30× ICL",
                seq32["kv_ratio"] <= 0.30,
                f"{seq32['kv_ratio']:.3f}×",
            )
        )
    if bat32 and half32:
        rows_ok = half32["group_rows"] * 2 == bat32["group_rows"]
        out.append(
            (
                "B-LARA group rows = ½ LARA's",
                rows_ok,
                f"{half32['group_rows']:.1f} vs {bat32['group_rows']:.1f}",
            )
        )
        t = half32["seconds_per_query"] / bat32["seconds_per_query"]
        out.append(("B-LARA time ≤ 0.8× LARA batched", t <= 0.8, f"{t:.2f}×"))
    if bat32:
        out.append(
            ("N=32: LARA batched time ≤ 1.5× ICL", bat32["time_ratio"] <= 1.5, f"{bat32['time_ratio']:.2f}×")
        )
    growth = {m: (_row(rows, 16, m), _row(rows, 64, m)) for m in ("icl", "lara_batched", "lara_sequential")}
    if all(a and b for a, b in growth.values()):
        g = {m: b["peak_attention_cells"] / a["peak_attention_cells"] for m, (a, b) in growth.items()}
        out.append(("N 16→64: ICL attention cells grow ≥ 12×", g["icl"] >= 12, f"{g['icl']:.1f}×"))
        out.append(("N 16→64: LARA batched grows ≤ 6×", g["lara_batched"] <= 6, f"{g['lara_batched']:.1f}×"))
        out.append(
            (
                "N 16→64: LARA sequential within 1.5×",
                g["lara_sequential"] <= 1.5,
                f"{g['lara_sequential']:.2f}×",
            )
        )
    batched = sorted((r["n_demos"], r["seconds_per_query"]) for r in rows if r["method"] == "lara_batched")
    if len(batched) >= 2:
        xs = [math.log(n) for n, _ in batched]
        ys = [math.log(t) for _, t in batched]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        out.append(("log-log slope of LARA batched time over N ≤ 1.2", slope <= 1.2, f"{slope:.2f}"))
    return out
