"""Training stages on the tiny model (spec §8): SFT for both variants, the Unseen log-prob override against
TRL's, and one GRPO step per variant with the parallel engine (loss finite, parameters changed, parallel/*
logged)."""

import math

import pytest

import parallel_r1.rewards as rewards
from parallel_r1.config import ParallelR1Config, RLStage, SFTConfig
from parallel_r1.data import load_problems, load_sft_records
from parallel_r1.trainer import ParallelSFTCollator, prepare_model, run_rl, run_sft
from rlcore.runs import RunDir


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    out = tmp_path_factory.mktemp("tagged")
    prepare_model("tiny:qwen2", add_tags=True, out_dir=out)
    return str(out)


def _weights(spec):
    from rlcore.models import load_model

    model, _ = load_model(str(spec))
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters()}


def _config(model, variant):
    return ParallelR1Config(**_config_kwargs(model, variant))


def _config_kwargs(model, variant):
    cfg = ParallelR1Config(model=model, variant=variant, max_prompt_tokens=256)
    cfg.engine.max_response_tokens = 24
    cfg.engine.max_path_tokens = 8
    cfg.engine.max_blocks = 1
    return {
        **cfg.__dict__,
        "sft": SFTConfig(
            data="sample",
            max_steps=2,
            epochs=1,
            learning_rate=1e-2,
            warmup_ratio=0.0,
            batch_size=2,
            micro_batch_size=2,
            max_length=1024,
        ),
        "rl": [
            RLStage(
                name="t",
                data="sample",
                reward="alternating",
                max_steps=1,
                learning_rate=1e-2,
                prompts_per_step=2,
                num_generations=2,
                updates_per_step=1,
                per_device_train_batch_size=4,
                save_steps=0,
            )
        ],
    }


def test_collator_masks_prompt_and_builds_unseen_inputs(tagged):
    _, tokenizer, tags = prepare_model(tagged, add_tags=False)
    records = load_sft_records("sample", limit=2)
    seen = ParallelSFTCollator(tokenizer, tags, variant="seen")(records)
    assert seen["attention_mask"].dim() == 2 and (seen["labels"] != -100).any()
    unseen = ParallelSFTCollator(tokenizer, tags, variant="unseen")(records)
    t = unseen["input_ids"].size(1)
    assert unseen["attention_mask"].shape == (2, 1, t, t) and unseen["position_ids"].shape == (2, t)
    assert not math.isinf(unseen["attention_mask"].min().item())
    with pytest.raises(ValueError, match="max_length"):
        ParallelSFTCollator(tokenizer, tags, variant="seen", max_length=8, truncation="error")(records)
    dropping = ParallelSFTCollator(tokenizer, tags, variant="seen", max_length=8)
    assert dropping.encode(records[0]) is None and dropping.dropped == 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["seen", "unseen"])
def test_sft_trains(tagged, tmp_path, variant):
    cfg = _config(tagged, variant)
    run = RunDir(tmp_path / "sft", package="parallel-r1")
    final = run_sft(cfg, run, records=load_sft_records("sample", limit=4))
    logged = [row for row in run.read_jsonl("metrics.jsonl") if "loss" in row]
    assert logged and all(math.isfinite(float(row["loss"])) for row in logged)
    before, after = _weights(tagged), _weights(final)
    assert any(not (before[n] == after[n]).all() for n in before)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["seen", "unseen"])
def test_one_grpo_step_with_the_engine(tagged, tmp_path, variant, monkeypatch):
    real = rewards.make_reward

    def make(kind, **kwargs):
        reward = real(kind, **kwargs)

        def varied(prompts, completions, **kw):  # random tiny-model text is always wrong: add a length spread
            exact = reward(prompts, completions, **kw)
            return [e + len(kw["tagged_completions"][i]) / 100 for i, e in enumerate(exact)]

        varied.__name__ = reward.__name__
        return varied

    monkeypatch.setattr(rewards, "make_reward", make)
    cfg = _config(tagged, variant)
    run = RunDir(tmp_path / "rl", package="parallel-r1")
    out = run_rl(cfg, cfg.rl[0], run, records=load_problems("sample", limit=2))
    logged = [row for row in run.read_jsonl("metrics.jsonl") if "loss" in row]
    assert logged and math.isfinite(float(logged[0]["loss"]))
    assert "parallel/ratio" in logged[0] and "parallel/format_ok" in logged[0]
    before, after = _weights(tagged), _weights(out)
    assert any(not (before[n] == after[n]).all() for n in before)


@pytest.mark.slow
def test_unseen_override_matches_trl_without_blocks_and_isolates_paths(tagged, tmp_path):
    import torch
    from datasets import Dataset
    from trl import GRPOTrainer

    from parallel_r1.trainer import ParallelGRPOTrainer
    from rlcore.models import load_model
    from rlcore.train import grpo_config

    model, tokenizer = load_model(tagged)
    args = grpo_config(
        output_dir=str(tmp_path / "o"),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        max_steps=1,
        report_to=[],
    )
    trainer = ParallelGRPOTrainer(
        model=model,
        reward_funcs=[lambda prompts, completions, **k: [0.0] * len(completions)],
        args=args,
        train_dataset=Dataset.from_list([{"prompt": "hi"}] * 2),
        processing_class=tokenizer,
        variant="unseen",
    )
    tags = trainer.tags
    plain = tokenizer.encode("a b c d e f", add_special_tokens=False)[:6]
    ids = torch.tensor([plain, plain])
    mask = torch.ones_like(ids)
    ours, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, 3)
    theirs, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(trainer, trainer.model, ids, mask, 3)
    assert torch.allclose(ours, theirs, atol=1e-5)
    # prompt, <Parallel> <Path> x </Path> <Path> y y </Path>: path 2's log-probs equal the sequence without path 1
    x, y = plain[0], plain[1]
    full = [
        plain[2],
        plain[3],
        tags.parallel_open,
        tags.path_open,
        x,
        tags.path_close,
        tags.path_open,
        y,
        y,
        tags.path_close,
    ]
    short = [plain[2], plain[3], tags.parallel_open, tags.path_open, y, y, tags.path_close]
    a, _, _ = trainer._get_per_token_logps_and_entropies(
        trainer.model, torch.tensor([full]), torch.ones(1, 10, dtype=torch.long), 8
    )
    b, _, _ = trainer._get_per_token_logps_and_entropies(
        trainer.model, torch.tensor([short]), torch.ones(1, 7, dtype=torch.long), 5
    )
    assert torch.allclose(a[0, -3:], b[0, -3:], atol=1e-5)


@pytest.mark.slow
def test_one_grpo_step_under_two_cpu_processes(tagged, tmp_path):
    import json
    from pathlib import Path

    from rlcore.testing import launch_cpu_processes

    script = Path(__file__).with_name("grpo_two_process.py")
    proc = launch_cpu_processes(script, tagged, tmp_path, timeout=480)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2], "two processes ran as one job"
    assert ranks[0]["checksum"] == ranks[1]["checksum"]
    before = float(sum(p.double().sum() for p in _weights(tagged).values()))
    assert round(before, 6) != ranks[0]["checksum"]
