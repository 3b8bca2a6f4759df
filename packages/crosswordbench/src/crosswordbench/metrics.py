"""The paper's metrics, exactly as defined (spec §2.7): Word Coverage Rate (WCR), Letter Coverage Rate
(LCR), Intersection Consistency Rate (ICR), plus completion, length errors, aggregation with Student-t
intervals, and the image-CoT versus grid-parsing correlation.

``answers`` is a mapping key → answer (a string, ``None`` or the reference format ``{"answer": ...}``) or
``None``. Keys are compared lower-cased with whitespace collapsed; answers after :func:`normalize_answer`.
With r_k the reference and m_k the model answer of word k (``""`` when missing):

- WCR = #{k : m_k = r_k} / #words, per direction and over all words;
- LCR = Σ_k #{i < min(|r_k|, |m_k|) : r_k[i] = m_k[i]} / Σ_k max(|r_k|, |m_k|);
- ICR = share of crossings whose two answers exist, reach the crossing cell and agree there
  (self-consistency of the model's grid, not correctness).

Scores are per puzzle and averaged over puzzles, never pooled over words across puzzles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from crosswordbench.puzzle import Puzzle, intersections

__all__ = [
    "SCORE_KEYS",
    "aggregate",
    "completion_rate",
    "grid_parsing_correlation",
    "intersection_consistency_rate",
    "letter_coverage_rate",
    "normalize_answer",
    "pearson",
    "score_answers",
    "word_coverage_rate",
]

SCORE_KEYS = (
    "wcr",
    "wcr_across",
    "wcr_down",
    "lcr",
    "lcr_across",
    "lcr_down",
    "icr",
    "completion",
    "local_length_error",
    "global_length_error",
    "empty_answer",
    "n_words",
)


def normalize_answer(s: Any) -> str:
    """``None`` → ``""``; stripped; one pair of matching surrounding quotes (``'`` or ``"``) removed;
    lower-case."""
    if s is None:
        return ""
    s = str(s).strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        s = s[1:-1]
    return s.lower()


def _model_answers(answers: Mapping | None) -> dict[str, str]:
    """Normalised model answers by normalised key; empty answers dropped (they count as missing)."""
    if not isinstance(answers, Mapping):
        return {}
    out = {}
    for key, value in answers.items():
        if isinstance(value, Mapping):
            value = value.get("answer")
        answer = normalize_answer(value)
        if answer:
            out[" ".join(str(key).lower().split())] = answer
    return out


def _pairs(puzzle: Puzzle, answers: Mapping | None) -> list[tuple[str, str, str]]:
    """(direction, r_k, m_k) per word in reference order."""
    model = _model_answers(answers)
    return [(w.direction, normalize_answer(w.answer), model.get(w.key, "")) for w in puzzle.words]


def _rates(puzzle: Puzzle, answers: Mapping | None, hit, total) -> dict[str, float]:
    pairs = _pairs(puzzle, answers)
    if not _model_answers(answers):
        return {"across": 0.0, "down": 0.0, "all": 0.0}
    out = {}
    for name, keep in (("across", "across"), ("down", "down"), ("all", None)):
        chosen = [(r, m) for d, r, m in pairs if keep is None or d == keep]
        denominator = sum(total(r, m) for r, m in chosen)
        out[name] = sum(hit(r, m) for r, m in chosen) / denominator if denominator else 0.0
    return out


def word_coverage_rate(puzzle: Puzzle, answers: Mapping | None) -> dict[str, float]:
    """WCR: share of words answered exactly, ``{"across", "down", "all"}`` (0.0 for a direction without
    words)."""
    return _rates(puzzle, answers, lambda r, m: float(m == r), lambda r, m: 1)


def _letter_hits(r: str, m: str) -> int:
    return sum(1 for i in range(min(len(r), len(m))) if r[i] == m[i])


def letter_coverage_rate(puzzle: Puzzle, answers: Mapping | None) -> dict[str, float]:
    """LCR: letters matching position by position over Σ max(|r_k|, |m_k|), ``{"across", "down", "all"}``."""
    return _rates(puzzle, answers, _letter_hits, lambda r, m: max(len(r), len(m)))


def intersection_consistency_rate(puzzle: Puzzle, answers: Mapping | None) -> float:
    """ICR: share of the puzzle's crossings where both answers exist, are long enough to reach the
    crossing cell and hold the same letter there. No crossings → 0.0."""
    crossings = intersections(puzzle)
    model = _model_answers(answers)
    if not crossings or not model:
        return 0.0
    agree = 0
    for x in crossings:
        a, d = model.get(x.across_key, ""), model.get(x.down_key, "")
        if (
            a
            and d
            and x.across_index < len(a)
            and x.down_index < len(d)
            and a[x.across_index] == d[x.down_index]
        ):
            agree += 1
    return agree / len(crossings)


def completion_rate(puzzle: Puzzle, answers: Mapping | None) -> float:
    """1.0 iff exactly as many keys are answered as there are words, each a reference key answered
    correctly; else 0.0."""
    model = _model_answers(answers)
    reference = {w.key: normalize_answer(w.answer) for w in puzzle.words}
    if not model or len(model) != len(reference):
        return 0.0
    return float(all(reference.get(k) == m for k, m in model.items()))


def score_answers(puzzle: Puzzle, answers: Mapping | None) -> dict[str, float]:
    """Every per-puzzle score (:data:`SCORE_KEYS`), as floats. ``local_length_error`` counts words whose
    answer length differs from the reference (a missing answer has length 0); ``global_length_error`` is
    1.0 when the number of answered keys differs from the number of words; ``empty_answer`` is 1.0 when
    nothing was answered."""
    wcr = word_coverage_rate(puzzle, answers)
    lcr = letter_coverage_rate(puzzle, answers)
    model = _model_answers(answers)
    pairs = _pairs(puzzle, answers)
    return {
        "wcr": wcr["all"],
        "wcr_across": wcr["across"],
        "wcr_down": wcr["down"],
        "lcr": lcr["all"],
        "lcr_across": lcr["across"],
        "lcr_down": lcr["down"],
        "icr": intersection_consistency_rate(puzzle, answers),
        "completion": completion_rate(puzzle, answers),
        "local_length_error": float(sum(1 for _, r, m in pairs if len(m) != len(r))),
        "global_length_error": float(len(model) != len(puzzle.words)),
        "empty_answer": float(not model),
        "n_words": float(len(puzzle.words)),
    }


def _t_quantile(n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per numeric key over the rows that hold it: ``mean``, ``std`` (n − 1; 0.0 for one row), ``stderr``
    = std/√n and the 95% Student-t interval ``mean ∓ t(0.975, n − 1)·stderr`` (the mean itself when n = 1
    or std = 0), plus ``n``."""
    values: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, int | float | np.number) and not isinstance(value, bool):
                values.setdefault(key, []).append(float(value))
    out = {}
    for key, xs in values.items():
        n = len(xs)
        mean = math.fsum(xs) / n
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
        stderr = std / math.sqrt(n)
        half = _t_quantile(n) * stderr if n > 1 and std > 0 else 0.0
        out[key] = {
            "mean": mean,
            "std": std,
            "stderr": stderr,
            "ci95_low": mean - half,
            "ci95_high": mean + half,
            "n": n,
        }
    return out


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson's r; ``ValueError`` if the lengths differ or are below 2; nan if a side is constant."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"pearson needs two sequences of one length, got {len(xs)} and {len(ys)}")
    if len(x) < 2:
        raise ValueError(f"pearson needs at least 2 points, got {len(x)}")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denominator if denominator > 0 else math.nan


def _rows_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of (B, M) arrays (nan where a row is constant)."""
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (dx * dy).sum(axis=1) / denominator, np.nan)


def grid_parsing_correlation(
    img_wcr: Mapping[str, Sequence[float]],
    parse_wcr: Mapping[str, Sequence[float]],
    *,
    n_boot: int = 10000,
    seed: int = 0,
) -> dict[str, float]:
    """How well reading the grid (grid-parsing WCR, x) predicts solving from the image (image-CoT WCR, y)
    across models (paper: r = 0.936 over 15 LVLMs).

    Both map model → per-puzzle WCRs over the same puzzles in the same order. ``r`` is Pearson's r of the
    model means; its 95% CI is the 2.5/97.5 percentiles (linear interpolation) of r over ``n_boot``
    bootstrap resamples of puzzle indices shared by all models; ``slope``/``intercept`` is the
    least-squares line of y on x. Fewer than 3 models → ``ValueError``.
    """
    models = list(img_wcr)
    if set(models) != set(parse_wcr):
        raise ValueError(
            f"image-CoT and grid-parsing results cover different models: {sorted(img_wcr)} vs {sorted(parse_wcr)}"
        )
    if len(models) < 3:
        raise ValueError(f"a correlation over models needs at least 3 models, got {len(models)}")
    lengths = {len(img_wcr[m]) for m in models} | {len(parse_wcr[m]) for m in models}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError("every model needs WCRs for the same, non-empty list of puzzles in both settings")
    y_all = np.array([img_wcr[m] for m in models], dtype=float)
    x_all = np.array([parse_wcr[m] for m in models], dtype=float)
    x, y = x_all.mean(axis=1), y_all.mean(axis=1)
    r = pearson(x, y)
    rng = np.random.default_rng(seed)
    n_puzzles = x_all.shape[1]
    boot = []
    for start in range(0, n_boot, 1000):  # chunks keep the (models, resamples, puzzles) arrays small
        idx = rng.integers(0, n_puzzles, size=(min(1000, n_boot - start), n_puzzles))
        boot.append(_rows_pearson(x_all[:, idx].mean(axis=2).T, y_all[:, idx].mean(axis=2).T))
    rs = np.concatenate(boot) if boot else np.array([np.nan])
    if np.all(np.isnan(rs)):
        low = high = math.nan
    else:
        low, high = (float(v) for v in np.nanpercentile(rs, [2.5, 97.5]))
    if np.ptp(x) > 0:
        slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
    else:
        slope, intercept = math.nan, math.nan
    return {"r": r, "ci_low": low, "ci_high": high, "slope": slope, "intercept": intercept}
