"""Final-answer extraction, normalisation, equivalence and majority voting.

Every function here is total on strings: model outputs are arbitrary text and a reward
or an evaluation must never fail because of one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

__all__ = [
    "answers_match",
    "extract_boxed",
    "extract_choice",
    "extract_tag",
    "majority_vote",
    "normalize_answer",
]

_BOX_OPENERS = ("\\boxed{", "\\fbox{")


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced, stripped.

    None when there is no box or when the last one never closes.
    """
    if not isinstance(text, str):
        return None
    start = max(text.rfind(opener) + len(opener) if opener in text else -1 for opener in _BOX_OPENERS)
    if start < 0:
        return None
    depth = 1
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start:i].strip()
    return None


def extract_tag(text: str, tag: str, *, last: bool = True) -> str | None:
    """Stripped content between ``<tag>`` and ``</tag>``: the last complete pair, or the first with ``last=False``."""
    if not isinstance(text, str):
        return None
    pattern = re.compile(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", re.DOTALL)
    if last:
        # A lazy scan finds non-overlapping pairs left to right; the last complete pair is the
        # one whose opening tag is the last one that still has a closing tag after it.
        close = text.rfind(f"</{tag}>")
        if close < 0:
            return None
        open_ = text.rfind(f"<{tag}>", 0, close)
        if open_ < 0:
            return None
        return text[open_ + len(tag) + 2 : close].strip()
    match = pattern.search(text)
    return match.group(1).strip() if match else None


def extract_choice(text: str, letters: str = "ABCDEFGHIJ") -> str | None:
    """The first character of ``letters`` inside the last ``\\boxed{}``; None without a box or a letter."""
    boxed = extract_boxed(text)
    if boxed is None:
        return None
    for ch in boxed:
        if ch in letters:
            return ch
    return None


_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?=\S)")
_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d,])")
_TRAILING_ZEROS = re.compile(r"(?<![\d.])(\d+)\.(\d*?)0+(?!\d)")


def normalize_answer(answer: str) -> str:
    """Canonical string form of an answer, for comparison and voting.

    Strips whitespace, surrounding ``$``, a trailing period, ``\\text{...}`` wrappers,
    ``\\left``/``\\right``, thousands separators (``1,000`` -> ``1000``), a leading ``x =``
    assignment and trailing zeros of decimals (``2.50`` -> ``2.5``, ``3.0`` -> ``3``).
    """
    if not isinstance(answer, str):
        return ""
    s = answer.strip()
    while True:
        before = s
        s = s.strip().rstrip(".").strip()
        if len(s) >= 2 and s.startswith("$") and s.endswith("$"):
            s = s.strip("$")
        if before == s:
            break
    s = _TEXT_WRAPPER.sub(r"\1", s)
    s = s.replace("\\left", "").replace("\\right", "")
    s = _ASSIGNMENT.sub("", s)
    s = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), s)
    s = _TRAILING_ZEROS.sub(lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""), s)
    return s.strip()


def _math_verify_equal(pred: str, gold: str) -> bool:
    from math_verify import parse, verify

    # math-verify finds answers inside LaTeX delimiters; bare strings are wrapped so that
    # "1/2" and "\frac{1}{2}" both parse as expressions.
    def _parse(s: str):
        parsed = parse(s if "$" in s or "\\boxed" in s else f"${s}$", parsing_timeout=None)
        return parsed or parse(s, parsing_timeout=None)

    gold_parsed = _parse(gold)
    pred_parsed = _parse(pred)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


def answers_match(pred: str | None, gold: str) -> bool:
    """True when ``pred`` and ``gold`` are the same answer: equal normalised strings, or
    mathematically equivalent by math-verify. False for None; never raises."""
    if not isinstance(pred, str) or not isinstance(gold, str):
        return False
    a, b = normalize_answer(pred), normalize_answer(gold)
    if a == b:
        return bool(a) or pred.strip() == gold.strip()
    if not a or not b:
        return False
    try:
        return _math_verify_equal(a, b)
    except Exception:  # math-verify parses arbitrary model text; any failure means "not shown equal"
        return False


def majority_vote(
    answers: Sequence[str | None], *, match: Callable[[str, str], bool] | None = None
) -> tuple[str | None, float]:
    """The majority answer and its share of *all* samples (missing answers count in the denominator).

    Same vote as :func:`rlcore.selfplay.pseudo_label`: ``(vote.label, vote.p_hat)``.
    """
    from rlcore.selfplay import pseudo_label

    vote = pseudo_label(answers, match=match)
    return vote.label, vote.p_hat
