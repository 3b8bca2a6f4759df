"""The reward protocol and the rewards several papers share.

A reward function has TRL's ``reward_funcs`` signature::

    f(prompts, completions, **kwargs) -> list[float | None]

Dataset columns arrive as keyword lists with one entry per completion; completions are strings
(standard format) or lists of chat messages (conversational format). Reward functions are total:
whatever the model wrote, they return a float (or None, "not applicable"), never raise.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rlcore.answers import answers_match, extract_boxed

__all__ = [
    "RewardFn",
    "boxed_accuracy_reward",
    "completion_text",
    "rank_and_world",
    "tag_format_reward",
    "weighted",
]


class RewardFn(Protocol):
    __name__: str

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]: ...


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block.get("text", "")
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def completion_text(completion: str | list[dict]) -> str:
    """The text of a completion: the string itself, or the content of the last assistant message
    (text parts joined) of a conversational completion. Anything else gives ``""``."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        for message in reversed(completion):
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                return _content_text(message.get("content"))
        return ""
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    return ""


def weighted(*pairs: tuple[RewardFn, float]) -> RewardFn:
    """The weighted sum of reward functions: None where every part is None, a None part counting 0 otherwise."""
    if not pairs:
        raise ValueError("weighted() needs at least one (reward function, weight) pair")
    for fn, weight in pairs:
        if not callable(fn) or not isinstance(weight, int | float):
            raise TypeError("weighted() takes (reward function, weight) pairs")

    def combined(prompts, completions, **kwargs):
        parts = [(fn(prompts, completions, **kwargs), float(w)) for fn, w in pairs]
        out: list[float | None] = []
        for i in range(len(completions)):
            values = [(vals[i], w) for vals, w in parts]
            if all(v is None for v, _ in values):
                out.append(None)
            else:
                out.append(sum(w * float(v) for v, w in values if v is not None))
        return out

    combined.__name__ = "+".join(f"{w:g}*{getattr(fn, '__name__', 'reward')}" for fn, w in pairs)
    return combined


def _column(kwargs: dict, name: str, n: int) -> list:
    values = kwargs.get(name)
    if values is None:
        return [None] * n
    values = list(values)
    return values + [None] * (n - len(values)) if len(values) < n else values


def boxed_accuracy_reward(prompts, completions, answer=None, **kwargs) -> list[float | None]:
    """1.0 when the last ``\\boxed{}`` of the completion matches the gold ``answer`` column, else 0.0;
    None where the gold answer is missing or empty."""
    golds = _column({"answer": answer}, "answer", len(completions))
    rewards: list[float | None] = []
    for completion, gold in zip(completions, golds, strict=False):
        if gold is None or not str(gold).strip():
            rewards.append(None)
            continue
        pred = extract_boxed(completion_text(completion))
        rewards.append(1.0 if answers_match(pred, str(gold)) else 0.0)
    return rewards


def tag_format_reward(pattern: str, *, flags: int = re.DOTALL) -> RewardFn:
    """A reward of 1.0 when the completion text fully matches the regex ``pattern``, else 0.0."""
    regex = re.compile(pattern, flags)

    def reward(prompts, completions, **kwargs) -> list[float | None]:
        return [1.0 if regex.fullmatch(completion_text(c)) else 0.0 for c in completions]

    reward.__name__ = "tag_format_reward"
    return reward


RewardFunction = Callable[..., list[float | None]]


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process in ``torch.distributed``, or (0, 1) when it is not initialised.

    For reward functions that must see the whole step batch under multi-process training (gather, compute,
    keep their own slice). torch.distributed can only be initialised once torch is imported, so a process
    without torch in ``sys.modules`` is a single process; this keeps reward modules free of the torch import.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return 0, 1
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(), dist.get_world_size()
