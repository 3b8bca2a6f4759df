"""Evaluation with the language-shortcut rate (spec sections 2.6 and 7).

Per item: a greedy first pass with the evaluated model (see-think or CoT instruction) gives ``correct`` (the
boxed answer against the gold, an optional LLM judge for free-form answers the rule marks wrong) and ``format``;
then the item's own description (strict extraction) is given, without the image, to ``perception_model``
(default: the same model) for a greedy second pass, whose boxed answer gives ``perception_correct`` (None when
there was no description).

The **language shortcut rate** is the share of correctly answered items whose own perception alone does not
yield the answer: ``LSR = #(correct ∧ ¬perception_correct) / #correct``. The paper names LSR without a formula;
this operational definition is ours (spec section 7).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vision_sr1.config import JUDGE_RULES, EvalConfig

__all__ = [
    "JUDGE_PROMPT",
    "PAPER_AVERAGE",
    "PAPER_SUITE",
    "SuiteEntry",
    "combine_splits",
    "eval_summary",
    "evaluate",
    "evaluate_generators",
    "judge_generator",
    "judge_messages",
    "judge_verdict",
    "language_shortcut_rate",
    "paper_average",
]

JUDGE_PROMPT = (
    "You are grading an answer to a question against a reference answer.\n"
    "Question: {question}\n"
    "Reference answer: {reference}\n"
    "Candidate answer: {candidate}\n"
    "Does the candidate answer mean the same as the reference answer? Reply with exactly one word, correct or "
    "incorrect, inside <judgment></judgment>."
)
"""The judge's instruction (a paraphrase of the official LLM-judge prompt); the reply is read by
:func:`judge_verdict`."""

_JUDGMENT = re.compile(r"<judgment>(.*?)</judgment>", re.DOTALL | re.IGNORECASE)


# -- pure metrics ----------------------------------------------------------------------------------------


def language_shortcut_rate(correct: Sequence[Any], perception_correct: Sequence[bool | None]) -> float | None:
    """``#{i: correct_i ∧ ¬perception_correct_i} / #{i: correct_i}``; None when nothing is correct.

    ``correct[i]`` truthy = the first-pass answer is right; ``perception_correct[i]`` True/False, or None when
    the second pass was skipped (counts as not correct). Length mismatch: ValueError.
    """
    if len(correct) != len(perception_correct):
        raise ValueError(f"{len(correct)} correctness flags but {len(perception_correct)} perception flags")
    right = [bool(p is True) for c, p in zip(correct, perception_correct, strict=True) if c]
    if not right:
        return None
    return sum(not p for p in right) / len(right)


def eval_summary(
    correct: Sequence[Any], format_ok: Sequence[Any], perception_correct: Sequence[bool | None]
) -> dict:
    """``n``, ``accuracy``, ``format_rate``, ``perception_accuracy`` (None counts as wrong) and
    ``language_shortcut_rate``; every metric but ``n`` is None when ``n == 0``. Length mismatch: ValueError."""
    n = len(correct)
    if len(format_ok) != n or len(perception_correct) != n:
        raise ValueError(
            f"length mismatch: {n} correct, {len(format_ok)} format, {len(perception_correct)} perception flags"
        )
    if n == 0:
        return {
            "n": 0,
            "accuracy": None,
            "format_rate": None,
            "perception_accuracy": None,
            "language_shortcut_rate": None,
        }
    return {
        "n": n,
        "accuracy": sum(bool(c) for c in correct) / n,
        "format_rate": sum(bool(f) for f in format_ok) / n,
        "perception_accuracy": sum(p is True for p in perception_correct) / n,
        "language_shortcut_rate": language_shortcut_rate(correct, perception_correct),
    }


def combine_splits(splits: Sequence[tuple[int, float]]) -> float:
    """``Σ n_i·a_i / Σ n_i``: one accuracy over several evaluated splits (MMMU-Pro's 4-option, 10-option and
    vision splits). ValueError for an empty list, a negative count or a zero total."""
    if not splits:
        raise ValueError("combine_splits needs at least one (count, accuracy) pair")
    for n, _ in splits:
        if n < 0:
            raise ValueError(f"a split has a negative item count: {n}")
    total = sum(n for n, _ in splits)
    if total == 0:
        raise ValueError("the splits hold no items")
    return math.fsum(n * a for n, a in splits) / total


def judge_verdict(text: str, *, rule: str = "strict") -> bool:
    """Whether a judge's reply accepts the candidate answer.

    ``strict``: the lower-cased body of the last ``<judgment>…</judgment>`` (tags in any case) contains
    "correct" and not "incorrect"; a missing or empty judgment is False. ``official``: True iff "incorrect"
    does not occur in that body (the whole text without a tag), so an empty reply counts as correct.
    """
    if rule not in JUDGE_RULES:
        raise ValueError(f"unknown judge rule {rule!r}; expected one of {', '.join(JUDGE_RULES)}")
    text = text if isinstance(text, str) else ""
    bodies = _JUDGMENT.findall(text)
    if rule == "official":
        body = bodies[-1] if bodies else text
        return "incorrect" not in body.lower()
    if not bodies:
        return False
    body = bodies[-1].strip().lower()
    return bool(body) and "correct" in body and "incorrect" not in body


def judge_messages(question: str, reference: str, candidate: str) -> list[dict]:
    """The judge's chat for one item (:data:`JUDGE_PROMPT`)."""
    text = JUDGE_PROMPT.format(question=question, reference=reference, candidate=candidate)
    return [{"role": "user", "content": text}]


# -- the per-item protocol ------------------------------------------------------------------------------------


def _filled_first_pass(record: dict, cfg: EvalConfig) -> list[dict]:
    """The first-pass chat of ``record`` with its images loaded, as RGB, within the pixel bounds (spec §5)."""
    from rlcore.data import load_image
    from vision_sr1.prompts import fill_images, first_pass_messages
    from vision_sr1.training import fit_pixels

    images = [fit_pixels(load_image(i), cfg.min_pixels, cfg.max_pixels) for i in record.get("images") or []]
    return fill_images(first_pass_messages(record["problem"], len(images), style=cfg.prompt_style), images)


def evaluate_generators(
    generator: Any,
    records: Sequence[dict],
    *,
    cfg: EvalConfig,
    perception: Any = None,
    judge: Any = None,
    multiple_choice: bool | None = None,
    progress: Any = None,
) -> tuple[list[dict], dict]:
    """Section 7's protocol with ready ``rlcore.rollout`` Generators: ``generator`` (the evaluated model),
    ``perception`` (the second-pass reader; default ``generator``) and ``judge`` (or None). Returns the items and
    :func:`eval_summary`. ``multiple_choice`` (default ``cfg.multiple_choice``) disables the judge."""
    from rlcore.rollout import SamplingParams
    from vision_sr1.prompts import reprompt_messages
    from vision_sr1.rewards import answer_score, format_score, normalize_tags
    from vision_sr1.selfreward import description_for_reprompt

    perception = perception or generator
    mc = cfg.multiple_choice if multiple_choice is None else multiple_choice
    params = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature)
    items: list[dict] = []
    for start in range(0, len(records), cfg.batch_size):
        batch = list(records[start : start + cfg.batch_size])
        first = generator.generate([_filled_first_pass(r, cfg) for r in batch], params, n=1)
        rows = []
        for offset, (record, samples) in enumerate(zip(batch, first, strict=True)):
            text = samples[0].text
            gold = record.get("answer")
            rows.append(
                {
                    "index": start + offset,
                    "id": record.get("id"),
                    "problem": record["problem"],
                    "answer": gold,
                    "completion": text,
                    "correct": answer_score(normalize_tags(text), gold) == 1.0,
                    "judged": False,
                    "format": format_score(text, cfg.prompt_style) == 1.0,
                    "description": description_for_reprompt(text, missing_description="strict"),
                    "second_pass": None,
                    "perception_correct": None,
                }
            )
        if judge is not None and not mc:
            wrong = [r for r in rows if not r["correct"] and r["answer"] not in (None, "")]
            if wrong:
                from rlcore.answers import extract_boxed

                chats = [
                    judge_messages(
                        r["problem"], str(r["answer"]), extract_boxed(r["completion"]) or r["completion"]
                    )
                    for r in wrong
                ]
                replies = judge.generate(chats, SamplingParams(max_new_tokens=64, temperature=0.0), n=1)
                for row, reply in zip(wrong, replies, strict=True):
                    row["judged"] = True
                    row["correct"] = judge_verdict(reply[0].text, rule=cfg.judge_rule)
        described = [r for r in rows if r["description"] is not None]
        if described:
            second = perception.generate(
                [reprompt_messages(r["description"], r["problem"]) for r in described], params, n=1
            )
            for row, samples in zip(described, second, strict=True):
                row["second_pass"] = samples[0].text
                row["perception_correct"] = answer_score(samples[0].text, row["answer"]) == 1.0
        items.extend(rows)
        if progress is not None:
            progress(len(batch))
    summary = eval_summary(
        [r["correct"] for r in items], [r["format"] for r in items], [r["perception_correct"] for r in items]
    )
    return items, summary


def judge_generator(spec: str) -> Any:
    """An ``rlcore.rollout.OpenAIGenerator`` for a judge given as ``URL#MODEL``."""
    from rlcore.rollout import OpenAIGenerator

    url, _, model = spec.rpartition("#")
    if not url or not model:
        raise ValueError(f"a judge is URL#MODEL, got {spec!r}")
    return OpenAIGenerator(url, model)


def evaluate(model: str, records: Sequence[dict], *, cfg: EvalConfig) -> tuple[list[dict], dict]:
    """Evaluate the model spec ``model`` (any ``rlcore.rollout.make_generator`` spec) on ``records``
    (``problem``/``answer``/``images``) with section 7's per-item protocol; returns items and summary."""
    from rich.progress import Progress

    from rlcore.rollout import make_generator

    generator = make_generator(model)
    perception = make_generator(cfg.perception_model) if cfg.perception_model else generator
    judge = judge_generator(cfg.judge) if cfg.judge else None
    records = list(records)[: cfg.limit] if cfg.limit else list(records)
    with Progress(transient=True) as bar:
        task = bar.add_task("evaluating", total=len(records))
        return evaluate_generators(
            generator,
            records,
            cfg=cfg,
            perception=perception,
            judge=judge,
            progress=lambda k: bar.advance(task, k),
        )


# -- the paper's benchmark suite --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteEntry:
    """One benchmark of the paper's table: hub source and split, an optional ``file_name`` filter (the
    sub-benchmarks packed into ``zli12321/MLLM_test``), rule-only grading, and whether it is text-only."""

    name: str
    source: str
    split: str = "test"
    file_name: str | None = None
    multiple_choice: bool = False
    text_only: bool = False


PAPER_SUITE: tuple[SuiteEntry, ...] = (
    SuiteEntry("MMMU", "zli12321/MMMU", multiple_choice=True),
    SuiteEntry("MMMU-Pro-4", "zli12321/MLLM_test", file_name="mmmu-pro", multiple_choice=True),
    SuiteEntry("MMMU-Pro-10", "zli12321/mmmu_pro_10options", multiple_choice=True),
    SuiteEntry("MMMU-Pro-vision", "zli12321/mmmu-pro-vision", multiple_choice=True),
    SuiteEntry("MM-Vet", "zli12321/mm-vet"),
    SuiteEntry("RealWorldQA", "zli12321/MLLM_test", file_name="realWorldQA"),
    SuiteEntry("VisNumBench", "zli12321/visnumbench", multiple_choice=True),
    SuiteEntry("MathVerse", "zli12321/MLLM_test", file_name="mathverse"),
    SuiteEntry("MATH-Vision", "zli12321/MLLM_test", file_name="mathvision"),
    SuiteEntry("HallusionBench", "zli12321/hallusionbench", multiple_choice=True),
    SuiteEntry("MathVista", "zli12321/MLLM_test", file_name="mathvista"),
    SuiteEntry("CLEVR-count", "zli12321/MLLM_test", file_name="clevr_count_70k"),
    SuiteEntry("MMLU-Pro", "zli12321/mmlu_pro", multiple_choice=True, text_only=True),
    SuiteEntry("SuperGPQA", "zli12321/SuperGPQA", multiple_choice=True, text_only=True),
    SuiteEntry("MATH-500", "HuggingFaceH4/MATH-500", text_only=True),
    SuiteEntry("GSM8K", "zli12321/gsm8k", text_only=True),
)
"""Every benchmark of the paper's evaluation (spec section 7)."""

PAPER_AVERAGE = (
    "MMMU",
    "MMMU-Pro",
    "MM-Vet",
    "RealWorldQA",
    "VisNumBench",
    "MathVerse",
    "MATH-Vision",
    "HallusionBench",
)
"""The 8 benchmarks of the paper's "Average" (MMMU-Pro = :func:`combine_splits` of its three splits)."""


def paper_average(results: dict[str, dict]) -> dict[str, Any]:
    """The combined table of a suite run: MMMU-Pro from its evaluated splits (:func:`combine_splits`), and the
    unweighted mean accuracy over :data:`PAPER_AVERAGE` (None unless all 8 are present)."""
    table = {name: summary.get("accuracy") for name, summary in results.items()}
    pro = [
        (results[name]["n"], results[name]["accuracy"])
        for name in ("MMMU-Pro-4", "MMMU-Pro-10", "MMMU-Pro-vision")
        if name in results and results[name].get("n") and results[name].get("accuracy") is not None
    ]
    if pro:
        table["MMMU-Pro"] = combine_splits(pro)
    values = [table.get(name) for name in PAPER_AVERAGE]
    table["Average"] = None if any(v is None for v in values) else math.fsum(values) / len(values)
    return table
