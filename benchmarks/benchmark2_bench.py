"""Benchmark of benchmark2's vectorised scoring and selection core (spec §9).

Runs ``benchmark2.bench.run_bench``: (1) absolute time of the per-benchmark pipeline (DS, pooled CAD, CBRC, BQS,
``select_items``, ``evaluate_selection`` with two stability bootstraps) at 100 models × 15 benchmarks × 10k items,
target ≤ 2.0 s; (2) speed ratio against ``benchmark2.bench.naive_pipeline`` (Python loops, scipy's kendalltau per
pair, same bootstrap indices; results equal within 1e-9, identical selections) at 2,000 items, n_boot = 50,
target ≥ 30×; (3) growth over items ∈ {2.5k, 5k, 10k} × models ∈ {25, 50, 100}, log-log slope vs items ≤ 1.2.

Run: ``uv run python benchmarks/benchmark2_bench.py [--quick] [--out bench.json]`` (``--quick``: smaller sizes).
"""

from __future__ import annotations

import argparse

from rich.console import Console

from benchmark2.bench import run_bench


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--benchmarks", type=int, default=15)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--n-boot", type=int, default=100)
    parser.add_argument("--ratio-items", type=int, default=2000)
    parser.add_argument("--out", default=None, help="write the numbers as JSON")
    parser.add_argument("--quick", action="store_true", help="fewer and smaller sizes (a smoke run)")
    args = parser.parse_args(argv)
    kwargs = {}
    if args.quick:
        args.items, args.ratio_items = min(args.items, 2500), min(args.ratio_items, 500)
        kwargs = {"items_grid": (625, 1250, 2500), "models_grid": (25, args.models), "repeat": 1}
    return run_bench(
        models=args.models,
        benchmarks=args.benchmarks,
        items=args.items,
        n_boot=args.n_boot,
        ratio_items=args.ratio_items,
        out=args.out,
        console=Console(),
        **kwargs,
    )


if __name__ == "__main__":
    main()
