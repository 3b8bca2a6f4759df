"""Multi-reward policy optimisation (Vision-SR1 v2, spec section 2.4): the pure arithmetic.

The v1 recipe sums the rewards into one scalar ``R = 0.9·r_acc + 0.1·r_fmt + 1·r_vis`` and normalises it per
group (plain GRPO). The v2 variant (official branch ``embedding-decomposition``) keeps the rewards apart as
*channels* c (accuracy, visual; optionally format), normalises each one separately inside its group,

    A_c,i = λ_c · (r_c,i − mean_g(r_c)) / (std_g(r_c) + eps),

and sums per-channel PPO-clip losses that share the same importance ratio ``r = π_θ / π_old``:

    L = Σ_c clip_loss(r, A_c).

A channel whose rewards have a large spread therefore cannot drown a rarer one, and each channel is clipped on
its own. KL (added once) and token aggregation are the trainer's business; these functions are per token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rlcore.train import group_advantages

__all__ = ["clipped_token_loss", "multi_reward_advantages", "multi_reward_token_loss"]


def _valid(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))


def multi_reward_advantages(
    channels: Mapping[str, Sequence[float | None]],
    group_size: int,
    *,
    weights: Mapping[str, float] | None = None,
    eps: float = 1e-4,
) -> dict[str, list[float]]:
    """Per-channel group-normalised advantages ``{channel: [A_c,i]}``.

    Groups are consecutive blocks of ``group_size`` completions (TRL's layout). Within a group, over the valid
    (non-None, finite) rewards of channel c: ``m`` = mean, ``s`` = Bessel std (0 with fewer than two valid);
    ``A_c,i = w_c·(r_c,i − m)/(s + eps)`` for valid i and 0.0 for the others. A channel without missing values
    gets exactly ``w_c · rlcore.train.group_advantages(r_c, group_size, eps=eps)``; one channel is plain GRPO.
    ``weights`` (λ_c) default to 1.0 each.
    """
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2, got {group_size}")
    if not channels:
        raise ValueError("multi_reward_advantages needs at least one reward channel")
    lengths = {name: len(values) for name, values in channels.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"reward channels must have equal lengths, got {lengths}")
    length = next(iter(lengths.values()))
    if length % group_size:
        raise ValueError(f"{length} rewards per channel do not split into groups of {group_size}")
    if weights is None:
        weights = dict.fromkeys(channels, 1.0)
    elif set(weights) != set(channels):
        raise ValueError(f"weights keys {sorted(weights)} differ from the channels {sorted(channels)}")

    out: dict[str, list[float]] = {}
    for name, values in channels.items():
        w = float(weights[name])
        advantages = [0.0] * length
        for start in range(0, length, group_size):
            positions = [i for i in range(start, start + group_size) if _valid(values[i])]
            if not positions:
                continue
            # group_advantages over just the valid members is the formula above: their mean, their Bessel
            # std, and 0 for a lone valid member (a "group of one").
            normalised = group_advantages([float(values[i]) for i in positions], len(positions), eps=eps)
            for i, a in zip(positions, normalised, strict=True):
                advantages[i] = w * a
        out[name] = advantages
    return out


def _check_clip(clip_low: float, clip_high: float, dual_clip: float | None) -> None:
    if dual_clip is not None and dual_clip <= 1:
        raise ValueError(f"dual_clip must be > 1 (or None), got {dual_clip}")
    if not 0 <= clip_low < 1 or clip_high < 0:
        raise ValueError(f"need 0 <= clip_low < 1 and clip_high >= 0, got {clip_low} and {clip_high}")


def clipped_token_loss(
    log_ratio: float,
    advantage: float,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.3,
    dual_clip: float | None = 3.0,
) -> float:
    """The dual-clip PPO loss of one token (official EasyR1/verl form).

    ``r = exp(log_ratio)``, ``rc = clamp(r, 1 − clip_low, 1 + clip_high)``, ``l = max(−A·r, −A·rc)``; for
    ``A < 0`` with ``dual_clip`` c set, ``l = min(l, −A·c)`` bounds the loss of a very off-policy token. It
    equals TRL's ``−min(min(r, δ)·A, rc·A)`` with ``δ = c`` whenever ``1 + clip_high < δ``.
    """
    _check_clip(clip_low, clip_high, dual_clip)
    if advantage == 0:
        return 0.0
    try:
        ratio = math.exp(log_ratio)
    except OverflowError:
        ratio = math.inf
    clipped = min(max(ratio, 1 - clip_low), 1 + clip_high)
    loss = max(-advantage * ratio, -advantage * clipped)
    if dual_clip is not None and advantage < 0:
        loss = min(loss, -advantage * dual_clip)
    return loss


def multi_reward_token_loss(
    log_ratio: float,
    advantages: Sequence[float],
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.3,
    dual_clip: float | None = 3.0,
) -> float:
    """``Σ_c clipped_token_loss(log_ratio, A_c)``: one clipped loss per reward channel, same ratio; 0.0 for
    no channel. Equal to the loss of the summed advantage when ``r = 1``, not once clipping is active."""
    _check_clip(clip_low, clip_high, dual_clip)
    return math.fsum(
        clipped_token_loss(log_ratio, a, clip_low=clip_low, clip_high=clip_high, dual_clip=dual_clip)
        for a in advantages
    )
