"""Defaults of spec §3, every recipe, and ConfigError naming the key."""

from pathlib import Path

import pytest

from parallel_r1.config import ParallelR1Config
from rlcore.config import ConfigError, load_config

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def test_defaults():
    c = ParallelR1Config()
    e = c.engine
    assert (e.num_paths, e.max_blocks, e.max_response_tokens, e.max_path_tokens) == (2, 4, 3000, 4096)
    assert (e.temperature, e.top_p, e.path_temperature, e.summary_separator) == (1.0, 1.0, 1.0, "\n")
    assert e.stop_after_max_blocks and not e.mask_forced_tokens
    assert (c.reward.window, c.reward.matcher, c.reward.period, c.reward.parallel_steps) == (
        300,
        "minerva",
        10,
        2,
    )
    s = c.sft
    assert (s.epochs, s.learning_rate, s.batch_size, s.micro_batch_size, s.max_length) == (
        5,
        1e-5,
        128,
        1,
        4096,
    )
    r = c.rl[0]
    assert (r.learning_rate, r.prompts_per_step, r.num_generations, r.updates_per_step) == (1e-6, 256, 8, 2)
    assert (r.epsilon, r.epsilon_high, r.delta, r.beta, r.loss_type) == (0.2, 0.2, 3.0, 0.0, "dapo")
    assert c.variant == "seen" and c.max_prompt_tokens == 2000


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_loads(recipe):
    assert isinstance(load_config(ParallelR1Config, recipe), ParallelR1Config)


def test_paper_rows():
    by_name = {p.stem: load_config(ParallelR1Config, p) for p in RECIPES}
    assert [s.reward for s in by_name["paper"].rl] == ["gated", "accuracy"]
    assert (
        by_name["paper_unseen_s2"].rl[0].reward == "alternating"
        and by_name["paper_unseen_s2"].rl[0].epsilon_high == 0.28
    )
    assert (
        by_name["baseline_grpo"].rl[0].prompt_style == "sequential" and by_name["baseline_grpo"].sft is None
    )


@pytest.mark.parametrize(
    "override, key",
    [
        ("variant=hidden", "variant"),
        ("engine.num_paths=1", "engine.num_paths"),
        ("reward.matcher=exact", "reward.matcher"),
        ("sft.truncation=left", "sft.truncation"),
        ("engine.bogus=1", "engine.bogus"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(ParallelR1Config, None, [override])
