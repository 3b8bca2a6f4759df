"""Format checking, answer extraction, Minerva-style matching and every reward of the paper (spec §2.2).

All functions are total on data: any completion text (or non-text) gives a value, never an exception.
Programming errors (an unknown reward kind, matcher or extractor) raise ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from typing import Any

from parallel_r1.prompts import (
    PARALLEL_CLOSE,
    PARALLEL_OPEN,
    PATH_CLOSE,
    PATH_OPEN,
    SUMMARY_OPEN,
    TAG_PATTERN,
    strip_tags,
)
from rlcore.answers import answers_match
from rlcore.rewards import completion_text

__all__ = [
    "EXTRACTORS",
    "MATCHERS",
    "REWARDS",
    "REWARD_KINDS",
    "accuracy_reward",
    "alternating_reward",
    "check_format",
    "count_parallel",
    "extract_final_answer",
    "first_number_correct",
    "gated_parallel_reward",
    "is_correct",
    "is_format_correct",
    "make_reward",
    "normalize_answer",
    "parallel_reward",
    "reward_value",
    "s2_uses_parallel",
]

REWARD_KINDS = ("accuracy", "parallel", "alternating", "gated")
MATCHERS = ("minerva", "math_verify")
EXTRACTORS = ("final_line", "first_number")

# ------------------------------------------------------------------------------------------------ format


def check_format(text: str) -> list[str]:
    """Violations of the block grammar (empty list = well formed; non-strings give ``[]``).

    The literal tags are scanned in order with a stack (blocks carry a completed-path counter), a flag
    *expected* (a summary must follow) and a summary count, exactly as spec §2.2 lays out.
    """
    if not isinstance(text, str):
        return []
    errors: list[str] = []
    stack: list[list[Any]] = []  # ["block", completed_paths] or ["path"]
    expected = False
    summaries = 0
    for match in TAG_PATTERN.finditer(text):
        tag, pos = match.group(0), match.start()
        if tag == PARALLEL_OPEN:
            stack.append(["block", 0])
            expected = False
        elif tag == PATH_OPEN:
            stack.append(["path"])
        elif tag == PATH_CLOSE:
            if not stack or stack[-1][0] != "path":
                errors.append(f"{PATH_CLOSE} at {pos} without an open {PATH_OPEN}")
                continue
            stack.pop()
            for item in reversed(stack):
                if item[0] == "block":
                    item[1] += 1
                    break
        elif tag == PARALLEL_CLOSE:
            if not stack or stack[-1][0] != "block":
                errors.append(f"{PARALLEL_CLOSE} at {pos} without an open {PARALLEL_OPEN} on top")
                continue
            _, paths = stack.pop()
            if paths < 2:
                errors.append(f"block closed at {pos} has {paths} completed path(s); at least 2 needed")
            expected = True
        elif tag == SUMMARY_OPEN:
            if not expected:
                errors.append(f"{SUMMARY_OPEN} at {pos} does not follow a {PARALLEL_CLOSE}")
            expected = False
            summaries += 1
        # SUMMARY_CLOSE is ignored.
    if stack:
        errors.append(f"{len(stack)} tag(s) left open at the end: {', '.join(item[0] for item in stack)}")
    if expected:
        errors.append(f"the last {PARALLEL_CLOSE} is not followed by a {SUMMARY_OPEN}")
    closes = text.count(PARALLEL_CLOSE)
    if summaries != closes:
        errors.append(f"{summaries} summaries for {closes} {PARALLEL_CLOSE} tag(s)")
    return errors


def is_format_correct(text: str) -> bool:
    """True when :func:`check_format` finds nothing."""
    return not check_format(text)


def count_parallel(text: str) -> int:
    """Occurrences of ``<Parallel>`` (0 for non-strings)."""
    return text.count(PARALLEL_OPEN) if isinstance(text, str) else 0


# ------------------------------------------------------------------------------------------------ answers

_FINAL_ANSWER = re.compile(r"Final Answer\s*:\s*([^\n]+)", re.IGNORECASE)
_FIRST_NUMBER = re.compile(r"Final Answer:\s*(-?[0-9.,]+)")


def extract_final_answer(text: str, window: int | None = 300) -> str | None:
    """The raw capture of the last ``Final Answer: ...`` line (case-insensitive) within the last ``window``
    characters of the tag-stripped text (all of it when ``window`` is None); None when there is none."""
    if not isinstance(text, str):
        return None
    text = strip_tags(text)
    if window is not None:
        if window < 0:
            raise ValueError(f"window must be >= 0 or None, got {window}")
        text = text[len(text) - window :] if window < len(text) else text
    matches = _FINAL_ANSWER.findall(text)
    return matches[-1] if matches else None


_SUBSTITUTIONS = [
    ("an ", ""),
    ("a ", ""),
    (".$", "$"),
    ("\\$", ""),
    ("\\ ", ""),
    (" ", ""),
    ("mbox", "text"),
    (",\\text{and}", ","),
    ("\\text{and}", ","),
    ("\\text{m}", "\\text{}"),
]
_REMOVED_EXPRESSIONS = [
    "square",
    "ways",
    "integers",
    "dollars",
    "mph",
    "inches",
    "hours",
    "km",
    "units",
    "\\ldots",
    "sue",
    "points",
    "feet",
    "minutes",
    "digits",
    "cents",
    "degrees",
    "cm",
    "gm",
    "pounds",
    "meters",
    "meals",
    "edges",
    "students",
    "childrentickets",
    "multiples",
    "\\text{s}",
    "\\text{.}",
    "\\text{\ns}",
    "\\text{}^2",
    "\\text{}^3",
    "\\text{\n}",
    "\\text{}",
    "\\mathrm{th}",
    "^\\circ",
    "^{\\circ}",
    "\\;",
    ",\\!",
    "{,}",
    '"',
    "\\dots",
]


def normalize_answer(s: str) -> str:
    """Minerva-style normalisation (the paper's matcher; deliberately not ``rlcore.answers.normalize_answer``),
    steps (1)-(8) of spec §2.2 in order. Non-strings are converted with ``str``."""
    s = s if isinstance(s, str) else str(s)
    s = s.split("=")[-1]  # (1)
    for before, after in _SUBSTITUTIONS:  # (2)
        s = s.replace(before, after)
    for expression in _REMOVED_EXPRESSIONS:  # (3)
        s = s.replace(expression, "")
    s = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", s)  # (4)
    s = re.sub(r"(\\text\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", s)
    s = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", s)
    s = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", s)  # (5)
    s = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", s)
    s = s.replace("$", "")  # (6)
    if s.replace(",", "").isdigit():  # (7)
        s = s.replace(",", "")
    return s.strip()  # (8)


def _gold_string(gold: Any) -> str | None:
    if gold is None:
        return None
    if isinstance(gold, float) and not math.isfinite(gold):
        return None
    text = str(gold)
    return text if text.strip() else None


def is_correct(text: str, gold: Any, *, window: int | None = 300, matcher: str = "minerva") -> bool:
    """Whether the final answer of ``text`` matches ``gold``: ``"minerva"`` compares
    :func:`normalize_answer` strings (a missing answer counts as ``"[INVALID]"``), ``"math_verify"`` uses
    ``rlcore.answers.answers_match``. A missing or blank gold gives False."""
    if matcher not in MATCHERS:
        raise ValueError(f"matcher must be one of {', '.join(MATCHERS)}, got {matcher!r}")
    gold_text = _gold_string(gold)
    if gold_text is None:
        return False
    extracted = extract_final_answer(text, window)
    if matcher == "math_verify":
        return extracted is not None and answers_match(extracted, gold_text)
    return normalize_answer(extracted or "[INVALID]") == normalize_answer(gold_text)


def first_number_correct(text: str, gold: Any) -> bool:
    """The official stage-1 GSM8K check: the first ``Final Answer:\\s*(-?[0-9.,]+)`` anywhere in ``text``,
    with ``,`` and ``$`` removed, equals the gold string."""
    gold_text = _gold_string(gold)
    if gold_text is None or not isinstance(text, str):
        return False
    match = _FIRST_NUMBER.search(text)
    if match is None:
        return False
    return match.group(1).replace(",", "").replace("$", "") == gold_text.strip()


# ------------------------------------------------------------------------------------------------ rewards


def s2_uses_parallel(step: int, period: int = 10, parallel_steps: int = 2) -> bool:
    """S2 schedule: True iff the 1-based rollout ``step`` (< 1 counts as 1) is one of the last
    ``parallel_steps`` of its ``period``."""
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")
    step = max(1, int(step))
    return (step - 1) % period >= period - parallel_steps


def reward_value(
    kind: str,
    *,
    correct: bool,
    num_parallel: int,
    format_ok: bool,
    step: int | None = None,
    period: int = 10,
    parallel_steps: int = 2,
) -> float:
    """One reward: ``"accuracy"`` ±1; ``"parallel"`` 1.2 for a correct answer with well-formed blocks, 1.0 for
    a correct one without blocks, else −1; ``"alternating"`` (S2) the parallel reward on the schedule's
    parallel steps, accuracy otherwise; ``"gated"`` 1.0 iff correct with well-formed blocks, else 0.0."""
    accuracy = 1.0 if correct else -1.0
    if kind == "accuracy":
        return accuracy
    if kind in ("parallel", "alternating"):
        if kind == "alternating" and not s2_uses_parallel(step or 1, period, parallel_steps):
            return accuracy
        if correct and num_parallel >= 1 and format_ok:
            return 1.2
        if correct and num_parallel == 0:
            return 1.0
        return -1.0
    if kind == "gated":
        return 1.0 if correct and num_parallel >= 1 and format_ok else 0.0
    raise ValueError(f"reward kind must be one of {', '.join(REWARD_KINDS)}, got {kind!r}")


def _listed(values: Any) -> list[Any] | None:
    """``values`` as a list when it is a non-text iterable (list, tuple, array), else None."""
    if values is None or isinstance(values, str | bytes | dict):
        return None
    try:
        return list(values)
    except Exception:  # not iterable (or an iterator that fails): treated as a single value
        return None


def _column(kwargs: dict[str, Any], name: str, n: int) -> list[Any]:
    values = kwargs.get(name)
    listed = _listed(values)
    if listed is None:
        return [values] * n
    return listed + [None] * (n - len(listed)) if len(listed) < n else listed


def _as_step(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        return int(value)
    return None


def _steps(kwargs: dict[str, Any], n: int) -> list[int]:
    fallback = _state_step(kwargs.get("trainer_state"))
    raw = kwargs.get("rollout_step")
    single = _as_step(raw)
    if single is not None:
        return [single] * n
    listed = _listed(raw)
    if listed is None:
        return [fallback] * n
    steps = [_as_step(v) for v in listed[:n]]
    return [s if s is not None else fallback for s in steps] + [fallback] * (n - len(steps))


def _state_step(state: Any) -> int:
    if state is None:
        return 1
    try:
        value = state.get("global_step") if isinstance(state, dict) else getattr(state, "global_step", None)
    except Exception:  # an exotic state object: no step information
        return 1
    step = _as_step(value)
    return step + 1 if step is not None else 1


def _text(tagged: Any, completion: Any) -> str:
    if isinstance(tagged, str):
        return tagged
    try:
        text = completion_text(completion)
    except Exception:  # a malformed conversational completion counts as empty text
        return ""
    return text if isinstance(text, str) else ""


RewardFunction = Callable[..., list[float | None]]


def make_reward(
    kind: str,
    *,
    window: int | None = 300,
    matcher: str = "minerva",
    period: int = 10,
    parallel_steps: int = 2,
    extractor: str = "final_line",
) -> RewardFunction:
    """A TRL reward function ``f(prompts, completions, **kwargs) -> list[float | None]`` of ``kind``.

    Per completion: gold from ``answer`` (missing/blank → None), text from ``tagged_completions`` when it
    is a string there, else the completion's text; the S2 step from ``rollout_step`` (an int or one per
    completion), else ``trainer_state.global_step + 1``, else 1.
    """
    if kind not in REWARD_KINDS:
        raise ValueError(f"reward kind must be one of {', '.join(REWARD_KINDS)}, got {kind!r}")
    if matcher not in MATCHERS:
        raise ValueError(f"matcher must be one of {', '.join(MATCHERS)}, got {matcher!r}")
    if extractor not in EXTRACTORS:
        raise ValueError(f"extractor must be one of {', '.join(EXTRACTORS)}, got {extractor!r}")
    if period < 1 or not 0 <= parallel_steps <= period:
        raise ValueError(
            f"need period >= 1 and 0 <= parallel_steps <= period, got {period}, {parallel_steps}"
        )

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        items = _listed(completions) or []
        n = len(items)
        golds = _column(kwargs, "answer", n)
        tagged = _column(kwargs, "tagged_completions", n)
        steps = _steps(kwargs, n)
        out: list[float | None] = []
        for i in range(n):
            gold = _gold_string(golds[i])
            if gold is None:
                out.append(None)
                continue
            text = _text(tagged[i], items[i])
            if extractor == "first_number":
                correct = first_number_correct(text, gold)
            else:
                correct = is_correct(text, gold, window=window, matcher=matcher)
            out.append(
                reward_value(
                    kind,
                    correct=correct,
                    num_parallel=count_parallel(text),
                    format_ok=is_format_correct(text),
                    step=steps[i],
                    period=period,
                    parallel_steps=parallel_steps,
                )
            )
        return out

    reward.__name__ = _NAMES[kind]
    reward.__qualname__ = _NAMES[kind]
    return reward


_NAMES = {
    "accuracy": "accuracy_reward",
    "parallel": "parallel_reward",
    "alternating": "alternating_reward",
    "gated": "gated_parallel_reward",
}

accuracy_reward = make_reward("accuracy")
"""R_acc: +1 correct, −1 otherwise (S1)."""
parallel_reward = make_reward("parallel")
"""R_parallel: 1.2 correct with well-formed blocks, 1.0 correct without blocks, −1 otherwise."""
alternating_reward = make_reward("alternating")
"""S2: R_parallel on the last 2 of every 10 rollout steps, R_acc otherwise."""
gated_parallel_reward = make_reward("gated")
"""Stage-1 GSM8K: 1.0 iff correct with well-formed blocks, else 0.0."""

REWARDS: dict[str, RewardFunction] = {
    "accuracy": accuracy_reward,
    "parallel": parallel_reward,
    "alternating": alternating_reward,
    "gated": gated_parallel_reward,
}
"""Reward kind (``rl.reward``) → TRL reward function with the default settings."""
