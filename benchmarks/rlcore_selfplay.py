"""Benchmark of rlcore.selfplay's repetition penalty against the official codes' nltk loop (spec §12).

The penalty clusters B generated questions by BLEU distance, which costs B(B−1)/2 BLEU pairs per reward call.
Baseline, in the same run: the official codes' method, a double loop calling nltk ``sentence_bleu`` for every
i < j (earlier item = hypothesis), mirrored, then the same clustering. Ours: ``repetition_penalties(texts)``
with ``workers=1``. Inputs: B = 512 seeded procedural questions of 18–30 tokens, (A) all distinct, (B) half of
them exact copies of others. Targets: max |distance difference| ≤ 1e-12, identical shares, speed ratio ≥ 5× (A)
and ≥ 10× (B). Also printed: our time for B = 256 … 2048, for 512 groups × 8, and for ``workers`` = 2 and 4.

Run: ``uv run python benchmarks/rlcore_selfplay.py [--quick]`` (``--quick`` skips B = 2048 and the workers run).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import numpy as np
from rich.console import Console
from rich.table import Table

from rlcore.selfplay import bleu_distance_matrix, cluster_shares, repetition_penalties

SEED = 0
B = 512
TARGETS = {"A distinct": 5.0, "B copies": 10.0}

_NAMES = ["Alice", "Bob", "Carla", "Deepak", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jon"]
_ITEMS = ["apples", "pencils", "marbles", "books", "tickets", "cookies", "stamps", "coins", "shells", "cards"]
_PLACES = ["market", "school", "library", "garden", "museum", "station", "bakery", "harbor"]
_OPENERS = ["", "In a word problem ,", "Suppose that", "On a sunny day ,", "At the end of the week ,"]
_TEMPLATES = [
    "{o} {a} has {n} {x} and buys {m} more at the {p} . How many {x} does {a} have now in total ?",
    "{o} {a} shares {n} {x} equally among {m} friends at the {p} . How many {x} does each friend get ?",
    "{o} {a} and {b} collect {n} and {m} {x} respectively . What is the difference between their {x} ?",
    "{o} the {p} sells {x} at {n} dollars each . How much do {m} {x} cost if {a} pays with cash ?",
    "{o} {a} reads {n} pages of a book every day for {m} days at the {p} . How many pages is that ?",
    "{o} a rectangle at the {p} is {n} meters long and {m} meters wide . What is its area and perimeter ?",
    "{o} {b} walks {n} kilometers to the {p} and {m} kilometers back . How far does {b} walk in all ?",
]


def make_questions(count: int, seed: int = SEED) -> list[str]:
    """``count`` distinct seeded procedural math questions of 18–30 whitespace tokens."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        text = rng.choice(_TEMPLATES).format(
            o=rng.choice(_OPENERS),
            a=rng.choice(_NAMES),
            b=rng.choice(_NAMES),
            n=rng.randint(2, 999),
            m=rng.randint(2, 999),
            x=rng.choice(_ITEMS),
            p=rng.choice(_PLACES),
        )
        text = " ".join(text.split())
        if 18 <= len(text.split()) <= 30 and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def with_copies(questions: list[str], seed: int = SEED) -> list[str]:
    """Case B: half of the items are exact copies of the other half, shuffled."""
    rng = random.Random(seed + 1)
    half = questions[: len(questions) // 2]
    texts = half + [rng.choice(half) for _ in range(len(questions) - len(half))]
    rng.shuffle(texts)
    return texts


def nltk_distances(texts: list[str]) -> np.ndarray:
    """The official codes' loop: nltk BLEU for every i < j, earlier item = hypothesis, mirrored."""
    # Imported here, not at the top: the workers run's "spawn" children re-import this module, and nltk's
    # import (seconds) would then be charged to the pool.
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smoothing = SmoothingFunction().method1
    tokens = [t.split() for t in texts]
    d = np.zeros((len(texts), len(texts)))
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            bleu = sentence_bleu([tokens[j]], tokens[i], weights=(0.25,) * 4, smoothing_function=smoothing)
            d[i, j] = d[j, i] = 1.0 - bleu
    return d


def baseline(texts: list[str]) -> tuple[np.ndarray, list[float]]:
    """The official codes' pipeline: the nltk distance loop, then the same clustering as ours."""
    distances = nltk_distances(texts)
    return distances, cluster_shares(distances)


def timed(fn: Callable[[], object], repeats: int = 1) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip B = 2048 and the workers run")
    args = parser.parse_args()
    console = Console()
    pool = make_questions(2048)
    cases = {"A distinct": pool[:B], "B copies": with_copies(pool[:B])}

    table = Table(
        title=f"B = {B}: nltk loop + clustering vs repetition_penalties(workers=1)",
        caption="uniq: distinct texts; |Δd|: max distance difference; same: shares identical",
    )
    for col in ("case", "uniq", "nltk s", "ours s", "ratio", "goal", "|Δd|", "same", "ok"):
        table.add_column(col, justify="right")
    for name, texts in cases.items():
        console.print(f"[dim]running the nltk baseline for case {name} …[/dim]")
        base_s, (base_d, base_shares) = timed(lambda texts=texts: baseline(texts))
        ours_s, ours_shares = timed(lambda texts=texts: repetition_penalties(texts, workers=1), repeats=3)
        diff = float(np.max(np.abs(bleu_distance_matrix(texts) - base_d)))
        same = ours_shares == base_shares
        ratio = base_s / ours_s
        ok = diff <= 1e-12 and same and ratio >= TARGETS[name]
        table.add_row(
            name,
            str(len(set(texts))),
            f"{base_s:.2f}",
            f"{ours_s:.3f}",
            f"{ratio:.1f}x",
            f">= {TARGETS[name]:.0f}x",
            f"{diff:.0e}",
            str(same),
            "[green]yes[/green]" if ok else "[red]NO[/red]",
        )
    console.print(table)

    scaling = Table(title="Our time, all-distinct questions, workers=1")
    for col in ("B", "pairs", "seconds", "x previous"):
        scaling.add_column(col, justify="right")
    previous = None
    for size in (256, 512, 1024) if args.quick else (256, 512, 1024, 2048):
        seconds, _ = timed(lambda size=size: repetition_penalties(pool[:size]))
        growth = f"{seconds / previous:.1f}x" if previous else "-"
        scaling.add_row(str(size), f"{size * (size - 1) // 2:,}", f"{seconds:.3f}", growth)
        previous = seconds
    groups = [i // 8 for i in range(512 * 8)]
    group_texts = make_questions(512 * 8, seed=SEED + 2)
    seconds, _ = timed(lambda: repetition_penalties(group_texts, groups=groups), repeats=3)
    scaling.add_row("512 groups x 8", f"{512 * 28:,}", f"{seconds:.3f}", "target < 1 s")
    console.print(scaling)

    if not args.quick:
        workers_table = Table(title="workers (informational), B = 2048 all distinct")
        for col in ("workers", "seconds", "speed-up", "bitwise equal"):
            workers_table.add_column(col, justify="right")
        serial_s, serial = timed(lambda: bleu_distance_matrix(pool))
        workers_table.add_row("1", f"{serial_s:.3f}", "1.0x", "-")
        for workers in (2, 4):
            seconds, result = timed(lambda workers=workers: bleu_distance_matrix(pool, workers=workers))
            equal = result.tobytes() == serial.tobytes()
            workers_table.add_row(str(workers), f"{seconds:.3f}", f"{serial_s / seconds:.2f}x", str(equal))
        console.print(workers_table)


if __name__ == "__main__":
    main()
