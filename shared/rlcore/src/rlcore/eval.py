"""Evaluate a generator on records: per-item results, mean@n accuracy, pass@k and maj@n."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcore.answers import extract_boxed, majority_vote

__all__ = ["EvalResult", "evaluate", "pass_at_k"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@dataclass
class EvalResult:
    """``items``: ``{"index", "prompt", "completions", "scores", "answers"}`` per record;
    ``accuracy``: mean over items of the mean score (mean@n); ``pass_at_k``: {k: mean pass@k};
    ``maj_at_n``: mean over items of the score of the first sample holding the majority answer."""

    items: list[dict]
    n: int
    accuracy: float
    pass_at_k: dict[int, float] = field(default_factory=dict)
    maj_at_n: float = 0.0

    def summary(self) -> dict[str, float]:
        row = {
            "n": self.n,
            "items": len(self.items),
            "accuracy": self.accuracy,
            f"maj@{self.n}": self.maj_at_n,
        }
        row.update({f"pass@{k}": v for k, v in self.pass_at_k.items()})
        return row


def _prompt_of(record: dict, prompt: str | Callable[[dict], Any]) -> Any:
    if callable(prompt):
        return prompt(record)
    if prompt not in record:
        raise KeyError(f"record has no column {prompt!r} (columns: {', '.join(record)})")
    return record[prompt]


def evaluate(
    generator: Any,
    records: Sequence[dict],
    scorer: Callable[..., list[float | None]],
    *,
    prompt: str | Callable[[dict], Any] = "prompt",
    n: int = 1,
    params: Any = None,
    k: Sequence[int] = (1,),
    extract: Callable[[str], str | None] = extract_boxed,
    batch_size: int = 16,
    out: str | Path | None = None,
) -> EvalResult:
    """Sample each record's prompt ``n`` times and score the completions with ``scorer``.

    ``generator`` is a Generator or a :func:`rlcore.rollout.make_generator` spec; ``scorer`` is a
    reward function called on each batch's completions with the records' columns as kwargs (one
    entry per completion); a None score counts 0. ``params`` defaults to greedy decoding.
    """
    from rich.progress import Progress

    from rlcore.rollout import SamplingParams, make_generator
    from rlcore.runs import atomic_write

    if n < 1 or batch_size < 1:
        raise ValueError(f"n and batch_size must be >= 1, got n={n}, batch_size={batch_size}")
    gen = make_generator(generator) if isinstance(generator, str) else generator
    params = params if params is not None else SamplingParams(temperature=0.0)
    items: list[dict] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("evaluating", total=len(records))
        for start in range(0, len(records), batch_size):
            batch = list(records[start : start + batch_size])
            prompts = [_prompt_of(r, prompt) for r in batch]
            samples = gen.generate(prompts, params, n=n)
            texts = [s.text for per_prompt in samples for s in per_prompt]
            columns = {key: [r.get(key) for r in batch for _ in range(n)] for key in batch[0]}
            columns.pop("prompts", None)
            columns.pop("completions", None)
            flat_prompts = [p for p in prompts for _ in range(n)]
            scores = scorer(flat_prompts, texts, **columns)
            for j, record_prompt in enumerate(prompts):
                item_texts = texts[j * n : (j + 1) * n]
                item_scores = [float(s) if s is not None else 0.0 for s in scores[j * n : (j + 1) * n]]
                items.append(
                    {
                        "index": start + j,
                        "prompt": record_prompt,
                        "completions": item_texts,
                        "scores": item_scores,
                        "answers": [extract(t) for t in item_texts],
                    }
                )
            progress.advance(task, len(batch))

    ks = [kk for kk in k if kk <= n]
    accuracy = _mean(sum(it["scores"]) / n for it in items)
    passes = {kk: _mean(pass_at_k(n, sum(s >= 1.0 for s in it["scores"]), kk) for it in items) for kk in ks}
    maj = _mean(_majority_score(it) for it in items)
    result = EvalResult(items=items, n=n, accuracy=accuracy, pass_at_k=passes, maj_at_n=maj)
    if out is not None:
        atomic_write(out, "".join(json.dumps(it, ensure_ascii=False, default=str) + "\n" for it in items))
    return result


def _majority_score(item: dict) -> float:
    label, _ = majority_vote(item["answers"])
    if label is None:
        return 0.0
    for answer, score in zip(item["answers"], item["scores"], strict=True):
        if isinstance(answer, str) and answer.strip() == label:
            return score
    return 0.0


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
