"""Rewards: the paper's worked examples (spec §8), the official-code switches and totality (spec §10)."""

from __future__ import annotations

import math

import accelerate.utils
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayllm import rewards
from relayllm.rewards import (
    accuracy_reward,
    call_ratio,
    difficulty_aware_reward,
    difficulty_aware_scores,
    group_scenario,
    is_correct,
    make_accuracy_reward,
    make_difficulty_aware_reward,
    make_simple_reward,
    requested_call_ratio,
    simple_reward,
    simple_reward_score,
)
from rlcore.train import group_advantages

RIGHT = "so the answer is \\boxed{3}"
WRONG = "so the answer is \\boxed{4}"

# ------------------------------------------------------------------------------------------ pure functions


def test_call_ratio():
    assert call_ratio(20, 1000) == pytest.approx(0.02)
    assert call_ratio(0, 0) == 0.0
    for llm, total in [(-1, 10), (1, -1), (11, 10)]:
        with pytest.raises(ValueError):
            call_ratio(llm, total)


def test_requested_call_ratio_caps_each_call_and_the_total():
    # (300 + min(5000, 4096)) / 2000 > 1, so the ratio is capped at 1.0.
    assert requested_call_ratio("a<call>300</call>b<call>5000</call>", 2000) == 1.0
    assert requested_call_ratio("<call>300</call>", 2000) == pytest.approx(0.15)
    assert requested_call_ratio("<call>5000</call>", 8192) == pytest.approx(4096 / 8192)
    assert requested_call_ratio("<call>5000</call>", 8192, per_call_cap=100) == pytest.approx(100 / 8192)


def test_requested_call_ratio_parses_tags_leniently():
    assert requested_call_ratio("x < call > 40 < / call > y", 100) == pytest.approx(0.4)
    assert requested_call_ratio("<call>\n7\n</ call>", 100) == pytest.approx(0.07)
    assert requested_call_ratio("<call></call><call>-5</call><call>1a</call>", 100) == 0.0
    assert requested_call_ratio("<call>40</call>", 0) == 0.0
    assert requested_call_ratio("<call>40</call>", -3) == 0.0
    assert requested_call_ratio(None, 100) == 0.0
    # A command with thousands of digits is capped, not converted (Python limits int() to 4300 digits).
    assert requested_call_ratio("<call>" + "9" * 5000 + "</call>", 8192) == pytest.approx(4096 / 8192)


def test_simple_reward_score_paper_examples():
    assert simple_reward_score(True, 0.05) == pytest.approx(0.95)
    assert simple_reward_score(False, 0.2) == pytest.approx(-0.2)
    assert simple_reward_score(True, None) == 1.0
    assert simple_reward_score(True, math.nan) == 1.0
    assert simple_reward_score(False, 1.7) == -1.0
    assert simple_reward_score(True, -0.5) == 1.0


def test_group_scenario():
    assert group_scenario([True, False], [0.0, 0.0]) == 1
    assert group_scenario([True, False], [0.1, 0.0]) == 2
    assert group_scenario([False, False], [0.1, 0.0]) == 3
    assert group_scenario([], []) == 3
    # An explicit "called" overrides ρ > 0: a call that got no tokens still counts as a call.
    assert group_scenario([True], [0.0], called=[True]) == 2
    with pytest.raises(ValueError):
        group_scenario([True], [0.0, 0.1])
    with pytest.raises(ValueError):
        group_scenario([True], [0.0], called=[True, False])


def test_difficulty_aware_scenario_1_and_its_advantages():
    scores = difficulty_aware_scores([True, True, False, False], [0.0, 0.1, 0.0, 0.2])
    assert scores == pytest.approx([1.5, 0.9, 0.0, 0.0])
    assert group_advantages(scores, 4) == pytest.approx([1.2246, 0.4082, -0.8164, -0.8164], abs=1e-4)


def test_difficulty_aware_scenario_2():
    scores = difficulty_aware_scores([True, False, False, False], [0.05, 0.0, 0.1, 0.0])
    assert scores == pytest.approx([0.95, -1.0, 0.0, -1.0])


def test_difficulty_aware_scenario_3_pays_exploration():
    ratios = [0.02, 0.0, 0.3, 0.0]
    assert difficulty_aware_scores([False] * 4, ratios) == pytest.approx(ratios)
    assert difficulty_aware_scores([False] * 4, ratios, exploration_reward=False) == [0.0] * 4


def test_difficulty_aware_weights_and_edges():
    scores = difficulty_aware_scores(
        [True, False, False], [0.0, 0.0, 0.4], independence_bonus=2.0, stubborn_penalty=-0.5
    )
    assert scores == pytest.approx([2.0, 0.0, 0.0])
    assert difficulty_aware_scores([True, False], [0.2, 0.0], stubborn_penalty=-0.5) == pytest.approx(
        [0.8, -0.5]
    )
    assert difficulty_aware_scores([], []) == []
    with pytest.raises(ValueError):
        difficulty_aware_scores([True, False], [0.0])


def test_is_correct_math():
    assert is_correct("x = \\boxed{\\frac{1}{2}}", "0.5")
    assert is_correct("\\boxed{1} then \\boxed{3}", "3")
    assert is_correct([{"role": "assistant", "content": RIGHT}], "3")
    assert is_correct(RIGHT, 3)
    assert not is_correct("the answer is 3", "3")
    assert not is_correct(RIGHT, None)
    assert not is_correct(RIGHT, "  ")
    assert not is_correct(None, "3")


def test_is_correct_choice():
    assert is_correct("so \\boxed{B}", "B", kind="choice")
    assert is_correct("so \\boxed{(C) 12}", "C", kind="choice")
    assert not is_correct("so \\boxed{B}", "C", kind="choice")
    assert is_correct("reasoning... Answer: D", "D", kind="choice")
    assert is_correct("Answer: A ... final answer: (E)", "E", kind="choice")
    assert not is_correct("Answer: Apples", "A", kind="choice")
    assert not is_correct("no letter here", "A", kind="choice")
    # A box without a letter and no "Answer:" line is no answer.
    assert not is_correct("\\boxed{42}", "A", kind="choice")


# ----------------------------------------------------------------------------------- TRL reward functions


def test_reward_function_names():
    assert accuracy_reward.__name__ == "accuracy_reward"
    assert simple_reward.__name__ == "simple_reward"
    assert difficulty_aware_reward.__name__ == "difficulty_aware_reward"
    assert make_difficulty_aware_reward(scope="batch").__name__ == "difficulty_aware_reward"


def test_accuracy_and_simple_rewards():
    completions = [RIGHT, WRONG, [{"role": "assistant", "content": RIGHT}]]
    kwargs = {"answer": ["3"] * 3, "call_ratio": [0.05, 0.2, None]}
    assert accuracy_reward(["p"] * 3, completions, **kwargs) == [1.0, 0.0, 1.0]
    assert simple_reward(["p"] * 3, completions, **kwargs) == pytest.approx([0.95, -0.2, 1.0])


def test_missing_answer_is_wrong_and_missing_ratio_is_zero():
    assert simple_reward(["p", "p"], [RIGHT, WRONG]) == [0.0, 0.0]
    assert simple_reward(["p"], [RIGHT], answer=["3"]) == [1.0]
    assert accuracy_reward(["p"], [RIGHT], answer=[None]) == [0.0]


def test_choice_kind_column():
    scores = accuracy_reward(
        ["p", "p"], ["\\boxed{B}", "\\boxed{B}"], answer=["B", "B"], kind=["choice", "math"]
    )
    assert scores == [1.0, 1.0]
    assert accuracy_reward(["p"], ["Answer: B"], answer=["B"], kind=["choice"]) == [1.0]


def test_groups_form_by_equal_prompt_wherever_they_sit():
    chat_a = [{"role": "user", "content": "A"}]
    chat_b = [{"content": "B", "role": "user"}]
    # Interleaved: prompt A is scenario 1, prompt B is scenario 3 (all wrong).
    prompts = [chat_a, chat_b, [{"content": "A", "role": "user"}], chat_b]
    completions = [RIGHT, WRONG, WRONG, WRONG]
    scores = difficulty_aware_reward(prompts, completions, answer=["3"] * 4, call_ratio=[0.0, 0.1, 0.2, 0.0])
    assert scores == pytest.approx([1.5, 0.1, 0.0, 0.0])


def test_paper_examples_through_the_trl_function():
    # (completions, ρ, expected scores) of the three worked groups of spec §8, one prompt each.
    groups = [
        ([RIGHT, RIGHT, WRONG, WRONG], [0.0, 0.1, 0.0, 0.2], [1.5, 0.9, 0.0, 0.0]),
        ([RIGHT, WRONG, WRONG, WRONG], [0.05, 0.0, 0.1, 0.0], [0.95, -1.0, 0.0, -1.0]),
        ([WRONG] * 4, [0.02, 0.0, 0.3, 0.0], [0.02, 0.0, 0.3, 0.0]),
    ]
    prompts = [f"q{g}" for g, _ in enumerate(groups) for _ in range(4)]
    completions = [c for group, _, _ in groups for c in group]
    ratios = [r for _, group, _ in groups for r in group]
    scores = difficulty_aware_reward(prompts, completions, answer=["3"] * 12, call_ratio=ratios)
    assert scores == pytest.approx([e for _, _, group in groups for e in group])


def test_group_scope_versus_batch_scope():
    # An all-wrong prompt whose member called (ρ 0.1), batched with a prompt that has a (✓, 0) member.
    prompts = ["hard", "hard", "easy", "easy"]
    completions = [WRONG, WRONG, RIGHT, WRONG]
    kwargs = {"answer": ["3"] * 4, "call_ratio": [0.1, 0.0, 0.0, 0.0]}
    assert difficulty_aware_reward(prompts, completions, **kwargs)[0] == pytest.approx(0.1)
    batch = make_difficulty_aware_reward(scope="batch")
    assert batch(prompts, completions, **kwargs) == pytest.approx([0.0, 0.0, 1.5, 0.0])


def test_requested_ratio_source():
    reward = make_difficulty_aware_reward(ratio_source="requested")
    called = "step <call>300</call> more < call >5000</ call> \\boxed{3}"
    completions = [called, "\\boxed{3}", "\\boxed{4}", "wrong < call>10</call>"]
    ids = [[0] * 2000, [0] * 10, [0] * 10, [0] * 100]
    # The rollout's call_ratio is ignored: ρ comes from the text and the id count.
    scores = reward(["q"] * 4, completions, answer=["3"] * 4, completion_ids=ids, call_ratio=[0.0] * 4)
    # Scenario 1: the called-and-correct member has ρ = min(1, (300 + 4096) / 2000) = 1, so scores 0.
    assert scores == pytest.approx([0.0, 1.5, 0.0, 0.0])
    simple = make_simple_reward(ratio_source="requested")
    assert simple(["q"], ["<call>30</call> \\boxed{3}"], answer=["3"], completion_ids=[[0] * 100]) == [0.7]
    # Without completion_ids the requested ρ is 0.
    assert simple(["q"], ["<call>30</call> \\boxed{3}"], answer=["3"]) == [1.0]


def test_log_metric():
    logged: dict[str, float] = {}
    reward = make_difficulty_aware_reward(log_metric=lambda name, value: logged.__setitem__(name, value))
    prompts = ["q1", "q1", "q2", "q2"]
    reward(prompts, [RIGHT, WRONG, WRONG, WRONG], answer=["3"] * 4, call_ratio=[0.0, 0.2, 0.4, 0.0])
    assert logged == pytest.approx(
        {
            "relay/call_ratio": 0.15,
            "relay/called_frac": 0.5,
            "relay/accuracy": 0.25,
            "relay/scenario_1": 0.5,
            "relay/scenario_2": 0.0,
            "relay/scenario_3": 0.5,
        }
    )
    logged.clear()
    make_simple_reward(log_metric=logged.__setitem__)(["q"], [RIGHT], answer=["3"], call_ratio=[0.1])
    assert logged["relay/scenario_2"] == 1.0 and logged["relay/call_ratio"] == pytest.approx(0.1)
    logged.clear()
    make_accuracy_reward(log_metric=logged.__setitem__)([], [])
    assert logged["relay/accuracy"] == 0.0


def test_bad_factory_arguments():
    with pytest.raises(ValueError):
        make_difficulty_aware_reward(scope="rank")
    with pytest.raises(ValueError):
        make_simple_reward(ratio_source="tokens")


def test_split_groups_across_ranks_score_as_one_process(monkeypatch):
    """With world > 1 every rank gathers (key, correct, ρ, called) and returns its own slice."""
    prompts = ["q1", "q1", "q2", "q2", "q1", "q2"]
    completions = [WRONG, WRONG, RIGHT, WRONG, RIGHT, WRONG]
    ratios = [0.1, 0.0, 0.2, 0.0, 0.0, 0.3]
    single = difficulty_aware_reward(prompts, completions, answer=["3"] * 6, call_ratio=ratios)
    slices = {0: slice(0, 3), 1: slice(3, 6)}
    local_rows: dict[int, list] = {}

    def run(rank: int, gather) -> list[float]:
        monkeypatch.setattr(rewards, "rank_and_world", lambda: (rank, 2))
        monkeypatch.setattr(accelerate.utils, "gather_object", gather)
        s = slices[rank]
        return difficulty_aware_reward(prompts[s], completions[s], answer=["3"] * 3, call_ratio=ratios[s])

    # First pass: record what each rank contributes; second pass: every rank sees all of it in rank order.
    for rank in (0, 1):
        run(rank, lambda rows, rank=rank: local_rows.setdefault(rank, rows))
    gathered = run(0, lambda rows: local_rows[0] + local_rows[1]) + run(
        1, lambda rows: local_rows[0] + local_rows[1]
    )
    assert gathered == pytest.approx(single)
    assert single == pytest.approx([0.0, 0.0, 0.8, -1.0, 1.5, 0.0])


def test_single_process_needs_no_gather():
    assert rewards.rank_and_world() == (0, 1)


_ANY = st.one_of(
    st.none(),
    st.text(),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    completions=st.lists(
        st.one_of(
            st.text(),
            st.text().map(lambda t: f"{t}<call>{len(t)}</call>\\boxed{{{t}}}"),
            st.text().map(lambda t: [{"role": "assistant", "content": t}]),
            st.none(),
        ),
        max_size=6,
    ),
    answers=st.one_of(st.none(), st.lists(_ANY, max_size=8)),
    ratios=st.one_of(st.none(), st.lists(_ANY, max_size=8)),
    ids=st.one_of(st.none(), st.lists(_ANY, max_size=8)),
    kinds=st.one_of(st.none(), st.lists(st.sampled_from(["math", "choice", None, 3]), max_size=8)),
    prompts=st.lists(st.one_of(st.text(max_size=3), st.just([{"role": "user", "content": "x"}])), max_size=8),
)
def test_reward_functions_are_total(completions, answers, ratios, ids, kinds, prompts):
    reward_fns = [
        accuracy_reward,
        simple_reward,
        difficulty_aware_reward,
        make_simple_reward(ratio_source="requested"),
        make_difficulty_aware_reward(ratio_source="requested", scope="batch"),
    ]
    for fn in reward_fns:
        scores = fn(prompts, completions, answer=answers, call_ratio=ratios, completion_ids=ids, kind=kinds)
        assert len(scores) == len(completions)
        assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
