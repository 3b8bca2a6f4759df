"""mean@k, pass@k, the parallel ratio and the evaluation summary (spec §2.6, §8, §10)."""

from __future__ import annotations

import pytest

from parallel_r1.metrics import mean_at_k, parallel_ratio, pass_at_k, summarize_eval


def test_spec_example():
    correct = [[1, 0, 0, 1], [0, 0, 0, 0]]
    assert mean_at_k(correct) == pytest.approx(0.25)
    assert pass_at_k(correct) == pytest.approx(0.5)
    assert pass_at_k(correct, k=4) == pytest.approx(0.5)


def test_pass_at_k_unbiased_and_uneven_samples():
    # 4 samples, 2 correct, k=1 -> 0.5; k=2 -> 1 - C(2,2)/C(4,2) = 5/6
    assert pass_at_k([[1, 0, 0, 1]], k=1) == pytest.approx(0.5)
    assert pass_at_k([[1, 0, 0, 1]], k=2) == pytest.approx(5 / 6)
    # different sample counts: per-problem k = n_p
    assert pass_at_k([[True], [False, False, True]]) == pytest.approx(1.0)
    assert mean_at_k([[True], [False, False, True]]) == pytest.approx((1 + 1 / 3) / 2)


def test_parallel_ratio():
    texts = ["<Parallel><Path>a</Path></Parallel>"] * 3 + ["plain"] * 4 + [None]
    assert parallel_ratio(texts) == pytest.approx(0.375)


@pytest.mark.parametrize("bad", [[], [[]], [[1], []]])
def test_empty_inputs_raise(bad):
    with pytest.raises(ValueError):
        mean_at_k(bad)
    with pytest.raises(ValueError):
        pass_at_k(bad)


def test_k_outside_range_raises():
    with pytest.raises(ValueError, match="k"):
        pass_at_k([[1, 0]], k=3)
    with pytest.raises(ValueError, match="k"):
        pass_at_k([[1, 0]], k=0)
    with pytest.raises(ValueError):
        parallel_ratio([])


def _rows():
    rows = []
    for i, c in enumerate([1, 0, 0, 1]):
        rows.append(
            {
                "benchmark": "aime",
                "problem_id": "a0",
                "correct": bool(c),
                "response": "<Parallel>" if i == 0 else "x",
            }
        )
    for c in [0, 0, 0, 0]:
        rows.append({"benchmark": "aime", "problem_id": "a1", "correct": c, "response": "x"})
    rows.append({"benchmark": "math", "problem_id": "m0", "correct": True, "response": "<Parallel>"})
    rows.append({"benchmark": "math", "problem_id": "m1", "correct": False, "response": "x"})
    return rows


def test_summarize_eval_structure():
    summary = summarize_eval(_rows())
    assert list(summary) == ["aime", "math", "overall"]
    assert summary["aime"] == {
        "n_problems": 2,
        "k": 4,
        "mean_at_k": pytest.approx(0.25),
        "pass_at_k": pytest.approx(0.5),
        "parallel_ratio": pytest.approx(1 / 8),
    }
    assert summary["math"] == {
        "n_problems": 2,
        "k": 1,
        "mean_at_k": pytest.approx(0.5),
        "pass_at_k": pytest.approx(0.5),
        "parallel_ratio": pytest.approx(0.5),
    }
    assert summary["overall"] == {
        "mean_avg": pytest.approx((0.25 + 0.5) / 2),
        "parallel_ratio": pytest.approx((1 / 8 + 0.5) / 2),
    }
    for block in summary.values():
        for key in ("mean_at_k", "pass_at_k", "parallel_ratio", "mean_avg"):
            if key in block:
                assert 0.0 <= block[key] <= 1.0


def test_summarize_eval_errors():
    with pytest.raises(ValueError):
        summarize_eval([])
    with pytest.raises(ValueError, match="overall"):
        summarize_eval([{"benchmark": "overall", "problem_id": 0, "correct": 1, "response": ""}])
    with pytest.raises(ValueError, match="response"):
        summarize_eval([{"benchmark": "b", "problem_id": 0, "correct": 1}])
