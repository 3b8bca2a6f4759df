"""TRL-style rewards for training on generated puzzles (spec §2.8; an extension, not in the paper).

``f(prompts, completions, puzzle=None, **kwargs) -> list[float | None]``: the dataset's ``puzzle`` column (a
:class:`Puzzle`, its dict or its JSON string) arrives as a kwarg list; each completion (text or chat
messages) is parsed with that puzzle's keys and scored. A missing or malformed puzzle gives ``None`` for its
row (TRL then ignores the row for this reward); every completion gives a float, never an exception.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crosswordbench.metrics import intersection_consistency_rate, letter_coverage_rate, word_coverage_rate
from crosswordbench.parsing import parse_answers
from crosswordbench.puzzle import Puzzle
from rlcore.rewards import completion_text

__all__ = ["as_puzzle", "icr_reward", "lcr_reward", "wcr_reward"]


@functools.lru_cache(maxsize=256)
def _from_json(text: str) -> Puzzle:
    return Puzzle.from_dict(text)


def as_puzzle(value: Any) -> Puzzle | None:
    """A puzzle column value as a :class:`Puzzle`, or ``None`` when it is missing or malformed."""
    try:
        if isinstance(value, Puzzle):
            return value
        if isinstance(value, str):
            return _from_json(value)
        if isinstance(value, Mapping):
            return Puzzle.from_dict(value)
    except (ValueError, TypeError, KeyError):
        return None
    return None


def _reward(score: Callable[[Puzzle, dict], float]) -> Callable[..., list[float | None]]:
    def reward(prompts: Sequence, completions: Sequence, puzzle: Sequence | None = None, **kwargs) -> list:
        puzzles = list(puzzle) if puzzle is not None else [None] * len(completions)
        out: list[float | None] = []
        for completion, value in zip(
            completions, puzzles + [None] * (len(completions) - len(puzzles)), strict=False
        ):
            p = as_puzzle(value)
            if p is None:
                out.append(None)
                continue
            try:
                text = completion_text(completion)
            except (TypeError, ValueError, KeyError, AttributeError):
                text = ""
            out.append(float(score(p, parse_answers(text, p.keys()))))
        return out

    return reward


wcr_reward = _reward(lambda p, a: word_coverage_rate(p, a)["all"])
wcr_reward.__name__ = wcr_reward.__qualname__ = "wcr_reward"
wcr_reward.__doc__ = "Word Coverage Rate of each completion against its puzzle (all words)."

lcr_reward = _reward(lambda p, a: letter_coverage_rate(p, a)["all"])
lcr_reward.__name__ = lcr_reward.__qualname__ = "lcr_reward"
lcr_reward.__doc__ = "Letter Coverage Rate of each completion against its puzzle (all words)."

icr_reward = _reward(intersection_consistency_rate)
icr_reward.__name__ = icr_reward.__qualname__ = "icr_reward"
icr_reward.__doc__ = "Intersection Consistency Rate of each completion's answers on its puzzle."
