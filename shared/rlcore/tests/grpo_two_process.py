"""Run by test_train.py under `accelerate launch --multi_gpu --num_processes 2` on CPU.

Each rank trains the same tiny model for two GRPO steps and writes rank<k>.json with what it saw,
so the test can prove that two processes ran as one gloo job."""

import json
import sys
from pathlib import Path

import torch

from rlcore.models import load_model
from rlcore.rewards import completion_text
from rlcore.train import grpo_config, run_grpo


def reward(prompts, completions, **kwargs):
    return [len(completion_text(c)) / 32 for c in completions]


def main(out: Path) -> None:
    torch.manual_seed(0)
    model, tok = load_model("tiny:qwen2")
    rows = [{"prompt": [{"role": "user", "content": f"Count to {i}."}]} for i in range(8)]
    config = grpo_config(
        output_dir=str(out / "grpo"),
        max_steps=2,
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=8,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        ddp_find_unused_parameters=False,
    )
    result = run_grpo((model, tok), reward, rows, config)
    from accelerate import PartialState

    state = PartialState()
    checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
    (out / f"rank{state.process_index}.json").write_text(
        json.dumps(
            {
                "rank": state.process_index,
                "world_size": state.num_processes,
                "distributed_type": str(state.distributed_type).split(".")[-1],
                "checksum": round(checksum, 6),
                "steps": result.global_step,
                "logged_loss": any("loss" in r for r in result.metrics),
                "generation_batch_size": config.generation_batch_size,
            }
        )
    )
    # Leave together and close the gloo group: a rank exiting while its peer still talks to it aborts.
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
