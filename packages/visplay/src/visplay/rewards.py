"""The Questioner reward and the Reasoner reward (paper §3.2-3.3; spec §2.3-2.4).

**Questioner.** For each question x_i the frozen Reasoner answers m times, seeing the image; the vote of
:mod:`visplay.voting` gives the confidence c_i, the share of the m answers that agree with the majority. The
uncertainty reward r_unc = 1 − |2c − 1| peaks when the Reasoner agrees with itself only half the time. The
diversity regulariser r_div(x_i) = λ·|C(i)|/G charges each question the share of its group that falls into its
BLEU-distance cluster C(i) (average linkage, merging below τ); the group is the G questions about one image
(``"image"`` scope, the paper) or the whole reward call (``"batch"`` scope, the reference code). The paper's
reward is max(0, r_unc − r_div) for a valid question and 0 otherwise; the code's is min(c, 1 − c) − r_div and
−1 − r_div for an invalid one. The vote, r_unc, the clustering and both forms are :mod:`rlcore.selfplay`'s.

**Reasoner.** The silver label ỹ (the majority answer of curation) is the ``answer`` column; the reward is 1
when the last ``\\boxed{}`` is equivalent to it (paper), or 0.9·acc + 0.1·fmt with a ``<think>`` format term
(reference code).

Both are TRL reward functions, ``f(prompts, completions, **kwargs) -> list[float | None]``: they never raise on
what the model wrote, only on wiring errors (a missing or misaligned column), naming the column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from rlcore.answers import extract_boxed
from rlcore.config import check_choice
from rlcore.rewards import completion_text, rank_and_world
from rlcore.rollout import Generator, SamplingParams, make_generator
from rlcore.selfplay import pseudo_label, question_reward, repetition_penalties
from visplay.config import RewardConfig
from visplay.prompts import QUESTION_FORMATS, REASONER_STYLES, parse_question, reasoner_messages
from visplay.voting import answers_equivalent

__all__ = [
    "DEFAULT_REASONER_SAMPLING",
    "DIVERSITY_SCOPES",
    "REWARD_MODES",
    "QuestionerReward",
    "ReasonerReward",
    "questioner_reward",
    "questioner_score",
    "reasoner_reward",
    "reasoner_sampling",
]

REWARD_MODES = ("paper", "code")
"""``"paper"``: the paper's reward forms; ``"code"``: the reference code's (spec §3, items 2 and 5)."""

DIVERSITY_SCOPES = ("image", "batch")
"""``"image"``: cluster the questions of each image (paper); ``"batch"``: the whole call (reference code)."""

_SAMPLING_FIELDS = ("max_new_tokens", "temperature", "top_p", "top_k")


def reasoner_sampling(reward: RewardConfig) -> dict[str, Any]:
    """How the frozen Reasoner samples its m answers per question, for the Questioner reward and for curation:
    the ``reward.reasoner_*`` fields as :class:`rlcore.rollout.SamplingParams` keywords."""
    return {name: getattr(reward, f"reasoner_{name}") for name in _SAMPLING_FIELDS}


DEFAULT_REASONER_SAMPLING: Mapping[str, Any] = MappingProxyType(reasoner_sampling(RewardConfig()))
"""The Reasoner sampling of a :class:`QuestionerReward` built without ``sampling`` (spec §3's defaults)."""


def questioner_score(confidence: float | None, penalty: float, valid: bool, *, mode: str = "paper") -> float:
    """The reward of one question from the Reasoner's confidence c and its diversity penalty r_div.

    ``"paper"``: valid → max(0, r_unc(c) − r_div) with r_unc(c) = 1 − |2c − 1|, invalid → 0.0. ``"code"``:
    valid → min(c, 1 − c) − r_div, invalid → −1 − r_div. This is :func:`rlcore.selfplay.question_reward`
    with ``form=mode``; c is ignored for an invalid question.
    """
    return question_reward(confidence, penalty, valid, form=mode)


def _column(kwargs: Mapping[str, Any], name: str, n: int) -> list | None:
    """The keyword column ``name`` as a list, None when absent; a length other than ``n`` is a ValueError."""
    values = kwargs.get(name)
    if values is None:
        return None
    values = list(values)
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} entries for {n} completions")
    return values


def _answer_list(entry: Any, index: int) -> list:
    """One ``reasoner_answers`` entry as a list; None (nothing was sampled) is an empty list."""
    if entry is None:
        return []
    if isinstance(entry, str) or not isinstance(entry, Sequence):
        raise ValueError(
            f"column 'reasoner_answers' entry {index} must be a list of answers, got {type(entry).__name__}"
        )
    return list(entry)


class QuestionerReward:
    """The Questioner's TRL reward function, scored by a frozen Reasoner (``__name__ == "questioner_reward"``).

    Per call, each completion is parsed with :func:`visplay.prompts.parse_question`. Its m Reasoner answers
    are the ``reasoner_answers`` column if given (one list per completion), else sampled: every *valid*
    question of the call goes, with its image (the ``image`` column, or the first of ``images``) in
    :func:`visplay.prompts.reasoner_messages`, into one ``generate`` call of ``reasoner`` with n = m, and the
    answer of a sample is its last ``\\boxed{}`` (empty or absent: missing). Invalid questions are never sent.
    c_i is the vote's ``p_hat`` (0.0 for an invalid question); r_div comes from
    :func:`rlcore.selfplay.repetition_penalties` over the parsed questions (``""`` for invalid ones, which
    still count in G), grouped by the ``image_id`` column (``"image"`` scope) or not at all (``"batch"``);
    the reward is :func:`questioner_score`.

    Under ``torch.distributed`` the G questions of one image may be spread over several processes; each process
    samples and votes on its own questions, then the (question, validity, confidence, image id) rows of all
    processes are gathered so that every group, and the batch, is clustered whole, and each process keeps its
    own slice of the rewards.

    ``reasoner`` is an :class:`rlcore.rollout.Generator` or a model spec for
    :func:`rlcore.rollout.make_generator`, built on first use. ``sampling`` overrides
    :data:`DEFAULT_REASONER_SAMPLING` with any :class:`rlcore.rollout.SamplingParams` field. TRL's
    ``log_metric`` keyword receives ``questioner/valid_rate``, ``questioner/confidence_mean`` (over valid
    questions, when there is one) and ``questioner/penalty_mean``. ``last_details`` keeps this process's
    per-item details of the last call.
    """

    def __init__(
        self,
        *,
        mode: str = "paper",
        diversity_scope: str = "image",
        diversity_weight: float = 1.0,
        bleu_threshold: float = 0.5,
        question_format: str = "question",
        num_reasoner_samples: int = 10,
        reasoner_prompt: str = "reasoning",
        reasoner: Generator | str | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> None:
        check_choice(mode, "mode", REWARD_MODES)
        check_choice(diversity_scope, "diversity_scope", DIVERSITY_SCOPES)
        check_choice(question_format, "question_format", QUESTION_FORMATS)
        check_choice(reasoner_prompt, "reasoner_prompt", REASONER_STYLES)
        if not diversity_weight >= 0:  # also rejects NaN
            raise ValueError(f"diversity_weight must be >= 0, got {diversity_weight!r}")
        if not 0 < bleu_threshold <= 1:
            raise ValueError(f"bleu_threshold must be in (0, 1], got {bleu_threshold!r}")
        if not isinstance(num_reasoner_samples, int) or num_reasoner_samples < 1:
            raise ValueError(f"num_reasoner_samples must be an integer >= 1, got {num_reasoner_samples!r}")
        try:
            params = SamplingParams(**{**DEFAULT_REASONER_SAMPLING, **(sampling or {})})
        except TypeError as exc:  # an unknown key
            raise ValueError(f"sampling: {exc}") from None
        self.__name__ = "questioner_reward"
        self.mode = mode
        self.diversity_scope = diversity_scope
        self.diversity_weight = float(diversity_weight)
        self.bleu_threshold = float(bleu_threshold)
        self.question_format = question_format
        self.num_reasoner_samples = num_reasoner_samples
        self.reasoner_prompt = reasoner_prompt
        self.reasoner = reasoner
        self.sampling = params
        self.last_details: list[dict] = []
        self._generator: Generator | None = None

    @classmethod
    def from_config(cls, cfg: Any, reasoner: Generator | str | None = None) -> QuestionerReward:
        """The reward of a :class:`visplay.config.VisPlayConfig`: its ``reward`` section and
        ``questioner.question_format``; ``reasoner`` as in the constructor."""
        reward = cfg.reward
        return cls(
            mode=reward.mode,
            diversity_scope=reward.diversity_scope,
            diversity_weight=reward.diversity_weight,
            bleu_threshold=reward.bleu_threshold,
            question_format=cfg.questioner.question_format,
            num_reasoner_samples=reward.num_reasoner_samples,
            reasoner_prompt=reward.reasoner_prompt,
            reasoner=reasoner,
            sampling=reasoner_sampling(reward),
        )

    def _reasoner_generator(self) -> Generator:
        if self._generator is None:
            self._generator = make_generator(self.reasoner)
        return self._generator

    def _sample_answers(self, parsed: Sequence[Any], images: Sequence[Any]) -> list[list[str | None]]:
        """m boxed answers of the Reasoner for each valid question (one ``generate`` call); [] for the others."""
        answers: list[list[str | None]] = [[] for _ in parsed]
        valid_idx = [i for i, p in enumerate(parsed) if p.valid]
        if not valid_idx:
            return answers
        prompts = [
            reasoner_messages(
                parsed[i].question,
                images[i],
                style=self.reasoner_prompt,
                question_type=parsed[i].type or None,
            )
            for i in valid_idx
        ]
        rows = self._reasoner_generator().generate(prompts, self.sampling, n=self.num_reasoner_samples)
        for i, samples in zip(valid_idx, rows, strict=True):
            answers[i] = [extract_boxed(sample.text) or None for sample in samples]
        return answers

    def _wiring(self, kwargs: Mapping[str, Any], n: int) -> tuple[list | None, list | None, list | None]:
        """(reasoner_answers, images, image_ids) columns, checked before any scoring."""
        answers = _column(kwargs, "reasoner_answers", n)
        images = None
        if answers is None:
            if self.reasoner is None:
                raise ValueError(
                    "column 'reasoner_answers' is absent and this QuestionerReward has no reasoner to sample them"
                )
            images = _column(kwargs, "image", n)
            if images is None:
                many = _column(kwargs, "images", n)
                if many is None:
                    raise ValueError("column 'image' (or 'images') is needed to show the Reasoner the image")
                images = [cell[0] if isinstance(cell, list | tuple) and cell else cell for cell in many]
        image_ids = None
        if self.diversity_scope == "image":
            image_ids = _column(kwargs, "image_id", n)
            if image_ids is None:
                raise ValueError("column 'image_id' is needed in the 'image' diversity scope")
        return answers, images, image_ids

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        n = len(completions)
        answer_column, images, image_ids = self._wiring(kwargs, n)
        parsed = [
            parse_question(completion_text(c), question_format=self.question_format) for c in completions
        ]
        if answer_column is None:
            answers = self._sample_answers(parsed, images)
        else:
            answers = [_answer_list(entry, i) for i, entry in enumerate(answer_column)]
        votes = [
            pseudo_label(a, match=answers_equivalent) if p.valid else None
            for p, a in zip(parsed, answers, strict=True)
        ]
        confidences = [0.0 if v is None else v.p_hat for v in votes]

        rank, world = rank_and_world()
        rows = [
            (rank, p.question, p.valid, c, None if image_ids is None else image_ids[i])
            for i, (p, c) in enumerate(zip(parsed, confidences, strict=True))
        ]
        if world > 1:
            from accelerate.utils import gather_object

            # In rank order, so every process clusters the same groups the same way.
            rows = gather_object(rows)
        questions = [row[1] for row in rows]
        valid = [row[2] for row in rows]
        conf = [row[3] for row in rows]
        penalties = repetition_penalties(
            questions,
            tau=self.bleu_threshold,
            lam=self.diversity_weight,
            groups=None if self.diversity_scope == "batch" else [row[4] for row in rows],
        )
        all_rewards = [
            questioner_score(c, r, ok, mode=self.mode)
            for c, r, ok in zip(conf, penalties, valid, strict=True)
        ]
        self._log(kwargs.get("log_metric"), valid, conf, penalties)

        mine = [j for j, row in enumerate(rows) if row[0] == rank]
        rewards = [all_rewards[j] for j in mine]
        self.last_details = [
            {
                "question": p.question,
                "valid": p.valid,
                "label": None if v is None else v.label,
                "confidence": c,
                "penalty": penalties[j],
                "reward": all_rewards[j],
            }
            for p, v, c, j in zip(parsed, votes, confidences, mine, strict=True)
        ]
        return rewards

    @staticmethod
    def _log(
        log_metric: Any, valid: Sequence[bool], conf: Sequence[float], penalties: Sequence[float]
    ) -> None:
        if not callable(log_metric) or not valid:
            return
        log_metric("questioner/valid_rate", sum(valid) / len(valid))
        valid_conf = [c for c, ok in zip(conf, valid, strict=True) if ok]
        if valid_conf:
            log_metric("questioner/confidence_mean", math.fsum(valid_conf) / len(valid_conf))
        log_metric("questioner/penalty_mean", math.fsum(penalties) / len(penalties))


questioner_reward = QuestionerReward()
"""The paper's Questioner reward; it needs the ``reasoner_answers`` column (it has no reasoner to sample)."""


_THINK_FORMAT = re.compile(r"<think>.*?</think>\s*\\boxed\{.*\}", re.DOTALL)


class ReasonerReward:
    """The Reasoner's TRL reward function against the silver labels of the ``answer`` column.

    acc = 1.0 iff the last ``\\boxed{}`` of the completion is present and
    :func:`visplay.voting.answers_equivalent` to the label. ``"paper"`` returns acc; ``"code"`` returns
    0.9·acc + 0.1·fmt, fmt = 1 iff the stripped completion fully matches
    ``<think>.*?</think>\\s*\\\\boxed\\{.*\\}`` (dot matches newline). A ``None`` or empty label gives ``None``
    (not applicable). A missing ``answer`` column or one of the wrong length is a ``ValueError``.
    """

    def __init__(self, mode: str = "paper") -> None:
        check_choice(mode, "mode", REWARD_MODES)
        self.__name__ = "reasoner_reward"
        self.mode = mode

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        *,
        answer: Sequence[Any] | None = None,
        **kwargs,
    ) -> list[float | None]:
        labels = _column({"answer": answer}, "answer", len(completions))
        if labels is None:
            raise ValueError("column 'answer' (the silver labels) is needed by the Reasoner reward")
        rewards: list[float | None] = []
        for completion, label in zip(completions, labels, strict=True):
            if label is None or not str(label).strip():
                rewards.append(None)
                continue
            text = completion_text(completion)
            pred = extract_boxed(text)
            acc = 1.0 if pred is not None and answers_equivalent(pred, str(label)) else 0.0
            if self.mode == "paper":
                rewards.append(acc)
            else:
                fmt = 1.0 if _THINK_FORMAT.fullmatch(text.strip()) else 0.0
                rewards.append(0.9 * acc + 0.1 * fmt)
        return rewards


reasoner_reward = ReasonerReward()
"""The paper's Reasoner reward: 1.0 when the last ``\\boxed{}`` is equivalent to the silver label, else 0.0."""
