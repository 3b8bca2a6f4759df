"""Training glue (spec 3, 6): the TRL config mapping, the multi-reward per-token loss against the pure
definition, the k3 clamp, image bounds, and one GRPO step per method and policy loss plus one SFT step on
the tiny VLM (parameters change, reward metrics logged, ``second_pass`` reaches ``visual_reward``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from rlcore.rewards import completion_text
from rlcore.runs import RunDir
from vision_sr1.config import RLConfig, VisionSR1Config, load_config
from vision_sr1.multireward import multi_reward_token_loss
from vision_sr1.rewards import make_reward_funcs
from vision_sr1.training import (
    KL_CLAMP,
    build_grpo_config,
    channel_clipped_loss,
    fit_pixels,
    grpo_rows,
    k3_kl,
    sft_rows,
)

RATIOS = [0.05, 0.5, 0.79, 0.8, 1.0, 1.2, 1.3, 1.31, 2.0, 2.99, 3.0, 5.0, 40.0]
ADVANTAGES = [-2.0, -1.0, -0.3, 0.0, 0.4, 1.0, 1.7]


def test_channel_loss_equals_the_pure_definition_on_a_grid():
    pairs = [(a1, a2) for a1 in ADVANTAGES for a2 in ADVANTAGES]
    ratio = torch.tensor([RATIOS] * len(pairs), dtype=torch.float64)
    adv = torch.tensor(pairs, dtype=torch.float64)
    got = channel_clipped_loss(ratio, adv, clip_low=0.2, clip_high=0.3, dual_clip=3.0)
    for i, (a1, a2) in enumerate(pairs):
        for j, r in enumerate(RATIOS):
            assert got[i, j].item() == pytest.approx(multi_reward_token_loss(math.log(r), [a1, a2]), abs=1e-9)


def test_clipping_worked_examples_and_single_channel_is_trl():
    ratio = torch.tensor([[1.5], [5.0]])
    got = channel_clipped_loss(
        ratio, torch.tensor([[1.0], [-1.0]]), clip_low=0.2, clip_high=0.3, dual_clip=3.0
    )
    assert got[:, 0].tolist() == pytest.approx([-1.3, 3.0])
    r = torch.tensor([RATIOS], dtype=torch.float64).repeat(len(ADVANTAGES), 1)
    a = torch.tensor(ADVANTAGES, dtype=torch.float64).unsqueeze(1)
    trl = -torch.min(torch.clamp(r, max=3.0) * a, torch.clamp(r, 0.8, 1.3) * a)  # TRL with delta=3.0
    assert torch.allclose(channel_clipped_loss(r, a, clip_low=0.2, clip_high=0.3, dual_clip=3.0), trl)


@pytest.mark.slow  # builds the TRL subclass (imports trl)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_multi_reward_trainer_loss_equals_the_pure_definition(mode):
    """The trainer's multi-reward loss, token by token against ``multi_reward_token_loss`` (same ratio for every
    channel, summed), plus β·k3 KL added once and clamped to [−10, 10], with TRL's dapo normalisation: the sum
    over completion tokens divided by the generation batch's token count, rescaled to one accumulation window."""
    from collections import defaultdict
    from types import SimpleNamespace

    from vision_sr1.training import VisionSR1GRPOTrainer

    generator = torch.Generator().manual_seed(0)
    B, T = 3, 5
    logps = -1.0 + 0.3 * torch.randn(B, T, generator=generator, dtype=torch.float64)
    old = logps + torch.tensor(
        [[0.0, 0.4, -0.5, 1.6, -0.05]] * B, dtype=torch.float64
    )  # r = 1, 1.5, 0.6, 5, ..
    ref = logps + torch.tensor([[0.0, 3.0, -1.0, 0.5, 2.0]] * B, dtype=torch.float64)  # k3(3.0) = 16.1 > 10
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 1, 1, 0]])
    advantages = torch.tensor([[0.8, -1.2], [-0.4, 0.0], [1.5, 0.7]], dtype=torch.float64)
    trainer = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (
            logps.clone().requires_grad_(),
            torch.ones(B, T),
            None,
        ),
        epsilon_low=0.2,
        epsilon_high=0.3,
        args=SimpleNamespace(delta=3.0, steps_per_generation=4),
        use_vllm=False,
        vllm_importance_sampling_correction=False,
        model=SimpleNamespace(training=mode == "train"),
        beta=0.01,
        kl_clamp=KL_CLAMP,
        accelerator=SimpleNamespace(num_processes=2, reduce=lambda t, reduction: t),
        current_gradient_accumulation_steps=2,
        _metrics=defaultdict(lambda: defaultdict(list)),
    )
    inputs = {
        "prompt_ids": torch.zeros(B, 2, dtype=torch.long),
        "prompt_mask": torch.ones(B, 2, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": mask,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "channel_advantages": advantages,
        "num_items_in_batch": torch.tensor(40.0),
    }
    loss = VisionSR1GRPOTrainer._multi_reward_loss(trainer, None, inputs)

    total = 0.0
    for b in range(B):
        for t in range(T):
            if not mask[b, t]:
                continue
            log_ratio = (logps[b, t] - old[b, t]).item()
            d = (ref[b, t] - logps[b, t]).item()
            kl = min(math.exp(d) - d - 1, 10.0)
            total += multi_reward_token_loss(log_ratio, advantages[b].tolist()) + 0.01 * kl
    # dapo: num_items_in_batch / num_processes, times accumulation steps / steps_per_generation in training
    normalizer = 40.0 / 2 * (2 / 4 if mode == "train" else 1.0)
    assert loss.item() == pytest.approx(total / normalizer, abs=1e-9)
    loss.backward()  # differentiable through the log-probs
    metrics = trainer._metrics[mode]
    kl_mean = (
        sum(min(math.exp(d) - d - 1, 10.0) for d in (ref - logps)[mask.bool()].tolist()) / mask.sum().item()
    )
    assert metrics["kl"] == [pytest.approx(kl_mean, abs=1e-9)]
    assert metrics["entropy"] == [pytest.approx(1.0)] and len(metrics["clip_ratio/region_mean"]) == 1


def test_k3_kl_and_its_clamp():
    logp = torch.tensor([-1.0, -20.0, -0.5])
    ref = torch.tensor([-1.0, -0.1, -2.0])
    raw = k3_kl(logp, ref, clamp=None)
    assert raw[0].item() == 0.0
    d = -0.1 + 20.0
    assert raw[1].item() == pytest.approx(math.exp(d) - d - 1, rel=1e-5)
    clamped = k3_kl(logp, ref)
    assert clamped[1].item() == KL_CLAMP == 10.0
    assert clamped[2].item() == pytest.approx(math.exp(-1.5) + 1.5 - 1, rel=1e-6)  # under the clamp


def test_fit_pixels_keeps_the_aspect_ratio_within_bounds():
    small = Image.new("L", (56, 28))
    up = fit_pixels(small, 6272, 100_000)
    assert up.mode == "RGB" and up.size[0] == 2 * up.size[1] and up.size[0] * up.size[1] >= 6272
    big = fit_pixels(Image.new("RGB", (400, 200)), 1, 20_000)
    assert big.size[0] * big.size[1] <= 20_000 and abs(big.size[0] / big.size[1] - 2) < 0.05
    same = Image.new("RGB", (56, 56))
    assert fit_pixels(same, 1, 10_000) is same


def test_grpo_config_maps_the_paper_recipe():
    config = build_grpo_config(VisionSR1Config(), "/tmp/unused", world_size=8)
    assert (config.epsilon, config.epsilon_high, config.delta, config.beta) == (0.2, 0.3, 3.0, 0.01)
    assert config.use_bias_correction_kl is False
    assert (config.loss_type, config.scale_rewards, config.num_iterations) == ("dapo", "group", 1)
    assert (config.temperature, config.top_p, config.max_completion_length) == (1.0, 0.99, 2048)
    assert (config.learning_rate, config.weight_decay, config.max_grad_norm) == (1e-6, 0.01, 1.0)
    assert config.lr_scheduler_type == "constant" and config.warmup_steps == 0
    assert config.num_generations == 8 and config.generation_batch_size == 4096
    assert config.per_device_train_batch_size == 8 and config.gradient_accumulation_steps == 16
    assert config.remove_unused_columns is False
    assert config.save_steps == 15 * 4  # save_every counts rollout steps, each 4 optimizer updates


def test_grpo_rows_use_the_method_style_and_fill_nothing_yet():
    record = {"id": "x", "problem": "How many?<image>", "answer": 2, "images": [Image.new("RGB", (56, 56))]}
    row = grpo_rows([record], RLConfig(min_pixels=3136))[0]
    assert row["answer"] == "2" and row["id"] == "x" and len(row["images"]) == 1
    blocks = row["prompt"][0]["content"]
    assert blocks[0] == {"type": "text", "text": "How many?"} and blocks[1] == {"type": "image"}
    assert "<description>" in blocks[2]["text"]
    cot = grpo_rows([record], RLConfig(method="vision_r1", min_pixels=3136))[0]
    assert "<description>" not in cot["prompt"][0]["content"][2]["text"]


def test_sft_rows_split_prompt_and_completion():
    record = {
        "messages": [
            {"role": "user", "content": "Text description: d"},
            {"role": "assistant", "content": "\\boxed{1}"},
        ],
        "images": [],
    }
    (row,) = sft_rows([record], 3136)
    assert row["prompt"] == [{"role": "user", "content": [{"type": "text", "text": "Text description: d"}]}]
    assert row["completion"] == [{"role": "assistant", "content": [{"type": "text", "text": "\\boxed{1}"}]}]
    with pytest.raises(ValueError, match="record 0"):
        sft_rows([{"messages": record["messages"][:1], "images": []}], 3136)


@pytest.mark.slow
def test_prompt_length_filter_is_exact_at_the_limit(tiny_vlm):
    from vision_sr1.selfreward import prompt_token_ids
    from vision_sr1.training import _prompt_fits

    _, processor = tiny_vlm
    image = Image.new("RGB", (112, 56), (200, 10, 10))
    row = grpo_rows([{"problem": "How many?", "answer": "1", "images": [image]}], RLConfig(min_pixels=3136))[
        0
    ]
    filled = [
        {
            **row["prompt"][0],
            "content": [
                b if b["type"] != "image" else {"type": "image", "image": image}
                for b in row["prompt"][0]["content"]
            ],
        }
    ]
    exact = len(prompt_token_ids(processor, [filled])[0])
    assert _prompt_fits(processor, row, exact) and not _prompt_fits(processor, row, exact - 1)
    assert _prompt_fits(processor, row, exact + 1000)


# -- one step on the tiny VLM ---------------------------------------------------------------------------------

STEP = [
    "rl.group_size=4",
    "rl.prompts_per_step=2",
    "rl.prompts_per_update=2",
    "rl.per_device_train_batch_size=8",
    "rl.max_steps=1",
    "rl.learning_rate=0.01",
    "rl.max_response_length=12",
    "rl.second_pass_max_tokens=6",
    "rl.min_pixels=3136",
    "rl.max_pixels=3136",
    "rl.save_every=0",
    "rl.missing_description=official",
    "rl.eval_every=1",
    "eval.max_new_tokens=4",
]


def _spread(funcs, seen):
    """Wrap each reward to record its kwargs and add a length-based spread, so a random model's constant
    rewards still give non-zero advantages."""

    def wrap(f):
        def reward(prompts, completions, **kwargs):
            seen.setdefault(f.__name__, []).append(kwargs)
            out = f(prompts, completions, **kwargs)
            return [
                None if v is None else v + len(completion_text(c)) / 100
                for v, c in zip(out, completions, strict=True)
            ]

        reward.__name__ = f.__name__
        return reward

    return [wrap(f) for f in funcs]


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, loss",
    [
        ("vision_sr1", "single_reward"),
        ("vision_sr1", "multi_reward"),
        ("see_think", "single_reward"),
        ("vision_r1", "single_reward"),
    ],
)
def test_one_grpo_step(tmp_path, tiny_vlm, method, loss):
    from vision_sr1.data import bundled_records
    from vision_sr1.training import train

    cfg = load_config(None, [*STEP, f"rl.method={method}", f"rl.policy_loss={loss}"])
    model, processor = tiny_vlm
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    funcs, weights = make_reward_funcs(cfg.rl)
    seen: dict = {}
    run = RunDir(tmp_path / "run", package="vision-sr1")
    result = train(
        cfg,
        bundled_records("train")[:4],
        run,
        model=(model, processor),
        reward_funcs=(_spread(funcs, seen), weights),
        output_dir=tmp_path / "out",
        validation=bundled_records("eval")[:2] if loss == "single_reward" else None,
    )
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p)]
    assert len(changed) == len(before)
    row = next(r for r in result.metrics if "loss" in r)
    assert "rewards/accuracy_reward/mean" in row and math.isfinite(row["loss"])
    assert row["kl"] >= 0 and "time/update" in row
    samples = run.read_jsonl("samples.jsonl")
    assert len(samples) == 8 and {s["id"] for s in samples} <= {r["id"] for r in bundled_records("train")[:4]}
    if method == "vision_sr1":
        second = next(kw["second_pass"] for kw in seen["visual_reward"])
        assert len(second) == 8 and all(isinstance(t, str) for t in second)
        assert "rewards/visual_reward/mean" in row and "self_reward/visual_mean" in row
        assert row["self_reward/skipped_frac"] == 0.0 and "time/gen_second" in row
        assert [s["second_pass"] for s in samples] and all(s["second_pass"] is not None for s in samples)
    else:
        assert "visual_reward" not in seen and "self_reward/skipped_frac" not in row
    if loss == "multi_reward":
        assert "multi_reward/accuracy/adv_std" in row and "multi_reward/visual/adv_std" in row
        assert set(samples[0]["advantages"]) == {"accuracy", "visual"} and "R" not in samples[0]
    else:
        r = samples[0]
        w = dict(zip(["acc", "fmt", "vis"], [*weights, 0.0], strict=False))
        expected = w["acc"] * r["r_acc"] + w["fmt"] * r["r_fmt"] + w["vis"] * (r["r_vis"] or 0.0)
        assert r["R"] == pytest.approx(expected, abs=1e-6)
    logged = [json.loads(line) for line in Path(run.file("metrics.jsonl")).read_text().splitlines()]
    assert logged[0]["step"] == 1
    if loss == "single_reward":  # validation every rollout step (rl.eval_every=1), greedy, both passes
        (val,) = [r for r in logged if "val/accuracy" in r]
        assert val["val/n"] == 2 and val["step"] == 1


@pytest.mark.slow
def test_one_sft_step_freezes_the_vision_tower(tmp_path, tiny_vlm):
    from vision_sr1.data import bundled_records
    from vision_sr1.training import sft

    cfg = load_config(
        None,
        ["sft.max_steps=1", "sft.learning_rate=0.01", "sft.per_device_batch_size=6", "sft.gradient_accumulation_steps=1",
         "sft.warmup_ratio=0", "sft.max_length=1024", "sft.image_max_pixels=3136"],
    )  # fmt: skip
    model, processor = tiny_vlm
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    records = bundled_records("cold_start")[:6]  # see_think, cot and text rows of two scenes
    assert {r["variant"] for r in records} == {"see_think", "cot", "text"}
    result = sft(cfg, records, model=(model, processor), output_dir=tmp_path / "final")
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert changed and not any("visual" in n for n in changed)
    assert all(n in changed for n in before if "visual" not in n and "lm_head" not in n)
    assert result.global_step == 1 and math.isfinite(result.metrics[0]["loss"])
    assert (tmp_path / "final" / "config.json").exists()


@pytest.mark.slow
def test_killed_sft_run_resumes_from_its_last_checkpoint(tmp_path):
    from vision_sr1.data import bundled_records
    from vision_sr1.training import sft

    base = ["sft.learning_rate=0.01", "sft.per_device_batch_size=3", "sft.gradient_accumulation_steps=1",
            "sft.warmup_ratio=0", "sft.max_length=1024", "sft.image_max_pixels=3136", "sft.save_every=1"]  # fmt: skip
    records = bundled_records("cold_start")[:6]
    out = tmp_path / "final"
    first = sft(
        load_config(None, [*base, "sft.max_steps=1"]), records, model="tiny:qwen2.5-vl", output_dir=out
    )
    assert first.global_step == 1 and (out / "checkpoint-1").is_dir()
    # the longer run is "killed" after step 1: rerunning on the same folder continues from checkpoint-1
    second = sft(
        load_config(None, [*base, "sft.max_steps=2"]), records, model="tiny:qwen2.5-vl", output_dir=out
    )
    assert second.global_step == 2
    assert [r["step"] for r in second.metrics if "loss" in r] == [2]  # step 1 was not trained again
    assert (out / "checkpoint-2").is_dir() and not (out / "checkpoint-1").exists()  # only the latest is kept


@pytest.mark.slow
def test_one_grpo_step_under_two_cpu_processes(tmp_path):
    from rlcore.testing import launch_cpu_processes

    script = Path(__file__).with_name("grpo_two_process.py")
    proc = launch_cpu_processes(script, str(tmp_path), timeout=480)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["second_pass_calls"] >= 1 and ranks[1]["second_pass_calls"] >= 1  # both ranks rolled out
    assert ranks[0]["checksum"] == ranks[1]["checksum"] != ranks[0]["initial_checksum"]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 1
