"""Evaluation summaries and the random-router comparison (paper §4; spec §7).

Per benchmark, accuracy is the mean correctness of its items and the call ratio ρ (the share of response
tokens written by the LLM) is micro-averaged: ΣLLM tokens / Σresponse tokens. The ``average`` row takes plain
(macro) means over the benchmarks, as the paper's tables do.

The random router is the obvious baseline for collaborative decoding: send a random fraction p of the
queries to the LLM and the rest to the SLM. Its accuracy is ``(1 − p)·a_S + p·a_L`` and, answering a query
entirely, its LLM-token share is taken to be p.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "BenchmarkSummary",
    "EvalItem",
    "RouterComparison",
    "aggregate_call_ratio",
    "random_router_accuracy",
    "random_router_comparison",
    "summarize",
]


@dataclass
class EvalItem:
    """One scored answer: its benchmark, correctness (1/0, or a mean over samples), LLM and response token
    counts (SLM vocabulary) and the number of LLM calls."""

    benchmark: str
    correct: bool | float
    llm_tokens: int
    total_tokens: int
    num_calls: int = 0


@dataclass
class BenchmarkSummary:
    """One row of the results table: accuracy and call ratio as fractions, calls per item as a mean."""

    name: str
    n: int
    accuracy: float
    call_ratio: float
    calls_per_item: float


def aggregate_call_ratio(llm_tokens: Sequence[int], total_tokens: Sequence[int]) -> float:
    """The micro-averaged call ratio ΣLLM tokens / Σresponse tokens; 0.0 when there are no tokens."""
    if len(llm_tokens) != len(total_tokens):
        raise ValueError(f"{len(llm_tokens)} LLM token counts but {len(total_tokens)} totals")
    total = sum(total_tokens)
    return sum(llm_tokens) / total if total else 0.0


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def summarize(items: Iterable[EvalItem]) -> list[BenchmarkSummary]:
    """One row per benchmark, in order of first appearance (mean correctness, micro ρ, mean calls), then
    ``"average"``: macro means of those three over the benchmarks, with ``n`` counting every item.
    No items give ``[]``."""
    by_benchmark: dict[str, list[EvalItem]] = {}
    for item in items:
        by_benchmark.setdefault(item.benchmark, []).append(item)
    rows = [
        BenchmarkSummary(
            name=name,
            n=len(group),
            accuracy=_mean([float(it.correct) for it in group]),
            call_ratio=aggregate_call_ratio(
                [it.llm_tokens for it in group], [it.total_tokens for it in group]
            ),
            calls_per_item=_mean([float(it.num_calls) for it in group]),
        )
        for name, group in by_benchmark.items()
    ]
    if not rows:
        return []
    average = BenchmarkSummary(
        name="average",
        n=sum(row.n for row in rows),
        accuracy=_mean([row.accuracy for row in rows]),
        call_ratio=_mean([row.call_ratio for row in rows]),
        calls_per_item=_mean([row.calls_per_item for row in rows]),
    )
    return [*rows, average]


def random_router_accuracy(p: float, slm_accuracy: float, llm_accuracy: float) -> float:
    """The accuracy ``(1 − p)·a_S + p·a_L`` of a router sending a random fraction p of queries to the LLM."""
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"the routed share p must be in [0, 1], got {p}")
    return (1.0 - p) * slm_accuracy + p * llm_accuracy


@dataclass
class RouterComparison:
    """RelayLLM against a random router, both read as points on the SLM-to-LLM line.

    ``matched_llm_share``: the routed share p at which the router matches the relay's accuracy,
    ``(a_R − a_S)/(a_L − a_S)``, unclipped (None when a_L = a_S). ``cost_reduction``: the relay's LLM-token
    saving against that router, ``1 − c_R/p`` (None unless p > 0). ``equal_cost_accuracy``: the router's
    accuracy at p = c_R. ``accuracy_gain``: ``a_R`` minus that.
    """

    relay_accuracy: float
    relay_call_ratio: float
    slm_accuracy: float
    llm_accuracy: float
    matched_llm_share: float | None
    cost_reduction: float | None
    equal_cost_accuracy: float
    accuracy_gain: float


def random_router_comparison(
    relay_accuracy: float, relay_call_ratio: float, slm_accuracy: float, llm_accuracy: float
) -> RouterComparison:
    """Compare the relay (accuracy a_R, call ratio c_R as a fraction) with a random router between the SLM
    (a_S) and the LLM (a_L). Accuracies may use any single unit (fractions or %).

    The paper's 1.7B row (a_S 42.50, a_L 54.12, a_R 49.52, c_R 1.07%) gives a matched share of 0.6041, a
    cost reduction of 98.2%, an equal-cost accuracy of 42.62 and a gain of +6.90.
    """
    spread = llm_accuracy - slm_accuracy
    share = (relay_accuracy - slm_accuracy) / spread if spread else None
    reduction = 1.0 - relay_call_ratio / share if share is not None and share > 0 else None
    equal_cost = random_router_accuracy(relay_call_ratio, slm_accuracy, llm_accuracy)
    return RouterComparison(
        relay_accuracy=relay_accuracy,
        relay_call_ratio=relay_call_ratio,
        slm_accuracy=slm_accuracy,
        llm_accuracy=llm_accuracy,
        matched_llm_share=share,
        cost_reduction=reduction,
        equal_cost_accuracy=equal_cost,
        accuracy_gain=relay_accuracy - equal_cost,
    )
