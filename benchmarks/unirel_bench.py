"""UniRel's subgraph retriever: the numpy/scipy ``csr`` backend against the plain ``networkx`` reference (unirel
spec §9): per-query median and p95, speed-up, identical results, memory (RSS of the KG and of its networkx graphs,
tracemalloc peak per query) and growth with k and the number of seeds.

Setup: ``synthetic_kg(100_000, 1_000_000, 200, seed=0)``, 50 two-seed queries from ``sample_queries(seed=1)``,
default ``RetrievalConfig`` (k = 2); the baseline runs on the first 10 queries. ``--quick`` uses
``synthetic_kg(20_000, 200_000, 100)`` and 20 queries. Prints the tables and the spec's targets.

Run: ``uv run python benchmarks/unirel_bench.py [--quick] [--out bench.json]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from unirel.bench import benchmark_retrieval


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="synthetic_kg(20_000, 200_000, 100) and 20 queries"
    )
    parser.add_argument(
        "--queries", type=int, default=None, help="number of timed queries (default 50, quick 20)"
    )
    parser.add_argument(
        "--baseline", type=int, default=None, help="queries run on networkx (default 10, quick 5)"
    )
    parser.add_argument("--no-growth", action="store_true", help="skip the k / seed-count growth table")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    console = Console(width=150)
    result = benchmark_retrieval(
        quick=args.quick,
        n_queries=args.queries,
        n_baseline=args.baseline,
        growth=not args.no_growth,
        console=console,
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=str))
        console.print(f"→ {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
