"""Run by test_trainer.py under `accelerate launch --multi_gpu --num_processes 2` on CPU: one ParallelGRPOTrainer
step (Unseen, the parallel engine) on the tagged tiny model; each rank writes rank<k>.json so the test can prove
that two processes trained as one gloo job."""

import json
import sys
from pathlib import Path

import torch

import parallel_r1.rewards as rewards
from parallel_r1.config import ParallelR1Config, RLStage
from parallel_r1.data import load_problems
from parallel_r1.trainer import run_rl


def _varied(kind, **kwargs):
    def reward(prompts, completions, tagged_completions=None, **kw):
        return [len(t) / 100 for t in tagged_completions]

    reward.__name__ = "parallel_length"
    return reward


def main(model: str, out: Path) -> None:
    torch.manual_seed(0)
    rewards.make_reward = _varied  # random tiny-model text is always wrong: reward its length instead
    cfg = ParallelR1Config(model=model, variant="unseen", max_prompt_tokens=256)
    cfg.engine.max_response_tokens = 16
    cfg.engine.max_path_tokens = 6
    cfg.engine.max_blocks = 1
    stage = RLStage(
        name="two",
        data="sample",
        reward="accuracy",
        max_steps=1,
        learning_rate=1e-2,
        prompts_per_step=2,
        num_generations=2,
        updates_per_step=1,
        per_device_train_batch_size=2,
        save_steps=0,
    )
    path = run_rl(cfg, stage, out / "rl", records=load_problems("sample", limit=4))
    from accelerate import PartialState

    from rlcore.models import load_model

    state = PartialState()
    state.wait_for_everyone()  # the main process writes the final model
    trained, _ = load_model(str(path))
    checksum = float(sum(p.detach().double().sum() for p in trained.parameters()))
    (out / f"rank{state.process_index}.json").write_text(
        json.dumps(
            {
                "rank": state.process_index,
                "world_size": state.num_processes,
                "checksum": round(checksum, 6),
            }
        )
    )
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
