"""The rule-based answer parser (spec §2.6): a model's reply → ``{"across 1": "CAT", ...}``.

The reference code sent every reply to o3-mini with a structured-output schema. This parser reads the
final-format block our prompts ask for (and the usual variations: markdown bold, bullets, ``1A:``,
``Across 3 -``) without a second model; ``EvalConfig(parser="llm")`` restores a model rewrite in front of it.
It never raises on a model's output: anything unreadable parses to ``{}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["PARSE_MODES", "THINK_MODES", "clean_answer", "parse_answers", "strip_reasoning"]

PARSE_MODES = ("solve", "extraction")
THINK_MODES = ("last", "first")
_REASONING_TAGS = ("</think>", "</reasoning>")

_SEP = r"[:.)\-–—]"
_HEADER = re.compile(r"^(across|down)(\s+(clues|answers|words))?\s*:?\s*$", re.IGNORECASE)
_DIRECTION_FIRST = re.compile(rf"^(across|down)\s*(\d+)\s*{_SEP}\s*(.*)$", re.IGNORECASE)
_NUMBER_FIRST = re.compile(rf"^(\d+)\s*-?\s*(across|down|a|d)\s*{_SEP}\s*(.*)$", re.IGNORECASE)
_NUMBER_ONLY = re.compile(rf"^(\d+)\s*{_SEP}\s*(.*)$")
_EXTRACTED = re.compile(r"extracted\s+word\s*:\s*(.*)$", re.IGNORECASE)
_TRAILING_GROUP = re.compile(r"\s*\([^()]*\)\s*$")
_DIRECTION_NAMES = {"across": "across", "a": "across", "down": "down", "d": "down"}


def strip_reasoning(text: str | None, mode: str = "last") -> str:
    """The answer part of a reply: for ``</think>`` then ``</reasoning>``, if present keep the text after
    its last occurrence (``mode="first"``: between its first and second occurrence, as the reference code
    did). ``None`` → ``""``."""
    if mode not in THINK_MODES:
        raise ValueError(f"unknown reasoning split {mode!r}; valid: {', '.join(THINK_MODES)}")
    if text is None:
        return ""
    text = str(text)
    for tag in _REASONING_TAGS:
        if tag in text:
            text = text.rsplit(tag, 1)[1] if mode == "last" else text.split(tag)[1]
    return text


def clean_answer(text: str) -> str:
    """A solve-mode answer: trailing parenthesised groups dropped (repeatedly), cut at the first
    ``" ("``, ``" - "``, ``" – "`` or ``" — "``, letters only (``str.isalpha``, so CJK stays), upper-case."""
    text = text.strip()
    while True:
        shorter = _TRAILING_GROUP.sub("", text)
        if shorter == text:
            break
        text = shorter
    for cut in (" (", " - ", " – ", " — "):
        text = text.split(cut, 1)[0]
    return "".join(ch for ch in text if ch.isalpha()).upper()


def _tidy(line: str) -> str:
    return line.replace("*", "").lstrip("#>-•" + " \t\r\f\v")


def _keyed(line: str, section: str | None) -> tuple[str, str] | None:
    match = _DIRECTION_FIRST.match(line)
    if match:
        return f"{match.group(1).lower()} {int(match.group(2))}", match.group(3)
    match = _NUMBER_FIRST.match(line)
    if match:
        return f"{_DIRECTION_NAMES[match.group(2).lower()]} {int(match.group(1))}", match.group(3)
    if section is not None:
        match = _NUMBER_ONLY.match(line)
        if match:
            return f"{section} {int(match.group(1))}", match.group(2)
    return None


def parse_answers(
    text: str | None, keys: Iterable[str] | None = None, *, mode: str = "solve", think: str = "last"
) -> dict[str, str]:
    """Answers by key (``"across 1"``) from a reply, reasoning stripped first (``think``).

    Lines may be keyed anywhere as ``Across 1: X`` or ``1A: X`` / ``1 across - X``, and as ``1: X`` inside an
    ``Across:``/``Down:`` section (separators ``: . ) - – —``). ``mode="extraction"`` reads the grid-parsing
    format instead: a keyed line names the clue and the following ``Extracted Word: X`` its answer. Later
    lines override earlier ones; ``keys`` keeps only those keys. Never raises on content.
    """
    if mode not in PARSE_MODES:
        raise ValueError(f"unknown parse mode {mode!r}; valid: {', '.join(PARSE_MODES)}")
    if think not in THINK_MODES:
        raise ValueError(f"unknown reasoning split {think!r}; valid: {', '.join(THINK_MODES)}")
    if not isinstance(text, str):
        return {}
    answers: dict[str, str] = {}
    section: str | None = None
    pending: str | None = None
    for raw in strip_reasoning(text, think).splitlines():
        line = _tidy(raw).strip()
        header = _HEADER.match(line)
        if header:
            section = header.group(1).lower()
            continue
        keyed = _keyed(line, section)
        if mode == "solve":
            if keyed is not None:
                answer = clean_answer(keyed[1])
                if answer:
                    answers[keyed[0]] = answer
            continue
        if keyed is not None:
            pending = keyed[0]
            extracted = _EXTRACTED.search(keyed[1])
        else:
            extracted = _EXTRACTED.match(line)
        if extracted is not None and pending is not None:
            answer = clean_answer(extracted.group(1))
            if answer:
                answers[pending] = answer
    if keys is not None:
        wanted = {" ".join(str(k).lower().split()) for k in keys}
        answers = {k: v for k, v in answers.items() if k in wanted}
    return answers
