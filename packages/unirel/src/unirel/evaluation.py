"""Answer evaluation and the graph baselines (spec §2.6, §7).

- :func:`optimal_answer` is the paper's "Optimal Reward" reference: the best connected answer from the listed
  triples under R = R_fmt + R_con + ½·(R_ent/x + R_rel/y). For a connected answer R = ⌈n/2⌉ − cost with
  cost = Σ_{e∈I} hub_penalty(deg e)/(2x) + Σ_{(h,r,t)∈A} relation_penalty(n_r, N)/(2y) ≥ 0 (under
  ``aggregate="sum"``), so the optimum is an exact node- and edge-weighted minimum Steiner tree, solved by
  Dreyfus–Wagner (subset DP plus Dijkstra).
- :func:`shortest_path_answer` is the BFS baseline.
- :func:`evaluate_answers` aggregates scored answers into the metrics of §7.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unirel.config import RewardConfig
from unirel.kg import Triple, hub_penalty, normalized_idf, relation_penalty
from unirel.prompts import PATH_CLOSE, PATH_OPEN, format_answer
from unirel.rewards import (
    KGStats,
    RewardBreakdown,
    Stats,
    _seed_list,
    _triple_list,
    score_answer,
    score_record,
)

__all__ = [
    "METHODS",
    "OptimalAnswer",
    "evaluate_answers",
    "optimal_answer",
    "shortest_path_answer",
]

METHODS = ("vanilla", "vanilla_criteria", "unirel", "shortest_path", "optimal")


@dataclass(frozen=True)
class OptimalAnswer:
    """The best connected answer: its reward (= ``score_answer(text).total``), its triples (sorted) and text."""

    reward: float
    triples: tuple[Triple, ...]
    text: str


def _pair_edges(allowed: Iterable[Triple], edge_cost: Any) -> dict[str, dict[str, tuple[float, Triple]]]:
    """Undirected adjacency: for each entity pair its cheapest listed triple (ties: the smallest triple)."""
    adjacency: dict[str, dict[str, tuple[float, Triple]]] = {}
    for triple in allowed:
        head, _, tail = triple
        if head == tail:
            continue  # a self-loop never helps a connected answer
        candidate = (edge_cost(triple), triple)
        for u, v in ((head, tail), (tail, head)):
            best = adjacency.setdefault(u, {}).get(v)
            if best is None or candidate < best:
                adjacency[u][v] = candidate
    return adjacency


def optimal_answer(
    seeds: Iterable[Any],
    allowed: Iterable[Any],
    stats: Stats,
    config: RewardConfig | None = None,
) -> OptimalAnswer | None:
    """The highest-reward **connected** answer using only ``allowed`` triples (spec §2.6).

    Under ``aggregate="sum"`` this is an exact minimum Steiner tree with node cost hub_penalty(deg)/(2x) for
    non-seeds and edge cost the pair's cheapest relation cost / (2y), found by Dreyfus–Wagner:
    dp[S][v] = cheapest tree joining the seeds S and v (node costs included), built by merging two subtrees at v
    and by Dijkstra growth. Its reward is ⌈n/2⌉ − cost, equal to ``score_answer`` of the returned text.
    Returns None under ``aggregate="mean"`` (costs are not additive) or when the seeds cannot be connected. Seeds
    are normalised and de-duplicated; fewer than 2 raise ``ValueError``.
    """
    cfg = config if config is not None else RewardConfig()
    seed_list = _seed_list(seeds)
    allowed_list = _triple_list(allowed)
    if cfg.aggregate != "sum":
        return None
    total_n = stats.num_triples
    rel_cost = relation_penalty if cfg.rel_sign == "fixed" else normalized_idf
    adjacency = _pair_edges(
        allowed_list, lambda t: rel_cost(stats.relation_count(t[1]), total_n) / (2 * cfg.y)
    )
    if any(s not in adjacency for s in seed_list):
        return None
    seed_set = set(seed_list)
    nodes = sorted(adjacency)
    index = {v: i for i, v in enumerate(nodes)}
    node_cost = [0.0 if v in seed_set else hub_penalty(stats.degree(v)) / (2 * cfg.x) for v in nodes]
    neighbors = [
        [(index[u], cost, triple) for u, (cost, triple) in sorted(adjacency[v].items())] for v in nodes
    ]

    k = len(seed_list)
    full = (1 << k) - 1
    inf = math.inf
    dp = [[inf] * len(nodes) for _ in range(full + 1)]
    # back pointers: ("merge", sub) or ("edge", predecessor, triple); None for a base state
    back: list[list[tuple[Any, ...] | None]] = [[None] * len(nodes) for _ in range(full + 1)]
    for i, seed in enumerate(seed_list):
        dp[1 << i][index[seed]] = 0.0

    for subset in range(1, full + 1):
        row = dp[subset]
        if subset & (subset - 1):  # two or more seeds: merge two subtrees at v
            for v in range(len(nodes)):
                sub = (subset - 1) & subset
                while sub:
                    if sub < subset ^ sub:  # each unordered split once
                        value = dp[sub][v] + dp[subset ^ sub][v] - node_cost[v]
                        if value < row[v]:
                            row[v] = value
                            back[subset][v] = ("merge", sub)
                    sub = (sub - 1) & subset
        # Dijkstra: grow the tree along edges, paying each new node's cost
        heap = [(value, v) for v, value in enumerate(row) if value < inf]
        heapq.heapify(heap)
        done = [False] * len(nodes)
        while heap:
            value, v = heapq.heappop(heap)
            if done[v] or value > row[v]:
                continue
            done[v] = True
            for u, cost, triple in neighbors[v]:
                if done[u]:
                    continue
                candidate = value + cost + node_cost[u]
                if candidate < row[u]:
                    row[u] = candidate
                    back[subset][u] = ("edge", v, triple)
                    heapq.heappush(heap, (candidate, u))

    root = index[seed_list[0]]
    if dp[full][root] == inf:
        return None
    chosen: set[Triple] = set()
    stack = [(full, root)]
    while stack:
        subset, v = stack.pop()
        step = back[subset][v]
        if step is None:
            continue
        if step[0] == "merge":
            stack.append((step[1], v))
            stack.append((subset ^ step[1], v))
        else:
            chosen.add(step[2])
            stack.append((subset, step[1]))
    triples = tuple(sorted(chosen))
    text = format_answer(triples)
    reward = score_answer(text, seed_list, allowed_list, stats, cfg).total
    return OptimalAnswer(reward=reward, triples=triples, text=text)


def shortest_path_answer(seeds: Iterable[Any], allowed: Iterable[Any]) -> str:
    """The BFS baseline (spec §2.6): a breadth-first search from seeds[0] (neighbours in sorted order, first-found
    parents) gives the path to each other seed; each entity pair on it is written as its smallest linking triple in
    (h, r, t) order, in path order from seeds[0], de-duplicated across paths. Unreachable seeds are skipped; with no
    triple at all the answer is ``PATH: END`` (which scores invalid). Seeds are normalised and de-duplicated; fewer
    than 2 raise ``ValueError``."""
    seed_list = _seed_list(seeds)
    allowed_list = _triple_list(allowed)
    smallest: dict[frozenset[str], Triple] = {}
    adjacency: dict[str, set[str]] = {}
    for triple in allowed_list:
        head, _, tail = triple
        if head == tail:
            continue
        pair = frozenset((head, tail))
        if pair not in smallest or triple < smallest[pair]:
            smallest[pair] = triple
        adjacency.setdefault(head, set()).add(tail)
        adjacency.setdefault(tail, set()).add(head)

    source = seed_list[0]
    parent: dict[str, str | None] = {source: None}
    frontier = [source]
    while frontier:
        following: list[str] = []
        for v in frontier:
            for u in sorted(adjacency.get(v, ())):
                if u not in parent:
                    parent[u] = v
                    following.append(u)
        frontier = following

    answer: dict[Triple, None] = {}
    for target in seed_list[1:]:
        if target not in parent:
            continue
        path = [target]
        while (previous := parent[path[-1]]) is not None:
            path.append(previous)
        path.reverse()
        for u, v in itertools.pairwise(path):
            answer.setdefault(smallest[frozenset((u, v))], None)
    if not answer:
        return f"{PATH_OPEN} {PATH_CLOSE}"
    return format_answer(answer)


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def evaluate_answers(
    records: Sequence[Mapping[str, Any]],
    completions: Sequence[Any],
    config: RewardConfig | None = None,
    *,
    with_optimal: bool = True,
) -> dict[str, Any]:
    """The metrics of spec §7 for one completion (string or chat messages) per record.

    Keys: ``n``; ``connectivity`` (share of valid answers with κ = 1); ``reward`` (mean total); ``format_accuracy``
    (share valid); ``ent``, ``rel`` (means over valid answers); ``answer_triples``, ``intermediates`` (means of |A|
    and |I| over connected answers); ``optimal_reward`` (mean R*) and ``optimal_gap`` (mean R* − total), both over
    the records where an optimum exists (None with ``with_optimal=False``). Empty input gives n = 0, ratios 0.0 and
    means None. Mismatched lengths, or a record with missing or inconsistent columns, raise ``ValueError``.
    """
    records = list(records)
    completions = list(completions)
    if len(records) != len(completions):
        raise ValueError(f"got {len(records)} records but {len(completions)} completions")
    cfg = config if config is not None else RewardConfig()
    breakdowns: list[RewardBreakdown] = [
        score_record(r, c, cfg) for r, c in zip(records, completions, strict=True)
    ]
    optima: list[float] = []
    gaps: list[float] = []
    if with_optimal:
        for record, breakdown in zip(records, breakdowns, strict=True):
            best = optimal_answer(record["seeds"], record["triples"], KGStats.from_record(record), cfg)
            if best is not None:
                optima.append(best.reward)
                gaps.append(best.reward - breakdown.total)
    n = len(breakdowns)
    valid = [b for b in breakdowns if b.valid]
    connected = [b for b in valid if b.connected]
    return {
        "n": n,
        "connectivity": len(connected) / n if n else 0.0,
        "reward": _mean([b.total for b in breakdowns]),
        "format_accuracy": len(valid) / n if n else 0.0,
        "ent": _mean([b.ent for b in valid]),
        "rel": _mean([b.rel for b in valid]),
        "answer_triples": _mean([float(b.num_triples) for b in connected]),
        "intermediates": _mean([float(b.intermediates) for b in connected]),
        "optimal_reward": _mean(optima),
        "optimal_gap": _mean(gaps),
    }
