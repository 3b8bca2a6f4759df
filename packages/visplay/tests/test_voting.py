"""VisPlay's vote key and answer equivalence, and the vote it drives (spec §2.2, §8 "Vote")."""

from __future__ import annotations

import pytest

from rlcore.selfplay import Vote, pseudo_label
from visplay.voting import answers_equivalent, normalize_answer


def vote(answers):
    return pseudo_label(answers, match=answers_equivalent)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("  B  ", "b"),
        ("(B)", "b"),
        ("B.", "b"),
        ("B)", "b"),
        ("(b", "b"),
        ("$x+1$", "x+1"),
        ("$$ 42 $$.", "42"),
        ("\\text{ Yes }", "yes"),
        ("\\textbf{\\mathrm{No}}", "\\textbf{\\mathrm{no}}"),  # braces inside X: not unwrapped
        ("\\mathbf{C}", "c"),
        ("$\\text{(A)}$ .", "a"),
        ("Two   red\n cars", "two red cars"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # casefold, not lower
        ("3.5", "3.5"),
        ("12.", "12"),
        ("(ab)", "(ab)"),
        ("", ""),
        (" . ", ""),
    ],
)
def test_normalize_answer(raw, key) -> None:
    assert normalize_answer(raw) == key


@pytest.mark.parametrize("value", [None, 3, 2.5, ["b"], b"b"])
def test_normalize_answer_non_strings(value) -> None:
    assert normalize_answer(value) == ""


def test_normalize_strips_dollars_before_wrappers() -> None:
    # Step 4 ($) runs once, before step 5 (wrappers): dollars uncovered by unwrapping stay.
    assert normalize_answer("\\text{$5$}") == "$5$"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("B", "(b)"),
        ("12", "12.0"),
        ("0.75", "3/4"),
        ("0.75", "\\frac{3}{4}"),
        ("3/4", "\\frac{3}{4}"),
        ("\\frac{1}{2}", "0.5"),
        ("$\\text{Yes}$", "yes."),
    ],
)
def test_equivalent_pairs_both_ways(a, b) -> None:
    assert answers_equivalent(a, b)
    assert answers_equivalent(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("A", "B"),
        ("yes", "no"),
        ("12", "13"),
        ("", ""),
        ("", "0"),
        (None, None),
        ("3", 3),
        (" ", " "),
        ("1", "A"),
    ],
)
def test_not_equivalent(a, b) -> None:
    assert not answers_equivalent(a, b)
    assert not answers_equivalent(b, a)


def test_equivalent_never_raises_on_odd_text() -> None:
    for a, b in [("\\frac{", "}"), ("\\boxed{", "x"), ("$$$", "$"), ("((", ")"), ("∞", "inf")]:
        assert answers_equivalent(a, b) in (True, False)


def test_vote_letters_normalise_together() -> None:
    assert vote(["b", "(B)", "B.", "c", " B "]) == Vote("b", 4, 0.8)


def test_vote_math_equal_forms() -> None:
    result = vote(["0.75", "3/4", "\\frac{3}{4}", "1"])
    assert result.label == "0.75" and result.count == 3
    assert result.p_hat == pytest.approx(0.75, abs=1e-6)


def test_vote_majority() -> None:
    result = vote(["A"] * 6 + ["B"] * 3 + ["C"])
    assert (result.label, result.count) == ("A", 6)
    assert result.p_hat == pytest.approx(0.6, abs=1e-6)


def test_vote_missing_answers_count_in_m() -> None:
    assert vote(["2", None, None, "2"]) == Vote("2", 2, 0.5)
    assert vote(["2", "  ", 7, "2"]) == Vote("2", 2, 0.5)


def test_vote_degenerate() -> None:
    assert vote([]) == Vote(None, 0, 0.0)
    assert vote([None, "", "  "]) == Vote(None, 0, 0.0)


def test_vote_tie_goes_to_first_bucket() -> None:
    assert vote(["x", "y", "Y", "X."]) == Vote("x", 2, 0.5)
