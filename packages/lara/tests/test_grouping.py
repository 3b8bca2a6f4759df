"""``lara.grouping``: groups of k, the cross-fitting halves A/B and the candidate group sizes (spec §2, §8)."""

from __future__ import annotations

import pytest

from lara.grouping import candidate_group_sizes, cross_fit_groups, split_into_groups


@pytest.mark.parametrize(
    ("n", "k", "expected"),
    [
        (10, 4, [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]),
        (9, 2, [[0, 1], [2, 3], [4, 5], [6, 7, 8]]),
        (3, 4, [[0, 1, 2]]),
        (8, 2, [[0, 1], [2, 3], [4, 5], [6, 7]]),
        (8, 4, [[0, 1, 2, 3], [4, 5, 6, 7]]),
        (5, 1, [[0], [1], [2], [3], [4]]),
        (4, 4, [[0, 1, 2, 3]]),
        (1, 3, [[0]]),
        (7, 3, [[0, 1, 2], [3, 4, 5, 6]]),
    ],
)
def test_split_into_groups(n: int, k: int, expected: list[list[int]]) -> None:
    assert split_into_groups(list(range(n)), k) == expected


def test_split_into_groups_empty_and_order() -> None:
    assert split_into_groups([], 3) == []
    items = [{"input": c, "target": c} for c in "abcde"]
    groups = split_into_groups(items, 2)
    assert [g for group in groups for g in group] == items
    assert groups[-1][-1] is items[-1]
    # a tuple works too and the result holds fresh lists
    assert split_into_groups((1, 2, 3), 2) == [[1, 2, 3]]


@pytest.mark.parametrize("k", [0, -1])
def test_split_into_groups_rejects_small_k(k: int) -> None:
    with pytest.raises(ValueError, match="group_size"):
        split_into_groups([1, 2, 3], k)


def test_cross_fit_groups() -> None:
    assert cross_fit_groups(list(range(8)), 2) == ([[0, 1], [2, 3]], [[4, 5], [6, 7]])
    # B gets the extra demo when n is odd; a short tail joins the previous group
    assert cross_fit_groups(list(range(9)), 2) == ([[0, 1], [2, 3]], [[4, 5], [6, 7, 8]])
    assert cross_fit_groups(list(range(11)), 2) == ([[0, 1], [2, 3, 4]], [[5, 6], [7, 8], [9, 10]])
    assert cross_fit_groups(list(range(32)), 8) == (
        [list(range(0, 8)), list(range(8, 16))],
        [list(range(16, 24)), list(range(24, 32))],
    )
    assert cross_fit_groups([], 2) == ([], [])
    with pytest.raises(ValueError):
        cross_fit_groups(list(range(8)), 0)


@pytest.mark.parametrize(
    ("n", "sizes", "expected"),
    [
        (32, (2, 4, 8), [2, 4, 8]),
        (16, (2, 4, 8), [2, 4]),
        (8, (2, 4, 8), [2]),
        (4, (2, 4, 8), []),
        (0, (2, 4, 8), []),
        (32, (8, 2, 8, 4, 2), [2, 4, 8]),
        (10, (0, 1, 4, 5), [1, 4]),
    ],
)
def test_candidate_group_sizes(n: int, sizes: tuple[int, ...], expected: list[int]) -> None:
    assert candidate_group_sizes(n, sizes) == expected


def test_candidate_group_sizes_default() -> None:
    assert candidate_group_sizes(32) == [2, 4, 8]
    assert candidate_group_sizes(16) == [2, 4]
    assert candidate_group_sizes(8) == [2]
    assert candidate_group_sizes(4) == []
