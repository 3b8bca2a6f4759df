"""The rule-based parser (spec §2.6, §8): exact outputs on literal replies; never raises on content."""

import pytest

from crosswordbench.parsing import clean_answer, parse_answers, strip_reasoning


def test_spec_example(P):
    reply = "<think>Across: 1: DOG</think>\nAcross:\n1: cat\n\nDown:\n1: COW\n2: ice tea\n3: DOG"
    assert parse_answers(reply, P.keys()) == {"across 1": "CAT", "down 1": "COW", "down 2": "ICETEA"}


def test_without_keys_keeps_every_key():
    reply = "Across:\n1: cat\nDown:\n3: dog"
    assert parse_answers(reply) == {"across 1": "CAT", "down 3": "DOG"}


@pytest.mark.parametrize(
    "line, key, answer",
    [
        ("Across 1: CAT", "across 1", "CAT"),
        ("**Across 12** - CAT", "across 12", "CAT"),
        ("1A: cat", "across 1", "CAT"),
        ("1 Across. cat", "across 1", "CAT"),
        ("12-d) cow", "down 12", "COW"),
        ("# Down 2 — tea", "down 2", "TEA"),
        ("- down 02: TEA (3 letters)", "down 2", "TEA"),
        ("> Across 3: OPEN SESAME (two words) (10)", "across 3", "OPENSESAME"),
        ("Across 4: cat - a small feline", "across 4", "CAT"),
        ("Across 5: cat (kitty) – pet", "across 5", "CAT"),
        ("Across 6: 猫", "across 6", "猫"),
    ],
)
def test_keyed_lines_anywhere(line, key, answer):
    assert parse_answers(line) == {key: answer}


def test_number_only_lines_need_a_section():
    assert parse_answers("1: CAT") == {}
    assert parse_answers("**Across Answers:**\n1. cat\n2) dog\n### DOWN WORDS\n1 – cow") == {
        "across 1": "CAT",
        "across 2": "DOG",
        "down 1": "COW",
    }


def test_later_lines_override_and_empty_answers_are_ignored():
    assert parse_answers("Across 1: CAT\nAcross 1: CAR\nAcross 2: ???") == {"across 1": "CAR"}


def test_extraction_mode():
    reply = (
        "ACROSS:\n1: Feline pet\nExtracted Word: CAT\n\nDOWN:\n1: Farm animal\nExtracted Word: cow\n"
        "2: Hot drink Extracted Word: tea"
    )
    assert parse_answers(reply, mode="extraction") == {"across 1": "CAT", "down 1": "COW", "down 2": "TEA"}
    assert parse_answers("Extracted Word: CAT", mode="extraction") == {}


def test_strip_reasoning_modes():
    text = "a</think>b</think>c"
    assert strip_reasoning(text) == "c"
    assert strip_reasoning(text, "first") == "b"
    assert strip_reasoning("x</think>y</reasoning>z") == "z"
    assert strip_reasoning(None) == ""
    assert parse_answers("r</think>Across 1: DOG</think>Across 1: CAT", think="first") == {"across 1": "DOG"}


def test_clean_answer():
    assert clean_answer("  ice-tea (2) (3)") == "ICETEA"
    assert clean_answer("it's") == "ITS"
    assert clean_answer("(nothing)") == ""


@pytest.mark.parametrize("garbage", [None, "", "\n\n", "Across:\nDown:", 17, ["x"], "1: 2: 3:", "Across 1:"])
def test_never_raises_on_content(garbage):
    assert parse_answers(garbage) == {}


def test_unknown_modes_are_errors():
    with pytest.raises(ValueError, match="solve"):
        parse_answers("x", mode="guess")
    with pytest.raises(ValueError, match="last"):
        strip_reasoning("x", "middle")
