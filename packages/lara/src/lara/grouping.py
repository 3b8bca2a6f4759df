"""Splitting demonstrations into groups and into the two cross-fitting halves (spec §2, ``lara.grouping``).

LARA (Huang, Huang & Huang, *Divide, Reweight, and Conquer*, arXiv 2410.10074) divides the N demonstrations into
G groups of k and runs the model once per group. The weights of the groups are fitted on the demonstrations
themselves with 2-fold cross-fitting: the demos are cut into halves A and B, A's groups are weighted to predict
B's targets and B's groups to predict A's. A fitted model always uses the groups ``groups_A + groups_B``, at search
time and at inference, so weight index i names the same group everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

__all__ = ["DEFAULT_GROUP_SIZES", "candidate_group_sizes", "cross_fit_groups", "split_into_groups"]

T = TypeVar("T")

DEFAULT_GROUP_SIZES: tuple[int, ...] = (2, 4, 8)
"""The candidate group sizes k tried by default (spec §3)."""


def split_into_groups(items: Sequence[T], group_size: int) -> list[list[T]]:
    """Consecutive chunks of ``group_size`` items, in input order.

    When there is more than one chunk and the last is shorter than ``group_size``, it is merged into the previous
    chunk, so every group holds at least k demos. Empty input gives ``[]``.

    >>> split_into_groups(list(range(10)), 4)
    [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]
    >>> split_into_groups(list(range(9)), 2)
    [[0, 1], [2, 3], [4, 5], [6, 7, 8]]
    >>> split_into_groups(list(range(3)), 4)
    [[0, 1, 2]]

    Raises:
        ValueError: ``group_size < 1``.
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be an integer >= 1, got {group_size!r}")
    items = list(items)
    groups = [items[start : start + group_size] for start in range(0, len(items), group_size)]
    if len(groups) > 1 and len(groups[-1]) < group_size:
        tail = groups.pop()
        groups[-1].extend(tail)
    return groups


def cross_fit_groups(demos: Sequence[T], group_size: int) -> tuple[list[list[T]], list[list[T]]]:
    """The groups of the two cross-fitting halves: ``(split_into_groups(A, k), split_into_groups(B, k))``.

    A = ``demos[:n//2]`` and B = ``demos[n//2:]`` (B gets the extra demo when n is odd). The groups of a fitted
    model are ``groups_A + groups_B``.

    >>> cross_fit_groups(list(range(8)), 2)
    ([[0, 1], [2, 3]], [[4, 5], [6, 7]])
    """
    demos = list(demos)
    half = len(demos) // 2
    return split_into_groups(demos[:half], group_size), split_into_groups(demos[half:], group_size)


def candidate_group_sizes(n_demos: int, sizes: Iterable[int] = DEFAULT_GROUP_SIZES) -> list[int]:
    """The group sizes k in ``sizes`` with ``1 <= k < n_demos // 2``, ascending, without duplicates.

    k must be smaller than a half so that each half holds at least two groups' worth of demos.

    >>> candidate_group_sizes(32), candidate_group_sizes(16), candidate_group_sizes(8), candidate_group_sizes(4)
    ([2, 4, 8], [2, 4], [2], [])
    """
    half = n_demos // 2
    return sorted({int(k) for k in sizes if 1 <= int(k) < half})
