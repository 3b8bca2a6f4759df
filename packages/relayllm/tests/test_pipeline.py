"""Every pipeline stage on tiny models, in-process: warm-up data, warm-up SFT, filter, GRPO, eval, router."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from relayllm.config import RelayLLMConfig
from relayllm.pipeline import (
    build_warmup_data,
    evaluate_benchmarks,
    read_records,
    router_from_runs,
    run_filter,
    run_train,
    run_warmup,
)
from relayllm.prompts import parse_calls
from rlcore.config import load_config
from rlcore.data import DataError
from rlcore.runs import RunDir

TOY = Path(__file__).resolve().parents[1] / "recipes" / "toy.yaml"


@pytest.fixture
def config():
    cfg = load_config(
        RelayLLMConfig,
        TOY,
        [
            "slm=tiny:qwen2",
            "llm=tiny:qwen2",
            "data.limit=4",
            "warmup.num_train_epochs=1",
            "warmup.per_device_train_batch_size=2",
            "warmup.learning_rate=0.01",
            "filter.max_new_tokens=8",
            "filter.min_keep=2",
            "train.max_completion_tokens=8",
            "train.learning_rate=0.01",
            "eval.limit=2",
            "relay.max_tokens=8",
        ],
    )
    return cfg


def _weights(path_or_spec):
    from rlcore.models import load_model

    model, _ = load_model(str(path_or_spec))
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_warmup_data_from_solutions_and_samples(config, tmp_path):
    records = read_records(config)
    assert len(records) == 4 and all("solution" in r for r in records)
    result = build_warmup_data(config, RunDir(tmp_path / "sol", package="relayllm"), records)
    rows = [json.loads(line) for line in Path(result["path"]).read_text().splitlines()]
    assert len(rows) == 4 and rows[0]["completion"][0]["role"] == "assistant"
    for row in rows:
        assert len(parse_calls(row["completion"][0]["content"])) == row["num_commands"]
    stats = json.loads((tmp_path / "sol" / "warmup_stats.json").read_text())
    assert sum(stats["commands"].values()) == 4 and sum(stats["call_lengths"].values()) == sum(
        r["num_commands"] for r in rows
    )
    sampled = replace(
        config, warmup=replace(config.warmup, responses="sample", max_new_tokens=6, samples_per_question=2)
    )
    result = build_warmup_data(sampled, RunDir(tmp_path / "smp", package="relayllm"), records)
    assert result["stats"]["rows"] == 8


def test_warmup_sft_changes_the_model(config, tmp_path):
    run = RunDir(tmp_path / "w", package="relayllm")
    rows = build_warmup_data(config, RunDir(tmp_path / "d", package="relayllm"), read_records(config))["path"]
    from rlcore.data import load_records

    checkpoint = run_warmup(config, run, load_records(rows))
    assert (Path(checkpoint) / "model.safetensors").exists()
    logged = run.read_jsonl("metrics.jsonl")
    assert any("loss" in row for row in logged)
    before, after = _weights("tiny:qwen2"), _weights(checkpoint)
    assert all(not (before[n] == after[n]).all() for n in before)


def test_filter_keeps_min_keep_and_writes_rates(config, tmp_path):
    run = RunDir(tmp_path / "f", package="relayllm")
    result = run_filter(config, run, read_records(config))
    assert result["kept"] >= 2 and result["total"] == 4
    rates = run.read_jsonl("pass_rates.jsonl")
    assert len(rates) == 4 and all(r["samples"] == 2 for r in rates)
    strict = replace(config, filter=replace(config.filter, threshold=1.0, min_keep=0))
    if all(r["rate"] < 1.0 for r in rates):
        with pytest.raises(DataError, match="lower the threshold"):
            run_filter(strict, RunDir(tmp_path / "f2", package="relayllm"), read_records(config))


def test_grpo_stage_logs_relay_metrics(config, tmp_path):
    run = RunDir(tmp_path / "t", package="relayllm")
    result = run_train(config, run, read_records(config)[:2])
    assert result["global_step"] == 2
    steps = [row for row in run.read_jsonl("metrics.jsonl") if "loss" in row]
    assert len(steps) == 2
    assert "relay/call_ratio" in steps[0] and "relay/scenario_3" in steps[0]
    assert (Path(result["output_dir"]) / "model.safetensors").exists()


def test_eval_modes_and_router(config, tmp_path):
    runs = {}
    for mode in ("slm", "llm", "relay"):
        runs[mode] = RunDir(tmp_path / mode, package="relayllm")
        rows = evaluate_benchmarks(config, runs[mode], mode=mode, progress=False)
        assert [r.name for r in rows] == ["toy-easy", "toy-hard", "average"]
        assert rows[-1].n == 4
        items = runs[mode].read_jsonl("items/toy-easy.jsonl")
        assert len(items) == 2
        if mode == "llm":
            assert rows[-1].call_ratio == 1.0
        if mode == "slm":
            assert all(item["num_calls"] == 0 for item in items)
    comparison = router_from_runs(runs["relay"].path, runs["slm"].path, runs["llm"].path)
    assert 0.0 <= comparison.equal_cost_accuracy <= 1.0
    with pytest.raises(FileNotFoundError):
        router_from_runs(tmp_path / "missing", runs["slm"].path, runs["llm"].path)
