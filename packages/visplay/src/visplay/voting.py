"""VisPlay's answer equivalence: the key the Reasoner's m answers are voted on (spec §2.2).

The silver label ỹ and the confidence c of a question come from one vote over the m answers the Reasoner
gives to it::

    vote = rlcore.selfplay.pseudo_label(answers, match=answers_equivalent)
    ỹ, c = vote.label, vote.p_hat

A missing answer (no ``\\boxed{}``, ``None``, blank) does not vote but counts in m, so c is the share of all m
samples that agree with the majority. This module only supplies the equivalence; the vote itself, shared with
R-Zero, is :func:`rlcore.selfplay.pseudo_label`. Two answers are the same when their normalised forms below
are equal (so ``(B)``, ``B.`` and ``b`` vote together) or when math-verify shows them equal (``0.75``,
``3/4`` and ``\\frac{3}{4}``).
"""

from __future__ import annotations

import re
from typing import Any

from rlcore.answers import answers_match

__all__ = ["answers_equivalent", "normalize_answer"]

_TRAILING = re.compile(r"[.\s]+$")
_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}")
_SPACES = re.compile(r"\s+")
_LETTER = re.compile(r"\(?([a-z])\)?")


def normalize_answer(s: Any) -> str:
    """VisPlay's vote key of an answer (not :func:`rlcore.answers.normalize_answer`, which math-verify uses).

    In this order: a non-``str`` gives ``""``; strip; drop trailing ``.`` and whitespace; if the string starts
    and ends with ``$``, drop all leading and trailing ``$`` and strip; while the whole string is
    ``\\text{X}``, ``\\textbf{X}``, ``\\mathrm{X}`` or ``\\mathbf{X}`` (no braces in X), replace it by X,
    stripped; collapse whitespace runs to one space; ``casefold()``; a single letter a–z, optionally in
    parentheses (``(c)``, ``c)``, ``(c``), becomes just the letter.
    """
    if not isinstance(s, str):
        return ""
    s = _TRAILING.sub("", s.strip())
    if s.startswith("$") and s.endswith("$"):
        s = s.strip("$").strip()
    while (match := _WRAPPER.fullmatch(s)) is not None:
        s = match.group(1).strip()
    s = _SPACES.sub(" ", s).casefold()
    letter = _LETTER.fullmatch(s)
    return letter.group(1) if letter else s


def answers_equivalent(a: Any, b: Any) -> bool:
    """Whether two answers are the same for the vote and the Reasoner reward; symmetric, never raises.

    False if either normalised form (:func:`normalize_answer`) is empty; True if the two are equal; otherwise
    whether math-verify shows them equal in either direction (:func:`rlcore.answers.answers_match`), so
    ``12``/``12.0`` and ``0.75``/``3/4``/``\\frac{3}{4}`` are equivalent.
    """
    key_a, key_b = normalize_answer(a), normalize_answer(b)
    if not key_a or not key_b:
        return False
    if key_a == key_b:
        return True
    return answers_match(a, b) or answers_match(b, a)
