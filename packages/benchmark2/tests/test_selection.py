"""Tests for benchmark2.selection: per-item CAD and discriminability, the selection rules, baselines."""

import math

import numpy as np
import pytest
from scipy import stats

from benchmark2.metrics import discriminability, kendall_tau, stability
from benchmark2.selection import (
    baseline_selection,
    evaluate_selection,
    item_cad,
    item_discriminability,
    item_inversions,
    select_items,
)

CAD_SCORES = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 0]])
CAD_FAMILIES = {"F1": [0, 1], "F2": [2, 3, 4]}


def test_item_inversions_and_cad_worked_example():
    inv, pairs = item_inversions(CAD_SCORES, CAD_FAMILIES)
    np.testing.assert_array_equal(inv, [0, 1, 2, 0])
    np.testing.assert_array_equal(pairs, [4, 4, 4, 4])
    assert inv.dtype.kind == "i" and pairs.dtype.kind == "i"
    np.testing.assert_allclose(item_cad(CAD_SCORES, CAD_FAMILIES), [1, math.exp(-3), math.exp(-6), 1])


def test_item_cad_paper_threshold_and_no_pairs():
    # The paper's 10 pairs: 0/1/2/3 inversions → 1.0/0.301/0.091/0.027; 0.15 keeps ≤ 1 inversion.
    np.testing.assert_allclose(np.exp(-12 * np.arange(4) / 10), [1.0, 0.301, 0.091, 0.027], atol=1e-3)
    np.testing.assert_array_equal(item_cad(CAD_SCORES, [[0], [1]]), np.ones(4))


def test_covariance_worked_example():
    scores = [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]]
    contrib = item_discriminability(scores)
    np.testing.assert_allclose(contrib, [0, 1 / 12, 1 / 12, 0], atol=1e-15)
    assert contrib.mean() == pytest.approx(1 / 24, abs=1e-15)
    assert contrib[0] == 0.0 and contrib[3] == 0.0


def test_covariance_identity_random():
    rng = np.random.default_rng(0)
    for shape in [(5, 7), (12, 100), (3, 2)]:
        scores = rng.random(shape)
        scores[:, 0] = 0.3  # a constant item contributes exactly 0
        contrib = item_discriminability(scores)
        assert contrib[0] == 0.0
        assert contrib.mean() == pytest.approx(scores.mean(axis=1).var(), abs=1e-14)


def test_pointbiserial_and_loo():
    rng = np.random.default_rng(1)
    scores = (rng.random((6, 9)) < 0.5).astype(float)
    scores[:, 2] = 1.0
    s = scores.mean(axis=1)
    pb = item_discriminability(scores, method="pointbiserial")
    for q in range(9):
        if np.ptp(scores[:, q]) == 0:
            assert pb[q] == 0.0
        else:
            assert pb[q] == pytest.approx(stats.pearsonr(scores[:, q], s).statistic, abs=1e-12)
    loo = item_discriminability(scores, method="loo")
    n = scores.shape[1]
    for q in range(n):
        ref = discriminability(s) - discriminability(np.clip((n * s - scores[:, q]) / (n - 1), 0, 1))
        assert loo[q] == pytest.approx(ref, abs=1e-12)
    np.testing.assert_array_equal(item_discriminability(scores[:, :1], method="loo"), [0.0])
    with pytest.raises(ValueError):
        item_discriminability(scores, method="entropy")


def test_select_items_ties_go_to_lower_index():
    # Columns 0..3 identical (same contribution), so the lowest indices win.
    col = np.array([1, 1, 0, 0], dtype=float)
    scores = np.column_stack([col] * 4 + [np.ones(4)] * 2)
    np.testing.assert_array_equal(select_items(scores, [], ratio=0.35, cad_threshold=None), [0, 1])
    sel = select_items(scores, [], ratio=0.5, cad_threshold=None)
    np.testing.assert_array_equal(sel, [0, 1, 2])
    assert sel.dtype == np.int64


def test_select_items_k_rounding_and_order():
    scores = np.array([[1, 1, 1, 0, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 1]], dtype=float)
    contrib = item_discriminability(scores)
    # k = max(1, floor(0.35·5 + 0.5)) = 2: the two largest contributions, sorted ascending.
    expected = np.sort(np.argsort(-contrib, kind="stable")[:2])
    np.testing.assert_array_equal(select_items(scores, [], cad_threshold=None), expected)
    assert select_items(scores, [], ratio=0.01, cad_threshold=None).size == 1  # k is at least 1
    assert select_items(scores, [], ratio=1.0, cad_threshold=None).size == 5


def test_select_items_short_survivors_and_strict_filter():
    # Item CADs [1, e^-3, e^-6, 1]: a threshold of exactly e^-3 drops item 1 (strict), leaving 2 survivors.
    sel = select_items(CAD_SCORES, CAD_FAMILIES, ratio=1.0, cad_threshold=math.exp(-3))
    np.testing.assert_array_equal(sel, [0, 3])
    sel = select_items(CAD_SCORES, CAD_FAMILIES, ratio=1.0, cad_threshold=0.04)
    np.testing.assert_array_equal(sel, [0, 1, 3])
    # Nobody survives: an empty selection.
    assert select_items(CAD_SCORES, CAD_FAMILIES, cad_threshold=1.0).size == 0


def test_select_items_errors():
    for ratio in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            select_items(CAD_SCORES, CAD_FAMILIES, ratio=ratio)
    with pytest.raises(ValueError):
        select_items(CAD_SCORES, [[0, 9]])
    with pytest.raises(ValueError):
        select_items(np.array([[0.5, np.inf]]), [])
    with pytest.raises(ValueError):
        select_items(np.ones(4), [])


def test_baseline_selection():
    scores = np.array([[1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0], [1, 0, 0, 0, 0, 1]], dtype=float)
    # Item means: [1, 1/3, 0, 1/3, 2/3, 1/3]; k = floor(0.35·6 + 0.5) = 2.
    np.testing.assert_array_equal(baseline_selection(scores, "high_accuracy"), [0, 4])
    np.testing.assert_array_equal(baseline_selection(scores, "low_accuracy"), [1, 2])
    np.testing.assert_array_equal(baseline_selection(scores, "medium_difficulty"), [1, 3])
    rnd = baseline_selection(scores, "random", seed=5)
    np.testing.assert_array_equal(rnd, np.sort(np.random.default_rng(5).choice(6, 2, replace=False)))
    with pytest.raises(ValueError):
        baseline_selection(scores, "longest")
    with pytest.raises(ValueError):
        baseline_selection(scores, "random", ratio=0)


def test_evaluate_selection():
    rng = np.random.default_rng(2)
    scores = (rng.random((7, 30)) < np.linspace(0.2, 0.8, 7)[:, None]).astype(float)
    sel = np.array([1, 4, 5, 9, 20])
    out = evaluate_selection(scores, sel, n_boot=10, seed=1)
    assert out["tau"] == pytest.approx(kendall_tau(scores.mean(1), scores[:, sel].mean(1)))
    assert out["stability"] == pytest.approx(stability(scores[:, sel], n_boot=10, seed=1))
    assert out["ds"] == pytest.approx(discriminability(scores[:, sel].mean(1)))
    assert out["kept"] == pytest.approx(5 / 30)
    with pytest.raises(ValueError):
        evaluate_selection(scores, [])
    with pytest.raises(ValueError):
        evaluate_selection(scores, [30])


def test_bench_pipelines_agree_on_small_inputs():
    from benchmark2.bench import _inputs, compare_results, naive_pipeline, vectorised_pipeline

    mats, domains, families = _inputs(3, 12, 4, 60)
    fast = vectorised_pipeline(mats, domains, families, n_boot=6)
    slow = naive_pipeline(mats, domains, families, n_boot=6)
    assert compare_results(fast, slow) <= 1e-9
