"""Prompts and the call command, in one place (paper §3; spec §4).

The small model (SLM) asks the large model (LLM) for help by writing ``<call>n</call>``: the LLM then
writes the next n tokens of the same answer. The tags are plain text, never added to the vocabulary.
"""

from __future__ import annotations

import re

__all__ = [
    "CALL_CLOSE",
    "CALL_OPEN",
    "INSTRUCTION",
    "MAX_CALL",
    "build_choice_question",
    "build_messages",
    "build_user_prompt",
    "format_call",
    "parse_calls",
    "strip_calls",
]

MAX_CALL = 10**18
"""The largest n :func:`parse_calls` returns."""

CALL_OPEN = "<call>"
CALL_CLOSE = "</call>"

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""The standard Qwen-math instruction, verbatim: the released checkpoints expect it."""

# A well-formed command: a non-negative decimal, whitespace tolerated around it.
_CALL = re.compile(r"<call>\s*([0-9]+)\s*</call>")


def build_user_prompt(question: str) -> str:
    """The user turn: the question, a newline, then :data:`INSTRUCTION`."""
    return f"{question}\n{INSTRUCTION}"


def build_messages(question: str) -> list[dict]:
    """The chat prompt: one user message, no system message."""
    return [{"role": "user", "content": build_user_prompt(question)}]


def build_choice_question(question: str, options: list[str]) -> str:
    """A multiple-choice (OOD) question: the question, a blank line, ``Options:``, one ``A. …`` line per option."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    lines = [f"{letters[i]}. {option}" for i, option in enumerate(options)]
    return "\n".join([question, "", "Options:", *lines])


def format_call(n: int) -> str:
    """``<call>n</call>`` with no spaces; n must be a non-negative ``int`` (not a ``bool``)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"a call length must be a non-negative int, got {n!r}")
    return f"{CALL_OPEN}{n}{CALL_CLOSE}"


def parse_calls(text: str | None) -> list[int]:
    """The n of every well-formed command, left to right (``<call>007</call>`` gives 7).

    n is capped at :data:`MAX_CALL` (no token budget comes near it), so that a model writing thousands of
    digits cannot make ``int()`` refuse the string.
    """
    if not isinstance(text, str):
        return []
    out = []
    for match in _CALL.finditer(text):
        digits = match.group(1).lstrip("0") or "0"
        out.append(int(digits) if len(digits) <= 18 else MAX_CALL)
    return out


def strip_calls(text: str, mode: str = "space") -> str:
    """The LLM view of the answer: each well-formed command replaced by one space (``"space"``) or deleted
    (``"remove"``), then stripped. Malformed tags stay."""
    if mode not in ("space", "remove"):
        raise ValueError(f"strip_calls mode must be 'space' or 'remove', got {mode!r}")
    return _CALL.sub(" " if mode == "space" else "", text or "").strip()
