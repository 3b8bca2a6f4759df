"""The dataset phase's pure pieces: pseudo-label each question by majority vote, keep the informative ones
(paper §3.3; spec §2.1).

For each Challenger question the frozen Solver writes m answers; the majority answer ỹ becomes its
pseudo-label and p̂ = |{answers equivalent to ỹ}| / m its empirical accuracy. Only questions of intermediate
agreement, |p̂ − ½| ≤ 0.25 (the keep band [low, high]), go to Solver training: too easy teaches nothing and too
hard has unreliable labels. Plain values in and out: no model, no config object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rlcore.answers import extract_boxed
from rlcore.selfplay import in_band, pseudo_label

__all__ = ["filter_records", "label_questions"]

# The official code's extra drops (curation.code_filters): proofs ("证明") and questions that mention boxes
# leak the answer format or cannot be checked; answers containing "text" are \text{...} prose, not values.
_CODE_PROBLEM_DROPS = ("证明", "box")
_CODE_ANSWER_DROPS = ("text",)


def label_questions(
    questions: Sequence[str],
    solver_completions: Sequence[Sequence[str]],
    match: Callable[[str, str], bool] | None = None,
) -> list[dict]:
    """Pseudo-label every question by the Solver's majority vote, in input order.

    For question i with m = ``len(solver_completions[i])`` completions, the answers are
    :func:`rlcore.answers.extract_boxed` of each completion (``None`` without a box: it never votes but
    still counts in m) and the vote is :func:`rlcore.selfplay.pseudo_label` (``match`` defaults to
    :func:`rlcore.answers.answers_match`; ties go to the answer seen first). Each record is
    ``{"problem", "answer": ỹ or None, "score": p̂, "votes": count, "num_samples": m, "answers": [...]}``.
    ``ValueError`` if the two lists differ in length.
    """
    if len(questions) != len(solver_completions):
        raise ValueError(
            f"questions has {len(questions)} items but solver_completions has {len(solver_completions)}"
        )
    records = []
    for question, completions in zip(questions, solver_completions, strict=True):
        answers = [extract_boxed(c) for c in completions]
        vote = pseudo_label(answers, len(answers), match)
        records.append(
            {
                "problem": question,
                "answer": vote.label,
                "score": vote.p_hat,
                "votes": vote.count,
                "num_samples": len(answers),
                "answers": answers,
            }
        )
    return records


def filter_records(
    records: Iterable[dict], low: float = 0.25, high: float = 0.75, code_filters: bool = False
) -> list[dict]:
    """The records worth training on, in order: a non-empty string ``answer`` and ``score`` p̂ in the keep
    band (:func:`rlcore.selfplay.in_band`, both ends inclusive).

    ``code_filters=True`` also drops, as the official code does, problems containing "证明" or "box" and
    answers containing "text" (case-insensitive). ``ValueError`` naming the key and record index if
    ``problem``, ``answer`` or ``score`` is missing, or if low > high.
    """
    if low > high:
        raise ValueError(f"low={low} is above high={high}")
    kept = []
    for index, record in enumerate(records):
        for key in ("problem", "answer", "score"):
            if key not in record:
                raise ValueError(f"record {index} has no {key!r}")
        answer, score = record["answer"], record["score"]
        if not isinstance(answer, str) or not answer.strip():
            continue
        if score is None:
            continue
        try:
            p_hat = float(score)
        except (TypeError, ValueError):
            raise ValueError(f"record {index}: 'score' must be a number, got {score!r}") from None
        if not in_band(p_hat, low, high):
            continue
        if code_filters:
            problem = str(record["problem"]).lower()
            if any(word in problem for word in _CODE_PROBLEM_DROPS):
                continue
            if any(word in answer.lower() for word in _CODE_ANSWER_DROPS):
                continue
        kept.append(record)
    return kept
