"""lara.rewards: extraction (both modes), correctness, the TRL reward and accuracy (spec §2)."""

from __future__ import annotations

import pytest

from lara.rewards import accuracy, answer_reward, extract_answer, infer_answer_type, is_correct


@pytest.mark.parametrize(
    ("gold", "task_format", "expected"),
    [
        ("(A)", "bbh", "option"),
        ("(R)", "bbh", "option"),
        ("(S)", "bbh", "text"),
        ("-12", "bbh", "integer"),
        ("7", "bbh", "integer"),
        ("True", "bbh", "text"),
        ("] ) }", "bbh", "text"),
        ("B", "mmlu", "letter"),
        ("(A)", "mmlu", "letter"),
    ],
)
def test_infer_answer_type(gold: str, task_format: str, expected: str) -> None:
    assert infer_answer_type(gold, task_format) == expected


def test_spec_examples() -> None:
    assert extract_answer(" (A) or (E)", "option") == "(A)"
    assert extract_answer(" (A) or (E)", "option", "official") == "(E)"
    assert extract_answer("", "option", "official") == "(E)"
    assert extract_answer("", "option") == ""
    assert extract_answer(" C. All", "letter") == "C"
    assert extract_answer(" C. All", "letter", "official") == "A"
    assert extract_answer(" C\n\nQuestion: A", "letter") == "C"
    assert extract_answer(" C\n\nQuestion: A", "letter", "official") == "C"


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (" (b) is right", "(B)"),
        ("\n\n  (C)\nQuestion: (A)", "(C)"),
        (" B) dog", "(B)"),
        (" B. dog", "(B)"),
        (" B: dog", "(B)"),
        (" B", "(B)"),
        (" B.", "(B)"),
        (" Bdog", ""),
        (" B.dog", ""),
        (" the answer", ""),
        ("Question: (A)", ""),
        (" (Z)", ""),
        (" no\n(A)", ""),
    ],
)
def test_clean_option(completion: str, expected: str) -> None:
    assert extract_answer(completion, "option") == expected


def test_clean_letter_integer_text() -> None:
    assert extract_answer(" The answer is B", "letter") == "B"  # "T", "A" are inside words
    assert extract_answer(" Answer: D.", "letter") == "D"
    assert extract_answer(" none", "letter") == ""
    assert extract_answer(" -007 apples", "integer") == "-7"
    assert extract_answer(" 42\nQuestion: 5", "integer") == "42"
    assert extract_answer(" about twelve", "integer") == ""
    assert extract_answer("  True  and\tso.. ", "text") == "True and\tso".replace("\t", " ")
    assert extract_answer(" ] ) }.", "text") == "] ) }"
    assert extract_answer(" True\nQuestion: False", "text") == "True"


def test_official_walk_order() -> None:
    # (e) is tried before (a): containment in either direction wins.
    assert extract_answer(" (a) and (e)", "option", "official") == "(E)"
    assert extract_answer(" (B)\nQuestion: (E)", "option", "official") == "(B)"
    assert extract_answer(" b", "option", "official") == "(B)"  # "b" in "(b)"
    assert extract_answer(" nothing", "option", "official") == ""
    assert extract_answer(" D\nquestion: A", "letter", "official") == "A"  # cut is case-sensitive
    assert extract_answer(" 12", "integer", "official") == "12"  # other types: clean rules


@pytest.mark.parametrize("junk", [None, 3, 4.5, ["x"], {"a": 1}, object()])
def test_extraction_is_total(junk: object) -> None:
    for answer_type in ("option", "letter", "integer", "text", "weird"):
        for mode in ("clean", "official", "weird"):
            assert isinstance(extract_answer(junk, answer_type, mode), str)
    assert extract_answer(None, "option", "official") == "(E)"  # non-strings count as ""


def test_is_correct() -> None:
    assert is_correct(" (A)", "(A)")
    assert is_correct(" (a) because", "(A)")
    assert not is_correct(" (B)", "(A)")
    assert is_correct(" 007", "7")
    assert is_correct(" -3", " -3 ")
    assert is_correct(" True.", "True")
    assert not is_correct(" False", "True")
    assert is_correct(" B", "b", "mmlu")
    assert is_correct(" A", "A", "mmlu", "official")
    assert not is_correct("", "(A)")
    assert not is_correct("", "")  # an empty extraction is never correct
    assert is_correct("", "(E)", mode="official")
    assert not is_correct(None, "(A)")
    assert not is_correct(" x", None)


def test_answer_reward() -> None:
    completions = [" (A)", " (B)", [{"role": "assistant", "content": " 12"}], " junk", " x"]
    targets = ["(A)", "(A)", "12", "5", None]
    assert answer_reward(["p"] * 5, completions, target=targets) == [1.0, 0.0, 1.0, 0.0, None]
    assert answer_reward(["p"], [" C"], target=["C"], task_format=["mmlu"]) == [1.0]
    assert answer_reward(["p"], [" C"], target=["C"]) == [1.0]  # bbh: plain text match
    assert answer_reward(["p"], [" D"], target=["C"], task_format="mmlu") == [0.0]
    assert answer_reward(["p"], [" (A)"], target=None) == [None]
    assert answer_reward([], [], target=[]) == []
    chat = [
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "text", "text": " (C)"}]},
        ]
    ]
    assert answer_reward(["p"], chat, target=["(C)"], extra_column=["ignored"]) == [1.0]


def test_accuracy() -> None:
    assert accuracy([" (A)", " (B)", " 3", " x"], ["(A)", "(A)", "3", "y"]) == 0.5
    assert accuracy([], []) == 0.0
    assert accuracy([" C. All"], ["A"], "mmlu", "official") == 1.0
    assert accuracy([" C. All"], ["A"], "mmlu") == 0.0
    with pytest.raises(ValueError, match="as many"):
        accuracy([" (A)"], [])
