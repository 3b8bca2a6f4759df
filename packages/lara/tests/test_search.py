"""``lara.search``: the cross-fitted objective, the seeded optimiser, group-size selection and ``fit_lara``.

Most tests use :class:`FakeEngine`, a deterministic stand-in for :class:`lara.arithmetic.GroupedLM` whose group
log-probs are seeded by the group's demos, the example and the continuation, so they do not depend on a model.
One smoke test runs the real engine on the tiny Qwen2 model.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from lara.config import LaraConfig
from lara.search import (
    DEGENERATE_LOSS,
    LaraFit,
    SearchResult,
    cross_fit_loss,
    fit_lara,
    optimize_weights,
    select_group_size,
    substitute_truth,
)

# ----------------------------------------------------------------------------------------------- fixtures

VOCAB = " ()ABCDEFGHIJ0123456789abcdefghijklmnopqrstuvwxyz.\n"


class FakeTokenizer:
    """One token per character of :data:`VOCAB` (unknown characters map to id 0)."""

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [max(VOCAB.find(c), 0) for c in text]}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return "".join(VOCAB[i] for i in ids)

    def __len__(self) -> int:
        return len(VOCAB)


@dataclass
class FakeOutput:
    text: str
    token_ids: list[int]
    step_logprobs: torch.Tensor | None


def _seed(*parts: Any) -> int:
    return zlib.crc32(json.dumps(parts, sort_keys=True, default=str).encode())


class FakeEngine:
    """Deterministic log-probs: row j of group g for example x is a seeded random log-softmax over VOCAB."""

    def __init__(self, task_format: str = "bbh") -> None:
        self.tokenizer = FakeTokenizer()
        self.task_format = task_format
        self.calls: Counter[str] = Counter()
        self.rows = 0

    @staticmethod
    def _row(group: Sequence[dict], example: dict, prefix: Sequence[int]) -> torch.Tensor:
        generator = torch.Generator().manual_seed(
            _seed([d["input"] for d in group], example["input"], list(prefix))
        )
        return torch.log_softmax(3.0 * torch.randn(len(VOCAB), generator=generator), dim=-1)

    def continuation_ids(self, example: dict, target: str) -> list[int]:
        return self.tokenizer(" " + target)["input_ids"]

    def group_logprobs(
        self, groups: Sequence[Sequence[dict]], example: dict, continuation_ids: Sequence[int]
    ) -> torch.Tensor:
        self.calls["group_logprobs"] += 1
        self.rows += len(groups)
        ids = list(continuation_ids)
        return torch.stack(
            [torch.stack([self._row(g, example, ids[:j]) for j in range(len(ids) + 1)]) for g in groups]
        )

    def target_nll(self, groups: Sequence[Sequence[dict]], weights: Sequence[float], example: dict) -> float:
        from lara.arithmetic import combine_logprobs, normalize_weights, target_nll

        self.calls["target_nll"] += 1
        active = [i for i, w in enumerate(normalize_weights(list(weights))) if w != 0]
        target = self.continuation_ids(example, example["target"])
        logp = self.group_logprobs([groups[i] for i in active], example, target)
        combined = combine_logprobs(logp, [weights[i] for i in active])
        return target_nll(combined[: len(target)], target)

    def generate(
        self,
        groups: Sequence[Sequence[dict]],
        weights: Sequence[float],
        example: dict,
        *,
        max_new_tokens: int = 10,
        stop: Sequence[str] = (),
        return_logprobs: bool = False,
    ) -> FakeOutput:
        from lara.arithmetic import combine_logprobs

        self.calls["generate"] += 1
        tokens: list[int] = []
        steps = []
        for _ in range(max_new_tokens):
            logp = torch.stack([self._row(g, example, tokens) for g in groups])
            combined = combine_logprobs(logp, list(weights))
            tokens.append(int(combined.argmax()))
            steps.append(combined)
        return FakeOutput(
            self.tokenizer.decode(tokens), tokens, torch.stack(steps) if return_logprobs else None
        )


def make_demos(n: int, targets: Sequence[str] | None = None) -> list[dict]:
    targets = targets or ["True", "False"]
    return [{"input": f"question {i}", "target": targets[i % len(targets)]} for i in range(n)]


# ------------------------------------------------------------------------------------------ cross_fit_loss


class Recorder:
    """An ``example_loss`` recording its calls; returns 1 + the demo's index / 10."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[list[str]], list[float], str]] = []

    def __call__(self, groups: list[list[dict]], weights: list[float], example: dict) -> float:
        self.calls.append(([[d["input"] for d in g] for g in groups], list(weights), example["input"]))
        return 1.0 + int(example["input"][1:]) / 10


def named(n: int) -> list[dict]:
    return [{"input": f"d{i}", "target": "x"} for i in range(n)]


def test_cross_fit_loss_wiring_8_demos() -> None:
    recorder = Recorder()
    loss = cross_fit_loss([1.0, 3.0, 2.0, 2.0], named(8), 2, recorder)
    a_groups = [["d0", "d1"], ["d2", "d3"]]
    b_groups = [["d4", "d5"], ["d6", "d7"]]
    assert recorder.calls == [
        (a_groups, [0.25, 0.75], "d4"),
        (a_groups, [0.25, 0.75], "d5"),
        (a_groups, [0.25, 0.75], "d6"),
        (a_groups, [0.25, 0.75], "d7"),
        (b_groups, [0.5, 0.5], "d0"),
        (b_groups, [0.5, 0.5], "d1"),
        (b_groups, [0.5, 0.5], "d2"),
        (b_groups, [0.5, 0.5], "d3"),
    ]
    assert loss == pytest.approx(8 + (4 + 5 + 6 + 7 + 0 + 1 + 2 + 3) / 10)


def test_cross_fit_loss_normalises_each_half_on_its_own() -> None:
    recorder = Recorder()
    cross_fit_loss([-1, -3, 2, -1], named(8), 2, recorder)
    assert recorder.calls[0][1] == [0.25, 0.75]  # a negative half sum flips the signs
    assert recorder.calls[-1][1] == [2.0, -1.0]


def test_cross_fit_loss_odd_demos() -> None:
    recorder = Recorder()
    cross_fit_loss([1, 1, 1, 1], named(9), 2, recorder)
    assert [c[2] for c in recorder.calls] == ["d4", "d5", "d6", "d7", "d8", "d0", "d1", "d2", "d3"]
    assert recorder.calls[0][0] == [["d0", "d1"], ["d2", "d3"]]
    assert recorder.calls[-1][0] == [["d4", "d5"], ["d6", "d7", "d8"]]


@pytest.mark.parametrize(
    "weights",
    [
        [1, -1, 2, 0],  # half A sums to zero (the spec's example)
        [0, 0, 0, 0],  # everything zero
        [1, 1, 0, 0],  # half B all zero
        [0, 0, 1, 1],  # half A all zero
        [2, 1, -3, 0],  # total zero
        [1, -1, 1, -1],  # both halves and the total zero
        [0.5, -0.5, 0.25, 0.75],
    ],
)
def test_cross_fit_loss_degenerate(weights: list[float]) -> None:
    def never(*args: Any) -> float:
        raise AssertionError("example_loss must not be called for degenerate weights")

    assert cross_fit_loss(weights, named(8), 2, never) == DEGENERATE_LOSS == 999999999.0


def test_cross_fit_loss_weight_count() -> None:
    with pytest.raises(ValueError, match="4"):
        cross_fit_loss([1, 1, 1], named(8), 2, Recorder())
    with pytest.raises(ValueError):
        cross_fit_loss([1, 1, 1, 1, 1], named(8), 2, Recorder())


# ----------------------------------------------------------------------------------------- substitute_truth


def test_substitute_truth() -> None:
    assert substitute_truth(" (B)", "(A)", "option") == " (A)"
    assert substitute_truth(" (B) or (C) maybe", " (D) ", "option") == " (D) or (D) maybe"
    assert substitute_truth(" no options here", "(A)", "option") == " no options here"
    assert substitute_truth(" B. because C", "C", "letter") == " C. because C"
    assert substitute_truth(" the answer is B", "A", "letter") == " the answer is A"
    assert substitute_truth(" none", "A", "letter") == " none"
    assert substitute_truth(" 12", "13", "integer") is None
    assert substitute_truth(" yes", "no", "text") is None
    # the gold is inserted literally (no regex escapes)
    assert substitute_truth(" (B)", r"(\1)", "option") == r" (\1)"


# ---------------------------------------------------------------------------------------- optimize_weights


def test_exhaustive_order_g2() -> None:
    seen: list[list[float]] = []

    def objective(w: list[float]) -> float:
        assert isinstance(w, list) and all(type(x) is float for x in w)
        seen.append(list(w))
        return 1.0

    result = optimize_weights(objective, 2, binary=True, optimizer="exhaustive")
    assert seen == [[1, 0], [0, 1], [1, 1]]
    assert [h[0] for h in result.history] == seen
    assert result.weights == [1.0, 0.0]  # all tied: the earliest
    assert result.loss == 1.0


def test_exhaustive_order_g3_and_best() -> None:
    losses = {
        (1, 0, 0): 5.0,
        (0, 1, 0): 3.0,
        (1, 1, 0): 2.0,
        (0, 0, 1): 4.0,
        (1, 0, 1): 2.0,
        (0, 1, 1): 7.0,
        (1, 1, 1): 6.0,
    }
    result = optimize_weights(
        lambda w: losses[tuple(int(x) for x in w)], 3, binary=True, optimizer="exhaustive", budget=1
    )
    assert [tuple(int(x) for x in h[0]) for h in result.history] == list(losses)  # m = 1..7, bit i = weight i
    assert [0, 0, 0] not in [h[0] for h in result.history]
    assert result.weights == [1.0, 1.0, 0.0] and result.loss == 2.0  # tie with m=5: the earliest
    last = optimize_weights(
        lambda w: losses[tuple(int(x) for x in w)], 3, binary=True, optimizer="exhaustive", final="last"
    )
    assert last.weights == [1.0, 1.0, 1.0] and last.loss == 6.0
    assert len(last.history) == 7


def test_exhaustive_errors() -> None:
    with pytest.raises(ValueError, match="binary"):
        optimize_weights(lambda w: 0.0, 2, binary=False, optimizer="exhaustive")
    with pytest.raises(ValueError, match="16"):
        optimize_weights(lambda w: 0.0, 17, binary=True, optimizer="exhaustive")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"optimizer": "adam"},
        {"final": "first"},
        {"budget": 0},
        {"budget": -3},
        {"n_groups": 0},
    ],
)
def test_optimize_weights_errors(kwargs: dict[str, Any]) -> None:
    args = {"n_groups": 2, **kwargs}
    n_groups = args.pop("n_groups")
    with pytest.raises(ValueError):
        optimize_weights(lambda w: 0.0, n_groups, **args)


def _sphere(w: list[float]) -> float:
    return sum((x - 0.3 * i) ** 2 for i, x in enumerate(w))


@pytest.mark.parametrize("optimizer", ["cma", "ngopt"])
@pytest.mark.parametrize("binary", [False, True])
def test_seeding_reproducible(optimizer: str, binary: bool) -> None:
    first = optimize_weights(_sphere, 4, binary=binary, budget=6, optimizer=optimizer, seed=3)
    second = optimize_weights(_sphere, 4, binary=binary, budget=6, optimizer=optimizer, seed=3)
    assert first.history == second.history
    assert first.weights == second.weights and first.loss == second.loss
    assert len(first.history) == 6
    for weights, loss in first.history:
        assert len(weights) == 4 and all(type(x) is float for x in weights)
        assert loss == _sphere(weights)
        if binary:
            assert set(weights) <= {0.0, 1.0}
        else:
            assert all(-1.5 <= x <= 1.5 for x in weights)


def test_seed_changes_cma_history() -> None:
    a = optimize_weights(_sphere, 4, budget=5, optimizer="cma", seed=0)
    b = optimize_weights(_sphere, 4, budget=5, optimizer="cma", seed=1)
    assert a.history != b.history


def test_bounds_respected() -> None:
    result = optimize_weights(_sphere, 3, budget=8, optimizer="cma", bounds=(-0.1, 0.4), seed=0)
    assert all(-0.1 <= x <= 0.4 for weights, _ in result.history for x in weights)
    # a box excluding 1/G starts from 1/G clipped into it
    clipped = optimize_weights(_sphere, 3, budget=2, optimizer="ngopt", bounds=(0.0, 0.2), seed=0)
    assert clipped.history[0][0] == pytest.approx([0.2] * 3)
    assert all(0.0 <= x <= 0.2 for weights, _ in clipped.history for x in weights)
    with pytest.raises(ValueError, match="bounds"):
        optimize_weights(_sphere, 3, bounds=(1.0, -1.0))


def test_ngopt_starts_from_uniform() -> None:
    result = optimize_weights(_sphere, 4, budget=3, optimizer="ngopt", seed=0)
    assert result.history[0][0] == pytest.approx([0.25] * 4)


@pytest.mark.parametrize("optimizer", ["cma", "ngopt"])
def test_final_modes(optimizer: str) -> None:
    best = optimize_weights(_sphere, 3, budget=5, optimizer=optimizer, seed=0, final="best")
    losses = [loss for _, loss in best.history]
    assert len(best.history) == 5
    assert best.loss == min(losses)
    assert (best.weights, best.loss) == best.history[losses.index(min(losses))]
    last = optimize_weights(_sphere, 3, budget=5, optimizer=optimizer, seed=0, final="last")
    assert len(last.history) == 6  # one more ask, evaluated and recorded
    assert last.history[:5] == best.history  # same seed, same loop
    assert (last.weights, last.loss) == last.history[-1]


def test_final_best_ties_to_earliest() -> None:
    result = optimize_weights(lambda w: 1.0, 3, budget=4, optimizer="cma", seed=0)
    assert result.weights == result.history[0][0]


def test_search_result_fields() -> None:
    result = optimize_weights(lambda w: 1.0, 2, binary=True, optimizer="exhaustive")
    assert isinstance(result, SearchResult)
    assert result.evaluations == 3


# -------------------------------------------------------------------------------------- select_group_size


def test_select_group_size() -> None:
    assert select_group_size({2: 1.0, 4: 0.5, 8: 0.7}) == 4
    assert select_group_size({2: 1.0, 4: 1.0}) == 2
    assert select_group_size({8: 0.5, 4: 0.5, 2: 0.9}) == 4
    assert select_group_size({4: 3.0}) == 4
    with pytest.raises(ValueError):
        select_group_size({})


# ------------------------------------------------------------------------------------------------- LaraFit


def test_lara_fit_round_trip() -> None:
    fit = LaraFit(
        binary=False,
        group_size=2,
        groups=[[0, 1], [2, 3], [4, 5], [6, 7, 8]],
        weights=[0.25, -1.5, 1.0 / 3.0, 0.1],
        scores={2: 3.141592653589793, 4: DEGENERATE_LOSS},
        histories={2: [([0.25, 0.25, 0.25, 0.25], 3.5), ([0.1, -0.2, 0.3, 0.4], 3.141592653589793)], 4: []},
    )
    data = fit.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data["scores"]) == {"2", "4"}
    restored = LaraFit.from_dict(json.loads(json.dumps(data)))
    assert restored == fit
    assert restored.to_dict() == data
    assert LaraFit.from_dict(data).histories[2][0] == ([0.25] * 4, 3.5)
    minimal = LaraFit(True, 4, [[0, 1, 2, 3]], [1.0], {4: 0.5})
    assert LaraFit.from_dict(json.loads(json.dumps(minimal.to_dict()))) == minimal


# ------------------------------------------------------------------------------------------------ fit_lara


def config(**kw: Any) -> LaraConfig:
    return LaraConfig(**{"n_demos": 8, **kw})


def test_fit_lara_exhaustive_8_demos() -> None:
    engine = FakeEngine()
    demos = make_demos(8)
    fit = fit_lara(engine, demos, config(binary=True, optimizer="exhaustive", budget=3))
    assert fit.binary is True and fit.group_size == 2
    assert fit.groups == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert list(fit.scores) == [2] and len(fit.histories[2]) == 15
    assert [w for w, _ in fit.histories[2]][:3] == [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]]
    losses = [loss for _, loss in fit.histories[2]]
    assert fit.scores[2] == min(losses)
    assert (fit.weights, fit.scores[2]) == tuple(fit.histories[2][losses.index(min(losses))])
    assert set(fit.weights) <= {0.0, 1.0} and len(fit.weights) == 4
    # masks leaving one half empty are degenerate: only 3 × 3 of the 15 are scored
    assert sum(loss != DEGENERATE_LOSS for loss in losses) == 9
    # cached: one group_logprobs call per held-out example, never the uncached path
    assert engine.calls["group_logprobs"] == 8 and engine.calls["target_nll"] == 0
    assert engine.rows == 16
    assert LaraFit.from_dict(json.loads(json.dumps(fit.to_dict()))) == fit


@pytest.mark.parametrize(
    "settings",
    [
        {"binary": True, "optimizer": "exhaustive"},
        {"optimizer": "cma", "budget": 8},
        {"optimizer": "ngopt", "budget": 6},
    ],
)
def test_fit_lara_cached_equals_uncached(settings: dict[str, Any]) -> None:
    demos = make_demos(10, ["(A)", "(B)", "(C)"])
    cached_engine, plain_engine = FakeEngine(), FakeEngine()
    cached = fit_lara(
        cached_engine, demos, config(n_demos=10, group_sizes=[2], cache_group_logprobs=True, **settings)
    )
    plain = fit_lara(
        plain_engine, demos, config(n_demos=10, group_sizes=[2], cache_group_logprobs=False, **settings)
    )
    assert cached.group_size == plain.group_size and cached.groups == plain.groups
    assert [w for w, _ in cached.histories[2]] == [w for w, _ in plain.histories[2]]
    for (_, a), (_, b) in zip(cached.histories[2], plain.histories[2], strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    assert cached_engine.calls["group_logprobs"] == 10
    assert plain_engine.calls["target_nll"] > 0 and cached_engine.calls["target_nll"] == 0


def test_fit_lara_several_group_sizes() -> None:
    demos = make_demos(16)
    engine = FakeEngine()
    fit = fit_lara(engine, demos, config(n_demos=16, group_sizes=[8, 4, 2], budget=4, seed=5))
    assert sorted(fit.scores) == [2, 4]
    assert fit.group_size == select_group_size(fit.scores)
    assert {k: len(h) for k, h in fit.histories.items()} == {2: 4, 4: 4}
    expected_groups = {
        2: [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11], [12, 13], [14, 15]],
        4: [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]],
    }
    assert fit.groups == expected_groups[fit.group_size]
    assert len(fit.weights) == len(fit.groups)
    assert engine.calls["group_logprobs"] == 32  # N per k
    # the same seed gives the same fit
    again = fit_lara(FakeEngine(), demos, config(n_demos=16, group_sizes=[8, 4, 2], budget=4, seed=5))
    assert again == fit


def test_fit_lara_binary_override_and_shared_cache() -> None:
    demos = make_demos(8)
    engine = FakeEngine()
    cache: dict = {}
    lara = fit_lara(engine, demos, config(budget=5), group_cache=cache)
    calls = engine.calls["group_logprobs"]
    assert calls == 8 and lara.binary is False
    blara = fit_lara(engine, demos, config(budget=5), binary=True, group_cache=cache)
    assert engine.calls["group_logprobs"] == calls  # B-LARA reused LARA's group log-probs
    assert blara.binary is True
    assert all(set(w) <= {0.0, 1.0} for w, _ in blara.histories[2])
    # the override also works the other way round
    assert fit_lara(FakeEngine(), demos, config(binary=True, budget=3), binary=False).binary is False
    # shared cache results equal fresh ones
    fresh = fit_lara(FakeEngine(), demos, config(budget=5), binary=True)
    assert fresh == blara


def test_fit_lara_no_candidate_group_size() -> None:
    with pytest.raises(ValueError, match=r"n_demos//2"):
        fit_lara(FakeEngine(), make_demos(4), config(n_demos=4))
    with pytest.raises(ValueError, match=r"n_demos//2"):
        fit_lara(FakeEngine(), make_demos(8), config(group_sizes=[4, 8]))


def test_fit_lara_invalid_optimizer_setting() -> None:
    with pytest.raises(ValueError, match="exhaustive"):
        fit_lara(FakeEngine(), make_demos(8), config(binary=True, optimizer="exhaustive"), binary=False)


def _greedy_reference(
    engine: FakeEngine, groups: list[list[dict]], weights: list[float], example: dict
) -> float:
    """The official code's loss, written out for the option-type targets used below."""
    output = engine.generate(groups, weights, example, max_new_tokens=4, return_logprobs=True)
    truth = substitute_truth(output.text, example["target"], "option")
    ids = engine.tokenizer(truth)["input_ids"]
    steps = output.step_logprobs
    if int(steps[0].argmax()) != ids[0]:
        ids = ids[1:]
    n = min(len(steps), len(ids))
    return sum(-float(steps[j, ids[j]]) for j in range(n)) / n


class ScriptedEngine(FakeEngine):
    """Generates " (C)" whatever the weights, with the combined log-probs of the fake model as step log-probs."""

    def generate(self, groups, weights, example, *, max_new_tokens=10, stop=(), return_logprobs=False):  # type: ignore[no-untyped-def]
        from lara.arithmetic import combine_logprobs

        self.calls["generate"] += 1
        tokens = self.tokenizer(" (C)")["input_ids"][:max_new_tokens]
        steps = [
            combine_logprobs(torch.stack([self._row(g, example, tokens[:j]) for g in groups]), list(weights))
            for j in range(len(tokens))
        ]
        return FakeOutput(
            self.tokenizer.decode(tokens), tokens, torch.stack(steps) if return_logprobs else None
        )


@pytest.mark.parametrize("engine_class", [FakeEngine, ScriptedEngine])
def test_fit_lara_greedy_substitute(engine_class: type[FakeEngine]) -> None:
    demos = [{"input": f"q{i}", "target": "(B)" if i % 2 else "(A)"} for i in range(8)]
    settings = config(binary=True, optimizer="exhaustive", loss="greedy_substitute", max_new_tokens=4)
    engine = engine_class()
    fit = fit_lara(engine, demos, settings)
    assert engine.calls["generate"] == 9 * 8  # the 9 non-degenerate masks × 8 held-out examples
    reference = engine_class()
    mask = [1.0, 0.0, 1.0, 0.0]
    half = 4
    expected = 0.0
    for example in demos[half:]:
        expected += _greedy_reference(reference, [demos[0:2], demos[2:4]], [1.0, 0.0], example)
    for example in demos[:half]:
        expected += _greedy_reference(reference, [demos[4:6], demos[6:8]], [1.0, 0.0], example)
    got = dict((tuple(w), loss) for w, loss in fit.histories[2])[tuple(mask)]
    assert got == pytest.approx(expected, rel=1e-6)


def test_fit_lara_greedy_substitute_falls_back_to_teacher_forced() -> None:
    demos = make_demos(8)  # "True"/"False": text answers have no substitution rule
    greedy = fit_lara(
        FakeEngine(), demos, config(binary=True, optimizer="exhaustive", loss="greedy_substitute")
    )
    forced = fit_lara(FakeEngine(), demos, config(binary=True, optimizer="exhaustive"))
    for (wa, a), (wb, b) in zip(greedy.histories[2], forced.histories[2], strict=True):
        assert wa == wb and a == pytest.approx(b, rel=1e-6)


# ---------------------------------------------------------------------------------------- the real engine


@pytest.fixture(scope="module")
def tiny_engine() -> Any:
    arithmetic = pytest.importorskip("lara.arithmetic")
    if not hasattr(arithmetic, "GroupedLM"):
        pytest.skip("lara.arithmetic.GroupedLM is not available")
    return arithmetic.GroupedLM.from_spec("tiny:qwen2", device="cpu")


def test_fit_lara_tiny_model(tiny_engine: Any) -> None:
    demos = [
        {"input": f"not {'True' if i % 3 else 'False'} and True", "target": "False" if i % 3 else "True"}
        for i in range(8)
    ]
    tiny_engine.stats.reset()
    fit = fit_lara(tiny_engine, demos, config(binary=True, optimizer="exhaustive", max_new_tokens=4))
    assert fit.group_size == 2 and len(fit.histories[2]) == 15
    assert fit.groups == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert all(math.isfinite(loss) for _, loss in fit.histories[2])
    assert LaraFit.from_dict(json.loads(json.dumps(fit.to_dict()))) == fit
    uncached = fit_lara(
        tiny_engine, demos, config(binary=True, optimizer="exhaustive", cache_group_logprobs=False)
    )
    for (wa, a), (wb, b) in zip(fit.histories[2], uncached.histories[2], strict=True):
        assert wa == wb and a == pytest.approx(b, abs=1e-4)
    cma = fit_lara(tiny_engine, demos, config(budget=4))
    cma_plain = fit_lara(tiny_engine, demos, config(budget=4, cache_group_logprobs=False))
    for (wa, a), (wb, b) in zip(cma.histories[2], cma_plain.histories[2], strict=True):
        assert wa == wb and a == pytest.approx(b, abs=1e-4)
