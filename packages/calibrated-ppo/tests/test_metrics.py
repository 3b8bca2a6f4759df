"""Calibration metrics (spec §2.6): every worked example, both binning rules and the validation errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibrated_ppo.metrics import (
    CalibrationBin,
    accuracy,
    auroc,
    brier_score,
    calibration_bins,
    calibration_summary,
    expected_calibration_error,
    reliability_diagram,
)


def test_ece_worked_example() -> None:
    conf = [0.9] * 4 + [0.1] * 2
    correct = [1, 1, 1, 0, 0, 0]
    assert expected_calibration_error(conf, correct) == pytest.approx(0.133333, abs=1e-6)
    assert expected_calibration_error(conf, correct, binning="netcal") == pytest.approx(0.133333, abs=1e-6)


def test_ece_exact_vs_netcal_at_edges() -> None:
    assert expected_calibration_error([0.3, 0.2], [1, 0]) == pytest.approx(0.45)
    assert expected_calibration_error([0.3, 0.2], [1, 0], binning="netcal") == pytest.approx(0.25)


def test_ece_confidence_one_joins_last_bin() -> None:
    assert expected_calibration_error([1.0] * 5, [1, 1, 1, 0, 0]) == pytest.approx(0.4)
    assert expected_calibration_error([1.0] * 5, [1, 1, 1, 0, 0], binning="netcal") == pytest.approx(0.4)
    bins = calibration_bins([0.9, 1.0], [True, False])
    assert bins[-1].count == 2  # verbalised 9 and 10 share a bin


def test_exact_bins_multiples_land_in_their_own_bin() -> None:
    bins = calibration_bins([0.29], [1], n_bins=100)
    assert [b.count for b in bins].index(1) == 29
    bins = calibration_bins([0.3, 0.6, 0.7, 0.0], [1, 1, 1, 1])
    assert [i for i, b in enumerate(bins) if b.count] == [0, 3, 6, 7]


def test_netcal_float_edge_effect() -> None:
    def index(c: float) -> int:
        return [b.count for b in calibration_bins([c], [1], binning="netcal")].index(1)

    assert index(0.3) == 2
    assert index(0.6) == 5
    assert index(0.7) == 6
    assert index(0.0) == 0
    assert index(1.0) == 9


def test_bins_fields() -> None:
    bins = calibration_bins([0.15, 0.15, 0.95], [1, 0, 1], n_bins=10)
    assert len(bins) == 10
    assert isinstance(bins[0], CalibrationBin)
    assert bins[1] == CalibrationBin(
        lower=0.1, upper=0.2, count=2, accuracy=0.5, confidence=pytest.approx(0.15)
    )
    assert bins[0].count == 0 and math.isnan(bins[0].accuracy) and math.isnan(bins[0].confidence)
    assert bins[9].lower == 0.9 and bins[9].upper == 1.0


def test_auroc_example_and_ties() -> None:
    assert auroc([0.9, 0.8, 0.8, 0.1], [1, 1, 0, 0]) == pytest.approx(0.875)
    assert auroc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == pytest.approx(0.5)
    assert auroc([0.1, 0.9], [1, 0]) == pytest.approx(0.0)


def test_auroc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    conf = rng.choice([0.1, 0.3, 0.5, 0.8, 1.0], size=50)
    correct = rng.integers(0, 2, size=50)
    pos, neg = conf[correct == 1], conf[correct == 0]
    expected = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auroc(conf, correct) == pytest.approx(expected)


def test_auroc_single_class_is_nan() -> None:
    assert math.isnan(auroc([0.9, 0.2], [1, 1]))
    assert math.isnan(auroc([0.9, 0.2], [0, 0]))
    assert math.isnan(auroc([], []))


def test_brier_accuracy_summary() -> None:
    assert brier_score([1.0, 0.0, 0.5], [1, 1, 0]) == pytest.approx((0 + 1 + 0.25) / 3)
    assert accuracy([True, False, True, True]) == pytest.approx(0.75)
    summary = calibration_summary([0.9] * 4 + [0.1] * 2, [1, 1, 1, 0, 0, 0])
    assert set(summary) == {"n", "accuracy", "ece", "auroc", "brier", "mean_confidence"}
    assert summary["n"] == 6
    assert summary["accuracy"] == pytest.approx(0.5)
    assert summary["ece"] == pytest.approx(0.133333, abs=1e-6)
    assert summary["auroc"] == pytest.approx(2.5 / 3)
    assert summary["mean_confidence"] == pytest.approx(0.633333, abs=1e-6)
    assert math.isnan(calibration_summary([0.5], [1])["auroc"])


@pytest.mark.parametrize(
    ("conf", "correct", "kwargs"),
    [
        ([0.5, 0.5], [1], {}),  # length mismatch
        ([], [], {}),  # empty
        ([float("nan")], [1], {}),
        ([1.5], [1], {}),
        ([-0.1], [1], {}),
        ([0.5], [2], {}),
        ([0.5], [0.5], {}),
        ([0.5], [1], {"n_bins": 0}),
        ([0.5], [1], {"binning": "bogus"}),
    ],
)
def test_validation_errors(conf: list, correct: list, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        expected_calibration_error(conf, correct, **kwargs)


def test_other_validation_errors() -> None:
    with pytest.raises(ValueError):
        brier_score([], [])
    with pytest.raises(ValueError):
        accuracy([])
    with pytest.raises(ValueError):
        accuracy([3])
    with pytest.raises(ValueError):
        auroc([0.5, 0.2], [1])
    with pytest.raises(ValueError):
        auroc([2.0, 0.2], [1, 0])
    with pytest.raises(ValueError):
        calibration_summary([], [])


def test_reliability_diagram_png(tmp_path) -> None:
    path = reliability_diagram(
        [0.9, 0.8, 0.8, 0.1, 1.0], [1, 1, 0, 0, 1], tmp_path / "nested" / "dir" / "rel.png", title="demo"
    )
    assert path == tmp_path / "nested" / "dir" / "rel.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # one class only: AUROC n/a still plots
    other = reliability_diagram([0.5, 0.7], [1, 1], tmp_path / "one.png", binning="netcal", n_bins=5)
    assert other.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        reliability_diagram([0.5], [1, 0], tmp_path / "bad.png")
