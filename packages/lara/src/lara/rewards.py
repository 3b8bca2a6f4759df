"""Answer extraction, correctness and accuracy (spec §2 ``lara.rewards``, §7).

Two extraction modes:

- ``clean`` (default): cut the completion at the first ``Question:``, take the first line with non-blank
  content (stripped; "the span") and read the answer from it by type.
- ``official``: the original evaluation's containment walk for ``option``/``letter`` answers, kept for
  comparison with published numbers. It scores an empty completion as ``(E)``.

Every function here is total on its text inputs: whatever a model wrote, extraction returns a string and the
reward a float (or ``None`` where the gold is missing); nothing raises except argument errors of
:func:`accuracy`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rlcore.rewards import completion_text

__all__ = [
    "ANSWER_TYPES",
    "EXTRACTION_MODES",
    "OFFICIAL_OPTION_ORDER",
    "accuracy",
    "answer_reward",
    "extract_answer",
    "infer_answer_type",
    "is_correct",
    "normalize_gold",
]

ANSWER_TYPES = ("option", "letter", "integer", "text")
EXTRACTION_MODES = ("clean", "official")

OFFICIAL_OPTION_ORDER = tuple(f"({c})" for c in "eilkabgfodqnhjpcrm")
"""The order in which the official evaluation tries the options (lower-case, with parentheses)."""

_OFFICIAL_LETTER_ORDER = ("A", "B", "C", "D")

_OPTION_GOLD = re.compile(r"^\([A-R]\)$")
_INTEGER_GOLD = re.compile(r"^-?\d+$")
_OPTION_ANY = re.compile(r"\(([A-Ra-r])\)")
_OPTION_LEADING = re.compile(r"^([A-R])[).:](?:\s|$)")
_OPTION_SINGLE = re.compile(r"^[A-R]$")
_LETTER = re.compile(r"(?<![A-Za-z])[A-D](?![A-Za-z])")
_INTEGER = re.compile(r"-?\d+")
_WHITESPACE = re.compile(r"\s+")


def infer_answer_type(gold: Any, task_format: str = "bbh") -> str:
    """The answer type of a gold answer (spec §2): ``mmlu`` → ``"letter"``; a gold like ``(A)`` … ``(R)`` →
    ``"option"``; an integer such as ``-12`` → ``"integer"``; anything else → ``"text"``."""
    if task_format == "mmlu":
        return "letter"
    text = gold.strip() if isinstance(gold, str) else ("" if gold is None else str(gold).strip())
    if _OPTION_GOLD.match(text):
        return "option"
    if _INTEGER_GOLD.match(text):
        return "integer"
    return "text"


def _span(text: str) -> str:
    """Clean mode's span: text before the first ``Question:``, first line with non-blank content, stripped."""
    head = text.split("Question:", 1)[0]
    for line in head.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _collapse(text: str) -> str:
    """Whitespace collapsed to single spaces, trailing periods removed."""
    return _WHITESPACE.sub(" ", text).strip().rstrip(".").strip()


def _clean(span: str, answer_type: str) -> str:
    if answer_type == "option":
        match = _OPTION_ANY.search(span)
        if match:
            return f"({match.group(1).upper()})"
        match = _OPTION_LEADING.match(span)
        if match:
            return f"({match.group(1)})"
        if _OPTION_SINGLE.match(span):
            return f"({span})"
        return ""
    if answer_type == "letter":
        match = _LETTER.search(span)
        return match.group(0) if match else ""
    if answer_type == "integer":
        match = _INTEGER.search(span)
        return str(int(match.group(0))) if match else ""
    return _collapse(span)


def _walk(span: str, candidates: Sequence[str]) -> str:
    for candidate in candidates:
        if span in candidate or candidate in span:
            return candidate.upper()
    return ""


def extract_answer(completion: Any, answer_type: str, mode: str = "clean") -> str:
    """The answer a completion gives (spec §2); ``""`` when none. Total: never raises.

    Clean mode reads the span (see module docstring): ``option`` → the first ``(x)`` with x in A–R (any case),
    else a leading ``X)``/``X.``/``X:`` followed by whitespace or the end, or the span being a single letter
    A–R, as ``(X)``; ``letter`` → the first A–D not adjacent to another letter; ``integer`` → the first
    ``-?\\d+`` in canonical form; ``text`` → whitespace collapsed, trailing periods removed.

    Official mode (``option``): lower-case, cut at the first ``question``, strip, and return the first of
    (e),(i),(l),(k),(a),(b),(g),(f),(o),(d),(q),(n),(h),(j),(p),(c),(r),(m) with ``span in c or c in span``,
    upper-cased; (``letter``): cut at the first ``Question``, strip, walk A, B, C, D the same way. Other
    types (and unknown modes' fallbacks) use the clean rules.

    Examples: ``" (A) or (E)"`` → clean ``"(A)"``, official ``"(E)"``; ``""`` → official ``"(E)"``;
    ``" C. All"`` (letter) → clean ``"C"``, official ``"A"``; ``" C\\n\\nQuestion: A"`` → ``"C"``.
    """
    text = completion if isinstance(completion, str) else ""
    if mode == "official" and answer_type == "option":
        return _walk(text.lower().split("question", 1)[0].strip(), OFFICIAL_OPTION_ORDER)
    if mode == "official" and answer_type == "letter":
        return _walk(text.split("Question", 1)[0].strip(), _OFFICIAL_LETTER_ORDER)
    return _clean(_span(text), answer_type)


def normalize_gold(gold: Any, answer_type: str) -> str:
    """A gold answer normalised the way extractions are (spec §2 ``is_correct``): upper-case for
    ``option``/``letter``, canonical integer, collapsed text. ``None`` gives ``""``."""
    if gold is None:
        return ""
    text = (gold if isinstance(gold, str) else str(gold)).strip()
    if answer_type in ("option", "letter"):
        return text.upper()
    if answer_type == "integer":
        return str(int(text)) if _INTEGER_GOLD.match(text) else _collapse(text)
    return _collapse(text)


def is_correct(completion: Any, gold: Any, task_format: str = "bbh", mode: str = "clean") -> bool:
    """Whether ``completion`` answers ``gold`` (spec §2): the extraction (type inferred from the gold) equals
    the normalised gold. An empty extraction is never correct. Total: never raises."""
    try:
        answer_type = infer_answer_type(gold, task_format)
        expected = normalize_gold(gold, answer_type)
        answer = extract_answer(completion, answer_type, mode)
    except Exception:
        return False
    return bool(answer) and answer == expected


def _column(values: Any, n: int, default: Any) -> list[Any]:
    if values is None or isinstance(values, str):
        return [default if values is None else values] * n
    values = list(values)
    return values + [default] * (n - len(values))


def answer_reward(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    target: Sequence[Any] | None = None,
    task_format: Sequence[str] | str | None = None,
    **kwargs: Any,
) -> list[float | None]:
    """TRL-style reward (spec §2): 1.0 when the completion answers its ``target``, 0.0 when it is wrong or
    junk, ``None`` where the gold is ``None``. Completions may be strings or chat message lists
    (:func:`rlcore.rewards.completion_text`); ``task_format`` is an optional column (default ``"bbh"``)."""
    n = len(completions)
    golds = _column(target, n, None)
    formats = _column(task_format, n, "bbh")
    rewards: list[float | None] = []
    for completion, gold, fmt in zip(completions, golds, formats, strict=False):
        if gold is None:
            rewards.append(None)
            continue
        fmt = fmt if isinstance(fmt, str) else "bbh"
        rewards.append(1.0 if is_correct(completion_text(completion), gold, fmt) else 0.0)
    return rewards


def accuracy(
    completions: Sequence[Any], golds: Sequence[Any], task_format: str = "bbh", mode: str = "clean"
) -> float:
    """Mean of :func:`is_correct` over the pairs (spec §2, §7); empty → 0.0; length mismatch → ``ValueError``."""
    if len(completions) != len(golds):
        raise ValueError(
            f"accuracy needs as many completions as golds, got {len(completions)} and {len(golds)}"
        )
    if not completions:
        return 0.0
    return sum(is_correct(c, g, task_format, mode) for c, g in zip(completions, golds, strict=True)) / len(
        completions
    )
