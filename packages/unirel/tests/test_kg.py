"""unirel.kg (spec §2.1, §8): names, penalties, KnowledgeGraph and its arrays."""

from __future__ import annotations

import math
from collections import Counter

import networkx as nx
import numpy as np
import pytest

from unirel.data import synthetic_kg
from unirel.kg import (
    KnowledgeGraph,
    check_name,
    hub_penalty,
    is_valid_name,
    normalize_name,
    normalized_idf,
    relation_penalty,
)

T1 = [
    ("A", "r1", "X"),
    ("X", "r2", "B"),
    ("A", "r3", "H"),
    ("H", "r3", "B"),
    *[("H", "r4", f"L{i}") for i in range(1, 9)],
    ("X", "r5", "D"),
]


@pytest.fixture
def t1() -> KnowledgeGraph:
    return KnowledgeGraph(T1, name="t1")


# -- names --


def test_normalize_name() -> None:
    assert normalize_name("  a \t b\n\nc  ") == "a b c"
    assert normalize_name(12) == "12"
    assert normalize_name("x") == "x"


@pytest.mark.parametrize(
    "name",
    ["ENDING", "xEND", "END_", "_END", "1END", "END2", "BEND", "end", "End", "PATH", "path:x", "a (b) c"],
)
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "a|b",
        "a;b",
        "PATH:",
        "xPATH:y",
        "END",
        "a END",
        "END.",
        "(END)",
        ")END",
        "END-x",
        "x-END-y",
        "é END",
    ],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(ValueError):
        check_name(name)
    with pytest.raises(ValueError):
        KnowledgeGraph([("ok", "rel", name)])
    with pytest.raises(ValueError):
        KnowledgeGraph([(name, "rel", "ok")])
    with pytest.raises(ValueError):
        KnowledgeGraph([("a", name, "b")])


def test_triple_needs_three_fields() -> None:
    with pytest.raises(ValueError, match="3 fields"):
        KnowledgeGraph([("a", "r")])
    with pytest.raises(ValueError, match="3 fields"):
        KnowledgeGraph([("a", "r", "b", "c")])
    with pytest.raises(ValueError, match="3 fields"):
        KnowledgeGraph(["abc"])


# -- penalties --


def test_hub_penalty_values() -> None:
    assert hub_penalty(3) == pytest.approx(1.386294, abs=1e-6)
    assert hub_penalty(10) == pytest.approx(2.397895, abs=1e-6)
    assert hub_penalty(0) == 0.0
    with pytest.raises(ValueError):
        hub_penalty(-1)


def test_relation_penalty_and_idf() -> None:
    assert relation_penalty(1, 13) == 0.0
    assert relation_penalty(2, 13) == pytest.approx(math.log(2) / math.log(13))
    assert normalized_idf(2, 13) == pytest.approx(math.log(13 / 2) / math.log(13))
    assert normalized_idf(2, 13) + relation_penalty(2, 13) == pytest.approx(1.0)
    # count == total, including total == 1
    assert normalized_idf(13, 13) == 0.0 and relation_penalty(13, 13) == 1.0
    assert normalized_idf(1, 1) == 0.0 and relation_penalty(1, 1) == 1.0
    for count, total in [(0, 5), (6, 5), (-1, 5), (0, 0)]:
        with pytest.raises(ValueError):
            normalized_idf(count, total)
        with pytest.raises(ValueError):
            relation_penalty(count, total)


# -- T1 --


def test_t1_counts(t1: KnowledgeGraph) -> None:
    assert t1.name == "t1"
    assert t1.num_triples == 13 == len(t1)
    assert t1.num_entities == 13 and t1.num_relations == 5
    assert t1.entities == sorted(t1.entities) and t1.relations == ["r1", "r2", "r3", "r4", "r5"]
    degrees = {"A": 2, "B": 2, "X": 3, "H": 10, "D": 1, **{f"L{i}": 1 for i in range(1, 9)}}
    assert {e: t1.degree(e) for e in t1.entities} == degrees
    assert {r: t1.relation_count(r) for r in t1.relations} == {"r1": 1, "r2": 1, "r3": 2, "r4": 8, "r5": 1}
    assert t1.degree("nope") == 0 and t1.relation_count("nope") == 0
    assert t1.hub_penalty("X") == pytest.approx(1.386294, abs=1e-6)
    assert t1.hub_penalty("H") == pytest.approx(2.397895, abs=1e-6)
    assert t1.relation_penalty("r3") == pytest.approx(math.log(2) / math.log(13))
    assert t1.relation_penalty("r1") == 0.0
    with pytest.raises(ValueError):
        t1.relation_penalty("nope")
    # the arrays agree with the methods
    for e, i in t1.entity_index.items():
        assert t1.degrees[i] == t1.degree(e)
        assert t1.hub_penalties[i] == pytest.approx(t1.hub_penalty(e))
    for r, j in t1.relation_index.items():
        assert t1.relation_counts[j] == t1.relation_count(r)
        assert t1.relation_penalties[j] == pytest.approx(t1.relation_penalty(r))


def test_t1_queries(t1: KnowledgeGraph) -> None:
    assert t1.neighbors("X") == ["A", "B", "D"]
    assert t1.neighbors("A") == ["H", "X"]
    assert t1.neighbors("unknown") == []
    assert t1.has_triple("A", "r1", "X") and not t1.has_triple("X", "r1", "A")
    assert not t1.has_triple("A", "r2", "X") and not t1.has_triple("A", "r1", "Q")
    assert t1.has_triple(" A ", "r1", "X")
    assert "A" in t1 and "L8" in t1 and "Z" not in t1 and "r1" not in t1
    assert t1.triples_between("B", "H") == [("H", "r3", "B")]


def test_duplicates_self_loops_and_normalisation() -> None:
    kg = KnowledgeGraph(
        [
            ("a", "r", "b"),
            (" a ", "r", "b\t"),
            ("a", "r", "a"),
            ("b", "s", "a"),
            ("c  d", "r", "b"),
            ["a", "r", "b"],
        ]
    )
    assert kg.triples == [("a", "r", "b"), ("b", "s", "a"), ("c d", "r", "b")]
    assert kg.degree("a") == 2 and kg.degree("b") == 3
    assert kg.neighbors("a") == ["b"]
    empty = KnowledgeGraph([])
    assert empty.num_triples == 0 and empty.entities == [] and len(empty.indptr) == 1


# -- arrays --


def _check_arrays(kg: KnowledgeGraph) -> None:
    n, e = kg.num_triples, kg.num_entities
    for arr in (kg.heads, kg.rels, kg.tails, kg.indices, kg.edge_ids):
        assert arr.dtype == np.int32
    assert len(kg.heads) == len(kg.rels) == len(kg.tails) == n
    assert len(kg.indices) == len(kg.edge_ids) == 2 * n
    assert len(kg.indptr) == e + 1 and kg.indptr[0] == 0 and kg.indptr[-1] == 2 * n
    for i, (h, r, t) in enumerate(kg.triples):
        assert (kg.entities[kg.heads[i]], kg.relations[kg.rels[i]], kg.entities[kg.tails[i]]) == (h, r, t)
    undirected = nx.MultiGraph()  # no keys: (a, r, b) and (b, r, a) stay two edges
    undirected.add_nodes_from(kg.to_networkx().nodes)
    undirected.add_edges_from((u, v) for u, v in kg.to_networkx().edges())
    for u, name in enumerate(kg.entities):
        lo, hi = kg.indptr[u], kg.indptr[u + 1]
        assert hi - lo == kg.degrees[u] == undirected.degree(name)
        row = kg.indices[lo:hi]
        assert np.all(np.diff(row) >= 0)
        assert Counter(kg.entities[v] for v in row.tolist()) == Counter(
            {v: undirected.number_of_edges(name, v) for v in undirected.neighbors(name)}
        )
        for v, eid in zip(row.tolist(), kg.edge_ids[lo:hi].tolist(), strict=True):
            assert {kg.heads[eid], kg.tails[eid]} == {u, v}
        assert kg.neighbors(name) == sorted(undirected.neighbors(name))
    # every triple appears exactly twice in the CSR
    assert Counter(kg.edge_ids.tolist()) == Counter({i: 2 for i in range(n)})


def test_csr_t1(t1: KnowledgeGraph) -> None:
    _check_arrays(t1)


def test_csr_synthetic() -> None:
    _check_arrays(synthetic_kg(60, 300, 5, seed=3))


# -- networkx --


def test_to_networkx(t1: KnowledgeGraph) -> None:
    g = t1.to_networkx()
    assert isinstance(g, nx.MultiDiGraph)
    assert g is t1.to_networkx()
    assert sorted(g.nodes) == t1.entities
    assert g.number_of_edges() == 13
    assert g.has_edge("A", "X", key="r1") and not g.has_edge("X", "A")
    assert g.edges["H", "B", "r3"]["relation"] == "r3"
    edges = {(u, d["relation"], v) for u, v, k, d in g.edges(keys=True, data=True) if k == d["relation"]}
    assert edges == set(T1)


def test_from_networkx_round_trip(t1: KnowledgeGraph) -> None:
    back = KnowledgeGraph.from_networkx(t1.to_networkx(), name="back")
    assert back.name == "back"
    assert set(back.triples) == set(t1.triples)
    assert back.entities == t1.entities and back.relations == t1.relations
    assert np.array_equal(back.degrees, t1.degrees)

    dg = nx.DiGraph()
    dg.add_edge("a", "b", rel="likes")
    dg.add_edge("b", "c", rel="hates")
    kg = KnowledgeGraph.from_networkx(dg, relation_attr="rel")
    assert set(kg.triples) == {("a", "likes", "b"), ("b", "hates", "c")}
    dg.add_edge("c", "d")
    with pytest.raises(ValueError, match="rel"):
        KnowledgeGraph.from_networkx(dg, relation_attr="rel")

    mg = nx.MultiDiGraph()
    mg.add_edge("a", "b", key="k1")
    mg.add_edge("a", "b", key="k2", relation="other")
    assert set(KnowledgeGraph.from_networkx(mg).triples) == {("a", "k1", "b"), ("a", "other", "b")}
