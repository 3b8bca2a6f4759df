"""The diversity regulariser's cost at VisPlay's shapes (spec §9), through ``rlcore.selfplay.repetition_penalties``.

The regulariser runs in every Questioner reward call. In the paper's per-image scope it clusters the G
questions of each image: 512 images × G 8 is 512 · 28 = 14,336 BLEU pairs per step, linear in the images and
quadratic only in G. The reference code's batch scope clusters every question of the call, B(B − 1)/2 pairs,
so each doubling of B should cost about 4×. The questions come from a fixed template generator (seed 0,
6–16 whitespace tokens, about 20% exact duplicates) so that runs are comparable.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence

from rlcore.selfplay import repetition_penalties

__all__ = ["PER_IMAGE_LIMIT_S", "benchmark_table", "run_benchmark", "template_questions"]

PER_IMAGE_LIMIT_S = 1.0
"""The target: the per-image scope at paper shape takes under a second."""

_OPENINGS = ("How many", "What is the", "Which", "Is the", "What fraction of the", "Where is the")
_SUBJECTS = ("red", "blue", "green", "large", "small", "striped", "round", "square", "tallest", "shortest")
_NOUNS = ("shapes", "bars", "triangles", "circles", "cars", "people", "trees", "labels", "lines", "angles")
_TAILS = (
    "in the image",
    "on the left side",
    "above the baseline",
    "next to the blue circle",
    "in the top right corner of the chart",
    "compared with the green bar",
    "if two more are added",
    "along the hypotenuse",
)


def template_questions(n: int, *, seed: int = 0, duplicate_rate: float = 0.2) -> list[str]:
    """``n`` questions of 6–16 whitespace tokens from a fixed template grammar; each item is, with probability
    ``duplicate_rate``, an exact copy of an earlier one (deterministic for ``seed``)."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < duplicate_rate:
            out.append(rng.choice(out))
            continue
        while True:
            words = " ".join(
                (rng.choice(_OPENINGS), rng.choice(_SUBJECTS), rng.choice(_NOUNS), rng.choice(_TAILS))
            ).split()
            words += [f"x{rng.randrange(100)}" for _ in range(rng.randrange(0, 5))]
            if 6 <= len(words) <= 16:
                break
        out.append(" ".join(words) + "?")
    return out


def _seconds(questions: Sequence[str], groups: Sequence[str] | None, repeats: int) -> float:
    """The best of ``repeats`` timings of one regulariser call (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        repetition_penalties(questions, tau=0.5, lam=1.0, groups=groups)
        best = min(best, time.perf_counter() - start)
    return best


def run_benchmark(
    *,
    images: int = 512,
    group_size: int = 8,
    batch_sizes: Sequence[int] = (256, 512, 1024),
    repeats: int = 3,
    seed: int = 0,
) -> dict:
    """Time the per-image scope at (``images`` × ``group_size``) and the batch scope at each of
    ``batch_sizes``; returns ``{"per_image": {...}, "batch": [{...}], "ratios": [...]}`` where each ratio is
    the time of a batch size over the time of the previous one (≈ 4 for doublings)."""
    questions = template_questions(images * group_size, seed=seed)
    groups = [f"image-{i // group_size}" for i in range(len(questions))]
    per_image = {
        "images": images,
        "group_size": group_size,
        "pairs": images * group_size * (group_size - 1) // 2,
        "seconds": _seconds(questions, groups, repeats),
    }
    per_image["within_target"] = per_image["seconds"] < PER_IMAGE_LIMIT_S
    batch = []
    for size in batch_sizes:
        texts = template_questions(size, seed=seed)
        batch.append(
            {"questions": size, "pairs": size * (size - 1) // 2, "seconds": _seconds(texts, None, repeats)}
        )
    ratios = [
        {"from": a["questions"], "to": b["questions"], "ratio": b["seconds"] / a["seconds"]}
        for a, b in itertools.pairwise(batch)
    ]
    return {"per_image": per_image, "batch": batch, "ratios": ratios}


def benchmark_table(result: dict) -> list[str]:
    """The benchmark as text lines (what ``visplay bench`` prints)."""
    p = result["per_image"]
    lines = [
        "scope      | questions | BLEU pairs | seconds | note",
        f"per-image  | {p['images']}x{p['group_size']:<5} | {p['pairs']:>10,} | {p['seconds']:7.3f} | "
        f"target < {PER_IMAGE_LIMIT_S:.0f} s: {'met' if p['within_target'] else 'MISSED'}",
    ]
    ratio_of = {r["to"]: r["ratio"] for r in result["ratios"]}
    for row in result["batch"]:
        note = (
            f"x{ratio_of[row['questions']]:.2f} vs the previous size" if row["questions"] in ratio_of else ""
        )
        lines.append(
            f"batch      | {row['questions']:<9} | {row['pairs']:>10,} | {row['seconds']:7.3f} | {note}"
        )
    return lines
