"""Call-aware rewards (paper §3.3, Eq. 3-4): pure scoring functions and TRL reward functions.

ρ (rho), the call ratio, is the share of an answer's response tokens written by the LLM. Answers to one
query form a group, and the group falls into one of three scenarios:

1. student-solvable: some member is correct without calling the LLM;
2. teacher-dependent: not 1, but some member is correct (with help);
3. teacher-unsolvable: no member is correct.

The simple reward is ``1[correct] − ρ`` (Eq. 3). The difficulty-aware reward (Eq. 4) pays an independence
bonus in scenario 1, penalises stubborn non-callers in scenario 2 and rewards exploring calls in scenario 3.

The TRL reward functions have the signature ``f(prompts, completions, **kwargs) -> list[float]`` and are
total: whatever the model wrote and whichever columns are missing, they return one float per completion.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from rlcore.answers import answers_match, extract_boxed, extract_choice
from rlcore.rewards import completion_text, rank_and_world

__all__ = [
    "accuracy_reward",
    "call_ratio",
    "difficulty_aware_reward",
    "difficulty_aware_scores",
    "group_scenario",
    "is_correct",
    "make_accuracy_reward",
    "make_difficulty_aware_reward",
    "make_simple_reward",
    "requested_call_ratio",
    "simple_reward",
    "simple_reward_score",
]

MetricLogger = Callable[[str, float], Any]
"""``log_metric(name, value)``: where the reward functions report their batch statistics. TRL 1.16 passes its
trainer's logger to every reward call as the ``log_metric`` keyword; one given to a factory is the fallback."""

# The official code's command parser: whitespace is tolerated around "<", ">" and "/".
_LENIENT_CALL = re.compile(r"<\s*call\s*>\s*([0-9]+)\s*<\s*/\s*call\s*>")
# The multiple-choice fallback when there is no boxed letter: the last "Answer: X" (or "Answer: (X)").
_ANSWER_LINE = re.compile(r"(?i:answer)\s*:\s*\(?([A-J])(?![A-Za-z])")
_WHITESPACE = re.compile(r"\s+")


# ------------------------------------------------------------------------------------------ pure scores


def _clamp_ratio(value: Any) -> float:
    """ρ as a float in [0, 1]; None, NaN and anything that is not a number count as 0."""
    try:
        ratio = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    if math.isnan(ratio):
        return 0.0
    return min(1.0, max(0.0, ratio))


def call_ratio(llm_tokens: int, total_tokens: int) -> float:
    """ρ = llm_tokens / total_tokens, or 0.0 for an empty answer.

    Raises ``ValueError`` for negative counts or more LLM tokens than response tokens.
    """
    if llm_tokens < 0 or total_tokens < 0:
        raise ValueError(f"token counts must be >= 0, got llm={llm_tokens}, total={total_tokens}")
    if llm_tokens > total_tokens:
        raise ValueError(f"llm_tokens ({llm_tokens}) exceeds total_tokens ({total_tokens})")
    return llm_tokens / total_tokens if total_tokens else 0.0


def _capped_length(digits: str, cap: int) -> int:
    # A command may carry thousands of digits; capping before int() avoids Python's digit limit.
    digits = digits.lstrip("0") or "0"
    return cap if len(digits) > len(str(cap)) else min(int(digits), cap)


def requested_call_ratio(text: str, num_tokens: int, per_call_cap: int = 4096) -> float:
    """The official code's ρ: ``min(1, Σ min(n_i, per_call_cap) / num_tokens)`` over the commands in ``text``.

    Tags are parsed leniently (``< call > 40 < / call >`` counts as 40). 0.0 when ``num_tokens ≤ 0`` or
    ``text`` is not a string.
    """
    if not isinstance(text, str) or not num_tokens > 0:
        return 0.0
    requested = sum(_capped_length(m.group(1), per_call_cap) for m in _LENIENT_CALL.finditer(text))
    return min(1.0, requested / num_tokens)


def simple_reward_score(correct: bool, ratio: float) -> float:
    """The simple reward ``1[correct] − ρ`` (paper Eq. 3), ρ clamped to [0, 1]."""
    return float(bool(correct)) - _clamp_ratio(ratio)


def _group(
    correct: Sequence[bool], ratios: Sequence[float], called: Sequence[bool] | None
) -> tuple[list[bool], list[float], list[bool]]:
    if len(correct) != len(ratios) or (called is not None and len(called) != len(correct)):
        lengths = f"{len(correct)} correct, {len(ratios)} ratios"
        if called is not None:
            lengths += f", {len(called)} called"
        raise ValueError(f"a group needs one value per member, got {lengths}")
    rhos = [_clamp_ratio(r) for r in ratios]
    flags = [r > 0 for r in rhos] if called is None else [bool(c) for c in called]
    return [bool(c) for c in correct], rhos, flags


def _scenario(correct: list[bool], called: list[bool]) -> int:
    if any(c and not k for c, k in zip(correct, called, strict=True)):
        return 1
    return 2 if any(correct) else 3


def group_scenario(
    correct: Sequence[bool], ratios: Sequence[float], called: Sequence[bool] | None = None
) -> int:
    """The scenario of a group of answers to one query: 1 student-solvable (a member is correct without a
    call), 2 teacher-dependent (otherwise some member is correct), 3 teacher-unsolvable (none is; also an
    empty group). ``called_i`` defaults to ``ρ_i > 0``."""
    flags, _, calls = _group(correct, ratios, called)
    return _scenario(flags, calls)


def _scenario_scores(
    scenario: int,
    correct: list[bool],
    ratios: list[float],
    called: list[bool],
    *,
    independence_bonus: float,
    stubborn_penalty: float,
    exploration_reward: bool,
) -> list[float]:
    scores = []
    for ok, rho, calls in zip(correct, ratios, called, strict=True):
        if ok:
            # A correct answer without a call only exists in scenario 1, where independence earns the bonus.
            scores.append(1.0 - rho if calls else float(independence_bonus))
        elif not calls:
            # Refusing help is "stubborn" only when help is known to work (scenario 2).
            scores.append(float(stubborn_penalty) if scenario == 2 else 0.0)
        else:
            # Calling on a query nobody solved is exploration, paid ρ (scenario 3).
            scores.append(rho if scenario == 3 and exploration_reward else 0.0)
    return scores


def difficulty_aware_scores(
    correct: Sequence[bool],
    ratios: Sequence[float],
    called: Sequence[bool] | None = None,
    *,
    independence_bonus: float = 1.5,
    stubborn_penalty: float = -1.0,
    exploration_reward: bool = True,
) -> list[float]:
    """The difficulty-aware reward (paper Eq. 4) of each member of one query's group.

    ======== ================== =============== ================== =============================
    scenario correct, no call   correct, called wrong, no call     wrong, called
    ======== ================== =============== ================== =============================
    1        independence_bonus 1 − ρ           0                  0
    2        —                  1 − ρ           stubborn_penalty   0
    3        —                  —               0                  ρ if exploration_reward, else 0
    ======== ================== =============== ================== =============================

    An empty group gives ``[]``; mismatched lengths raise ``ValueError``.
    """
    flags, rhos, calls = _group(correct, ratios, called)
    return _scenario_scores(
        _scenario(flags, calls),
        flags,
        rhos,
        calls,
        independence_bonus=independence_bonus,
        stubborn_penalty=stubborn_penalty,
        exploration_reward=exploration_reward,
    )


def is_correct(completion: Any, answer: Any, kind: str = "math") -> bool:
    """Whether ``completion`` (a string or chat messages) answers ``answer``.

    ``kind="math"``: the last ``\\boxed{}`` matches the gold answer (:func:`rlcore.answers.answers_match`).
    ``kind="choice"``: the first letter A–J in the last box, else the last ``Answer: X``, equals the gold
    letter exactly. No box, or a missing or empty gold answer, is False.
    """
    gold = "" if answer is None else str(answer).strip()
    if not gold:
        return False
    text = completion_text(completion)
    if kind == "choice":
        letter = extract_choice(text)
        if letter is None:
            fallback = _ANSWER_LINE.findall(text)
            letter = fallback[-1] if fallback else None
        return letter == gold
    return answers_match(extract_boxed(text), gold)


# ------------------------------------------------------------------------------------- TRL reward functions


def _column(kwargs: dict, name: str, n: int) -> list:
    """One entry per completion: a missing column is all None, a scalar is broadcast, a short one is padded."""
    values = kwargs.get(name)
    if values is None or isinstance(values, str | bytes | int | float):
        return [values] * n
    try:
        values = list(values)
    except TypeError:
        return [values] * n
    return (values + [None] * n)[:n]


def _length(ids: Any) -> int:
    try:
        return len(ids)
    except TypeError:
        return 0


def _prompt_key(prompt: Any) -> str:
    # Groups are formed by equal prompts wherever they sit in the batch; a message list compares by its JSON.
    return json.dumps(prompt, sort_keys=True, default=str)


def _read_batch(
    prompts: Sequence[Any], completions: Sequence[Any], kwargs: dict, ratio_source: str
) -> tuple[list[str], list[bool], list[float], list[bool]]:
    """(group key, correct, ρ, called) of every completion."""
    n = len(completions)
    texts = [completion_text(c) for c in completions]
    answers = _column(kwargs, "answer", n)
    kinds = _column(kwargs, "kind", n)
    keys = [_prompt_key(p) for p in _column({"prompts": prompts}, "prompts", n)]
    correct = [
        is_correct(t, a, "choice" if k == "choice" else "math")
        for t, a, k in zip(texts, answers, kinds, strict=True)
    ]
    if ratio_source == "requested":
        ids = _column(kwargs, "completion_ids", n)
        ratios = [requested_call_ratio(t, _length(i)) for t, i in zip(texts, ids, strict=True)]
        # The code's "called": a command opener anywhere, however it is spaced.
        called = ["<call>" in _WHITESPACE.sub("", t) for t in texts]
    else:
        ratios = [_clamp_ratio(r) for r in _column(kwargs, "call_ratio", n)]
        called = [r > 0 for r in ratios]
    return keys, correct, ratios, called


def _group_indices(keys: Sequence[str]) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _log(
    log_metric: MetricLogger | None,
    correct: list[bool],
    ratios: list[float],
    called: list[bool],
    scenarios: list[int],
) -> None:
    if log_metric is None:
        return

    def mean(values: Sequence[float]) -> float:
        return math.fsum(values) / len(values) if values else 0.0

    log_metric("relay/call_ratio", mean(ratios))
    log_metric("relay/called_frac", mean([float(c) for c in called]))
    log_metric("relay/accuracy", mean([float(c) for c in correct]))
    for scenario in (1, 2, 3):
        log_metric(f"relay/scenario_{scenario}", mean([float(s == scenario) for s in scenarios]))


def _group_scenarios(keys: list[str], correct: list[bool], called: list[bool]) -> list[int]:
    return [_scenario([correct[i] for i in idx], [called[i] for i in idx]) for idx in _group_indices(keys)]


def _check_ratio_source(ratio_source: str) -> None:
    if ratio_source not in ("actual", "requested"):
        raise ValueError(f"ratio_source must be 'actual' or 'requested', got {ratio_source!r}")


def make_accuracy_reward(*, ratio_source: str = "actual", log_metric: MetricLogger | None = None):
    """The plain GRPO baseline's reward: 1.0 for a correct answer, else 0.0 (calls are neither paid nor
    charged). ``ratio_source`` only affects the logged ρ statistics."""
    _check_ratio_source(ratio_source)

    def accuracy_reward(prompts, completions, **kwargs) -> list[float]:
        keys, correct, ratios, called = _read_batch(prompts, completions, kwargs, ratio_source)
        _log(
            kwargs.get("log_metric") or log_metric,
            correct,
            ratios,
            called,
            _group_scenarios(keys, correct, called),
        )
        return [float(c) for c in correct]

    return accuracy_reward


def make_simple_reward(*, ratio_source: str = "actual", log_metric: MetricLogger | None = None):
    """The simple reward ``1[correct] − ρ`` (paper Eq. 3) as a TRL reward function.

    ρ is the rollout's ``call_ratio`` column (``"actual"``) or :func:`requested_call_ratio` of the text over
    ``len(completion_ids[i])`` (``"requested"``, the official code). Scenario statistics, when logged, are
    over this process's groups.
    """
    _check_ratio_source(ratio_source)

    def simple_reward(prompts, completions, **kwargs) -> list[float]:
        keys, correct, ratios, called = _read_batch(prompts, completions, kwargs, ratio_source)
        _log(
            kwargs.get("log_metric") or log_metric,
            correct,
            ratios,
            called,
            _group_scenarios(keys, correct, called),
        )
        return [simple_reward_score(c, r) for c, r in zip(correct, ratios, strict=True)]

    return simple_reward


def make_difficulty_aware_reward(
    *,
    independence_bonus: float = 1.5,
    stubborn_penalty: float = -1.0,
    exploration_reward: bool = True,
    ratio_source: str = "actual",
    scope: str = "group",
    log_metric: MetricLogger | None = None,
):
    """The difficulty-aware reward (paper Eq. 4; :func:`difficulty_aware_scores`) as a TRL reward function.

    ``scope="group"`` (the paper) decides the scenario per group of completions with the same prompt,
    wherever they sit in the batch; ``scope="batch"`` (the official code) decides one scenario for the whole
    reward batch. Under ``torch.distributed`` with more than one process, a group may be split across ranks,
    so (key, correct, ρ, called) is first gathered from every rank with ``accelerate.utils.gather_object``;
    each rank then returns the scores of its own completions. ``ratio_source`` is as in
    :func:`make_simple_reward`.
    """
    _check_ratio_source(ratio_source)
    if scope not in ("group", "batch"):
        raise ValueError(f"scope must be 'group' or 'batch', got {scope!r}")
    weights = {
        "independence_bonus": independence_bonus,
        "stubborn_penalty": stubborn_penalty,
        "exploration_reward": exploration_reward,
    }

    def difficulty_aware_reward(prompts, completions, **kwargs) -> list[float]:
        keys, correct, ratios, called = _read_batch(prompts, completions, kwargs, ratio_source)
        rank, world = rank_and_world()
        rows = list(zip([rank] * len(keys), keys, correct, ratios, called, strict=True))
        if world > 1:
            from accelerate.utils import gather_object

            rows = gather_object(rows)
        all_keys = [row[1] for row in rows]
        all_correct = [row[2] for row in rows]
        all_ratios = [row[3] for row in rows]
        all_called = [row[4] for row in rows]
        groups = _group_indices(all_keys) if scope == "group" else [list(range(len(rows)))]
        scores = [0.0] * len(rows)
        scenarios = []
        for idx in groups:
            group_correct = [all_correct[i] for i in idx]
            group_ratios = [all_ratios[i] for i in idx]
            group_called = [all_called[i] for i in idx]
            scenario = _scenario(group_correct, group_called)
            scenarios.append(scenario)
            group_scores = _scenario_scores(scenario, group_correct, group_ratios, group_called, **weights)
            for i, score in zip(idx, group_scores, strict=True):
                scores[i] = score
        _log(kwargs.get("log_metric") or log_metric, all_correct, all_ratios, all_called, scenarios)
        return [score for row, score in zip(rows, scores, strict=True) if row[0] == rank]

    return difficulty_aware_reward


accuracy_reward = make_accuracy_reward()
"""1.0 for a correct answer, else 0.0: the reward of the plain GRPO baseline."""
simple_reward = make_simple_reward(ratio_source="actual")
"""``1[correct] − ρ`` with the rollout's actual ρ (paper Eq. 3)."""
difficulty_aware_reward = make_difficulty_aware_reward()
"""Paper Eq. 4 with the paper's weights, scenario per query group and the actual ρ."""
