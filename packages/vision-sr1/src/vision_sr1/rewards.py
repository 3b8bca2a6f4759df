"""Vision-SR1's rewards (spec section 2.2): answer accuracy, output format and the visual self-reward.

For a first-pass response ``y`` with gold answer ``a`` the official recipe sums

    R = 0.9 · r_acc + 0.1 · r_fmt + 1.0 · r_vis

- ``r_acc``: the last ``\\boxed{}`` of ``y`` matches ``a`` (math-verify equivalence),
- ``r_fmt``: ``y`` is exactly ``<description>…</description> <think>…</think> \\boxed{…}`` (``<think>…</think>
  \\boxed{…}`` for the Vision-R1 baseline), after :func:`normalize_tags`,
- ``r_vis``: the *second-pass* answer, written by the same policy from its own description and the question,
  without the image, matches ``a``. It rewards a description that carries the visual evidence.

Every reward function has TRL's signature ``f(prompts, completions, **columns) -> list[float | None]`` and is
total: any completion text gives a float, a missing column gives None ("not applicable"), nothing raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rlcore.answers import answers_match, extract_boxed
from rlcore.rewards import completion_text
from vision_sr1.config import CHANNELS, METHODS, POLICY_LOSSES, RLConfig

__all__ = [
    "accuracy_reward",
    "answer_score",
    "combine_rewards",
    "cot_format_reward",
    "format_reward",
    "format_score",
    "make_reward_funcs",
    "normalize_tags",
    "visual_reward",
]

_TAG_SPACE = re.compile(r"\s*([</>])\s*")

_FORMATS: dict[str, re.Pattern[str]] = {
    "see_think": re.compile(
        r"\s*<description>.*?</description>\s*<think>.*?</think>\s*\\boxed\{.*?\}\s*", re.DOTALL
    ),
    "cot": re.compile(r"\s*<think>.*?</think>\s*\\boxed\{.*?\}\s*", re.DOTALL),
}


def normalize_tags(text: str) -> str:
    """``text`` with the whitespace directly before or after every ``<``, ``>`` and ``/`` deleted.

    As in the official code, so ``< description >`` counts as ``<description>``. It is applied to first-pass
    text only and also touches the content (``1 / 2`` becomes ``1/2``).
    """
    return _TAG_SPACE.sub(r"\1", text)


def format_score(text: str, style: str = "see_think") -> float:
    """1.0 iff the tag-normalised ``text`` full-matches the layout of ``style``, else 0.0.

    ``see_think``: ``<description>…</description> <think>…</think> \\boxed{…}``; ``cot``: ``<think>…</think>
    \\boxed{…}``; whitespace allowed around the parts only. Text before the first tag or after the box's last
    ``}`` fails; nested braces inside the box pass. An unknown ``style`` is a ValueError; a non-string is 0.0.
    """
    if style not in _FORMATS:
        raise ValueError(f"unknown format style {style!r}; expected one of {', '.join(_FORMATS)}")
    if not isinstance(text, str):
        return 0.0
    return 1.0 if _FORMATS[style].fullmatch(normalize_tags(text)) else 0.0


def answer_score(text: str, gold: Any) -> float:
    """1.0 iff the last ``\\boxed{}`` of ``text`` matches ``gold`` (``rlcore.answers.answers_match``), else 0.0.

    No box, a missing gold answer or an empty one give 0.0 (so, unlike the official grader, a missing box
    never matches the gold string ``"None"``). Never raises.
    """
    try:
        pred = extract_boxed(text)
        if pred is None or gold is None or not str(gold).strip():
            return 0.0
        return 1.0 if answers_match(pred, str(gold)) else 0.0
    except Exception:  # rewards are total: any odd value is simply "not correct"
        return 0.0


def combine_rewards(
    r_acc: float,
    r_fmt: float,
    r_vis: float,
    *,
    accuracy_weight: float = 0.9,
    format_weight: float = 0.1,
    visual_weight: float = 1.0,
) -> float:
    """The single-reward total ``R = w_acc·r_acc + w_fmt·r_fmt + w_vis·r_vis`` (official weights 0.9/0.1/1)."""
    return accuracy_weight * r_acc + format_weight * r_fmt + visual_weight * r_vis


def _column(values: Sequence[Any] | None, n: int) -> list[Any]:
    """A dataset column as a list of ``n`` entries (None-padded), or ``n`` Nones when absent."""
    if values is None:
        return [None] * n
    try:
        values = list(values)
    except TypeError:  # not a column at all: treat as absent rather than raise
        return [None] * n
    return values + [None] * (n - len(values)) if len(values) < n else values[:n]


def accuracy_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """``r_acc``: the boxed answer of the tag-normalised first pass against column ``answer``.

    All None when the ``answer`` column is absent.
    """
    n = len(completions)
    if kwargs.get("answer") is None:
        return [None] * n
    golds = _column(kwargs["answer"], n)
    return [
        answer_score(normalize_tags(completion_text(c)), gold)
        for c, gold in zip(completions, golds, strict=True)
    ]


def format_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """``r_fmt`` for the see-think layout ``<description>…</description> <think>…</think> \\boxed{…}``."""
    return [format_score(completion_text(c), "see_think") for c in completions]


def cot_format_reward(
    prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
) -> list[float | None]:
    """``r_fmt`` for the Vision-R1 CoT layout ``<think>…</think> \\boxed{…}``."""
    return [format_score(completion_text(c), "cot") for c in completions]


def visual_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """``r_vis``: the self-reward. Column ``second_pass`` holds, per completion, the text the policy wrote
    when re-prompted with its own description and the question but no image (None where that pass was
    skipped). Entry = boxed answer of that text against ``answer`` (no tag normalisation), 0.0 where None.

    All None when ``second_pass`` or ``answer`` is absent (not applicable).
    """
    n = len(completions)
    if kwargs.get("second_pass") is None or kwargs.get("answer") is None:
        return [None] * n
    texts = _column(kwargs["second_pass"], n)
    golds = _column(kwargs["answer"], n)
    return [
        0.0 if text is None else answer_score(text, gold) for text, gold in zip(texts, golds, strict=True)
    ]


_CHANNELS: dict[str, Callable[..., list[float | None]]] = dict(
    zip(CHANNELS, (accuracy_reward, format_reward, visual_reward), strict=True)
)
"""Multi-reward channel names (``vision_sr1.config.CHANNELS``) and their reward functions, in the canonical
order accuracy, format, visual."""


def make_reward_funcs(cfg: RLConfig) -> tuple[list[Callable[..., list[float | None]]], list[float]]:
    """The reward functions and TRL ``reward_weights`` of an RL config, ordered accuracy, format, visual.

    ``cfg`` needs ``method``, ``policy_loss``, ``accuracy_weight``, ``format_weight``, ``visual_weight`` and
    ``multi_reward_weights`` (``vision_sr1.config.RLConfig``).

    - ``single_reward``: ``vision_sr1`` → accuracy, format, visual with the three weights; ``see_think`` (the
      ablation without self-reward) → accuracy, format; ``vision_r1`` (CoT baseline) → accuracy, CoT format.
    - ``multi_reward`` (``vision_sr1`` only): one function per key of ``multi_reward_weights``
      (``accuracy`` / ``format`` / ``visual``) with its weight.
    """
    method, policy_loss = cfg.method, cfg.policy_loss
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if policy_loss not in POLICY_LOSSES:
        raise ValueError(f"unknown policy_loss {policy_loss!r}; expected one of {', '.join(POLICY_LOSSES)}")
    if policy_loss == "multi_reward":
        if method != "vision_sr1":
            raise ValueError(f"policy_loss 'multi_reward' needs method 'vision_sr1', got {method!r}")
        weights = dict(cfg.multi_reward_weights)
        unknown = sorted(set(weights) - set(_CHANNELS))
        if unknown or not weights:
            raise ValueError(
                f"multi_reward_weights must use keys among {', '.join(_CHANNELS)}, got {sorted(weights)}"
            )
        names = [name for name in _CHANNELS if name in weights]
        return [_CHANNELS[name] for name in names], [float(weights[name]) for name in names]
    w_acc, w_fmt = float(cfg.accuracy_weight), float(cfg.format_weight)
    if method == "vision_sr1":
        return [accuracy_reward, format_reward, visual_reward], [w_acc, w_fmt, float(cfg.visual_weight)]
    if method == "see_think":
        return [accuracy_reward, format_reward], [w_acc, w_fmt]
    return [accuracy_reward, cot_format_reward], [w_acc, w_fmt]
