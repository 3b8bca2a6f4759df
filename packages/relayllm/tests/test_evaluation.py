"""Summaries and the random-router comparison (spec §2.5, §7, §8)."""

from __future__ import annotations

import math

import pytest

from relayllm.evaluation import (
    BenchmarkSummary,
    EvalItem,
    RouterComparison,
    aggregate_call_ratio,
    random_router_accuracy,
    random_router_comparison,
    summarize,
)


def test_aggregate_call_ratio_is_a_micro_average():
    assert aggregate_call_ratio([20, 0], [1000, 500]) == pytest.approx(20 / 1500)
    assert aggregate_call_ratio([], []) == 0.0
    assert aggregate_call_ratio([0], [0]) == 0.0
    with pytest.raises(ValueError):
        aggregate_call_ratio([1], [1, 2])


def test_summarize_per_benchmark_then_macro_average():
    items = [
        EvalItem("gsm8k", True, 20, 1000, num_calls=1),
        EvalItem("math500", False, 2, 300, num_calls=2),
        EvalItem("gsm8k", False, 0, 500),
    ]
    gsm8k, math500, average = summarize(items)
    assert gsm8k == BenchmarkSummary("gsm8k", 2, 0.5, pytest.approx(20 / 1500), 0.5)
    assert math500 == BenchmarkSummary("math500", 1, 0.0, pytest.approx(2 / 300), 2.0)
    # 1.333% and 0.667% average to 1.0%: the average row is a plain mean over benchmarks.
    assert average.name == "average" and average.n == 3
    assert 100 * average.call_ratio == pytest.approx(1.0)
    assert average.accuracy == pytest.approx(0.25)
    assert average.calls_per_item == pytest.approx(1.25)


def test_summarize_mean_correctness_and_empty():
    assert summarize([]) == []
    rows = summarize(iter([EvalItem("aime24", 0.25, 0, 10), EvalItem("aime24", 0.75, 0, 10)]))
    assert [r.name for r in rows] == ["aime24", "average"]
    assert rows[0].accuracy == rows[1].accuracy == pytest.approx(0.5)


def test_random_router_accuracy():
    assert random_router_accuracy(0.0, 40.0, 60.0) == 40.0
    assert random_router_accuracy(1.0, 40.0, 60.0) == 60.0
    assert random_router_accuracy(0.25, 0.4, 0.6) == pytest.approx(0.45)
    for p in (-0.01, 1.01, math.nan):
        with pytest.raises(ValueError):
            random_router_accuracy(p, 40.0, 60.0)


def test_router_comparison_paper_row():
    result = random_router_comparison(49.52, 0.0107, 42.50, 54.12)
    assert isinstance(result, RouterComparison)
    assert result.matched_llm_share == pytest.approx(0.6041, abs=5e-5)
    assert round(100 * result.cost_reduction, 1) == 98.2
    assert round(result.equal_cost_accuracy, 2) == 42.62
    assert round(result.accuracy_gain, 2) == 6.90
    assert (result.relay_accuracy, result.relay_call_ratio) == (49.52, 0.0107)
    # Fractions give the same shares.
    fractions = random_router_comparison(0.4952, 0.0107, 0.4250, 0.5412)
    assert fractions.matched_llm_share == pytest.approx(result.matched_llm_share)
    assert fractions.accuracy_gain == pytest.approx(result.accuracy_gain / 100)


def test_router_comparison_degenerate_cases():
    same = random_router_comparison(50.0, 0.01, 50.0, 50.0)
    assert same.matched_llm_share is None and same.cost_reduction is None
    assert same.equal_cost_accuracy == 50.0 and same.accuracy_gain == 0.0
    worse = random_router_comparison(40.0, 0.01, 42.5, 54.12)
    assert worse.matched_llm_share == pytest.approx(-2.5 / 11.62)
    assert worse.cost_reduction is None
    no_gain = random_router_comparison(42.5, 0.0, 42.5, 54.12)
    assert no_gain.matched_llm_share == 0.0 and no_gain.cost_reduction is None
    with pytest.raises(ValueError):
        random_router_comparison(49.52, 1.5, 42.5, 54.12)
