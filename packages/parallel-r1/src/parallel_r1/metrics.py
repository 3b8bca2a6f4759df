"""Evaluation metrics of the paper (spec §2.6, §7): mean@k, pass@k and the parallel ratio."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from parallel_r1.prompts import PARALLEL_OPEN
from rlcore.eval import pass_at_k as _pass_at_k

__all__ = ["mean_at_k", "parallel_ratio", "pass_at_k", "summarize_eval"]


def _bits(correct: Iterable[Iterable[Any]]) -> list[list[int]]:
    if correct is None or isinstance(correct, str | bytes):
        raise ValueError("correct must be a list of per-problem lists of 0/1 outcomes")
    problems = [[1 if c else 0 for c in samples] for samples in correct]
    if not problems:
        raise ValueError("correct is empty: no problems to score")
    for index, samples in enumerate(problems):
        if not samples:
            raise ValueError(f"correct: problem {index} has no samples")
    return problems


def mean_at_k(correct: Sequence[Sequence[Any]]) -> float:
    """(1/P) Σ_p (1/n_p) Σ_i c_{p,i}: the mean over problems of each problem's share of correct samples."""
    problems = _bits(correct)
    return sum(sum(s) / len(s) for s in problems) / len(problems)


def pass_at_k(correct: Sequence[Sequence[Any]], k: int | None = None) -> float:
    """The mean over problems of the unbiased ``rlcore.eval.pass_at_k(n_p, c_p, k)``; ``k=None`` uses
    k = n_p per problem (at least one correct sample). k outside 1..n_p is a ``ValueError``."""
    problems = _bits(correct)
    total = 0.0
    for index, samples in enumerate(problems):
        kk = len(samples) if k is None else k
        if not 1 <= kk <= len(samples):
            raise ValueError(f"k must lie in 1..{len(samples)} (samples of problem {index}), got {k}")
        total += _pass_at_k(len(samples), sum(samples), kk)
    return total / len(problems)


def parallel_ratio(texts: Sequence[Any]) -> float:
    """The share of responses containing ``<Parallel>`` (non-strings count as without)."""
    if texts is None or isinstance(texts, str | bytes):
        raise ValueError("texts must be a list of responses")
    items = list(texts)
    if not items:
        raise ValueError("texts is empty: no responses to count")
    return sum(1 for t in items if isinstance(t, str) and PARALLEL_OPEN in t) / len(items)


_ROW_KEYS = ("benchmark", "problem_id", "correct", "response")


def summarize_eval(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per benchmark (first-seen order) ``{"n_problems", "k", "mean_at_k", "pass_at_k", "parallel_ratio"}``
    from rows carrying ``benchmark``, ``problem_id``, ``correct`` and ``response``; ``k`` is the largest
    number of samples of one problem and pass@k uses each problem's own sample count. ``"overall"`` holds
    ``mean_avg`` and ``parallel_ratio``, unweighted means over the benchmarks. Empty input, a row missing a
    key, or a benchmark named ``overall`` is a ``ValueError``."""
    rows = list(rows) if rows is not None else []
    if not rows:
        raise ValueError("rows is empty: nothing to summarise")
    grouped: dict[str, dict[Any, list[int]]] = {}
    responses: dict[str, list[Any]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"rows[{index}] is not a dict")
        missing = [key for key in _ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"rows[{index}] has no {', '.join(missing)}")
        benchmark = str(row["benchmark"])
        if benchmark == "overall":
            raise ValueError("'overall' cannot be a benchmark name (it is the summary row)")
        grouped.setdefault(benchmark, {}).setdefault(row["problem_id"], []).append(1 if row["correct"] else 0)
        responses.setdefault(benchmark, []).append(row["response"])
    summary: dict[str, dict[str, Any]] = {}
    for benchmark, problems in grouped.items():
        correct = list(problems.values())
        summary[benchmark] = {
            "n_problems": len(correct),
            "k": max(len(samples) for samples in correct),
            "mean_at_k": mean_at_k(correct),
            "pass_at_k": pass_at_k(correct),
            "parallel_ratio": parallel_ratio(responses[benchmark]),
        }
    benchmarks = list(grouped)
    summary["overall"] = {
        "mean_avg": sum(summary[b]["mean_at_k"] for b in benchmarks) / len(benchmarks),
        "parallel_ratio": sum(summary[b]["parallel_ratio"] for b in benchmarks) / len(benchmarks),
    }
    return summary
