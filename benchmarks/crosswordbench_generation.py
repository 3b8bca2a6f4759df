"""Benchmark of crosswordbench's puzzle generator (spec §9).

(1) Speed of the default ``engine="indexed"`` against the baseline ``engine="reference"`` (the literal
``best_placement`` scan), same run, bundled WordNet list, seed 1234: 7×7 with ``n=5, restarts=8`` and 14×14 with
``n=1, restarts=4``. Both engines must give identical puzzles (asserted); target ≥ 10× at both sizes (the spec's
prototype: 32× and 24×). (2) Default-settings throughput of the indexed engine in this one process: 7×7 with
``n=20`` (target ≥ 1 puzzle/s) and 14×14 with ``n=5`` (target ≥ 0.1 puzzle/s).

Run: ``uv run python benchmarks/crosswordbench_generation.py [--quick] [--out bench.json]`` (``--quick``: 7×7 only,
fewer puzzles; a smoke run).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import crosswordbench
from crosswordbench.generate import GenerationConfig, generate_puzzles

WORD_LIST = Path(crosswordbench.__file__).parent / "data" / "wordnet_en.txt"
SEED = 1234


def read_bundled() -> list[tuple[str, str]]:
    """The bundled ``WORD clue`` lines, split at the first whitespace."""
    if not WORD_LIST.exists():
        raise SystemExit(
            f"bundled word list {WORD_LIST} is missing: build it first (crosswordbench build-wordlist)"
        )
    pairs = []
    for line in WORD_LIST.read_text(encoding="utf-8").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            pairs.append((parts[0], parts[1]))
    return pairs


def timed(entries, n: int, config: GenerationConfig):
    start = time.perf_counter()
    puzzles = generate_puzzles(entries, n, config)
    return puzzles, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the numbers as JSON")
    parser.add_argument("--quick", action="store_true", help="7x7 only, fewer puzzles (a smoke run)")
    args = parser.parse_args(argv)
    console = Console()
    entries = read_bundled()
    console.print(f"bundled list: {len(entries)} pairs, {len({w for w, _ in entries})} words; seed {SEED}")

    speed_cases = [(7, 5, 8), (14, 1, 4)] if not args.quick else [(7, 2, 8)]
    rate_cases = [(7, 20), (14, 5)] if not args.quick else [(7, 5)]
    results: dict = {"speedup": [], "throughput": []}

    table = Table(title="reference vs indexed engine (identical puzzles)")
    for col in ("grid", "n", "restarts", "reference s", "indexed s", "speed-up", "target"):
        table.add_column(col, justify="right")
    for size, n, restarts in speed_cases:
        ref_cfg = GenerationConfig(rows=size, cols=size, restarts=restarts, seed=SEED, engine="reference")
        idx_cfg = GenerationConfig(rows=size, cols=size, restarts=restarts, seed=SEED, engine="indexed")
        ref, ref_s = timed(entries, n, ref_cfg)
        idx, idx_s = timed(entries, n, idx_cfg)
        assert [p.to_dict() for p in ref] == [p.to_dict() for p in idx], f"{size}x{size}: engines disagree"
        assert len(idx) == n, f"{size}x{size}: {len(idx)} of {n} puzzles"
        ratio = ref_s / idx_s
        results["speedup"].append(
            {
                "grid": f"{size}x{size}",
                "n": n,
                "restarts": restarts,
                "reference_s": ref_s,
                "indexed_s": idx_s,
                "ratio": ratio,
            }
        )
        table.add_row(
            f"{size}x{size}", str(n), str(restarts), f"{ref_s:.2f}", f"{idx_s:.3f}", f"{ratio:.1f}x", "≥ 10x"
        )
    console.print(table)

    table = Table(title="default settings, indexed engine, one process")
    for col in ("grid", "n", "seconds", "puzzles/s", "words/puzzle", "target"):
        table.add_column(col, justify="right")
    for size, n in rate_cases:
        puzzles, seconds = timed(entries, n, GenerationConfig(rows=size, cols=size, seed=SEED))
        rate = len(puzzles) / seconds
        mean_words = sum(len(p.words) for p in puzzles) / max(len(puzzles), 1)
        results["throughput"].append(
            {
                "grid": f"{size}x{size}",
                "n": n,
                "made": len(puzzles),
                "seconds": seconds,
                "puzzles_per_s": rate,
                "mean_words": mean_words,
            }
        )
        table.add_row(
            f"{size}x{size}",
            f"{len(puzzles)}/{n}",
            f"{seconds:.2f}",
            f"{rate:.2f}",
            f"{mean_words:.1f}",
            "≥ 1/s" if size == 7 else "≥ 0.1/s",
        )
    console.print(table)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
