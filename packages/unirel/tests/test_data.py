"""unirel.data (spec §2.2, §5, §8): loading, the generator, queries, splits, anonymisation, records."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import statistics
import sys
import types
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import rlcore.data
from unirel.data import (
    UMLS_DIR,
    DataError,
    Query,
    anonymize_kg,
    build_records,
    load_kg,
    load_triples,
    question_text,
    read_records,
    rename_query,
    sample_queries,
    split_queries,
    synthetic_kg,
    write_records,
)
from unirel.kg import KnowledgeGraph

UMLS_HASHES = {
    "train": "873ef4925516b83e7f6f8cc02b4be51d848828710a7f65a956f0ac4a9e452f35",
    "valid": "025c98f8a4891e2a6582ec5b40ee0d904031edad9c52554522f4b7904820c98e",
    "test": "a7eb529a3d2810fcc96341ccc97c625a5e202f8389673aa6bd317eeebbb79014",
}


@pytest.fixture(scope="module")
def umls() -> KnowledgeGraph:
    return load_kg("umls")


@pytest.fixture(scope="module")
def synth() -> KnowledgeGraph:
    return synthetic_kg(300, 1200, 8, seed=1)


def _undirected(kg: KnowledgeGraph) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(kg.entities)
    g.add_edges_from((h, t) for h, _, t in kg.triples)
    return g


# -- DataError --


def test_data_error_is_rlcore() -> None:
    assert DataError is rlcore.data.DataError
    assert issubclass(DataError, ValueError)


# -- load_triples --


def test_load_tsv_and_txt(tmp_path: Path) -> None:
    tsv = tmp_path / "kg.tsv"
    tsv.write_text("a\tr\tb\n\n  \nb \t s\t c  d\r\n", encoding="utf-8")
    assert load_triples(tsv) == [("a", "r", "b"), ("b", "s", "c d")]
    txt = tmp_path / "kg.txt"
    txt.write_text("Head\tRelation\tTail\na\tr\tb\n", encoding="utf-8")
    assert load_triples(txt) == [("a", "r", "b")]
    spo = tmp_path / "spo.txt"
    spo.write_text("\nsubject\tpredicate\tobject\nx\ty\tz\n", encoding="utf-8")
    assert load_triples(spo) == [("x", "y", "z")]


def test_header_only_on_first_row(tmp_path: Path) -> None:
    path = tmp_path / "kg.tsv"
    path.write_text("a\tr\tb\nhead\trelation\ttail\n", encoding="utf-8")
    assert load_triples(path) == [("a", "r", "b"), ("head", "relation", "tail")]


def test_load_csv_quoted(tmp_path: Path) -> None:
    path = tmp_path / "kg.csv"
    path.write_text('head,relation,tail\n"Smith, John",born in,"Paris, France"\n\nx,y,z\n', encoding="utf-8")
    assert load_triples(path) == [("Smith, John", "born in", "Paris, France"), ("x", "y", "z")]


def test_load_triples_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tr\tb\na\tr\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_triples(bad)
    assert str(info.value) == f"{bad}:2: expected 3 fields (head, relation, tail), got 2"

    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("a,r,b\n\na,r,b,c\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=re.escape(f"{bad_csv}:3: expected 3 fields (head, relation, tail), got 4")
    ):
        load_triples(bad_csv)

    missing = tmp_path / "missing.tsv"
    with pytest.raises(DataError) as info:
        load_triples(missing)
    assert str(info.value) == f"triples file not found: {missing}"
    assert isinstance(info.value, FileNotFoundError)

    invalid = tmp_path / "invalid.txt"
    invalid.write_text("a\tr\tb\nx|y\tr\tb\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{invalid}:2: invalid name")):
        load_triples(invalid)
    invalid.write_text("a\tr\tEND\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{invalid}:1: invalid name")):
        load_triples(invalid)

    other = tmp_path / "kg.json"
    other.write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match="suffix"):
        load_triples(other)

    empty = tmp_path / "empty.tsv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load_triples(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("head,relation,tail\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        load_triples(header_only)


# -- load_kg --


def test_load_kg_file_and_directory(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("a\tr\tb\nb\tr\tc\n", encoding="utf-8")
    (tmp_path / "valid.tsv").write_text("c\ts\td\na\tr\tb\n", encoding="utf-8")
    (tmp_path / "test.csv").write_text("head,relation,tail\nd,t,a\n", encoding="utf-8")
    (tmp_path / "other.txt").write_text("x\ty\tz\n", encoding="utf-8")
    kg = load_kg(tmp_path)
    assert kg.triples == [("a", "r", "b"), ("b", "r", "c"), ("c", "s", "d"), ("d", "t", "a")]
    assert kg.name == tmp_path.name
    one = load_kg(str(tmp_path / "train.txt"))
    assert one.triples == [("a", "r", "b"), ("b", "r", "c")] and one.name == "train"

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="train/valid/test"):
        load_kg(tmp_path / "empty")
    missing = tmp_path / "nope.tsv"
    with pytest.raises(DataError, match=re.escape(f"triples file not found: {missing}")):
        load_kg(str(missing))


def test_load_kg_unknown_source() -> None:
    with pytest.raises(DataError) as info:
        load_kg("freebase-please")
    message = str(info.value)
    for form in ("umls", "synthetic:E:T:R[:SEED]", "hf:<id>[:<config>]", "directory"):
        assert form in message


def test_load_kg_synthetic() -> None:
    kg = load_kg("synthetic")
    assert (kg.num_entities, kg.num_triples, kg.num_relations) == (2000, 10000, 24)
    assert kg.triples == synthetic_kg(2000, 10000, 24, seed=0).triples
    small = load_kg("synthetic:50:200:4:7")
    assert small.triples == synthetic_kg(50, 200, 4, seed=7).triples
    assert load_kg("synthetic:50:200:4").triples == synthetic_kg(50, 200, 4).triples
    for bad in ("synthetic:50:200", "synthetic:a:b:c", "synthetic:1:200:4"):
        with pytest.raises(DataError):
            load_kg(bad)


def test_load_kg_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake(source, **kwargs):
        calls.append(source)
        if source == "hf:org/text-kg":
            return [{"text": "/m/01\t/rel/a\t/m/02"}, {"text": "/m/02\t/rel/b\t/m/03\n"}]
        if source == "hf:org/hrt:cfg":
            return [
                {"head": "a", "relation": "r", "tail": "b"},
                {"subject": "x", "predicate": "p", "object": "y"},
            ]
        return [{"foo": 1}]

    monkeypatch.setattr(rlcore.data, "load_records", fake)
    kg = load_kg("hf:org/text-kg")
    assert kg.triples == [("/m/01", "/rel/a", "/m/02"), ("/m/02", "/rel/b", "/m/03")]
    assert load_kg("hf:org/hrt:cfg").triples == [("a", "r", "b"), ("x", "p", "y")]
    assert calls == ["hf:org/text-kg", "hf:org/hrt:cfg"]
    with pytest.raises(DataError, match="row 1"):
        load_kg("hf:org/bad")


# -- synthetic_kg --


@pytest.mark.parametrize(
    ("e", "t", "r", "seed"), [(2, 1, 1, 0), (3, 6, 2, 1), (50, 200, 4, 2), (20, 60, 40, 3)]
)
def test_synthetic_invariants(e: int, t: int, r: int, seed: int) -> None:
    kg = synthetic_kg(e, t, r, seed=seed)
    assert kg.num_triples == t and len(set(kg.triples)) == t
    assert kg.num_entities == e and int(kg.degrees.min()) >= 1
    assert kg.num_relations == r and int(kg.relation_counts.min()) >= 1
    assert set(kg.entities) == {f"e{i}" for i in range(e)}
    assert set(kg.relations) == {f"r{j}" for j in range(r)}
    assert all(h != tl for h, _, tl in kg.triples)
    assert nx.is_connected(_undirected(kg))
    assert kg.triples == synthetic_kg(e, t, r, seed=seed).triples


def test_synthetic_heavy_tail_and_seed() -> None:
    kg = synthetic_kg(1000, 5000, 12)
    assert kg.degrees.max() > 10 * np.median(kg.degrees)
    assert kg.triples != synthetic_kg(1000, 5000, 12, seed=1).triples
    # the relation skew favours low relation ids
    assert kg.relation_count("r0") > kg.relation_count("r11")


def test_synthetic_errors() -> None:
    for args, kwargs in [
        ((1, 5, 1), {}),
        ((10, 20, 0), {}),
        ((10, 8, 1), {}),
        ((10, 9, 12), {}),
        ((4, 7, 1), {}),
        ((10, 20, 2), {"exponent": 2.0}),
    ]:
        with pytest.raises(ValueError):
            synthetic_kg(*args, **kwargs)
    synthetic_kg(4, 6, 1)  # the bound E*(E-1)*R/2 itself is allowed


# -- questions and queries --


def test_question_text() -> None:
    assert question_text(["A", "B"]) == "How are A and B related?"
    assert question_text(("A", "B", "C")) == "How are A, B, and C related?"
    assert question_text(["a", "b", "c", "d"]) == "How are a, b, c, and d related?"
    for bad in ([], ["A"]):
        with pytest.raises(ValueError):
            question_text(bad)


def _check_queries(
    kg: KnowledgeGraph, queries: list[Query], num_seeds: int, max_arm: int, min_distance: int
) -> None:
    g = _undirected(kg)
    kg_triples = set(kg.triples)
    seen = set()
    for i, q in enumerate(queries):
        assert q.id == f"{kg.name}-{num_seeds}-{i:05d}"
        assert len(q.seeds) == num_seeds == len(set(q.seeds))
        assert frozenset(q.seeds) not in seen
        seen.add(frozenset(q.seeds))
        assert q.question == question_text(q.seeds)
        assert q.center in kg and q.center not in q.seeds
        assert set(q.gold) <= kg_triples and len(set(q.gold)) == len(q.gold)
        tree = nx.Graph()
        tree.add_edges_from((h, t) for h, _, t in q.gold)
        assert nx.is_tree(tree) and tree.number_of_edges() == len(q.gold)
        assert set(q.seeds) | {q.center} <= set(tree.nodes)
        assert len(q.gold) <= num_seeds * max_arm
        for a, b in itertools.combinations(q.seeds, 2):
            assert min_distance <= nx.shortest_path_length(g, a, b) <= 2 * max_arm


@pytest.mark.parametrize(
    ("num_seeds", "max_arm", "min_distance"), [(2, 2, 2), (3, 2, 2), (4, 3, 2), (2, 3, 3), (2, 1, 1)]
)
def test_sample_queries_invariants(
    synth: KnowledgeGraph, umls: KnowledgeGraph, num_seeds: int, max_arm: int, min_distance: int
) -> None:
    for kg in (synth, umls):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            queries = sample_queries(
                kg, 15, num_seeds=num_seeds, max_arm=max_arm, min_distance=min_distance, seed=4
            )
        assert queries or (kg is umls and min_distance > 2), kg.name  # UMLS has diameter 2
        _check_queries(kg, queries, num_seeds, max_arm, min_distance)


def test_sample_queries_deterministic(synth: KnowledgeGraph) -> None:
    a = sample_queries(synth, 20, seed=5)
    assert len(a) == 20
    assert a == sample_queries(synth, 20, seed=5)
    assert a != sample_queries(synth, 20, seed=6)
    assert sample_queries(synth, 0) == []


def test_sample_queries_short_warns() -> None:
    path = KnowledgeGraph([("a", "r", "b"), ("b", "r", "c"), ("c", "r", "d")], name="path")
    with pytest.warns(UserWarning, match="only"):
        queries = sample_queries(path, 10, seed=0)
    assert 0 < len(queries) < 10
    _check_queries(path, queries, 2, 2, 2)


def test_sample_queries_errors(synth: KnowledgeGraph) -> None:
    for kwargs in ({"num_seeds": 1}, {"max_arm": 0}, {"n": -1}):
        n = kwargs.pop("n", 5)
        with pytest.raises(ValueError):
            sample_queries(synth, n, **kwargs)


# -- splits --


@pytest.fixture(scope="module")
def queries(synth: KnowledgeGraph) -> list[Query]:
    return sample_queries(synth, 60, num_seeds=3, seed=2)


def test_split_random(queries: list[Query]) -> None:
    train, test = split_queries(queries, test_fraction=0.25, seed=3)
    assert len(test) == round(0.25 * len(queries)) and len(train) + len(test) == len(queries)
    assert [q for q in queries if q in test] == test and [q for q in queries if q in train] == train
    order = list(range(len(queries)))
    random.Random(3).shuffle(order)
    assert {q.id for q in test} == {queries[i].id for i in order[:15]}
    assert split_queries(queries, test_fraction=0.25, seed=3) == (train, test)


@pytest.mark.parametrize("mode", ["unseen_entities", "unseen_relations"])
def test_split_unseen(queries: list[Query], mode: str) -> None:
    train, test = split_queries(queries, mode=mode, test_fraction=0.3, seed=1)
    assert len(train) + len(test) == len(queries) and test and train
    assert [q for q in queries if q in test] == test

    def items(q: Query) -> set[str]:
        return set(q.seeds) if mode == "unseen_entities" else {r for _, r, _ in q.gold}

    pool = sorted(set().union(*(items(q) for q in queries)))
    held = set(random.Random(1).sample(pool, round(0.3 * len(pool))))
    assert all(items(q) & held for q in test)
    assert not any(items(q) & held for q in train)


def test_split_errors(queries: list[Query]) -> None:
    with pytest.raises(ValueError, match="mode"):
        split_queries(queries, mode="nope")
    for f in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            split_queries(queries, test_fraction=f)


# -- anonymisation --


def test_anonymize_full(umls: KnowledgeGraph) -> None:
    anon, mapping = anonymize_kg(umls, seed=0)
    ents, rels = mapping["entities"], mapping["relations"]
    assert set(ents) == set(umls.entities) and set(rels) == set(umls.relations)
    assert all(re.fullmatch(r"E\d{6}", v) for v in ents.values())
    assert all(re.fullmatch(r"R\d{4}", v) for v in rels.values())
    assert sorted(int(v[1:]) for v in ents.values()) == list(range(umls.num_entities))
    assert anon.triples == [(ents[h], rels[r], ents[t]) for h, r, t in umls.triples]
    assert sorted(anon.degrees.tolist()) == sorted(umls.degrees.tolist())
    assert anon.name != umls.name
    # new ids are drawn as rng.sample(range(E), k), assigned in sorted-name order
    rng = random.Random(0)
    chosen = sorted(rng.sample(umls.entities, umls.num_entities))
    ids = rng.sample(range(umls.num_entities), umls.num_entities)
    assert ents == {old: f"E{i:06d}" for old, i in zip(chosen, ids, strict=True)}
    assert anonymize_kg(umls, seed=0)[1] == mapping and anonymize_kg(umls, seed=1)[1] != mapping


def test_anonymize_fractions(umls: KnowledgeGraph) -> None:
    for f in (0.25, 0.5, 0.75):
        anon, mapping = anonymize_kg(umls, entity_fraction=f, relation_fraction=f, seed=2)
        assert len(mapping["entities"]) == round(f * 135)
        assert len(mapping["relations"]) == round(f * 46)
        kept = set(umls.entities) - set(mapping["entities"])
        assert kept <= set(anon.entities)
        assert anon.num_triples == umls.num_triples
    anon, mapping = anonymize_kg(umls, entity_fraction=0.0, relation_fraction=0.0)
    assert mapping == {"entities": {}, "relations": {}} and anon.triples == umls.triples
    for bad in ({"entity_fraction": 1.5}, {"relation_fraction": -0.1}):
        with pytest.raises(ValueError):
            anonymize_kg(umls, **bad)


def test_anonymize_widths() -> None:
    kg = KnowledgeGraph([("a", f"rel{j}", "b") for j in range(10_001)] + [("b", "rel0", "c")])
    _, mapping = anonymize_kg(kg, entity_fraction=1.0, relation_fraction=0.001)
    assert all(len(v) == 7 for v in mapping["entities"].values())
    assert len(mapping["relations"]) == 10 and all(
        re.fullmatch(r"R\d{5}", v) for v in mapping["relations"].values()
    )


def test_anonymize_collision() -> None:
    kg = KnowledgeGraph([("E000000", "r", "E000001"), ("E000001", "r", "x"), ("x", "r", "y")])
    outcomes = []
    for seed in range(40):
        try:
            anon, _ = anonymize_kg(kg, entity_fraction=0.5, relation_fraction=0.0, seed=seed)
        except ValueError as exc:
            assert "collides" in str(exc)
            outcomes.append(False)
        else:
            assert anon.num_entities == kg.num_entities
            outcomes.append(True)
    assert True in outcomes and False in outcomes


def test_rename_query(umls: KnowledgeGraph) -> None:
    anon, mapping = anonymize_kg(umls, entity_fraction=0.5, relation_fraction=0.5, seed=3)
    for q in sample_queries(umls, 10, num_seeds=3, seed=9):
        r = rename_query(q, mapping)
        assert r.id == q.id
        assert r.seeds == tuple(mapping["entities"].get(s, s) for s in q.seeds)
        assert r.question == question_text(r.seeds)
        assert r.center == mapping["entities"].get(q.center, q.center)
        assert set(r.gold) <= set(anon.triples) and len(r.gold) == len(q.gold)
        assert all(s in anon for s in r.seeds)


# -- bundled UMLS --


def test_umls_files() -> None:
    lines = {"train": 5216, "valid": 652, "test": 661}
    for split, digest in UMLS_HASHES.items():
        path = UMLS_DIR / f"{split}.txt"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        assert len(path.read_text(encoding="utf-8").splitlines()) == lines[split]
    readme = (UMLS_DIR.parent / "README.md").read_text(encoding="utf-8")
    for phrase in (
        "Semantic Network",
        "Kok & Domingos",
        "National Library of Medicine",
        "Metathesaurus",
        "PyKEEN",
    ):
        assert phrase in readme
    notice = (UMLS_DIR / "LICENSE-PyKEEN.txt").read_text(encoding="utf-8")
    assert notice.startswith("MIT License") and "2019-2024 PyKEEN Project Team" in notice
    assert notice.strip() in readme


def test_umls_counts(umls: KnowledgeGraph) -> None:
    assert umls.name == "umls"
    assert (umls.num_entities, umls.num_relations, umls.num_triples) == (135, 46, 6529)
    assert all(h != t for h, _, t in umls.triples)
    assert umls.relation_count("affects") == 1022
    assert umls.relation_count("result_of") == 586
    assert umls.relation_count("isa") == 500
    top = max(umls.entities, key=umls.degree)
    assert (top, umls.degree(top)) == ("disease_or_syndrome", 382)
    assert statistics.median(umls.degree(e) for e in umls.entities) == 71


# -- records --

COLUMNS = [
    "id",
    "kg",
    "num_seeds",
    "seeds",
    "question",
    "gold",
    "triples",
    "entities",
    "degrees",
    "relations",
    "relation_counts",
    "num_kg_triples",
    "retrieval",
    "prompt",
]


def _fake_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for unirel.retrieval / unirel.prompts: the retrieved subgraph is the query's gold tree."""
    from dataclasses import dataclass, field

    @dataclass
    class Result:
        seeds: list
        triples: list
        rho: float = 3.9
        rho_steps: int = 0
        m: int | None = None
        bridges: list = field(default_factory=list)
        connected: bool = True
        over_target: bool = False
        sizes: dict = field(default_factory=dict)

    gold: dict[tuple, list] = {}

    def retrieve_subgraph(kg, seeds, config=None, **overrides):
        triples = sorted(gold[tuple(seeds)], reverse=True)  # build_records must sort
        n = len(triples)
        return Result(list(seeds), triples, sizes={"candidate": n, "hub": n, "leaf": n, "compact": n})

    def build_prompt(question, triples, seeds, *, style="paper"):
        return [{"role": "user", "content": f"{style}|{question}|{len(list(triples))}"}]

    retrieval = types.ModuleType("unirel.retrieval")
    retrieval.retrieve_subgraph = retrieve_subgraph  # type: ignore[attr-defined]
    prompts = types.ModuleType("unirel.prompts")
    prompts.build_prompt = build_prompt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "unirel.retrieval", retrieval)
    monkeypatch.setitem(sys.modules, "unirel.prompts", prompts)
    return gold


def test_build_records_columns_fake(
    monkeypatch: pytest.MonkeyPatch, umls: KnowledgeGraph, tmp_path: Path
) -> None:
    gold = _fake_modules(monkeypatch)
    queries = sample_queries(umls, 5, num_seeds=3, seed=1)
    for q in queries:
        gold[q.seeds] = list(q.gold)
    records = build_records(umls, queries, style="criteria")
    assert len(records) == 5
    for q, rec in zip(queries, records, strict=True):
        assert list(rec) == COLUMNS
        assert rec["id"] == q.id and rec["kg"] == "umls" and rec["num_seeds"] == 3
        assert rec["seeds"] == list(q.seeds) and rec["question"] == q.question
        assert rec["gold"] == [list(t) for t in q.gold]
        assert rec["triples"] == sorted(list(t) for t in q.gold)
        ends = {e for h, _, t in q.gold for e in (h, t)}
        assert rec["entities"] == sorted(ends | set(q.seeds))
        assert rec["degrees"] == [umls.degree(e) for e in rec["entities"]]
        assert rec["relations"] == sorted({r for _, r, _ in q.gold})
        assert rec["relation_counts"] == [umls.relation_count(r) for r in rec["relations"]]
        assert rec["num_kg_triples"] == 6529
        assert set(rec["retrieval"]) == {
            "rho",
            "rho_steps",
            "m",
            "bridges",
            "connected",
            "over_target",
            "sizes",
        }
        assert rec["prompt"][0]["content"].startswith("criteria|")
    assert json.loads(json.dumps(records)) == records
    path = write_records(tmp_path / "records.jsonl", records)
    assert read_records(path) == records


def test_build_records_real(umls: KnowledgeGraph, tmp_path: Path) -> None:
    pytest.importorskip("unirel.retrieval")
    from unirel.config import RetrievalConfig
    from unirel.prompts import build_prompt
    from unirel.retrieval import retrieve_subgraph

    queries = sample_queries(umls, 4, seed=3)
    config = RetrievalConfig(target_size=20)
    records = build_records(umls, queries, config)
    for q, rec in zip(queries, records, strict=True):
        assert list(rec) == COLUMNS
        result = retrieve_subgraph(umls, list(q.seeds), config)
        assert rec["triples"] == sorted(list(t) for t in result.triples)
        assert all(umls.has_triple(*t) for t in rec["triples"])
        assert set(rec["seeds"]) <= set(rec["entities"])
        assert rec["retrieval"]["rho"] == pytest.approx(result.rho)
        assert rec["prompt"] == build_prompt(q.question, [tuple(t) for t in rec["triples"]], rec["seeds"])
    assert json.loads(json.dumps(records)) == records
    assert read_records(write_records(tmp_path / "r.jsonl", records)) == records


def test_build_records_reproduce_score_answer(umls: KnowledgeGraph) -> None:
    pytest.importorskip("unirel.retrieval")
    rewards = pytest.importorskip("unirel.rewards")
    from unirel.prompts import format_answer

    for rec in build_records(umls, sample_queries(umls, 4, num_seeds=2, seed=7)):
        if not rec["triples"]:
            continue
        text = format_answer([tuple(t) for t in rec["triples"][:3]])
        allowed = [tuple(t) for t in rec["triples"]]
        with_kg = rewards.score_answer(text, rec["seeds"], allowed, umls)
        with_record = rewards.score_answer(text, rec["seeds"], allowed, rewards.KGStats.from_record(rec))
        assert with_kg.total == pytest.approx(with_record.total)


def test_read_records_missing_column(tmp_path: Path) -> None:
    row = {c: 0 for c in COLUMNS}
    broken = {c: 0 for c in COLUMNS if c != "triples"}
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(row) + "\n\n" + json.dumps(broken) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_records(path)
    assert "triples" in str(info.value) and f"{path}:3" in str(info.value)
    with pytest.raises(DataError, match="not found"):
        read_records(tmp_path / "missing.jsonl")
