"""The composite Challenger reward and the Solver reward (paper §3.2-3.3, Eq. 4-6; spec §2.3).

Challenger: for each generated question x_i the frozen Solver writes m answers; the majority share is p̂_i
(:func:`rlcore.selfplay.pseudo_label`, a sample without ``\\boxed{}`` never votes but counts in m). The
uncertainty reward r_unc = 1 − 2·|p̂ − ½| peaks when the Solver agrees only half the time; the repetition
penalty r_rep(x_i) = λ·|C(i)|/B charges each question the share of the B questions of its step batch that
fall into its BLEU-distance cluster (average linkage, merging below τ). The paper's reward is
max(0, r_unc − r_rep) and 0 for malformed output; the official code's is min(p̂, 1 − p̂) − r_rep, unclamped,
and −1 − r_rep for malformed output. All of the machinery is :mod:`rlcore.selfplay`'s; here it is wired into
TRL reward functions.

Solver: the pseudo-label is the ``answer`` column; the reward is 1 for a matching last ``\\boxed{}`` (paper),
or 0.9·match + 0.1·``<think>`` format (official code).

TRL reward functions have the signature ``f(prompts, completions, **kwargs) -> list[float | None]``; they
never raise on what the model wrote, only on wiring errors (a sampler of the wrong shape, a missing column).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from r_zero.prompts import parse_challenger_output, solver_messages
from rlcore.answers import answers_match, extract_boxed
from rlcore.rewards import completion_text, rank_and_world
from rlcore.rollout import Generator, SamplingParams, make_generator
from rlcore.selfplay import pseudo_label, question_reward, repetition_penalties

__all__ = [
    "CHALLENGER_FORMS",
    "PENALTY_SCOPES",
    "SOLVER_FORMS",
    "MetricLogger",
    "RewardFunc",
    "SolverSampler",
    "challenger_rewards",
    "make_challenger_reward",
    "make_solver_reward",
    "make_solver_sampler",
    "solver_reward",
]

SolverSampler = Callable[[Sequence[str], int], list[list[str]]]
"""``sampler(questions, m)``: m raw Solver completions per question, in question order."""

RewardFunc = Callable[..., list[float | None]]
"""A TRL reward function, ``f(prompts, completions, **kwargs) -> list[float | None]``."""

MetricLogger = Callable[[str, float], Any]
"""``log_metric(name, value)``: TRL 1.16 passes its trainer's logger to every reward call under this keyword."""

CHALLENGER_FORMS = ("paper", "code")
PENALTY_SCOPES = ("batch", "group")
SOLVER_FORMS = ("binary", "code")

# ------------------------------------------------------------------------------------ Challenger reward


def _is_valid(question: Any) -> bool:
    return isinstance(question, str) and bool(question.strip())


def _composite(
    questions: Sequence[str | None],
    p_hats: Sequence[float | None],
    tau: float,
    lam: float,
    groups: Sequence[Hashable] | None,
    form: str,
    workers: int,
) -> tuple[list[float], list[float], list[float]]:
    """(rewards, r_rep, shares |C(i)|/B) of :func:`challenger_rewards`; the metrics are made of the last two.

    The shares are clustered once, with λ = 1, and scaled by λ here: rlcore computes r_rep as ``lam * share``,
    so the product is bitwise the same, and the cluster sizes stay readable for the metrics even at λ = 0
    (the "no repetition penalty" ablation) without a second B² BLEU pass.
    """
    if not lam >= 0:  # also rejects NaN
        raise ValueError(f"lam must be a number >= 0, got {lam!r}")
    if form not in CHALLENGER_FORMS:
        raise ValueError(f"form must be one of {CHALLENGER_FORMS}, got {form!r}")
    if len(questions) != len(p_hats):
        raise ValueError(f"questions has {len(questions)} items but p_hats has {len(p_hats)}")
    valid = [_is_valid(q) for q in questions]
    for i, (ok, p_hat) in enumerate(zip(valid, p_hats, strict=True)):
        if ok and p_hat is None:
            raise ValueError(f"p_hats[{i}] is None for a valid question")
    # Invalid outputs still count in B (as "", which matches nothing and stays a singleton cluster), so a
    # batch of mostly malformed outputs does not inflate the penalty of the few valid questions.
    texts = [q if ok else "" for q, ok in zip(questions, valid, strict=True)]
    shares = repetition_penalties(texts, tau, 1.0, groups, workers=workers)
    penalties = [lam * share for share in shares]
    rewards = [
        question_reward(p_hat, penalty, ok, form=form)
        for p_hat, penalty, ok in zip(p_hats, penalties, valid, strict=True)
    ]
    return rewards, penalties, shares


def challenger_rewards(
    questions: Sequence[str | None],
    p_hats: Sequence[float | None],
    tau: float = 0.5,
    lam: float = 1.0,
    groups: Sequence[Hashable] | None = None,
    form: str = "paper",
    *,
    workers: int = 1,
) -> list[float]:
    """The composite Challenger reward of each question (paper Eq. 6, or the official code's form).

    A question is valid iff it is a string that is non-empty after ``strip()``; an invalid one enters the
    clustering as ``""`` (it counts in B) and its p̂ is ignored. r_rep =
    :func:`rlcore.selfplay.repetition_penalties` (τ = ``tau``, λ = ``lam``; ``groups=None`` clusters the whole
    list, else each group id alone), and each reward is :func:`rlcore.selfplay.question_reward`:
    ``"paper"``: max(0, 1 − 2·|p̂ − ½| − r_rep), invalid → 0; ``"code"``: min(p̂, 1 − p̂) − r_rep,
    invalid → −1 − r_rep. ``ValueError`` on a length mismatch, a valid question whose p̂ is ``None``, or an
    unknown form.
    """
    rewards, _, _ = _composite(questions, p_hats, tau, lam, groups, form, workers)
    return rewards


def make_solver_sampler(
    generator: Generator | str,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 40,
    max_new_tokens: int = 4096,
    seed: int | None = None,
) -> SolverSampler:
    """A :data:`SolverSampler` over an :class:`rlcore.rollout.Generator` (or a spec for
    :func:`rlcore.rollout.make_generator`): one ``generator.generate`` call per sampler call, with the
    Solver prompt (:func:`r_zero.prompts.solver_messages`) of every question and n = m, returning the texts.
    The defaults are the official code's voting settings (spec §3)."""
    gen = make_generator(generator)
    params = SamplingParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k, seed=seed
    )

    def sample(questions: Sequence[str], m: int) -> list[list[str]]:
        if not questions:
            return []
        rows = gen.generate([solver_messages(q) for q in questions], params, n=m)
        return [[s.text for s in row] for row in rows]

    return sample


def _check_samples(samples: Any, num_questions: int, m: int) -> list[list[str]]:
    if not isinstance(samples, list | tuple) or len(samples) != num_questions:
        got = len(samples) if isinstance(samples, list | tuple) else type(samples).__name__
        raise ValueError(
            f"the Solver sampler must return {num_questions} lists (one per question), got {got}"
        )
    for i, row in enumerate(samples):
        if not isinstance(row, list | tuple) or len(row) != m:
            got = len(row) if isinstance(row, list | tuple) else type(row).__name__
            raise ValueError(
                f"the Solver sampler must return {m} completions per question; question {i} got {got}"
            )
    return [list(row) for row in samples]


def _num_clusters(shares: Sequence[float], groups: Sequence[Hashable] | None) -> int:
    """The number of clusters behind ``shares`` = |C(i)|/B_scope, without clustering again.

    A cluster of size c contributes c items of 1/c each, so Σ 1/|C(i)| over a scope counts its clusters
    (what :func:`rlcore.selfplay.cluster_labels` would number, summed over the scopes).
    """
    keys: Sequence[Hashable] = [None] * len(shares) if groups is None else groups
    sizes: dict[Hashable, int] = {}
    for key in keys:
        sizes[key] = sizes.get(key, 0) + 1
    total = 0.0
    for share, key in zip(shares, keys, strict=True):
        total += 1.0 / max(1, round(share * sizes[key]))
    return round(total)


def make_challenger_reward(
    sampler: SolverSampler,
    *,
    num_samples: int = 10,
    tau: float = 0.5,
    lam: float = 1.0,
    scope: str = "batch",
    form: str = "paper",
    match: Callable[[str, str], bool] | None = None,
    workers: int = 1,
) -> RewardFunc:
    """The Challenger's TRL reward function over a frozen Solver (``sampler``), ``challenger_reward``.

    Per call: each completion's question is :func:`r_zero.prompts.parse_challenger_output`'s; the sampler is
    called once with this process's valid questions in batch order (duplicates included) and m =
    ``num_samples`` (not at all if none is valid; a result of the wrong shape is a ``ValueError``); p̂ of a
    valid question = :func:`rlcore.selfplay.pseudo_label` of its samples' ``extract_boxed`` answers (a sample
    without a box does not vote but counts in m). Under ``torch.distributed`` the questions, p̂ and
    ``prompt_id`` of every process are gathered (``accelerate.utils.gather_object``) so that B is the whole
    step batch; every process computes the same :func:`challenger_rewards` and keeps its own slice.
    ``scope="batch"`` clusters the step batch; ``scope="group"`` clusters each ``prompt_id`` alone (a missing
    ``prompt_id`` column is a ``ValueError``). A ``log_metric`` keyword receives ``challenger/valid_rate``,
    ``challenger/p_hat_mean`` (over valid questions; not logged without one), ``challenger/penalty_mean``
    (r_rep over all B items) and ``challenger/num_clusters``. A step without any valid question gives equal
    rewards (zero advantages) and a warning.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if not lam >= 0:  # also rejects NaN
        raise ValueError(f"lam must be a number >= 0, got {lam!r}")
    if scope not in PENALTY_SCOPES:
        raise ValueError(f"scope must be one of {PENALTY_SCOPES}, got {scope!r}")
    if form not in CHALLENGER_FORMS:
        raise ValueError(f"form must be one of {CHALLENGER_FORMS}, got {form!r}")
    if not callable(sampler):
        raise TypeError(f"sampler must be callable, got {type(sampler).__name__}")

    def challenger_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        n = len(completions)
        prompt_ids: list[Hashable] = [None] * n
        if scope == "group":
            column = kwargs.get("prompt_id")
            if column is None:
                raise ValueError(
                    "penalty scope 'group' needs the 'prompt_id' column (challenger_prompt_dataset)"
                )
            prompt_ids = list(column)
            if len(prompt_ids) != n:
                raise ValueError(f"prompt_id has {len(prompt_ids)} entries for {n} completions")

        questions = [parse_challenger_output(completion_text(c)).question for c in completions]
        valid_idx = [i for i, q in enumerate(questions) if _is_valid(q)]
        p_hats: list[float | None] = [None] * n
        if valid_idx:
            samples = _check_samples(
                sampler([questions[i] for i in valid_idx], num_samples), len(valid_idx), num_samples
            )
            for i, completions_i in zip(valid_idx, samples, strict=True):
                answers = [extract_boxed(c) for c in completions_i]
                p_hats[i] = pseudo_label(answers, num_samples, match).p_hat

        rank, world = rank_and_world()
        rows = list(zip([rank] * n, questions, p_hats, prompt_ids, strict=True))
        if world > 1:
            from accelerate.utils import gather_object

            # Concatenated in rank order, so every process sees the same step batch in the same order and
            # clusters it identically.
            rows = gather_object(rows)
        all_questions = [row[1] for row in rows]
        all_p_hats = [row[2] for row in rows]
        groups = [row[3] for row in rows] if scope == "group" else None

        rewards, penalties, shares = _composite(all_questions, all_p_hats, tau, lam, groups, form, workers)
        valid_p = [p for q, p in zip(all_questions, all_p_hats, strict=True) if _is_valid(q)]
        if rows and not valid_p:
            warnings.warn(
                f"no valid Challenger question in this step ({len(rows)} outputs without a non-empty "
                "<question>...</question> block): every reward is equal, so this step has zero advantages",
                RuntimeWarning,
                stacklevel=2,
            )

        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and rows:
            log_metric("challenger/valid_rate", len(valid_p) / len(rows))
            if valid_p:
                log_metric("challenger/p_hat_mean", math.fsum(valid_p) / len(valid_p))
            log_metric("challenger/penalty_mean", math.fsum(penalties) / len(penalties))
            log_metric("challenger/num_clusters", float(_num_clusters(shares, groups)))
        return [reward for row, reward in zip(rows, rewards, strict=True) if row[0] == rank]

    return challenger_reward


# ---------------------------------------------------------------------------------------- Solver reward

# The official code deletes whitespace around "<", ">" and "/" before scoring, so "< think >" and "</ think>"
# count as the tags.
_TAG_SPACES = re.compile(r"\s*([<>/])\s*")
_THINK_FORMAT = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)


def make_solver_reward(form: str = "binary", match: Callable[[str, str], bool] | None = None) -> RewardFunc:
    """The Solver's TRL reward function against the pseudo-label column ``answer``, ``solver_reward``.

    ``"binary"`` (paper): 1.0 iff the last ``\\boxed{}`` exists and matches the label
    (:func:`rlcore.answers.answers_match`, or ``match``), else 0.0 — the rule of
    :func:`rlcore.rewards.boxed_accuracy_reward`. ``"code"`` (official code): after deleting whitespace around
    every ``<``, ``>`` and ``/``, 0.9·match + 0.1·fmt with fmt = 1 iff the text fully matches
    ``<think>.*</think>.*\\boxed{.*}.*``. A ``None``/empty label gives ``None`` for that item; a missing
    ``answer`` column is a ``ValueError``; any completion content gives a float.
    """
    if form not in SOLVER_FORMS:
        raise ValueError(f"form must be one of {SOLVER_FORMS}, got {form!r}")
    same = answers_match if match is None else match

    def _matches(pred: str | None, label: str) -> bool:
        if pred is None:
            return False
        try:
            return bool(same(pred, label))
        except Exception:  # a custom match that chokes on model text means "not shown equal"
            return False

    def solver_reward(
        prompts: Sequence[Any], completions: Sequence[Any], answer: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        if answer is None:
            raise ValueError("solver_reward needs the 'answer' column (the pseudo-labels) in the dataset")
        labels = [answer] * len(completions) if isinstance(answer, str) else list(answer)
        labels = (labels + [None] * len(completions))[: len(completions)]
        rewards: list[float | None] = []
        for completion, label in zip(completions, labels, strict=True):
            if label is None or not str(label).strip():
                rewards.append(None)
                continue
            text = completion_text(completion)
            if form == "binary":
                rewards.append(1.0 if _matches(extract_boxed(text), str(label)) else 0.0)
                continue
            text = _TAG_SPACES.sub(r"\1", text)
            accuracy = 1.0 if _matches(extract_boxed(text), str(label)) else 0.0
            fmt = 1.0 if _THINK_FORMAT.fullmatch(text) else 0.0
            rewards.append(0.9 * accuracy + 0.1 * fmt)
        return rewards

    return solver_reward


solver_reward = make_solver_reward()
"""The paper's Solver reward: 1.0 when the last ``\\boxed{}`` matches the pseudo-label, else 0.0."""
