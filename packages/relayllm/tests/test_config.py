from pathlib import Path

import pytest

from relayllm.config import BENCHMARK_DEFAULTS, Config, RelayConfig, RelayLLMConfig, TrainConfig
from rlcore.config import ConfigError, load_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_paper_defaults():
    cfg = RelayLLMConfig()
    assert (cfg.relay.max_turns, cfg.relay.max_tokens, cfg.relay.llm_view, cfg.relay.handoff) == (
        5,
        8192,
        "space",
        "auto",
    )
    t = cfg.train
    assert (t.reward, t.learning_rate, t.num_generations, t.prompts_per_step, t.prompts_per_update) == (
        "difficulty_aware",
        1e-6,
        8,
        128,
        32,
    )
    assert (t.beta, t.epsilon, t.epsilon_high, t.max_turns, t.loss_type) == (0.01, 0.2, 0.2, 3, "dapo")
    assert (t.independence_bonus, t.stubborn_penalty, t.exploration_reward) == (1.5, -1.0, True)
    assert (t.ratio_source, t.scope, t.mask_llm_tokens, t.llm_temperature) == ("actual", "group", False, 0.7)
    assert (cfg.filter.samples, cfg.filter.threshold, cfg.filter.top_p) == (10, 0.5, 0.95)
    w = cfg.warmup
    assert (
        w.learning_rate,
        w.per_device_train_batch_size,
        w.gradient_accumulation_steps,
        w.max_commands,
    ) == (2e-5, 2, 16, 3)
    assert cfg.eval.benchmarks == BENCHMARK_DEFAULTS and cfg.eval.temperature == 0.0
    assert cfg.eval.sampled_temperature == 0.7 and cfg.eval.chat_template_kwargs == {"enable_thinking": False}
    assert Config is RelayLLMConfig


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_recipes_validate(recipe):
    cfg = load_config(RelayLLMConfig, recipe)
    assert cfg.slm and cfg.llm


def test_paper_recipe_is_the_paper():
    cfg = load_config(RelayLLMConfig, RECIPES / "paper.yaml")
    assert cfg.slm == "Qwen/Qwen3-1.7B" and cfg.llm.endswith("#Qwen/Qwen3-8B")
    assert cfg.train.bf16 and cfg.train.gradient_checkpointing and cfg.train.use_vllm
    assert cfg.train.learning_rate == 1e-6 and cfg.filter.samples == 10


def test_bad_values_name_the_field():
    with pytest.raises(ConfigError, match=r"relay\.max_turns"):
        RelayConfig(max_turns=0)
    with pytest.raises(ConfigError, match=r"relay\.max_tokens"):
        RelayConfig(max_tokens=0)
    with pytest.raises(ConfigError, match=r"train\.reward"):
        TrainConfig(reward="other")
    with pytest.raises(ConfigError, match=r"train\.scope"):
        load_config(RelayLLMConfig, RECIPES / "toy.yaml", ["train.scope=global"])
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.lr'.*toy\.yaml"):
        load_config(RelayLLMConfig, RECIPES / "toy.yaml", ["train.lr=1"])
