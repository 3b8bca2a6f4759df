"""Config defaults of spec §3, recipe loading, and the ConfigError cases of spec §10."""

from pathlib import Path

import pytest

from r_zero.config import RZeroConfig, load_config
from rlcore.config import ConfigError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_defaults_are_the_papers():
    c = RZeroConfig()
    assert (c.model, c.iterations, c.seed) == ("Qwen/Qwen3-4B-Base", 3, 1)
    g = c.grpo
    assert (g.learning_rate, g.weight_decay, g.kl_coef, g.clip_low, g.clip_high) == (
        1e-6,
        0.01,
        0.01,
        0.2,
        0.3,
    )
    assert (g.max_grad_norm, g.temperature, g.top_p, g.prompts_per_step) == (1.0, 1.0, 0.99, 512)
    ch = c.challenger
    assert (ch.group_size, ch.global_batch, ch.max_steps, ch.max_new_tokens) == (4, 128, 5, 4096)
    assert (ch.bleu_threshold, ch.penalty_weight, ch.penalty_scope, ch.reward_form) == (
        0.5,
        1.0,
        "batch",
        "paper",
    )
    s = c.solver
    assert (s.group_size, s.global_batch, s.max_steps, s.reward_form, s.min_examples) == (
        5,
        128,
        15,
        "binary",
        1,
    )
    v = c.voting
    assert (v.num_samples, v.temperature, v.top_p, v.top_k, v.max_new_tokens, v.backend) == (
        10,
        1.0,
        1.0,
        40,
        4096,
        "hf",
    )
    cu = c.curation
    assert (cu.num_questions, cu.temperature, cu.top_p, cu.num_samples) == (8000, 1.0, 0.95, None)
    assert (cu.keep_low, cu.keep_high, cu.require_challenger_answer, cu.code_filters) == (
        0.25,
        0.75,
        False,
        False,
    )
    assert c.dataset_samples == 10
    e = c.evaluation
    assert len(e.benchmarks) == 10 and (e.temperature, e.max_new_tokens, e.general_max_new_tokens) == (
        0.0,
        4096,
        8192,
    )


@pytest.mark.parametrize("name", ["toy", "paper", "code"])
def test_every_recipe_loads(name):
    config = load_config(RECIPES / f"{name}.yaml")
    assert isinstance(config, RZeroConfig)


def test_code_recipe_flips_every_switch():
    code = load_config(RECIPES / "code.yaml")
    assert code.challenger.reward_form == "code" and code.challenger.global_batch == 16
    assert code.solver.reward_form == "code" and code.dataset_samples == 9
    assert (code.curation.keep_low, code.curation.keep_high) == (0.3, 0.8)
    assert code.curation.require_challenger_answer and code.curation.code_filters
    assert code.evaluation.random_letter_fallback


def test_toy_recipe_matches_the_demo_settings():
    toy = load_config(RECIPES / "toy.yaml")
    assert toy.model == "embedded:smollm2-135m-instruct" and toy.iterations == 1
    assert toy.grpo.prompts_per_step == 2 and toy.challenger.global_batch == toy.solver.global_batch == 2
    assert toy.challenger.group_size == toy.solver.group_size == 4
    assert toy.challenger.max_steps == toy.solver.max_steps == 1
    assert toy.voting.num_samples == 4 and toy.curation.num_questions == 8
    assert (toy.curation.keep_low, toy.curation.keep_high) == (0.0, 1.0)
    assert toy.evaluation.benchmarks == ["arith"] and toy.evaluation.limit == 16


@pytest.mark.parametrize(
    "override, key",
    [
        ("voting.num_samples=0", "voting.num_samples"),
        ("curation.keep_low=0.9", "curation.keep_low"),
        ("grpo.prompts_per_step=100", "grpo.prompts_per_step"),
        ("challenger.reward_form=other", "challenger.reward_form"),
        ("challenger.penalty_scope=world", "challenger.penalty_scope"),
        ("voting.backend=grpc", "voting.backend"),
        ("solver.reward_form=soft", "solver.reward_form"),
        ("challenger.nope=1", "challenger.nope"),
        ("iterations=three", "iterations"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])
