"""Config defaults (spec section 3), validation (2.7) and every recipe."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from rlcore.config import ConfigError
from vision_sr1.config import (
    ColdStartConfig,
    Config,
    DataConfig,
    EvalConfig,
    RLConfig,
    VisionSR1Config,
    load_config,
)

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))


def test_rl_defaults_are_the_official_7b_recipe():
    rl = RLConfig()
    assert rl.model == "LMMs-Lab-Turtle/Qwen-2.5VL-7B-Cold-Start"
    assert (rl.method, rl.policy_loss, rl.missing_description) == ("vision_sr1", "single_reward", "strict")
    assert (rl.accuracy_weight, rl.format_weight, rl.visual_weight) == (0.9, 0.1, 1.0)
    assert rl.multi_reward_weights == {"accuracy": 1.0, "visual": 1.0}
    assert (rl.group_size, rl.prompts_per_step, rl.prompts_per_update, rl.epochs) == (8, 512, 128, 1.0)
    assert (rl.learning_rate, rl.weight_decay, rl.max_grad_norm) == (1e-6, 0.01, 1.0)
    assert (rl.temperature, rl.top_p, rl.max_response_length, rl.max_prompt_length) == (
        1.0,
        0.99,
        2048,
        12800,
    )
    assert (rl.second_pass_temperature, rl.second_pass_top_p, rl.second_pass_max_tokens) == (None, None, None)
    assert (rl.kl_coef, rl.clip_low, rl.clip_high, rl.dual_clip, rl.adv_eps) == (0.01, 0.2, 0.3, 3.0, 1e-4)
    assert rl.freeze_vision_tower is False
    assert (rl.min_pixels, rl.max_pixels, rl.eval_every, rl.save_every) == (262144, 4194304, 5, 15)
    assert rl.generation_backend == "hf"


def test_cold_start_eval_data_and_top_level_defaults():
    s = ColdStartConfig()
    assert s.model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert (s.learning_rate, s.epochs, s.lr_scheduler, s.warmup_ratio) == (1e-5, 3.0, "cosine", 0.1)
    assert (s.per_device_batch_size, s.gradient_accumulation_steps, s.max_length) == (8, 2, 4092)
    assert s.freeze_vision_tower is True and s.image_max_pixels == 262144
    assert s.variants == ("see_think", "cot", "text") and s.save_every == 500
    e = EvalConfig()
    assert (e.prompt_style, e.temperature, e.max_new_tokens) == ("see_think", 0.0, 2048)
    assert (e.perception_model, e.judge, e.judge_rule) == (None, None, "strict")
    d = DataConfig()
    assert (d.train, d.cold_start, d.validation) == (
        "LMMs-Lab-Turtle/Vision-SR1-47K",
        "LMMs-Lab-Turtle/Vision-SR1-Cold-9K",
        "zli12321/mmstar",
    )
    assert (d.problem_key, d.answer_key, d.image_key) == ("problem", "answer", "images")
    top = VisionSR1Config()
    assert top.seed == 1 and Config is VisionSR1Config
    assert (
        isinstance(top.sft, ColdStartConfig)
        and isinstance(top.rl, RLConfig)
        and isinstance(top.eval, EvalConfig)
    )


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"method": "grpo"}, "rl.method"),
        ({"policy_loss": "sum"}, "rl.policy_loss"),
        ({"missing_description": "lenient"}, "rl.missing_description"),
        ({"group_size": 1}, "rl.group_size"),
        ({"prompts_per_step": 512, "prompts_per_update": 100}, "rl.prompts_per_step"),
        ({"multi_reward_weights": {}}, "rl.multi_reward_weights"),
        ({"multi_reward_weights": {"accuracy": 1.0, "length": 1.0}}, "rl.multi_reward_weights"),
        ({"multi_reward_weights": {"accuracy": 1.0, "visual": -0.5}}, "rl.multi_reward_weights.visual"),
        ({"policy_loss": "multi_reward", "method": "see_think"}, "rl.policy_loss"),
        ({"policy_loss": "multi_reward", "method": "vision_r1"}, "rl.policy_loss"),
        ({"generation_backend": "sglang"}, "rl.generation_backend"),
        ({"dual_clip": 1.2}, "rl.dual_clip"),
        ({"top_p": 0.0}, "rl.top_p"),
        ({"second_pass_max_tokens": 0}, "rl.second_pass_max_tokens"),
    ],
)
def test_rl_validation_names_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        RLConfig(**kwargs)


def test_enum_errors_list_the_allowed_values():
    with pytest.raises(ConfigError) as info:
        RLConfig(method="grpo")
    assert all(v in str(info.value) for v in ("vision_sr1", "see_think", "vision_r1"))


def test_multi_reward_with_format_channel_is_valid():
    rl = RLConfig(
        policy_loss="multi_reward", multi_reward_weights={"accuracy": 1, "visual": 1, "format": 0.1}
    )
    assert rl.multi_reward_weights["format"] == 0.1


@pytest.mark.parametrize(
    "cls, kwargs, field",
    [
        (EvalConfig, {"prompt_style": "plain"}, "eval.prompt_style"),
        (EvalConfig, {"judge_rule": "lenient"}, "eval.judge_rule"),
        (EvalConfig, {"limit": 0}, "eval.limit"),
        (EvalConfig, {"judge": "http://localhost:8000"}, "eval.judge"),
        (ColdStartConfig, {"variants": ("see_think", "poem")}, "sft.variants"),
        (ColdStartConfig, {"warmup_ratio": 1.5}, "sft.warmup_ratio"),
        (ColdStartConfig, {"save_every": -1}, "sft.save_every"),
        (DataConfig, {"limit": 0}, "data.limit"),
    ],
)
def test_other_sections_validate(cls, kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        cls(**kwargs)


def test_load_config_overrides_and_errors(tmp_path):
    cfg = load_config(None, ["rl.policy_loss=multi_reward", "rl.group_size=4", "seed=3"])
    assert (cfg.rl.policy_loss, cfg.rl.group_size, cfg.seed) == ("multi_reward", 4, 3)
    with pytest.raises(ConfigError, match="rl.bogus"):
        load_config(None, ["rl.bogus=1"])
    with pytest.raises(ConfigError, match="rl.group_size"):
        load_config(None, ["rl.group_size=many"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("rl:\n  method: vision_r1\n  policy_loss: multi_reward\n")
    with pytest.raises(ConfigError, match="r.yaml"):
        load_config(recipe)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_every_recipe_loads(recipe):
    assert isinstance(load_config(recipe), VisionSR1Config)


def test_paper_recipes_keep_every_default_but_the_gpu_settings():
    names = {r.name for r in RECIPES}
    assert {"toy.yaml", "paper.yaml", "paper_3b.yaml"} <= names
    paper = load_config(Path(__file__).parents[1] / "recipes" / "paper.yaml")
    gpu = {"generation_backend", "gradient_checkpointing", "bf16"}
    default = asdict(RLConfig())
    assert {k: v for k, v in asdict(paper.rl).items() if k not in gpu} == {
        k: v for k, v in default.items() if k not in gpu
    }
    assert paper.rl.generation_backend == "vllm"
    small = load_config(Path(__file__).parents[1] / "recipes" / "paper_3b.yaml")
    assert small.rl.model == "LMMs-Lab-Turtle/Qwen-2.5VL-3B-Cold-Start"
    assert small.sft.model == "Qwen/Qwen2.5-VL-3B-Instruct"
