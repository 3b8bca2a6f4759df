"""Config defaults of spec §3, recipe loading, and ConfigError naming the key."""

import math
from pathlib import Path

import pytest

from rlcore.config import ConfigError, load_config
from unirel.config import UniRelConfig

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_defaults():
    c = UniRelConfig()
    r = c.retrieval
    assert (r.hops, r.rho_step, r.target_size, r.bridges, r.backend) == (2, 0.5, 50, 5, "csr")
    assert r.rho0 == pytest.approx(math.log(51)) and round(r.rho0, 6) == 3.931826
    w = c.reward
    assert (w.x, w.y, w.aggregate, w.rel_sign, w.con_mode) == (7, 6, "sum", "fixed", "components")
    d = c.data
    assert (d.kg, d.num_seeds, d.n_train, d.n_test, d.max_arm, d.min_distance) == ("umls", 2, 2000, 500, 2, 2)
    assert (d.split, d.test_fraction, d.seed) == ("random", 0.2, 0)
    t = c.train
    assert (t.model, t.learning_rate, t.prompts_per_step, t.num_generations, t.epochs) == (
        "Qwen/Qwen2.5-3B-Instruct",
        1e-6,
        64,
        8,
        20,
    )
    assert (t.temperature, t.beta, t.epsilon, t.loss_type, t.scale_rewards) == (
        1.0,
        0.001,
        0.2,
        "grpo",
        "group",
    )
    assert (t.max_completion_length, t.per_device_train_batch_size, t.log_components) == (512, 8, True)
    assert (c.eval.temperature, c.eval.max_new_tokens, c.eval.n) == (0.0, 512, 1)


@pytest.mark.parametrize("name", ["toy", "paper", "paper-multi"])
def test_every_recipe_loads(name):
    assert isinstance(load_config(UniRelConfig, RECIPES / f"{name}.yaml"), UniRelConfig)


def test_multi_seed_recipe():
    multi = load_config(UniRelConfig, RECIPES / "paper-multi.yaml")
    assert multi.data.num_seeds == 3 and multi.train.epochs == 40


@pytest.mark.parametrize(
    "override, key",
    [
        ("retrieval.hops=0", "retrieval.hops"),
        ("retrieval.rho_step=0", "retrieval.rho_step"),
        ("retrieval.target_size=0", "retrieval.target_size"),
        ("retrieval.bridges=0", "retrieval.bridges"),
        ("retrieval.backend=igraph", "retrieval.backend"),
        ("reward.aggregate=max", "reward.aggregate"),
        ("reward.rel_sign=other", "reward.rel_sign"),
        ("reward.con_mode=other", "reward.con_mode"),
        ("data.split=temporal", "data.split"),
        ("data.num_seeds=1", "data.num_seeds"),
        ("train.num_generations=1", "train.num_generations"),
        ("train.nope=1", "train.nope"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(UniRelConfig, None, [override])
