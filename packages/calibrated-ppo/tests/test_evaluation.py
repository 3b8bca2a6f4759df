"""Evaluation (spec §2.5): every branch of the official parser, normalisation, filling, matching, and
``evaluate_model`` with a scripted generator (plus one slow run on a tiny real model)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import pytest

from calibrated_ppo.config import EvalConfig
from calibrated_ppo.evaluation import (
    cut_after_confidence,
    evaluate_model,
    fill_missing_confidences,
    has_confidence,
    is_correct,
    normalize_confidence,
    parse_eval_output,
)
from rlcore.rollout import Sample, SamplingParams

PNG = b"\x89PNG\r\n\x1a\n"

# ---------------------------------------------------------------------------------------------- parser


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Answer: (B)\nConfidence: 8", "B"),
        ("Answer:\nC\nConfidence: 8", "C"),
        ("Answer:   D) because\nConfidence: 8", "D"),
        ("Answer: (A) then Answer: (C)", "A"),  # the first Answer:
    ],
)
def test_mc_direct(text: str, answer: str) -> None:
    assert parse_eval_output(text, "mc")[0] == answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("I choose (A), no wait, (C).\nConfidence: 6", "C"),  # last (L)
        ("Maybe B) or rather D) here", "D"),  # last L) at a word start
        ("I think D is right", "D"),  # last standalone capital ("I" comes first)
        ("Answer: the option E\nConfidence: 5", "E"),  # Answer: without a letter right after
        ("no letters here", None),
        ("The answer is B.\nConfidence: 9 (C)", "B"),  # text after Confidence: is ignored
    ],
)
def test_mc_fallback(text: str, answer: str | None) -> None:
    assert parse_eval_output(text, "mc")[0] == answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Answer: 42\nConfidence: 9", "42"),
        ("Answer: $1,234.50\nConfidence: 9", "1234.50"),
        ("Answer:\n-12", "-12"),
        ("Answer: 1234", "1234"),
        ("Answer: 7.", "7."),
    ],
)
def test_numeric_direct(text: str, answer: str) -> None:
    assert parse_eval_output(text, "numeric")[0] == answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("I think 12, or maybe 15\nConfidence: 7", "15"),
        ("The total is $2,000. Confidence: 3", "2000"),
        ("Answer: about 40 apples\nConfidence: 8", "40"),
        ("no number\nConfidence: 7", None),
        ("It is -3.5 degrees", "-3.5"),
    ],
)
def test_numeric_fallback(text: str, answer: str | None) -> None:
    assert parse_eval_output(text, "numeric")[0] == answer


@pytest.mark.parametrize(
    ("text", "confidence"),
    [
        ("Answer: B\nConfidence: 8", 8.0),
        ("Answer: B\nConfidence:: 7", 7.0),
        ("Answer: B\nConfidence:\n 9.5.", 9.5),
        ("Confidence: 3 then Confidence: 9", 3.0),
        ("Answer: B\nConfidence: 85", 85.0),  # raw, normalised later
        ("Answer: 12\n\n10", 10.0),  # last number on the last line
        ("Answer: B\nI am 85", 8.5),  # valid and above 10: divided by 10
        ("Answer: B\n7.5", 7.5),
        ("Answer: B\n-3", -3.0),  # sign allowed; clamped by normalisation
        ("Answer: B\n7.25", None),  # fraction neither .0 nor .5
        ("Answer: B\n150", None),  # above 100
        ("Answer: B confidence: 8", None),  # case-sensitive, single line
        ("Answer: B\nconfidence: 8", 8.0),  # ... but the last-line rule still reads it
        ("Answer: B\nno number", None),
        ("", None),
    ],
)
def test_confidence_branches(text: str, confidence: float | None) -> None:
    assert parse_eval_output(text, "mc")[1] == confidence


def test_parser_bad_input() -> None:
    with pytest.raises(TypeError):
        parse_eval_output(None, "mc")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_eval_output("Answer: A", "open")


def test_has_and_cut_confidence() -> None:
    assert has_confidence("Answer: 3\nConfidence: 8")
    assert not has_confidence("Answer: 3\nConfidence: eight")
    assert (
        cut_after_confidence("Answer: 3\nConfidence: 8. I am sure. Confidence: 2")
        == "Answer: 3\nConfidence: 8"
    )
    assert cut_after_confidence("Answer: 3\nConfidence: 9.5!") == "Answer: 3\nConfidence: 9.5"
    assert cut_after_confidence("no confidence") == "no confidence"


# ------------------------------------------------------------------------------- confidences, matching


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(7, 0.7), (85, 0.85), (250, 1.0), (10, 1.0), (100, 1.0), (0, 0.0), (-3, 0.0), (9.5, 0.95), (None, None)],
)
def test_normalize_confidence(raw: float | None, expected: float | None) -> None:
    result = normalize_confidence(raw)
    assert result == (None if expected is None else pytest.approx(expected))


def test_fill_missing_confidences() -> None:
    assert fill_missing_confidences([None, 8, 8, 6]) == pytest.approx([0.8, 0.8, 0.8, 0.6])
    assert fill_missing_confidences([None, 6, 8]) == pytest.approx([0.6, 0.6, 0.8])  # tie: first seen
    assert fill_missing_confidences([8, 6, 6, 8, None]) == pytest.approx([0.8, 0.6, 0.6, 0.8, 0.8])
    assert fill_missing_confidences([None, None]) == pytest.approx([0.5, 0.5])
    assert fill_missing_confidences([None, 85]) == pytest.approx([0.85, 0.85])
    assert fill_missing_confidences([]) == []


def test_is_correct_numeric_mode() -> None:
    assert is_correct("3.0", "3", "numeric")
    assert is_correct("$1,000", "1000", "numeric")
    assert is_correct(" 42 ", "42", "numeric")
    assert not is_correct("12.5", "125", "numeric")
    assert is_correct("abc", "ABC", "numeric")  # not numbers: exact fallback
    assert not is_correct(None, "3", "numeric")
    assert is_correct(" b ", "B", "mc")
    assert not is_correct("C", "B", "mc")


def test_is_correct_exact_mode() -> None:
    assert not is_correct("3.0", "3", "numeric", match="exact")
    assert is_correct("12.5", "125", "numeric", match="exact")
    assert is_correct("(B)", "b", "mc", match="exact")
    assert not is_correct(None, "B", "mc", match="exact")


def test_is_correct_bad_arguments() -> None:
    with pytest.raises(ValueError):
        is_correct("1", "1", "open")
    with pytest.raises(ValueError):
        is_correct("1", "1", "numeric", match="fuzzy")


# ------------------------------------------------------------------------------------ evaluate_model


class ScriptedGenerator:
    """Answers each prompt from a script keyed on the question text (or the continuation prompt)."""

    def __init__(
        self, reply: Callable[[object, SamplingParams], str], tokenizer: object | None = None
    ) -> None:
        self.reply = reply
        self.calls: list[tuple[int, SamplingParams]] = []
        if tokenizer is not None:
            self.tokenizer = tokenizer

    def generate(
        self, prompts: Sequence[str | list[dict]], params: SamplingParams | None = None, n: int = 1
    ) -> list[list[Sample]]:
        assert params is not None and n == 1
        self.calls.append((len(prompts), params))
        return [[Sample(self.reply(p, params))] for p in prompts]


class FakeTokenizer:
    chat_template = "fake"

    def apply_chat_template(self, messages: list[dict], tokenize: bool, add_generation_prompt: bool) -> str:
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


ITEMS = [
    {
        "id": "q0",
        "question": "What is 2 + 2?",
        "options": None,
        "answer": "4",
        "kind": "numeric",
        "dataset": "t",
    },
    {
        "id": "q1",
        "question": "What is 3 + 4?",
        "options": None,
        "answer": "7",
        "kind": "numeric",
        "dataset": "t",
    },
    {
        "id": "q2",
        "question": "What is 9 - 4?",
        "options": None,
        "answer": "5",
        "kind": "numeric",
        "dataset": "t",
    },
]


def _question(prompt: object) -> str:
    if isinstance(prompt, str):
        return prompt
    return prompt[-1]["content"]  # type: ignore[index]


def _reply(prompt: object, params: SamplingParams) -> str:
    text = _question(prompt)
    if isinstance(prompt, str):  # the continuation fallback
        assert text.endswith("Answer: 6 Confidence: ")
        assert params.max_new_tokens == 16
        return "3 and more text"
    if "2 + 2" in text:
        return "Answer: 4\nConfidence: 9. And then Confidence: 1"
    if "3 + 4" in text:
        return "Answer: 7\nConfidence: 6" if params.seed == 1235 else "Answer: 7"
    return "Answer: 6"


def test_evaluate_model_retries_fallback_and_files(tmp_path) -> None:
    generator = ScriptedGenerator(_reply, FakeTokenizer())
    config = EvalConfig(max_retries=2, batch_size=2, temperature=0.7, top_k=5, top_p=0.9, seed=1234)
    result = evaluate_model(generator, ITEMS, config, tmp_path, name="arith")

    # first pass in batches of 2, two retries, then the continuation
    assert [(size, p.seed) for size, p in generator.calls] == [
        (2, 1234),
        (1, 1234),
        (2, 1235),
        (1, 1236),
        (1, 1237),
    ]
    first = generator.calls[0][1]
    assert (first.max_new_tokens, first.temperature, first.top_k, first.top_p) == (16, 0.7, 5, 0.9)

    records = [json.loads(line) for line in (tmp_path / "eval" / "arith.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["q0", "q1", "q2"]
    assert records[0]["output"] == "Answer: 4\nConfidence: 9"  # cut after the first confidence number
    assert records[1]["output"] == "Answer: 7\nConfidence: 6"
    assert records[2]["output"] == "Answer: 6 Confidence: 3"
    assert [r["attempts"] for r in records] == [1, 2, 4]
    assert [r["answer"] for r in records] == ["4", "7", "6"]
    assert [r["gold"] for r in records] == ["4", "7", "5"]
    assert [r["raw_conf"] for r in records] == [9.0, 6.0, 3.0]
    assert [r["conf"] for r in records] == pytest.approx([0.9, 0.6, 0.3])
    assert [r["correct"] for r in records] == [True, True, False]
    assert set(records[0]) == {"id", "output", "answer", "gold", "raw_conf", "conf", "correct", "attempts"}

    assert result["n"] == 3
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["auroc"] == pytest.approx(1.0)
    assert result["n_missing_confidence"] == 0
    assert result["confidence_rate"] == pytest.approx(1.0)
    assert {"ece", "brier", "mean_confidence"} <= set(result)

    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["arith"]["accuracy"] == pytest.approx(2 / 3)
    assert (tmp_path / "eval" / "reliability_arith.png").read_bytes()[:8] == PNG


def test_evaluate_model_without_tokenizer_counts_missing(tmp_path) -> None:
    generator = ScriptedGenerator(_reply)  # no tokenizer: the continuation fallback is skipped
    config = EvalConfig(max_retries=0)
    result = evaluate_model(generator, ITEMS, config, tmp_path, name="a")
    assert [size for size, _ in generator.calls] == [1, 1, 1]  # batch_size 1, no retries
    assert result["n_missing_confidence"] == 2
    assert result["confidence_rate"] == pytest.approx(1 / 3)
    records = [json.loads(line) for line in (tmp_path / "eval" / "a.jsonl").read_text().splitlines()]
    assert [r["raw_conf"] for r in records] == [9.0, None, None]
    assert [r["conf"] for r in records] == pytest.approx([0.9, 0.9, 0.9])  # filled with the mode
    # every answer wrong or right decides AUROC; here two classes remain
    assert not math.isnan(result["auroc"])


def test_evaluate_model_metrics_merge_and_nan_auroc(tmp_path) -> None:
    generator = ScriptedGenerator(lambda p, s: "Answer: (A)\nConfidence: 8")
    mc = [
        {"id": "m0", "question": "Pick", "options": ["x", "y"], "answer": "A", "kind": "mc", "dataset": "c"}
    ]
    first = evaluate_model(generator, mc, EvalConfig(), tmp_path, name="choice")
    assert math.isnan(first["auroc"])
    evaluate_model(generator, mc, EvalConfig(binning="netcal", match="exact"), tmp_path, name="choice2")
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"choice", "choice2"}
    assert metrics["choice"]["auroc"] is None
    assert metrics["choice2"]["accuracy"] == 1.0


def test_evaluate_model_uses_eval_messages(tmp_path) -> None:
    seen: list[object] = []

    def reply(prompt: object, params: SamplingParams) -> str:
        seen.append(prompt)
        return "Answer: B\nConfidence: 7"

    mc = [
        {"id": "m0", "question": "Pick", "options": ["x", "y"], "answer": "B", "kind": "mc", "dataset": "c"}
    ]
    evaluate_model(ScriptedGenerator(reply), mc, EvalConfig(system_role=False), tmp_path, name="c")
    (prompt,) = seen
    assert isinstance(prompt, list) and len(prompt) == 1 and prompt[0]["role"] == "user"
    assert "(A) x" in prompt[0]["content"] and "Answer:" in prompt[0]["content"]


def test_evaluate_model_bad_input(tmp_path) -> None:
    generator = ScriptedGenerator(_reply)
    with pytest.raises(ValueError):
        evaluate_model(generator, ITEMS, EvalConfig(), tmp_path, name="../escape")
    with pytest.raises(ValueError):
        evaluate_model(generator, [], EvalConfig(), tmp_path, name="x")
    with pytest.raises(ValueError):
        evaluate_model(
            generator, [{"question": "q", "answer": "1", "kind": "open"}], EvalConfig(), tmp_path, name="x"
        )
    assert not (tmp_path / "eval").exists()


@pytest.mark.slow
def test_evaluate_model_tiny_model(tmp_path) -> None:
    config = EvalConfig(max_retries=1, max_new_tokens=8, batch_size=2)
    result = evaluate_model("tiny:qwen2", ITEMS, config, tmp_path, name="tiny")
    records = (tmp_path / "eval" / "tiny.jsonl").read_text().splitlines()
    assert len(records) == 3
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["tiny"]["n"] == 3
    assert (tmp_path / "eval" / "reliability_tiny.png").read_bytes()[:8] == PNG
    assert 0.0 <= result["confidence_rate"] <= 1.0
    # a random tiny model rarely states a confidence: then the continuation fallback ran (attempts 3)
    for record in map(json.loads, records):
        assert 1 <= record["attempts"] <= 3
        if record["attempts"] == 3:
            assert " Confidence: " in record["output"]
