"""The composite Challenger reward, the TRL reward functions and the Solver sampler (spec §2.3, §8, §10)."""

from __future__ import annotations

import math

import accelerate.utils
import pytest

from r_zero import rewards
from r_zero.prompts import SOLVER_SYSTEM_PROMPT
from r_zero.rewards import (
    challenger_rewards,
    make_challenger_reward,
    make_solver_reward,
    make_solver_sampler,
    solver_reward,
)
from rlcore.rollout import Sample

# Two copies of one question form a cluster of 2 of B = 4 (share 0.5); the other two are unrelated
# singletons (share 0.25).
DUP = "How many ordered pairs of positive integers satisfy a times b equals 36 exactly?"
OTHER1 = "A fair coin is tossed ten times; find the probability of exactly three heads."
OTHER2 = "Compute the remainder when seven to the power one hundred is divided by thirteen."
P_HATS = [0.5, 0.7, 1.0, 0.3]
PAPER = [0.5, 0.1, 0.0, 0.35]
CODE = [0.0, -0.2, -0.25, 0.05]


def exact(a: str, b: str) -> bool:
    return a == b


# ------------------------------------------------------------------------------------ challenger_rewards


@pytest.mark.parametrize(("form", "expected"), [("paper", PAPER), ("code", CODE)])
def test_composite_from_real_clustering(form, expected):
    questions = [DUP, DUP, OTHER1, OTHER2]
    assert rewards.repetition_penalties(questions) == pytest.approx([0.5, 0.5, 0.25, 0.25], abs=1e-6)
    assert challenger_rewards(questions, P_HATS, form=form) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("form", "expected"), [("paper", PAPER), ("code", CODE)])
def test_composite_composes_rlcore_shares(monkeypatch, form, expected):
    calls = []

    def fake(texts, tau, lam, groups, *, workers):
        calls.append((list(texts), tau, lam, groups, workers))
        return [0.5, 0.5, 0.25, 0.25]

    monkeypatch.setattr(rewards, "repetition_penalties", fake)
    got = challenger_rewards(["a", "b", "c", "d"], P_HATS, tau=0.4, groups=[0, 0, 1, 1], form=form, workers=3)
    assert got == pytest.approx(expected, abs=1e-6)
    assert calls == [(["a", "b", "c", "d"], 0.4, 1.0, [0, 0, 1, 1], 3)]
    # λ scales the shares: r_rep = λ·|C|/B.
    half = challenger_rewards(["a", "b", "c", "d"], P_HATS, lam=0.5, form="code")
    assert half == pytest.approx([0.25, 0.05, -0.125, 0.175], abs=1e-6)


def test_invalid_items_get_zero_or_minus_one_minus_share():
    questions = [DUP, None, "   ", OTHER1]
    p_hats = [0.5, None, 0.9, 0.5]
    # B = 4 distinct items (invalid ones enter as "", matching nothing): every share is 0.25.
    assert challenger_rewards(questions, p_hats) == pytest.approx([0.75, 0.0, 0.0, 0.75], abs=1e-6)
    assert challenger_rewards(questions, p_hats, form="code") == pytest.approx(
        [0.25, -1.25, -1.25, 0.25], abs=1e-6
    )


def test_challenger_rewards_errors():
    with pytest.raises(ValueError, match="p_hats"):
        challenger_rewards(["a", "b"], [0.5])
    with pytest.raises(ValueError, match=r"p_hats\[1\]"):
        challenger_rewards(["a", "b"], [0.5, None])
    with pytest.raises(ValueError, match="form"):
        challenger_rewards(["a"], [0.5], form="mixed")
    with pytest.raises(ValueError, match="lam"):
        challenger_rewards(["a"], [0.5], lam=-1.0)


# ------------------------------------------------------------------------------- make_challenger_reward

Q1 = "<question>\nHow many apples are left if Ava starts with five and eats two of them today?\n</question>\n\n\\boxed{3}"
Q2 = "<question>\nWhat is the largest prime factor of the number two thousand and twenty six?\n</question>"
GARBAGE = "I forgot the tags \\boxed{9}"
Q1_TEXT = "How many apples are left if Ava starts with five and eats two of them today?"
Q2_TEXT = "What is the largest prime factor of the number two thousand and twenty six?"


class ScriptedSolver:
    """m = 4 answers per question: Q1 gets 1, 1, (no box), 2 so p̂ = 2/4; Q2 gets 4 × 3 so p̂ = 1."""

    def __init__(self):
        self.calls = []

    def __call__(self, questions, m):
        self.calls.append((list(questions), m))
        script = {
            Q1_TEXT: ["\\boxed{1}", "so \\boxed{1}", "I give up", "\\boxed{2}"],
            Q2_TEXT: ["\\boxed{3}"] * 4,
        }
        return [list(script[q][:m]) for q in questions]


BATCH = [Q1, GARBAGE, Q2, Q1]


def test_one_sampler_call_with_valid_questions_in_batch_order():
    sampler = ScriptedSolver()
    reward = make_challenger_reward(sampler, num_samples=4, match=exact)
    assert reward.__name__ == "challenger_reward"
    # Batch shares: Q1 ×2 → 0.5, GARBAGE 0.25, Q2 0.25. Q1: p̂ = 0.5 (the unboxed sample counts in m; it
    # would be 2/3 otherwise) → 1 − 0.5; Q2: p̂ = 1 → max(0, 0 − 0.25).
    assert reward([None] * 4, BATCH) == pytest.approx([0.5, 0.0, 0.0, 0.5], abs=1e-6)
    assert sampler.calls == [([Q1_TEXT, Q2_TEXT, Q1_TEXT], 4)]


def test_code_form_and_conversational_completions():
    reward = make_challenger_reward(ScriptedSolver(), num_samples=4, form="code", match=exact)
    chats = [[{"role": "assistant", "content": text}] for text in BATCH]
    assert reward([None] * 4, chats) == pytest.approx([0.0, -1.25, -0.25, 0.0], abs=1e-6)


def test_default_match_votes_equivalent_answers():
    reward = make_challenger_reward(
        lambda qs, m: [["\\boxed{0.5}", "\\boxed{\\frac{1}{2}}"] for _ in qs], num_samples=2
    )
    # p̂ = 1 with equivalence (0.5 ≡ 1/2): paper reward max(0, 0 − 1) = 0; code min(1, 0) − 1 = −1.
    assert reward([None], [Q2]) == pytest.approx([0.0], abs=1e-6)


def test_group_scope_clusters_per_prompt_id():
    batch = [Q1, GARBAGE, Q2, Q1]
    group = make_challenger_reward(ScriptedSolver(), num_samples=4, scope="group", form="code", match=exact)
    # prompt 0 = {Q1, GARBAGE}, prompt 1 = {Q2, Q1}: every item is a singleton of a scope of 2 (share 0.5),
    # the two copies of Q1 no longer meet.
    assert group([None] * 4, batch, prompt_id=[0, 0, 1, 1]) == pytest.approx([0.0, -1.5, -0.5, 0.0], abs=1e-6)
    # Members of a group need not be contiguous: {Q1, Q1} and {GARBAGE, Q2}.
    assert group([None] * 4, batch, prompt_id=[7, 3, 3, 7]) == pytest.approx(
        [-0.5, -1.5, -0.5, -0.5], abs=1e-6
    )
    with pytest.raises(ValueError, match="prompt_id"):
        group([None] * 4, batch)


def test_metrics_are_logged():
    logged = {}
    reward = make_challenger_reward(ScriptedSolver(), num_samples=4, match=exact)
    reward(
        [None] * 4, BATCH, log_metric=lambda name, value: logged.__setitem__(name, value), other=[1, 2, 3, 4]
    )
    assert logged == pytest.approx(
        {
            "challenger/valid_rate": 0.75,
            "challenger/p_hat_mean": (0.5 + 1.0 + 0.5) / 3,
            "challenger/penalty_mean": (0.5 + 0.25 + 0.25 + 0.5) / 4,
            "challenger/num_clusters": 3.0,
        },
        abs=1e-6,
    )


def test_num_clusters_survives_lambda_zero_and_groups():
    logged = {}
    reward = make_challenger_reward(ScriptedSolver(), num_samples=4, lam=0.0, scope="group", match=exact)
    out = reward([None] * 4, BATCH, prompt_id=[0, 1, 1, 0], log_metric=logged.__setitem__)
    # λ = 0: the paper reward is the bare uncertainty reward.
    assert out == pytest.approx([1.0, 0.0, 0.0, 1.0], abs=1e-6)
    assert logged["challenger/num_clusters"] == 3.0  # {Q1, Q1} in prompt 0, {GARBAGE}, {Q2} in prompt 1
    assert logged["challenger/penalty_mean"] == 0.0


def test_no_valid_question_gives_equal_rewards_and_a_warning():
    sampler = ScriptedSolver()
    for form in ("paper", "code"):
        reward = make_challenger_reward(sampler, num_samples=4, form=form)
        with pytest.warns(RuntimeWarning, match="no valid Challenger question"):
            out = reward([None] * 3, ["", "no tags", "<question> </question>"])
        assert len(set(out)) == 1
    assert sampler.calls == []


@pytest.mark.parametrize(
    "bad",
    [
        lambda qs, m: [["\\boxed{1}"] * m],  # too few rows
        lambda qs, m: [["\\boxed{1}"] * (m - 1) for _ in qs],  # too few samples
        lambda qs, m: None,
    ],
)
def test_wrong_sampler_shape_is_a_value_error(bad):
    reward = make_challenger_reward(bad, num_samples=4)
    with pytest.raises(ValueError, match="sampler"):
        reward([None] * 4, BATCH)


def test_factory_argument_errors():
    sampler = ScriptedSolver()
    for kwargs in ({"scope": "step"}, {"form": "x"}, {"num_samples": 0}, {"lam": -0.1}):
        with pytest.raises(ValueError):
            make_challenger_reward(sampler, **kwargs)


def test_challenger_reward_is_total_on_garbage_completions():
    reward = make_challenger_reward(lambda qs, m: [["\\boxed{1}"] * m for _ in qs], num_samples=2)
    garbage = [
        None,
        5,
        {"content": 3},
        [],
        [{"role": "user"}],
        "<question>",
        "\\boxed{",
        "</question>" * 3,
        "\x00",
    ]
    with pytest.warns(RuntimeWarning):
        out = reward([None] * len(garbage), garbage)
    assert len(out) == len(garbage) and all(isinstance(x, float) and math.isfinite(x) for x in out)


def test_each_process_keeps_its_slice_of_the_gathered_batch(monkeypatch):
    """Rank 1 of 2: the step batch is rank 0's rows then rank 1's, clustered together."""
    rank0_rows = [(0, Q1_TEXT, 0.5, None), (0, None, None, None)]

    def gather(rows):
        return rank0_rows + rows

    monkeypatch.setattr(rewards, "rank_and_world", lambda: (1, 2))
    monkeypatch.setattr(accelerate.utils, "gather_object", gather)
    reward = make_challenger_reward(ScriptedSolver(), num_samples=4, form="code", match=exact)
    # Step batch [Q1, -, Q2, Q1]: rank 1's Q1 shares its cluster with rank 0's copy (share 0.5, reward 0) and
    # Q2 is a singleton of B = 4 (share 0.25); clustered alone, rank 1's Q2 would get 0 − 0.5.
    assert reward([None] * 2, [Q2, Q1]) == pytest.approx([-0.25, 0.0], abs=1e-6)


# ------------------------------------------------------------------------------------------ Solver reward


def test_solver_reward_spec_examples():
    code = make_solver_reward("code")
    assert solver_reward([None], ["\\boxed{7}"], answer=["7"]) == [1.0]
    assert code([None], ["\\boxed{7}"], answer=["7"]) == pytest.approx([0.9], abs=1e-6)
    assert code([None], ["<think>x</think> \\boxed{7}"], answer=["7"]) == pytest.approx([1.0], abs=1e-6)
    assert solver_reward.__name__ == "solver_reward"


def test_solver_reward_forms():
    code = make_solver_reward("code")
    completions = [
        "\\boxed{8}",
        "< think >x</ think >\n\\boxed{7} done",
        "<think>x</think> \\boxed{8}",
        "<think>\\boxed{7}",
    ]
    labels = ["7"] * 4
    assert solver_reward([None] * 4, completions, answer=labels) == [0.0, 1.0, 0.0, 1.0]
    assert code([None] * 4, completions, answer=labels) == pytest.approx([0.0, 1.0, 0.1, 0.9], abs=1e-6)


def test_solver_reward_match_and_missing_labels():
    loose = make_solver_reward(match=lambda pred, label: pred.lower() == label.lower())
    assert loose([None] * 3, ["\\boxed{ABC}", "\\boxed{x}", "\\boxed{x}"], answer=["abc", None, " "]) == [
        1.0,
        None,
        None,
    ]
    assert solver_reward([None], ["\\boxed{\\frac{1}{2}}"], answer=["0.5"]) == [1.0]


def test_solver_reward_missing_column_and_unknown_form():
    with pytest.raises(ValueError, match="answer"):
        solver_reward([None], ["\\boxed{1}"])
    with pytest.raises(ValueError, match="form"):
        make_solver_reward("partial")


def test_solver_reward_is_total_on_garbage():
    garbage = [None, 5, {"content": 3}, [], "\\boxed{", "<think>", "\\boxed{}}}{", "\x00" * 10]

    def broken(pred, label):
        raise RuntimeError("boom")

    for fn in (solver_reward, make_solver_reward("code"), make_solver_reward(match=broken)):
        out = fn([None] * len(garbage), garbage, answer=["1"] * len(garbage))
        assert all(isinstance(x, float) for x in out)


# ------------------------------------------------------------------------------------------ Solver sampler


class FakeGenerator:
    def __init__(self):
        self.calls = []

    def generate(self, prompts, params=None, n=1):
        self.calls.append((prompts, params, n))
        return [[Sample(f"{i}:{k}") for k in range(n)] for i in range(len(prompts))]


def test_make_solver_sampler_makes_one_generate_call():
    generator = FakeGenerator()
    sampler = make_solver_sampler(generator, top_p=0.9, max_new_tokens=64, seed=3)
    assert sampler(["q0", "q1"], 3) == [["0:0", "0:1", "0:2"], ["1:0", "1:1", "1:2"]]
    [(prompts, params, n)] = generator.calls
    assert n == 3
    assert prompts[1] == [
        {"role": "system", "content": SOLVER_SYSTEM_PROMPT},
        {"role": "user", "content": "q1"},
    ]
    assert (params.temperature, params.top_p, params.top_k, params.max_new_tokens, params.seed) == (
        1.0,
        0.9,
        40,
        64,
        3,
    )
    assert sampler([], 3) == [] and len(generator.calls) == 1
