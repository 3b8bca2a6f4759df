"""GRPO arithmetic (exact numbers) and the TRL runners on tiny models (smoke + parameter-change checks)."""

import json
from pathlib import Path

import pytest

from rlcore.config import ConfigError
from rlcore.testing import launch_cpu_processes
from rlcore.train import group_advantages, grpo_batch_args

# -- pure functions -----------------------------------------------------------------------------------


def test_group_advantages_exact():
    # group [1, 0, 0, 1]: mean .5, Bessel std sqrt(1/3) = 0.57735
    adv = group_advantages([1, 0, 0, 1, 2, 2, 2, 2], 4)
    s = (1 / 3) ** 0.5
    assert adv[:4] == pytest.approx(
        [0.5 / (s + 1e-4), -0.5 / (s + 1e-4), -0.5 / (s + 1e-4), 0.5 / (s + 1e-4)]
    )
    assert adv[4:] == [0.0, 0.0, 0.0, 0.0]
    assert group_advantages([3.0, 1.0], 2, scale="none") == [1.0, -1.0]
    assert group_advantages([5.0, 7.0], 1) == [0.0, 0.0]
    # batch scale: the std of all eight rewards
    import statistics

    batch = [1, 0, 0, 1, 0, 0, 0, 4]
    sd = statistics.stdev(batch)
    out = group_advantages(batch, 4, scale="batch")
    assert out[7] == pytest.approx((4 - 1) / (sd + 1e-4))
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages([1, 2, 3, 4], 3)
    with pytest.raises(ValueError):
        group_advantages([1, 2], 2, scale="global")


def test_group_advantages_match_trl():
    import torch

    rewards = torch.tensor([0.2, 0.9, 0.4, 0.4, 1.0, 0.0, 1.0, 0.0])
    grouped = rewards.view(-1, 4)
    expected = (rewards - grouped.mean(1).repeat_interleave(4)) / (grouped.std(1).repeat_interleave(4) + 1e-4)
    assert group_advantages(rewards.tolist(), 4) == pytest.approx(expected.tolist(), abs=1e-6)


def test_grpo_batch_args_exact():
    assert grpo_batch_args(512, 128, 8, per_device_train_batch_size=8, world_size=8) == {
        "num_generations": 8,
        "generation_batch_size": 4096,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 16,
    }
    with pytest.raises(ConfigError, match="512.*100"):
        grpo_batch_args(512, 100, 8, per_device_train_batch_size=8, world_size=8)
    with pytest.raises(ConfigError, match="per_device_train_batch_size"):
        grpo_batch_args(4, 2, 3, per_device_train_batch_size=4, world_size=1)
    with pytest.raises(ConfigError, match="group_size"):
        grpo_batch_args(4, 2, 1, per_device_train_batch_size=2, world_size=1)
    assert grpo_batch_args(2, 1, 4, per_device_train_batch_size=4)["gradient_accumulation_steps"] == 1


def test_batch_args_are_accepted_by_trl(tmp_path):
    from rlcore.train import grpo_config

    cfg = grpo_config(
        output_dir=str(tmp_path), **grpo_batch_args(4, 2, 4, per_device_train_batch_size=4, world_size=1)
    )
    assert (cfg.generation_batch_size, cfg.steps_per_generation, cfg.gradient_accumulation_steps) == (
        16,
        4,
        2,
    )


def test_cpu_defaults(tmp_path):
    import torch

    from rlcore.train import grpo_config, sft_config

    cfg = grpo_config(output_dir=str(tmp_path), max_steps=1)
    assert cfg.report_to == [] or cfg.report_to == "none" or cfg.report_to == ["none"]
    if not torch.cuda.is_available():
        assert cfg.use_cpu and not cfg.bf16 and not cfg.gradient_checkpointing
    assert sft_config(output_dir=str(tmp_path)).dataloader_num_workers == 0
    with pytest.raises(ConfigError, match="max_prompt_length"):
        grpo_config(output_dir=str(tmp_path), max_prompt_length=8)


# -- GRPO / SFT on tiny models -----------------------------------------------------------------------

PROMPTS = [[{"role": "user", "content": f"What is {a} + {b}?"}] for a, b in [(1, 2), (3, 4), (5, 6), (7, 8)]]


def _snapshot(model):
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters()}


def _changed(before, model):
    """Names of the parameters that differ from ``before`` (compared on CPU: the trainer may move the model)."""
    return {n for n, p in model.named_parameters() if not (p.detach().cpu() == before[n]).all()}


def digit_reward(prompts, completions, **kwargs):
    from rlcore.rewards import completion_text

    return [sum(ch.isdigit() for ch in completion_text(c)) / 8 for c in completions]


def text_reward(prompts, completions, **kwargs):
    """Varies with the exact text, so a group of sampled completions almost never ties."""
    from rlcore.rewards import completion_text

    return [sum(map(ord, completion_text(c))) % 11 / 10 for c in completions]


def _config(tmp_path, **kw):
    from rlcore.train import grpo_config

    base = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=12,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        seed=0,
        temperature=1.0,
    )
    return grpo_config(**{**base, **kw})


def test_grpo_two_steps_changes_every_parameter(tmp_path):
    from rlcore.models import load_model
    from rlcore.train import run_grpo

    model, tok = load_model("tiny:qwen2")
    before = _snapshot(model)
    rows = [{"prompt": p, "answer": "3"} for p in PROMPTS]
    result = run_grpo((model, tok), text_reward, rows, _config(tmp_path))
    assert result.global_step == 2
    steps = [r for r in result.metrics if "loss" in r]
    assert len(steps) == 2
    for key in ("reward", "reward_std", "grad_norm", "time/generation", "time/scoring", "time/update"):
        assert key in steps[0], key
    assert steps[0]["time/generation"] > 0
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert _changed(before, model) == trainable
    assert (result.output_dir / "model.safetensors").exists()
    assert (result.output_dir / "tokenizer_config.json").exists()


def test_grpo_stop_strings_and_reference_model(tmp_path):
    """beta > 0 with an in-memory model (TRL reloads the reference from a path) and stop strings
    (which need the tokenizer bound into generate) both work through run_grpo."""
    from rlcore.train import run_grpo

    rows = [{"prompt": p} for p in PROMPTS]
    cfg = _config(tmp_path, beta=0.04, generation_kwargs={"stop_strings": ["1", "2"]})
    result = run_grpo("tiny:qwen2", digit_reward, rows, cfg)
    steps = [r for r in result.metrics if "loss" in r]
    assert "kl" in steps[0]
    assert (tmp_path / "out" / "reference-init" / "config.json").exists()


def _template(tok, messages):
    return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)


def test_grpo_rollout_func_with_env_mask(tmp_path):
    """A custom rollout: the policy writes, then an 'environment' appends tokens the loss must skip."""
    from rlcore.models import load_model, tokenizer_of
    from rlcore.rollout import SamplingParams
    from rlcore.train import policy_generator, run_grpo

    model, tok = load_model("tiny:qwen2")
    feedback = tok.encode(" [tool says 42]", add_special_tokens=False)
    seen = {}

    def rollout(prompts, trainer):
        t = tokenizer_of(trainer.processing_class)
        samples = policy_generator(trainer).generate(prompts, SamplingParams(max_new_tokens=8, seed=0))
        out = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": []}
        for prompt, (sample,) in zip(prompts, samples, strict=True):
            ids = list(sample.token_ids) + feedback
            out["prompt_ids"].append(_template(t, prompt))
            out["completion_ids"].append(ids)
            out["logprobs"].append([0.0] * len(ids))
            out["env_mask"].append([1] * len(sample.token_ids) + [0] * len(feedback))
        seen["n"] = len(prompts)
        return out

    before = _snapshot(model)
    result = run_grpo(
        (model, tok), text_reward, [{"prompt": p} for p in PROMPTS], _config(tmp_path), rollout_func=rollout
    )
    assert seen["n"] == 4  # one completion per received (already repeated) prompt
    assert any("loss" in r for r in result.metrics)
    assert _changed(before, model) == {n for n, p in model.named_parameters() if p.requires_grad}


def test_env_mask_excludes_external_tokens(tmp_path):
    """Differential check: two runs that differ only in the tokens under env_mask = 0 end with
    bitwise-identical weights (the masked span comes last, so it is context for nothing)."""
    import torch

    from rlcore.models import load_model, tokenizer_of
    from rlcore.train import run_grpo

    def run(external_token: int, sub: str):
        model, tok = load_model("tiny:qwen2")
        counter = {"i": 0}

        def rollout(prompts, trainer):
            t = tokenizer_of(trainer.processing_class)
            out = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": []}
            for prompt in prompts:
                i = counter["i"]
                counter["i"] += 1
                own = [20 + (i % 4), 30 + (i % 3), 40, 41, 42]
                ids = own + [external_token] * 3
                out["prompt_ids"].append(_template(t, prompt))
                out["completion_ids"].append(ids)
                out["logprobs"].append([0.0] * len(ids))
                out["env_mask"].append([1] * 5 + [0] * 3)
            return out

        def reward(prompts, completions, completion_ids, **kwargs):
            return [float(ids[0] + ids[1]) for ids in completion_ids]

        torch.manual_seed(0)
        run_grpo(
            (model, tok),
            reward,
            [{"prompt": p} for p in PROMPTS],
            _config(tmp_path / sub),
            rollout_func=rollout,
        )
        return {n: p.detach().clone() for n, p in model.named_parameters()}

    a, b = run(50, "a"), run(60, "b")
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_grpo_vlm_with_frozen_vision(tmp_path, tiny_images):
    from rlcore.models import load_model
    from rlcore.train import run_grpo

    model, processor = load_model("tiny:qwen2.5-vl")
    before = _snapshot(model)
    rows = [
        {
            "prompt": [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]}
            ],
            "image": img,
        }
        for img in (tiny_images * 4)[:4]
    ]
    result = run_grpo(
        (model, processor), text_reward, rows, _config(tmp_path, max_completion_length=8), freeze_vision=True
    )
    assert result.global_step == 2
    changed = _changed(before, model)
    vision = {n for n in before if "visual." in n}
    assert vision and not (changed & vision)
    assert changed == {n for n, p in model.named_parameters() if p.requires_grad}


def test_sft_messages_and_prompt_completion(tmp_path):
    from rlcore.models import load_model
    from rlcore.train import run_sft, sft_config

    def cfg(sub):
        return sft_config(
            output_dir=str(tmp_path / sub),
            max_steps=2,
            per_device_train_batch_size=2,
            learning_rate=1e-2,
            logging_steps=1,
            save_strategy="no",
            max_length=64,
        )

    model, tok = load_model("tiny:qwen2")
    before = _snapshot(model)
    chats = [
        {
            "messages": [
                {"role": "user", "content": f"{a}+{a}?"},
                {"role": "assistant", "content": f"\\boxed{{{2 * a}}}"},
            ]
        }
        for a in range(4)
    ]
    result = run_sft((model, tok), chats, cfg("chat"))
    assert result.global_step == 2 and any("loss" in r for r in result.metrics)
    assert _changed(before, model)
    assert "generation" in tok.chat_template  # assistant-only loss needs the markers

    pc = [
        {
            "prompt": [{"role": "user", "content": "1+1?"}],
            "completion": [{"role": "assistant", "content": "2"}],
        }
    ] * 4
    result = run_sft("tiny:qwen2", pc, cfg("pc"))
    assert result.global_step == 2


def test_sft_rejects_other_columns(tmp_path):
    from rlcore.train import run_sft, sft_config

    with pytest.raises(ConfigError, match="messages"):
        run_sft("tiny:qwen2", [{"text": "hi"}], sft_config(output_dir=str(tmp_path), max_steps=1))


# -- two CPU processes ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_grpo_two_cpu_processes(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` with use_cpu: both ranks train together (gloo).

    `accelerate launch --cpu --num_processes 2` would silently run one process, so each rank writes a
    report and the test checks both ranks, the world size, the distributed type and that their
    weights agree after training."""
    script = Path(__file__).with_name("grpo_two_process.py")
    proc = launch_cpu_processes(script, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in reports] == [0, 1]
    assert all(r["world_size"] == 2 and r["distributed_type"] == "MULTI_CPU" for r in reports)
    assert reports[0]["checksum"] == reports[1]["checksum"]
    assert reports[0]["steps"] == 2 and reports[0]["logged_loss"]
    assert reports[0]["generation_batch_size"] == 8


def test_grpo_resumes_from_the_last_checkpoint(tmp_path):
    """A run killed after its checkpoint continues from it: same step counter, one more step, no restart."""
    from rlcore.runs import RunDir
    from rlcore.train import run_grpo

    rows = [{"prompt": p} for p in PROMPTS]
    run = RunDir(tmp_path / "run", package="rlcore")
    out = run.path / "checkpoints"
    first = run_grpo(
        "tiny:qwen2",
        text_reward,
        rows,
        _config(tmp_path, output_dir=str(out), save_strategy="steps", save_steps=1),
    )
    assert first.global_step == 2
    last = run.last_checkpoint()
    assert last is not None and last.name == "checkpoint-2"
    resumed = run_grpo(
        "tiny:qwen2",
        text_reward,
        rows,
        _config(
            tmp_path, output_dir=str(out), max_steps=3, save_strategy="no", resume_from_checkpoint=str(last)
        ),
    )
    assert resumed.global_step == 3
    assert [r["step"] for r in resumed.metrics if "loss" in r] == [3]
