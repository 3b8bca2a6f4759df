"""LARA / B-LARA against full-context ICL (lara spec §9): per-query time, peak KV tokens and attention cells on
the same model, queries and engine, for N = 8, 16, 32, 64 demonstrations in groups of k = 4.

Baseline: full-context ICL (one prompt with all N demos). Model: the embedded SmolLM2-135M-Instruct on CPU;
data: procedurally generated ``boolean_expressions`` records. Prints the table and the spec's targets.

Run: ``uv run python benchmarks/lara_bench.py [--quick] [--model SPEC] [--out bench.json]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lara.bench import bench_table, benchmark, check_targets
from lara.data import generate_task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--quick", action="store_true", help="N = 8, 16, 32 and 2 queries")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sizes = (8, 16, 32) if args.quick else (8, 16, 32, 64)
    queries = 2 if args.quick else 4
    records = generate_task("boolean_expressions", max(sizes) + queries + 1, seed=0)
    rows = benchmark(args.model, records, n_demos=sizes, group_size=4, n_queries=queries)
    console = Console(width=150)
    console.print(bench_table(rows))
    targets = Table(title="spec §9 targets")
    for col in ("target", "met", "measured"):
        targets.add_column(col)
    for name, met, measured in check_targets(rows):
        targets.add_row(name, "yes" if met else "NO", measured)
    console.print(targets)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
