"""The paper's subgraph retriever (UniRel-R1, arXiv 2512.17043, §3.2; spec §2.3).

For seed entities named by a question, the retriever

1. takes the union of the seeds' undirected k-hop balls and the KG subgraph induced on it (:func:`khop_candidates`);
2. removes hubs: non-seed entities with hub penalty ln(1 + degree) above a threshold ρ, raising ρ = ρ₀ + i·step
   until the seeds connect again (:func:`prune_hubs`, :func:`relax_hub_threshold`);
3. strips leaves: non-seed entities with at most one distinct neighbour, then components without a seed
   (:func:`strip_leaves`);
4. controls compactness: when more than ``target_size`` triples remain, it keeps only the shortest paths from every
   seed to the m lowest-penalty bridge entities, for m = m₀, m₀ − 1, …, 1 until the subgraph fits
   (:func:`bridge_candidates`, :func:`compact_subgraph`).

:func:`retrieve_subgraph` runs the pipeline and returns a :class:`RetrievalResult`.

Conventions: the graph is undirected for hops, degrees, connectivity and paths, while a triple keeps its direction;
seeds are normalised and de-duplicated in order (fewer than 2 distinct seeds or an unknown seed is a ``ValueError``);
every result is a sorted list of distinct triples; seeds are never removed; penalties use full-KG degrees.

Backends: ``"csr"`` runs vectorised numpy/scipy code on the KG's int32 arrays and undirected CSR (frontier BFS with
boolean masks, a bisection over the ρ schedule with one connected-components pass per probe, leaf peeling with
``bincount``, BFS distances on the candidate for compaction). ``"networkx"`` is the plain reference built from
``ego_graph``, ``subgraph``, ``node_connected_component`` and ``single_source_shortest_path_length`` on a cached
undirected ``nx.Graph``. Both return identical results; networkx is the oracle in the tests and the baseline of the
benchmark (spec §9).
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from unirel.config import BACKENDS, RetrievalConfig
from unirel.kg import KnowledgeGraph, Triple, hub_penalty, normalize_name

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "RetrievalResult",
    "bridge_candidates",
    "compact_subgraph",
    "khop_candidates",
    "prune_hubs",
    "relax_hub_threshold",
    "retrieve_subgraph",
    "seeds_connected",
    "strip_leaves",
]

_FAR = 1 << 29
"""Distance of an unreachable entity (int32): no sum of finite distances equals it, and d + 1 + d' never
overflows."""

_NX_GRAPHS: weakref.WeakKeyDictionary[KnowledgeGraph, nx.Graph] = weakref.WeakKeyDictionary()
_PENALTIES: weakref.WeakKeyDictionary[KnowledgeGraph, np.ndarray] = weakref.WeakKeyDictionary()


# -- result -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrievalResult:
    """The retrieved subgraph and the trace of the pipeline (spec §2.3).

    ``bridges`` lists the bridge candidates the m loop considered (the first min(m₀, |B|) of
    :func:`bridge_candidates`, best first), so the bridges actually used are ``bridges[:m]``; it is empty when no
    compaction ran or when the seed-to-seed fallback ran (m = 0). ``sizes`` holds the triple counts after each
    stage: ``candidate`` (k-hop), ``hub`` (after ρ relaxation), ``leaf`` (after stripping) and ``compact`` (final).
    """

    seeds: tuple[str, ...]
    triples: list[Triple]
    rho: float
    rho_steps: int
    m: int | None
    bridges: list[str]
    connected: bool
    over_target: bool
    sizes: dict[str, int]

    @property
    def entities(self) -> list[str]:
        """The sorted entities of ``triples`` together with the seeds."""
        names = set(self.seeds)
        for h, _, t in self.triples:
            names.add(h)
            names.add(t)
        return sorted(names)

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The subgraph as a ``networkx.MultiDiGraph`` (edge h→t with ``key=r``, ``relation=r``), seeds always
        present as nodes."""
        import networkx as nx

        g = nx.MultiDiGraph()
        g.add_nodes_from(self.seeds)
        g.add_edges_from((h, t, r, {"relation": r}) for h, r, t in self.triples)
        return g


# -- argument checks ----------------------------------------------------------------------------------------------


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown retrieval backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def _check_hops(hops: int) -> None:
    if hops < 1:
        raise ValueError(f"hops must be >= 1, got {hops}")


def _normalize_seeds(seeds: Iterable[Any]) -> list[str]:
    """Seeds normalised and de-duplicated in order; fewer than 2 distinct raises ``ValueError``."""
    if isinstance(seeds, str):
        seeds = [seeds]
    names = list(dict.fromkeys(normalize_name(s) for s in seeds))
    if len(names) < 2:
        raise ValueError(f"need at least 2 distinct seed entities, got {len(names)}: {names}")
    return names


def _kg_seeds(kg: KnowledgeGraph, seeds: Iterable[Any]) -> list[str]:
    names = _normalize_seeds(seeds)
    for name in names:
        if name not in kg.entity_index:
            raise ValueError(f"unknown seed entity: {name}")
    return names


def _distinct(triples: Iterable[Iterable[str]]) -> list[Triple]:
    out: dict[Triple, None] = {}
    for triple in triples:
        h, r, t = triple
        out[(h, r, t)] = None
    return list(out)


# -- CSR backend: shared numpy/scipy kernels -------------------------------------------------------------------------


def _penalties(kg: KnowledgeGraph) -> np.ndarray:
    """hub_penalty per entity id, computed by :func:`unirel.kg.hub_penalty` (``math.log1p``) once per distinct
    degree, so that both backends compare bit-identical floats with ρ."""
    pen = _PENALTIES.get(kg)
    if pen is None:
        degrees = np.asarray(kg.degrees, dtype=np.int64)
        top = int(degrees.max()) if degrees.size else 0
        table = np.array([hub_penalty(d) for d in range(top + 1)], dtype=np.float64)
        pen = table[degrees]
        _PENALTIES[kg] = pen
    return pen


def _row_positions(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in a CSR's ``indices`` of every entry of ``rows`` (a vectorised concatenation of ranges)."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)


def _khop_edges(kg: KnowledgeGraph, seed_ids: np.ndarray, hops: int) -> np.ndarray:
    """Sorted indices of the triples induced on the union of the seeds' ``hops``-balls: a multi-source
    level-synchronous BFS (the union of balls is the set within ``hops`` of the nearest seed)."""
    n = kg.num_entities
    visited = np.zeros(n, dtype=bool)
    visited[seed_ids] = True
    frontier = seed_ids
    for _ in range(hops):
        if frontier.size == 0:
            break
        reached = np.zeros(n, dtype=bool)
        reached[kg.indices[_row_positions(kg.indptr, frontier)]] = True
        reached &= ~visited
        frontier = np.flatnonzero(reached)
        visited |= reached
    ball = np.flatnonzero(visited)
    incident = int((kg.indptr[ball + 1] - kg.indptr[ball]).sum())
    if 4 * incident < kg.num_triples:  # small ball: gather its rows instead of scanning every triple
        pos = _row_positions(kg.indptr, ball)
        pos = pos[visited[kg.indices[pos]]]
        return np.unique(kg.edge_ids[pos]).astype(np.int64)
    return np.flatnonzero(visited[kg.heads] & visited[kg.tails])


def _labels(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes of the undirected graph with edges (u, v)."""
    graph = csr_matrix((np.ones(u.size, dtype=np.int32), (u, v)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _joined(n: int, u: np.ndarray, v: np.ndarray, seeds: np.ndarray) -> bool:
    """Whether all seeds lie in one component (a seed without an edge is its own component)."""
    if u.size == 0:
        return False
    labels = _labels(n, u, v)
    return bool(np.all(labels[seeds] == labels[seeds[0]]))


def _distances(adjacency: tuple[np.ndarray, np.ndarray], sources: Sequence[int] | np.ndarray) -> np.ndarray:
    """BFS hop distances (int64, ``_FAR`` if unreachable) from each source, shape (len(sources), n): one
    level-synchronous frontier expansion per source over the undirected CSR ``(indptr, indices)``."""
    indptr, indices = adjacency
    n = indptr.size - 1
    out = np.full((len(sources), n), _FAR, dtype=np.int32)
    for row, source in zip(out, np.asarray(sources, dtype=np.int64).tolist(), strict=True):
        row[source] = 0
        frontier = np.array([source], dtype=np.int64)
        level = 0
        while frontier.size:
            level += 1
            reached = indices[_row_positions(indptr, frontier)]
            reached = reached[row[reached] == _FAR]
            if reached.size == 0:
                break
            row[reached] = level
            frontier = np.flatnonzero(row == level) if 8 * reached.size > n else np.unique(reached)
    return out


@dataclass
class _Pairs:
    """The distinct undirected entity pairs of a set of triples (for 'distinct neighbour' degrees and paths)."""

    a: np.ndarray
    b: np.ndarray
    inverse: np.ndarray  # pair index of each triple
    _adjacency: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, n: int, u: np.ndarray, v: np.ndarray) -> _Pairs:
        lo = np.minimum(u, v).astype(np.int64)
        hi = np.maximum(u, v).astype(np.int64)
        keys, inverse = np.unique(lo * n + hi, return_inverse=True)
        return cls(keys // n, keys % n, inverse.reshape(-1))

    def adjacency(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The undirected CSR (indptr, indices) of the pairs over n nodes (a counting sort; built once)."""
        if self._adjacency is None or self._adjacency[0].size != n + 1:
            src = np.concatenate([self.a, self.b])
            dst = np.concatenate([self.b, self.a])
            graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n)).tocsr()
            self._adjacency = (graph.indptr.astype(np.int64), graph.indices.astype(np.int64))
        return self._adjacency


def _strip_pairs(n: int, pairs: _Pairs, is_seed: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Mask of the pairs kept by leaf stripping: iterative peeling of non-seed nodes with ≤ 1 distinct neighbour
    (all current leaves at once per round; the fixed point does not depend on the order), then only the
    components holding a seed."""
    a, b = pairs.a, pairs.b
    alive = np.ones(a.size, dtype=bool)
    if a.size == 0:
        return alive
    degree = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    active = np.arange(a.size)
    while active.size:
        leaf = (degree <= 1) & ~is_seed
        hit = leaf[a[active]] | leaf[b[active]]
        if not hit.any():
            break
        removed = active[hit]
        alive[removed] = False
        active = active[~hit]
        degree -= np.bincount(a[removed], minlength=n) + np.bincount(b[removed], minlength=n)
    if not alive.any():
        return alive
    labels = _labels(n, a[alive], b[alive])
    seed_component = np.zeros(n, dtype=bool)
    seed_component[labels[seeds]] = True
    return alive & seed_component[labels[a]]


def _strip_mask(n: int, u: np.ndarray, v: np.ndarray, is_seed: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Mask over the triples (u, v) kept by :func:`strip_leaves`."""
    if u.size == 0:
        return np.zeros(0, dtype=bool)
    pairs = _Pairs.of(n, u, v)
    return _strip_pairs(n, pairs, is_seed, seeds)[pairs.inverse]


def _thresholds(u: np.ndarray, v: np.ndarray, pen: np.ndarray, is_seed: np.ndarray) -> np.ndarray:
    """The smallest ρ keeping each triple: the larger penalty of its non-seed ends (−inf for a seed–seed triple)."""
    node = np.where(is_seed, -np.inf, pen)
    return np.maximum(node[u], node[v])


def _schedule_end(rho0: float, step: float, top: float) -> int:
    """The first i with rho0 + i·step ≥ top (each ρ_i computed directly, as in the reference loop)."""
    if not rho0 < top:
        return 0
    i = max(0, math.ceil((top - rho0) / step))
    while i > 0 and rho0 + (i - 1) * step >= top:
        i -= 1
    while rho0 + i * step < top:
        i += 1
    return i


def _relax(
    n: int, u: np.ndarray, v: np.ndarray, thr: np.ndarray, seeds: np.ndarray, rho0: float, step: float
) -> tuple[np.ndarray, float, int, bool]:
    """(keep mask, ρ_i, i, connected) of the relaxation: bisection over the ρ schedule, valid because keeping
    more entities never disconnects the seeds; i = 0 is probed first (the common case)."""
    top = float(thr.max()) if thr.size else -math.inf
    last = _schedule_end(rho0, step, top)
    cache: dict[int, bool] = {}

    def joined(i: int) -> bool:
        if i not in cache:
            keep = thr <= rho0 + i * step
            cache[i] = _joined(n, u[keep], v[keep], seeds)
        return cache[i]

    if joined(0) or last == 0:
        i = 0
    else:
        lo, hi = 1, last
        while lo < hi:
            mid = (lo + hi) // 2
            if joined(mid):
                hi = mid
            else:
                lo = mid + 1
        i = lo
    rho = rho0 + i * step
    return thr <= rho, rho, i, joined(i)


class _Local:
    """A set of triples over compact local node ids 0…n−1 (the CSR backend's working representation).

    ``glob`` maps local ids to KG entity ids (or to ranks in the sorted names without a KG), so ordering by it is
    ordering by name; ``pen`` is the full-KG hub penalty of each local node (None without a KG).
    """

    def __init__(
        self, u: np.ndarray, v: np.ndarray, glob: np.ndarray, seeds: np.ndarray, pen: np.ndarray | None
    ):
        self.u, self.v, self.glob, self.seeds, self.pen = u, v, glob, seeds, pen
        self.n = int(glob.size)
        self.is_seed = np.zeros(self.n, dtype=bool)
        self.is_seed[seeds] = True

    @classmethod
    def from_ids(
        cls, hg: np.ndarray, tg: np.ndarray, seed_g: np.ndarray, size: int, pen: np.ndarray | None
    ) -> _Local:
        """Relabel global ids (below ``size``) to local ones with a mask, in O(size + triples)."""
        mark = np.zeros(size, dtype=bool)
        mark[hg] = True
        mark[tg] = True
        mark[seed_g] = True
        glob = np.flatnonzero(mark)
        local = np.empty(size, dtype=np.int64)
        local[glob] = np.arange(glob.size)
        return cls(local[hg], local[tg], glob, local[seed_g], None if pen is None else pen[glob])

    def restrict(self, idx: np.ndarray) -> _Local:
        """The triples ``idx`` alone, relabelled to the nodes they use (plus the seeds)."""
        sub = _Local.from_ids(self.u[idx], self.v[idx], self.seeds, self.n, None)
        kept = sub.glob
        sub.glob = self.glob[kept]
        sub.pen = None if self.pen is None else self.pen[kept]
        return sub

    def bridges(self, hops: int) -> tuple[list[int], np.ndarray | None, _Pairs | None]:
        """Local ids of the bridge candidates B, best first, with the seed distances (S × n) and the pairs of
        the triples; distances and pairs are None when the seeds are absent or disconnected."""
        pairs = _Pairs.of(self.n, self.u, self.v)
        if pairs.a.size == 0:
            return [], None, None
        dist = _distances(pairs.adjacency(self.n), self.seeds)
        if np.any(dist[0, self.seeds] >= _FAR):
            return [], None, None
        ecc = dist.max(axis=0)
        cand = np.flatnonzero((ecc < _FAR) & ~self.is_seed)
        if cand.size == 0:
            return [], dist, pairs
        radius = max(hops, int(ecc[cand].min()))
        cand = cand[ecc[cand] <= radius]
        assert self.pen is not None
        order = np.lexsort((self.glob[cand], self.pen[cand]))
        return cand[order].tolist(), dist, pairs

    def routes(self, pairs: _Pairs, seed_dist: np.ndarray, bridges: Sequence[int]) -> list[np.ndarray]:
        """Per bridge b, the mask of pairs {u, v} on a shortest s–b path for some seed s
        (d_s(u) + 1 + d_b(v) = d_s(b) or swapped); without bridges, one mask of the shortest seeds[0]–s paths."""
        a, b = pairs.a, pairs.b
        ends = [(ds[a], ds[b]) for ds in seed_dist]
        masks: list[np.ndarray] = []
        if bridges:
            target_dist = _distances(pairs.adjacency(self.n), bridges)
            for target, dt in zip(bridges, target_dist, strict=True):
                ta, tb = dt[a] + 1, dt[b] + 1
                mask = np.zeros(a.size, dtype=bool)
                for (sa, sb), ds in zip(ends, seed_dist, strict=True):
                    goal = ds[target]
                    mask |= (sa + tb == goal) | (sb + ta == goal)
                masks.append(mask)
        else:
            mask = np.zeros(a.size, dtype=bool)
            sa, sb = ends[0]
            for j in range(1, len(self.seeds)):
                dt, goal = seed_dist[j], seed_dist[0][self.seeds[j]]
                mask |= (sa + 1 + dt[b] == goal) | (sb + 1 + dt[a] == goal)
            masks.append(mask)
        return masks

    def compact(self, pairs: _Pairs, on_path: np.ndarray) -> np.ndarray:
        """Mask over the triples: those whose pair is ``on_path``, after leaf stripping."""
        kept = np.flatnonzero(on_path[pairs.inverse])
        out = np.zeros(self.u.size, dtype=bool)
        out[kept[_strip_mask(self.n, self.u[kept], self.v[kept], self.is_seed, self.seeds)]] = True
        return out


def _local_from_triples(triples: list[Triple], seeds: list[str], kg: KnowledgeGraph | None) -> _Local:
    """The CSR working set of a public call: KG entity ids when a KG is given, name ranks otherwise."""
    if kg is not None:
        index = kg.entity_index
        try:
            hg = np.fromiter((index[h] for h, _, _ in triples), dtype=np.int64, count=len(triples))
            tg = np.fromiter((index[t] for _, _, t in triples), dtype=np.int64, count=len(triples))
        except KeyError as exc:
            raise ValueError(f"triple entity not in the knowledge graph: {exc.args[0]}") from None
        seed_g = np.array([index[s] for s in seeds], dtype=np.int64)
        return _Local.from_ids(hg, tg, seed_g, kg.num_entities, _penalties(kg))
    names = sorted({e for h, _, t in triples for e in (h, t)} | set(seeds))
    rank = {name: i for i, name in enumerate(names)}
    hg = np.fromiter((rank[h] for h, _, _ in triples), dtype=np.int64, count=len(triples))
    tg = np.fromiter((rank[t] for _, _, t in triples), dtype=np.int64, count=len(triples))
    seed_g = np.array([rank[s] for s in seeds], dtype=np.int64)
    return _Local.from_ids(hg, tg, seed_g, len(names), None)


def _select(triples: list[Triple], keep: np.ndarray) -> list[Triple]:
    return sorted(triples[i] for i in np.flatnonzero(keep).tolist())


# -- networkx backend (the reference) --------------------------------------------------------------------------------


def _nx_undirected(kg: KnowledgeGraph) -> nx.Graph:
    """The cached undirected simple graph of the KG: every entity a node, one edge per linked pair whose
    ``triples`` attribute lists the pair's triples. Built once per KG (the benchmark excludes this)."""
    graph = _NX_GRAPHS.get(kg)
    if graph is None:
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(kg.entities)
        adj = graph._adj
        for triple in kg.triples:
            h, _, t = triple
            data = adj[h].get(t)
            if data is None:
                graph.add_edge(h, t, triples=[triple])
            else:
                data["triples"].append(triple)
        _NX_GRAPHS[kg] = graph
    return graph


def _nx_graph(triples: Iterable[Triple]) -> nx.Graph:
    import networkx as nx

    graph = nx.Graph()
    graph.add_edges_from((h, t) for h, _, t in triples)
    return graph


def _nx_khop(kg: KnowledgeGraph, seeds: list[str], hops: int) -> list[Triple]:
    import networkx as nx

    graph = _nx_undirected(kg)
    nodes: set[str] = set()
    for seed in seeds:
        nodes.update(nx.ego_graph(graph, seed, radius=hops).nodes)
    induced = graph.subgraph(nodes)
    return sorted(triple for _, _, group in induced.edges(data="triples") for triple in group)


def _nx_prune(kg: KnowledgeGraph, triples: list[Triple], seeds: list[str], rho: float) -> list[Triple]:
    seed_set = set(seeds)

    def ok(entity: str) -> bool:
        return entity in seed_set or kg.hub_penalty(entity) <= rho

    return sorted(tr for tr in triples if ok(tr[0]) and ok(tr[2]))


def _nx_connected(triples: list[Triple], seeds: list[str]) -> bool:
    import networkx as nx

    graph = _nx_graph(triples)
    if seeds[0] not in graph:
        return False
    component = nx.node_connected_component(graph, seeds[0])
    return all(s in component for s in seeds)


def _nx_relax(
    kg: KnowledgeGraph, triples: list[Triple], seeds: list[str], rho0: float, step: float
) -> tuple[list[Triple], float, int]:
    seed_set = set(seeds)
    others = {e for h, _, t in triples for e in (h, t)} - seed_set
    top = max((kg.hub_penalty(e) for e in others), default=-math.inf)
    i = 0
    while True:
        rho = rho0 + i * step
        pruned = _nx_prune(kg, triples, seeds, rho)
        if _nx_connected(pruned, seeds) or rho >= top:
            return pruned, rho, i
        i += 1


def _nx_strip(triples: list[Triple], seeds: list[str]) -> list[Triple]:
    import networkx as nx

    seed_set = set(seeds)
    graph = _nx_graph(triples)
    while True:
        leaves = [x for x in graph if x not in seed_set and graph.degree(x) <= 1]
        if not leaves:
            break
        graph.remove_nodes_from(leaves)
    keep: set[str] = set()
    for seed in seeds:
        if seed in graph and seed not in keep:
            keep |= nx.node_connected_component(graph, seed)
    return sorted(tr for tr in triples if tr[0] in keep and tr[2] in keep)


def _nx_seed_distances(graph: nx.Graph, seeds: list[str]) -> list[dict[str, int]] | None:
    """BFS distances from each seed, or None unless the seeds are present and connected."""
    import networkx as nx

    if any(s not in graph for s in seeds):
        return None
    dists = [nx.single_source_shortest_path_length(graph, s) for s in seeds]
    if any(s not in dists[0] for s in seeds):
        return None
    return dists


def _nx_bridges_from(
    kg: KnowledgeGraph, dists: list[dict[str, int]], seeds: list[str], hops: int
) -> list[str]:
    seed_set = set(seeds)
    ecc = {x: max(d[x] for d in dists) for x in dists[0] if x not in seed_set}
    if not ecc:
        return []
    radius = max(hops, min(ecc.values()))
    return sorted((x for x, e in ecc.items() if e <= radius), key=lambda x: (kg.hub_penalty(x), x))


def _nx_bridges(kg: KnowledgeGraph, triples: list[Triple], seeds: list[str], hops: int) -> list[str]:
    dists = _nx_seed_distances(_nx_graph(triples), seeds)
    return [] if dists is None else _nx_bridges_from(kg, dists, seeds, hops)


def _nx_compact(
    kg: KnowledgeGraph, triples: list[Triple], seeds: list[str], hops: int, m: int
) -> tuple[list[Triple], list[str]]:
    import networkx as nx

    triples = sorted(triples)
    graph = _nx_graph(triples)
    dists = _nx_seed_distances(graph, seeds)
    if dists is None:
        return triples, []
    candidates = _nx_bridges_from(kg, dists, seeds, hops)
    chosen = candidates[:m]
    far = 1 << 40
    routes: list[tuple[dict[str, int], dict[str, int], int]] = []  # (d_from, d_to, d_from(target))
    if chosen:
        for b in chosen:
            db = nx.single_source_shortest_path_length(graph, b)
            routes.extend((ds, db, ds[b]) for ds in dists)
    else:
        routes.extend((dists[0], dists[j], dists[0][seeds[j]]) for j in range(1, len(seeds)))

    def on_path(x: str, y: str) -> bool:
        return any(
            df.get(x, far) + 1 + dt.get(y, far) == goal or df.get(y, far) + 1 + dt.get(x, far) == goal
            for df, dt, goal in routes
        )

    kept = [tr for tr in triples if on_path(tr[0], tr[2])]
    return _nx_strip(kept, seeds), chosen


# -- public stage functions -----------------------------------------------------------------------------------------


def khop_candidates(
    kg: KnowledgeGraph, seeds: Sequence[str], hops: int, *, backend: str = "csr"
) -> list[Triple]:
    """The candidate subgraph (paper step 1, k = ``hops``): every KG triple with both ends in the union of the
    seeds' undirected k-hop balls. The subgraph is induced, so edges between two balls count and seeds up to
    2k + 1 hops apart can connect. Returns the sorted triples."""
    _check_backend(backend)
    _check_hops(hops)
    names = _kg_seeds(kg, seeds)
    if backend == "networkx":
        return _nx_khop(kg, names, hops)
    seed_ids = np.array([kg.entity_index[s] for s in names], dtype=np.int64)
    return _sorted_triples(kg, _khop_edges(kg, seed_ids, hops))


def prune_hubs(
    kg: KnowledgeGraph, triples: Iterable[Triple], seeds: Sequence[str], rho: float, *, backend: str = "csr"
) -> list[Triple]:
    """Hub removal at threshold ρ (paper step 2): keep the triples whose ends are each a seed or have full-KG
    hub penalty ln(1 + degree) ≤ ρ."""
    _check_backend(backend)
    names = _kg_seeds(kg, seeds)
    items = _distinct(triples)
    if backend == "networkx":
        return _nx_prune(kg, items, names, rho)
    local = _local_from_triples(items, names, kg)
    assert local.pen is not None
    return _select(items, _thresholds(local.u, local.v, local.pen, local.is_seed) <= rho)


def seeds_connected(triples: Iterable[Triple], seeds: Sequence[str], *, backend: str = "csr") -> bool:
    """Whether all seeds lie in one component of the undirected graph of ``triples`` (a seed without a triple is
    its own component)."""
    _check_backend(backend)
    names = _normalize_seeds(seeds)
    items = _distinct(triples)
    if backend == "networkx":
        return _nx_connected(items, names)
    local = _local_from_triples(items, names, None)
    return _joined(local.n, local.u, local.v, local.seeds)


def relax_hub_threshold(
    kg: KnowledgeGraph,
    triples: Iterable[Triple],
    seeds: Sequence[str],
    rho0: float,
    step: float,
    *,
    backend: str = "csr",
) -> tuple[list[Triple], float, int]:
    """The relaxed hub threshold (paper step 2): try ρ_i = ρ₀ + i·step for i = 0, 1, … (each computed directly)
    and stop at the first i where :func:`prune_hubs` connects the seeds, or where ρ_i ≥ the largest non-seed
    penalty in ``triples`` (nothing is pruned there). Returns (pruned triples, ρ_i, i); ``step <= 0`` raises
    ``ValueError``. The CSR backend bisects the schedule (connectivity is monotone in ρ)."""
    _check_backend(backend)
    if not step > 0:
        raise ValueError(f"rho step must be > 0, got {step}")
    names = _kg_seeds(kg, seeds)
    items = _distinct(triples)
    if backend == "networkx":
        return _nx_relax(kg, items, names, rho0, step)
    local = _local_from_triples(items, names, kg)
    assert local.pen is not None
    thr = _thresholds(local.u, local.v, local.pen, local.is_seed)
    keep, rho, steps, _ = _relax(local.n, local.u, local.v, thr, local.seeds, rho0, step)
    return _select(items, keep), rho, steps


def strip_leaves(triples: Iterable[Triple], seeds: Sequence[str], *, backend: str = "csr") -> list[Triple]:
    """Leaf stripping (paper step 3): repeatedly remove non-seed entities with at most one distinct neighbour,
    then drop every component containing no seed. Returns the sorted remaining triples."""
    _check_backend(backend)
    names = _normalize_seeds(seeds)
    items = _distinct(triples)
    if backend == "networkx":
        return _nx_strip(items, names)
    local = _local_from_triples(items, names, None)
    return _select(items, _strip_mask(local.n, local.u, local.v, local.is_seed, local.seeds))


def bridge_candidates(
    kg: KnowledgeGraph, triples: Iterable[Triple], seeds: Sequence[str], hops: int, *, backend: str = "csr"
) -> list[str]:
    """Bridge entities for compactness control (paper step 4): on the undirected graph U of ``triples``, with
    d_s the BFS distance from seed s and ecc(v) = max_s d_s(v), the non-seeds with ecc(v) ≤ r* where
    r* = max(k, min ecc) (the paper's "within k hops of every seed", widened to the smallest radius that has one),
    ordered by (hub_penalty, name). [] unless the seeds are present and connected."""
    _check_backend(backend)
    _check_hops(hops)
    names = _kg_seeds(kg, seeds)
    items = _distinct(triples)
    if backend == "networkx":
        return _nx_bridges(kg, items, names, hops)
    local = _local_from_triples(items, names, kg)
    best, _, _ = local.bridges(hops)
    return [kg.entities[int(g)] for g in local.glob[best]]


def compact_subgraph(
    kg: KnowledgeGraph,
    triples: Iterable[Triple],
    seeds: Sequence[str],
    hops: int,
    m: int,
    *,
    backend: str = "csr",
) -> tuple[list[Triple], list[str]]:
    """Compactness control with m bridges (paper step 4). ``bridges`` = the first m of :func:`bridge_candidates`;
    keep every triple whose entity pair {u, v} lies on a shortest s–b path for some seed s and chosen bridge b
    (d_s(u) + 1 + d_b(v) = d_s(b), or u and v swapped), with all relations of that pair, then
    :func:`strip_leaves`. Without any bridge (no non-seed entity, or m = 0) it keeps the shortest-path edges from
    seeds[0] to each other seed and returns bridges []; with the seeds absent or disconnected it returns the input
    (sorted) and []. Returns (triples, bridges)."""
    _check_backend(backend)
    _check_hops(hops)
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}")
    names = _kg_seeds(kg, seeds)
    items = _distinct(triples)
    if backend == "networkx":
        return _nx_compact(kg, items, names, hops, m)
    local = _local_from_triples(items, names, kg)
    best, dist, pairs = local.bridges(hops)
    if dist is None or pairs is None:
        return sorted(items), []
    chosen = best[:m]
    on_path = np.logical_or.reduce(local.routes(pairs, dist, chosen))
    return _select(items, local.compact(pairs, on_path)), [kg.entities[int(g)] for g in local.glob[chosen]]


# -- the pipeline ---------------------------------------------------------------------------------------------------


def _sorted_triples(kg: KnowledgeGraph, edges: np.ndarray) -> list[Triple]:
    """KG triples by index, sorted as (head, relation, tail) strings: ids index the sorted names, so sorting the
    id triples is sorting the strings."""
    order = np.lexsort((kg.tails[edges], kg.rels[edges], kg.heads[edges]))
    kt = kg.triples
    return [kt[i] for i in edges[order].tolist()]


def _resolve_config(config: RetrievalConfig | None, overrides: dict[str, Any]) -> RetrievalConfig:
    cfg = config if config is not None else RetrievalConfig()
    if overrides:
        known = {f.name for f in dataclasses.fields(RetrievalConfig)}
        for key in overrides:
            if key not in known:
                raise ValueError(
                    f"unknown retrieval setting {key!r}; expected one of {', '.join(sorted(known))}"
                )
        cfg = dataclasses.replace(cfg, **overrides)  # __post_init__ raises ConfigError (a ValueError)
    _check_hops(cfg.hops)
    if not cfg.rho_step > 0:
        raise ValueError(f"rho_step must be > 0, got {cfg.rho_step}")
    if cfg.target_size < 1:
        raise ValueError(f"target_size must be >= 1, got {cfg.target_size}")
    if cfg.bridges < 1:
        raise ValueError(f"bridges must be >= 1, got {cfg.bridges}")
    _check_backend(cfg.backend)
    return cfg


def retrieve_subgraph(
    kg: KnowledgeGraph, seeds: Sequence[str], config: RetrievalConfig | None = None, **overrides: Any
) -> RetrievalResult:
    """The paper's retriever (§3.2): k-hop candidate → relaxed hub removal (ρ₀, step) → leaf stripping → if the
    seeds are connected and more than ``target_size`` triples remain, compaction with m = min(m₀, |B|), m − 1, …, 1
    bridges, stopping at the first result with ≤ ``target_size`` triples (with no bridge candidate, the
    seed-to-seed fallback once, m = 0). ``config`` is a :class:`~unirel.config.RetrievalConfig`; keyword
    ``overrides`` replace its fields (``hops=3``, ``backend="networkx"``)."""
    cfg = _resolve_config(config, overrides)
    names = _kg_seeds(kg, seeds)
    run = _retrieve_csr if cfg.backend == "csr" else _retrieve_nx
    return run(kg, names, cfg)


def _result(
    names: list[str],
    triples: list[Triple],
    rho: float,
    steps: int,
    m: int | None,
    bridges: list[str],
    connected: bool,
    cfg: RetrievalConfig,
    sizes: tuple[int, int, int],
) -> RetrievalResult:
    return RetrievalResult(
        seeds=tuple(names),
        triples=triples,
        rho=rho,
        rho_steps=steps,
        m=m,
        bridges=bridges,
        connected=connected,
        over_target=len(triples) > cfg.target_size,
        sizes={"candidate": sizes[0], "hub": sizes[1], "leaf": sizes[2], "compact": len(triples)},
    )


def _retrieve_nx(kg: KnowledgeGraph, names: list[str], cfg: RetrievalConfig) -> RetrievalResult:
    """The reference pipeline: the networkx stage functions, composed literally."""
    candidate = _nx_khop(kg, names, cfg.hops)
    hub, rho, steps = _nx_relax(kg, candidate, names, cfg.rho0, cfg.rho_step)
    leaf = _nx_strip(hub, names)
    connected = _nx_connected(leaf, names)
    final, m, bridges = leaf, None, []
    if connected and len(leaf) > cfg.target_size:
        candidates = _nx_bridges(kg, leaf, names, cfg.hops)
        if candidates:
            bridges = candidates[: min(cfg.bridges, len(candidates))]
            for m in range(len(bridges), 0, -1):
                final, _ = _nx_compact(kg, leaf, names, cfg.hops, m)
                if len(final) <= cfg.target_size:
                    break
        else:
            final, _ = _nx_compact(kg, leaf, names, cfg.hops, 0)
            m = 0
    return _result(
        names, final, rho, steps, m, bridges, connected, cfg, (len(candidate), len(hub), len(leaf))
    )


def _retrieve_csr(kg: KnowledgeGraph, names: list[str], cfg: RetrievalConfig) -> RetrievalResult:
    """The fast pipeline: every stage on index arrays into the k-hop candidate, names only at the end."""
    seed_g = np.array([kg.entity_index[s] for s in names], dtype=np.int64)
    edges = _khop_edges(kg, seed_g, cfg.hops)
    local = _Local.from_ids(kg.heads[edges], kg.tails[edges], seed_g, kg.num_entities, _penalties(kg))
    assert local.pen is not None
    u, v = local.u, local.v
    thr = _thresholds(u, v, local.pen, local.is_seed)
    hub, rho, steps, connected = _relax(local.n, u, v, thr, local.seeds, cfg.rho0, cfg.rho_step)
    n_hub = int(hub.sum())
    leaf = np.zeros(edges.size, dtype=bool)
    hub_idx = np.flatnonzero(hub)
    leaf[hub_idx[_strip_mask(local.n, u[hub_idx], v[hub_idx], local.is_seed, local.seeds)]] = True
    n_leaf = int(leaf.sum())
    final, m, bridges = leaf, None, []
    if connected and n_leaf > cfg.target_size:
        leaf_idx = np.flatnonzero(leaf)
        sub = local.restrict(leaf_idx)  # compaction works on the (much smaller) stripped graph
        best, dist, pairs = sub.bridges(cfg.hops)
        if dist is not None and pairs is not None:
            chosen = best[: min(cfg.bridges, len(best))]
            masks = sub.routes(pairs, dist, chosen)
            if chosen:
                bridges = [kg.entities[int(g)] for g in sub.glob[chosen]]
                prefix = np.logical_or.accumulate(np.stack(masks))  # prefix[m - 1]: the first m bridges
                for m in range(len(chosen), 0, -1):
                    kept = sub.compact(pairs, prefix[m - 1])
                    if int(kept.sum()) <= cfg.target_size:
                        break
            else:
                kept = sub.compact(pairs, masks[0])
                m = 0
            final = np.zeros(edges.size, dtype=bool)
            final[leaf_idx[kept]] = True
    triples = _sorted_triples(kg, edges[final])
    return _result(names, triples, rho, steps, m, bridges, connected, cfg, (edges.size, n_hub, n_leaf))
