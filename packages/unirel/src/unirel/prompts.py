"""Prompts and the answer format (spec §2.4, §4).

The model sees the question, the seed entities and the retrieved subgraph, one triple per line as
``(head | relation | tail)``, and answers with one block ``PATH: (h | r | t); (h | r | t) END`` listing the edges it
uses. :func:`unirel.rewards.parse_answer` reads that block back; for every list ``L`` of valid triples,
``parse_answer(format_answer(L)).triples == tuple(L)``.

The instruction follows the paper (UniRel-R1, arXiv 2512.17043) in our own words. The ``criteria`` style is the
reviewers' "Vanilla + reward-instruction" baseline: it adds one sentence stating what the reward
R = R_fmt + R_con + ½·(R_ent/x + R_rel/y) prefers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "PATH_CLOSE",
    "PATH_OPEN",
    "STYLES",
    "build_prompt",
    "format_answer",
    "format_triple",
    "textualize",
]

PATH_OPEN = "PATH:"
"""Opens the answer block (the parser uses the last occurrence)."""
PATH_CLOSE = "END"
"""Closes the answer block (the first standalone ``END`` after ``PATH:``)."""

STYLES = ("paper", "criteria")

_EDGES_LINE = (
    "The knowledge graph edges you may use are listed below, one per line, as (head | relation | tail):"
)
_INSTRUCTION = (
    "Use ONLY edges from this list. You may think first, but finish with exactly one path that connects all of "
    "the entities above, written as the edges it uses, exactly in this form:\n"
    "PATH: (head | relation | tail); (head | relation | tail) END"
)
_CRITERIA = (
    "Prefer short answers that pass through specific, low-degree entities and use rare relations; avoid hub "
    "entities and very common relations."
)


def _fields(triple: Sequence[Any]) -> tuple[Any, Any, Any]:
    if isinstance(triple, str | bytes) or len(triple) != 3:
        raise ValueError(f"a triple needs 3 fields (head, relation, tail), got {triple!r}")
    head, relation, tail = triple
    return head, relation, tail


def format_triple(t: Sequence[Any]) -> str:
    """``(head | relation | tail)``; anything without exactly 3 fields raises ``ValueError``."""
    head, relation, tail = _fields(t)
    return f"({head} | {relation} | {tail})"


def textualize(triples: Iterable[Sequence[Any]]) -> str:
    """The triples as text, one :func:`format_triple` per line, in the given order."""
    return "\n".join(format_triple(t) for t in triples)


def format_answer(triples: Iterable[Sequence[Any]]) -> str:
    """An answer block: ``PATH: `` + the triples joined by ``"; "`` + `` END``.

    With no triple it is ``PATH: END`` (which the parser rejects as an empty path).
    """
    body = "; ".join(format_triple(t) for t in triples)
    return f"{PATH_OPEN} {body} {PATH_CLOSE}" if body else f"{PATH_OPEN} {PATH_CLOSE}"


def build_prompt(
    question: str,
    triples: Iterable[Sequence[Any]],
    seeds: Iterable[Any],
    *,
    style: str = "paper",
) -> list[dict[str, str]]:
    """The chat prompt: one user message, no system role (spec §4).

    Its parts, in order: ``Question: …``; ``Entities: `` + the seeds joined by ``"; "``; a line announcing the edges;
    :func:`textualize` of ``triples``; the instruction to use only listed edges and answer with one
    ``PATH: … END`` block. ``style="criteria"`` appends one sentence naming the reward's preferences (compact
    answers, specific entities, rare relations). Any other style raises ``ValueError``.
    """
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {', '.join(STYLES)}")
    parts = [
        f"Question: {question}",
        "Entities: " + "; ".join(str(s) for s in seeds),
        _EDGES_LINE,
        textualize(triples),
        _INSTRUCTION,
    ]
    if style == "criteria":
        parts.append(_CRITERIA)
    return [{"role": "user", "content": "\n".join(parts)}]
