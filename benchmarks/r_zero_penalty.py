"""Benchmark of R-Zero's Challenger repetition penalty at a realistic batch on this machine (r-zero spec §9).

The penalty r_rep(x_i) = λ·|C(i)|/B clusters the B questions of a rollout step by BLEU distance, B(B−1)/2 BLEU
pairs per step. Inputs: B = 512 seeded procedural math questions of about 25 whitespace tokens, half of them
distinct and half near-copies of those (one to three words changed, so no two texts are identical and no
pair is free). Baseline, in the same run: the official code's method, a double loop calling nltk
``sentence_bleu`` (4-gram, method1 smoothing, whitespace tokens, hypothesis = the earlier question) for every
i < j, then scikit-learn's ``AgglomerativeClustering(metric="precomputed", linkage="average",
distance_threshold=τ, n_clusters=None)``. Ours: ``rlcore.selfplay.repetition_penalties`` (what
``challenger.bleu_workers`` drives) with ``workers`` = 1, 2 and 4, each checked against the baseline's shares
(max |Δ| ≤ 1e-9), and ``penalty_scope: group`` (groups of 4 by prompt id), whose cost is Σ G²/2 pairs instead of
B²/2. When the baseline would take more than ``--max-baseline-s`` it is timed on the first items only and
extrapolated by pair count (printed as such; the share check then runs on that subset).

Run: ``uv run python benchmarks/r_zero_penalty.py [--quick]`` (``--quick``: B = 128, workers 1 and 2).
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

# The official loop (nltk BLEU for every pair) and the timer are rlcore's self-play benchmark's, beside this file.
from rlcore_selfplay import nltk_distances, timed

from rlcore.selfplay import repetition_penalties

SEED = 0
TAU = 0.5
GROUP_SIZE = 4

_NAMES = ["Maya", "Omar", "Lena", "Tariq", "Sofia", "Kenji", "Priya", "Mateo", "Zara", "Nils"]
_OBJECTS = ["triangle", "circle", "square", "hexagon", "polynomial", "sequence", "matrix", "prism"]
_TEMPLATES = [
    "Let {a} be the number of ways to choose {n} objects from {m} distinct objects . "
    "What is the remainder when {a} is divided by {p} ?",
    "{w} draws a {o} whose side length is {n} units and whose height is {m} units . "
    "What is the area of the {o} in square units ?",
    "Find the smallest positive integer {a} such that {a} is divisible by {n} and {a} leaves "
    "remainder {m} modulo {p} .",
    "The sum of the first {n} terms of an arithmetic {o} is {m} and its first term is {p} . "
    "What is the common difference ?",
    "{w} rolls {n} fair dice with {m} faces each . What is the probability that the sum of the "
    "faces equals {p} ?",
    "How many real roots does the {o} x^{n} minus {m} x plus {p} have on the interval from zero to {a} ?",
]
_SWAPS = ["value", "number", "result", "quantity", "amount", "total", "answer", "integer"]


def _question(rng: random.Random) -> str:
    text = rng.choice(_TEMPLATES).format(
        a=rng.choice("abkmNrst"),
        n=rng.randint(2, 99),
        m=rng.randint(2, 999),
        p=rng.randint(3, 97),
        o=rng.choice(_OBJECTS),
        w=rng.choice(_NAMES),
    )
    return " ".join(text.split())


def _near_copy(text: str, rng: random.Random) -> str:
    """``text`` with one to three words replaced (numbers by numbers, words by filler words)."""
    tokens = text.split()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(tokens))
        tokens[i] = str(rng.randint(2, 999)) if tokens[i].isdigit() else rng.choice(_SWAPS)
    return " ".join(tokens)


def make_batch(size: int, seed: int = SEED) -> list[str]:
    """``size`` pairwise different questions: half distinct, half near-copies of them, shuffled (seeded)."""
    rng = random.Random(f"r-zero-penalty:{seed}")
    distinct: list[str] = []
    seen: set[str] = set()
    while len(distinct) < size - size // 2:
        q = _question(rng)
        if q not in seen:
            seen.add(q)
            distinct.append(q)
    copies: list[str] = []
    while len(copies) < size // 2:
        q = _near_copy(rng.choice(distinct), rng)
        if q not in seen:
            seen.add(q)
            copies.append(q)
    batch = distinct + copies
    rng.shuffle(batch)
    return batch


# ------------------------------------------------------------------------------------------------ baseline


def sklearn_shares(distances: np.ndarray, tau: float = TAU) -> list[float]:
    """|C(i)|/B from scikit-learn's average-linkage partition at distance threshold τ (the official code)."""
    from sklearn.cluster import AgglomerativeClustering

    if len(distances) < 2:
        return [1.0] * len(distances)
    labels = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=tau
    ).fit_predict(distances)
    sizes = Counter(labels.tolist())
    return [sizes[label] / len(labels) for label in labels.tolist()]


def baseline(texts: Sequence[str], groups: Sequence[int] | None = None) -> list[float]:
    """The official pipeline's shares (λ = 1): per scope, the nltk loop then sklearn's clustering."""
    scopes: dict[int, list[int]] = {}
    for i, g in enumerate(groups if groups is not None else [0] * len(texts)):
        scopes.setdefault(g, []).append(i)
    shares = [0.0] * len(texts)
    for members in scopes.values():
        for i, share in zip(
            members, sklearn_shares(nltk_distances([texts[i] for i in members])), strict=True
        ):
            shares[i] = share
    return shares


def pairs(size: int) -> int:
    return size * (size - 1) // 2


def max_diff(a: Sequence[float], b: Sequence[float]) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if len(a) else 0.0


# ---------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512, help="B, questions per Challenger step")
    parser.add_argument(
        "--max-baseline-s", type=float, default=60.0, help="extrapolate the baseline above this"
    )
    parser.add_argument("--quick", action="store_true", help="B = 128, workers 1 and 2 (a smoke run)")
    args = parser.parse_args(argv)
    size = 128 if args.quick else args.batch
    worker_counts = (1, 2) if args.quick else (1, 2, 4)
    console = Console()
    texts = make_batch(size)
    lengths = [len(t.split()) for t in texts]
    console.print(
        f"B = {size} questions, {min(lengths)}–{max(lengths)} tokens (mean {np.mean(lengths):.1f}), "
        f"{len(set(texts))} different texts, τ = {TAU}, {pairs(size):,} pairs"
    )

    # Baseline: the whole batch if the per-pair estimate fits the time limit, else a prefix, extrapolated.
    nltk_distances(texts[:2])  # pay nltk's import before the probe
    probe = texts[: min(size, 64)]
    probe_s, _ = timed(lambda: nltk_distances(probe))
    per_pair = probe_s / max(1, pairs(len(probe)))
    estimate = per_pair * pairs(size)
    subset = size
    if estimate > args.max_baseline_s:
        subset = int((1 + (1 + 8 * args.max_baseline_s / per_pair) ** 0.5) / 2)
    base_texts = texts[:subset]
    console.print(
        f"[dim]running the nltk + sklearn baseline on {subset} items (estimate {estimate:.0f} s) …[/dim]"
    )
    base_s, base_shares = timed(lambda: baseline(base_texts))
    extrapolated = subset < size
    base_full_s = base_s * pairs(size) / pairs(subset) if extrapolated else base_s
    if extrapolated:
        console.print(
            f"[yellow]baseline timed on the first {subset} items ({pairs(subset):,} pairs, {base_s:.1f} s) and "
            f"EXTRAPOLATED by pair count to B = {size}: {base_full_s:.1f} s[/yellow]"
        )

    table = Table(
        title=f"Challenger repetition penalty, B = {size}, batch scope: nltk loop + sklearn vs rlcore",
        caption="ratio: baseline time / ours; |Δshare|: max difference against the baseline's shares"
        + (f" (checked on the first {subset} items)" if extrapolated else ""),
    )
    for col in ("method", "pairs", "seconds", "ratio", "|Δshare|", "ok"):
        table.add_column(col, justify="right")
    base_label = "nltk + sklearn" + (" (extrapolated)" if extrapolated else "")
    table.add_row(base_label, f"{pairs(size):,}", f"{base_full_s:.2f}", "1.0x", "-", "-")
    results: dict[str, float] = {"baseline_s": base_full_s, "baseline_extrapolated": float(extrapolated)}
    all_ok = True
    for workers in worker_counts:
        repeats = 3 if workers == 1 else 2
        ours_s, ours = timed(lambda w=workers: repetition_penalties(texts, TAU, 1.0, workers=w), repeats)
        check = ours if not extrapolated else repetition_penalties(base_texts, TAU, 1.0, workers=workers)
        diff = max_diff(check, base_shares)
        ok = diff <= 1e-9
        all_ok &= ok
        results[f"workers_{workers}_s"] = ours_s
        table.add_row(
            f"repetition_penalties(workers={workers})",
            f"{pairs(size):,}",
            f"{ours_s:.3f}",
            f"{base_full_s / ours_s:.1f}x",
            f"{diff:.0e}",
            "[green]yes[/green]" if ok else "[red]NO[/red]",
        )
    console.print(table)
    num_clusters = round(sum(base_shares) and sum(1 / (s * len(base_shares)) for s in base_shares))
    console.print(
        f"[dim]{num_clusters} clusters among the {len(base_shares)} baseline items; rlcore spreads pairs over a "
        "process pool only from 20,000 distinct pairs (below that workers > 1 runs serially)[/dim]"
    )

    # penalty_scope: group — each prompt's G completions form a scope of their own: Σ G(G−1)/2 pairs.
    groups = [i // GROUP_SIZE for i in range(size)]
    group_pairs = (size // GROUP_SIZE) * pairs(GROUP_SIZE)
    group_base_s, group_base = timed(lambda: baseline(texts, groups))
    group_s, group_ours = timed(lambda: repetition_penalties(texts, TAU, 1.0, groups, workers=1), repeats=3)
    group_diff = max_diff(group_ours, group_base)
    all_ok &= group_diff <= 1e-9
    scope = Table(
        title=f"penalty_scope: group (groups of {GROUP_SIZE} by prompt_id: Σ G(G−1)/2 pairs) vs batch, B = {size}"
    )
    for col in ("scope", "pairs", "nltk + sklearn s", "ours s", "ratio", "|Δshare|"):
        scope.add_column(col, justify="right")
    scope.add_row(
        "batch", f"{pairs(size):,}", f"{base_full_s:.2f}", f"{results['workers_1_s']:.3f}",
        f"{base_full_s / results['workers_1_s']:.1f}x", "-",
    )  # fmt: skip
    scope.add_row(
        "group", f"{group_pairs:,}", f"{group_base_s:.3f}", f"{group_s:.4f}",
        f"{group_base_s / group_s:.1f}x", f"{group_diff:.0e}",
    )  # fmt: skip
    console.print(scope)
    results |= {"group_baseline_s": group_base_s, "group_s": group_s}
    console.print(
        "[green]all shares identical to the baseline[/green]" if all_ok else "[red]SHARES DIFFER[/red]"
    )
    if not all_ok:
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    main()
