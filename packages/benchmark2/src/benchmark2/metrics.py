"""Benchmark-level metrics of Benchmark² (arXiv 2601.03986), vectorised with NumPy.

- **CBRC** (cross-benchmark ranking consistency): mean Kendall τ between a benchmark's model scores and those of
  its same-domain peers.
- **DS** (discriminability score) = (σ/μ)·sqrt(p): coefficient of variation of the model scores times the root
  of the share p of model pairs separated by more than eps.
- **CAD** (capability alignment deviation) = exp(−λ·rate), rate the pooled within-family inversion rate.
- **BQS** = α·(CBRC+1)/2 + β·DS + γ·CAD.

Plus the bootstrap ``stability`` of a model ranking (mean pairwise τ over resampled item sets).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "bqs",
    "cad_score",
    "capability_alignment",
    "cbrc",
    "discriminability",
    "inversion_counts",
    "inversion_rate",
    "kendall_tau",
    "mean_pairwise_tau",
    "pool_family_cad",
    "stability",
]

# A score difference within this of eps counts as equal to eps: an exact 2-point gap (0.52 − 0.50, which is
# 0.020000000000000018 in binary floating point) must not count as "more than eps".
_GAP_TOL = 1e-9
# Bootstrap means are rounded so that summation order (bincount + matrix product here, a slice mean in a naive
# loop) cannot break or create ties between models.
_ROUND_DECIMALS = 12


# ----------------------------------------------------------------------------------------------- validation


def _as_vector(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _as_matrix(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _check_variant(variant: str) -> None:
    if variant not in ("a", "b"):
        raise ValueError(f"variant must be 'a' or 'b', got {variant!r}")


def normalize_families(families, n_rows: int) -> list[np.ndarray]:
    """Turn ``families`` (mapping name -> rows, or a sequence of row lists; strongest first) into index arrays.

    An index that is not an integer, is out of ``range(n_rows)`` or appears twice (within or across families)
    raises ``ValueError``.
    """
    groups: Iterable = families.values() if isinstance(families, Mapping) else families
    if isinstance(groups, str | bytes):
        raise ValueError("families must be a mapping or a sequence of index lists")
    out: list[np.ndarray] = []
    seen: set[int] = set()
    for group in groups:
        if isinstance(group, str | bytes) or not isinstance(group, Sequence | np.ndarray):
            raise ValueError(f"a family must be a sequence of row indices, got {group!r}")
        rows = []
        for idx in group:
            if isinstance(idx, bool | np.bool_) or not isinstance(idx, int | np.integer):
                raise ValueError(f"family index {idx!r} is not an integer")
            idx = int(idx)
            if not 0 <= idx < n_rows:
                raise ValueError(f"family index {idx} is out of range for {n_rows} rows")
            if idx in seen:
                raise ValueError(f"family index {idx} repeats")
            seen.add(idx)
            rows.append(idx)
        out.append(np.asarray(rows, dtype=np.int64))
    return out


# ------------------------------------------------------------------------------------------------ Kendall τ


def _pair_signs(rows: np.ndarray) -> np.ndarray:
    """sign(x_j − x_i) for every pair i < j of columns, for each row: shape (rows, m(m−1)/2)."""
    m = rows.shape[1]
    i, j = np.triu_indices(m, k=1)
    return np.sign(rows[:, j] - rows[:, i])


def _tau_matrix(rows: np.ndarray, variant: str) -> np.ndarray:
    """Kendall τ between every pair of rows from one sign matrix and one matrix product.

    G = Sg·Sgᵀ holds S (concordant − discordant) off the diagonal and, on the diagonal, the number of pairs
    not tied in that row, which is exactly n_x of τ-b. Undefined entries (no untied pair) are 0.0.
    """
    r, m = rows.shape
    if m < 2:
        return np.zeros((r, r))
    signs = _pair_signs(rows)
    gram = signs @ signs.T  # integers, exact in float64 for any realistic size
    if variant == "b":
        untied = np.diag(gram)
        denom = np.sqrt(np.outer(untied, untied))
    else:
        denom = np.full((r, r), m * (m - 1) / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.where(denom > 0, gram / np.where(denom > 0, denom, 1.0), 0.0)
    return tau


def kendall_tau(x, y, *, variant: str = "b") -> float:
    """Kendall τ-b (default) or τ-a between two score vectors.

    With S = Σ_{i<j} sign(x_j−x_i)·sign(y_j−y_i) and n_x, n_y the pairs not tied in x, in y:
    τ-b = S/sqrt(n_x·n_y), τ-a = S/(n(n−1)/2). Undefined (n < 2, a constant vector) gives 0.0. Equals
    ``scipy.stats.kendalltau`` wherever that is defined.
    """
    _check_variant(variant)
    x = _as_vector(x, "x")
    y = _as_vector(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y have different lengths ({x.size} vs {y.size})")
    n = x.size
    if n < 2:
        return 0.0
    # Accumulate S, n_x, n_y over row blocks so memory stays O(block·n) for long vectors.
    s_sum = nx = ny = 0
    block = max(1, 2_000_000 // n)
    for start in range(0, n - 1, block):
        stop = min(n - 1, start + block)
        sx = np.sign(x[None, :] - x[start:stop, None])
        sy = np.sign(y[None, :] - y[start:stop, None])
        upper = np.arange(n)[None, :] > np.arange(start, stop)[:, None]  # only pairs i < j
        sx = np.where(upper, sx, 0.0)
        sy = np.where(upper, sy, 0.0)
        s_sum += int((sx * sy).sum())
        nx += int(np.count_nonzero(sx))
        ny += int(np.count_nonzero(sy))
    if variant == "a":
        return float(s_sum / (n * (n - 1) / 2.0))
    if nx == 0 or ny == 0:
        return 0.0
    return float(s_sum / math.sqrt(nx * ny))


def mean_pairwise_tau(vectors, *, variant: str = "b") -> float:
    """Mean Kendall τ over all pairs of rows (score vectors over the same models).

    One sign matrix, one matrix product (see ``_tau_matrix``). Fewer than 2 rows raises ``ValueError``.
    """
    _check_variant(variant)
    rows = _as_matrix(vectors, "vectors")
    r = rows.shape[0]
    if r < 2:
        raise ValueError("mean_pairwise_tau needs at least 2 vectors")
    tau = _tau_matrix(rows, variant)
    iu = np.triu_indices(r, k=1)
    return float(tau[iu].mean())


# ----------------------------------------------------------------------------------------------------- DS


def _count_separated_pairs(sorted_scores: np.ndarray, eps: float) -> int:
    """Pairs with |s_j − s_k| > eps (ties within 1e-9 of eps excluded), O(m log m) on sorted scores."""
    m = sorted_scores.size
    # For each i, the scores above s_i + eps + tol are separated from it; searchsorted counts them at once.
    first_far = np.searchsorted(sorted_scores, sorted_scores + (eps + _GAP_TOL), side="right")
    return int((m - first_far).sum())


def discriminability(scores, *, eps: float = 0.02) -> float:
    """DS = (σ/μ)·sqrt(p) of a benchmark's model scores (fractions in [0, 1]).

    σ is the population std, μ the mean and p the share of the m(m−1)/2 model pairs whose gap exceeds eps (a gap
    within 1e-9 of eps counts as equal, so never as separated). 0.0 when m < 2, μ = 0 or σ = 0. Not bounded
    by 1. A score outside [0, 1] raises ``ValueError`` (divide percentages by 100).
    """
    s = _as_vector(scores, "scores")
    if np.any((s < 0) | (s > 1)):
        raise ValueError("scores must lie in [0, 1] (divide percentages by 100)")
    m = s.size
    if m < 2:
        return 0.0
    mu = float(s.mean())
    sigma = float(s.std())
    if mu == 0.0 or sigma == 0.0:
        return 0.0
    p = _count_separated_pairs(np.sort(s), eps) / (m * (m - 1) / 2.0)
    return float(sigma / mu * math.sqrt(p))


# --------------------------------------------------------------------------------------------------- CBRC


def cbrc(score_matrix, domains=None, *, variant: str = "b", return_std: bool = False):
    """CBRC(B_i) = mean τ(s_i, s_j) over peers j ≠ i in the same domain.

    ``score_matrix`` is [benchmarks, models]; ``domains`` one label per benchmark (``None``: one domain). A
    benchmark without a peer gets NaN. With ``return_std`` also returns the population std of the peer τ values.
    """
    _check_variant(variant)
    mat = _as_matrix(score_matrix, "score_matrix")
    b = mat.shape[0]
    if domains is None:
        labels = np.zeros(b, dtype=np.int64)
    else:
        labels = np.asarray(list(domains), dtype=object)
        if labels.shape != (b,):
            raise ValueError(f"domains has {labels.size} labels for {b} benchmarks")
    tau = _tau_matrix(mat, variant)
    peers = (labels[:, None] == labels[None, :]) & ~np.eye(b, dtype=bool)
    count = peers.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(peers, tau, 0.0).sum(axis=1) / count
        std = np.sqrt(np.where(peers, (tau - mean[:, None]) ** 2, 0.0).sum(axis=1) / count)
    mean = np.where(count > 0, mean, np.nan)
    std = np.where(count > 0, std, np.nan)
    return (mean, std) if return_std else mean


# ---------------------------------------------------------------------------------------------------- CAD


def family_pair_inversions(scores: np.ndarray, fams: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Per-item inversion counts over all within-family (stronger, weaker) pairs, and Σ_f C(k_f, 2).

    Families of equal size are stacked so each (a, b) position pair is one comparison over all of them.
    """
    n = scores.shape[1]
    inv = np.zeros(n, dtype=np.int64)
    pairs = 0
    by_size: dict[int, list[np.ndarray]] = {}
    for fam in fams:
        if fam.size >= 2:
            by_size.setdefault(int(fam.size), []).append(fam)
    for k, group in by_size.items():
        stack = scores[np.stack(group)]  # (families, k, items), strongest first
        pairs += len(group) * k * (k - 1) // 2
        for a in range(k - 1):
            # The weaker members b > a strictly beating the stronger a on an item are inversions.
            inv += (stack[:, a + 1 :, :] > stack[:, a : a + 1, :]).sum(axis=(0, 1))
    return inv, pairs


def inversion_counts(scores, families) -> tuple[int, int]:
    """(inversions, comparisons) pooled over families (paper Eq. 4).

    An inversion is a same-family pair (stronger j, weaker l) and item q with ``scores[l, q] > scores[j, q]``.
    All within-family pairs count; comparisons = Σ_f C(k_f, 2)·n_items; rows in no family are ignored.
    """
    mat = _as_matrix(scores, "scores")
    fams = normalize_families(families, mat.shape[0])
    inv, pairs = family_pair_inversions(mat, fams)
    return int(inv.sum()), int(pairs * mat.shape[1])


def inversion_rate(scores, families) -> float:
    """Pooled inversion rate = inversions / comparisons; NaN without comparisons."""
    inv, comp = inversion_counts(scores, families)
    return float(inv / comp) if comp else float("nan")


def cad_score(rate: float, *, lam: float = 12.0) -> float:
    """CAD = exp(−λ·rate). NaN maps to NaN; a rate outside [0, 1] raises ``ValueError``."""
    rate = float(rate)
    if math.isnan(rate):
        return float("nan")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"inversion rate must lie in [0, 1], got {rate}")
    return math.exp(-lam * rate)


def capability_alignment(scores, families, *, lam: float = 12.0) -> float:
    """CAD from the **pooled** inversion rate over all families (never the mean of per-family CADs)."""
    return cad_score(inversion_rate(scores, families), lam=lam)


def pool_family_cad(family_cads, weights, *, lam: float = 12.0) -> float:
    """Pool per-family CADs: rates r_f = −ln(c_f)/λ, weight-averaged (weights = comparison counts), mapped back.

    The result is the weighted geometric mean of the CADs. CADs must lie in (0, 1], weights be ≥ 0 with a
    positive sum, lengths equal; otherwise ``ValueError``.
    """
    c = _as_vector(family_cads, "family_cads")
    w = _as_vector(weights, "weights")
    if c.shape != w.shape:
        raise ValueError(f"family_cads and weights differ in length ({c.size} vs {w.size})")
    if np.any((c <= 0) | (c > 1)):
        raise ValueError("family CADs must lie in (0, 1]")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    rates = -np.log(c) / lam
    return float(math.exp(-lam * float((w * rates).sum() / w.sum())))


# ---------------------------------------------------------------------------------------------------- BQS


def bqs(cbrc, ds, cad, *, weights=(0.3, 0.3, 0.4), clip_ds: bool = False) -> float:
    """BQS = α·(CBRC+1)/2 + β·DS + γ·CAD (DS → min(DS, 1) with ``clip_ds``); a NaN part gives NaN."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (3,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be three non-negative numbers, got {weights!r}")
    parts = [float(cbrc), float(ds), float(cad)]
    if any(math.isinf(v) for v in parts):
        raise ValueError("BQS parts must not be infinite")
    if any(math.isnan(v) for v in parts):
        return float("nan")
    c, d, a = parts
    if clip_ds:
        d = min(d, 1.0)
    return float(w[0] * (c + 1.0) / 2.0 + w[1] * d + w[2] * a)


# ---------------------------------------------------------------------------------------------- stability


def bootstrap_indices(n_items: int, n_boot: int, seed: int, sample_size: int | None = None) -> np.ndarray:
    """The single draw ``default_rng(seed).integers(0, n, size=(n_boot, size))`` used by ``stability``."""
    size = n_items if sample_size is None else int(sample_size)
    return np.random.default_rng(seed).integers(0, n_items, size=(n_boot, size))


def stability(
    scores, *, n_boot: int = 100, seed: int = 0, sample_size: int | None = None, variant: str = "b"
):
    """Bootstrap stability of the model ranking: mean pairwise τ over ``n_boot`` resampled item sets.

    Draw k scores the models by ``scores[:, idx[k]].mean(axis=1)`` rounded to 12 decimals. Per-draw item counts
    (one bincount) turn all draws into one matrix product: means = scores · countsᵀ / size.
    """
    _check_variant(variant)
    mat = _as_matrix(scores, "scores")
    n = mat.shape[1]
    if n_boot < 2:
        raise ValueError("stability needs n_boot >= 2")
    if n == 0:
        raise ValueError("stability needs at least one item")
    size = n if sample_size is None else int(sample_size)
    if size < 1:
        raise ValueError("sample_size must be at least 1")
    idx = bootstrap_indices(n, n_boot, seed, size)
    # Offsetting draw k by k·n lets one bincount give every draw's item counts.
    flat = (idx + (np.arange(n_boot, dtype=np.int64) * n)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(float)
    means = np.round((counts @ mat.T) / size, _ROUND_DECIMALS)  # (draws, models)
    return mean_pairwise_tau(means, variant=variant)
