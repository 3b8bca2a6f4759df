"""Format, accuracy and visual rewards (spec sections 2.2 and 4) with the worked examples' exact numbers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vision_sr1.rewards import (
    accuracy_reward,
    answer_score,
    combine_rewards,
    cot_format_reward,
    format_reward,
    format_score,
    make_reward_funcs,
    normalize_tags,
    visual_reward,
)

FIRST = r"<description>A red square with side 3.</description> <think>Area = 9.</think> \boxed{9}"
"""The first-pass text of section 4's worked examples (gold 9)."""


def _total(first: str, second: str | None, gold: str = "9") -> float:
    """R from the three TRL reward functions and the default weights, as training sums them."""
    kwargs = {"answer": [gold], "second_pass": [second]}
    r_acc = accuracy_reward(None, [first], **kwargs)[0]
    r_fmt = format_reward(None, [first], **kwargs)[0]
    r_vis = visual_reward(None, [first], **kwargs)[0]
    return combine_rewards(r_acc, r_fmt, r_vis)


# -- worked examples (section 4) ---------------------------------------------------------------------


def test_worked_example_all_correct_gives_2():
    assert format_score(FIRST) == 1.0 and answer_score(FIRST, "9") == 1.0
    assert answer_score(r"<think>x</think> \boxed{9}", "9") == 1.0
    assert _total(FIRST, r"<think>x</think> \boxed{9}") == pytest.approx(2.0, abs=1e-12)


def test_worked_example_wrong_second_pass_gives_1():
    assert visual_reward(None, [FIRST], answer=["9"], second_pass=[r"\boxed{8}"]) == [0.0]
    assert _total(FIRST, r"\boxed{8}") == pytest.approx(1.0, abs=1e-12)


def test_worked_example_trailing_period_gives_1_9():
    first = FIRST + "."
    assert format_score(first) == 0.0
    assert answer_score(first, "9") == 1.0
    assert _total(first, r"<think>x</think> \boxed{9}") == pytest.approx(1.9, abs=1e-12)


def test_worked_example_spaced_tags_are_valid_format():
    text = r"< description >d</ description ><think>t</think>\boxed{A}"
    assert normalize_tags(text) == r"<description>d</description><think>t</think>\boxed{A}"
    assert format_score(text) == 1.0
    assert format_reward(None, [text]) == [1.0]


# -- normalize_tags and format_score ---------------------------------------------------------------------


def test_normalize_tags_also_touches_content():
    assert normalize_tags("1 / 2 and a < b >  c") == "1/2 and a<b>c"
    assert normalize_tags("<think>\n  x \n</think>") == "<think>x</think>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FIRST, 1.0),
        ("\n  " + FIRST + "  \n", 1.0),  # surrounding whitespace is allowed
        ("<description>\n multi\nline \n</description>\n<think>a\nb</think>\n\\boxed{9}", 1.0),  # newlines
        (r"<description>d</description><think>t</think>\boxed{\frac{1}{2}}", 1.0),  # nested braces
        (r"<description>d</description><think>t</think>\boxed{}", 1.0),  # an empty box is still a box
        (r"<think>t</think><description>d</description>\boxed{9}", 0.0),  # wrong order
        (r"Sure! <description>d</description><think>t</think>\boxed{9}", 0.0),  # leading text
        (r"<description>d</description><think>t</think>\boxed{9} Hope this helps", 0.0),  # trailing text
        (r"<description>d</description><think>t</think>\boxed{9}.", 0.0),  # trailing period
        (r"<description>d</description><think>t</think>", 0.0),  # missing box
        (r"<description>d</description><think>t</think> 9", 0.0),  # answer not boxed
        (r"<think>t</think>\boxed{9}", 0.0),  # no description
        (r"<description>d</description>\boxed{9}", 0.0),  # no think
        (r"<description>d<think>t</think>\boxed{9}", 0.0),  # description never closed
        (r"<description>d</description> between <think>t</think>\boxed{9}", 0.0),  # text between parts
        (r"<  think >t< /think>  \boxed{9}", 0.0),  # CoT text is not the see-think layout
        ("", 0.0),
    ],
)
def test_format_score_see_think(text, expected):
    assert format_score(text, "see_think") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"<think>t</think> \boxed{9}", 1.0),
        (r"<  think >t< /think>  \boxed{9}", 1.0),  # tag spacing normalised
        (r"<think>t</think>\boxed{\sqrt{2}}", 1.0),
        (r"<think>t</think>", 0.0),
        (r"Answer: <think>t</think>\boxed{9}", 0.0),
        (r"<think>t</think>\boxed{9} ok", 0.0),
        (FIRST, 0.0),  # a description block is not part of the CoT layout
    ],
)
def test_format_score_cot(text, expected):
    assert format_score(text, "cot") == expected


def test_format_score_rejects_unknown_style_and_tolerates_odd_types():
    with pytest.raises(ValueError, match="style"):
        format_score(FIRST, "vision_r1")
    assert format_score(None) == 0.0  # type: ignore[arg-type]
    assert format_score(42, "cot") == 0.0  # type: ignore[arg-type]


# -- answer_score --------------------------------------------------------------------------------------


def test_answer_score_last_box_wins():
    assert answer_score(r"\boxed{8} no wait \boxed{9}", "9") == 1.0
    assert answer_score(r"\boxed{9} no wait \boxed{8}", "9") == 0.0


def test_answer_score_missing_box_never_matches_none():
    assert answer_score("no box at all", "None") == 0.0
    assert answer_score("", "None") == 0.0
    assert answer_score(r"\boxed{None}", "None") == 1.0


@pytest.mark.parametrize(
    ("text", "gold", "expected"),
    [
        (r"\boxed{\frac{1}{2}}", "0.5", 1.0),  # math-verify equivalence, nested braces
        (r"\boxed{ 9 }", 9, 1.0),  # gold converted with str()
        (r"\boxed{A}", "A", 1.0),
        (r"\boxed{9}", None, 0.0),
        (r"\boxed{9}", "   ", 0.0),
        (r"\boxed{9", "9", 0.0),  # the box never closes
        (None, "9", 0.0),
        (["not", "text"], "9", 0.0),
    ],
)
def test_answer_score_cases(text, gold, expected):
    assert answer_score(text, gold) == expected


def test_answer_score_never_raises_on_unprintable_gold():
    class Broken:
        def __str__(self):
            raise RuntimeError("boom")

    assert answer_score(r"\boxed{9}", Broken()) == 0.0


# -- combine_rewards ---------------------------------------------------------------------------------


def test_combine_rewards_default_and_custom_weights():
    assert combine_rewards(1, 1, 1) == pytest.approx(2.0, abs=1e-12)
    assert combine_rewards(1, 0, 1) == pytest.approx(1.9, abs=1e-12)
    assert combine_rewards(1, 1, 0) == pytest.approx(1.0, abs=1e-12)
    assert combine_rewards(0, 1, 0) == pytest.approx(0.1, abs=1e-12)
    assert combine_rewards(0, 0, 0) == 0.0
    # The paper figure's unweighted sum of three 0/1 rewards.
    assert combine_rewards(1, 1, 1, accuracy_weight=1, format_weight=1) == 3.0
    assert combine_rewards(1, 0, 1, visual_weight=0.5) == pytest.approx(1.4, abs=1e-12)


# -- TRL reward functions ------------------------------------------------------------------------------


def test_reward_functions_have_names():
    for fn, name in [
        (accuracy_reward, "accuracy_reward"),
        (format_reward, "format_reward"),
        (cot_format_reward, "cot_format_reward"),
        (visual_reward, "visual_reward"),
    ]:
        assert fn.__name__ == name


def test_reward_functions_accept_chat_completions():
    chat = [[{"role": "assistant", "content": FIRST}]]
    assert accuracy_reward(None, chat, answer=["9"]) == [1.0]
    assert format_reward(None, chat) == [1.0]
    assert cot_format_reward(None, [[{"role": "assistant", "content": r"<think>t</think>\boxed{9}"}]]) == [
        1.0
    ]


def test_accuracy_reward_normalises_tags_and_handles_missing_column():
    # normalize_tags first: "1 / 2" becomes "1/2", which matches the gold "1/2" as a string.
    assert accuracy_reward(None, [r"\boxed{1 / 2}", r"\boxed{3}", "none"], answer=["1/2", "4", "9"]) == [
        1.0,
        0.0,
        0.0,
    ]
    assert accuracy_reward(None, [FIRST, FIRST]) == [None, None]
    assert accuracy_reward(None, [FIRST, FIRST], answer=["9", None]) == [1.0, 0.0]


def test_visual_reward_second_pass_none_and_missing_columns():
    completions = [FIRST, FIRST, FIRST]
    second = [r"<think>x</think> \boxed{9}", None, r"\boxed{8}"]
    assert visual_reward(None, completions, answer=["9"] * 3, second_pass=second) == [1.0, 0.0, 0.0]
    assert visual_reward(None, completions, answer=["9"] * 3) == [None, None, None]
    assert visual_reward(None, completions, second_pass=second) == [None, None, None]
    assert visual_reward(None, [], answer=[], second_pass=[]) == []


def test_visual_reward_does_not_normalise_tags():
    # "1 / 2" is graded as written in the second pass (no tag normalisation): it still matches by math-verify,
    # while an odd-typed entry counts 0.0 instead of raising.
    assert visual_reward(None, ["x", "y"], answer=["0.5", "9"], second_pass=[r"\boxed{1 / 2}", 9]) == [
        1.0,
        0.0,
    ]


def test_reward_functions_never_raise_on_odd_completions():
    odd = [None, 3, {"content": 5}, [{"role": "user", "content": "hi"}], [], ""]
    kwargs = {"answer": ["9"] * len(odd), "second_pass": [None, 1, [], {}, "", r"\boxed{9}"]}
    assert accuracy_reward(None, odd, **kwargs) == [0.0] * len(odd)
    assert format_reward(None, odd, **kwargs) == [0.0] * len(odd)
    assert cot_format_reward(None, odd, **kwargs) == [0.0] * len(odd)
    assert visual_reward(None, odd, **kwargs) == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    # a malformed (non-iterable) column is treated as absent
    assert accuracy_reward(None, [FIRST], answer=9) == [0.0]
    assert visual_reward(None, [FIRST], answer=["9"], second_pass=3) == [0.0]


# -- make_reward_funcs -------------------------------------------------------------------------------


def _cfg(**overrides):
    values = {
        "method": "vision_sr1",
        "policy_loss": "single_reward",
        "accuracy_weight": 0.9,
        "format_weight": 0.1,
        "visual_weight": 1.0,
        "multi_reward_weights": {"accuracy": 1.0, "visual": 1.0},
    }
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    ("method", "funcs", "weights"),
    [
        ("vision_sr1", [accuracy_reward, format_reward, visual_reward], [0.9, 0.1, 1.0]),
        ("see_think", [accuracy_reward, format_reward], [0.9, 0.1]),
        ("vision_r1", [accuracy_reward, cot_format_reward], [0.9, 0.1]),
    ],
)
def test_make_reward_funcs_single_reward(method, funcs, weights):
    assert make_reward_funcs(_cfg(method=method)) == (funcs, weights)


def test_make_reward_funcs_uses_configured_weights():
    cfg = _cfg(accuracy_weight=1, format_weight=1, visual_weight=0.5)
    assert make_reward_funcs(cfg) == ([accuracy_reward, format_reward, visual_reward], [1.0, 1.0, 0.5])


def test_make_reward_funcs_multi_reward_channels_in_canonical_order():
    assert make_reward_funcs(_cfg(policy_loss="multi_reward")) == (
        [accuracy_reward, visual_reward],
        [1.0, 1.0],
    )
    cfg = _cfg(
        policy_loss="multi_reward", multi_reward_weights={"visual": 2.0, "format": 0.1, "accuracy": 1.0}
    )
    assert make_reward_funcs(cfg) == ([accuracy_reward, format_reward, visual_reward], [1.0, 0.1, 2.0])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"method": "grpo"}, "method"),
        ({"policy_loss": "ppo"}, "policy_loss"),
        ({"policy_loss": "multi_reward", "method": "see_think"}, "vision_sr1"),
        ({"policy_loss": "multi_reward", "multi_reward_weights": {"judge": 1.0}}, "multi_reward_weights"),
        ({"policy_loss": "multi_reward", "multi_reward_weights": {}}, "multi_reward_weights"),
    ],
)
def test_make_reward_funcs_rejects_bad_configs(overrides, match):
    with pytest.raises(ValueError, match=match):
        make_reward_funcs(_cfg(**overrides))
