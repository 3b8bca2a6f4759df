"""Prompts and output formats of the paper (spec §2.1, §4).

Training-time prompts ask the policy for a response followed by a final line ``Confidence: N`` (N from 0 to
10); evaluation prompts ask for ``Answer: ...`` (chain-of-thought mode first ``Explanation: ...``) and then
``Confidence: N``. The wording is ours; the structure and the tags follow the paper
(Leng et al., *Taming Overconfidence in LLMs: Reward Calibration in RLHF*, ICLR 2025).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CONFIDENCE_SYSTEM_PROMPT",
    "append_confidence",
    "confidence_messages",
    "eval_messages",
    "eval_system_prompt",
    "format_mc_question",
]

CONFIDENCE_SYSTEM_PROMPT: str = (
    "Answer the question below as well as you can, then rate how confident you are that your answer is "
    "accurate or helpful, on a scale from 0 to 10.\n"
    "```Example Format:\n"
    "<Your responses>\n"
    "Confidence: <A number from 0 to 10 showing how sure you are that your answer is accurate or helpful.>```\n"
    "\n"
    "Follow this format exactly and make sure the word 'Confidence:' appears in your reply."
)
"""The training-time instruction (spec §4): a response, then a line ``Confidence: N`` with N in 0..10."""

# kind -> (answer type, example answer), spec §2.1.
_ANSWER_TYPES: dict[str, tuple[str, str]] = {
    "mc": ("option letter", "(A)"),
    "numeric": ("number", "1"),
}

_CONFIDENCE_PLACEHOLDER = (
    "Confidence: <a number from 0 to 10 showing how sure you are that your answer is correct>"
)
_EXPLANATION_PLACEHOLDER = "Explanation: <your step-by-step reasoning>"


def _check_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value


def confidence_messages(question: str, *, system_role: bool = True) -> list[dict[str, str]]:
    """Chat messages asking ``question`` with :data:`CONFIDENCE_SYSTEM_PROMPT`.

    With ``system_role`` the instruction is a system turn followed by the user turn ``"Question: " + question``;
    without it, one user turn holds ``CONFIDENCE_SYSTEM_PROMPT + "\\n\\nQuestion: " + question`` (for chat
    templates that reject a system role).
    """
    _check_str(question, "question")
    if system_role:
        return [
            {"role": "system", "content": CONFIDENCE_SYSTEM_PROMPT},
            {"role": "user", "content": "Question: " + question},
        ]
    return [{"role": "user", "content": CONFIDENCE_SYSTEM_PROMPT + "\n\nQuestion: " + question}]


def append_confidence(response: str, level: int | float) -> str:
    """``response + "\\nConfidence: " + level + "."``: the CRM variants' stated confidence (spec §2.3, §4).

    An integral float prints as an integer (8.0 → ``8``); other numbers print with ``str``.
    """
    _check_str(response, "response")
    if isinstance(level, bool) or not isinstance(level, int | float):
        raise TypeError(f"level must be a number, got {type(level).__name__}")
    text = str(int(level)) if isinstance(level, float) and level.is_integer() else str(level)
    return response + "\nConfidence: " + text + "."


def eval_system_prompt(kind: str, *, cot: bool = False) -> str:
    """The evaluation instruction for ``kind`` ``"mc"`` (an option letter, e.g. ``(A)``) or ``"numeric"``
    (a number, e.g. ``1``).

    Direct mode asks for only the answer and a confidence from 0 to 10; ``cot`` asks for step-by-step
    reasoning first and puts ``Explanation:`` first in the example block. Raises ``ValueError`` for any other
    ``kind``.
    """
    if kind not in _ANSWER_TYPES:
        raise ValueError(f"unknown question kind {kind!r}; expected one of {', '.join(_ANSWER_TYPES)}")
    answer_type, example = _ANSWER_TYPES[kind]
    answer_placeholder = f"Answer: <only the {answer_type} here (e.g., {example})>"
    if cot:
        intro = (
            f"Think through the question below step by step, then give the {answer_type} you arrive at and "
            f"how confident you are, on a scale from 0 to 10, that your answer is correct."
        )
        block = [_EXPLANATION_PLACEHOLDER, answer_placeholder, _CONFIDENCE_PLACEHOLDER]
        closing = (
            "Follow this format exactly and make sure the words 'Explanation:', 'Answer:' and 'Confidence:' "
            "appear in your reply."
        )
    else:
        intro = (
            f"Reply to the question below with only the {answer_type} and how confident you are, on a scale "
            f"from 0 to 10, that your answer is correct, and write no other text."
        )
        block = [answer_placeholder, _CONFIDENCE_PLACEHOLDER]
        closing = "Follow this format exactly and make sure the words 'Answer:' and 'Confidence:' appear in your reply."
    return intro + "\n```Example Format:\n" + "\n".join(block) + "```\n\n" + closing


def format_mc_question(question: str, options: Sequence[Any]) -> str:
    """The question followed by ``"\\nChoose the best answer from the following options.\\n"`` and one line
    ``"(L) option\\n"`` per option, lettered A, B, ...; ``ValueError`` for 0 or more than 26 options."""
    _check_str(question, "question")
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise TypeError(f"options must be a sequence of options, got {type(options).__name__}")
    if not 1 <= len(options) <= 26:
        raise ValueError(f"a multiple-choice question needs 1 to 26 options, got {len(options)}")
    lines = "".join(
        f"({letter}) {option}\n" for letter, option in zip(string.ascii_uppercase, options, strict=False)
    )
    return question + "\nChoose the best answer from the following options.\n" + lines


def eval_messages(
    question: str,
    options: Sequence[Any] | None,
    kind: str,
    *,
    cot: bool = False,
    system_role: bool = True,
) -> list[dict[str, str]]:
    """Chat messages for one evaluation item.

    The text is :func:`format_mc_question` when ``options`` is given (not None), else ``question``. With
    ``system_role``: a system turn :func:`eval_system_prompt` and the user turn ``"Question: " + text``;
    without: one user turn, system prompt + ``"\\n\\nQuestion: "`` + text.
    """
    system = eval_system_prompt(kind, cot=cot)
    text = format_mc_question(question, options) if options is not None else _check_str(question, "question")
    if system_role:
        return [{"role": "system", "content": system}, {"role": "user", "content": "Question: " + text}]
    return [{"role": "user", "content": system + "\n\nQuestion: " + text}]
