"""Run by test_challenger_distributed.py under `accelerate launch --multi_gpu --num_processes 2` on CPU.

One Challenger GRPO step of ``tiny:qwen2`` (2 prompts per process, G = 2, a few new tokens) with the production
``make_challenger_reward`` over a scripted Solver. A tiny random model almost never writes ``<question>``
tags, so a test-only wrapper turns each completion into a question block before the production reward
parses it; the gather over processes still happens inside ``make_challenger_reward``. Rank 0 makes its
first two completions one fixed question, rank 1 only its first: the fixed question fills 3 of the B = 8
items of the step (share 3/8 on both ranks), where a rank clustering alone would see 2/4 or 1/4.

Each rank records the texts it clustered, the shares rlcore returned, its own rewards and the world size
in ``rank{r}.json``.
"""

import json
import sys
from pathlib import Path

from accelerate import PartialState

import r_zero.rewards as rz_rewards
from r_zero.data import challenger_prompt_dataset
from rlcore.rewards import completion_text
from rlcore.train import grpo_config, run_grpo

FIXED = "Fixed question: how many apples and pears does Ava have after the market closes today?"
M = 4
CLUSTERED: list[dict] = []


def scripted_sampler(questions, m):
    """m boxed answers per question, a function of the question's length only (``hash`` is salted)."""
    out = []
    for q in questions:
        k = len(q) % (m + 1)
        out.append(["\\boxed{1}"] * k + ["\\boxed{2}"] * (m - k))
    return out


def main(out: Path) -> None:
    state = PartialState(cpu=True)
    rank = state.process_index
    fixed_slots = {0, 1} if rank == 0 else {0}

    real_penalties = rz_rewards.repetition_penalties

    def recording_penalties(texts, *args, **kwargs):
        shares = real_penalties(texts, *args, **kwargs)
        CLUSTERED.append({"texts": list(texts), "shares": list(shares)})
        return shares

    rz_rewards.repetition_penalties = recording_penalties
    production = rz_rewards.make_challenger_reward(scripted_sampler, num_samples=M)
    local_rewards: list[list[float]] = []

    def challenger_reward(prompts, completions, **kwargs):
        texts = [
            FIXED if i in fixed_slots else "Model question: " + completion_text(c)
            for i, c in enumerate(completions)
        ]
        rewards = production(prompts, [f"<question>\n{t}\n</question>" for t in texts], **kwargs)
        local_rewards.append(rewards)
        return rewards

    config = grpo_config(
        output_dir=str(out / "challenger"),
        max_steps=1,
        num_generations=2,
        per_device_train_batch_size=4,  # 2 prompts × G = 2 per process, 8 completions per step
        max_completion_length=6,
        logging_steps=1,
        save_strategy="no",
        learning_rate=1e-2,
        beta=0.0,
        seed=0,
        ddp_find_unused_parameters=False,
    )
    result = run_grpo("tiny:qwen2", challenger_reward, challenger_prompt_dataset(8), config)
    (out / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "rank": rank,
                "world": state.num_processes,
                "clustered": CLUSTERED,
                "rewards": local_rewards,
                "global_step": result.global_step,
                "logged_loss": any("loss" in row for row in result.metrics),
            }
        )
    )
    # Leave together and close the gloo group: a rank exiting while its peer still talks to it aborts.
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
