"""PPO-C's overhead in the rollout (spec §9): ``make_experience`` with ``CalibratedReward(RewardModelScorer)``
against ``RewardModelScorer`` alone, in one process on the same trainer and models.

Setup: tiny policy and reference (``tiny:qwen2``), a ``small`` critic and a tiny reward model
(``tiny:qwen2-reward``); 16 micro rollout batches of 4 prompts, half of them with the confidence system prompt;
32 new tokens; every timed pass reseeds torch, so both methods sample the same tokens. The two methods
alternate (the order flips every repetition) and each time is the median of ``iters`` passes. Target:
t_PPO / t_PPO-C ≥ 0.90, i.e. parsing, stripping, re-rendering and the EMA add at most about 11%.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

__all__ = ["TARGET", "benchmark", "format_result"]

TARGET = 0.90
"""The spec's floor for t_PPO / t_PPO-C."""

_QUESTIONS = [
    "What is {a} + {b}?", "What is {a} * {b}?", "How many apples are there if you have {a} and buy {b} more?",
    "Find the difference of {a} and {b}.",
]  # fmt: skip


def _prompts(n: int) -> list[list[dict[str, str]]]:
    """``n`` arithmetic prompts; every other one asks for a confidence (the system prompt of spec §4)."""
    from calibrated_ppo.prompts import confidence_messages

    out = []
    for i in range(n):
        question = _QUESTIONS[i % len(_QUESTIONS)].format(a=3 * i + 1, b=i % 7 + 2)
        out.append(confidence_messages(question) if i % 2 == 0 else [{"role": "user", "content": question}])
    return out


def _use_reward(trainer: Any, reward_fn: Any) -> None:
    from calibrated_ppo.ppo import _find_recorder

    trainer.reward_fn = reward_fn
    trainer._recorder = _find_recorder(reward_fn)


def benchmark(
    iters: int = 3, *, micro_batches: int = 16, batch_size: int = 4, max_new_tokens: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Time ``make_experience`` over ``micro_batches`` micro rollout batches for PPO and PPO-C; returns the
    medians ``t_ppo``/``t_ppo_c`` (seconds per pass), ``ratio`` = t_PPO / t_PPO-C, ``target``, ``met``, the share
    of each pass spent in ``generate`` and the raw times."""
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    import torch

    from calibrated_ppo.config import PPOConfig
    from calibrated_ppo.ppo import PPOTrainer, make_critic
    from calibrated_ppo.rewards import CalibratedReward, RewardModelScorer
    from rlcore.models import load_model

    torch.manual_seed(seed)
    policy, tokenizer = load_model(f"tiny:qwen2@{seed}")
    reward_model, reward_tokenizer = load_model(f"tiny:qwen2-reward@{seed}", task="sequence-classification")
    reward_model.eval().requires_grad_(False)
    critic = make_critic("small", policy=policy)
    n = micro_batches * batch_size
    config = PPOConfig(
        policy=f"tiny:qwen2@{seed}", critic_init="small", rollout_batch_size=n, micro_rollout_batch_size=batch_size,
        train_batch_size=batch_size, micro_train_batch_size=batch_size, max_new_tokens=max_new_tokens,
        bf16=False, gradient_checkpointing=False,
    )  # fmt: skip
    scorer = RewardModelScorer(reward_model, reward_tokenizer)
    rewards = {"ppo": scorer, "ppo_c": CalibratedReward(RewardModelScorer(reward_model, reward_tokenizer))}
    trainer = PPOTrainer(config, policy=policy, tokenizer=tokenizer, critic=critic, reward_fn=scorer)
    prompts = _prompts(n)
    batches = [prompts[i : i + batch_size] for i in range(0, n, batch_size)]

    def one_pass(method: str) -> tuple[float, float, int]:
        _use_reward(trainer, rewards[method])
        torch.manual_seed(seed + 1)  # the same samples for both methods
        generate, tokens = 0.0, 0
        start = time.perf_counter()
        for batch in batches:
            exp = trainer.make_experience(batch)
            generate += exp.info["generate_s"]
            tokens += int(exp.action_mask.sum())
        return time.perf_counter() - start, generate, tokens

    one_pass("ppo")  # warm-up (allocator, kernels, tokenizer caches)
    one_pass("ppo_c")
    times: dict[str, list[float]] = {"ppo": [], "ppo_c": []}
    generation: dict[str, list[float]] = {"ppo": [], "ppo_c": []}
    tokens: dict[str, int] = {}
    for i in range(iters):
        for method in ("ppo", "ppo_c") if i % 2 == 0 else ("ppo_c", "ppo"):
            total, gen, count = one_pass(method)
            times[method].append(total)
            generation[method].append(gen)
            tokens[method] = count
    t_ppo, t_ppo_c = statistics.median(times["ppo"]), statistics.median(times["ppo_c"])
    ratio = t_ppo / t_ppo_c
    return {
        "t_ppo": t_ppo,
        "t_ppo_c": t_ppo_c,
        "ratio": ratio,
        "target": TARGET,
        "met": ratio >= TARGET,
        "generation_share_ppo": statistics.median(generation["ppo"]) / t_ppo,
        "generation_share_ppo_c": statistics.median(generation["ppo_c"]) / t_ppo_c,
        "times_ppo": times["ppo"],
        "times_ppo_c": times["ppo_c"],
        "response_tokens": tokens["ppo"],
        "same_samples": tokens["ppo"] == tokens["ppo_c"],
        "micro_batches": micro_batches,
        "batch_size": batch_size,
        "max_new_tokens": max_new_tokens,
        "iters": iters,
        "threads": torch.get_num_threads(),
    }


def format_result(result: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    return "\n".join([
        f"calibrated-ppo bench: {result['micro_batches']} micro rollout batches x {result['batch_size']} prompts, "
        f"{result['max_new_tokens']} new tokens, median of {result['iters']}",
        f"t_PPO   = {result['t_ppo']:.3f} s   (generate {result['generation_share_ppo']:.0%})",
        f"t_PPO-C = {result['t_ppo_c']:.3f} s   (generate {result['generation_share_ppo_c']:.0%})",
        f"t_PPO / t_PPO-C = {result['ratio']:.3f}   target >= {result['target']:.2f}: "
        f"{'met' if result['met'] else 'NOT met'}",
    ])  # fmt: skip
