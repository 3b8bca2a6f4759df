import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlcore.answers import (
    answers_match,
    extract_boxed,
    extract_choice,
    extract_tag,
    majority_vote,
    normalize_answer,
)
from rlcore.selfplay import pseudo_label


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{42}.", "42"),
        ("\\boxed{1} then \\boxed{ 2 }", "2"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{{a}{b{c}}}", "{a}{b{c}}"),
        ("\\fbox{7}", "7"),
        ("\\boxed{3} and \\fbox{4}", "4"),
        ("\\boxed{5} but \\boxed{6", None),
        ("no box here", None),
        ("", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


def test_extract_boxed_non_string():
    assert extract_boxed(None) is None  # type: ignore[arg-type]


def test_extract_tag_last_and_first():
    text = "<answer> a </answer> mid <answer>b</answer> <answer>open"
    assert extract_tag(text, "answer") == "b"
    assert extract_tag(text, "answer", last=False) == "a"
    assert extract_tag("<think>x", "think") is None
    assert extract_tag("</think><think>", "think") is None
    assert extract_tag("<call>\n12\n</call>", "call") == "12"


def test_extract_choice():
    assert extract_choice("The answer is \\boxed{C}.") == "C"
    assert extract_choice("\\boxed{(B) dog}") == "B"
    assert extract_choice("\\boxed{xyz}") is None
    assert extract_choice("C") is None
    assert extract_choice("\\boxed{K}", letters="ABCDEFGHIJK") == "K"


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("  42 ", "42"),
        ("$42$", "42"),
        ("42.", "42"),
        ("\\text{5 apples}", "5 apples"),
        ("\\left( 1, 2 \\right)", "( 1, 2 )"),
        ("1,000", "1000"),
        ("1,234,567", "1234567"),
        ("x = 5", "5"),
        ("2.50", "2.5"),
        ("3.0", "3"),
        ("10", "10"),
        ("100.00", "100"),
        ("(1, 2)", "(1, 2)"),
    ],
)
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_answers_match():
    assert answers_match("42", "42")
    assert answers_match("\\frac{1}{2}", "0.5")
    assert answers_match("1,000", "1000")
    assert answers_match("$x = 3$", "3")
    assert answers_match("2.50", "2.5")
    assert not answers_match("41", "42")
    assert not answers_match(None, "42")
    assert not answers_match("", "42")
    assert answers_match("\\text{Paris}", "Paris")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_answers_match_never_raises(a, b):
    assert answers_match(a, b) in (True, False)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_extractors_never_raise(text):
    extract_boxed(text)
    extract_tag(text, "answer")
    extract_choice(text)
    normalize_answer(text)


def test_majority_vote_exact():
    assert majority_vote(["4", "4", "5", "4", "6", "5", "4", "4", "7", "5"]) == ("4", 0.5)
    assert majority_vote(["a", "b", "b", "a"]) == ("a", 0.5)
    assert majority_vote(["2", None, None, "2"]) == ("2", 0.5)
    assert majority_vote([]) == (None, 0.0)
    assert majority_vote([None, "  "]) == (None, 0.0)
    # equivalent answers share a bucket; the label is the first-seen member
    assert majority_vote(["0.5", "\\frac{1}{2}", "3"]) == ("0.5", pytest.approx(2 / 3))


def test_majority_vote_custom_match_equals_pseudo_label():
    answers = ["Cat", "cat", "dog", None, "CAT"]

    def same(a, b):
        return a.lower() == b.lower()

    vote = pseudo_label(answers, match=same)
    assert majority_vote(answers, match=same) == (vote.label, vote.p_hat) == ("Cat", 0.6)
