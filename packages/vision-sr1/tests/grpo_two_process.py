"""Run by test_training.py under `accelerate launch --multi_gpu --num_processes 2` on CPU: one Vision-SR1 GRPO
step (self-reward rollout, single reward) on the tiny VLM; each rank writes rank<k>.json so the test can prove
that two processes trained as one gloo job (world size, rank, identical final weights, its own rollouts)."""

import json
import sys
from pathlib import Path

import torch

from rlcore.models import load_model
from rlcore.rewards import completion_text
from vision_sr1.config import load_config
from vision_sr1.data import bundled_records
from vision_sr1.rewards import make_reward_funcs
from vision_sr1.training import train


def _checksum(model) -> float:
    return round(float(sum(p.detach().double().sum() for p in model.parameters())), 6)


def main(out: Path) -> None:
    torch.manual_seed(0)
    cfg = load_config(
        None,
        ["rl.group_size=4", "rl.prompts_per_step=2", "rl.prompts_per_update=2", "rl.per_device_train_batch_size=4",
         "rl.max_steps=1", "rl.learning_rate=0.01", "rl.max_response_length=8", "rl.second_pass_max_tokens=4",
         "rl.min_pixels=3136", "rl.max_pixels=3136", "rl.save_every=0", "rl.missing_description=official",
         "rl.kl_coef=0"],
    )  # fmt: skip
    funcs, weights = make_reward_funcs(cfg.rl)
    calls = []

    def spread(f):
        def reward(prompts, completions, **kwargs):
            if f.__name__ == "visual_reward" and kwargs.get("second_pass") is not None:
                calls.append(len(kwargs["second_pass"]))
            out = f(prompts, completions, **kwargs)
            return [
                None if v is None else v + len(completion_text(c)) / 100
                for v, c in zip(out, completions, strict=True)
            ]

        reward.__name__ = f.__name__
        return reward

    model, processor = load_model("tiny:qwen2.5-vl")
    initial = _checksum(model)
    result = train(
        cfg,
        bundled_records("train")[:4],
        model=(model, processor),
        reward_funcs=([spread(f) for f in funcs], weights),
        output_dir=out / "policy",
    )
    from accelerate import PartialState

    state = PartialState()
    (out / f"rank{state.process_index}.json").write_text(
        json.dumps(
            {
                "rank": state.process_index,
                "world_size": state.num_processes,
                "initial_checksum": initial,
                "checksum": _checksum(model),
                "second_pass_calls": len(calls),
                "steps": result.global_step,
            }
        )
    )
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
