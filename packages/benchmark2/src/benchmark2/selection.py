"""Per-item signals and the selective-benchmark algorithm of Benchmark² (paper §5.4).

Per-item CAD = exp(−λ·inv_q/pairs) from the item's within-family inversions; per-item discriminability is the
item's contribution to the spread of model totals (covariance by default, the paper leaves it undefined).
``select_items`` keeps the items passing the CAD filter with the largest contributions, up to ``ratio`` of the
original item count.
"""

from __future__ import annotations

import math

import numpy as np

from benchmark2.metrics import (
    _as_matrix,
    discriminability,
    family_pair_inversions,
    kendall_tau,
    normalize_families,
    stability,
)

__all__ = [
    "baseline_selection",
    "evaluate_selection",
    "item_cad",
    "item_discriminability",
    "item_inversions",
    "select_items",
]

_METHODS = ("covariance", "pointbiserial", "loo")
_STRATEGIES = ("random", "high_accuracy", "low_accuracy", "medium_difficulty")
# Contributions are compared after rounding, so that 1-ulp differences from summation order cannot decide a tie
# (ties go to the lower index); 12 decimals is far below any meaningful difference of fractions.
_KEY_DECIMALS = 12


def _n_selected(ratio: float, n: int) -> int:
    ratio = float(ratio)
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio}")
    return max(1, math.floor(ratio * n + 0.5))


def item_inversions(scores, families) -> tuple[np.ndarray, np.ndarray]:
    """(inv, pairs) over items: inv[q] = within-family inversions on item q; pairs[q] = Σ_f C(k_f, 2)."""
    mat = _as_matrix(scores, "scores")
    fams = normalize_families(families, mat.shape[0])
    inv, pairs = family_pair_inversions(mat, fams)
    return inv, np.full(mat.shape[1], pairs, dtype=np.int64)


def item_cad(scores, families, *, lam: float = 12.0) -> np.ndarray:
    """Per-item CAD = exp(−λ·inv/pairs); 1.0 where there are no within-family pairs."""
    inv, pairs = item_inversions(scores, families)
    safe = np.where(pairs > 0, pairs, 1)
    return np.where(pairs > 0, np.exp(-lam * inv / safe), 1.0)


def _ds_columns(cols: np.ndarray, eps: float) -> np.ndarray:
    """DS of every column of ``cols`` (models × vectors), vectorised; pairwise counts in column blocks."""
    m, n = cols.shape
    out = np.zeros(n)
    if m < 2:
        return out
    mu = cols.mean(axis=0)
    sigma = cols.std(axis=0)
    sep = np.zeros(n, dtype=np.int64)
    i, j = np.triu_indices(m, k=1)
    block = max(1, 4_000_000 // max(1, i.size))
    for start in range(0, n, block):
        c = cols[:, start : start + block]
        sep[start : start + block] = (np.abs(c[j] - c[i]) > eps + 1e-9).sum(axis=0)
    ok = (mu != 0) & (sigma != 0)
    p = sep / (m * (m - 1) / 2.0)
    out[ok] = sigma[ok] / mu[ok] * np.sqrt(p[ok])
    return out


def item_discriminability(scores, *, method: str = "covariance", eps: float = 0.02) -> np.ndarray:
    """Each item's discriminability contribution, with s = the row means (model totals).

    - ``covariance``: (1/m)·Σ_j (c_jq − c̄_q)(s_j − s̄); its mean over items is Var_pop(s) exactly.
    - ``pointbiserial``: Pearson correlation of column q with s; 0 if either is constant.
    - ``loo``: DS(s) − DS((n·s − c_·q)/(n − 1)); 0 when n = 1.

    A constant item gets 0 under covariance and pointbiserial.
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {_METHODS}")
    mat = _as_matrix(scores, "scores")
    m, n = mat.shape
    if n == 0:
        return np.zeros(0)
    s = mat.mean(axis=1)
    # Explicitly zero constant columns: their floating-point mean need not reproduce the values exactly.
    constant = np.ptp(mat, axis=0) == 0 if m else np.ones(n, dtype=bool)
    if method == "loo":
        if n == 1:
            return np.zeros(1)
        full = discriminability(s, eps=eps)
        loo = np.clip((n * s[:, None] - mat) / (n - 1), 0.0, 1.0)
        return full - _ds_columns(loo, eps)
    sc = s - s.mean()
    cc = mat - mat.mean(axis=0)
    cov = (sc @ cc) / m
    if method == "covariance":
        return np.where(constant, 0.0, cov)
    denom = math.sqrt(float(sc @ sc)) * np.sqrt((cc * cc).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (sc @ cc) / denom
    return np.where(constant | (denom == 0), 0.0, r)


def _top_k(keys: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The k candidates with the largest keys, ties to the lower index, returned sorted ascending."""
    rounded = np.round(keys[candidates], _KEY_DECIMALS)
    order = np.argsort(-rounded, kind="stable")  # stable on ascending indices: ties keep the lower index
    return np.sort(candidates[order[:k]]).astype(np.int64)


def select_items(
    scores,
    families,
    *,
    ratio: float = 0.35,
    cad_threshold: float | None = 0.15,
    method: str = "covariance",
    lam: float = 12.0,
    eps: float = 0.02,
) -> np.ndarray:
    """Selective benchmark: CAD filter, then the top ``ratio`` of the original item count by contribution.

    1. k = max(1, floor(ratio·n + 0.5)), n the original item count.
    2. Candidates: items with item CAD > ``cad_threshold`` (strictly); ``None`` keeps every item.
    3. Candidates sorted by contribution, descending, ties to the lower index.
    4. The first min(k, candidates) are returned sorted ascending (possibly empty).
    """
    mat = _as_matrix(scores, "scores")
    k = _n_selected(ratio, mat.shape[1])
    contrib = item_discriminability(mat, method=method, eps=eps)
    if cad_threshold is None:
        candidates = np.arange(mat.shape[1])
    else:
        candidates = np.flatnonzero(item_cad(mat, families, lam=lam) > float(cad_threshold))
    return _top_k(contrib, candidates, k)


def baseline_selection(scores, strategy: str, *, ratio: float = 0.35, seed: int = 0) -> np.ndarray:
    """Baseline arms with the same k (paper Table 6): ``random``, ``high_accuracy``, ``low_accuracy``,
    ``medium_difficulty`` (smallest |mean − 0.5|); ties go to the lower index; returned sorted ascending."""
    mat = _as_matrix(scores, "scores")
    n = mat.shape[1]
    k = _n_selected(ratio, n)
    if strategy not in _STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {_STRATEGIES}")
    if strategy == "random":
        return np.sort(np.random.default_rng(seed).choice(n, k, replace=False)).astype(np.int64)
    means = mat.mean(axis=0)
    key = {"high_accuracy": means, "low_accuracy": -means, "medium_difficulty": -np.abs(means - 0.5)}[
        strategy
    ]
    return _top_k(key, np.arange(n), k)


def evaluate_selection(
    scores, selected, *, n_boot: int = 100, seed: int = 0, eps: float = 0.02, variant: str = "b"
) -> dict:
    """Judge a selective benchmark: ``tau`` (full vs subset model means), ``stability`` of the subset, ``ds`` of
    the subset means, ``kept`` = len(selected)/n. An empty selection raises ``ValueError``."""
    mat = _as_matrix(scores, "scores")
    sel = np.asarray(selected)
    if sel.ndim != 1:
        raise ValueError("selected must be 1-dimensional")
    if sel.size == 0:
        raise ValueError("empty selection")
    if not np.issubdtype(sel.dtype, np.integer):
        raise ValueError("selected must hold integer item indices")
    n = mat.shape[1]
    if sel.min() < 0 or sel.max() >= n:
        raise ValueError(f"selected index out of range for {n} items")
    sub = mat[:, sel]
    sub_means = sub.mean(axis=1)
    return {
        "tau": kendall_tau(mat.mean(axis=1), sub_means, variant=variant),
        "stability": stability(sub, n_boot=n_boot, seed=seed, variant=variant),
        "ds": discriminability(sub_means, eps=eps),
        "kept": sel.size / n,
    }
