"""The paper's evaluation: 7 math and 3 general benchmarks, scored per spec §7, aggregated per spec §2.5.

Protocol (spec §7): the Solver prompt (``r_zero.prompts.solver_messages``), greedy decoding
(``evaluation.temperature`` 0.0), ``evaluation.max_new_tokens`` for math and ``general_max_new_tokens`` for
SuperGPQA, MMLU-Pro and BBEH, ``evaluation.num_samples`` = k of mean@k, optional ``evaluation.limit``.
Accuracy = (1/n) Σ 1{item correct}, in [0, 1], computed by :func:`rlcore.eval.evaluate`.

Scoring per benchmark kind:

- math (the 7 math sets and the bundled ``"arith"``): ``extract_boxed`` then ``answers_match``;
- multiple choice (rows with ``choices``: MMLU-Pro, SuperGPQA): options listed as "A. …", "B. …" after the
  question, then ``MC_INSTRUCTION``; prediction = ``extract_choice`` (first capital A–J inside the last box);
  no letter is wrong unless ``random_letter_fallback`` (the official code's seeded random letter);
- BBEH: the benchmark's standard fuzzy matcher, :func:`bbeh_match` on :func:`extract_bbeh_answer`.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from r_zero import data as rz_data
from r_zero.config import GENERAL_BENCHMARKS, MATH_BENCHMARKS, EvalConfig
from r_zero.prompts import MC_INSTRUCTION, solver_messages
from rlcore.answers import answers_match, extract_boxed, extract_choice
from rlcore.data import DataError
from rlcore.eval import evaluate
from rlcore.rollout import Generator, SamplingParams, make_generator
from rlcore.runs import atomic_write

__all__ = [
    "GENERAL_BENCHMARKS",
    "MATH_BENCHMARKS",
    "aggregate_scores",
    "bbeh_match",
    "choice_prediction",
    "evaluate_solver",
    "extract_bbeh_answer",
    "format_question",
    "known_benchmarks",
]

_LONG_BUDGET = frozenset(GENERAL_BENCHMARKS)
"""Benchmarks decoded with ``general_max_new_tokens`` (spec §7)."""

_ANSWER_IS = "the answer is"


def known_benchmarks() -> tuple[str, ...]:
    """Every name :func:`evaluate_solver` accepts (those of ``r_zero.data.load_benchmark``: rlcore's shared
    benchmarks and the bundled ``"arith"``), math first, then general, then the rest."""
    return tuple(dict.fromkeys([*MATH_BENCHMARKS, *GENERAL_BENCHMARKS, *rz_data.BENCHMARK_NAMES]))


# ----------------------------------------------------------------------------------------------- aggregation


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def aggregate_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """``math_avg``, ``general_avg`` and ``overall`` of per-benchmark scores (spec §2.5, §7).

    ``math_avg`` = mean of the MATH_BENCHMARKS present; ``general_avg`` (v4 "General Avg") = mean of the
    GENERAL_BENCHMARKS present; ``overall`` (v1 "Overall AVG") = mean of [math_avg] + each general score present.
    A key is omitted when its inputs are absent (``overall`` needs math_avg and at least one general score);
    other names are ignored. Units are kept: the v1 Qwen3-4B-Base row (math 42.58, SuperGPQA 20.88, MMLU-Pro
    37.38, BBEH 7.57) gives overall 27.1025.
    """
    math_scores = [float(scores[name]) for name in MATH_BENCHMARKS if name in scores]
    general_scores = [float(scores[name]) for name in GENERAL_BENCHMARKS if name in scores]
    out: dict[str, float] = {}
    if math_scores:
        out["math_avg"] = _mean(math_scores)
    if general_scores:
        out["general_avg"] = _mean(general_scores)
    if math_scores and general_scores:
        out["overall"] = _mean([out["math_avg"], *general_scores])
    return out


# ------------------------------------------------------------------------------------------------------ BBEH


def extract_bbeh_answer(text: str | None) -> str | None:
    """BBEH's prediction (spec §7): the content of the last ``\\boxed{}``; else the text after the last
    "The answer is" (case-insensitive; a leading ":" dropped; first line only); else None."""
    if not isinstance(text, str):
        return None
    boxed = extract_boxed(text)
    if boxed:
        return boxed
    at = text.lower().rfind(_ANSWER_IS)
    if at < 0:
        return None
    tail = text[at + len(_ANSWER_IS) :].lstrip().removeprefix(":").strip()
    tail = tail.split("\n", 1)[0].strip()
    return tail or None


def _strip_latex(answer: str) -> str:
    """The standard BBEH evaluator's unwrapping of ``$…$``, ``\\boxed{…}``, ``\\text{…}``, ``\\texttt{…}``."""
    if len(answer) >= 2 and answer.startswith("$") and answer.endswith("$"):
        answer = answer[1:-1]
    for wrapper in ("boxed{", "text{", "texttt{"):
        if wrapper in answer and answer.endswith("}"):
            answer = answer[:-1].split(wrapper, 1)[1]
    return answer


def _bbeh_prediction(prediction: str) -> str:
    answer = prediction.strip()
    answer = answer.removesuffix(".")
    answer = _strip_latex(answer).lower()
    answer = answer.replace(", ", ",").replace("**", "")
    answer = answer.split("\n", 1)[0].strip()
    return answer.removesuffix(".")


def _bbeh_reference(gold: str) -> str:
    return gold.strip().lower().replace(", ", ",")


def bbeh_match(prediction: str | None, gold: str | None) -> bool:
    """BBEH's standard fuzzy match of an extracted prediction (:func:`extract_bbeh_answer`) against the gold.

    Both sides lower-cased and stripped, ", " read as "," (the prediction also loses ``**``, a final ".",
    ``$…$``/``\\text{}`` wrappers and everything after its first line). Correct when they are equal; when one is
    "(x)" and the other "x"; when both parse as the same number; when equal with quotes removed; when one is the
    other in square brackets; or when the prediction is the gold plus a final "?". None on either side → False.
    """
    if not isinstance(prediction, str) or not isinstance(gold, str):
        return False
    pred, ref = _bbeh_prediction(prediction), _bbeh_reference(gold)
    if pred == ref:
        return True
    # "(a)" vs "a": decided here, as in the standard evaluator.
    if len(pred) == 3 and pred[0] == "(" and pred[-1] == ")":
        return pred[1] == ref
    if len(ref) == 3 and ref[0] == "(" and ref[-1] == ")":
        return ref[1] == pred
    try:
        if float(pred) == float(ref):
            return True
    except (ValueError, OverflowError):
        pass
    if pred.replace("'", "").replace('"', "") == ref.replace("'", "").replace('"', ""):
        return True
    if f"[{ref}]" == pred or f"[{pred}]" == ref:
        return True
    return pred.endswith("?") and pred[:-1] == ref


# ------------------------------------------------------------------------------------------ multiple choice


def _letters(num_choices: int) -> str:
    if num_choices > len(string.ascii_uppercase):
        raise DataError(f"a multiple-choice item has {num_choices} options; at most 26 can be lettered")
    return string.ascii_uppercase[:num_choices]


def format_question(problem: str, choices: Sequence[Any] | None = None) -> str:
    """The Solver's user turn (spec §4, §7): the problem alone, or for a multiple-choice item the problem,
    one "A. …", "B. …" line per option, and ``r_zero.prompts.MC_INSTRUCTION``."""
    if not choices:
        return problem
    options = "\n".join(
        f"{letter}. {choice}" for letter, choice in zip(_letters(len(choices)), choices, strict=True)
    )
    return f"{problem}\n\n{options}\n\n{MC_INSTRUCTION}"


def choice_prediction(
    text: str | None, num_choices: int, fallback_rng: random.Random | None = None
) -> str | None:
    """The letter a multiple-choice completion answers: ``rlcore.answers.extract_choice`` (first capital A–J
    inside the last box). Without one: None, or with ``fallback_rng`` a random letter among the
    ``num_choices`` options (the official code's fallback, ``evaluation.random_letter_fallback``)."""
    letter = extract_choice(text) if isinstance(text, str) else None
    if letter is None and fallback_rng is not None and num_choices > 0:
        letter = fallback_rng.choice(_letters(num_choices))
    return letter


# ------------------------------------------------------------------------------------------------ evaluation


def _kind(name: str, rows: Sequence[dict]) -> str:
    if name == "bbeh":
        return "bbeh"
    if any(row.get("choices") for row in rows):
        return "choice"
    return "math"


def _predict(kind: str, text: str, row: dict, sample: int, config: EvalConfig, name: str) -> str | None:
    if kind == "math":
        return extract_boxed(text)
    if kind == "bbeh":
        return extract_bbeh_answer(text)
    rng = (
        random.Random(f"{config.seed}:{name}:{row.get('id')}:{sample}")
        if config.random_letter_fallback
        else None
    )
    return choice_prediction(text, len(row.get("choices") or ()), rng)


def _correct(kind: str, prediction: str | None, gold: Any) -> bool:
    if prediction is None or gold is None:
        return False
    gold = str(gold)
    if kind == "math":
        return answers_match(prediction, gold)
    if kind == "bbeh":
        return bbeh_match(prediction, gold)
    return prediction == gold.strip().upper()


def _normalise_names(benchmarks: Sequence[str] | str | None, config: EvalConfig) -> list[str]:
    if benchmarks is None:
        benchmarks = config.benchmarks
    if isinstance(benchmarks, str):
        benchmarks = benchmarks.split(",")
    names = list(dict.fromkeys(b.strip() for b in benchmarks if b.strip()))
    valid = known_benchmarks()
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise DataError(f"unknown benchmark {', '.join(map(repr, unknown))}; known: {', '.join(valid)}")
    return names


def evaluate_solver(
    model: Generator | str,
    benchmarks: Sequence[str] | str | None,
    config: EvalConfig,
    out_path: str | Path | None = None,
) -> dict[str, float]:
    """Accuracy in [0, 1] of ``model`` on each benchmark, in the order given (spec §2.5, §7).

    ``model``: an ``rlcore.rollout.Generator`` or a spec for :func:`rlcore.rollout.make_generator` (a
    ``load_model`` spec such as ``tiny:qwen2``, or ``vllm:``/``openai:``). ``benchmarks``: names of spec §7 or
    ``"arith"`` (a comma-separated string is split; None = ``config.benchmarks``); an unknown name is a
    ``rlcore.data.DataError`` listing the valid ones, raised before any data or model is loaded. Rows come
    from ``r_zero.data.load_benchmark(name, limit=config.limit)``; all are loaded before the model.

    With ``out_path``, writes (atomically) one jsonl per benchmark beside it, ``<stem>_<name>.jsonl``
    (``{"index", "id", "problem", "choices", "gold", "completions", "predictions", "scores", "accuracy"}`` per
    item), then ``out_path`` itself: ``{"scores", "aggregate", "benchmarks": {name: {"accuracy", "n",
    "num_samples", "max_new_tokens", "kind", "items"}}, "config"}``.
    """
    names = _normalise_names(benchmarks, config)
    datasets = {name: rz_data.load_benchmark(name, limit=config.limit) for name in names}
    generator = make_generator(model) if isinstance(model, str) else model

    scores: dict[str, float] = {}
    summary: dict[str, dict[str, Any]] = {}
    out = Path(out_path) if out_path is not None else None
    for name, rows in datasets.items():
        kind = _kind(name, rows)
        budget = config.general_max_new_tokens if name in _LONG_BUDGET else config.max_new_tokens
        params = SamplingParams(max_new_tokens=budget, temperature=config.temperature, seed=config.seed)
        k = config.num_samples
        predictions: list[str | None] = []  # one per completion, in evaluate's order (record-major, k each)

        scorer = _make_scorer(kind, name, k, config, predictions)
        result = evaluate(
            generator,
            rows,
            scorer,
            prompt=_solver_prompt,
            n=k,
            params=params,
            k=(1,),
            extract=_extractor(kind),
            batch_size=config.batch_size,
        )
        items, accuracy = result.items, result.accuracy
        scores[name] = accuracy
        item_file = out.parent / f"{out.stem}_{name}.jsonl" if out is not None else None
        summary[name] = {
            "accuracy": accuracy,
            "n": len(rows),
            "num_samples": k,
            "max_new_tokens": budget,
            "kind": kind,
            "items": item_file.name if item_file is not None else None,
        }
        if item_file is not None:
            lines = [
                json.dumps(
                    {
                        "index": item["index"],
                        "id": rows[item["index"]].get("id"),
                        "problem": rows[item["index"]].get("problem"),
                        "choices": rows[item["index"]].get("choices"),
                        "gold": rows[item["index"]].get("answer"),
                        "completions": item["completions"],
                        "predictions": predictions[j * k : (j + 1) * k],
                        "scores": item["scores"],
                        "accuracy": sum(item["scores"]) / k,
                    },
                    ensure_ascii=False,
                    default=str,
                )
                + "\n"
                for j, item in enumerate(items)
            ]
            atomic_write(item_file, "".join(lines))

    if out is not None:
        report = {
            "scores": scores,
            "aggregate": aggregate_scores(scores),
            "benchmarks": summary,
            "config": asdict(config),
        }
        atomic_write(out, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return scores


def _solver_prompt(row: dict) -> list[dict]:
    """The Solver chat for one benchmark row (spec §4): system prompt + :func:`format_question` as user turn."""
    return solver_messages(format_question(row["problem"], row.get("choices")))


def _make_scorer(
    kind: str, name: str, k: int, config: EvalConfig, predictions: list[str | None]
) -> Callable[..., list[float]]:
    """A reward-signature scorer for :func:`rlcore.eval.evaluate` that appends each completion's prediction
    to ``predictions``. Completions arrive record-major, ``k`` per record, so position ``i`` is sample ``i % k``
    (the random-letter fallback is seeded by record id and sample, not by batch composition)."""

    def scorer(prompts: Sequence[Any], completions: Sequence[str], **columns: Any) -> list[float]:
        keys = list(columns)
        scores = []
        for i, text in enumerate(completions):
            row = {key: columns[key][i] for key in keys}
            pred = _predict(kind, text, row, i % k, config, name)
            predictions.append(pred)
            scores.append(1.0 if _correct(kind, pred, row.get("answer")) else 0.0)
        return scores

    return scorer


def _extractor(kind: str) -> Callable[[str], str | None]:
    """The per-item ``answers`` rlcore records (and votes over for maj@n); the fallback letter is not drawn."""
    if kind == "math":
        return extract_boxed
    if kind == "bbeh":
        return extract_bbeh_answer
    return extract_choice
