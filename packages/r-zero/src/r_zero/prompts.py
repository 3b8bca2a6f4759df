"""The Challenger and Solver prompts and the Challenger's output format (paper §3; spec §2.2, §4).

Every Challenger prompt is the same two-message chat: R-Zero has no input data, the Challenger invents a
question from nothing. Its output is a ``<question>…</question>`` block followed by ``\\boxed{answer}``.
The Solver gets one system prompt (reason step by step, answer inside ``\\boxed{}``) and the bare question as
the user turn; the same prompt serves the Challenger reward, pseudo-labelling, Solver training and math
evaluation. The wording is ours, a paraphrase of the official code's prompts.
"""

from __future__ import annotations

from typing import NamedTuple

from rlcore.answers import extract_boxed

__all__ = [
    "CHALLENGER_SYSTEM_PROMPT",
    "CHALLENGER_USER_PROMPT",
    "MC_INSTRUCTION",
    "QUESTION_CLOSE",
    "QUESTION_OPEN",
    "SOLVER_SYSTEM_PROMPT",
    "ChallengerOutput",
    "challenger_messages",
    "parse_challenger_output",
    "solver_messages",
]

QUESTION_OPEN = "<question>"
QUESTION_CLOSE = "</question>"

CHALLENGER_SYSTEM_PROMPT = (
    "You are an expert author of competition mathematics problems. "
    "First, think privately and step by step to design one new, non-trivial problem. It may come from any "
    "area of mathematics: algebra, geometry, number theory, combinatorics, prealgebra, probability, "
    "statistics, calculus, or another field. Make it hard enough that fewer than 30% of advanced high-school "
    "students could solve it. Avoid textbook clichés and do not reuse well-known contest problems.\n\n"
    "Then, without showing your private reasoning, output exactly two blocks and nothing else:\n"
    "<question>\n"
    "The complete problem statement.\n"
    "</question>\n"
    "\n"
    "\\boxed{final_answer}"
)
"""The Challenger's system prompt (spec §4): design a hard problem privately, then emit only the two blocks."""

CHALLENGER_USER_PROMPT = (
    "Write one new, challenging reasoning question now, formatted exactly as instructed: the question inside "
    "<question></question> tags, then its final answer inside \\boxed{}."
)
"""The Challenger's user turn; every Challenger prompt is this same chat."""

SOLVER_SYSTEM_PROMPT = (
    "Think through the problem step by step, then write your final answer inside \\boxed{}."
)
"""The Solver's system prompt; the user turn is the question alone."""

MC_INSTRUCTION = "Answer with the letter of the correct option inside \\boxed{}, for example \\boxed{A}."
"""Appended to a multiple-choice question (MMLU-Pro, SuperGPQA) in evaluation."""


class ChallengerOutput(NamedTuple):
    """What a Challenger sample says: its question and its own answer (either may be ``None``)."""

    question: str | None
    answer: str | None


def challenger_messages() -> list[dict]:
    """The Challenger's prompt: the system prompt and the fixed user turn (a fresh list on every call)."""
    return [
        {"role": "system", "content": CHALLENGER_SYSTEM_PROMPT},
        {"role": "user", "content": CHALLENGER_USER_PROMPT},
    ]


def solver_messages(question: str) -> list[dict]:
    """The Solver's prompt for ``question``: the system prompt and the question as the user turn."""
    return [
        {"role": "system", "content": SOLVER_SYSTEM_PROMPT},
        {"role": "user", "content": question},
    ]


def _last_question_block(text: str) -> str | None:
    # The last closed block is the one whose opening tag is the last opener before the last closer: a
    # stray or unclosed opener after that closer does not count, and an earlier block is superseded.
    close = text.rfind(QUESTION_CLOSE)
    if close < 0:
        return None
    start = text.rfind(QUESTION_OPEN, 0, close)
    if start < 0:
        return None
    content = text[start + len(QUESTION_OPEN) : close].strip()
    return content or None


def parse_challenger_output(text: str | None) -> ChallengerOutput:
    """Split a Challenger sample into (question, answer).

    ``question`` is the stripped content of the last closed ``<question>…</question>`` block (exact,
    case-sensitive tags; the content may span lines), ``None`` if there is none or it is blank. ``answer`` is
    :func:`rlcore.answers.extract_boxed` of the whole text (last ``\\boxed{}``, balanced braces), ``None`` if
    absent or empty. ``None`` input is ``""``; any other non-string is a ``TypeError``.
    """
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str or None, got {type(text).__name__}")
    answer = extract_boxed(text)
    return ChallengerOutput(_last_question_block(text), answer or None)
