"""The subgraph retriever (spec §2.3, §8): exact numbers on the toy KG T1, csr == networkx on synthetic KGs, bad
arguments and degenerate cases."""

from __future__ import annotations

import math
import random

import networkx as nx
import pytest

from unirel.config import RetrievalConfig
from unirel.data import sample_queries, synthetic_kg
from unirel.kg import KnowledgeGraph, hub_penalty
from unirel.retrieval import (
    RetrievalResult,
    bridge_candidates,
    compact_subgraph,
    khop_candidates,
    prune_hubs,
    relax_hub_threshold,
    retrieve_subgraph,
    seeds_connected,
    strip_leaves,
)

BACKENDS = ("csr", "networkx")

T1 = [
    ("A", "r1", "X"),
    ("X", "r2", "B"),
    ("A", "r3", "H"),
    ("H", "r3", "B"),
    *[("H", "r4", f"L{i}") for i in range(1, 9)],
    ("X", "r5", "D"),
]
AXB = [("A", "r1", "X"), ("X", "r2", "B")]


@pytest.fixture(scope="module")
def t1() -> KnowledgeGraph:
    return KnowledgeGraph(T1, name="t1")


@pytest.fixture(scope="module")
def small_kg() -> KnowledgeGraph:
    return synthetic_kg(300, 1500, 12, seed=0)


@pytest.fixture(scope="module")
def medium_kg() -> KnowledgeGraph:
    return synthetic_kg(2000, 10000, 24, seed=0)


# -- T1: exact numbers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_t1_khop_candidates(t1: KnowledgeGraph, backend: str) -> None:
    assert khop_candidates(t1, ["A", "B"], 1, backend=backend) == sorted(
        [("A", "r1", "X"), ("X", "r2", "B"), ("A", "r3", "H"), ("H", "r3", "B")]
    )
    assert khop_candidates(t1, ["A", "B"], 2, backend=backend) == sorted(T1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_t1_relaxation(t1: KnowledgeGraph, backend: str) -> None:
    for candidate in (t1.triples, khop_candidates(t1, ["A", "B"], 1)):
        pruned, rho, steps = relax_hub_threshold(t1, candidate, ["A", "B"], 1.0, 0.5, backend=backend)
        assert rho == 1.5 and steps == 1
        assert strip_leaves(pruned, ["A", "B"], backend=backend) == AXB
    assert prune_hubs(t1, t1.triples, ["A", "B"], 1.0, backend=backend) == []
    assert not seeds_connected(prune_hubs(t1, t1.triples, ["A", "B"], 1.0), ["A", "B"], backend=backend)
    assert seeds_connected(AXB, ["A", "B"], backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_t1_retrieve(t1: KnowledgeGraph, backend: str) -> None:
    result = retrieve_subgraph(t1, ["A", "B"], target_size=2, backend=backend)
    assert result.sizes == {"candidate": 13, "hub": 13, "leaf": 4, "compact": 2}
    assert result.bridges == ["X", "H"]
    assert result.m == 1 and result.bridges[: result.m] == ["X"]
    assert result.triples == AXB
    assert result.rho == pytest.approx(math.log(51)) and result.rho_steps == 0
    assert result.connected and not result.over_target
    assert result.seeds == ("A", "B")
    assert result.entities == ["A", "B", "X"]
    graph = result.graph
    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.has_edge("A", "X", key="r1") and graph.number_of_edges() == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_t1_stages(t1: KnowledgeGraph, backend: str) -> None:
    leaf = [("A", "r1", "X"), ("A", "r3", "H"), ("H", "r3", "B"), ("X", "r2", "B")]
    assert strip_leaves(t1.triples, ["A", "B"], backend=backend) == leaf
    assert bridge_candidates(t1, leaf, ["A", "B"], 2, backend=backend) == ["X", "H"]
    assert compact_subgraph(t1, leaf, ["A", "B"], 2, 1, backend=backend) == (AXB, ["X"])
    assert compact_subgraph(t1, leaf, ["A", "B"], 2, 2, backend=backend) == (leaf, ["X", "H"])
    # seeds disconnected: the input comes back (sorted) with no bridges
    assert bridge_candidates(t1, [("A", "r1", "X")], ["A", "B"], 2, backend=backend) == []
    assert compact_subgraph(t1, [("A", "r1", "X")], ["A", "B"], 2, 1, backend=backend) == (
        [("A", "r1", "X")],
        [],
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_t1_no_compaction_when_it_fits(t1: KnowledgeGraph, backend: str) -> None:
    result = retrieve_subgraph(t1, ["A", "B"], backend=backend)
    assert result.m is None and result.bridges == []
    assert result.sizes == {"candidate": 13, "hub": 13, "leaf": 4, "compact": 4}


@pytest.mark.parametrize("backend", BACKENDS)
def test_seeds_are_never_pruned(backend: str) -> None:
    triples = [("A", "r1", "X"), ("X", "r2", "B")] + [("A", "r9", f"N{i}") for i in range(99)]
    kg = KnowledgeGraph(triples)
    assert kg.degree("A") == 100
    assert prune_hubs(kg, kg.triples, ["A", "B"], 0.0, backend=backend) == []
    assert prune_hubs(kg, kg.triples, ["A", "B"], 1.5, backend=backend) == sorted(kg.triples)  # A: ln 101
    assert prune_hubs(kg, kg.triples, ["A", "B"], 1.0, backend=backend) == sorted(kg.triples[2:])  # X: ln 3
    assert prune_hubs(kg, AXB, ["A", "X"], 0.0, backend=backend) == [AXB[0]]
    result = retrieve_subgraph(kg, ["A", "B"], rho0=0.5, rho_step=0.5, backend=backend)
    assert result.triples == AXB and result.rho == 1.5 and result.rho_steps == 2  # X: ln 3 = 1.0986
    assert "A" in result.entities


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_normalisation_and_dedup(t1: KnowledgeGraph, backend: str) -> None:
    result = retrieve_subgraph(t1, ["  A ", "B", "A"], target_size=2, backend=backend)
    assert result.seeds == ("A", "B")
    assert khop_candidates(t1, ["A\t", " B"], 1, backend=backend) == khop_candidates(t1, ["A", "B"], 1)


# -- degenerate cases ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_unconnected_seeds(backend: str) -> None:
    kg = KnowledgeGraph(
        [("A", "r", "X"), ("X", "r", "Y"), ("Y", "r", "A"), ("B", "r", "Z"), ("Z", "r", "W"), ("W", "r", "B")]
    )
    result = retrieve_subgraph(kg, ["A", "B"], target_size=1, backend=backend)
    assert not result.connected and result.m is None and result.bridges == []
    assert result.over_target and result.sizes["leaf"] == result.sizes["compact"] == 6
    # ρ ran to the top of the schedule: the first ρ_i ≥ ln 3
    assert result.rho >= hub_penalty(2)
    assert result.entities == ["A", "B", "W", "X", "Y", "Z"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_seeds_out_of_range(backend: str) -> None:
    chain = [(f"c{i}", "r", f"c{i + 1}") for i in range(8)]
    kg = KnowledgeGraph(chain)
    result = retrieve_subgraph(kg, ["c0", "c8"], hops=1, backend=backend)
    assert not result.connected and result.triples == [] and result.sizes["candidate"] == 2
    assert result.graph.number_of_nodes() == 2  # seeds always present
    result = retrieve_subgraph(kg, ["c0", "c8"], hops=4, target_size=3, backend=backend)
    assert result.connected and result.sizes["candidate"] == 8
    assert result.over_target and result.m == 1 and result.bridges == ["c4"]  # a path cannot shrink


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_to_seed_fallback(backend: str) -> None:
    kg = KnowledgeGraph([("A", "r1", "B"), ("B", "r2", "A"), ("A", "r3", "C"), ("C", "r4", "B")])
    result = retrieve_subgraph(kg, ["A", "B", "C"], target_size=1, backend=backend)
    assert result.connected and result.m == 0 and result.bridges == []
    assert bridge_candidates(kg, kg.triples, ["A", "B", "C"], 2, backend=backend) == []
    star = [("A", "r1", "B"), ("A", "r3", "C"), ("B", "r2", "A")]  # shortest paths from seeds[0] = A
    assert compact_subgraph(kg, kg.triples, ["A", "B", "C"], 2, 3, backend=backend) == (star, [])
    assert result.triples == star and result.sizes["leaf"] == 4
    two = compact_subgraph(kg, kg.triples, ["A", "B"], 2, 0, backend=backend)
    assert two == ([("A", "r1", "B"), ("B", "r2", "A")], [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_relax_only_seed_triples(t1: KnowledgeGraph, backend: str) -> None:
    kg = KnowledgeGraph([("A", "r", "B"), ("B", "r", "C")])
    assert relax_hub_threshold(kg, [("A", "r", "B")], ["A", "B"], 0.0, 1.0, backend=backend) == (
        [("A", "r", "B")],
        0.0,
        0,
    )
    assert relax_hub_threshold(kg, [], ["A", "B"], 0.25, 1.0, backend=backend) == ([], 0.25, 0)


# -- errors -------------------------------------------------------------------------------------------------------


def test_errors(t1: KnowledgeGraph) -> None:
    with pytest.raises(ValueError, match="unknown seed entity: Q"):
        retrieve_subgraph(t1, ["A", "Q"])
    with pytest.raises(ValueError, match="unknown seed entity: Q"):
        khop_candidates(t1, ["A", "Q"], 1)
    with pytest.raises(ValueError, match="2 distinct seed"):
        retrieve_subgraph(t1, ["A", " A"])
    with pytest.raises(ValueError, match="2 distinct seed"):
        strip_leaves(T1, ["A"])
    with pytest.raises(ValueError, match="2 distinct seed"):
        seeds_connected(T1, ["B", "B"])
    for bad in (
        {"hops": 0},
        {"rho_step": 0.0},
        {"rho_step": -1.0},
        {"target_size": 0},
        {"bridges": 0},
        {"backend": "igraph"},
    ):
        with pytest.raises(ValueError):
            retrieve_subgraph(t1, ["A", "B"], **bad)
    with pytest.raises(ValueError, match="unknown retrieval setting"):
        retrieve_subgraph(t1, ["A", "B"], depth=2)
    config = RetrievalConfig()
    config.hops = 0  # mutated after validation
    with pytest.raises(ValueError, match="hops"):
        retrieve_subgraph(t1, ["A", "B"], config)
    with pytest.raises(ValueError, match="hops"):
        khop_candidates(t1, ["A", "B"], 0)
    with pytest.raises(ValueError, match="step"):
        relax_hub_threshold(t1, T1, ["A", "B"], 1.0, 0.0)
    with pytest.raises(ValueError, match="step"):
        relax_hub_threshold(t1, T1, ["A", "B"], 1.0, -0.5, backend="networkx")
    with pytest.raises(ValueError, match="backend"):
        khop_candidates(t1, ["A", "B"], 1, backend="igraph")
    with pytest.raises(ValueError, match="backend"):
        strip_leaves(T1, ["A", "B"], backend="dense")
    with pytest.raises(ValueError, match="m must be"):
        compact_subgraph(t1, T1, ["A", "B"], 2, -1)


# -- csr == networkx -------------------------------------------------------------------------------------------------

CONFIGS = [
    {},
    {"hops": 1},
    {"hops": 1, "target_size": 3},
    {"target_size": 5, "rho0": 1.0},
    {"target_size": 1, "bridges": 2, "rho0": 2.0, "rho_step": 0.3},
    {"hops": 3, "target_size": 3, "rho0": 0.5},
    {"hops": 3, "target_size": 10, "bridges": 1},
]


def _compare(
    kg: KnowledgeGraph, num_seeds: int, n: int, seed: int
) -> list[tuple[RetrievalResult, RetrievalConfig]]:
    queries = sample_queries(kg, n, num_seeds=num_seeds, seed=seed)
    assert queries
    results = []
    for query in queries:
        for overrides in CONFIGS:
            config = RetrievalConfig(**overrides)
            fast = retrieve_subgraph(kg, query.seeds, config)
            slow = retrieve_subgraph(kg, query.seeds, config, backend="networkx")
            assert fast == slow, (query.seeds, overrides)
            results.append((fast, config))
    return results


@pytest.mark.parametrize("num_seeds", [2, 3, 4])
def test_backends_identical_small(small_kg: KnowledgeGraph, num_seeds: int) -> None:
    results = _compare(small_kg, num_seeds, 4, seed=num_seeds)
    assert any(r.m is not None and r.m >= 1 for r, _ in results)
    assert any(r.rho_steps > 0 for r, _ in results)


@pytest.mark.parametrize("num_seeds", [2, 3, 4])
def test_backends_identical_medium(medium_kg: KnowledgeGraph, num_seeds: int) -> None:
    for r, config in _compare(medium_kg, num_seeds, 3, seed=10 + num_seeds):
        assert r.triples == sorted(set(r.triples))
        assert set(r.seeds) <= set(r.entities)
        assert (
            r.sizes["compact"] == len(r.triples) <= r.sizes["leaf"] <= r.sizes["hub"] <= r.sizes["candidate"]
        )
        assert r.over_target == (len(r.triples) > config.target_size)
        assert r.connected == seeds_connected(r.triples, r.seeds)
        assert r.rho == config.rho0 + r.rho_steps * config.rho_step
        if r.m is not None:
            assert r.connected and r.sizes["leaf"] > config.target_size
            assert r.m == 0 or 1 <= r.m <= len(r.bridges) <= config.bridges


def test_stage_functions_identical(medium_kg: KnowledgeGraph) -> None:
    rng = random.Random(0)
    for query in sample_queries(medium_kg, 4, num_seeds=2, seed=3) + sample_queries(
        medium_kg, 2, num_seeds=3
    ):
        seeds = list(query.seeds)
        for hops in (1, 2):
            cand = {b: khop_candidates(medium_kg, seeds, hops, backend=b) for b in BACKENDS}
            assert cand["csr"] == cand["networkx"]
            triples = cand["csr"]
            for rho in (0.5, 2.0, 3.0, 4.5):
                assert prune_hubs(medium_kg, triples, seeds, rho) == prune_hubs(
                    medium_kg, triples, seeds, rho, backend="networkx"
                )
            relaxed = relax_hub_threshold(medium_kg, triples, seeds, 1.0, 0.25)
            assert relaxed == relax_hub_threshold(medium_kg, triples, seeds, 1.0, 0.25, backend="networkx")
            # random sub-samples exercise disconnected graphs, leaves and absent seeds
            for frac in (1.0, 0.6, 0.3):
                sub = [t for t in triples if rng.random() < frac]
                assert seeds_connected(sub, seeds) == seeds_connected(sub, seeds, backend="networkx")
                assert strip_leaves(sub, seeds) == strip_leaves(sub, seeds, backend="networkx")
                for h in (1, 2):
                    assert bridge_candidates(medium_kg, sub, seeds, h) == bridge_candidates(
                        medium_kg, sub, seeds, h, backend="networkx"
                    )
                    for m in (0, 1, 3):
                        assert compact_subgraph(medium_kg, sub, seeds, h, m) == compact_subgraph(
                            medium_kg, sub, seeds, h, m, backend="networkx"
                        )


def test_induced_candidate_definition(small_kg: KnowledgeGraph) -> None:
    """khop = every triple with both ends within k hops of some seed (checked against plain BFS)."""
    graph = nx.Graph((h, t) for h, _, t in small_kg.triples)
    for query in sample_queries(small_kg, 3, seed=5):
        for hops in (1, 2):
            ball = set()
            for s in query.seeds:
                ball |= set(nx.single_source_shortest_path_length(graph, s, cutoff=hops))
            expected = sorted(t for t in small_kg.triples if t[0] in ball and t[2] in ball)
            assert khop_candidates(small_kg, query.seeds, hops) == expected
