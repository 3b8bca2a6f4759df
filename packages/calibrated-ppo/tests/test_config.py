"""Config defaults of spec §3 (the Llama-3-8B scripts), the recipes, and ConfigError naming the key."""

from pathlib import Path

import pytest

from calibrated_ppo.config import CalibratedPPOConfig
from rlcore.config import ConfigError, load_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_defaults_are_the_llama_scripts():
    c = CalibratedPPOConfig()
    assert c.seed == 42
    r = c.reward_model
    assert (r.base_model, r.loss, r.epochs, r.learning_rate) == (
        "OpenLLMAI/Llama-3-8b-rm-mixture",
        "sigmoid",
        1,
        9e-6,
    )
    assert (r.train_batch_size, r.micro_batch_size, r.max_length, r.eval_fraction) == (256, 1, 8192, 0.03)
    assert (r.high_levels, r.low_levels, r.variant_seed) == ([7, 8, 9, 10], [0, 1, 2, 3], 42)
    p = c.ppo
    assert (p.policy, p.critic_init, p.input_key) == (
        "OpenLLMAI/Llama-3-8b-sft-mixture",
        "reward_model",
        "confidence_prompt",
    )
    assert (
        p.rollout_batch_size,
        p.micro_rollout_batch_size,
        p.train_batch_size,
        p.micro_train_batch_size,
    ) == (512, 4, 64, 2)
    assert (p.actor_lr, p.critic_lr, p.kl_coef, p.gamma, p.lam, p.clip_eps, p.value_clip) == (
        5e-7,
        9e-6,
        0.01,
        1.0,
        0.95,
        0.2,
        0.2,
    )
    assert (p.reward_clip, p.normalize_reward, p.max_new_tokens, p.top_k) == (10.0, True, 1024, 0)
    k = c.calibration
    assert (k.alpha, k.w, k.mode, k.ema_init, k.ema_scope) == (0.1, 2.0, "difference", "auto", "micro_batch")
    e = c.eval
    assert (e.backend, e.temperature, e.top_k, e.seed, e.max_retries, e.n_bins, e.binning, e.match) == (
        "hf",
        1.0,
        50,
        1234,
        10,
        10,
        "exact",
        "numeric",
    )
    assert e.new_tokens == 16 and len(e.datasets) == 6


def test_initial_average():
    k = CalibratedPPOConfig().calibration
    assert k.initial_average(True, 3.0) == 0.0 and k.initial_average(False, 3.0) == 3.0
    k.ema_init = "rm_mean"
    assert k.initial_average(True, 3.0) == 3.0
    k.ema_init = 0.5
    assert k.initial_average(True, 3.0) == 0.5


@pytest.mark.parametrize("name", ["toy", "paper", "paper-mistral"])
def test_every_recipe_loads(name):
    assert isinstance(load_config(CalibratedPPOConfig, RECIPES / f"{name}.yaml"), CalibratedPPOConfig)


def test_mistral_recipe():
    m = load_config(CalibratedPPOConfig, RECIPES / "paper-mistral.yaml")
    assert (m.ppo.actor_lr, m.ppo.critic_lr, m.ppo.actor_weight_decay, m.ppo.kl_coef) == (
        1e-7,
        1e-6,
        0.01,
        0.05,
    )
    assert m.ppo.policy == "teknium/OpenHermes-2.5-Mistral-7B"


@pytest.mark.parametrize(
    "override, key",
    [
        ("ppo.critic_init=random", "ppo.critic_init"),
        ("ppo.rollout_batch_size=10", "ppo.rollout_batch_size"),
        ("ppo.train_batch_size=5", "ppo.train_batch_size"),
        ("ppo.kl_coef=-1", "ppo.kl_coef"),
        ("calibration.mode=ratio", "calibration.mode"),
        ("calibration.ema_init=latest", "calibration.ema_init"),
        ("calibration.alpha=2", "calibration.alpha"),
        ("eval.binning=quantile", "eval.binning"),
        ("eval.backend=grpc", "eval.backend"),
        ("reward_model.loss=hinge", "reward_model.loss"),
        ("ppo.nope=1", "ppo.nope"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(CalibratedPPOConfig, None, [override])
