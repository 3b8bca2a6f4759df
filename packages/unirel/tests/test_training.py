"""Tiny-model smoke tests (spec §8): two GRPO steps with the UniRel reward on 4 records log the reward and
its parts and change the parameters; `evaluate --method vanilla` runs a model on 2 records."""

import json

import pytest
from typer.testing import CliRunner

import unirel.rewards as rewards
from rlcore.runs import RunDir
from unirel.cli import app
from unirel.config import RetrievalConfig, UniRelConfig
from unirel.data import build_records, load_kg, sample_queries, write_records
from unirel.training import REWARD_COLUMNS, build_dataset, train


@pytest.fixture
def records():
    kg = load_kg("umls")
    return build_records(kg, sample_queries(kg, 4, seed=3), RetrievalConfig(target_size=6))


def _weights(spec):
    from rlcore.models import load_model

    model, _ = load_model(str(spec))
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters()}


def test_build_dataset_keeps_prompt_and_reward_columns(records):
    dataset = build_dataset(records)
    assert set(dataset.column_names) == {"prompt", *REWARD_COLUMNS} and len(dataset) == 4


def test_two_grpo_steps_change_the_parameters(records, tmp_path, monkeypatch):
    # A random tiny model never writes a valid PATH block, so every completion would score −2 and GRPO would
    # have no advantage: the real reward plus a length term gives the groups a spread.
    real = rewards.make_unirel_reward

    def make(config=None):
        reward = real(config)

        def unirel_reward(prompts, completions, **kwargs):
            exact = reward(prompts, completions, **kwargs)
            return [e + len(str(c)) / 1000 for e, c in zip(exact, completions, strict=True)]

        return unirel_reward

    monkeypatch.setattr(rewards, "make_unirel_reward", make)
    config = UniRelConfig()
    config.train.model = "tiny:qwen2"
    config.train.max_steps = 2
    config.train.prompts_per_step = 2
    config.train.num_generations = 2
    config.train.per_device_train_batch_size = 4
    config.train.max_completion_length = 8
    config.train.learning_rate = 1e-2
    run = RunDir(tmp_path / "run", package="unirel")
    result = train(config, run, records=records)
    assert result.global_step == 2
    logged = [row for row in run.read_jsonl("metrics.jsonl") if "loss" in row]
    assert len(logged) == 2
    for name in ("unirel_reward", "unirel_fmt", "unirel_con", "unirel_ent", "unirel_rel"):
        assert f"rewards/{name}/mean" in logged[0]
    before, after = _weights("tiny:qwen2"), _weights(result.output_dir)
    assert all(not (before[n] == after[n]).all() for n in before)


def test_evaluate_vanilla_on_two_records(records, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_records(run / "test.jsonl", records[:2])
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--run-dir",
            str(run),
            "--method",
            "vanilla",
            "--model",
            "tiny:qwen2",
            "eval.max_new_tokens=6",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "results.json").read_text())["vanilla@test.jsonl"]
    assert metrics["n"] == 2 and -3 <= metrics["reward"] <= 3
    assert len((run / "predictions_vanilla.jsonl").read_text().splitlines()) == 2
