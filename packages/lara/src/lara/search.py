"""The weight search of LARA and B-LARA (spec §2, ``lara.search``).

LARA (Huang, Huang & Huang, *Divide, Reweight, and Conquer: A Logit Arithmetic Approach for In-Context
Learning*, arXiv 2410.10074) combines the next-token distributions of G demonstration groups as a weighted product
of experts, log p ∝ Σ_i w̃_i log p_i with w̃ = w / Σw. The weights w are found without gradients by minimising a
2-fold cross-fitted loss on the demonstrations themselves: the demos are cut into halves A and B, the groups of A
(weighted by the first part of w, normalised on its own) are scored on B's examples and the groups of B (the rest
of w) on A's. B-LARA restricts w to {0, 1}, so unselected groups are never run.

:func:`optimize_weights` wraps nevergrad (CMA-ES, the paper's optimiser; NGOpt, the official code's; or an
exhaustive enumeration of binary masks), :func:`fit_lara` runs the search for every candidate group size k and
keeps the best, returning a :class:`LaraFit` whose ``groups`` are ``groups_A + groups_B`` as demo indices.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lara.grouping import candidate_group_sizes, cross_fit_groups

if TYPE_CHECKING:
    from lara.config import LaraConfig

__all__ = [
    "DEGENERATE_LOSS",
    "ExampleLoss",
    "LaraFit",
    "SearchResult",
    "cross_fit_loss",
    "fit_lara",
    "optimize_weights",
    "select_group_size",
    "substitute_truth",
]

DEGENERATE_LOSS = 999999999.0
"""The loss of weights whose total, or one half's total, is zero (w̃ is undefined there)."""

SEARCH_OPTIMIZERS = ("cma", "ngopt", "exhaustive")
FINAL_MODES = ("best", "last")
MAX_EXHAUSTIVE_GROUPS = 16

ExampleLoss = Callable[[list[list[dict]], list[float], dict], float]
"""``example_loss(groups, normalised_weights, example) -> float``: the loss of one held-out example."""


def _normalize(weights: Sequence[float]) -> list[float]:
    from lara.arithmetic import normalize_weights

    return [float(w) for w in normalize_weights([float(w) for w in weights])]


# --------------------------------------------------------------------------------------------------------------
# The cross-fitted objective


def cross_fit_loss(
    weights: Sequence[float],
    demos: Sequence[dict],
    group_size: int,
    example_loss: ExampleLoss,
) -> float:
    """LARA's 2-fold cross-fitted loss of the raw weights w over the groups ``groups_A + groups_B``.

    With ``(ga, gb) = cross_fit_groups(demos, k)`` and g = len(ga): A's groups, weighted by
    ``normalize_weights(w[:g])``, are scored on every example of B, then B's groups, weighted by
    ``normalize_weights(w[g:])``, on every example of A (in that order); the result is the sum. When Σw, Σw[:g] or
    Σw[g:] is zero the normalised weights w̃ are undefined and :data:`DEGENERATE_LOSS` is returned without calling
    ``example_loss``.

    Raises:
        ValueError: ``len(weights) != len(ga) + len(gb)``.
    """
    demos = list(demos)
    groups_a, groups_b = cross_fit_groups(demos, group_size)
    g = len(groups_a)
    w = [float(x) for x in weights]
    if len(w) != g + len(groups_b):
        raise ValueError(
            f"expected {g + len(groups_b)} weights ({g} groups in half A, {len(groups_b)} in half B), got {len(w)}"
        )
    if sum(w) == 0 or sum(w[:g]) == 0 or sum(w[g:]) == 0:
        return DEGENERATE_LOSS
    weights_a = _normalize(w[:g])
    weights_b = _normalize(w[g:])
    half = len(demos) // 2
    half_a, half_b = demos[:half], demos[half:]
    total = 0.0
    for example in half_b:
        total += float(example_loss(groups_a, weights_a, example))
    for example in half_a:
        total += float(example_loss(groups_b, weights_b, example))
    return total


def substitute_truth(completion: str, gold: str, answer_type: str) -> str | None:
    """The official code's training target for the ``greedy_substitute`` loss: the completion with the gold in.

    ``option``: every ``(...)`` span is replaced by ``gold.strip()``; ``letter``: the first capital letter is;
    other answer types have no rule (``None``).

    >>> substitute_truth(" (B) because (C)", "(A)", "option")
    ' (A) because (A)'
    >>> substitute_truth(" B. yes", " C", "letter")
    ' C. yes'
    """
    answer = gold.strip()
    if answer_type == "option":
        return re.sub(r"\([^)]+\)", lambda _: answer, completion)
    if answer_type == "letter":
        return re.sub(r"[A-Z]", lambda _: answer, completion, count=1)
    return None


# --------------------------------------------------------------------------------------------------------------
# The optimiser


@dataclass
class SearchResult:
    """The outcome of :func:`optimize_weights`: the chosen raw weights, their loss and every objective call."""

    weights: list[float]
    loss: float
    history: list[tuple[list[float], float]] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        """The number of objective calls."""
        return len(self.history)


def _exhaustive_masks(n_groups: int) -> list[list[float]]:
    """Binary masks m = 1 … 2^G − 1 in order, weight_i = bit i of m (the all-zero mask is skipped)."""
    return [[float((m >> i) & 1) for i in range(n_groups)] for m in range(1, 2**n_groups)]


def optimize_weights(
    objective: Callable[[list[float]], float],
    n_groups: int,
    *,
    binary: bool = False,
    budget: int = 20,
    optimizer: str = "cma",
    bounds: Sequence[float] = (-1.5, 1.5),
    seed: int = 0,
    final: str = "best",
) -> SearchResult:
    """Minimise ``objective`` over G group weights with a seeded gradient-free optimiser (nevergrad).

    Search spaces: continuous LARA uses ``ng.p.Array(init=[1/G]*G, lower, upper)`` (the uniform ensemble is the
    starting point; 1/G is clipped into the box when the bounds exclude it); B-LARA uses ``ng.p.Choice([0, 1], repetitions=G)``. The parametrization's random state is
    ``np.random.RandomState(seed)``, so the same seed gives the same history. ``optimizer``: ``"cma"``
    (``ng.optimizers.CMA``, the paper's CMA-ES), ``"ngopt"`` (``ng.optimizers.NGOpt``, the official code's) —
    both run ``budget`` ask → evaluate → tell steps — or ``"exhaustive"`` (binary only, G ≤ 16): every mask
    m = 1 … 2^G − 1 in order with weight_i = bit i of m, ``budget`` ignored.

    ``final="best"`` returns the evaluated candidate with the lowest loss (earliest on ties); ``final="last"``
    (official code) asks one more candidate, evaluates it and returns it whatever its loss (exhaustive: the last
    mask). Every objective call, with its weights as plain floats, is appended to ``history``.

    Raises:
        ValueError: unknown optimizer or final mode, ``budget < 1``, ``n_groups < 1``, exhaustive search with
            continuous weights or more than 16 groups.
    """
    if optimizer not in SEARCH_OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(SEARCH_OPTIMIZERS)}")
    if final not in FINAL_MODES:
        raise ValueError(f"unknown final mode {final!r}; expected one of {', '.join(FINAL_MODES)}")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be an integer >= 1, got {budget!r}")
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or n_groups < 1:
        raise ValueError(f"n_groups must be an integer >= 1, got {n_groups!r}")
    if len(bounds) != 2 or not float(bounds[0]) < float(bounds[1]):
        raise ValueError(f"bounds must be (low, high) with low < high, got {tuple(bounds)!r}")

    history: list[tuple[list[float], float]] = []

    def evaluate(weights: list[float]) -> float:
        loss = float(objective(list(weights)))
        history.append((list(weights), loss))
        return loss

    def best() -> SearchResult:
        index = min(range(len(history)), key=lambda i: history[i][1])  # min keeps the earliest on ties
        weights, loss = history[index]
        return SearchResult(list(weights), loss, history)

    if optimizer == "exhaustive":
        if not binary:
            raise ValueError("exhaustive search needs binary weights (B-LARA)")
        if n_groups > MAX_EXHAUSTIVE_GROUPS:
            raise ValueError(
                f"exhaustive search supports at most {MAX_EXHAUSTIVE_GROUPS} groups, got {n_groups}"
            )
        for mask in _exhaustive_masks(n_groups):
            evaluate(mask)
        if final == "last":
            weights, loss = history[-1]
            return SearchResult(list(weights), loss, history)
        return best()

    import nevergrad as ng
    import numpy as np

    if binary:
        parametrization = ng.p.Choice([0, 1], repetitions=n_groups)
    else:
        low, high = float(bounds[0]), float(bounds[1])
        start = min(max(1.0 / n_groups, low), high)  # 1/G, clipped into a box that excludes it
        parametrization = ng.p.Array(init=[start] * n_groups, lower=low, upper=high)
    parametrization.random_state = np.random.RandomState(seed)
    optimizer_class = ng.optimizers.CMA if optimizer == "cma" else ng.optimizers.NGOpt
    opt = optimizer_class(parametrization=parametrization, budget=budget, num_workers=1)

    def to_floats(value: Any) -> list[float]:
        return [float(x) for x in np.asarray(value, dtype=float).reshape(-1)]

    for _ in range(budget):
        candidate = opt.ask()
        loss = evaluate(to_floats(candidate.value))
        opt.tell(candidate, loss)
    if final == "last":
        candidate = opt.ask()
        weights = to_floats(candidate.value)
        loss = evaluate(weights)
        return SearchResult(weights, loss, history)
    return best()


def select_group_size(scores: Mapping[int, float]) -> int:
    """The group size k with the lowest cross-fit loss; ties go to the smaller k.

    Raises:
        ValueError: ``scores`` is empty.
    """
    if not scores:
        raise ValueError("no group size was scored")
    return min(scores, key=lambda k: (float(scores[k]), k))


# --------------------------------------------------------------------------------------------------------------
# The fitted model


@dataclass
class LaraFit:
    """A fitted LARA (``binary=False``) or B-LARA (``binary=True``) model.

    ``groups`` are indices into the demo list, ``groups_A + groups_B`` of the chosen group size k, and ``weights``
    the raw weights w (one per group; normalised to w̃ when combining). ``scores[k]`` is the cross-fit loss reached
    for each candidate k and ``histories[k]`` the list of ``(weights, loss)`` evaluations of its search.
    """

    binary: bool
    group_size: int
    groups: list[list[int]]
    weights: list[float]
    scores: dict[int, float]
    histories: dict[int, list] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-safe dict (int keys as strings, tuples as lists); :meth:`from_dict` inverts it exactly."""
        return {
            "binary": bool(self.binary),
            "group_size": int(self.group_size),
            "groups": [[int(i) for i in group] for group in self.groups],
            "weights": [float(w) for w in self.weights],
            "scores": {str(k): float(v) for k, v in self.scores.items()},
            "histories": {
                str(k): [[[float(w) for w in weights], float(loss)] for weights, loss in history]
                for k, history in self.histories.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LaraFit:
        """The fit written by :meth:`to_dict` (history entries come back as ``(weights, loss)`` tuples)."""
        return cls(
            binary=bool(data["binary"]),
            group_size=int(data["group_size"]),
            groups=[[int(i) for i in group] for group in data["groups"]],
            weights=[float(w) for w in data["weights"]],
            scores={int(k): float(v) for k, v in data["scores"].items()},
            histories={
                int(k): [([float(w) for w in weights], float(loss)) for weights, loss in history]
                for k, history in data.get("histories", {}).items()
            },
        )

    @property
    def n_groups(self) -> int:
        """G, the number of groups."""
        return len(self.groups)


# --------------------------------------------------------------------------------------------------------------
# Fitting


def _demos_fingerprint(demos: Sequence[dict]) -> str:
    text = json.dumps(list(demos), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _token_ids(tokenizer: Any, text: str) -> list[int]:
    encoded = tokenizer(text, add_special_tokens=False)
    ids = encoded["input_ids"] if isinstance(encoded, Mapping) or hasattr(encoded, "keys") else encoded
    return [int(i) for i in ids]


class _ExampleLosses:
    """The per-example losses of :func:`fit_lara` for one demo list (teacher-forced, cached, greedy-substitute)."""

    def __init__(self, engine: Any, demos: list[dict], config: LaraConfig, cache: dict | None) -> None:
        self.engine = engine
        self.demos = demos
        self.config = config
        self.cache = cache
        self.fingerprint = _demos_fingerprint(demos) if cache is not None else ""
        self.task_format = getattr(engine, "task_format", None) or config.task_format
        self._positions = {id(example): j for j, example in enumerate(demos)}

    def _key(self, groups: list[list[dict]], example: dict) -> tuple:
        position = self._positions.get(id(example))
        group_ids = tuple(tuple(self._positions.get(id(d), -1) for d in group) for group in groups)
        return (id(self.engine), self.fingerprint, group_ids, position)

    def teacher_forced(self, groups: list[list[dict]], weights: list[float], example: dict) -> float:
        if self.cache is None:
            return float(self.engine.target_nll(groups, weights, example))
        from lara.arithmetic import combine_logprobs, target_nll

        key = self._key(groups, example)
        entry = self.cache.get(key)
        if entry is None:
            continuation = self.engine.continuation_ids(example, str(example["target"]))
            logprobs = self.engine.group_logprobs(groups, example, continuation)
            entry = (list(continuation), logprobs)
            self.cache[key] = entry
        continuation, logprobs = entry
        combined = combine_logprobs(logprobs, weights)
        return float(target_nll(combined[: len(continuation)], continuation))

    def greedy_substitute(self, groups: list[list[dict]], weights: list[float], example: dict) -> float:
        from lara.rewards import infer_answer_type

        answer_type = infer_answer_type(example["target"], self.task_format)
        output = self.engine.generate(
            groups,
            weights,
            example,
            max_new_tokens=self.config.max_new_tokens,
            stop=tuple(self.config.stop),
            return_logprobs=True,
        )
        truth = substitute_truth(output.text, str(example["target"]), answer_type)
        step_logprobs = output.step_logprobs
        if truth is None or step_logprobs is None or len(step_logprobs) == 0:
            return self.teacher_forced(groups, weights, example)
        truth_ids = _token_ids(self.engine.tokenizer, truth)
        if truth_ids and int(step_logprobs[0].argmax()) != truth_ids[0]:
            truth_ids = truth_ids[1:]
        n = min(len(step_logprobs), len(truth_ids))
        if n == 0:
            return self.teacher_forced(groups, weights, example)
        total = sum(-float(step_logprobs[j][truth_ids[j]]) for j in range(n))
        return total / n


def fit_lara(
    engine: Any,
    demos: Sequence[dict],
    config: LaraConfig | None = None,
    *,
    binary: bool | None = None,
    group_cache: dict | None = None,
) -> LaraFit:
    """Fit LARA (or B-LARA) weights on the demonstrations with the cross-fitted objective.

    For every k in ``candidate_group_sizes(len(demos), config.group_sizes)`` the objective
    ``w ↦ cross_fit_loss(w, demos, k, example_loss)`` is minimised with :func:`optimize_weights` (the config's
    optimizer, budget, weight_bounds, final_candidate and seed); ``scores[k]`` is the loss it returns and the k
    with the lowest score wins (:func:`select_group_size`). ``example_loss`` follows ``config.loss``:

    - ``teacher_forced``: the NLL of ``" " + target`` under the combined half-model (``engine.target_nll``). With
      ``config.cache_group_logprobs`` each held-out example's group log-probs (rows = the other half's groups)
      are computed once, by one ``engine.group_logprobs`` call, and recombined for every candidate w — exact.
    - ``greedy_substitute`` (official code): greedy generation from the combined half-model, the gold substituted
      into the output (:func:`substitute_truth`), the mean NLL of that truth along the generated step log-probs;
      answer types without a rule, or nothing to align, fall back to teacher-forced.

    Args:
        engine: a :class:`lara.arithmetic.GroupedLM` (or anything with its ``continuation_ids``,
            ``group_logprobs``, ``target_nll``, ``generate`` and ``tokenizer``).
        demos: the N demonstration records (``input``, ``target``).
        config: the settings (default ``LaraConfig()``).
        binary: overrides ``config.binary`` (True = B-LARA).
        group_cache: a dict to hold the cached group log-probs across calls (pass the same dict to fit LARA and
            B-LARA on the same demos and engine, so the model runs once); by default a fresh cache per k.

    Raises:
        ValueError: no candidate group size (``n_demos // 2`` must exceed the smallest group size), or an invalid
            optimiser setting.
    """
    from lara.config import LaraConfig

    config = config if config is not None else LaraConfig()
    is_binary = config.binary if binary is None else bool(binary)
    demos = list(demos)
    sizes = candidate_group_sizes(len(demos), config.group_sizes)
    if not sizes:
        smallest = min(config.group_sizes)
        raise ValueError(
            f"no candidate group size for {len(demos)} demos: n_demos//2 = {len(demos) // 2} must exceed the "
            f"smallest group size {smallest} (group_sizes = {list(config.group_sizes)})"
        )

    if config.loss not in ("teacher_forced", "greedy_substitute"):
        raise ValueError(f"unknown loss {config.loss!r}; expected teacher_forced or greedy_substitute")

    scores: dict[int, float] = {}
    histories: dict[int, list] = {}
    results: dict[int, SearchResult] = {}
    for k in sizes:
        cache: dict | None = None
        if config.cache_group_logprobs:
            cache = group_cache if group_cache is not None else {}  # a fresh cache is dropped after this k
        losses = _ExampleLosses(engine, demos, config, cache)
        example_loss = (
            losses.greedy_substitute if config.loss == "greedy_substitute" else losses.teacher_forced
        )
        groups_a, groups_b = cross_fit_groups(demos, k)

        def objective(weights: list[float], k: int = k, example_loss: ExampleLoss = example_loss) -> float:
            return cross_fit_loss(weights, demos, k, example_loss)

        result = optimize_weights(
            objective,
            len(groups_a) + len(groups_b),
            binary=is_binary,
            budget=config.budget,
            optimizer=config.optimizer,
            bounds=tuple(config.weight_bounds),
            seed=config.seed,
            final=config.final_candidate,
        )
        results[k] = result
        scores[k] = result.loss
        histories[k] = [(list(w), float(loss)) for w, loss in result.history]

    chosen = select_group_size(scores)
    index_a, index_b = cross_fit_groups(list(range(len(demos))), chosen)
    return LaraFit(
        binary=is_binary,
        group_size=chosen,
        groups=[list(group) for group in index_a + index_b],
        weights=list(results[chosen].weights),
        scores=scores,
        histories=histories,
    )
