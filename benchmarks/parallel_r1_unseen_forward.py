"""Parallel-R1 Unseen training forward against the Seen one (parallel-r1 spec §9): per-token log-prob forward of a
tiny Qwen2-style model (hidden 256, 4 layers, sdpa, CPU, float32) on a batch of 4 sequences with three two-path
blocks each, at 512, 1024 and 2048 tokens.

Baseline: the Seen log-prob forward (ordinary 2-D attention mask, causal positions). Candidate: the Unseen
forward including ``unseen_model_inputs`` (path-isolated 4-D additive mask, structured position ids). Median of
5 runs after a warm-up (runs interleaved). Targets: Seen time / Unseen time >= 0.7 and structure building <= 15 % of the Unseen time.

Run: ``uv run python benchmarks/parallel_r1_unseen_forward.py [--quick] [--out bench.json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from transformers import Qwen2Config, Qwen2ForCausalLM

from parallel_r1.structure import TagIds, find_blocks, unseen_forward_logps, unseen_model_inputs

VOCAB = 4096
TAGS = TagIds(*range(VOCAB - 6, VOCAB))
PROMPT_TOKENS = 64
BATCH = 4
BLOCKS = 3
RATIO_TARGET = 0.7
SHARE_TARGET = 0.15


def make_model() -> Qwen2ForCausalLM:
    config = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).eval()


def make_row(length: int, rng: random.Random) -> list[int]:
    """A prompt, then text with three two-path blocks (prefix, paths, </Parallel>, summary) filling ``length``."""

    def text(n: int) -> list[int]:
        return [rng.randrange(VOCAB - 6) for _ in range(n)]

    budget = length - PROMPT_TOKENS
    unit = budget // (BLOCKS * 8 + 2)  # per block: ~1 unit main text, 2 + 3 units of paths, 1 unit summary
    row = text(PROMPT_TOKENS)
    for _ in range(BLOCKS):
        row += [*text(unit), TAGS.parallel_open, *text(2)]
        for path_len in (2 * unit + rng.randrange(unit // 2 + 1), 3 * unit):
            row += [TAGS.path_open, *text(path_len), TAGS.path_close]
        row += [TAGS.parallel_close, TAGS.summary_open, *text(unit), TAGS.summary_close]
    row += text(length - len(row))
    return row[:length]


def interleaved_times(fns: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[float]]:
    """Seconds of each timed run of each function; one warm-up each, then the timed runs interleaved round by round so that
    load from other processes on the machine hits every candidate alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def seen_logps(
    model: Qwen2ForCausalLM, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    logits = (
        model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1, :].float()
    )
    return torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def measure(model: Qwen2ForCausalLM, length: int, runs: int) -> dict[str, Any]:
    rng = random.Random(length)
    input_ids = torch.tensor([make_row(length, rng) for _ in range(BATCH)])
    attention_mask = torch.ones_like(input_ids)
    blocks = [len(find_blocks(row, TAGS, start=PROMPT_TOKENS)) for row in input_ids.tolist()]
    assert blocks == [BLOCKS] * BATCH, blocks
    with torch.inference_mode():
        t = interleaved_times(
            {
                "seen": lambda: seen_logps(model, input_ids, attention_mask),
                "unseen": lambda: unseen_forward_logps(model, input_ids, attention_mask, PROMPT_TOKENS, TAGS),
                "build": lambda: unseen_model_inputs(
                    input_ids, attention_mask, PROMPT_TOKENS, TAGS, dtype=model.dtype
                ),
            },
            runs,
        )
    seen, unseen, build = (statistics.median(t[name]) for name in ("seen", "unseen", "build"))
    return {
        "tokens": length,
        "batch": BATCH,
        "seen_ms": seen * 1e3,
        "unseen_ms": unseen * 1e3,
        "build_ms": build * 1e3,
        "ratio": seen / unseen,
        "build_share": build / unseen,
        "ratio_min": min(t["seen"]) / min(t["unseen"]),  # less sensitive to load from other processes
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512 and 1024 tokens, 3 runs")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per measurement (default 5)")
    parser.add_argument("--lengths", type=int, nargs="+", default=None, help="sequence lengths to time")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    lengths = args.lengths or ((512, 1024) if args.quick else (512, 1024, 2048))
    runs = args.runs or (3 if args.quick else 5)
    model = make_model()
    console = Console(width=150)
    rows = []
    with console.status("timing") as status:
        for length in lengths:
            status.update(f"timing {BATCH} x {length} tokens")
            rows.append(measure(model, length, runs))
    table = Table(
        title=f"Parallel-R1 log-prob forward, tiny Qwen2 (hidden 256, 4 layers, sdpa, CPU fp32, "
        f"{torch.get_num_threads()} threads), batch {BATCH}, {BLOCKS} two-path blocks, median of {runs}"
    )
    for col in (
        "tokens",
        "Seen ms",
        "Unseen ms",
        "build ms",
        "Seen/Unseen",
        "build share",
        "Seen/Unseen (fastest runs)",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["tokens"]),
            f"{r['seen_ms']:.1f}",
            f"{r['unseen_ms']:.1f}",
            f"{r['build_ms']:.1f}",
            f"{r['ratio']:.2f}",
            f"{100 * r['build_share']:.1f} %",
            f"{r['ratio_min']:.2f}",
        )
    console.print(table)
    targets = Table(title="spec §9 targets")
    for col in ("target", "tokens", "met", "measured"):
        targets.add_column(col)
    for r in rows:
        targets.add_row(
            f"Seen/Unseen >= {RATIO_TARGET}",
            str(r["tokens"]),
            "yes" if r["ratio"] >= RATIO_TARGET else "NO",
            f"{r['ratio']:.2f}",
        )
        targets.add_row(
            f"build share <= {100 * SHARE_TARGET:.0f} %",
            str(r["tokens"]),
            "yes" if r["build_share"] <= SHARE_TARGET else "NO",
            f"{100 * r['build_share']:.1f} %",
        )
    console.print(targets)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
