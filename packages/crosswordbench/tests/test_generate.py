"""Generator tests (spec §2.2, §8): the placement rule, best-spot ties, and the generator's determinism,
input-order independence, engine equivalence, structural validity, pool handling and bad input."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pytest

import crosswordbench
from crosswordbench.generate import (
    GenerationConfig,
    GenerationError,
    _Generator,
    _IndexedLayout,
    best_placement,
    default_min_words,
    generate_puzzles,
    placement_score,
)
from crosswordbench.puzzle import BLOCK, Puzzle, number_words

BUNDLED = Path(crosswordbench.__file__).parent / "data" / "wordnet_en.txt"


def english_ish_words(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """``count`` pronounceable words of 2–5 letters (consonant–vowel patterns), a few with two clues."""
    consonants, vowels = "BCDFGHKLMNPRSTW", "AEIOU"
    rng = random.Random(seed)
    words: set[str] = set()
    patterns = ["CV", "VC", "CVC", "CVC", "CVCV", "VCVC", "CVCVC"]
    while len(words) < count:
        pattern = rng.choice(patterns)
        words.add("".join(rng.choice(consonants if p == "C" else vowels) for p in pattern))
    pairs = [(w, f"made-up word {w.lower()}") for w in sorted(words)]
    pairs += [(w, f"another sense of {w.lower()}") for w in sorted(words)[::9]]
    return pairs


WORDS = english_ish_words(400)


def grid_of(rows: int, cols: int, words: list[tuple[str, int, int, str]]) -> list[str]:
    cells = [[BLOCK] * cols for _ in range(rows)]
    for word, row, col, direction in words:
        for i, ch in enumerate(word):
            r, c = (row, col + i) if direction == "across" else (row + i, col)
            cells[r][c] = ch
    return ["".join(r) for r in cells]


# ---------------------------------------------------------------------------------------------------------------
# placement_score


def test_spec_example_cat_tea_axe():
    grid = grid_of(5, 5, [("CAT", 0, 0, "across")])
    assert placement_score(grid, "TEA", 0, 2, "down") == 2
    grid = grid_of(5, 5, [("CAT", 0, 0, "across"), ("TEA", 0, 2, "down")])
    assert placement_score(grid, "AXE", 0, 1, "down") == 0  # X would sit beside TEA's E


def test_score_counts_crossings_and_takes_list_rows():
    grid = grid_of(5, 5, [("AB", 1, 0, "down"), ("CD", 1, 2, "down")])
    assert placement_score(grid, "AXC", 1, 0, "across") == 3
    assert placement_score([list(r) for r in grid], "AXC", 1, 0, "across") == 3
    assert placement_score(grid_of(5, 5, []), "CAT", 2, 1, "down") == 1  # legal, no crossing


def test_zero_when_shorter_than_two():
    empty = grid_of(5, 5, [])
    assert placement_score(empty, "A", 0, 0, "across") == 0
    assert placement_score(empty, "", 0, 0, "down") == 0


@pytest.mark.parametrize(
    ("row", "col", "direction"),
    [(0, 3, "across"), (3, 0, "down"), (-1, 0, "down"), (0, -1, "across"), (5, 0, "across")],
)
def test_zero_off_grid(row, col, direction):
    assert placement_score(grid_of(5, 5, []), "CAT", row, col, direction) == 0


def test_zero_letter_just_before_or_after():
    grid = grid_of(5, 5, [("XY", 0, 0, "down"), ("ZW", 0, 4, "down")])
    assert placement_score(grid, "CA", 0, 1, "across") == 0  # X just before
    assert placement_score(grid, "CA", 0, 2, "across") == 0  # Z just after
    assert placement_score(grid, "CAT", 0, 1, "across") == 0  # both
    grid = grid_of(5, 5, [("XY", 0, 0, "across")])
    assert placement_score(grid, "CA", 1, 0, "down") == 0  # X just before, down
    assert placement_score(grid_of(5, 5, [("XY", 3, 1, "across")]), "CAT", 0, 1, "down") == 0  # X just after


def test_zero_on_a_different_letter():
    grid = grid_of(5, 5, [("TEA", 0, 2, "down")])
    assert placement_score(grid, "PEN", 1, 1, "across") == 2
    assert placement_score(grid, "PAN", 1, 1, "across") == 0


def test_zero_empty_cell_beside_a_letter():
    grid = grid_of(5, 5, [("TEA", 0, 2, "down")])
    assert placement_score(grid, "ON", 3, 1, "across") == 0  # N under A would extend TEA
    assert placement_score(grid, "ON", 4, 1, "across") == 1
    grid = grid_of(5, 5, [("CAT", 2, 0, "across")])
    assert placement_score(grid, "ON", 1, 3, "down") == 0  # N beside T would extend CAT
    assert placement_score(grid, "ON", 3, 3, "down") == 1


def test_zero_overlapping_a_parallel_word():
    grid = grid_of(5, 5, [("CAT", 0, 0, "across")])
    assert placement_score(grid, "CATS", 0, 0, "across") == 0
    grid = grid_of(5, 5, [("TEA", 0, 2, "down")])
    assert placement_score(grid, "TEAS", 0, 2, "down") == 0
    # A crossing cell that is already crossed belongs to a word of each direction: no anchor.
    grid = grid_of(5, 5, [("CAT", 1, 0, "across"), ("BAD", 0, 1, "down")])
    assert placement_score(grid, "OAK", 1, 1, "across") == 0


def test_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        placement_score(grid_of(5, 5, []), "CAT", 0, 0, "diagonal")


# ---------------------------------------------------------------------------------------------------------------
# best_placement


def test_best_placement_none_without_crossing():
    assert best_placement(grid_of(5, 5, []), "CAT") is None
    assert best_placement(grid_of(5, 5, [("CAT", 0, 0, "across")]), "DOG") is None


def test_best_placement_ties_smallest_row():
    grid = grid_of(5, 5, [("CAT", 2, 1, "across")])
    # BAT fits down through the A at (2, 2) from (1, 2), or through the T at (2, 3) from (0, 3): row 0 wins.
    assert best_placement(grid, "BAT") == (0, 3, "down", 2)


def test_best_placement_ties_smallest_col_then_across():
    grid = grid_of(5, 5, [("GX", 0, 2, "down"), ("GY", 2, 0, "across")])
    assert placement_score(grid, "DOG", 0, 0, "across") == placement_score(grid, "DOG", 0, 0, "down") == 2
    assert best_placement(grid, "DOG") == (0, 0, "across", 2)
    grid = grid_of(5, 5, [("TEA", 0, 2, "down")])
    # EAR can go across through E from (1, 2) or through A from (2, 1): rows tie-break first.
    assert best_placement(grid, "EAR") == (1, 2, "across", 2)
    grid = grid_of(5, 5, [("AB", 0, 0, "down"), ("AC", 0, 3, "down")])
    assert placement_score(grid, "AX", 0, 3, "across") == 2
    assert best_placement(grid, "AX") == (0, 0, "across", 2)  # same row: smallest column


def test_best_placement_highest_score_beats_position():
    grid = grid_of(4, 7, [("CY", 0, 6, "down"), ("AB", 1, 0, "down"), ("CD", 1, 2, "down")])
    assert placement_score(grid, "AXC", 0, 4, "across") == 2
    assert best_placement(grid, "AXC") == (1, 0, "across", 3)


def test_indexed_layout_matches_best_placement_on_every_word():
    """The indexed engine's best spot equals the literal scan's, for every word, on grids along layouts."""
    pool = sorted({w for w, _ in WORDS if len(w) <= 5})
    for size, seed in [(7, 1), (6, 2), (7, 3)]:
        rng = random.Random(seed)
        layout = _IndexedLayout(size, size, max_len=5)
        layout.place("CAT", "", rng.randrange(size), rng.randrange(size - 2), "across")
        for _ in range(12):
            grid = [list(r) for r in layout.grid]
            spots = {}
            for word in pool:
                found = best_placement(grid, word)
                assert layout.best(word) == found, (word, layout.grid_rows())
                if found:
                    spots[word] = found
            if not spots:
                break
            word = rng.choice(sorted(spots))
            layout.place(word, "", *spots[word][:3])


# ---------------------------------------------------------------------------------------------------------------
# generate_puzzles


def check_structure(puzzle: Puzzle, max_len: int) -> None:
    """Every maximal run of ≥ 2 letters is exactly one word, letters connected, standard numbering."""
    grid, rows, cols = puzzle.grid, puzzle.rows, puzzle.cols
    assert len(grid) == rows and all(len(r) == cols for r in grid)
    assert puzzle.words == number_words(puzzle.words)
    assert len({w.answer for w in puzzle.words}) == len(puzzle.words)  # one use per word
    assert all(2 <= len(w.answer) <= max_len for w in puzzle.words)
    assert Puzzle.from_words(puzzle.words, rows, cols).grid == grid

    def letter(r, c):
        return 0 <= r < rows and 0 <= c < cols and grid[r][c] != BLOCK

    runs = set()
    starts = []
    for r in range(rows):
        for c in range(cols):
            if not letter(r, c):
                continue
            starts_run = False
            for direction, (dr, dc) in (("across", (0, 1)), ("down", (1, 0))):
                if letter(r - dr, c - dc) or not letter(r + dr, c + dc):
                    continue
                k = 0
                while letter(r + dr * k, c + dc * k):
                    k += 1
                text = "".join(grid[r + dr * i][c + dc * i] for i in range(k))
                runs.add((text, r, c, direction))
                starts_run = True
            if starts_run:
                starts.append((r, c))
    assert runs == {(w.answer, w.row, w.col, w.direction) for w in puzzle.words}
    numbers = {cell: i for i, cell in enumerate(starts, start=1)}
    assert all(w.number == numbers[(w.row, w.col)] for w in puzzle.words)
    # Connected: flood fill from one letter reaches them all.
    cells = set(puzzle.letter_cells())
    todo, seen = [next(iter(cells))], set()
    while todo:
        r, c = todo.pop()
        if (r, c) in seen:
            continue
        seen.add((r, c))
        todo += [n for n in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)) if n in cells]
    assert seen == cells


SMALL = GenerationConfig(rows=6, cols=6, restarts=6)


def test_generation_structure_ids_and_meta():
    puzzles = generate_puzzles(WORDS, 4, SMALL)
    assert [p.id for p in puzzles] == ["6x6-0001", "6x6-0002", "6x6-0003", "6x6-0004"]
    assert len({tuple(p.grid) for p in puzzles}) == 4
    for p in puzzles:
        assert p.meta == {"grid_size": "6x6", "seed": 1234}
        assert len(p.words) >= default_min_words(6, 6) == 9
        check_structure(p, max_len=4)
        assert {(w.answer, w.clue) for w in p.words} <= set(WORDS)


def test_determinism_and_input_order_independence():
    first = [p.to_dict() for p in generate_puzzles(WORDS, 3, SMALL)]
    assert [p.to_dict() for p in generate_puzzles(WORDS, 3, SMALL)] == first
    shuffled = [(w.lower(), c) for w, c in WORDS] + WORDS[:50]  # other order, case, duplicates
    random.Random(5).shuffle(shuffled)
    assert [p.to_dict() for p in generate_puzzles(shuffled, 3, SMALL)] == first
    other_seed = GenerationConfig(rows=6, cols=6, restarts=6, seed=99)
    assert [p.to_dict() for p in generate_puzzles(WORDS, 3, other_seed)] != first


@pytest.mark.parametrize(
    ("rows", "cols", "seed", "min_words", "pool"),
    [(5, 5, 1, 6, 150), (5, 5, 2, None, 250), (6, 5, 3, 7, 200), (6, 6, 4, 8, 200), (7, 7, 5, 10, 150)],
)
def test_engines_give_identical_puzzles(rows, cols, seed, min_words, pool):
    usable = [pair for pair in WORDS if len(pair[0]) <= min(rows, cols) - 2]
    entries = random.Random(seed).sample(usable, min(pool, len(usable)))
    kwargs = dict(rows=rows, cols=cols, seed=seed, min_words=min_words, restarts=3, max_failures=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        indexed = generate_puzzles(entries, 3, GenerationConfig(engine="indexed", **kwargs))
        reference = generate_puzzles(entries, 3, GenerationConfig(engine="reference", **kwargs))
    assert indexed
    assert [p.to_dict() for p in indexed] == [p.to_dict() for p in reference]
    assert [str(w.message) for w in caught[: len(caught) // 2]] == [
        str(w.message) for w in caught[len(caught) // 2 :]
    ]
    for p in indexed:
        check_structure(p, max_len=min(rows, cols) - 2)


def test_no_pair_reuse_without_replacement_and_exclude():
    config = GenerationConfig(rows=6, cols=6, restarts=6, refresh_after=1000, max_failures=1000)
    excluded = WORDS[::3]
    puzzles = generate_puzzles(WORDS, 5, config, exclude=excluded)
    pairs = [(w.answer, w.clue) for p in puzzles for w in p.words]
    assert len(pairs) == len(set(pairs))
    assert not set(pairs) & set(excluded)


def test_with_replacement_pairs_may_repeat_and_small_pool_is_restored():
    entries = WORDS[:40]
    config = GenerationConfig(rows=5, cols=5, min_words=5, restarts=4, max_failures=100)
    for replacement in (True, False):
        puzzles = generate_puzzles(
            entries, 6, GenerationConfig(**{**vars(config), "replacement": replacement})
        )
        assert len(puzzles) == 6  # without replacement the pool is refilled when it runs low
        pairs = [(w.answer, w.clue) for p in puzzles for w in p.words]
        assert len(pairs) > len(set(pairs))


def test_first_words_differ_until_exhausted():
    pool = sorted({("CAT", "a"), ("TEA", "b"), ("TEA", "c"), ("ACE", "d")}, key=lambda p: (-len(p[0]), p))
    gen = _Generator(pool, GenerationConfig(rows=5, cols=5))
    firsts = [gen.layout().words[0][0] for _ in range(6)]
    assert sorted(firsts[:3]) == ["ACE", "CAT", "TEA"]
    assert sorted(firsts[3:]) == ["ACE", "CAT", "TEA"]


def test_n_zero_and_value_errors():
    assert generate_puzzles(WORDS, 0) == []
    with pytest.raises(ValueError):
        generate_puzzles(WORDS, -1)
    for bad in [
        dict(rows=2),
        dict(cols=2),
        dict(min_words=0),
        dict(restarts=0),
        dict(passes=0),
        dict(engine="fast"),
        dict(max_word_len=8),
    ]:
        with pytest.raises(ValueError) as err:
            generate_puzzles(WORDS, 1, GenerationConfig(**bad))
        assert not isinstance(err.value, GenerationError), bad
    with pytest.raises(ValueError, match="indexed, reference"):
        generate_puzzles(WORDS, 1, GenerationConfig(engine="fast"))


def test_too_few_words():
    with pytest.raises(GenerationError, match="min_words = 11"):
        generate_puzzles([("CAT", "pet"), ("TEA", "drink"), ("TEA", "other clue")], 1)
    # Long words do not count, nor do excluded pairs.
    entries = [(f"{w}{w}", "long") for w, _ in WORDS[:30]] + WORDS[:12]
    with pytest.raises(GenerationError):
        generate_puzzles(entries, 1, GenerationConfig(rows=5, cols=5, min_words=12), exclude=WORDS[:1])
    with pytest.raises(GenerationError):
        generate_puzzles(WORDS, 1, GenerationConfig(rows=3, cols=3))  # max_word_len 1: nothing usable


def test_early_stop_warns_and_returns_shorter_list():
    # Words without a shared letter never cross: every attempt fails.
    disjoint = [("AB", "x"), ("CD", "y"), ("EF", "z")]
    with pytest.warns(UserWarning, match="0 of 2"):
        assert (
            generate_puzzles(disjoint, 2, GenerationConfig(rows=5, cols=5, min_words=2, max_failures=3)) == []
        )
    # Two words on a 3x3 grid make few distinct grids: duplicates stop the run.
    config = GenerationConfig(
        rows=3, cols=3, min_words=2, max_word_len=3, replacement=True, restarts=2, max_duplicates=4
    )
    with pytest.warns(UserWarning, match="duplicate"):
        puzzles = generate_puzzles([("CAT", "pet"), ("TEA", "drink")], 500, config)
    assert 0 < len(puzzles) < 500
    assert len({tuple(p.grid) for p in puzzles}) == len(puzzles)


@pytest.mark.skipif(not BUNDLED.exists(), reason="bundled word list not built")
def test_bundled_list_default_7x7():
    entries = [
        tuple(line.split(None, 1)) for line in BUNDLED.read_text(encoding="utf-8").splitlines() if line
    ]
    puzzles = generate_puzzles(entries, 3)
    assert [p.id for p in puzzles] == ["7x7-0001", "7x7-0002", "7x7-0003"]
    for p in puzzles:
        assert len(p.words) >= 11
        check_structure(p, max_len=5)
    pairs = [(w.answer, w.clue) for p in puzzles for w in p.words]
    assert len(pairs) == len(set(pairs))


@pytest.mark.skipif(not BUNDLED.exists(), reason="bundled word list not built")
def test_engines_identical_on_bundled_sample():
    entries = [
        tuple(line.split(None, 1)) for line in BUNDLED.read_text(encoding="utf-8").splitlines() if line
    ]
    sample = random.Random(0).sample([e for e in entries if len(e[0]) <= 5], 700)
    kwargs = dict(min_words=9, restarts=2, max_failures=3, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        indexed = generate_puzzles(sample, 2, GenerationConfig(**kwargs))
        reference = generate_puzzles(sample, 2, GenerationConfig(engine="reference", **kwargs))
    assert indexed and [p.to_dict() for p in indexed] == [p.to_dict() for p in reference]
