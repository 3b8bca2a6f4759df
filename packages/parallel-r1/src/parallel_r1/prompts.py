"""The six structure tags, the parallel-thinking prompt and the sequential baseline prompt (spec §2.1, §4).

The parallel template is written in our own words; users who need the exact wording of the released
checkpoints pass their own template (``{problem}`` placeholder) through ``template=``.
"""

from __future__ import annotations

import re

__all__ = [
    "ANSWER_PREFIX",
    "PARALLEL_CLOSE",
    "PARALLEL_OPEN",
    "PARALLEL_TEMPLATE",
    "PATH_CLOSE",
    "PATH_OPEN",
    "PROMPT_STYLES",
    "SEQUENTIAL_TEMPLATE",
    "SUMMARY_CLOSE",
    "SUMMARY_OPEN",
    "TAGS",
    "TAG_PATTERN",
    "build_messages",
    "build_prompt",
    "strip_tags",
]

PARALLEL_OPEN = "<Parallel>"
PARALLEL_CLOSE = "</Parallel>"
PATH_OPEN = "<Path>"
PATH_CLOSE = "</Path>"
SUMMARY_OPEN = "<Summary>"
SUMMARY_CLOSE = "</Summary>"
TAGS: tuple[str, ...] = (PARALLEL_OPEN, PARALLEL_CLOSE, PATH_OPEN, PATH_CLOSE, SUMMARY_OPEN, SUMMARY_CLOSE)
"""The six tags in the order of :class:`parallel_r1.structure.TagIds`."""
ANSWER_PREFIX = "Final Answer:"
TAG_PATTERN = re.compile("|".join(re.escape(tag) for tag in TAGS))
"""Matches any one of the six tags."""

PROMPT_STYLES = ("parallel", "sequential")

PARALLEL_TEMPLATE = (
    "Work through the following problem step by step. Whenever a step would benefit from several "
    "independent lines of reasoning, insert a parallel block: open it with <Parallel>, then write at least "
    "two distinct and independent paths, each enclosed in <Path> and </Path>. The paths are produced at the "
    "same time, so they must not be ordered or refer to one another. Close the block with </Parallel> and "
    "immediately afterwards summarise what the paths established inside <Summary> and </Summary>. Use such "
    "blocks only where they help, as often as needed, and do not announce them. Finish with a line that "
    "starts with 'Final Answer:' followed by the result.\n"
    "\n"
    "Problem: {problem}"
)
"""The parallel-thinking instruction (our wording of the paper's template); ``{problem}`` is filled in."""

SEQUENTIAL_TEMPLATE = (
    "{problem}\n\nThink step by step, and give the result on a final line after 'Final Answer: '."
)
"""The sequential baseline prompt."""


def build_prompt(problem: str, style: str = "parallel", *, template: str | None = None) -> str:
    """The user prompt for ``problem``: ``style`` is ``"parallel"`` or ``"sequential"`` (else
    ``ValueError``); ``template`` (with a ``{problem}`` placeholder) replaces the built-in wording."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
    if template is None:
        template = PARALLEL_TEMPLATE if style == "parallel" else SEQUENTIAL_TEMPLATE
    # str.replace rather than str.format: problems are full of LaTeX braces.
    return template.replace("{problem}", str(problem))


def build_messages(
    problem: str, style: str = "parallel", *, template: str | None = None
) -> list[dict[str, str]]:
    """The one-user-turn chat form of :func:`build_prompt`."""
    return [{"role": "user", "content": build_prompt(problem, style, template=template)}]


def strip_tags(text: str) -> str:
    """``text`` without any of the six literal tags; everything else is kept. Non-strings give ``""``."""
    if not isinstance(text, str):
        return ""
    # One pass over the original text: removing a tag never glues two halves into a new one.
    return TAG_PATTERN.sub("", text)
