"""Stage 2 of an iteration: keep the informative questions, with their silver labels (paper §3.3; spec §2.5).

The frozen Questioner writes N questions per image and the frozen Reasoner answers each one m times. The
majority answer of :mod:`visplay.voting` becomes the silver label ỹ and its share of the m answers the
confidence c. A question the Reasoner always agrees on (c near 1) teaches nothing, and one it never agrees on
(c near 0) has an unreliable label, so only questions with τ_low ≤ c ≤ τ_high are kept for Reasoner training:
[0.25, 0.75] in the paper, [0.3, 0.8] in the reference code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rlcore.selfplay import in_band, pseudo_label
from visplay.voting import answers_equivalent

__all__ = ["curate", "is_informative", "is_valid_candidate"]


def is_informative(confidence: float, tau_low: float = 0.25, tau_high: float = 0.75) -> bool:
    """τ_low ≤ c ≤ τ_high, both ends inclusive with 1e-9 slack (:func:`rlcore.selfplay.in_band`).

    ``ValueError`` if τ_low > τ_high.
    """
    return in_band(confidence, tau_low, tau_high)


def _check_band(tau_low: float, tau_high: float) -> None:
    for name, tau in (("tau_low", tau_low), ("tau_high", tau_high)):
        if not (isinstance(tau, int | float) and math.isfinite(tau) and 0 <= tau <= 1):
            raise ValueError(f"{name} must be in [0, 1], got {tau!r}")
    if tau_low > tau_high:
        raise ValueError(f"tau_low={tau_low} is above tau_high={tau_high}")


def is_valid_candidate(candidate: Mapping[str, Any]) -> bool:
    """Whether a candidate is a question at all: its ``question`` is a non-empty string and its ``valid`` (the
    Questioner output's parse result, optional) is not ``False``. Only valid candidates are sent to the
    Reasoner (:func:`visplay.selfplay.label_questions`) and kept by :func:`curate`."""
    question = candidate.get("question")
    return isinstance(question, str) and bool(question) and candidate.get("valid") is not False


def curate(
    candidates: Sequence[Mapping[str, Any]],
    *,
    tau_low: float = 0.25,
    tau_high: float = 0.75,
    budget: int | None = None,
) -> list[dict]:
    """The informative candidates, each a new dict ``{**candidate, "answer": ỹ, "confidence": c}``.

    Every candidate needs ``reasoner_answers``, the list of its m extracted answers (``None``: none); one
    without it, or with something other than a list there, is a ``ValueError`` naming its index. ỹ and c are the vote ``pseudo_label(reasoner_answers, match=answers_equivalent)``'s
    ``label`` and ``p_hat``. A candidate is kept iff its ``question`` is a non-empty string, its ``valid`` is
    not ``False``, ỹ is not None and :func:`is_informative` holds. Input order is kept, the first ``budget``
    are returned (``None``: all), and the inputs are not mutated. A tau outside [0, 1], τ_low > τ_high or
    ``budget < 0`` is a ``ValueError``.
    """
    _check_band(tau_low, tau_high)
    if budget is not None and budget < 0:
        raise ValueError(f"budget must be >= 0 or None, got {budget}")
    for index, candidate in enumerate(candidates):
        if not isinstance(candidate, Mapping) or "reasoner_answers" not in candidate:
            raise ValueError(f"candidate {index} has no 'reasoner_answers'")
        answers = candidate["reasoner_answers"]
        if answers is not None and (isinstance(answers, str) or not isinstance(answers, Sequence)):
            raise ValueError(
                f"candidate {index}: 'reasoner_answers' must be a list of answers, got {type(answers).__name__}"
            )
    kept: list[dict] = []
    for candidate in candidates:
        if budget is not None and len(kept) >= budget:
            break
        if not is_valid_candidate(candidate):
            continue
        vote = pseudo_label(list(candidate["reasoner_answers"] or []), match=answers_equivalent)
        if vote.label is not None and is_informative(vote.p_hat, tau_low, tau_high):
            kept.append({**candidate, "answer": vote.label, "confidence": vote.p_hat})
    return kept
