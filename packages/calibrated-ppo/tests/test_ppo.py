"""Spec §2.4 / §8: the PPO maths (exact numbers), and slow smoke runs of the trainer and its wiring."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from calibrated_ppo.config import CalibratedPPOConfig, CalibrationConfig, PPOConfig
from calibrated_ppo.ppo import (
    Experience,
    PPOTrainer,
    check_batch_sizes,
    gae,
    make_critic,
    masked_mean,
    policy_loss,
    token_level_rewards,
    train_ppo,
    value_loss,
    whiten,
)

# ------------------------------------------------------------------------------------------- maths


def test_token_level_rewards_spec_example():
    out = token_level_rewards(1.48, [0.1, 0.2, -0.1, 0.0], [0.0] * 4, [1, 1, 1, 0], kl_coef=0.01)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, [-0.001, -0.002, 1.481, 0.0], atol=1e-12)


def test_token_level_rewards_batch_clip_and_tensor_mode():
    scores = torch.tensor([20.0, -0.5], requires_grad=True)
    logprobs = torch.tensor([[0.1, 0.2, -0.1], [0.3, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    out = token_level_rewards(scores, logprobs, torch.zeros(2, 3), mask, kl_coef=0.1, reward_clip=10.0)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, torch.tensor([[-0.01, -0.02, 10.01], [-0.53, 0.0, 0.0]]))
    out.sum().backward()  # autograd kept; the clamped score has no gradient
    torch.testing.assert_close(scores.grad, torch.tensor([0.0, 1.0]))
    unclipped = token_level_rewards([20.0], [[0.0]], [[0.0]], [[1]], kl_coef=0.0, reward_clip=None)
    assert unclipped.tolist() == [[20.0]]


def test_token_level_rewards_errors():
    with pytest.raises(ValueError, match="kl_coef"):
        token_level_rewards([1.0], [[0.0]], [[0.0]], [[1]], kl_coef=-0.1)
    with pytest.raises(ValueError, match="empty mask"):
        token_level_rewards([1.0, 1.0], [[0.0, 0.0]] * 2, [[0.0, 0.0]] * 2, [[1, 0], [0, 0]], kl_coef=0.1)


def test_gae_spec_example():
    advantages, returns = gae([0, 0, 1], [0.5, 0.5, 0.5], [1, 1, 1], gamma=1.0, lam=0.95)
    np.testing.assert_allclose(advantages, [0.45125, 0.475, 0.5], atol=1e-12)
    np.testing.assert_allclose(returns, [0.95125, 0.975, 1.0], atol=1e-12)


def test_gae_padded_row():
    rewards = [[0, 0, 1, 0, 0], [0, 2, 7, 7, 7]]  # junk after the mask must not leak in
    values = [[0.5, 0.5, 0.5, 0.0, 0.0], [1.0, 0.5, 9.0, 9.0, 9.0]]
    mask = [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.95)
    np.testing.assert_allclose(advantages[0], [0.45125, 0.475, 0.5, 0, 0], atol=1e-12)
    np.testing.assert_allclose(returns[0], [0.95125, 0.975, 1.0, 0, 0], atol=1e-12)
    # row 2: δ_1 = 2 − 0.5 = 1.5 (v_2 masked to 0); δ_0 = 0 + 0.5 − 1 = −0.5; A_0 = −0.5 + 0.95·1.5
    np.testing.assert_allclose(advantages[1], [0.925, 1.5, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(returns[1], [1.925, 2.0, 0, 0, 0], atol=1e-12)


def test_gae_tensor_mode_and_gamma():
    adv, ret = gae(
        torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 0.0]]), torch.ones(1, 2), gamma=0.5, lam=1.0
    )
    assert isinstance(adv, torch.Tensor)
    torch.testing.assert_close(adv, torch.tensor([[0.5, 1.0]]))
    torch.testing.assert_close(ret, adv)


def test_masked_mean():
    assert masked_mean([[1.0, 2.0, 100.0]], [[1, 1, 0]]) == pytest.approx(1.5)
    np.testing.assert_allclose(masked_mean([[1.0, 3.0], [4.0, 9.0]], [[1, 1], [1, 0]], dim=1), [2.0, 4.0])
    assert isinstance(masked_mean([1.0], [1]), float)
    with pytest.raises(ValueError):
        masked_mean([1.0, 2.0], [0, 0])


def test_whiten_population_variance_over_all_entries():
    x = [[1.0, 2.0, 3.0, 50.0], [4.0, 5.0, 0.0, 0.0]]
    mask = [[1, 1, 1, 0], [1, 1, 0, 0]]
    out = whiten(x, mask)
    kept = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    expected = (kept - kept.mean()) / math.sqrt(kept.var())  # numpy var is the population variance
    np.testing.assert_allclose(out[0, :3], expected[:3], atol=1e-6)
    np.testing.assert_allclose(out[1, :2], expected[3:], atol=1e-6)
    assert out[0, 3] == 0 and out[1, 2] == 0 and out[1, 3] == 0
    values = out[np.array(mask, bool)]
    assert abs(values.mean()) < 1e-6 and abs(values.var() - 1) < 1e-6


def test_whiten_zero_variance_and_errors():
    np.testing.assert_allclose(whiten([[3.0, 3.0, 3.0]], [[1, 1, 1]]), [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError):
        whiten([[1.0, 2.0]], [[0, 0]])
    tensor = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    out = whiten(tensor, torch.ones(1, 3))
    assert isinstance(out, torch.Tensor) and out.requires_grad


def test_policy_loss_both_sides_of_the_clip():
    up = policy_loss([[math.log(1.5)]], [[0.0]], [[1.0]], [[1]], clip_eps=0.2)
    assert up == pytest.approx(-1.2)
    down = policy_loss([[math.log(0.5)]], [[0.0]], [[-1.0]], [[1]], clip_eps=0.2)
    assert down == pytest.approx(0.8)
    # inside the clip range the unclipped term is used: ρ = 1.1, A = 2 → −2.2
    assert policy_loss([[math.log(1.1)]], [[0.0]], [[2.0]], [[1]]) == pytest.approx(-2.2)
    # the clip does not bind when it would raise the objective: ρ = 1.5, A = −1 → 1.5
    assert policy_loss([[math.log(1.5)]], [[0.0]], [[-1.0]], [[1]]) == pytest.approx(1.5)


def test_policy_loss_row_mean_and_gradient():
    # row means (−1.2 with a masked junk token; 0.8) → −0.2
    loss = policy_loss(
        [[math.log(1.5), 5.0], [math.log(0.5), math.log(0.5)]],
        [[0.0, 0.0], [0.0, 0.0]],
        [[1.0, 100.0], [-1.0, -1.0]],
        [[1, 0], [1, 1]],
    )
    assert loss == pytest.approx(-0.2)
    logprobs = torch.zeros(1, 2, requires_grad=True)
    out = policy_loss(logprobs, torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2))
    assert out.ndim == 0
    out.backward()
    torch.testing.assert_close(logprobs.grad, torch.tensor([[-0.5, 0.5]]))


def test_value_loss_clipped_term_wins():
    # v − old = 1 is clipped to 0.2, so v_clip = 0.2; with R = 2: (v − R)² = 1 against (v_clip − R)² = 3.24,
    # so the clipped term wins: 0.5·3.24
    assert value_loss([[1.0]], [[0.0]], [[2.0]], [[1]], clip_eps=0.2) == pytest.approx(1.62)
    assert value_loss([[1.0]], [[0.0]], [[2.0]], [[1]], clip_eps=None) == pytest.approx(0.5)
    # the unclipped term wins when it is larger: R = −1 → max(1.44, 4) = 4
    assert value_loss([[1.0]], [[0.0]], [[-1.0]], [[1]]) == pytest.approx(2.0)
    # masked mean per row, then mean over rows
    loss = value_loss(
        [[1.0, 9.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 3.0]], [[1, 0], [1, 1]]
    )
    assert loss == pytest.approx(0.5 * (1.0 + 5.0) / 2)


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="shape"):
        policy_loss([[0.0, 0.0]], [[0.0]], [[1.0]], [[1]])


def test_check_batch_sizes_names_them():
    config = PPOConfig(
        rollout_batch_size=4, micro_rollout_batch_size=2, train_batch_size=2, micro_train_batch_size=2
    )
    check_batch_sizes(config, 1)
    with pytest.raises(ValueError, match="train_batch_size=2.*micro_train_batch_size=2.*2 processes"):
        check_batch_sizes(config, 2)
    config = PPOConfig(
        rollout_batch_size=6, micro_rollout_batch_size=2, train_batch_size=4, micro_train_batch_size=1
    )
    with pytest.raises(ValueError, match="rollout_batch_size=6"):
        check_batch_sizes(config, 2)


def test_unknown_method(tmp_path):
    with pytest.raises(ValueError, match="method"):
        train_ppo(CalibratedPPOConfig(), method="dpo", run_dir=tmp_path)


# ------------------------------------------------------------------------------------ smoke (tiny models)

PROMPTS = [
    [{"role": "user", "content": "What is 2 + 3?"}],
    [{"role": "system", "content": "Rate your confidence."}, {"role": "user", "content": "What is 7 * 6?"}],
    "How many apples are there?",
    [{"role": "user", "content": "Find the sum of 10 and 4."}],
]


def _tiny_config(**overrides) -> PPOConfig:
    settings = {
        "policy": "tiny:qwen2", "reward_model": "tiny:qwen2-reward", "calibrated_reward_model": "tiny:qwen2-reward@1",
        "critic_init": "small", "rollout_batch_size": 4, "micro_rollout_batch_size": 2, "train_batch_size": 4,
        "micro_train_batch_size": 2, "max_new_tokens": 8, "actor_lr": 1e-2, "critic_lr": 1e-2, "warmup_ratio": 0.0,
    }  # fmt: skip
    settings.update(overrides)
    return PPOConfig(**settings)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _changed(before: dict[str, torch.Tensor], model: torch.nn.Module) -> int:
    return sum(not torch.equal(before[k], v.detach()) for k, v in model.named_parameters())


METRIC_KEYS = {
    "policy_loss", "value_loss", "reward", "kl", "response_length", "clip_frac", "actor_lr", "critic_lr",
    "confidence_rate", "mean_confidence",
}  # fmt: skip


@pytest.mark.slow
def test_trainer_with_plain_reward_fn(tiny_lm):
    policy, tokenizer = tiny_lm
    calls = []

    def reward_fn(prompts, completions, **kwargs):
        calls.append((list(prompts), list(completions)))
        return [float(len(c)) / 10 if i else None for i, c in enumerate(completions)]

    torch.manual_seed(0)
    critic = make_critic("small", policy=policy)
    assert critic.config.hidden_size == 64 and critic.config.num_hidden_layers == 2
    assert critic.config.vocab_size == policy.config.vocab_size
    trainer = PPOTrainer(
        _tiny_config(), policy=policy, tokenizer=tokenizer, critic=critic, reward_fn=reward_fn
    )
    exp = trainer.make_experience(PROMPTS[:2])
    assert isinstance(exp, Experience) and len(calls) == 1
    assert calls[0][0] == PROMPTS[:2]
    assert all("<|im_end|>" not in c for c in calls[0][1])  # special tokens skipped
    b, r = exp.action_mask.shape
    assert b == 2 and exp.sequences.shape[1] == exp.attention_mask.shape[1] > r
    for name in ("logprobs", "ref_logprobs", "values", "rewards", "advantages", "returns"):
        assert getattr(exp, name).shape == (b, r), name
    torch.testing.assert_close(exp.logprobs, exp.ref_logprobs)  # the policy has not moved yet
    assert exp.scores.tolist()[0] == 0.0  # None counts 0
    lengths = exp.action_mask.sum(1).long().tolist()
    for i, n in enumerate(lengths):  # the mask ends at the first EOS, which it includes
        response = exp.sequences[i, -r:][:n].tolist()
        eos = tokenizer.eos_token_id
        assert eos not in response[:-1]
        assert response[-1] == eos or n == 8
    assert (exp.logprobs <= 0).all()

    before_actor, before_critic = _snapshot(trainer.actor), _snapshot(trainer.critic)
    metrics = trainer.update([exp, trainer.make_experience(PROMPTS[2:])])
    assert metrics.keys() >= METRIC_KEYS
    assert "reward_average" not in metrics
    assert _changed(before_actor, trainer.actor) > 0
    assert _changed(before_critic, trainer.critic) > 0
    assert metrics["actor_lr"] == pytest.approx(1e-2)


@pytest.mark.slow
def test_critic_inits(tiny_lm, tiny_reward_model):
    policy, tokenizer = tiny_lm
    rm, rm_tokenizer = tiny_reward_model
    critic = make_critic("policy", policy=policy)
    for (name, p), q in zip(
        critic.base_model.named_parameters(), policy.base_model.parameters(), strict=True
    ):
        assert torch.equal(p, q), name
    head = critic.score.weight
    assert head.abs().max() < 10 / (policy.config.hidden_size + 1)
    copy = make_critic(
        "reward_model",
        policy=policy,
        policy_tokenizer=tokenizer,
        reward_model=rm,
        reward_tokenizer=rm_tokenizer,
    )
    assert copy is not rm and torch.equal(copy.score.weight, rm.score.weight)
    tokenizer.add_tokens(["<|extra|>"])
    with pytest.raises(ValueError, match="vocabulary"):
        make_critic(
            "reward_model",
            policy=policy,
            policy_tokenizer=tokenizer,
            reward_model=rm,
            reward_tokenizer=rm_tokenizer,
        )


class _SpyScorer:
    """Records what the RM would see; scores by length so rewards vary."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, prompts, completions, **kwargs):
        self.seen.extend(completions)
        return [1.0 + len(c) / 20 for c in completions]


@pytest.mark.slow
def test_ppo_c_trainer_moves_average_and_hides_confidence(tiny_lm):
    from calibrated_ppo.rewards import CalibratedReward

    policy, tokenizer = tiny_lm
    spy = _SpyScorer()
    reward_fn = CalibratedReward(spy, init_average=0.0)
    trainer = PPOTrainer(
        _tiny_config(),
        policy=policy,
        tokenizer=tokenizer,
        critic=make_critic("small", policy=policy),
        reward_fn=reward_fn,
    )
    # The tiny policy never writes a confidence: make it, by forcing the decoded texts.
    rollout = trainer._rollout(PROMPTS[:2])
    rollout.completions = ["It is 5.\nConfidence: 9.", "42 Confidence: 1"]
    scores, raw = trainer._score(rollout.prompts, rollout.completions)
    exp = trainer._finish(rollout, scores, raw)
    assert reward_fn.average != 0.0
    assert exp.info["confidences"] == [9.0, 1.0]
    assert raw == [1.0 + len("It is 5.") / 20, 1.0 + len("42") / 20]
    metrics = trainer.update([exp, trainer.make_experience(PROMPTS[2:])])
    assert {"reward_average", "raw_reward"} <= metrics.keys() and metrics.keys() >= METRIC_KEYS
    assert metrics["reward_average"] == pytest.approx(reward_fn.average)
    assert all("confidence:" not in text.lower() for text in spy.seen)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ppo", "ppo-m", "ppo-c"])
def test_train_ppo_one_iteration_per_method(method, tmp_path, monkeypatch):
    import calibrated_ppo.rewards as rewards

    prompts = tmp_path / "prompts.jsonl"
    rows = [
        {"confidence_prompt": p if isinstance(p, list) else [{"role": "user", "content": p}]} for p in PROMPTS
    ]
    rows[0]["confidence_prompt"] = [
        {"role": "system", "content": "Answer, then write Confidence: <0-10>."},
        {"role": "user", "content": "What is 2 + 3?"},
    ]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))

    seen: list[str] = []
    real_call = rewards.RewardModelScorer.__call__

    def spy_call(self, prompts, completions, **kwargs):
        seen.extend(completions)
        return real_call(self, prompts, completions, **kwargs)

    monkeypatch.setattr(rewards.RewardModelScorer, "__call__", spy_call)
    snapshots = {}
    real_init = PPOTrainer.__init__

    def spy_init(self, *args, **kwargs):
        snapshots["actor"] = _snapshot(kwargs["policy"])
        snapshots["critic"] = _snapshot(kwargs["critic"])
        real_init(self, *args, **kwargs)
        snapshots["trainer"] = self

    monkeypatch.setattr(PPOTrainer, "__init__", spy_init)
    config = CalibratedPPOConfig(
        seed=0,
        ppo=_tiny_config(prompts=str(prompts), num_episodes=1),
        calibration=CalibrationConfig(alpha=0.5),
    )
    path = train_ppo(config, method=method, run_dir=tmp_path / "run")
    assert path == tmp_path / "run" / "policy" and (path / "config.json").exists()
    trainer = snapshots["trainer"]
    assert _changed(snapshots["actor"], trainer.accelerator.unwrap_model(trainer.actor)) > 0
    assert _changed(snapshots["critic"], trainer.accelerator.unwrap_model(trainer.critic).model) > 0
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 1 and metrics[0].keys() >= METRIC_KEYS
    samples = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert (
        len(samples) == 4
        and {"prompt", "completion", "confidence", "raw_reward", "reward"} <= samples[0].keys()
    )
    assert len(seen) == 4
    if method == "ppo-c":
        assert {"reward_average", "raw_reward"} <= metrics[0].keys()
        assert metrics[0]["reward_average"] != 0.0  # r̄ moved from its start (0 with normalised rewards)
        assert all("confidence:" not in text.lower() for text in seen)
    else:
        assert "reward_average" not in metrics[0]


@pytest.mark.slow
def test_two_processes_one_update(tmp_path):
    from rlcore.testing import launch_cpu_processes

    script = Path(__file__).with_name("ppo_two_process.py")
    result = launch_cpu_processes(script, str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["checksum_after"] == pytest.approx(ranks[1]["checksum_after"], abs=0, rel=0)
    assert ranks[0]["checksum_after"] != ranks[0]["checksum_before"]
    assert ranks[0]["prompts"] != ranks[1]["prompts"]  # each rank rolled out its own prompts


@pytest.mark.slow
def test_rollout_batch_scope_calls_reward_once(tiny_lm):
    from calibrated_ppo.rewards import CalibratedReward

    policy, tokenizer = tiny_lm
    spy = _SpyScorer()
    reward_fn = CalibratedReward(spy, alpha=1.0)
    trainer = PPOTrainer(
        _tiny_config(),
        policy=policy,
        tokenizer=tokenizer,
        critic=make_critic("small", policy=policy),
        reward_fn=reward_fn,
        reward_scope="rollout_batch",
    )
    buffer = trainer.make_experiences([PROMPTS[:2], PROMPTS[2:]])
    assert len(buffer) == 2 and len(spy.seen) == 4
    # alpha = 1: r̄ is the mean of the one call over all four completions
    raw = [r for exp in buffer for r in exp.info["raw_scores"]]
    assert reward_fn.average == pytest.approx(sum(raw) / 4)
    with pytest.raises(ValueError, match="reward_scope"):
        PPOTrainer(
            _tiny_config(),
            policy=policy,
            tokenizer=tokenizer,
            critic=policy,
            reward_fn=spy,
            reward_scope="x",
        )
