"""WCR, LCR, ICR and friends on the spec §8 fixture: exact numbers from the definitions."""

import math

import pytest

from crosswordbench.metrics import (
    aggregate,
    completion_rate,
    grid_parsing_correlation,
    intersection_consistency_rate,
    letter_coverage_rate,
    normalize_answer,
    pearson,
    score_answers,
    word_coverage_rate,
)

SEA = {"across 1": "CAT", "down 1": "COW", "down 2": "SEA"}


def test_one_wrong_down_word(P):
    assert word_coverage_rate(P, SEA) == pytest.approx({"across": 1.0, "down": 0.5, "all": 2 / 3})
    assert letter_coverage_rate(P, SEA) == pytest.approx({"across": 1.0, "down": 5 / 6, "all": 8 / 9})
    assert intersection_consistency_rate(P, SEA) == 0.5


def test_too_long_answer(P):
    answers = {"across 1": "CAT", "down 1": "COW", "down 2": "TEAS"}
    assert letter_coverage_rate(P, answers)["all"] == pytest.approx(0.9)
    assert intersection_consistency_rate(P, answers) == 1.0
    assert score_answers(P, answers)["local_length_error"] == 1.0


def test_missing_answer(P):
    answers = {"across 1": "CAT", "down 2": "TEA"}
    assert letter_coverage_rate(P, answers)["all"] == pytest.approx(6 / 9)
    assert intersection_consistency_rate(P, answers) == 0.5
    scores = score_answers(P, answers)
    assert scores["global_length_error"] == 1.0 and scores["completion"] == 0.0


def test_consistent_but_wrong(P):
    answers = {"across 1": "BAT", "down 1": "BOW", "down 2": "TEA"}
    assert word_coverage_rate(P, answers)["all"] == pytest.approx(1 / 3)
    assert intersection_consistency_rate(P, answers) == 1.0


@pytest.mark.parametrize("empty", [None, {}, {"across 1": None, "down 1": ""}, "garbage"])
def test_empty_answers_score_zero(P, empty):
    scores = score_answers(P, empty)
    for key in ("wcr", "wcr_across", "wcr_down", "lcr", "lcr_across", "lcr_down", "icr", "completion"):
        assert scores[key] == 0.0
    assert scores["empty_answer"] == 1.0 and scores["n_words"] == 3.0


def test_reference_format_keys_and_quotes(P):
    answers = {"Across  1": {"answer": "'cat'"}, "DOWN 1": '"Cow"', "down 2": {"answer": "tea"}}
    scores = score_answers(P, answers)
    assert scores["wcr"] == 1.0 and scores["lcr"] == 1.0 and scores["icr"] == 1.0
    assert scores["completion"] == 1.0 and scores["local_length_error"] == 0.0
    assert completion_rate(P, {**answers, "across 9": "x"}) == 0.0
    assert normalize_answer(None) == "" and normalize_answer(" 'A' ") == "a" and normalize_answer("'") == "'"


def test_aggregate_means_over_puzzles():
    summary = aggregate([{"wcr": 2 / 3, "id": "a"}, {"wcr": 1.0, "id": "b"}])
    assert set(summary) == {"wcr"}
    s = summary["wcr"]
    assert s["mean"] == pytest.approx(0.8333, abs=1e-4) and s["n"] == 2
    assert s["std"] == pytest.approx(math.sqrt(2) / 6)
    assert s["stderr"] == pytest.approx(1 / 6)
    assert s["ci95_low"] == pytest.approx(0.8333333 - 12.7062047 / 6)
    assert s["ci95_high"] == pytest.approx(0.8333333 + 12.7062047 / 6)
    one = aggregate([{"x": 0.5}])["x"]
    assert one["std"] == 0.0 and one["ci95_low"] == one["ci95_high"] == 0.5
    same = aggregate([{"x": 0.5}, {"x": 0.5}])["x"]
    assert same["ci95_low"] == same["ci95_high"] == 0.5


def test_pearson():
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(0.9933992677987828)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        pearson([1], [1])
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])


def test_grid_parsing_correlation():
    parse = {"a": [0.2, 0.4, 0.3], "b": [0.5, 0.6, 0.7], "c": [0.9, 0.8, 1.0], "d": [0.1, 0.0, 0.2]}
    img = {m: [v / 2 for v in xs] for m, xs in parse.items()}
    out = grid_parsing_correlation(img, parse, n_boot=500, seed=0)
    assert out["r"] == pytest.approx(1.0)
    assert out["slope"] == pytest.approx(0.5) and out["intercept"] == pytest.approx(0.0, abs=1e-12)
    assert out["ci_low"] == pytest.approx(1.0) and out["ci_high"] == pytest.approx(1.0)
    noisy = {"a": [0.1, 0.3, 0.2], "b": [0.2, 0.1, 0.4], "c": [0.5, 0.3, 0.4], "d": [0.0, 0.1, 0.0]}
    out = grid_parsing_correlation(noisy, parse, n_boot=2000, seed=1)
    assert out["ci_low"] <= out["r"] <= out["ci_high"]
    assert out == grid_parsing_correlation(noisy, parse, n_boot=2000, seed=1)
    with pytest.raises(ValueError, match="3 models"):
        grid_parsing_correlation({"a": [1.0], "b": [0.0]}, {"a": [1.0], "b": [0.0]})
    with pytest.raises(ValueError, match="different models"):
        grid_parsing_correlation(img, {**parse, "e": [0, 0, 0]})
