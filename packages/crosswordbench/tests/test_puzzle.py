"""The puzzle model (spec §2.1, §8): numbering, crossings, round trips, released records, prefill masks."""

import hashlib
import itertools
import json

import pytest

from crosswordbench.puzzle import (
    Intersection,
    Puzzle,
    PuzzleError,
    Word,
    intersections,
    leave_one_out_mask,
    masked_grid,
    number_words,
    prefill_mask,
    stable_seed,
)


def test_fixture_keys_grid_and_reference(P):
    assert P.grid == ["CAT--", "O-E--", "W-A--", "-----", "-----"]
    assert P.keys() == ["across 1", "down 1", "down 2"] and (P.rows, P.cols) == (5, 5)
    assert P.reference()[2] == {"direction": "down 2", "clue": "Hot drink", "answer": "TEA"}
    assert P.letter_cells() == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 2)]
    assert P.word("down 1").cells() == [(0, 0), (1, 0), (2, 0)]
    with pytest.raises(KeyError, match="across 9"):
        P.word("across 9")


def test_intersections(P):
    assert intersections(P) == [
        Intersection("across 1", "down 1", 0, 0, 0, 0),
        Intersection("across 1", "down 2", 2, 0, 0, 2),
    ]


def test_numbering_ignores_stored_numbers_and_orders_across_first():
    words = [
        Word("TEA", "", 0, 2, "down", 7),
        Word("COW", "", 0, 0, "down", 9),
        Word("CAT", "", 0, 0, "across", 3),
        Word("WE", "", 2, 0, "across"),
    ]
    assert [(w.key, w.answer) for w in number_words(words)] == [
        ("across 1", "CAT"),
        ("across 3", "WE"),
        ("down 1", "COW"),
        ("down 2", "TEA"),
    ]


def test_from_words_accepts_tuples_with_numeric_directions_and_lower_case():
    p = Puzzle.from_words([("cat", "c", 0, 0, 0), ("cow", "w", 0, 0, 1)], 3, 3)
    assert p.keys() == ["across 1", "down 1"] and p.grid == ["CAT", "O--", "W--"]


@pytest.mark.parametrize(
    "entries, match",
    [
        ([], "at least one word"),
        ([("CAT", "", 0, 3, "across")], "leaves"),
        ([("CAT", "", 0, 0, "across"), ("DOG", "", 0, 0, "down")], "conflict"),
        ([("CAT", "", 0, 0, "diagonal")], "direction"),
        ([("A", "", 0, 0, "across")], "shorter"),
    ],
)
def test_from_words_errors(entries, match):
    with pytest.raises(PuzzleError, match=match):
        Puzzle.from_words(entries, 5, 5)


def test_dict_round_trip_and_json(P):
    P.meta["seed"] = 3
    d = P.to_dict()
    assert set(d) == {"id", "rows", "cols", "grid", "words", "meta"}
    assert Puzzle.from_dict(d) == P and Puzzle.from_dict(json.dumps(d)) == P
    P.meta["images"] = {"grid_image": object()}
    assert "images" not in P.to_dict()["meta"]
    with pytest.raises(PuzzleError, match="disagrees"):
        Puzzle.from_dict({**d, "grid": ["DAT--", *d["grid"][1:]]})
    assert Puzzle.from_dict({**d, "id": None}).id == ""


def released_record(P, **extra):
    state = {
        "grid": [list(row) for row in P.grid],
        "wordlist": [[w.answer, w.clue, w.row, w.col, int(w.direction == "down"), 0] for w in P.words],
    }
    return {
        "id": 7,
        "puzzle_state": json.dumps(state),
        "reference_answer": json.dumps(P.reference()),
        **extra,
    }


def test_released_record(P):
    mask = prefill_mask(P, 0.5)
    record = released_record(
        P, **{"partial_grid_0.5": json.dumps({"grid": masked_grid(P, mask), "mask": mask})}
    )
    loaded = Puzzle.from_dict(record)
    assert loaded.id == "7" and loaded.grid == P.grid and loaded.reference() == P.reference()
    assert loaded.meta["prefill_masks"]["0.5"] == mask
    wrong = [{**r, "answer": "SEA"} if r["answer"] == "TEA" else r for r in P.reference()]
    with pytest.raises(PuzzleError, match="reference_answer"):
        Puzzle.from_dict(released_record(P, reference_answer=wrong))


def test_stable_seed_is_sha256_of_the_grid(P):
    expected = int.from_bytes(hashlib.sha256("".join(P.grid).encode()).digest()[:8], "big")
    assert stable_seed(P) == expected


def _revealed(mask):
    return {(r, c) for r, row in enumerate(mask) for c, v in enumerate(row) if v}


def _complete_words(P, mask):
    return [w.key for w in P.words if all(mask[r][c] for r, c in w.cells())]


def test_prefill_keeps_a_hidden_cell_per_word_and_nests(P):
    masks = {r: prefill_mask(P, r) for r in (0.0, 0.25, 0.5, 0.75, 1.0)}
    assert _revealed(masks[0.0]) == set()
    assert len(_revealed(masks[0.5])) <= 3  # int(7 * 0.5)
    for mask in masks.values():
        assert _complete_words(P, mask) == []
        assert _revealed(mask) <= set(P.letter_cells())
    ordered = [masks[r] for r in (0.0, 0.25, 0.5, 0.75, 1.0)]
    for small, large in itertools.pairwise(ordered):
        assert _revealed(small) <= _revealed(large)
    assert prefill_mask(P, 0.5) == masks[0.5]  # the stable seed, not Python's salted hash


def test_prefill_with_an_order_skips_blocks_and_repeats(P):
    order = [(3, 3), (0, 0), (0, 0), (0, 1), (0, 2), (1, 0)]
    assert _revealed(prefill_mask(P, 1.0, order=order)) == {(0, 0), (0, 1), (1, 0)}
    with pytest.raises(ValueError, match="ratio"):
        prefill_mask(P, 1.5)


def test_leave_one_out(P):
    mask = leave_one_out_mask(P, key="down 2")
    assert _revealed(mask) == {(0, 0), (0, 1), (1, 0), (2, 0)}  # TEA's crossing (0, 2) is hidden too
    seeded = leave_one_out_mask(P, seed=1)
    assert _complete_words(P, seeded) != P.keys() and len(_revealed(seeded)) < 7
    with pytest.raises(KeyError):
        leave_one_out_mask(P, key="down 9")


def test_masked_grid(P):
    assert masked_grid(P, leave_one_out_mask(P, key="across 1")) == [
        "-----",
        "O-E--",
        "W-A--",
        "-----",
        "-----",
    ]
    with pytest.raises(ValueError, match="shape"):
        masked_grid(P, [[True]])
