"""Run by test_rewards_distributed.py under `accelerate launch --multi_gpu --num_processes 2` on CPU.

Each rank scores its own slice of a batch in which both query groups are split across the ranks, and
writes the scores; the test compares them with one process scoring the whole batch."""

import json
import sys
from pathlib import Path

from accelerate import PartialState

from relayllm.rewards import make_difficulty_aware_reward

# Two prompts, G = 4, each group split 2 + 2 across the ranks. Prompt A: (✓,0) on rank 0 makes it scenario 1
# for the whole group, so rank 1's (✓,0.1) must get 1 − ρ = 0.9 rather than scenario 2's treatment alone.
BATCH = {
    0: {
        "prompts": ["A", "A", "B", "B"],
        "completions": ["\\boxed{1}", "x", "x", "x"],
        "call_ratio": [0.0, 0.0, 0.1, 0.0],
    },
    1: {
        "prompts": ["A", "A", "B", "B"],
        "completions": ["\\boxed{1}", "x", "\\boxed{2}", "x"],
        "call_ratio": [0.1, 0.2, 0.05, 0.0],
    },
}
ANSWERS = {"A": "1", "B": "2"}


def main(out: Path) -> None:
    state = PartialState(cpu=True)
    part = BATCH[state.process_index]
    reward = make_difficulty_aware_reward()
    scores = reward(
        part["prompts"],
        part["completions"],
        answer=[ANSWERS[p] for p in part["prompts"]],
        call_ratio=part["call_ratio"],
    )
    (out / f"rank{state.process_index}.json").write_text(
        json.dumps({"rank": state.process_index, "world": state.num_processes, "scores": scores})
    )
    # Leave together and close the gloo group: a rank exiting while its peer still talks to it aborts.
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
