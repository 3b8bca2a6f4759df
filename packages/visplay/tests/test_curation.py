"""The informativeness band and curation (spec §2.5, §8 "Filter", §10)."""

from __future__ import annotations

import copy

import pytest

from visplay.curation import curate, is_informative, is_valid_candidate


@pytest.mark.parametrize(("c", "kept"), [(0.2, False), (0.25, True), (0.5, True), (0.75, True), (0.8, False)])
def test_default_band(c, kept) -> None:
    assert is_informative(c) is kept


def test_code_band() -> None:
    assert is_informative(0.8, 0.3, 0.8)
    assert not is_informative(0.25, 0.3, 0.8)


def test_band_slack_is_1e_9() -> None:
    assert is_informative(0.25 - 5e-10) and is_informative(0.75 + 5e-10)
    assert not is_informative(0.25 - 1e-8) and not is_informative(0.75 + 1e-8)
    # 3/10 computed in floating point is still inside [0.3, 0.8].
    assert is_informative(3 * 0.1, 0.3, 0.8)


def test_is_informative_rejects_inverted_band() -> None:
    with pytest.raises(ValueError):
        is_informative(0.5, 0.8, 0.3)


def candidate(question, answers, **extra):
    return {"question": question, "reasoner_answers": answers, **extra}


def test_curate_keeps_informative_valid_candidates_in_order() -> None:
    candidates = [
        candidate("q0", ["A", "A", "B", "C"], image_id="x"),  # c = 0.5: kept
        candidate("q1", ["A"] * 4),  # c = 1.0: dropped
        candidate("q2", ["b", "(B)", "B.", "c", " B "]),  # c = 0.8: dropped by [0.25, 0.75]
        candidate("q3", ["2", None, None, "2"]),  # c = 0.5: kept
        candidate("q4", [None, None]),  # no answer: dropped
        candidate("", ["1", "2"]),  # empty question: dropped
        candidate("q6", ["1", "1", "2", "3"], valid=False),  # invalid: dropped
        candidate("q7", ["0.75", "3/4", "\\frac{3}{4}", "1"]),  # c = 0.75: kept
        candidate(None, ["1", "2"]),  # not a string: dropped
    ]
    kept = curate(candidates)
    assert [k["question"] for k in kept] == ["q0", "q3", "q7"]
    assert [k["answer"] for k in kept] == ["A", "2", "0.75"]
    assert [k["confidence"] for k in kept] == pytest.approx([0.5, 0.5, 0.75], abs=1e-6)
    assert kept[0] == {**candidates[0], "answer": "A", "confidence": 0.5}


def test_curate_code_band_and_valid_true() -> None:
    candidates = [
        candidate("q", ["b", "(B)", "B.", "c", " B "], valid=True),
        candidate("r", ["1", "2", "3", "4"]),
    ]
    kept = curate(candidates, tau_low=0.3, tau_high=0.8)
    assert [(k["question"], k["answer"]) for k in kept] == [("q", "b")]


def test_curate_budget() -> None:
    candidates = [candidate(f"q{i}", ["A", "B"]) for i in range(5)]
    assert [k["question"] for k in curate(candidates, budget=2)] == ["q0", "q1"]
    assert curate(candidates, budget=0) == []
    assert len(curate(candidates, budget=None)) == 5
    assert len(curate(candidates, budget=9)) == 5


def test_curate_does_not_mutate_inputs() -> None:
    candidates = [candidate("q", ["A", "B"], answer="old")]
    before = copy.deepcopy(candidates)
    kept = curate(candidates)
    assert candidates == before
    assert kept[0]["answer"] == "A" and kept[0] is not candidates[0]


def test_curate_missing_reasoner_answers_names_the_index() -> None:
    with pytest.raises(ValueError, match="candidate 1"):
        curate([candidate("q", ["A", "B"]), {"question": "r"}])
    # A string is not a list of answers (its characters would vote).
    with pytest.raises(
        ValueError, match="candidate 1: 'reasoner_answers' must be a list of answers, got str"
    ):
        curate([candidate("q", ["A", "B"]), candidate("r", "AB")])
    assert curate([candidate("q", None), candidate("r", ("A", "B"))]) == [
        {**candidate("r", ("A", "B")), "answer": "A", "confidence": 0.5}
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tau_low": 0.8, "tau_high": 0.3},
        {"tau_low": -0.1},
        {"tau_high": 1.2},
        {"tau_low": float("nan")},
        {"budget": -1},
    ],
)
def test_curate_bad_parameters(kwargs) -> None:
    with pytest.raises(ValueError):
        curate([candidate("q", ["A", "B"])], **kwargs)


def test_curate_empty() -> None:
    assert curate([]) == []


def test_is_valid_candidate_is_the_rule_of_curate_and_label_questions() -> None:
    assert is_valid_candidate({"question": "q"}) and is_valid_candidate({"question": "q", "valid": True})
    assert is_valid_candidate({"question": " ", "valid": None})  # a non-empty string, `valid` not False
    for bad in ({"question": ""}, {"question": None}, {"question": 3}, {}, {"question": "q", "valid": False}):
        assert not is_valid_candidate(bad)
    # curate keeps exactly the valid ones among otherwise identical informative candidates.
    rows = [
        {"question": "q", "reasoner_answers": ["A", "B"]},
        {"question": "", "reasoner_answers": ["A", "B"]},
    ]
    assert [is_valid_candidate(r) for r in rows] == [len(curate([r])) == 1 for r in rows] == [True, False]
