"""Evaluation (spec 2.6, 7): LSR, the summary, MMMU-Pro's combination, the judge's verdict, the per-item
protocol with scripted generators, and a 4-item run on the tiny VLM."""

from __future__ import annotations

import pytest
from PIL import Image

from rlcore.rollout import Sample
from vision_sr1.config import EvalConfig
from vision_sr1.evaluation import (
    PAPER_AVERAGE,
    combine_splits,
    eval_summary,
    evaluate,
    evaluate_generators,
    judge_verdict,
    language_shortcut_rate,
    paper_average,
)


def test_lsr_six_correct_two_perception_wrong_is_one_third():
    correct = [1, 1, 1, 1, 1, 1, 0, 0]
    perception = [True, True, True, True, False, False, True, False]
    assert language_shortcut_rate(correct, perception) == pytest.approx(1 / 3, abs=1e-12)


def test_lsr_skipped_second_pass_counts_as_wrong_and_nothing_correct_is_none():
    assert language_shortcut_rate([True, True], [None, True]) == 0.5
    assert language_shortcut_rate([False, 0], [True, True]) is None
    assert language_shortcut_rate([], []) is None
    with pytest.raises(ValueError):
        language_shortcut_rate([True], [True, False])


def test_eval_summary():
    summary = eval_summary([1, 1, 0, 0], [1, 0, 1, 1], [True, None, True, False])
    assert summary == {
        "n": 4,
        "accuracy": 0.5,
        "format_rate": 0.75,
        "perception_accuracy": 0.5,
        "language_shortcut_rate": 0.5,
    }
    empty = eval_summary([], [], [])
    assert empty["n"] == 0 and all(v is None for k, v in empty.items() if k != "n")
    with pytest.raises(ValueError):
        eval_summary([1], [1, 1], [True])


def test_combine_splits_mmmu_pro():
    assert combine_splits([(100, 0.30), (300, 0.50)]) == pytest.approx(0.45, abs=1e-12)
    for bad in ([], [(-1, 0.5), (3, 0.5)], [(0, 0.5), (0, 0.1)]):
        with pytest.raises(ValueError):
            combine_splits(bad)


@pytest.mark.parametrize(
    "text, strict, official",
    [
        ("<judgment>Correct</judgment>", True, True),
        ("<judgment>incorrect</judgment>", False, False),
        ("<JUDGMENT>incorrect</Judgment> then <judgment> correct </judgment>", True, True),
        ("<judgment></judgment>", False, True),
        ("", False, True),
        ("The answer is correct.", False, True),
        ("The answer is incorrect.", False, False),
        ("<judgment>unsure</judgment>", False, True),
    ],
)
def test_judge_verdict_rules(text, strict, official):
    assert judge_verdict(text) is strict
    assert judge_verdict(text, rule="official") is official


def test_judge_verdict_unknown_rule():
    with pytest.raises(ValueError):
        judge_verdict("x", rule="lenient")


class Scripted:
    """A Generator answering by a function of the prompt; records every prompt it saw."""

    def __init__(self, answer):
        self.answer = answer
        self.prompts: list = []

    def generate(self, prompts, params=None, n=1):
        self.prompts.extend(prompts)
        return [[Sample(self.answer(p))] for p in prompts]


def _content(prompt):
    content = prompt[-1]["content"]
    return (
        content
        if isinstance(content, str)
        else " ".join(b.get("text", "") for b in content if b["type"] == "text")
    )


RECORDS = [
    {
        "id": "a",
        "problem": "How many red circles?<image>",
        "answer": "2",
        "images": [Image.new("RGB", (56, 56))],
    },
    {"id": "b", "problem": "How many squares?", "answer": "3", "images": [Image.new("L", (600, 300))]},
    {"id": "c", "problem": "What is 1+1?", "answer": "2", "images": []},
]


def test_first_pass_images_are_rgb_within_the_pixel_bounds():
    policy = Scripted(lambda p: "\\boxed{2}")
    evaluate_generators(policy, RECORDS, cfg=EvalConfig(min_pixels=6272, max_pixels=20_000))
    sizes = [
        (b["image"].mode, b["image"].size)
        for prompt in policy.prompts
        for b in prompt[-1]["content"]
        if b["type"] == "image"
    ]
    (small_mode, small), (big_mode, big) = sizes
    assert small_mode == big_mode == "RGB"
    assert 6272 <= small[0] * small[1] <= 20_000 and small[0] == small[1]  # 56x56 upscaled, square kept
    assert 6272 <= big[0] * big[1] <= 20_000 and abs(big[0] / big[1] - 2) < 0.05  # 600x300 downscaled


def test_protocol_with_scripted_generators():
    answers = {
        "How many red circles?": "<description>two red circles</description><think>2</think> \\boxed{2}",
        "How many squares?": "<think>no description</think> \\boxed{4}",
        "What is 1+1?": "<description>sum</description> <think>t</think> \\boxed{2}.",
    }
    policy = Scripted(lambda p: next(v for k, v in answers.items() if k in _content(p)))
    reader = Scripted(lambda p: "\\boxed{2}" if "two red circles" in p[0]["content"] else "\\boxed{5}")
    items, summary = evaluate_generators(policy, RECORDS, cfg=EvalConfig(batch_size=2), perception=reader)
    assert [i["correct"] for i in items] == [True, False, True]
    assert [i["format"] for i in items] == [True, False, False]  # trailing period breaks the format
    assert [i["perception_correct"] for i in items] == [True, None, False]
    assert [i["description"] for i in items] == ["two red circles", None, "sum"]
    # the image placeholders were filled in order, text-only records got none
    first = policy.prompts[0][0]["content"]
    assert [b["type"] for b in first] == ["text", "image", "text"]
    assert isinstance(first[1]["image"], Image.Image)
    assert all(b["type"] == "text" for b in policy.prompts[2][0]["content"])
    assert summary == {
        "n": 3,
        "accuracy": pytest.approx(2 / 3),
        "format_rate": pytest.approx(1 / 3),
        "perception_accuracy": pytest.approx(1 / 3),
        "language_shortcut_rate": 0.5,
    }


def test_judge_only_for_wrong_free_form_items():
    policy = Scripted(lambda p: "<description>d</description><think>t</think>\\boxed{three}")
    judge = Scripted(lambda p: "<judgment>correct</judgment>")
    items, _ = evaluate_generators(policy, RECORDS[1:2], cfg=EvalConfig(), judge=judge)
    assert items[0]["correct"] is True and items[0]["judged"] is True
    assert "Reference answer: 3" in judge.prompts[0][0]["content"]
    assert "Candidate answer: three" in judge.prompts[0][0]["content"]
    judge.prompts.clear()
    items, _ = evaluate_generators(policy, RECORDS[1:2], cfg=EvalConfig(), judge=judge, multiple_choice=True)
    assert items[0]["correct"] is False and judge.prompts == []
    right = Scripted(lambda p: "\\boxed{3}")
    evaluate_generators(right, RECORDS[1:2], cfg=EvalConfig(), judge=judge)
    assert judge.prompts == []  # rule-correct items never go to the judge


def test_paper_average_combines_mmmu_pro_and_needs_all_eight():
    results = {name: {"n": 10, "accuracy": 0.5} for name in PAPER_AVERAGE if name != "MMMU-Pro"}
    results["MMMU-Pro-4"] = {"n": 100, "accuracy": 0.30}
    results["MMMU-Pro-10"] = {"n": 300, "accuracy": 0.50}
    table = paper_average(results)
    assert table["MMMU-Pro"] == pytest.approx(0.45)
    assert table["Average"] == pytest.approx((7 * 0.5 + 0.45) / 8)
    del results["MM-Vet"]
    assert paper_average(results)["Average"] is None


@pytest.mark.slow
def test_evaluate_four_items_on_the_tiny_vlm():
    from vision_sr1.data import bundled_records

    records = bundled_records("eval")[:4]
    items, summary = evaluate(
        "tiny:qwen2.5-vl",
        records,
        cfg=EvalConfig(max_new_tokens=8, limit=4, min_pixels=3136, max_pixels=12544),
    )
    assert len(items) == 4 and summary["n"] == 4
    assert set(summary) == {"n", "accuracy", "format_rate", "perception_accuracy", "language_shortcut_rate"}
    assert all(isinstance(i["completion"], str) for i in items)
    assert [i["id"] for i in items] == [r["id"] for r in records]
