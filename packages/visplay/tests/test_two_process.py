"""One Reasoner GRPO step of visplay.selfplay.train_reasoner under two CPU processes (spec §8): both ranks ran,
each scored its own half of the step, and both hold the same trained model."""

import json
from pathlib import Path

import pytest

from rlcore.testing import launch_cpu_processes

SCRIPT = Path(__file__).with_name("reasoner_two_process.py")
TOY = Path(__file__).resolve().parents[1] / "recipes" / "toy.yaml"


@pytest.mark.slow
def test_one_grpo_step_under_two_processes(tmp_path):
    # `accelerate launch --cpu` would silently run one process; `--multi_gpu` without a GPU gives two gloo ranks.
    proc = launch_cpu_processes(SCRIPT, TOY, tmp_path, timeout=480)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and [r["world"] for r in ranks] == [2, 2]
    # 2 questions x G 4 = 8 completions per step, 4 per rank, scored where they were generated.
    assert [len(r["scored"]) for r in ranks] == [1, 1]
    assert [len(r["scored"][0]) for r in ranks] == [4, 4]
    assert ranks[0]["logged_loss"]
    assert ranks[0]["checksum"] == ranks[1]["checksum"]

    from rlcore.models import load_model

    initial, _ = load_model("tiny:qwen2.5-vl")
    assert ranks[0]["checksum"] != round(
        float(sum(p.detach().double().sum() for p in initial.parameters())), 6
    )
