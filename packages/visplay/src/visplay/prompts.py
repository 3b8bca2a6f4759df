"""The Questioner and Reasoner prompts and the Questioner's output formats (paper §3; spec §2.1, §4).

One base VLM plays two roles. The **Image-Conditioned Questioner** sees an image and writes one question
about it; the **Multimodal Reasoner** sees the image and a question and answers inside ``\\boxed{}``. Every
prompt of the package is built here, so the chat layout of Questioner training and generation is one and the
same, and the Reasoner prompt used for the reward, curation, training and evaluation is one and the same.

Two Questioner output formats (spec §3, "where paper and reference code disagree", item 1):

- ``"question"`` (paper): a single ``<question>…</question>`` block;
- ``"typed"`` (reference code): ``<type>…</type>``, ``<question>…</question>``, ``<answer>…</answer>`` in this
  order. The Questioner's own answer is never used for scoring.

The wording paraphrases the reference code's prompts; the tags are exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "QUESTION_FORMATS",
    "QUESTION_TYPES",
    "REASONER_STYLES",
    "ParsedQuestion",
    "parse_question",
    "questioner_messages",
    "reasoner_messages",
]

QUESTION_TYPES = ("multiple choice", "numerical", "regression")
"""The question types the instructions offer (the ``typed`` format names one in its ``<type>`` block)."""

QUESTION_FORMATS = ("question", "typed")
"""``"question"``: the paper's single ``<question>`` block; ``"typed"``: the code's three ordered blocks."""

REASONER_STYLES = ("reasoning", "answer_only")
"""``"reasoning"``: the paper's Reasoner prompt; ``"answer_only"``: the code's reward-server prompt."""

_INSTRUCTIONS = (
    "You are a question generator for the given image.\n"
    "Study the image carefully and write exactly one question about it. The question must require analysis "
    "or reasoning about what the image shows, not a plain description of it.\n"
    "Pick one question type:\n"
    "- multiple choice: a Yes/No question, or a question with options A, B, C and D of which exactly one is "
    "correct;\n"
    "- numerical: a question whose answer is a number, such as a count;\n"
    "- regression: a question about a continuous quantity, such as a length, an amount or a coordinate.\n"
)

_QUESTION_FORMAT = (
    "Output only the question, inside <question></question> tags, and nothing else:\n"
    "<question>your question</question>"
)

_TYPED_FORMAT = (
    "Output exactly these three blocks and nothing else:\n"
    "<type>one of: multiple choice, numerical, regression</type>\n"
    "<question>your question</question>\n"
    "<answer>the correct answer, without units</answer>\n"
    "Example:\n"
    "<type>numerical</type>\n"
    "<question>How many red cars are parked on the left side of the street?</question>\n"
    "<answer>3</answer>"
)

_QUESTIONER_REQUEST = (
    "Generate one new, challenging reasoning question based on this image, formatted exactly as instructed."
)

_REASONING_PROMPT = (
    "Reason step by step about the question: {question}, using the image. After reasoning, give the final, "
    "short answer inside \\boxed{{}}; it must appear there and only there."
)

_ANSWER_ONLY_PROMPT = (
    "Question: {question}.{type_note} Reply only with the final answer as \\boxed{{answer}}, no explanation, "
    "no units."
)


def _check_format(question_format: str) -> None:
    if question_format not in QUESTION_FORMATS:
        raise ValueError(f"question_format must be one of {QUESTION_FORMATS}, got {question_format!r}")


def _image_block(image: Any) -> dict:
    """An image content block; ``None`` gives the bare placeholder that TRL fills from the ``image`` column."""
    return {"type": "image"} if image is None else {"type": "image", "image": image}


def questioner_messages(image: Any = None, *, question_format: str = "question") -> list[dict]:
    """The Questioner's chat: system instructions, then a user turn with the image and the request.

    ``image`` is a PIL image or a path; ``None`` leaves the ``{"type": "image"}`` placeholder a TRL dataset with
    an ``image`` column needs. ``question_format`` is ``"question"`` (paper) or ``"typed"`` (reference code);
    the instructions spell out that format's tags. Anything else is a ``ValueError``.
    """
    _check_format(question_format)
    output = _QUESTION_FORMAT if question_format == "question" else _TYPED_FORMAT
    return [
        {"role": "system", "content": _INSTRUCTIONS + output},
        {"role": "user", "content": [_image_block(image), {"type": "text", "text": _QUESTIONER_REQUEST}]},
    ]


def reasoner_messages(
    question: str, image: Any = None, *, style: str = "reasoning", question_type: str | None = None
) -> list[dict]:
    """The Reasoner's chat: one user turn with the image and ``question``, asking for a ``\\boxed{}`` answer.

    ``style="reasoning"`` is the paper's prompt (reason step by step, then box the short final answer);
    ``"answer_only"`` is the reference code's reward-server prompt (final answer only, no explanation, no
    units; it names ``question_type`` when given). ``image`` as in :func:`questioner_messages`. An unknown
    style is a ``ValueError``.
    """
    if style not in REASONER_STYLES:
        raise ValueError(f"style must be one of {REASONER_STYLES}, got {style!r}")
    if style == "reasoning":
        text = _REASONING_PROMPT.format(question=question)
    else:
        type_note = f" Type: {question_type}." if question_type else ""
        text = _ANSWER_ONLY_PROMPT.format(question=question, type_note=type_note)
    return [{"role": "user", "content": [_image_block(image), {"type": "text", "text": text}]}]


@dataclass(frozen=True)
class ParsedQuestion:
    """What a Questioner output says: its question, its type and its own answer (``typed`` format only).

    ``valid`` is False when the output does not follow the format; then every text field is ``""``.
    """

    question: str
    type: str
    answer: str
    valid: bool


_INVALID = ParsedQuestion("", "", "", False)


_TAGS = ("type", "question", "answer")
_OPENING = {tag: re.compile(rf"<\s*{tag}\s*>") for tag in _TAGS}
_CLOSING = {tag: re.compile(rf"<\s*/\s*{tag}\s*>") for tag in _TAGS}


def _blocks(text: str, tags: tuple[str, ...]) -> list[str] | None:
    """The stripped contents of ``<tag>…</tag>`` blocks for ``tags`` in order, or None if there is no such
    sequence.

    Each block is the first opening tag after the previous block and the first closing tag after it: the match
    of the regex ``<t1>(.*?)</t1>.*?<t2>(.*?)</t2>…`` (dot matches newline), found by forward scans in linear
    time, where the backtracking regex takes quadratic or worse time on outputs full of stray tags. (Taking the
    first tag at each step loses nothing: if a sequence exists at all, one exists from the earliest choice.)
    """
    contents, pos = [], 0
    for tag in tags:
        opening = _OPENING[tag].search(text, pos)
        closing = None if opening is None else _CLOSING[tag].search(text, opening.end())
        if closing is None:
            return None
        contents.append(text[opening.end() : closing.start()].strip())
        pos = closing.end()
    return contents


def parse_question(text: Any, *, question_format: str = "question") -> ParsedQuestion:
    """Parse a Questioner output; never raises on content (an unknown ``question_format`` is a ``ValueError``).

    ``"question"``: the stripped content of the first ``<question>…</question>`` block; valid iff non-empty.
    ``"typed"``: the first ``<type>`` block, then a ``<question>`` block, then an ``<answer>`` block, anything in
    between; valid iff all three are non-empty after stripping; the type is lower-cased (not checked against
    :data:`QUESTION_TYPES`). Tags may hold whitespace inside their angle brackets (``< question >``,
    ``</ question >``). No match, an unclosed tag, an empty block, a wrong order or a non-``str`` input gives
    ``ParsedQuestion("", "", "", False)``.
    """
    _check_format(question_format)
    if not isinstance(text, str):
        return _INVALID
    if question_format == "question":
        blocks = _blocks(text, ("question",))
        return ParsedQuestion(blocks[0], "", "", True) if blocks and blocks[0] else _INVALID
    blocks = _blocks(text, _TAGS)
    if blocks is None or not all(blocks):
        return _INVALID
    kind, question, answer = blocks
    return ParsedQuestion(question, kind.lower(), answer, True)
