"""unirel.evaluation (spec §2.6, §7, §8): the exact optimum, the BFS baseline and the metrics."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from unirel.config import RewardConfig
from unirel.evaluation import METHODS, OptimalAnswer, evaluate_answers, optimal_answer, shortest_path_answer
from unirel.kg import KnowledgeGraph
from unirel.prompts import format_answer
from unirel.rewards import KGStats, score_answer

T1 = [
    ("A", "r1", "X"),
    ("X", "r2", "B"),
    ("A", "r3", "H"),
    ("H", "r3", "B"),
    *[("H", "r4", f"L{i}") for i in range(1, 9)],
    ("X", "r5", "D"),
]
DEGREES = {"A": 2, "B": 2, "X": 3, "H": 10, "D": 1, **{f"L{i}": 1 for i in range(1, 9)}}
COUNTS = {"r1": 1, "r2": 1, "r3": 2, "r4": 8, "r5": 1}
AXB = "PATH: (A | r1 | X); (X | r2 | B) END"
AHB = "PATH: (A | r3 | H); (H | r3 | B) END"


class MinimalStats:
    def __init__(self, degrees: dict[str, int], counts: dict[str, int], total: int) -> None:
        self._degrees, self._counts, self.num_triples = degrees, counts, total

    def degree(self, entity: str) -> int:
        return self._degrees.get(entity, 0)

    def relation_count(self, relation: str) -> int:
        return self._counts.get(relation, 0)


T1_STATS = MinimalStats(DEGREES, COUNTS, 13)


def t1_record(seeds: list[str] | None = None, triples: list | None = None) -> dict:
    entities = sorted(DEGREES)
    relations = sorted(COUNTS)
    return {
        "seeds": seeds or ["A", "B"],
        "triples": [list(t) for t in (triples if triples is not None else T1)],
        "entities": entities,
        "degrees": [DEGREES[e] for e in entities],
        "relations": relations,
        "relation_counts": [COUNTS[r] for r in relations],
        "num_kg_triples": 13,
    }


# -- optimal_answer -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stats", [T1_STATS, KnowledgeGraph(T1)], ids=["minimal", "kg"])
def test_optimal_t1(stats) -> None:
    best = optimal_answer(["A", "B"], T1, stats)
    assert isinstance(best, OptimalAnswer)
    assert best.reward == pytest.approx(0.900979, abs=1e-6)
    assert best.triples == (("A", "r1", "X"), ("X", "r2", "B"))
    assert best.text == AXB
    best = optimal_answer(["A", "B", "D"], T1, stats)
    assert best is not None and best.reward == pytest.approx(1.900979, abs=1e-6)
    assert set(best.triples) == {("A", "r1", "X"), ("X", "r2", "B"), ("X", "r5", "D")}
    # ⌈n/2⌉ − cost
    assert best.reward == pytest.approx(2 - math.log(4) / 14)


def test_optimal_none_cases() -> None:
    assert optimal_answer(["A", "B"], T1, T1_STATS, RewardConfig(aggregate="mean")) is None
    assert optimal_answer(["A", "Z"], T1, T1_STATS) is None  # Z not listed
    two_parts = [("A", "r1", "X"), ("B", "r2", "Y")]
    assert optimal_answer(["A", "B"], two_parts, T1_STATS) is None
    assert optimal_answer(["A", "B"], [], T1_STATS) is None
    with pytest.raises(ValueError):
        optimal_answer(["A", " A"], T1, T1_STATS)


def test_optimal_prefers_cheap_relation_and_avoids_hub() -> None:
    allowed = [("A", "r4", "B"), ("A", "r3", "B"), ("A", "r1", "X"), ("X", "r2", "B")]
    best = optimal_answer(["A", "B"], allowed, T1_STATS)
    # direct edge with r3 (cost ln2/ln13/12 ≈ 0.0225) beats A–X–B (ln4/14 ≈ 0.099) and r4
    assert best is not None and best.triples == (("A", "r3", "B"),)
    assert best.reward == pytest.approx(1 - math.log(2) / math.log(13) / 12)


def _random_case(rng: random.Random) -> tuple[list[str], list[tuple[str, str, str]], MinimalStats]:
    entities = [f"e{i}" for i in range(rng.randint(3, 8))]
    relations = [f"r{i}" for i in range(rng.randint(1, 4))]
    triples: list[tuple[str, str, str]] = []
    target = rng.randint(1, 11)
    for _ in range(200):
        if len(triples) == target:
            break
        h, t = rng.choice(entities), rng.choice(entities)
        if h == t and rng.random() < 0.9:
            continue
        triple = (h, rng.choice(relations), t)
        if triple not in triples:
            triples.append(triple)
    total = rng.randint(1, 60)
    degrees = {e: rng.choice([0, 1, 2, 5, 30, rng.randint(0, 500)]) for e in entities}
    counts = {r: rng.randint(1, total) for r in relations}
    seeds = rng.sample(entities, rng.randint(2, min(4, len(entities))))
    return seeds, triples, MinimalStats(degrees, counts, total)


def _brute_force(seeds, triples, stats, config) -> float | None:
    best = None
    for size in range(1, len(triples) + 1):
        for subset in itertools.combinations(triples, size):
            b = score_answer(format_answer(subset), seeds, triples, stats, config)
            assert b.valid
            if b.connected and (best is None or b.total > best):
                best = b.total
    return best


CONFIGS = [
    RewardConfig(),
    RewardConfig(x=1.0, y=0.5),
    RewardConfig(rel_sign="literal"),
    RewardConfig(x=0.3, y=3.0, con_mode="largest"),
]


@pytest.mark.parametrize("case_seed", range(50))
def test_optimal_equals_brute_force(case_seed: int) -> None:
    rng = random.Random(1000 + case_seed)
    for _ in range(6):
        seeds, triples, stats = _random_case(rng)
        config = CONFIGS[rng.randrange(len(CONFIGS))]
        expected = _brute_force(seeds, triples, stats, config)
        best = optimal_answer(seeds, triples, stats, config)
        if expected is None:
            assert best is None
            continue
        assert best is not None
        assert best.reward == pytest.approx(expected, abs=1e-9)
        b = score_answer(best.text, seeds, triples, stats, config)
        assert b.valid and b.connected and b.total == pytest.approx(best.reward, abs=1e-12)
        assert best.text == format_answer(best.triples) and list(best.triples) == sorted(best.triples)
        n = len(seeds)
        assert best.reward <= math.ceil(n / 2) + 1e-12


def test_optimal_larger_graph_matches_kg_stats() -> None:
    # a 5-seed instance on a grid, checked against score_answer and the tree's size
    rng = random.Random(7)
    nodes = [f"n{i}_{j}" for i in range(4) for j in range(4)]
    triples = []
    for i in range(4):
        for j in range(4):
            if i < 3:
                triples.append((f"n{i}_{j}", f"r{rng.randint(0, 3)}", f"n{i + 1}_{j}"))
            if j < 3:
                triples.append((f"n{i}_{j}", f"r{rng.randint(0, 3)}", f"n{i}_{j + 1}"))
    kg = KnowledgeGraph(triples)
    seeds = ["n0_0", "n3_3", "n0_3", "n3_0", "n1_1"]
    best = optimal_answer(seeds, triples, kg)
    assert best is not None and set(best.triples) <= set(triples)
    b = score_answer(best.text, seeds, triples, kg)
    assert b.connected and b.total == pytest.approx(best.reward)
    assert len(best.triples) == b.intermediates + len(seeds) - 1  # a tree
    assert len(nodes) == kg.num_entities


# -- shortest_path_answer -------------------------------------------------------------------------------------------


def test_shortest_path_t1() -> None:
    # A's sorted neighbours are H, X, so B is first found through H
    assert shortest_path_answer(["A", "B"], T1) == AHB
    assert (
        shortest_path_answer(["A", "B", "D"], T1)
        == "PATH: (A | r3 | H); (H | r3 | B); (A | r1 | X); (X | r5 | D) END"
    )
    # from B: pairs written as their listed triple, in path order B → H → A
    assert shortest_path_answer(["B", "A"], T1) == "PATH: (H | r3 | B); (A | r3 | H) END"


def test_shortest_path_smallest_triple_and_dedup() -> None:
    allowed = [
        ("S", "z", "a"),
        ("a", "y", "S"),
        ("a", "x", "T"),
        ("b", "r", "S"),
        ("b", "r", "T"),
        ("a", "r", "U"),
    ]
    # pair {S, a}: smallest triple is (S, z, a) since "S" < "a"; T is found first through a (sorted order)
    assert shortest_path_answer(["S", "T"], allowed) == "PATH: (S | z | a); (a | x | T) END"
    # the shared first edge is written once
    assert shortest_path_answer(["S", "T", "U"], allowed) == "PATH: (S | z | a); (a | x | T); (a | r | U) END"


def test_shortest_path_unreachable_and_empty() -> None:
    allowed = [("A", "r1", "X"), ("X", "r2", "B"), ("P", "r", "Q")]
    assert shortest_path_answer(["A", "Q", "B"], allowed) == AXB
    assert shortest_path_answer(["A", "Q"], allowed) == "PATH: END"
    assert shortest_path_answer(["Z", "A"], allowed) == "PATH: END"
    b = score_answer(shortest_path_answer(["A", "Q"], allowed), ["A", "Q"], allowed, T1_STATS)
    assert not b.valid and b.error == "empty path"
    with pytest.raises(ValueError):
        shortest_path_answer(["A"], allowed)


def test_shortest_path_is_valid_and_shortest() -> None:
    rng = random.Random(3)
    for _ in range(50):
        entities = [f"e{i}" for i in range(8)]
        triples = list(
            {(rng.choice(entities), f"r{rng.randint(0, 2)}", rng.choice(entities)) for _ in range(12)}
        )
        triples = [t for t in triples if t[0] != t[2]]
        seeds = rng.sample(entities, 2)
        text = shortest_path_answer(seeds, triples)
        b = score_answer(text, seeds, triples, MinimalStats({}, {f"r{i}": 1 for i in range(3)}, 20))
        if text != "PATH: END":
            assert b.valid and b.connected


# -- evaluate_answers -----------------------------------------------------------------------------------------------


def test_evaluate_answers_t1() -> None:
    records = [t1_record()] * 4
    completions = [AXB, [{"role": "assistant", "content": AHB}], "PATH: (A | r1 | X) END", "garbage"]
    totals = [0.900979, 0.783682, -0.099021, -2.0]
    out = evaluate_answers(records, completions)
    assert set(out) == {
        "n",
        "connectivity",
        "reward",
        "format_accuracy",
        "ent",
        "rel",
        "answer_triples",
        "intermediates",
        "optimal_reward",
        "optimal_gap",
    }
    assert out["n"] == 4
    assert out["connectivity"] == 0.5
    assert out["format_accuracy"] == 0.75
    assert out["reward"] == pytest.approx(sum(totals) / 4, abs=1e-6)
    assert out["ent"] == pytest.approx(-(2 * math.log(4) + math.log(11)) / 3)
    assert out["rel"] == pytest.approx(-2 * math.log(2) / math.log(13) / 3)
    assert out["answer_triples"] == 2.0 and out["intermediates"] == 1.0
    assert out["optimal_reward"] == pytest.approx(0.900979, abs=1e-6)
    assert out["optimal_gap"] == pytest.approx(0.900979 - sum(totals) / 4, abs=1e-6)

    no_opt = evaluate_answers(records, completions, with_optimal=False)
    assert no_opt["optimal_reward"] is None and no_opt["optimal_gap"] is None
    assert no_opt["reward"] == out["reward"]


def test_evaluate_answers_mixed_optimum() -> None:
    # the second record's seeds cannot be connected: no optimum there
    records = [t1_record(), t1_record(["A", "B"], triples=[t for t in T1 if "B" not in (t[0], t[2])])]
    out = evaluate_answers(records, [AXB, "PATH: (A | r1 | X) END"])
    assert out["optimal_reward"] == pytest.approx(0.900979, abs=1e-6)
    assert out["optimal_gap"] == pytest.approx(0.0, abs=1e-12)
    assert out["connectivity"] == 0.5 and out["format_accuracy"] == 1.0
    assert out["answer_triples"] == 2.0
    # no connected answer at all: compactness means are None
    out = evaluate_answers(records[1:], ["nope"], config=RewardConfig(aggregate="mean"))
    assert out["answer_triples"] is None and out["intermediates"] is None
    assert out["ent"] is None and out["rel"] is None
    assert out["optimal_reward"] is None and out["optimal_gap"] is None
    assert out["reward"] == -2.0 and out["connectivity"] == 0.0


def test_evaluate_answers_three_seeds_and_kgstats() -> None:
    record = t1_record(["A", "B", "D"])
    out = evaluate_answers([record], ["PATH: (A | r1 | X); (X | r2 | B); (X | r5 | D) END"])
    assert out["reward"] == pytest.approx(1.900979, abs=1e-6)
    assert out["optimal_gap"] == pytest.approx(0.0, abs=1e-12)
    assert KGStats.from_record(record).degree("H") == 10


def test_evaluate_answers_empty_and_errors() -> None:
    out = evaluate_answers([], [])
    assert out["n"] == 0
    assert out["connectivity"] == 0.0 and out["format_accuracy"] == 0.0
    for key in ("reward", "ent", "rel", "answer_triples", "intermediates", "optimal_reward", "optimal_gap"):
        assert out[key] is None
    with pytest.raises(ValueError):
        evaluate_answers([t1_record()], [])
    with pytest.raises(ValueError):
        evaluate_answers([t1_record()], [AXB, AXB])
    with pytest.raises(ValueError):
        evaluate_answers([{**t1_record(), "seeds": ["A"]}], [AXB])


def test_baselines_through_evaluate() -> None:
    record = t1_record()
    sp = shortest_path_answer(record["seeds"], record["triples"])
    best = optimal_answer(record["seeds"], record["triples"], KGStats.from_record(record))
    assert best is not None
    out = evaluate_answers([record, record], [sp, best.text])
    assert out["connectivity"] == 1.0
    assert out["optimal_gap"] == pytest.approx((0.900979 - 0.783682) / 2, abs=1e-6)


def test_methods() -> None:
    assert METHODS == ("vanilla", "vanilla_criteria", "unirel", "shortest_path", "optimal")
