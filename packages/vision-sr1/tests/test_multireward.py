"""GRPO and multi-reward advantages, the dual-clip loss, and its equality with TRL's ``delta`` (spec 2.4, 8)."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from rlcore.train import group_advantages
from vision_sr1.multireward import clipped_token_loss, multi_reward_advantages, multi_reward_token_loss

REWARDS = [2.0, 1.0, 1.9, 0.0]
"""The four worked-example totals of section 4 (and an all-wrong sample), one GRPO group."""
EXPECTED = [0.83128, -0.24134, 0.72402, -1.31397]


def _rounded(values, digits=5):
    return [round(v, digits) + 0.0 for v in values]  # + 0.0 turns -0.0 into 0.0


# -- GRPO over the summed reward -----------------------------------------------------------------------


def test_grpo_worked_example_statistics():
    assert statistics.fmean(REWARDS) == pytest.approx(1.225, abs=1e-12)
    assert round(statistics.stdev(REWARDS), 6) == 0.932291


def test_grpo_worked_example_via_rlcore():
    assert _rounded(group_advantages(REWARDS, 4, eps=1e-6)) == EXPECTED


def test_grpo_worked_example_via_one_channel():
    advantages = multi_reward_advantages({"R": REWARDS}, 4, eps=1e-6)
    assert list(advantages) == ["R"]
    assert _rounded(advantages["R"]) == EXPECTED
    assert advantages["R"] == group_advantages(REWARDS, 4, eps=1e-6)


def test_constant_group_gets_zero_advantages():
    assert multi_reward_advantages({"R": [1, 1, 1, 1]}, 4, eps=1e-6) == {"R": [0.0, 0.0, 0.0, 0.0]}
    assert group_advantages([1, 1, 1, 1], 4, eps=1e-6) == [0.0, 0.0, 0.0, 0.0]


# -- multi-reward ------------------------------------------------------------------------------------


def test_multi_reward_worked_example():
    advantages = multi_reward_advantages({"accuracy": [1, 1, 0, 0], "visual": [1, 0, 1, 0]}, 4, eps=1e-6)
    assert _rounded(advantages["accuracy"]) == [0.86602, 0.86602, -0.86602, -0.86602]
    assert _rounded(advantages["visual"]) == [0.86602, -0.86602, 0.86602, -0.86602]
    summed = [a + v for a, v in zip(advantages["accuracy"], advantages["visual"], strict=True)]
    assert _rounded(summed) == [1.73205, 0.0, 0.0, -1.73205]


def test_multi_reward_default_eps_is_1e_4():
    advantages = multi_reward_advantages({"accuracy": [1, 1, 0, 0]}, 4)
    assert advantages["accuracy"][0] == pytest.approx(0.5 / (math.sqrt(1 / 3) + 1e-4), abs=1e-12)


def test_multi_reward_weights_scale_each_channel():
    channels = {"accuracy": [1, 1, 0, 0], "visual": [1, 0, 1, 0]}
    weighted = multi_reward_advantages(channels, 4, weights={"accuracy": 2.0, "visual": 0.5}, eps=1e-6)
    plain = multi_reward_advantages(channels, 4, eps=1e-6)
    assert weighted["accuracy"] == [2.0 * a for a in plain["accuracy"]]
    assert weighted["visual"] == [0.5 * a for a in plain["visual"]]


def test_multi_reward_groups_are_consecutive_blocks():
    rewards = [1, 0, 0, 0, 5, 5, 5, 5]
    advantages = multi_reward_advantages({"accuracy": rewards}, 4)["accuracy"]
    assert advantages == group_advantages(rewards, 4)
    assert advantages[4:] == [0.0] * 4
    assert advantages[0] > 0 and advantages[1] == advantages[2] == advantages[3] < 0


def test_multi_reward_none_and_non_finite_values_are_skipped():
    advantages = multi_reward_advantages(
        {"visual": [1.0, None, 0.0, math.nan, None, 1.0, None, None]}, 4, eps=1e-6
    )["visual"]
    # group 1: valid {1, 0} -> mean 0.5, Bessel std sqrt(0.5)
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    assert advantages[:4] == pytest.approx([a, 0.0, -a, 0.0], abs=1e-12)
    # group 2: one valid value -> std 0 and its own mean -> 0
    assert advantages[4:] == [0.0, 0.0, 0.0, 0.0]


def test_multi_reward_all_none_group_is_zero():
    assert multi_reward_advantages({"visual": [None, None]}, 2) == {"visual": [0.0, 0.0]}


@pytest.mark.parametrize(
    ("channels", "group_size", "weights", "match"),
    [
        ({"accuracy": [1, 0]}, 1, None, "group_size"),
        ({"accuracy": [1, 0]}, 0, None, "group_size"),
        ({}, 2, None, "channel"),
        ({"accuracy": [1, 0, 1, 0], "visual": [1, 0]}, 2, None, "equal lengths"),
        ({"accuracy": [1, 0, 1]}, 2, None, "groups of 2"),
        ({"accuracy": [1, 0]}, 2, {"visual": 1.0}, "weights"),
        ({"accuracy": [1, 0], "visual": [0, 1]}, 2, {"accuracy": 1.0}, "weights"),
        ({"accuracy": [1, 0]}, 2, {"accuracy": 1.0, "visual": 1.0}, "weights"),
    ],
)
def test_multi_reward_advantages_errors(channels, group_size, weights, match):
    with pytest.raises(ValueError, match=match):
        multi_reward_advantages(channels, group_size, weights=weights)


# -- clipped token loss ------------------------------------------------------------------------------


def test_clipping_worked_examples():
    assert clipped_token_loss(math.log(1.5), 1.0) == pytest.approx(-1.3, abs=1e-12)
    assert clipped_token_loss(math.log(5.0), -1.0) == pytest.approx(3.0, abs=1e-12)


def test_clipping_without_dual_clip_and_inside_the_trust_region():
    assert clipped_token_loss(math.log(5.0), -1.0, dual_clip=None) == pytest.approx(5.0, abs=1e-12)
    assert clipped_token_loss(0.0, 0.7) == pytest.approx(-0.7, abs=1e-12)
    assert clipped_token_loss(math.log(1.1), -2.0) == pytest.approx(2.2, abs=1e-12)
    # below the trust region with A > 0 the unclipped (larger) loss is kept: max(-0.5, -0.8) = -0.5
    assert clipped_token_loss(math.log(0.5), 1.0) == pytest.approx(-0.5, abs=1e-12)
    # below it with A < 0 the clipped ratio 0.8 counts: max(0.5, 0.8) = 0.8
    assert clipped_token_loss(math.log(0.5), -1.0) == pytest.approx(0.8, abs=1e-12)


def test_clipping_extreme_ratios_stay_finite():
    assert clipped_token_loss(1e6, -1.0) == 3.0
    assert clipped_token_loss(1e6, 1.0) == pytest.approx(-1.3, abs=1e-12)
    assert clipped_token_loss(1e6, 0.0) == 0.0
    assert clipped_token_loss(-1e6, 1.0) == 0.0  # r -> 0: the unclipped loss -A·r wins


@pytest.mark.parametrize(
    "kwargs",
    [{"dual_clip": 1.0}, {"dual_clip": 0.5}, {"clip_low": -0.1}, {"clip_low": 1.0}, {"clip_high": -0.1}],
)
def test_clipped_token_loss_errors(kwargs):
    with pytest.raises(ValueError):
        clipped_token_loss(0.0, 1.0, **kwargs)
    with pytest.raises(ValueError):
        multi_reward_token_loss(0.0, [], **kwargs)


def test_multi_reward_token_loss_sums_channels():
    log_ratio = math.log(1.5)
    assert multi_reward_token_loss(log_ratio, [1.0, -1.0]) == pytest.approx(-1.3 + 1.5, abs=1e-12)
    assert multi_reward_token_loss(log_ratio, []) == 0.0
    # r = 1: the per-channel sum equals the loss of the summed advantage
    assert multi_reward_token_loss(0.0, [0.86602, 0.86602]) == pytest.approx(
        clipped_token_loss(0.0, 1.73204), abs=1e-12
    )
    # under clipping it does not: channels (+1, -1) sum to A = 0 (loss 0) but clip differently
    assert multi_reward_token_loss(log_ratio, [1.0, -1.0]) != clipped_token_loss(log_ratio, 0.0)
    assert multi_reward_token_loss(log_ratio, [1.0, -1.0], dual_clip=None) == pytest.approx(0.2, abs=1e-12)


# -- TRL's delta is the dual clip --------------------------------------------------------------------


def _trl_delta_loss(log_ratio, advantages, *, epsilon_low, epsilon_high, delta):
    """TRL GRPOTrainer's per-token loss for loss_type in {grpo, bnpo, dr_grpo, dapo} with ``args.delta`` set
    (trl/trainer/grpo_trainer.py, ``_compute_loss``): ``−min(min(r, δ)·A, clamp(r, 1−ε_low, 1+ε_high)·A)``."""
    coef_1 = torch.exp(log_ratio)
    coef_2 = torch.clamp(coef_1, 1 - epsilon_low, 1 + epsilon_high)
    coef_1 = torch.clamp(coef_1, max=delta)
    per_token_loss1 = coef_1 * advantages
    per_token_loss2 = coef_2 * advantages
    return -torch.min(per_token_loss1, per_token_loss2)


RATIOS = [
    0.01,
    0.3,
    0.79,
    0.8,
    0.81,
    0.95,
    1.0,
    1.05,
    1.29,
    1.3,
    1.31,
    2.0,
    2.99,
    3.0,
    3.01,
    4.5,
    10.0,
    100.0,
]
ADVANTAGES = [-3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0]


@pytest.mark.parametrize(
    ("clip_low", "clip_high", "delta"), [(0.2, 0.3, 3.0), (0.2, 0.28, 1.5), (0.1, 0.1, 1.2), (0.2, 1.0, 2.5)]
)
def test_trl_delta_equals_dual_clip_on_a_grid(clip_low, clip_high, delta):
    assert 1 + clip_high < delta
    grid = [(r, a) for r in RATIOS for a in ADVANTAGES]
    log_ratio = torch.tensor([math.log(r) for r, _ in grid], dtype=torch.float64)
    advantages = torch.tensor([a for _, a in grid], dtype=torch.float64)
    trl = _trl_delta_loss(log_ratio, advantages, epsilon_low=clip_low, epsilon_high=clip_high, delta=delta)
    ours = [
        clipped_token_loss(math.log(r), a, clip_low=clip_low, clip_high=clip_high, dual_clip=delta)
        for r, a in grid
    ]
    assert trl.tolist() == pytest.approx(ours, abs=1e-12)


def test_trl_delta_differs_when_delta_is_inside_the_clip_range():
    """With ``δ <= 1 + clip_high`` the two forms part: the premise of the equality is needed."""
    log_ratio = torch.tensor([math.log(1.25)], dtype=torch.float64)
    trl = _trl_delta_loss(
        log_ratio, torch.tensor([-1.0], dtype=torch.float64), epsilon_low=0.2, epsilon_high=0.3, delta=1.2
    )
    assert trl.item() == pytest.approx(1.25, abs=1e-12)
    assert clipped_token_loss(math.log(1.25), -1.0, dual_clip=1.2) == pytest.approx(1.2, abs=1e-12)
