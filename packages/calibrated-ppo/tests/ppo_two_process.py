"""One PPO update under two CPU processes (run by test_ppo.py through ``rlcore.testing.launch_cpu_processes``).

Every rank builds the same tiny policy and small critic, rolls out its own two prompts, runs one update (DDP
all-reduces the gradients and the whitening statistics) and writes ``rank{r}.json`` into the directory given as
the first argument: its rank, the world size, its prompts and a checksum of the actor's parameters before and after.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from calibrated_ppo.config import PPOConfig
from calibrated_ppo.ppo import PPOTrainer, make_critic
from rlcore.models import load_model

PROMPTS = ["What is 2 + 3?", "What is 7 * 6?", "How many apples are there?", "Find the sum of 10 and 4."]


def checksum(model: torch.nn.Module) -> float:
    return float(sum((p.detach().double() * (i + 1)).sum() for i, p in enumerate(model.parameters())))


def main() -> None:
    out = Path(sys.argv[1])
    torch.manual_seed(0)
    policy, tokenizer = load_model("tiny:qwen2")
    critic = make_critic("small", policy=policy)
    config = PPOConfig(
        policy="tiny:qwen2", critic_init="small", rollout_batch_size=4, micro_rollout_batch_size=2,
        train_batch_size=4, micro_train_batch_size=1, max_new_tokens=8, actor_lr=1e-2, critic_lr=1e-2,
        warmup_ratio=0.0,
    )  # fmt: skip

    def reward_fn(prompts, completions, **kwargs):
        return [len(c) / 10 for c in completions]

    trainer = PPOTrainer(config, policy=policy, tokenizer=tokenizer, critic=critic, reward_fn=reward_fn)
    acc = trainer.accelerator
    rank, world = acc.process_index, acc.num_processes
    torch.manual_seed(1 + rank)  # different samples per rank
    before = checksum(acc.unwrap_model(trainer.actor))
    mine = PROMPTS[rank * 2 : rank * 2 + 2]
    metrics = trainer.update([trainer.make_experience(mine)])
    after = checksum(acc.unwrap_model(trainer.actor))
    row = {
        "rank": rank, "world_size": world, "distributed_type": str(acc.distributed_type), "prompts": mine,
        "checksum_before": before, "checksum_after": after, "metrics": metrics,
    }  # fmt: skip
    (out / f"rank{rank}.json").write_text(json.dumps(row))
    acc.wait_for_everyone()


if __name__ == "__main__":
    main()
