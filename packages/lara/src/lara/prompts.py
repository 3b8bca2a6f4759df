"""Prompt formats (spec §2 ``lara.prompts`` and §4).

No chat template: raw text, as for base models. Two task formats:

- ``bbh`` (BBH and the bundled sample tasks): demo ``Question: {input}\\nAnswer: {target}\\n\\n``, query
  ``Question: {input}\\nAnswer:``, no header.
- ``mmlu``: the standard MMLU header (two spaces after "about"), demo ``Question: {item} {letter}\\n\\n``, query
  ``Question: {item}``, where ``{item}`` is :func:`format_mmlu_question` (it already ends with ``Answer:``).

The model is expected to continue with ``" " + target``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "TASK_FORMATS",
    "build_prompt",
    "format_demo",
    "format_mmlu_question",
    "format_query",
    "group_prefix",
    "mmlu_header",
]

TASK_FORMATS = ("bbh", "mmlu")
"""The prompt formats of spec §4."""

_LETTERS = "ABCD"


def _check_format(task_format: str) -> None:
    if task_format not in TASK_FORMATS:
        raise ValueError(f"unknown task_format {task_format!r}; expected one of {', '.join(TASK_FORMATS)}")


def format_mmlu_question(question: str, choices: Sequence[str]) -> str:
    """An MMLU item: ``{question}\\nA. {c0}\\nB. {c1}\\nC. {c2}\\nD. {c3}\\nAnswer:`` (spec §4).

    Exactly four choices are required, else ``ValueError``.
    """
    if isinstance(choices, str) or len(choices) != 4:
        count = "a string" if isinstance(choices, str) else f"{len(choices)} choices"
        raise ValueError(f"an MMLU question needs exactly four choices, got {count}")
    lines = [str(question)]
    lines += [f"{letter}. {choice}" for letter, choice in zip(_LETTERS, choices, strict=True)]
    return "\n".join(lines) + "\nAnswer:"


def mmlu_header(subject: str) -> str:
    """The standard MMLU header (spec §4), e.g. ``high_school_physics`` →
    ``The following are multiple choice questions (with answers) about  high school physics.\\n\\n``
    (two spaces after "about", as in the common MMLU evaluation code)."""
    words = "".join(" " + word for word in subject.split("_"))
    return f"The following are multiple choice questions (with answers) about {words}.\n\n"


def format_demo(example: Mapping[str, Any], task_format: str = "bbh") -> str:
    """One demonstration (spec §4): ``bbh`` → ``Question: {input}\\nAnswer: {target}\\n\\n``; ``mmlu`` →
    ``Question: {input} {target}\\n\\n`` (the MMLU input already ends with ``Answer:``)."""
    _check_format(task_format)
    if task_format == "bbh":
        return f"Question: {example['input']}\nAnswer: {example['target']}\n\n"
    return f"Question: {example['input']} {example['target']}\n\n"


def format_query(example: Mapping[str, Any], task_format: str = "bbh") -> str:
    """The query (spec §4): ``bbh`` → ``Question: {input}\\nAnswer:``; ``mmlu`` → ``Question: {input}``."""
    _check_format(task_format)
    if task_format == "bbh":
        return f"Question: {example['input']}\nAnswer:"
    return f"Question: {example['input']}"


def group_prefix(
    demos: Sequence[Mapping[str, Any]], task_format: str = "bbh", subject: str | None = None
) -> str:
    """Everything before the query for one group: the header (``mmlu`` only; needs ``subject``, else
    ``ValueError``) followed by every demo in order (spec §2, §4)."""
    _check_format(task_format)
    header = ""
    if task_format == "mmlu":
        if not subject:
            raise ValueError("task_format 'mmlu' needs a subject for the header")
        header = mmlu_header(subject)
    return header + "".join(format_demo(demo, task_format) for demo in demos)


def build_prompt(
    demos: Sequence[Mapping[str, Any]],
    example: Mapping[str, Any],
    task_format: str = "bbh",
    subject: str | None = None,
) -> str:
    """``group_prefix(demos, task_format, subject) + format_query(example, task_format)`` (spec §2)."""
    return group_prefix(demos, task_format, subject) + format_query(example, task_format)
