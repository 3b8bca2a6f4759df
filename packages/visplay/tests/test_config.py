"""Config defaults (spec §3), validation that names the key and the file, every recipe, the GRPO mapping."""

from pathlib import Path

import pytest

from rlcore.config import ConfigError
from visplay.config import Config, VisPlayConfig, load_config

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def test_defaults_are_the_paper_3b_setting():
    cfg = load_config()
    assert Config is VisPlayConfig
    assert (cfg.model, cfg.images, cfg.image_column) == (
        "Qwen/Qwen2.5-VL-3B-Instruct",
        "LMMs-Lab-Turtle/Vision-SR1-47K",
        "images",
    )
    assert (cfg.iterations, cfg.seed, cfg.image_resize, cfg.image_size) == (3, 0, "fixed", 224)
    assert (cfg.min_pixels, cfg.max_pixels, cfg.format_warmup_steps) == (262144, 4194304, 0)
    q = cfg.questioner
    assert (q.question_format, q.steps, q.group_size, q.images_per_step, q.images_per_update) == (
        "question",
        20,
        8,
        512,
        128,
    )
    assert (q.max_new_tokens, q.temperature, q.top_p) == (2048, 1.0, 0.99)
    r = cfg.reasoner
    assert (r.reward_mode, r.steps, r.group_size, r.questions_per_step, r.questions_per_update) == (
        "paper",
        20,
        8,
        512,
        128,
    )
    assert r.max_new_tokens == 4096
    w = cfg.reward
    assert (w.mode, w.diversity_scope, w.diversity_weight, w.bleu_threshold) == ("paper", "image", 1.0, 0.5)
    assert (w.num_reasoner_samples, w.reasoner_prompt) == (10, "reasoning")
    assert (w.reasoner_max_new_tokens, w.reasoner_temperature, w.reasoner_top_p, w.reasoner_top_k) == (
        4096,
        1.0,
        1.0,
        40,
    )
    c = cfg.curation
    assert (c.num_images, c.questions_per_image, c.image_selection, c.num_reasoner_samples) == (
        1000,
        8,
        "random",
        10,
    )
    assert (c.tau_low, c.tau_high, c.budget, c.temperature, c.top_p) == (0.25, 0.75, None, 1.0, 0.95)
    o = cfg.optim
    assert (o.learning_rate, o.weight_decay, o.max_grad_norm, o.kl_coef) == (1e-6, 0.01, 1.0, 0.01)
    assert (o.clip_low, o.clip_high, o.dual_clip, o.freeze_vision_tower) == (0.2, 0.3, 3.0, False)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_recipe_validates(recipe):
    cfg = load_config(recipe)
    assert isinstance(cfg, VisPlayConfig)
    for role in ("questioner", "reasoner"):
        assert cfg.grpo_args(role, world_size=1)["num_generations"] >= 2


def test_the_recipes_say_what_the_spec_says():
    names = {p.name for p in RECIPES}
    assert {"toy.yaml", "paper.yaml", "paper-7b.yaml"} <= names
    toy = load_config(RECIPES[[p.name for p in RECIPES].index("toy.yaml")])
    assert (toy.model, toy.images, toy.iterations, toy.image_size, toy.format_warmup_steps) == (
        "tiny:qwen2.5-vl",
        "sample",
        2,
        56,
        40,
    )
    q, r = toy.questioner, toy.reasoner
    assert (q.steps, q.images_per_step, q.group_size, q.max_new_tokens) == (2, 4, 4, 32)
    assert (r.steps, r.questions_per_step, r.group_size, r.max_new_tokens) == (2, 4, 4, 24)
    assert toy.reward.num_reasoner_samples == 4 == toy.curation.num_reasoner_samples
    assert (toy.curation.num_images, toy.curation.questions_per_image) == (8, 4)
    assert toy.evaluation.benchmarks == ["sample"]
    paper = load_config(RECIPES[[p.name for p in RECIPES].index("paper.yaml")])
    assert paper.model == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert (paper.questioner.steps, paper.reasoner.steps) == (20, 20)
    big = load_config(RECIPES[[p.name for p in RECIPES].index("paper-7b.yaml")])
    assert big.model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert (big.questioner.steps, big.reasoner.steps) == (10, 10)


# What paper.yaml may set beyond spec §3: how the GPU run is executed, not what it computes.
GPU_KNOBS = {
    "backend", "generation_batch_size", "optim.bf16", "optim.gradient_checkpointing", "optim.use_vllm",
    "evaluation.batch_size",
}  # fmt: skip


def _flat(cfg) -> dict:
    from rlcore.config import config_to_dict

    out = {}
    for key, value in config_to_dict(cfg).items():
        if isinstance(value, dict):
            out.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            out[key] = value
    return out


def test_paper_recipes_hold_the_section_3_defaults():
    by_name = {p.name: p for p in RECIPES}
    defaults, paper = _flat(load_config()), _flat(load_config(by_name["paper.yaml"]))
    differs = {key for key in defaults if paper[key] != defaults[key]}
    assert differs <= GPU_KNOBS, differs
    big = _flat(load_config(by_name["paper-7b.yaml"]))
    assert {key for key in paper if big[key] != paper[key]} == {"model", "questioner.steps", "reasoner.steps"}


@pytest.mark.parametrize(
    "override, key",
    [
        ("questioner.group_size=1", "questioner.group_size"),
        ("reasoner.group_size=1", "reasoner.group_size"),
        ("reward.num_reasoner_samples=0", "reward.num_reasoner_samples"),
        ("curation.num_reasoner_samples=0", "curation.num_reasoner_samples"),
        ("reward.bleu_threshold=0", "reward.bleu_threshold"),
        ("reward.bleu_threshold=1.5", "reward.bleu_threshold"),
        ("curation.tau_low=0.8", "curation.tau_low"),
        ("curation.tau_high=1.2", "curation.tau_high"),
        ("curation.tau_low=-0.1", "curation.tau_low"),
        ("iterations=0", "iterations"),
        ("questioner.question_format=free", "questioner.question_format"),
        ("reasoner.reward_mode=soft", "reasoner.reward_mode"),
        ("reward.mode=soft", "reward.mode"),
        ("reward.diversity_scope=step", "reward.diversity_scope"),
        ("reward.reasoner_prompt=short", "reward.reasoner_prompt"),
        ("curation.image_selection=last", "curation.image_selection"),
        ("image_resize=crop", "image_resize"),
        ("questioner.images_per_update=100", "questioner.images_per_step"),
        ("curation.budget=-1", "curation.budget"),
        ("questioner.steps=two", "questioner.steps"),
        ("optim.learning_rate=fast", "optim.learning_rate"),
        ("torch_threads=0", "torch_threads"),
        ("questioner.nope=1", "questioner.nope"),
    ],
)
def test_invalid_values_name_the_key_and_the_file(tmp_path, override, key):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("seed: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(recipe, [override])
    assert key in str(info.value) and str(recipe) in str(info.value)


def test_a_bad_recipe_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("questioner: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("reward:\n  lambda: 2\n")
    with pytest.raises(ConfigError, match=r"reward\.lambda.*unknown\.yaml"):
        load_config(unknown)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")


def test_grpo_mapping_of_the_paper_defaults():
    args = load_config().grpo_args("questioner", world_size=1)
    # 512 images x G 8 per rollout step, 128 x 8 completions per update: 4 updates per step, 80 in 20 steps.
    assert args["num_generations"] == 8
    assert args["generation_batch_size"] == 512 * 8
    assert args["per_device_train_batch_size"] * args["gradient_accumulation_steps"] == 128 * 8
    assert args["max_steps"] == 20 * 4
    expected = {
        "beta": 0.01,
        "use_bias_correction_kl": False,
        "epsilon": 0.2,
        "epsilon_high": 0.3,
        "delta": 3.0,
        "loss_type": "dapo",
        "scale_rewards": "group",
        "num_iterations": 1,
        "temperature": 1.0,
        "top_p": 0.99,
        "max_completion_length": 2048,
        "learning_rate": 1e-6,
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "remove_unused_columns": False,
    }
    assert {key: args[key] for key in expected} == expected
    reasoner = load_config(overrides=["reasoner.steps=3", "reasoner.questions_per_update=256"]).grpo_args(
        "reasoner", world_size=2
    )
    assert reasoner["max_completion_length"] == 4096
    assert reasoner["max_steps"] == 3 * 2
    assert reasoner["gradient_accumulation_steps"] * 2 * reasoner["per_device_train_batch_size"] == 256 * 8
    with pytest.raises(ValueError, match="role"):
        load_config().grpo_args("critic")


def test_the_mapping_builds_a_trl_config(tmp_path):
    from rlcore.train import grpo_config

    cfg = load_config(RECIPES[[p.name for p in RECIPES].index("toy.yaml")])
    trl_config = grpo_config(output_dir=str(tmp_path), **cfg.grpo_args("questioner", world_size=1))
    assert (trl_config.beta, trl_config.epsilon_high, trl_config.delta) == (0.01, 0.3, 3.0)
    assert trl_config.use_bias_correction_kl is False and trl_config.remove_unused_columns is False
    assert (trl_config.num_generations, trl_config.generation_batch_size, trl_config.max_steps) == (4, 16, 2)
