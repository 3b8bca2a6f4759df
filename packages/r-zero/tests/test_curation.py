"""The dataset phase: pseudo-labels by majority vote and the keep band (spec §2.1, §8, §10)."""

from __future__ import annotations

import pytest

from r_zero.curation import filter_records, label_questions


def exact(a: str, b: str) -> bool:
    return a == b


def test_label_questions_records_vote_and_answers():
    completions = [["\\boxed{4}", "so \\boxed{4}", "\\boxed{5}", "no box here"]]
    [record] = label_questions(["What is 2 + 2?"], completions, match=exact)
    assert record == {
        "problem": "What is 2 + 2?",
        "answer": "4",
        "score": 0.5,  # 2 of m = 4: the unboxed sample does not vote but counts in m
        "votes": 2,
        "num_samples": 4,
        "answers": ["4", "4", "5", None],
    }


def test_no_boxed_answer_gives_none_and_zero():
    [record] = label_questions(["q"], [["nothing", "still nothing", "\\boxed{}"]], match=exact)
    assert record["answer"] is None
    assert record["score"] == 0.0
    assert record["votes"] == 0 and record["num_samples"] == 3


def test_tie_goes_to_the_first_answer():
    records = label_questions(
        ["q1", "q2"], [["\\boxed{7}", "\\boxed{8}", "\\boxed{8}", "\\boxed{7}"], ["\\boxed{b}", "\\boxed{a}"]]
    )
    assert [r["answer"] for r in records] == ["7", "b"]
    assert [r["score"] for r in records] == pytest.approx([0.5, 0.5], abs=1e-6)


def test_default_match_is_math_equivalence():
    [record] = label_questions(["q"], [["\\boxed{\\frac{1}{2}}", "\\boxed{0.5}", "\\boxed{3}"]])
    assert record["answer"] == "\\frac{1}{2}"
    assert record["score"] == pytest.approx(2 / 3, abs=1e-6)


def test_label_questions_length_mismatch():
    with pytest.raises(ValueError, match="solver_completions"):
        label_questions(["a", "b"], [["\\boxed{1}"]])


def _rec(score, answer="1", problem="p"):
    return {"problem": problem, "answer": answer, "score": score}


def test_band_ends_are_inclusive():
    records = [_rec(s) for s in (0.2, 0.25, 0.5, 0.75, 0.8)]
    assert [r["score"] for r in filter_records(records)] == [0.25, 0.5, 0.75]
    assert [r["score"] for r in filter_records(records, 0.3, 0.8)] == [0.5, 0.75, 0.8]


def test_band_tolerates_float_noise():
    assert filter_records([_rec(3 / 4 + 1e-12), _rec(1 / 4 - 1e-12)]) == [
        _rec(3 / 4 + 1e-12),
        _rec(1 / 4 - 1e-12),
    ]


def test_records_without_a_label_are_dropped():
    records = [_rec(0.5, None), _rec(0.5, ""), _rec(0.5, "  "), _rec(0.5, "x")]
    assert filter_records(records) == [_rec(0.5, "x")]


def test_code_filters():
    records = [
        _rec(0.5, "1", "请证明 x > 0"),
        _rec(0.5, "1", "Put the result in a BOX."),
        _rec(0.5, "\\text{yes}", "Is it true?"),
        _rec(0.5, "2", "What is 1 + 1?"),
    ]
    assert filter_records(records) == records
    assert filter_records(records, code_filters=True) == [records[3]]


@pytest.mark.parametrize("key", ["problem", "answer", "score"])
def test_missing_key_names_key_and_index(key):
    bad = _rec(0.5)
    del bad[key]
    with pytest.raises(ValueError, match=rf"record 1 .*'{key}'"):
        filter_records([_rec(0.5), bad])


def test_non_numeric_score():
    with pytest.raises(ValueError, match=r"record 0: 'score'"):
        filter_records([_rec("high")])


def test_low_above_high():
    with pytest.raises(ValueError, match="low"):
        filter_records([_rec(0.5)], 0.8, 0.2)


def test_filter_accepts_any_iterable_and_keeps_order():
    records = [_rec(0.5, str(i)) for i in range(5)]
    assert filter_records(iter(records)) == records
