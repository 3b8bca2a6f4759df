"""A Challenger GRPO step under two CPU processes: both ranks cluster the whole step batch (spec §2.3 step 5, §8)."""

import importlib.util
import json
from pathlib import Path

import pytest

from rlcore.testing import launch_cpu_processes

SCRIPT = Path(__file__).with_name("challenger_two_process.py")


def _script():
    spec = importlib.util.spec_from_file_location("challenger_two_process", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_two_processes_compute_the_same_full_batch_shares(tmp_path):
    # `--cpu` would silently run one process; `--multi_gpu` with no visible GPU gives two gloo ranks.
    proc = launch_cpu_processes(SCRIPT, tmp_path, timeout=480)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2], "two processes ran as one job"
    assert [r["global_step"] for r in ranks] == [1, 1]
    assert ranks[0]["logged_loss"]

    # One reward call per rank, one clustering of the gathered step batch: B = 8, identical on both ranks.
    for r in ranks:
        assert len(r["clustered"]) == 1 and len(r["rewards"]) == 1
        assert len(r["clustered"][0]["texts"]) == 8
        assert len(r["rewards"][0]) == 4
    assert ranks[0]["clustered"] == ranks[1]["clustered"]
    texts, shares = ranks[0]["clustered"][0]["texts"], ranks[0]["clustered"][0]["shares"]
    fixed = [i for i, t in enumerate(texts) if t.startswith("Fixed question")]
    assert fixed == [0, 1, 4]  # rank 0's slots 0 and 1, then rank 1's slot 0
    assert [shares[i] for i in fixed] == pytest.approx([3 / 8] * 3, abs=1e-6)

    # Each rank kept its own slice of the rewards one process computes over the whole step batch.
    script = _script()
    from r_zero.rewards import make_challenger_reward

    single = make_challenger_reward(script.scripted_sampler, num_samples=script.M)(
        [None] * 8, [f"<question>\n{t}\n</question>" for t in texts]
    )
    assert ranks[0]["rewards"][0] + ranks[1]["rewards"][0] == pytest.approx(single, abs=1e-6)
