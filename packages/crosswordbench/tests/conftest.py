"""Shared fixtures: P is the 5×5 puzzle of spec §8 (CAT across, COW and TEA down)."""

import pytest

from crosswordbench.puzzle import Puzzle


def make_p() -> Puzzle:
    return Puzzle.from_words(
        [
            ("CAT", "Feline pet", 0, 0, "across"),
            ("COW", "Farm animal that moos", 0, 0, "down"),
            ("TEA", "Hot drink", 0, 2, "down"),
        ],
        5,
        5,
        id="P",
    )


@pytest.fixture
def P() -> Puzzle:
    return make_p()
