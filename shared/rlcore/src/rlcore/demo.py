"""rlcore's own demo: a real model answering arithmetic, then two GRPO steps on a tiny model.

It exercises the path every paper package builds on (models -> rollout -> answers -> rewards ->
train -> runs) in well under two minutes on a 2-core CPU.
"""

from __future__ import annotations

import time
from pathlib import Path

from rlcore.answers import answers_match, extract_boxed
from rlcore.data import arithmetic_problems
from rlcore.rewards import boxed_accuracy_reward, completion_text
from rlcore.runs import RunDir

SYSTEM = (
    "You are a helpful assistant. Solve the problem step by step, then write the final number in \\boxed{}."
)

# One worked example: a 135M model rarely boxes its answer from the instruction alone.
EXAMPLE = [
    {
        "role": "user",
        "content": "Ava has 3 apples. Then Ava gets 2 more apples. How many apples does Ava have now?",
    },
    {
        "role": "assistant",
        "content": "Ava starts with 3 apples and gets 2 more: 3 + 2 = 5. The answer is \\boxed{5}.",
    },
]


def _chat(question: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, *EXAMPLE, {"role": "user", "content": question}]


def length_reward(prompts, completions, **kwargs) -> list[float]:
    """A toy reward for the tiny-model GRPO steps: shorter completions score higher (in [0, 1])."""
    return [1.0 / (1.0 + len(completion_text(c)) / 32.0) for c in completions]


def run_demo(
    out: Path | None = None, *, model: str = "embedded:smollm2-135m-instruct", problems: int = 8
) -> dict:
    """Run the demo, write its run directory and return the summary row."""
    import torch

    from rlcore.models import load_model
    from rlcore.rollout import HFGenerator, SamplingParams
    from rlcore.train import grpo_config, run_grpo

    torch.manual_seed(0)
    run = RunDir(out, package="rlcore", name="demo")
    timings: dict[str, float] = {}

    start = time.perf_counter()
    lm, tokenizer = load_model(model)
    timings["load_s"] = time.perf_counter() - start

    records = arithmetic_problems(problems, seed=0, difficulty=1)
    start = time.perf_counter()
    samples = HFGenerator(lm, tokenizer).generate(
        [_chat(r["question"]) for r in records], SamplingParams(temperature=0.0, max_new_tokens=64)
    )
    timings["generate_s"] = time.perf_counter() - start
    rows = []
    for record, (sample,) in zip(records, samples, strict=True):
        pred = extract_boxed(sample.text)
        rows.append(
            {
                **record,
                "completion": sample.text,
                "prediction": pred,
                "correct": answers_match(pred, record["answer"]),
            }
        )
    run.log_samples(rows)
    accuracy = sum(r["correct"] for r in rows) / len(rows)
    del lm

    train_rows = [
        {"prompt": _chat(r["question"]), "answer": r["answer"]} for r in arithmetic_problems(8, seed=1)
    ]
    config = grpo_config(
        output_dir=str(run.file("grpo")),
        max_steps=2,
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=16,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    start = time.perf_counter()
    result = run_grpo("tiny:qwen2", [boxed_accuracy_reward, length_reward], train_rows, config)
    timings["grpo_s"] = time.perf_counter() - start
    steps = [row for row in result.metrics if "loss" in row]
    for row in steps:
        run.log_metrics(row)

    summary = {
        "model": model,
        "problems": len(rows),
        "accuracy": accuracy,
        "grpo_steps": result.global_step,
        "grpo_reward": [round(r.get("reward", float("nan")), 4) for r in steps],
        **{k: round(v, 2) for k, v in timings.items()},
    }
    run.write_json("summary.json", summary)
    lines = [
        "# rlcore demo",
        "",
        f"`{model}` answered {len(rows)} arithmetic problems (one worked example, greedy, batched `HFGenerator`): "
        f"accuracy {accuracy:.3f} by `answers_match` on the last `\\boxed{{}}`.",
        "",
        "| # | question | gold | prediction | correct |",
        "|---|---|---|---|---|",
        *[
            f"| {i} | {r['question']} | {r['answer']} | {r['prediction']} | {r['correct']} |"
            for i, r in enumerate(rows)
        ],
        "",
        f"Then {result.global_step} GRPO steps on `tiny:qwen2` (4 completions per prompt, toy rewards):",
        "",
        "| step | loss | reward | reward_std | grad_norm | time/generation | time/update |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['step']} | {r.get('loss', 0):.4g} | {r.get('reward', 0):.4g} | {r.get('reward_std', 0):.4g} | "
            f"{r.get('grad_norm', 0):.4g} | {r.get('time/generation', 0):.3f} | {r.get('time/update', 0):.3f} |"
            for r in steps
        ],
    ]
    run.write_report("\n".join(lines) + "\n")
    return {"run_dir": str(run.path), **summary, "steps": steps, "rows": rows}
