import re

from hypothesis import given, settings
from hypothesis import strategies as st

from rlcore.rewards import boxed_accuracy_reward, completion_text, tag_format_reward, weighted


def test_completion_text_forms():
    assert completion_text("plain") == "plain"
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    assert (
        completion_text(
            [
                {"role": "assistant", "content": "first"},
                {"role": "user", "content": "u"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image"},
                        {"type": "text", "text": "b"},
                    ],
                },
            ]
        )
        == "ab"
    )
    assert completion_text([]) == ""
    assert completion_text(None) == ""  # type: ignore[arg-type]


def test_boxed_accuracy_reward():
    completions = ["\\boxed{4}", [{"role": "assistant", "content": "so \\boxed{5}"}], "none", "\\boxed{1}"]
    rewards = boxed_accuracy_reward([""] * 4, completions, answer=["4", "4", "4", ""])
    assert rewards == [1.0, 0.0, 0.0, None]
    assert boxed_accuracy_reward(["p"], ["\\boxed{3}"], answer=[None]) == [None]


def test_tag_format_reward():
    fmt = tag_format_reward(r"<think>.*?</think>\s*<answer>.*?</answer>")
    assert fmt.__name__ == "tag_format_reward"
    assert fmt([], ["<think>a\nb</think> <answer>1</answer>", "<answer>1</answer>", "x"]) == [1.0, 0.0, 0.0]
    strict = tag_format_reward(r"a.b", flags=0)
    assert strict([], ["a\nb", "axb"]) == [0.0, 1.0]
    assert re.DOTALL  # the default flag lets '.' cross newlines, as shown above


def test_weighted_sum_and_none():
    def one(prompts, completions, **kw):
        return [1.0, None, None]

    def two(prompts, completions, **kw):
        return [2.0, 3.0, None]

    combined = weighted((one, 0.5), (two, 2.0))
    assert combined([], ["a", "b", "c"]) == [4.5, 6.0, None]
    assert combined.__name__ == "0.5*one+2*two"


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
def test_rewards_total(texts):
    assert len(boxed_accuracy_reward([""] * len(texts), texts, answer=["1"] * len(texts))) == len(texts)
    assert all(r in (0.0, 1.0) for r in tag_format_reward(r".*<answer>.*")([], texts))
