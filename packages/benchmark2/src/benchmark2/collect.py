"""Optional stage: per-item results from models through rlcore (greedy, last ``\\boxed{}`` scored)."""

from __future__ import annotations

from collections.abc import Sequence

from benchmark2.config import Benchmark2Config
from benchmark2.prompts import build_messages
from benchmark2.rewards import exact_match_reward

__all__ = ["collect_items"]


def collect_items(model_specs: Sequence[str], records: Sequence[dict], *, benchmark: str, domain: str | None = None,
                  config: Benchmark2Config | None = None):  # fmt: skip
    """Answer ``records`` (``{"id", "question", "answer"}``) with every model and return the long table as
    :class:`~benchmark2.data.ItemResults`; families and sizes are inferred from the model names."""
    from benchmark2.data import ItemResults, infer_family_size
    from rlcore.eval import evaluate
    from rlcore.rollout import SamplingParams, make_generator

    config = config or Benchmark2Config()
    params = SamplingParams(
        temperature=config.collect.temperature,
        top_p=config.collect.top_p,
        max_new_tokens=config.collect.max_new_tokens,
    )
    records = list(records)[: config.collect.limit] if config.collect.limit else list(records)
    for i, record in enumerate(records):
        if not record.get("question") or record.get("answer") in (None, ""):
            raise ValueError(f"record {i} needs a question and an answer")
    rows = []
    for spec in model_specs:
        generator = make_generator(spec)
        result = evaluate(generator, records, exact_match_reward, prompt=lambda r: build_messages(r["question"]),
                          params=params)  # fmt: skip
        family, size = infer_family_size(spec)
        for record, item in zip(records, result.items, strict=True):
            rows.append(
                {
                    "model": spec,
                    "family": family,
                    "size": size,
                    "benchmark": benchmark,
                    "domain": domain,
                    "item_id": str(record.get("id", item["index"])),
                    "score": item["scores"][0],
                }
            )
    return ItemResults.from_records(rows)
