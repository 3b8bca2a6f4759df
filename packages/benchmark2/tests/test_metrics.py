"""Exact-number tests for benchmark2.metrics (spec §8 worked examples, scipy agreement, error cases)."""

import math

import numpy as np
import pytest
from scipy import stats

from benchmark2.metrics import (
    bqs,
    cad_score,
    capability_alignment,
    cbrc,
    discriminability,
    inversion_counts,
    inversion_rate,
    kendall_tau,
    mean_pairwise_tau,
    pool_family_cad,
    stability,
)

# Spec §8 pooled-CAD example: F1 = [L ≻ S], F2 = [XL ≻ M ≻ XS].
CAD_SCORES = np.array(
    [
        [1, 1, 0, 1],  # L
        [1, 0, 0, 1],  # S
        [1, 1, 0, 1],  # XL
        [1, 0, 1, 1],  # M
        [0, 1, 1, 0],  # XS
    ]
)
CAD_FAMILIES = {"F1": [0, 1], "F2": [2, 3, 4]}


def test_kendall_tau_worked_example():
    assert kendall_tau([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30), abs=1e-12)
    assert kendall_tau([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.912871, abs=1e-6)
    assert kendall_tau([1, 2, 2, 3], [1, 2, 3, 4], variant="a") == pytest.approx(0.833333, abs=1e-6)


def test_kendall_tau_matches_scipy_on_tied_data():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(2, 40))
        x = rng.integers(0, 5, n).astype(float)
        y = rng.integers(0, 4, n).astype(float)
        ref = stats.kendalltau(x, y).statistic
        ours = kendall_tau(x, y)
        if np.isnan(ref):
            assert ours == 0.0
        else:
            assert ours == pytest.approx(ref, abs=1e-12)


def test_kendall_tau_long_vectors_blockwise():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 30, 3000).astype(float)
    y = x + rng.integers(0, 10, 3000)
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_kendall_tau_undefined_and_errors():
    assert kendall_tau([1.0], [2.0]) == 0.0
    assert kendall_tau([], []) == 0.0
    assert kendall_tau([1, 1, 1], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        kendall_tau([1, np.nan], [1, 2])
    with pytest.raises(ValueError):
        kendall_tau([[1, 2]], [[1, 2]])
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1, 2], variant="c")


def test_mean_pairwise_tau():
    assert mean_pairwise_tau([[1, 2, 3, 4], [1, 2, 3, 4], [4, 3, 2, 1]]) == pytest.approx(-1 / 3, abs=1e-12)
    rng = np.random.default_rng(2)
    rows = rng.integers(0, 3, (6, 9)).astype(float)
    for variant in ("a", "b"):
        naive = np.mean(
            [kendall_tau(rows[i], rows[j], variant=variant) for i in range(6) for j in range(i + 1, 6)]
        )
        assert mean_pairwise_tau(rows, variant=variant) == pytest.approx(naive, abs=1e-12)
    with pytest.raises(ValueError):
        mean_pairwise_tau([[1, 2, 3]])
    with pytest.raises(ValueError):
        mean_pairwise_tau([1, 2, 3])


def test_discriminability_worked_examples():
    assert discriminability([0.1, 0.4, 0.7, 1.0]) == pytest.approx(0.609837, abs=1e-6)
    assert discriminability([0.50, 0.51, 0.60, 0.70]) == pytest.approx(0.127626, abs=1e-6)


def test_discriminability_exact_gap_and_degenerate():
    s = np.array([0.50, 0.52])  # exactly 2 points apart: never separated, p = 0
    assert discriminability(s) == 0.0
    assert discriminability([0.5]) == 0.0
    assert discriminability([0.0, 0.0]) == 0.0
    assert discriminability([0.3, 0.3, 0.3]) == 0.0
    # Brute-force pair count agrees with the sorted count.
    rng = np.random.default_rng(3)
    s = np.round(rng.random(50), 2)
    p = np.mean([abs(s[i] - s[j]) > 0.02 + 1e-9 for i in range(50) for j in range(i + 1, 50)])
    assert discriminability(s) == pytest.approx(s.std() / s.mean() * math.sqrt(p), abs=1e-12)


def test_discriminability_errors():
    with pytest.raises(ValueError):
        discriminability([10.0, 50.0])
    with pytest.raises(ValueError):
        discriminability([-0.1, 0.5])
    with pytest.raises(ValueError):
        discriminability([0.1, np.inf])
    with pytest.raises(ValueError):
        discriminability([[0.1, 0.2]])


def test_cbrc_worked_example():
    mat = [[0.1, 0.2, 0.3, 0.4], [0.15, 0.25, 0.35, 0.45], [0.1, 0.2, 0.4, 0.3]]
    np.testing.assert_allclose(cbrc(mat), [5 / 6, 5 / 6, 2 / 3], atol=1e-12)
    _mean, std = cbrc(mat, return_std=True)
    np.testing.assert_allclose(std, [1 / 6, 1 / 6, 0.0], atol=1e-12)


def test_cbrc_domains_and_no_peer():
    mat = [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.1, 0.3, 0.2]]
    out = cbrc(mat, ["x", "x", "y"])
    np.testing.assert_allclose(out[:2], [-1.0, -1.0])
    assert np.isnan(out[2])
    _mean, std = cbrc(mat, ["x", "x", "y"], return_std=True)
    assert np.isnan(std[2]) and std[0] == 0.0
    with pytest.raises(ValueError):
        cbrc(mat, ["x", "y"])
    with pytest.raises(ValueError):
        cbrc([[0.1, np.nan]])


def test_pooled_cad_worked_example():
    assert inversion_counts(CAD_SCORES, CAD_FAMILIES) == (3, 16)
    assert inversion_rate(CAD_SCORES, CAD_FAMILIES) == pytest.approx(0.1875)
    assert capability_alignment(CAD_SCORES, CAD_FAMILIES) == pytest.approx(0.105399, abs=1e-6)
    # Sequence-of-lists families give the same answer.
    assert capability_alignment(CAD_SCORES, [[0, 1], [2, 3, 4]]) == pytest.approx(math.exp(-2.25))


def test_inversions_all_pairs_and_ignored_rows():
    scores = np.array([[0, 0], [0.5, 0], [1, 1], [1, 1]])
    # Family [0 ≻ 1 ≻ 2]: pairs (0,1): 1 inversion, (0,2): 2, (1,2): 2; row 3 is in no family.
    assert inversion_counts(scores, [[0, 1, 2]]) == (5, 6)
    assert np.isnan(inversion_rate(scores, [[0], [1]]))
    assert np.isnan(capability_alignment(scores, {"a": [3]}))


def test_families_validation():
    with pytest.raises(ValueError):
        inversion_counts(CAD_SCORES, [[0, 1], [1, 2]])
    with pytest.raises(ValueError):
        inversion_counts(CAD_SCORES, [[0, 5]])
    with pytest.raises(ValueError):
        inversion_counts(CAD_SCORES, [[-1, 0]])
    with pytest.raises(ValueError):
        inversion_counts(CAD_SCORES, [[0, 0]])
    with pytest.raises(ValueError):
        inversion_counts(CAD_SCORES, [[0.5, 1]])


def test_cad_score():
    for r, expected in [(0.02, 0.7866), (0.10, 0.3012), (0.25, 0.0498)]:
        assert cad_score(r) == pytest.approx(expected, abs=1e-4)
    assert np.isnan(cad_score(float("nan")))
    with pytest.raises(ValueError):
        cad_score(1.5)
    with pytest.raises(ValueError):
        cad_score(-0.1)


def test_pool_family_cad():
    assert pool_family_cad([0.67, 1.00, 1.00, 0.88], [3, 1, 3, 3]) == pytest.approx(0.853429, abs=1e-6)
    # Weighted geometric mean.
    assert pool_family_cad([0.5, 0.8], [1, 3]) == pytest.approx((0.5 * 0.8**3) ** 0.25)
    for cads, weights in [([0.0, 1.0], [1, 1]), ([1.2], [1]), ([0.5], [-1]), ([0.5], [0]), ([0.5, 0.6], [1])]:
        with pytest.raises(ValueError):
            pool_family_cad(cads, weights)


def test_bqs():
    assert bqs(0.52, 0.74, 0.85) == pytest.approx(0.790, abs=1e-12)
    assert bqs(0.0, 1.5, 0.0, clip_ds=True) == pytest.approx(0.15 + 0.3)
    assert bqs(0.0, 1.5, 0.0) == pytest.approx(0.15 + 0.45)
    assert np.isnan(bqs(float("nan"), 0.5, 0.5))
    with pytest.raises(ValueError):
        bqs(0.5, 0.5, 0.5, weights=(0.5, 0.5))
    with pytest.raises(ValueError):
        bqs(0.5, 0.5, 0.5, weights=(-0.1, 0.5, 0.6))


def _naive_stability(scores, n_boot, seed, sample_size=None, variant="b"):
    n = scores.shape[1]
    size = sample_size or n
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, size))
    draws = [np.round(scores[:, idx[k]].mean(axis=1), 12) for k in range(n_boot)]
    taus = []
    for a in range(n_boot):
        for b in range(a + 1, n_boot):
            x, y = draws[a], draws[b]
            if variant == "a":  # scipy has no τ-a: count the pair signs directly
                m = x.size
                s = sum(
                    np.sign(x[j] - x[i]) * np.sign(y[j] - y[i]) for i in range(m) for j in range(i + 1, m)
                )
                t = s / (m * (m - 1) / 2)
            else:
                t = stats.kendalltau(x, y).statistic
            taus.append(0.0 if np.isnan(t) else t)
    return float(np.mean(taus))


@pytest.mark.parametrize("graded", [False, True])
def test_stability_equals_naive_loop(graded):
    rng = np.random.default_rng(4)
    scores = rng.random((8, 40))
    if not graded:
        scores = (scores < 0.5).astype(float)
    assert stability(scores, n_boot=20, seed=3) == pytest.approx(_naive_stability(scores, 20, 3), abs=1e-12)
    assert stability(scores, n_boot=10, seed=1, sample_size=15) == pytest.approx(
        _naive_stability(scores, 10, 1, 15), abs=1e-12
    )
    assert stability(scores, n_boot=10, seed=1, variant="a") == pytest.approx(
        _naive_stability(scores, 10, 1, variant="a"), abs=1e-12
    )


def test_stability_errors():
    with pytest.raises(ValueError):
        stability(np.ones((3, 4)), n_boot=1)
    with pytest.raises(ValueError):
        stability(np.ones((3, 0)))
    with pytest.raises(ValueError):
        stability(np.ones(4))
    with pytest.raises(ValueError):
        stability([[0.1, np.nan], [0.2, 0.3]])
