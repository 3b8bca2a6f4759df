"""Format checking, answer extraction and matching, and every reward (spec §2.2, §8, §10)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from parallel_r1.rewards import (
    REWARDS,
    accuracy_reward,
    alternating_reward,
    check_format,
    count_parallel,
    extract_final_answer,
    first_number_correct,
    gated_parallel_reward,
    is_correct,
    is_format_correct,
    make_reward,
    normalize_answer,
    parallel_reward,
    reward_value,
    s2_uses_parallel,
)

VALID = "<Parallel><Path>a</Path><Path>b</Path></Parallel>\n<Summary>s</Summary>\nFinal Answer: 70"

# -------------------------------------------------------------------------------------------------- format


def test_valid_block():
    assert check_format(VALID) == []
    assert is_format_correct(VALID)
    assert count_parallel(VALID) == 1


@pytest.mark.parametrize(
    "text",
    [
        "<Parallel><Path>a</Path></Parallel>\n<Summary>s</Summary>",  # one path
        "<Parallel><Path>a</Path><Path>b</Path></Parallel>\nFinal Answer: 70",  # missing summary
        "<Summary>s</Summary>\nFinal Answer: 70",  # summary without block
        "x <Parallel><Path>a</Path><Path>b</Parallel> y <Summary>s</Summary>",  # </Parallel> closes a path
        "<Parallel><Path>a</Path><Path>b</Path>",  # never closed
        "</Path> stray",
        "<Parallel><Path>a</Path><Path>b</Path></Parallel><Summary>s</Summary><Summary>t</Summary>",
        "</Parallel><Summary>s</Summary>",
    ],
)
def test_invalid_formats(text):
    errors = check_format(text)
    assert errors and all(isinstance(e, str) for e in errors)
    assert not is_format_correct(text)


def test_format_edge_cases():
    assert check_format("no tags at all\nFinal Answer: 3") == []
    assert check_format("") == []
    assert check_format(None) == []  # type: ignore[arg-type]
    assert check_format(12) == []  # type: ignore[arg-type]
    two = VALID + "\n" + VALID
    assert check_format(two) == [] and count_parallel(two) == 2
    # three paths, a nested block inside a path, and a path outside any block are fine
    assert (
        check_format("<Parallel><Path>a</Path><Path>b</Path><Path>c</Path></Parallel><Summary>s</Summary>")
        == []
    )
    nested = (
        "<Parallel><Path><Parallel><Path>x</Path><Path>y</Path></Parallel><Summary>t</Summary></Path>"
        "<Path>b</Path></Parallel><Summary>s</Summary>"
    )
    assert check_format(nested) == []
    assert check_format("<Path>free</Path>") == []
    assert count_parallel(None) == 0  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("Final Answer: \\boxed{70}", "70"),
        ("final answer: 70", "70"),
        ("Final Answer: $70$", "70"),
        ("Final Answer: 1,000", "1000"),
        ("Final Answer: x = 5", "5"),
        ("Final Answer: 5 dollars", "5"),
        (VALID, 70),
    ],
)
def test_correct_answers(text, gold):
    assert is_correct(text, gold)


def test_wrong_answers():
    assert not is_correct("The answer is 70", "70")
    assert extract_final_answer("The answer is 70") is None
    assert not is_correct("Final Answer: 0.5", "\\frac{1}{2}")
    assert not is_correct("Final Answer: 70.", "70")
    assert not is_correct("Final Answer: 71", "70")
    assert not is_correct("Final Answer: 70", None)
    assert not is_correct("Final Answer: ", "")


def test_window():
    text = "Final Answer: 7" + "x" * 400
    assert extract_final_answer(text) is None
    text = "Final Answer: 7\n" + "x" * 400
    assert extract_final_answer(text) is None
    assert extract_final_answer(text, window=None) == "7"
    assert not is_correct(text, "7")
    assert is_correct(text, "7", window=None)


def test_extract_last_match_raw_and_tags_stripped():
    assert extract_final_answer("Final Answer: 1\nFinal Answer: 2 ") == "2 "
    assert extract_final_answer("<Summary>Final Answer: 3</Summary>") == "3"
    assert extract_final_answer("FINAL ANSWER : 9") == "9"
    assert extract_final_answer(None) is None  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        extract_final_answer("x", window=-1)


def test_normalize_answer_minerva_steps():
    assert normalize_answer("x = 5") == "5"
    assert normalize_answer("\\boxed{70}") == "70"
    assert normalize_answer("$70$") == "70"
    assert normalize_answer("1,000") == "1000"
    assert normalize_answer("1,2") == "12"  # all digits once commas are removed
    assert normalize_answer("(1,2)") == "(1,2)"
    assert normalize_answer("5 dollars") == "5"
    assert normalize_answer("\\frac12") == "\\frac{1}{2}"
    assert normalize_answer("\\sqrt2") == "\\sqrt{2}"
    assert normalize_answer("\\text{A}") == "A"
    assert normalize_answer("90^\\circ") == "90"
    assert normalize_answer("The answer is $12$ apples") == "12"
    assert normalize_answer("0.5") != normalize_answer("\\frac{1}{2}")


def test_math_verify_matcher():
    assert is_correct("Final Answer: 0.5", "\\frac{1}{2}", matcher="math_verify")
    assert is_correct("Final Answer: 70", "70", matcher="math_verify")
    assert not is_correct("no answer", "70", matcher="math_verify")
    with pytest.raises(ValueError, match="matcher"):
        is_correct("Final Answer: 1", "1", matcher="exact")


def test_first_number_extractor():
    assert first_number_correct("Final Answer: 1,000 then Final Answer: 5", "1000")
    assert not first_number_correct("Final Answer: 5 then Final Answer: 1000", "1000")
    assert not first_number_correct("final answer: 70", "70")  # the official regex is case-sensitive
    assert not first_number_correct("Final Answer: 70", None)


# ------------------------------------------------------------------------------------------------- rewards

ONE_PATH = "<Parallel><Path>a</Path></Parallel>\n<Summary>s</Summary>\nFinal Answer: 70"
WRONG = VALID.replace("70", "71")
CASES = [VALID, "Plain reasoning.\nFinal Answer: 70", ONE_PATH, WRONG]


def _values(kind, step):
    return [
        reward_value(
            kind,
            correct=is_correct(t, "70"),
            num_parallel=count_parallel(t),
            format_ok=is_format_correct(t),
            step=step,
        )
        for t in CASES
    ]


def test_s2_schedule():
    assert [s2_uses_parallel(s) for s in range(1, 11)] == [False] * 8 + [True, True]
    assert s2_uses_parallel(19) and s2_uses_parallel(20) and not s2_uses_parallel(21)
    assert not s2_uses_parallel(0) and not s2_uses_parallel(-5)
    assert s2_uses_parallel(3, period=3, parallel_steps=1)
    assert not s2_uses_parallel(10, parallel_steps=0)


def test_reward_values_spec_example():
    for step in range(1, 9):
        assert _values("alternating", step) == [1, 1, 1, -1]
    for step in (9, 10, 19, 20):
        assert _values("alternating", step) == [1.2, 1, -1, -1]
    assert _values("accuracy", None) == [1, 1, 1, -1]
    assert _values("parallel", None) == [1.2, 1, -1, -1]
    assert _values("gated", None) == [1, 0, 0, 0]
    assert _values("alternating", None) == [1, 1, 1, -1]
    with pytest.raises(ValueError, match="kind"):
        reward_value("bonus", correct=True, num_parallel=0, format_ok=True)


def test_trl_functions_with_rollout_step():
    golds = ["70"] * 4
    for step in range(1, 9):
        assert alternating_reward(None, CASES, answer=golds, rollout_step=step) == [1, 1, 1, -1]
    for step in (9, 10, 19, 20):
        assert alternating_reward(None, CASES, answer=golds, rollout_step=step) == [1.2, 1, -1, -1]
    per = alternating_reward(None, CASES, answer=golds, rollout_step=[9, 1, 9, 1])
    assert per == [1.2, 1, -1, -1]
    assert accuracy_reward(None, CASES, answer=golds) == [1, 1, 1, -1]
    assert parallel_reward(None, CASES, answer=golds) == [1.2, 1, -1, -1]
    assert gated_parallel_reward(None, CASES, answer=golds) == [1, 0, 0, 0]


def test_trl_functions_with_trainer_state():
    golds = ["70"] * 4
    state = SimpleNamespace(global_step=8)  # rollout step 9
    assert alternating_reward(None, CASES, answer=golds, trainer_state=state) == [1.2, 1, -1, -1]
    assert alternating_reward(None, CASES, answer=golds, trainer_state={"global_step": 0}) == [1, 1, 1, -1]
    # rollout_step wins over the trainer state
    assert alternating_reward(None, CASES, answer=golds, rollout_step=1, trainer_state=state) == [1, 1, 1, -1]


def test_tagged_completions_column_wins():
    # TRL decoded with skip_special_tokens would lose the tags; the engine's tagged text is used instead
    stripped = ["a b s Final Answer: 70"]
    assert gated_parallel_reward(None, stripped, answer=["70"]) == [0.0]
    assert gated_parallel_reward(None, stripped, answer=["70"], tagged_completions=[VALID]) == [1.0]
    # a non-string entry falls back to the completion
    assert gated_parallel_reward(None, [VALID], answer=["70"], tagged_completions=[None]) == [1.0]


def test_conversational_completions():
    completion = [{"role": "assistant", "content": VALID}]
    assert parallel_reward(None, [completion], answer=["70"]) == [1.2]


def test_missing_gold_gives_none():
    assert accuracy_reward(None, [VALID] * 4, answer=[None, "", "  ", "70"]) == [None, None, None, 1.0]
    assert accuracy_reward(None, [VALID, VALID], answer=["70"]) == [1.0, None]
    assert accuracy_reward(None, [VALID]) == [None]


@pytest.mark.parametrize("fn", list(REWARDS.values()))
def test_garbage_never_raises(fn):
    completions = [
        None,
        5,
        {"content": 3},
        [{"role": "assistant", "content": None}],
        [object()],
        "<Parallel>" * 50,
        "\x00",
    ]
    n = len(completions)
    values = fn(
        ["p"] * n,
        completions,
        answer=["70"] * n,
        tagged_completions=[1] * n,
        rollout_step="x",
        trainer_state=object(),
    )
    assert len(values) == n and all(isinstance(v, float) for v in values)
    assert (
        fn(None, completions, answer=[3.5, float("nan"), None, 0, True, [], "x"], rollout_step=[None, "a"])
        is not None
    )
    assert fn(None, [], answer=[]) == []
    assert fn(None, None) == []


def test_registry_and_factory():
    assert {
        "accuracy": accuracy_reward,
        "parallel": parallel_reward,
        "alternating": alternating_reward,
        "gated": gated_parallel_reward,
    } == REWARDS
    assert [fn.__name__ for fn in REWARDS.values()] == [
        "accuracy_reward",
        "parallel_reward",
        "alternating_reward",
        "gated_parallel_reward",
    ]
    fn = make_reward("alternating", period=4, parallel_steps=1)
    assert fn(None, [VALID] * 4, answer=["70"] * 4, rollout_step=[1, 2, 3, 4]) == [1, 1, 1, 1.2]
    mv = make_reward("accuracy", matcher="math_verify")
    assert mv(None, ["Final Answer: 0.5"], answer=["\\frac{1}{2}"]) == [1.0]
    first = make_reward("gated", extractor="first_number")
    text = VALID.replace("Final Answer: 70", "Final Answer: 70\nFinal Answer: 3")
    assert first(None, [text], answer=["70"]) == [1.0]
    assert gated_parallel_reward(None, [text], answer=["70"]) == [0.0]
    assert make_reward("accuracy", window=None)(None, ["Final Answer: 7\n" + "x" * 400], answer=["7"]) == [
        1.0
    ]
    for kwargs in (
        {"kind": "bonus"},
        {"kind": "accuracy", "matcher": "x"},
        {"kind": "accuracy", "extractor": "x"},
    ):
        with pytest.raises(ValueError):
            make_reward(**kwargs)


def test_no_torch_import():
    code = (
        "import sys, parallel_r1.prompts, parallel_r1.rewards, parallel_r1.metrics, parallel_r1.data;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
