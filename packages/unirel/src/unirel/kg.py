"""The knowledge graph (spec §2.1): names, penalties and :class:`KnowledgeGraph`.

A triple ``(head, relation, tail)`` keeps its direction as its identity, while hops, degrees, connectivity and
paths treat the graph as undirected. The paper (UniRel-R1, arXiv 2512.17043, §3) scores entities by a hub penalty
ln(1 + degree) and relations by a normalised IDF; both are defined here once and used by retrieval and rewards.

Besides the public Python view (``triples``, sorted ``entities``/``relations``, ``to_networkx()``) the graph is held
as flat int32 arrays for the fast retrieval backend:

- ``heads``, ``rels``, ``tails`` (length ``num_triples``): triple ``i`` is
  ``(entities[heads[i]], relations[rels[i]], entities[tails[i]])``, in the order of ``triples``.
- ``indptr`` (length ``num_entities + 1``), ``indices`` and ``edge_ids`` (length ``2 * num_triples``): the
  undirected CSR adjacency. For entity id ``u``, ``indices[indptr[u]:indptr[u + 1]]`` are the neighbour entity ids
  (one entry per incident triple, so a neighbour linked by several triples repeats) and ``edge_ids`` over the same
  slice are the indices of those triples. Within a row the entries are sorted by (neighbour id, triple index).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "KnowledgeGraph",
    "Triple",
    "check_name",
    "hub_penalty",
    "is_valid_name",
    "name_problem",
    "normalize_name",
    "normalized_idf",
    "relation_penalty",
]

Triple = tuple[str, str, str]
"""(head, relation, tail)."""

_WS = re.compile(r"\s+")
_STANDALONE_END = re.compile(r"(?<![A-Za-z0-9_])END(?![A-Za-z0-9_])")


# -- names --------------------------------------------------------------------------------------------------------


def normalize_name(x: object) -> str:
    """``str(x)`` with every whitespace run collapsed to one space, then stripped (spec §2.1)."""
    return _WS.sub(" ", str(x)).strip()


def name_problem(name: str) -> str | None:
    """Why ``name`` (already normalised) is invalid, or None when it is valid.

    A name is invalid if it is empty, contains ``|``, ``;`` or ``PATH:``, or contains a standalone ``END`` (``END``
    with no ASCII letter, digit or ``_`` directly beside it). Every valid triple can then be written in the answer
    grammar (spec §4) and parsed back unchanged.
    """
    if not name:
        return "empty name"
    if "|" in name:
        return f"name contains '|': {name!r}"
    if ";" in name:
        return f"name contains ';': {name!r}"
    if "PATH:" in name:
        return f"name contains 'PATH:': {name!r}"
    if _STANDALONE_END.search(name):
        return f"name contains a standalone 'END': {name!r}"
    return None


def is_valid_name(name: object) -> bool:
    """Whether ``normalize_name(name)`` is a valid name (see :func:`name_problem`)."""
    return name_problem(normalize_name(name)) is None


def check_name(name: object) -> str:
    """The normalised name; ``ValueError`` saying why if it is invalid."""
    normalized = normalize_name(name)
    problem = name_problem(normalized)
    if problem is not None:
        raise ValueError(f"invalid name: {problem}")
    return normalized


# -- penalties ----------------------------------------------------------------------------------------------------


def hub_penalty(degree: float) -> float:
    """The paper's entity penalty ln(1 + degree); a negative degree raises ``ValueError``."""
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    return math.log1p(degree)


def _check_count(count: float, total: float) -> None:
    if not 1 <= count <= total:
        raise ValueError(f"need 1 <= count <= total, got count={count}, total={total}")


def normalized_idf(count: float, total: float) -> float:
    """ĨDF = ln(total/count) / ln(total); 0 when count == total (which also covers total = 1).

    Needs 1 <= count <= total, else ``ValueError``.
    """
    _check_count(count, total)
    if count == total:
        return 0.0
    return math.log(total / count) / math.log(total)


def relation_penalty(count: float, total: float) -> float:
    """1 − ĨDF = ln(count) / ln(total): a relation seen once costs 0, one on every triple costs 1 (spec §3).

    Needs 1 <= count <= total, else ``ValueError``.
    """
    _check_count(count, total)
    if count == total:
        return 1.0
    return math.log(count) / math.log(total)


# -- the graph ----------------------------------------------------------------------------------------------------


class KnowledgeGraph:
    """A set of distinct directed triples over normalised, valid names (spec §2.1).

    Names are normalised; an invalid name or a triple without 3 fields raises ``ValueError``; exact duplicates and
    self-loops (head == tail) are dropped; ``triples`` keeps first-seen order.

    Array attributes (ids index the sorted ``entities`` / ``relations``):

    - ``heads``, ``rels``, ``tails``: int32, length ``num_triples``, aligned with ``triples``.
    - ``indptr`` (int64, length ``num_entities + 1``), ``indices`` and ``edge_ids`` (int32, length
      ``2 * num_triples``): undirected CSR; row ``u`` lists, for every triple incident to ``u``, the other end's id
      (``indices``) and the triple index (``edge_ids``), sorted by (neighbour id, triple index).
    - ``degrees`` (int64, per entity id: incident triples), ``hub_penalties`` (float64, ln(1 + degree)),
      ``relation_counts`` (int64, per relation id: n_r) and ``relation_penalties`` (float64, ln n_r / ln N).

    Dicts ``entity_index`` and ``relation_index`` map names to ids.
    """

    def __init__(self, triples: Iterable[Iterable[Any]], *, name: str = "kg") -> None:
        self.name = name
        cache: dict[str, str] = {}  # one string object per distinct name

        def norm(x: Any) -> str:
            if type(x) is not str:
                return check_name(x)
            value = cache.get(x)
            if value is None:
                value = cache[x] = check_name(x)
            return value

        seen: dict[Triple, None] = {}
        for number, raw in enumerate(triples):
            fields = tuple(raw) if not isinstance(raw, str) else (raw,)
            if len(fields) != 3:
                raise ValueError(
                    f"triple {number} must have 3 fields (head, relation, tail), got {len(fields)}"
                )
            try:
                h, r, t = norm(fields[0]), norm(fields[1]), norm(fields[2])
            except ValueError as exc:
                raise ValueError(f"triple {number}: {exc}") from None
            if h == t:
                continue
            if type(raw) is tuple and h is fields[0] and r is fields[1] and t is fields[2]:
                seen[raw] = None  # already normalised: keep the caller's tuple rather than a copy
            else:
                seen[(h, r, t)] = None
        self.triples: list[Triple] = list(seen)

        ents: set[str] = set()
        rels: set[str] = set()
        for h, r, t in self.triples:
            ents.add(h)
            ents.add(t)
            rels.add(r)
        self.entities: list[str] = sorted(ents)
        self.relations: list[str] = sorted(rels)
        self.entity_index: dict[str, int] = {e: i for i, e in enumerate(self.entities)}
        self.relation_index: dict[str, int] = {r: i for i, r in enumerate(self.relations)}
        self._build_arrays()
        self._nx: nx.MultiDiGraph | None = None

    def _build_arrays(self) -> None:
        n, num_e, num_r = len(self.triples), len(self.entities), len(self.relations)
        ei, ri = self.entity_index, self.relation_index
        self.heads = np.fromiter((ei[h] for h, _, _ in self.triples), dtype=np.int32, count=n)
        self.rels = np.fromiter((ri[r] for _, r, _ in self.triples), dtype=np.int32, count=n)
        self.tails = np.fromiter((ei[t] for _, _, t in self.triples), dtype=np.int32, count=n)

        self.degrees = np.bincount(self.heads, minlength=num_e).astype(np.int64) + np.bincount(
            self.tails, minlength=num_e
        )
        self.hub_penalties = np.log1p(self.degrees.astype(np.float64))
        self.relation_counts = np.bincount(self.rels, minlength=num_r).astype(np.int64)
        if n > 1:
            self.relation_penalties = np.log(self.relation_counts.astype(np.float64)) / math.log(n)
        else:
            self.relation_penalties = np.ones(num_r, dtype=np.float64)

        src = np.concatenate([self.heads, self.tails])
        dst = np.concatenate([self.tails, self.heads])
        eid = np.concatenate([np.arange(n, dtype=np.int32), np.arange(n, dtype=np.int32)])
        order = np.lexsort((eid, dst, src))
        self.indices = np.ascontiguousarray(dst[order], dtype=np.int32)
        self.edge_ids = np.ascontiguousarray(eid[order], dtype=np.int32)
        self.indptr = np.zeros(num_e + 1, dtype=np.int64)
        np.cumsum(self.degrees, out=self.indptr[1:])

    # -- sizes and membership --

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    @property
    def num_triples(self) -> int:
        return len(self.triples)

    def __len__(self) -> int:
        return len(self.triples)

    def __iter__(self) -> Iterator[Triple]:
        return iter(self.triples)

    def __contains__(self, entity: object) -> bool:
        """``e in kg``: whether ``e`` (normalised) is an entity."""
        try:
            return normalize_name(entity) in self.entity_index
        except Exception:
            return False

    def __repr__(self) -> str:
        return (
            f"KnowledgeGraph(name={self.name!r}, entities={self.num_entities}, relations={self.num_relations}, "
            f"triples={self.num_triples})"
        )

    # -- statistics --

    def degree(self, entity: str) -> int:
        """Incident triples (as head or tail) in the full KG; 0 if unknown."""
        i = self.entity_index.get(normalize_name(entity))
        return 0 if i is None else int(self.degrees[i])

    def relation_count(self, relation: str) -> int:
        """n_r, the number of triples with this relation; 0 if unknown."""
        j = self.relation_index.get(normalize_name(relation))
        return 0 if j is None else int(self.relation_counts[j])

    def hub_penalty(self, entity: str) -> float:
        """ln(1 + degree(entity)) (0 for an unknown entity)."""
        return hub_penalty(self.degree(entity))

    def relation_penalty(self, relation: str) -> float:
        """ln n_r / ln N; an unknown relation raises ``ValueError``."""
        count = self.relation_count(relation)
        if count == 0:
            raise ValueError(f"unknown relation: {normalize_name(relation)}")
        return relation_penalty(count, self.num_triples)

    def neighbors(self, entity: str) -> list[str]:
        """The sorted, distinct entities sharing a triple with ``entity`` (either direction); [] if unknown."""
        u = self.entity_index.get(normalize_name(entity))
        if u is None:
            return []
        row = self.indices[self.indptr[u] : self.indptr[u + 1]]
        return [self.entities[v] for v in np.unique(row).tolist()]

    def has_triple(self, head: str, relation: str, tail: str) -> bool:
        """Whether the directed triple (head, relation, tail) is in the KG."""
        h = self.entity_index.get(normalize_name(head))
        t = self.entity_index.get(normalize_name(tail))
        r = self.relation_index.get(normalize_name(relation))
        if h is None or t is None or r is None:
            return False
        lo, hi = int(self.indptr[h]), int(self.indptr[h + 1])
        row = self.indices[lo:hi]
        a, b = np.searchsorted(row, t, side="left"), np.searchsorted(row, t, side="right")
        candidates = self.edge_ids[lo + a : lo + b]
        return bool(np.any((self.heads[candidates] == h) & (self.rels[candidates] == r)))

    def triples_between(self, u: str, v: str) -> list[Triple]:
        """Every triple linking ``u`` and ``v`` in either direction, sorted."""
        a = self.entity_index.get(normalize_name(u))
        b = self.entity_index.get(normalize_name(v))
        if a is None or b is None:
            return []
        lo, hi = int(self.indptr[a]), int(self.indptr[a + 1])
        row = self.indices[lo:hi]
        i, j = np.searchsorted(row, b, side="left"), np.searchsorted(row, b, side="right")
        return sorted(self.triples[e] for e in self.edge_ids[lo + i : lo + j].tolist())

    # -- networkx --

    def to_networkx(self) -> nx.MultiDiGraph:
        """The cached ``networkx.MultiDiGraph``: every entity a node, each triple an edge h→t with ``key=r`` and
        ``relation=r``. Treat it as read-only (it is shared between calls)."""
        if self._nx is None:
            import networkx as nx

            g = nx.MultiDiGraph(name=self.name)
            g.add_nodes_from(self.entities)
            g.add_edges_from((h, t, r, {"relation": r}) for h, r, t in self.triples)
            self._nx = g
        return self._nx

    @classmethod
    def from_networkx(
        cls, g: nx.Graph, *, relation_attr: str = "relation", name: str = "kg"
    ) -> KnowledgeGraph:
        """A KG from the edges of any networkx graph: each edge u→v with ``data[relation_attr]`` as the relation
        (for multigraphs the edge key stands in when the attribute is missing). Isolated nodes are dropped, since
        entities come from triples. An edge without a relation raises ``ValueError``."""
        triples: list[Triple] = []
        if g.is_multigraph():
            for u, v, key, data in g.edges(keys=True, data=True):
                rel = data.get(relation_attr, key if isinstance(key, str) else None)
                if rel is None:
                    raise ValueError(f"edge ({u!r}, {v!r}, {key!r}) has no {relation_attr!r} attribute")
                triples.append((u, rel, v))
        else:
            for u, v, data in g.edges(data=True):
                if relation_attr not in data:
                    raise ValueError(f"edge ({u!r}, {v!r}) has no {relation_attr!r} attribute")
                triples.append((u, data[relation_attr], v))
        return cls(triples, name=name)
