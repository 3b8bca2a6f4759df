"""Difficulty-aware scores with query groups split across two CPU processes equal the one-process scores."""

import importlib.util
import json
from pathlib import Path

import pytest

from relayllm.rewards import make_difficulty_aware_reward
from rlcore.testing import launch_cpu_processes

SCRIPT = Path(__file__).with_name("reward_two_process.py")


def _batch():
    spec = importlib.util.spec_from_file_location("reward_two_process", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BATCH, module.ANSWERS


@pytest.mark.slow
def test_split_groups_score_as_in_one_process(tmp_path):
    batch, answers = _batch()
    prompts = batch[0]["prompts"] + batch[1]["prompts"]
    single = make_difficulty_aware_reward()(
        prompts,
        batch[0]["completions"] + batch[1]["completions"],
        answer=[answers[p] for p in prompts],
        call_ratio=batch[0]["call_ratio"] + batch[1]["call_ratio"],
    )
    # A: (✓,0) (✗,0) | (✓,.1) (✗,.2) is scenario 1; B: (✗,.1) (✗,0) | (✓,.05) (✗,0) is scenario 2
    assert single == pytest.approx([1.5, 0.0, 0.0, -1.0, 0.9, 0.0, 0.95, -1.0])
    proc = launch_cpu_processes(SCRIPT, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2], "two processes ran as one job"
    assert ranks[0]["scores"] + ranks[1]["scores"] == pytest.approx(single)
