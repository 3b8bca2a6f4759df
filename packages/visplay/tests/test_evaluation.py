"""Aggregation with exact numbers (spec §7, §8), the rule scorer, and greedy evaluation through rlcore.eval."""

import pytest

from rlcore.rollout import Sample
from visplay.evaluation import aggregate_accuracy, evaluate, judge_prediction, rule_correct


def test_pooled_and_macro_exact_numbers():
    results = {"a": [True] * 50 + [False] * 50, "b": [True] * 60 + [False] * 240}
    out = aggregate_accuracy(results)
    assert out["pooled"] == pytest.approx(110 / 400, abs=1e-6) == pytest.approx(0.275, abs=1e-6)
    assert out["macro"] == pytest.approx(0.35, abs=1e-6)
    assert out["n"] == 400
    assert out["subsets"]["a"] == {"n": 100, "correct": 50.0, "accuracy": 0.5}
    assert out["subsets"]["b"]["accuracy"] == pytest.approx(0.2, abs=1e-6)


def test_empty_subsets_are_reported_and_excluded():
    out = aggregate_accuracy({"a": [1.0, 0.0], "empty": [], "b": [1.0]})
    assert out["subsets"]["empty"] == {"n": 0, "correct": 0.0, "accuracy": None}
    assert out["pooled"] == pytest.approx(2 / 3, abs=1e-6)
    assert out["macro"] == pytest.approx((0.5 + 1.0) / 2, abs=1e-6)
    with pytest.raises(ValueError, match="no items"):
        aggregate_accuracy({"a": [], "b": []})
    with pytest.raises(ValueError):
        aggregate_accuracy({})


def test_rule_scorer_uses_the_last_box_and_visplay_equivalence():
    assert rule_correct("first \\boxed{A} then \\boxed{(B)}", "B")
    assert not rule_correct("\\boxed{B} then \\boxed{C}", "B")
    assert rule_correct("so \\boxed{\\frac{1}{2}}", "0.5")
    assert not rule_correct("B", "B")  # no box
    assert not rule_correct(None, "B")
    assert judge_prediction("x \\boxed{7} y") == "7"
    assert judge_prediction("a" * 150) == "a" * 100


class ScriptedGenerator:
    """Answers each prompt with a fixed response keyed by its question; records the sampling params."""

    def __init__(self, replies):
        self.replies = replies
        self.params = []

    def generate(self, prompts, params=None, n=1):
        self.params.append(params)
        out = []
        for prompt in prompts:
            (block_image, block_text) = prompt[0]["content"]
            assert block_image["type"] == "image" and block_image["image"] is not None
            question = next(q for q in self.replies if q in block_text["text"])
            out.append([Sample(self.replies[question])] * n)
        return out


def test_evaluate_is_greedy_with_the_reasoning_prompt(tiny_images):
    records = [
        {"id": "a1", "image": tiny_images[0], "question": "Q1?", "answer": "3", "subset": "shapes"},
        {"id": "a2", "image": tiny_images[1], "question": "Q2?", "answer": "B", "subset": "bars"},
        {"id": "a3", "image": tiny_images[2], "question": "Q3?", "answer": "5", "subset": "shapes"},
    ]
    gen = ScriptedGenerator({"Q1?": "so \\boxed{3}", "Q2?": "\\boxed{(b)}", "Q3?": "I think 5"})
    out = evaluate(gen, records, max_new_tokens=7, batch_size=2)
    assert all(p.temperature == 0.0 and p.max_new_tokens == 7 for p in gen.params)
    assert [item["correct"] for item in out["items"]] == [True, True, False]
    assert [item["prediction"] for item in out["items"]] == ["3", "(b)", None]
    summary = out["summary"]
    assert summary["subsets"]["shapes"]["accuracy"] == pytest.approx(0.5)
    assert summary["pooled"] == pytest.approx(2 / 3)
    assert summary["macro"] == pytest.approx(0.75)


def test_openai_judge_path_with_a_scripted_judge(tiny_images):
    class Judge:
        def generate(self, prompts, params=None, n=1):
            assert params.temperature == pytest.approx(0.6)
            return [
                [Sample("correct" if "Predicted answer: 4" in p[0]["content"] else "incorrect")]
                for p in prompts
            ]

    records = [
        {"id": 1, "image": tiny_images[0], "question": "Q1?", "answer": "four", "subset": "s"},
        {"id": 2, "image": tiny_images[1], "question": "Q2?", "answer": "2", "subset": "s"},
    ]
    gen = ScriptedGenerator({"Q1?": "\\boxed{4}", "Q2?": "\\boxed{3}"})
    out = evaluate(gen, records, scorer="openai", judge=Judge())
    assert [item["correct"] for item in out["items"]] == [True, False]
    with pytest.raises(ValueError, match="judge"):
        evaluate(gen, records, scorer="openai")
    with pytest.raises(ValueError, match="scorer"):
        evaluate(gen, records, scorer="vibes")


@pytest.mark.slow
def test_evaluate_a_tiny_vlm_on_the_sample_split():
    from visplay.data import load_benchmark

    records = load_benchmark("sample", limit=4)
    out = evaluate("tiny:qwen2.5-vl", records, max_new_tokens=4, batch_size=4)
    assert len(out["items"]) == 4 and out["summary"]["n"] == 4
    assert set(out["summary"]["subsets"]) <= {"shapes", "bars", "geometry"}
