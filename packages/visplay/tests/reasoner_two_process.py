"""Run by test_two_process.py under `accelerate launch --multi_gpu --num_processes 2` on CPU: one Reasoner GRPO
step of tiny:qwen2.5-vl through ``visplay.selfplay.train_reasoner`` (2 questions × G 4 per step, 4 completions
per rank). A random tiny model never matches the silver label, so a test-only subclass of ``ReasonerReward``
adds a length-based spread to the production reward (advantages ≠ 0). Each rank writes ``rank<r>.json`` with
the world size, the rows it scored, the step reached, whether the loss was logged and a checksum of the saved
model, so the test can prove that two processes trained one model together."""

import json
import sys
from pathlib import Path

from accelerate import PartialState

import visplay.rewards as rewards
from rlcore.rewards import completion_text
from rlcore.testing import tiny_images
from visplay.config import load_config
from visplay.selfplay import train_reasoner

SCORED: list[list[str]] = []


class SpreadReasonerReward(rewards.ReasonerReward):
    def __call__(self, prompts, completions, **kwargs):
        SCORED.append(list(kwargs["image_id"]))
        base = super().__call__(prompts, completions, **kwargs)
        return [(r or 0.0) + len(completion_text(c)) / 100 for r, c in zip(base, completions, strict=True)]


def main(recipe: str, out: Path) -> None:
    state = PartialState(cpu=True)
    rewards.ReasonerReward = SpreadReasonerReward
    config = load_config(
        recipe,
        [
            "reasoner.steps=1", "reasoner.questions_per_step=2", "reasoner.questions_per_update=2",
            "reasoner.group_size=4", "reasoner.max_new_tokens=6", "optim.per_device_train_batch_size=4",
            "optim.learning_rate=0.01", "optim.kl_coef=0.0",
        ],
    )  # fmt: skip
    curated = [
        {
            "question": f"How many shapes are in picture {i}?",
            "image": img,
            "image_id": f"im{i}",
            "answer": str(i),
        }
        for i, img in enumerate(tiny_images(4))
    ]
    path = train_reasoner("tiny:qwen2.5-vl", curated, config=config, run_dir=out / "reasoner")
    state.wait_for_everyone()  # the main process has saved the model
    from rlcore.models import load_model

    trained, _ = load_model(path)
    checksum = float(sum(p.detach().double().sum() for p in trained.parameters()))
    metrics = (out / "reasoner" / "metrics.jsonl").read_text().splitlines() if state.is_main_process else []
    (out / f"rank{state.process_index}.json").write_text(
        json.dumps(
            {
                "rank": state.process_index,
                "world": state.num_processes,
                "scored": SCORED,
                "checksum": round(checksum, 6),
                "logged_loss": any("loss" in json.loads(line) for line in metrics),
            }
        )
    )
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
