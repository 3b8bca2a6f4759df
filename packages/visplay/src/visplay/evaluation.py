"""Evaluation of a Reasoner on the paper's benchmarks (spec §2.8, §7).

Each item is answered once with greedy decoding and the paper's reasoning prompt
(:func:`visplay.prompts.reasoner_messages`). An item is correct when the last ``\\boxed{}`` content is
:func:`visplay.voting.answers_equivalent` to the gold answer (``scorer="rule"``), or when an
OpenAI-compatible judge model says so (``scorer="openai"``; the paper used GLM-4-Flash at temperature 0.6).

Two aggregates are reported (:func:`aggregate_accuracy`): *pooled* = Σ correct / Σ n over all benchmarks,
which is what the reference evaluator prints as its overall number, and *macro* = the mean of the
per-benchmark accuracies. The paper's "Avg" column matches neither consistently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rlcore.answers import extract_boxed
from rlcore.data import load_image
from visplay.prompts import reasoner_messages
from visplay.voting import answers_equivalent

__all__ = ["JUDGE_PROMPT", "aggregate_accuracy", "evaluate", "judge_prediction", "rule_correct"]

SCORERS = ("rule", "openai")

JUDGE_PROMPT = (
    "You are grading an answer. Judge leniently whether the two answers below are substantively equivalent, "
    "ignoring differences of format, spacing, punctuation and case.\n"
    "Question: {question}\n"
    "Reference answer: {gold}\n"
    "Predicted answer: {prediction}\n"
    "Reply with exactly one word: correct or incorrect."
)
"""The optional judge's prompt (spec §4)."""

JUDGE_TEMPERATURE = 0.6
"""The paper's judge sampling temperature."""


def aggregate_accuracy(results: Mapping[str, Sequence[bool | float]]) -> dict:
    """Per-subset accuracy plus the pooled and macro averages.

    ``results`` maps a subset (benchmark) name to its items' correctness (bools, or scores in [0, 1]).
    Returns ``{"subsets": {name: {"n", "correct", "accuracy"}}, "pooled", "macro", "n"}`` with
    pooled = Σ correct / Σ n and macro = the mean of the subset accuracies. An empty subset reports
    ``accuracy: None`` and is left out of both; no items at all is a ``ValueError``.
    """
    subsets: dict[str, dict] = {}
    total_n, total_correct, accuracies = 0, 0.0, []
    for name, values in results.items():
        scores = [float(v) for v in values]
        n, correct = len(scores), math.fsum(scores)
        accuracy = correct / n if n else None
        subsets[name] = {"n": n, "correct": correct, "accuracy": accuracy}
        if n:
            total_n += n
            total_correct += correct
            accuracies.append(accuracy)
    if total_n == 0:
        raise ValueError("no items to aggregate: every subset is empty")
    return {
        "subsets": subsets,
        "pooled": total_correct / total_n,
        "macro": math.fsum(accuracies) / len(accuracies),
        "n": total_n,
    }


def rule_correct(response: str, gold: Any) -> bool:
    """``--judge rule``: the last ``\\boxed{}`` content of ``response`` is equivalent to ``gold``."""
    prediction = extract_boxed(response) if isinstance(response, str) else None
    return prediction is not None and answers_equivalent(prediction, "" if gold is None else str(gold))


def judge_prediction(response: str) -> str:
    """What the judge sees as the prediction: the last ``\\boxed{}`` content, else the first 100 characters."""
    response = response if isinstance(response, str) else ""
    boxed = extract_boxed(response)
    return boxed if boxed is not None else response[:100]


def _judge_verdicts(judge: Any, records: Sequence[dict], responses: Sequence[str], seed: int) -> list[bool]:
    """Ask the judge model about every (record, response) pair; ``correct`` (not ``incorrect``) is a hit."""
    from rlcore.rollout import SamplingParams

    prompts = [
        [
            {
                "role": "user",
                "content": JUDGE_PROMPT.format(
                    question=record["question"], gold=record["answer"], prediction=judge_prediction(response)
                ),
            }
        ]
        for record, response in zip(records, responses, strict=True)
    ]
    params = SamplingParams(max_new_tokens=8, temperature=JUDGE_TEMPERATURE, seed=seed)
    verdicts = judge.generate(prompts, params, n=1)
    return [samples[0].text.strip().lower().startswith("correct") for samples in verdicts]


def evaluate(
    model: Any,
    records: Sequence[dict],
    *,
    max_new_tokens: int = 4096,
    batch_size: int = 16,
    scorer: str = "rule",
    judge: Any = None,
    seed: int = 0,
) -> dict:
    """Greedy answers of ``model`` on ``records`` (``{"id", "image", "question", "answer", "subset"}``),
    scored per item and aggregated per subset.

    ``model`` is a :func:`rlcore.models.load_model` spec or an ``rlcore.rollout.Generator``; ``judge`` an
    OpenAI-compatible Generator (:class:`rlcore.rollout.OpenAIGenerator`), needed for ``scorer="openai"``.
    Returns ``{"items": [{"id", "subset", "question", "answer", "response", "prediction", "correct"}],
    "summary": aggregate_accuracy(...)}``.
    """
    from rlcore.eval import evaluate as run_eval
    from rlcore.rollout import SamplingParams

    if scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {SCORERS}, got {scorer!r}")
    if scorer == "openai" and judge is None:
        raise ValueError("scorer 'openai' needs a judge Generator")
    records = list(records)
    if not records:
        raise ValueError("no records to evaluate")

    def prompt(record: dict) -> list[dict]:
        return reasoner_messages(record["question"], load_image(record["image"]), style="reasoning")

    def rule_scorer(prompts, completions, answer=None, **kwargs) -> list[float]:
        return [float(rule_correct(text, gold)) for text, gold in zip(completions, answer, strict=True)]

    result = run_eval(
        model,
        records,
        rule_scorer,
        prompt=prompt,
        params=SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed),
        batch_size=batch_size,
    )
    responses = [item["completions"][0] for item in result.items]
    if scorer == "openai":
        correct = _judge_verdicts(judge, records, responses, seed)
    else:
        correct = [item["scores"][0] >= 1.0 for item in result.items]
    items, per_subset = [], {}
    for record, response, hit in zip(records, responses, correct, strict=True):
        subset = str(record.get("subset") or "all")
        per_subset.setdefault(subset, []).append(hit)
        items.append(
            {
                "id": record.get("id"),
                "subset": subset,
                "question": record["question"],
                "answer": record["answer"],
                "response": response,
                "prediction": extract_boxed(response),
                "correct": bool(hit),
            }
        )
    return {"items": items, "summary": aggregate_accuracy(per_subset)}
