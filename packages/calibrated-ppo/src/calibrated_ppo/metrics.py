"""Calibration metrics of verbalised confidence (spec §2.6): bins, ECE, AUROC, Brier score, accuracy, a summary
and a PNG reliability diagram.

Inputs are equal-length sequences: ``confidences`` in [0, 1] and ``correct`` in {0, 1} (bools accepted). Two
binning rules exist: ``exact`` (our default; a multiple of 1/M lands in the bin that starts at it) and
``netcal`` (the official numbers, float ``linspace`` edges included, so 0.3 falls in [0.2, 0.3)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BINNINGS",
    "CalibrationBin",
    "accuracy",
    "auroc",
    "brier_score",
    "calibration_bins",
    "calibration_summary",
    "expected_calibration_error",
    "reliability_diagram",
]

BINNINGS = ("exact", "netcal")


@dataclass(frozen=True)
class CalibrationBin:
    """One confidence bin [lower, upper): its member count and the members' mean accuracy and confidence
    (NaN when the bin is empty)."""

    lower: float
    upper: float
    count: int
    accuracy: float
    confidence: float


def _as_correct(correct: Sequence[Any]) -> np.ndarray:
    values = (
        np.asarray(list(correct), dtype=float)
        if not isinstance(correct, np.ndarray)
        else correct.astype(float)
    )
    if values.ndim != 1:
        raise ValueError(f"correct must be one-dimensional, got shape {values.shape}")
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            f"correct must hold 0/1 values, got {values[bad][0]!r} at index {int(np.argmax(bad))}"
        )
    return values


def _as_confidences(confidences: Sequence[Any]) -> np.ndarray:
    values = (
        np.asarray(list(confidences), dtype=float)
        if not isinstance(confidences, np.ndarray)
        else confidences.astype(float)
    )
    if values.ndim != 1:
        raise ValueError(f"confidences must be one-dimensional, got shape {values.shape}")
    if np.isnan(values).any():
        raise ValueError(f"confidences contain NaN (index {int(np.argmax(np.isnan(values)))})")
    bad = (values < 0) | (values > 1)
    if bad.any():
        raise ValueError(
            f"confidences must lie in [0, 1], got {values[bad][0]!r} at index {int(np.argmax(bad))}"
        )
    return values


def _validate(
    confidences: Sequence[Any], correct: Sequence[Any], *, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    conf = _as_confidences(confidences)
    corr = _as_correct(correct)
    if len(conf) != len(corr):
        raise ValueError(f"confidences and correct differ in length: {len(conf)} != {len(corr)}")
    if not allow_empty and len(conf) == 0:
        raise ValueError("empty input: at least one confidence is needed")
    return conf, corr


def _check_bins(n_bins: int, binning: str) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {', '.join(BINNINGS)}, got {binning!r}")


def _bin_indices(conf: np.ndarray, n_bins: int, binning: str) -> np.ndarray:
    if binning == "exact":
        return np.minimum(n_bins - 1, np.floor(conf * n_bins + 1e-9).astype(int))
    eps = np.finfo(np.float64).eps
    clipped = np.clip(conf, eps, 1.0 - eps)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # (number of edges <= c) - 1, capped at the last bin: netcal's float-edge effect included.
    return np.minimum(n_bins - 1, np.searchsorted(edges, clipped, side="right") - 1)


def calibration_bins(
    confidences: Sequence[Any], correct: Sequence[Any], n_bins: int = 10, binning: str = "exact"
) -> list[CalibrationBin]:
    """``n_bins`` bins [b/M, (b+1)/M) with their counts and mean accuracy and confidence (NaN when empty)."""
    _check_bins(n_bins, binning)
    conf, corr = _validate(confidences, correct)
    index = _bin_indices(conf, n_bins, binning)
    bins = []
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        bins.append(
            CalibrationBin(
                lower=b / n_bins,
                upper=(b + 1) / n_bins,
                count=count,
                accuracy=float(corr[members].mean()) if count else math.nan,
                confidence=float(conf[members].mean()) if count else math.nan,
            )
        )
    return bins


def expected_calibration_error(
    confidences: Sequence[Any], correct: Sequence[Any], n_bins: int = 10, binning: str = "exact"
) -> float:
    """ECE = Σ_b (n_b/n)·|acc_b − conf_b| over the non-empty bins."""
    bins = calibration_bins(confidences, correct, n_bins, binning)
    n = sum(b.count for b in bins)
    return float(sum(b.count / n * abs(b.accuracy - b.confidence) for b in bins if b.count))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        stop = start + 1
        while stop < len(values) and sorted_values[stop] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop]] = (start + 1 + stop) / 2.0
        start = stop
    return ranks


def auroc(confidences: Sequence[Any], correct: Sequence[Any]) -> float:
    """The mean over (correct, wrong) pairs of [c⁺ > c⁻] + ½·[c⁺ = c⁻]; NaN when only one class (or none) is
    present. O(n log n) via average ranks."""
    conf, corr = _validate(confidences, correct, allow_empty=True)
    n_pos = int(corr.sum())
    n_neg = len(corr) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(conf)
    return float((ranks[corr == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def brier_score(confidences: Sequence[Any], correct: Sequence[Any]) -> float:
    """Mean (c − y)²."""
    conf, corr = _validate(confidences, correct)
    return float(np.mean((conf - corr) ** 2))


def accuracy(correct: Sequence[Any]) -> float:
    """Mean y."""
    corr = _as_correct(correct)
    if len(corr) == 0:
        raise ValueError("empty input: at least one result is needed")
    return float(corr.mean())


def calibration_summary(
    confidences: Sequence[Any], correct: Sequence[Any], *, n_bins: int = 10, binning: str = "exact"
) -> dict[str, float]:
    """``n``, ``accuracy``, ``ece``, ``auroc`` (NaN with one class), ``brier`` and ``mean_confidence``."""
    _check_bins(n_bins, binning)
    conf, corr = _validate(confidences, correct)
    return {
        "n": len(conf),
        "accuracy": accuracy(corr),
        "ece": expected_calibration_error(conf, corr, n_bins, binning),
        "auroc": auroc(conf, corr),
        "brier": brier_score(conf, corr),
        "mean_confidence": float(conf.mean()),
    }


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def reliability_diagram(
    confidences: Sequence[Any],
    correct: Sequence[Any],
    path: str | Path,
    *,
    n_bins: int = 10,
    binning: str = "exact",
    title: str | None = None,
) -> Path:
    """A PNG reliability diagram: per-bin accuracy bars (non-empty bins), gap markers up/down to the bin's mean
    confidence, the diagonal, and a count histogram below; ACC/ECE/AUROC in the title. Parents are created."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    bins = calibration_bins(confidences, correct, n_bins, binning)
    summary = calibration_summary(confidences, correct, n_bins=n_bins, binning=binning)
    width = 1.0 / n_bins
    filled = [b for b in bins if b.count]

    fig = Figure(figsize=(5, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(
        [b.lower for b in filled],
        [b.accuracy for b in filled],
        width=width,
        align="edge",
        color="tab:blue",
        edgecolor="black",
        label="accuracy",
    )
    for b in filled:
        centre = b.lower + width / 2
        top.plot([centre, centre], [b.accuracy, b.confidence], color="tab:red", linewidth=2)
    top.scatter(
        [b.lower + width / 2 for b in filled],
        [b.confidence for b in filled],
        color="tab:red",
        marker="_",
        s=150,
        zorder=3,
        label="mean confidence",
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", fontsize=8)
    heading = f"ACC {_fmt(summary['accuracy'])} / ECE {_fmt(summary['ece'])} / AUROC {_fmt(summary['auroc'])}"
    top.set_title(f"{title}\n{heading}" if title else heading, fontsize=10)

    bottom.bar(
        [b.lower for b in bins],
        [b.count for b in bins],
        width=width,
        align="edge",
        color="gray",
        edgecolor="black",
    )
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("count")
    fig.tight_layout()

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    return out
