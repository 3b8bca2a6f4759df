"""KGs, queries and records (spec §2.2, §5).

- Loading: :func:`load_triples` (one file) and :func:`load_kg` (bundled UMLS, the synthetic generator, a file, a
  train/valid/test directory or a hub dataset).
- :func:`synthetic_kg`: a Chung–Lu scale-free KG for tests and the benchmark (§9).
- Queries with known connecting subgraphs (:func:`sample_queries`), worded as the paper's relational questions
  ("How are A and B related?"), the generalisation splits (:func:`split_queries`) and the paper's "modified KG" with
  random identifiers (:func:`anonymize_kg`, :func:`rename_query`).
- :func:`build_records`: the training and evaluation rows (retrieved subgraph, full-KG statistics, prompt).

The bundled UMLS files live in the folder ``data/`` beside this module (``Path(__file__).parent / "data"``); the
folder has no ``__init__.py``, so it does not shadow this module.
"""

from __future__ import annotations

import csv
import json
import random
import warnings
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import rlcore.data as _rlcore_data
from rlcore.data import DataError, DataFileNotFound
from rlcore.runs import atomic_write
from unirel.kg import KnowledgeGraph, Triple, name_problem, normalize_name

if TYPE_CHECKING:
    from unirel.config import RetrievalConfig

__all__ = [
    "RECORD_COLUMNS",
    "SPLIT_MODES",
    "UMLS_DIR",
    "DataError",
    "Query",
    "anonymize_kg",
    "build_records",
    "load_kg",
    "load_triples",
    "question_text",
    "read_records",
    "rename_query",
    "sample_queries",
    "split_queries",
    "synthetic_kg",
    "write_records",
]

DATA_DIR = Path(__file__).parent / "data"
UMLS_DIR = DATA_DIR / "umls"
"""The bundled UMLS Semantic Network (spec §5): ``train.txt``, ``valid.txt``, ``test.txt``."""

SPLIT_MODES = ("random", "unseen_entities", "unseen_relations")
_SPLITS = ("train", "valid", "test")
_SUFFIXES = (".txt", ".tsv", ".csv")
_HEADERS = (("head", "relation", "tail"), ("subject", "predicate", "object"))
_ACCEPTED = (
    '"umls", "synthetic", "synthetic:E:T:R[:SEED]", a triples file (.tsv, .txt, .csv), '
    "a directory with train/valid/test files, or hf:<id>[:<config>]"
)

RECORD_COLUMNS = (
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
)
"""The columns of a record (spec §2.2), in order."""


# -- loading ------------------------------------------------------------------------------------------------------


def _check_fields(fields: Sequence[str], where: str, cache: dict[str, str] | None = None) -> Triple:
    """The normalised triple; ``cache`` (raw → checked name) shares one string object per distinct name."""
    if len(fields) != 3:
        raise DataError(f"{where}: expected 3 fields (head, relation, tail), got {len(fields)}")
    names: list[str] = []
    for raw in fields:
        value = cache.get(raw) if cache is not None else None
        if value is None:
            value = normalize_name(raw)
            problem = name_problem(value)
            if problem is not None:
                raise DataError(f"{where}: invalid name: {problem}")
            if cache is not None:
                value = cache.setdefault(value, value)
                cache[raw] = value
        names.append(value)
    return (names[0], names[1], names[2])


def _is_header(fields: Sequence[str]) -> bool:
    return tuple(f.strip().lower() for f in fields) in _HEADERS


def _rows(path: Path) -> Iterable[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank rows of a triples file."""
    suffix = path.suffix.lower()
    with open(path, encoding="utf-8", newline="") as fh:
        if suffix == ".csv":
            reader = csv.reader(fh)
            start = 1
            for row in reader:
                line, start = start, reader.line_num + 1
                if not any(field.strip() for field in row):
                    continue
                yield line, row
        else:
            for line, text in enumerate(fh, start=1):
                text = text.rstrip("\r\n")
                if not text.strip():
                    continue
                yield line, text.split("\t")


def load_triples(path: str | Path) -> list[Triple]:
    """The triples of one file, names normalised (spec §2.2).

    ``.tsv`` / ``.txt`` are tab-separated, ``.csv`` goes through the csv module (quoted fields may hold commas).
    Blank lines are skipped; a first row ``head, relation, tail`` or ``subject, predicate, object`` (any case) is a
    header. A row without 3 fields, an invalid name, another suffix, a missing file or an empty file raises
    :class:`DataError`, naming ``PATH:LINE`` where a line is involved.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFileNotFound(f"triples file not found: {path}")
    if path.suffix.lower() not in _SUFFIXES:
        raise DataError(f"{path}: unsupported triples file suffix {path.suffix!r} (use .tsv, .txt or .csv)")
    triples: list[Triple] = []
    cache: dict[str, str] = {}
    first = True
    try:
        for line, fields in _rows(path):
            if first:
                first = False
                if _is_header(fields):
                    continue
            triples.append(_check_fields(fields, f"{path}:{line}", cache))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from None
    if not triples:
        raise DataError(f"{path}: empty triples file (no triples)")
    return triples


def _triples_from_rows(rows: Sequence[Mapping[str, Any]], source: str) -> list[Triple]:
    triples: list[Triple] = []
    cache: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{source}: row {number}"
        if all(k in row for k in ("head", "relation", "tail")):
            fields = [row["head"], row["relation"], row["tail"]]
        elif all(k in row for k in ("subject", "predicate", "object")):
            fields = [row["subject"], row["predicate"], row["object"]]
        elif "text" in row:
            fields = str(row["text"]).rstrip("\r\n").split("\t")
        else:
            raise DataError(
                f"{where}: needs head/relation/tail or subject/predicate/object columns, or a text column "
                f"holding a tab-separated triple; got columns {sorted(row)}"
            )
        if any(f is None for f in fields):
            raise DataError(f"{where}: a field is missing (null)")
        triples.append(_check_fields([str(f) for f in fields], where, cache))
    if not triples:
        raise DataError(f"{source}: no triples")
    return triples


def _kg_from_triples(triples: list[Triple], name: str) -> KnowledgeGraph:
    try:
        return KnowledgeGraph(triples, name=name)
    except ValueError as exc:  # names are already checked; kept for safety
        raise DataError(f"{name}: {exc}") from None


def _load_dir(path: Path, *, name: str | None = None) -> KnowledgeGraph:
    files = [path / f"{split}{suffix}" for split in _SPLITS for suffix in _SUFFIXES]
    files = [f for f in files if f.is_file()]
    if not files:
        raise DataError(f"{path}: no train/valid/test file with suffix .txt, .tsv or .csv")
    triples: list[Triple] = []
    for f in files:
        triples.extend(load_triples(f))
    return _kg_from_triples(triples, name or path.resolve().name or "kg")


def _load_synthetic(source: str) -> KnowledgeGraph:
    parts = source.split(":")[1:]
    if len(parts) not in (3, 4):
        raise DataError(f"{source}: expected synthetic:E:T:R[:SEED], e.g. synthetic:2000:10000:24")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise DataError(f"{source}: E, T, R and SEED must be integers") from None
    seed = numbers[3] if len(numbers) == 4 else 0
    try:
        return synthetic_kg(numbers[0], numbers[1], numbers[2], seed=seed, name=source)
    except ValueError as exc:
        raise DataError(f"{source}: {exc}") from None


def load_kg(source: str | Path) -> KnowledgeGraph:
    """A :class:`KnowledgeGraph` from a source (spec §2.2):

    - ``"umls"``: the bundled UMLS Semantic Network (§5), the union of its splits;
    - ``"synthetic"`` = ``synthetic_kg(2000, 10000, 24, seed=0)``; ``"synthetic:E:T:R[:SEED]"`` for other sizes;
    - a triples file (:func:`load_triples`);
    - a directory: the union of ``train``, ``valid`` and ``test`` with suffix ``.txt``, ``.tsv`` or ``.csv``;
    - ``hf:<id>[:<config>]``: every split via ``rlcore.data.load_records``; rows need ``head/relation/tail`` or
      ``subject/predicate/object`` columns, or a ``text`` column holding a tab-separated triple.

    Anything else raises :class:`DataError` listing the accepted forms; so does a malformed file.
    """
    text = str(source)
    if text == "umls":
        return _load_dir(UMLS_DIR, name="umls")
    if text == "synthetic":
        return synthetic_kg(2000, 10000, 24, seed=0, name="synthetic")
    if text.startswith("synthetic:"):
        return _load_synthetic(text)
    if text.startswith("hf:"):
        rows = _rlcore_data.load_records(text)
        return _kg_from_triples(_triples_from_rows(rows, text), text[3:].split(":")[0].split("/")[-1] or "kg")
    path = Path(text).expanduser()
    if path.is_dir():
        return _load_dir(path)
    if path.is_file() or path.suffix.lower() in _SUFFIXES or "/" in text or "\\" in text:
        return _kg_from_triples(load_triples(path), path.stem or "kg")
    raise DataError(f"unknown KG source {text!r}: use {_ACCEPTED}")


# -- the synthetic generator ----------------------------------------------------------------------------------------


def synthetic_kg(
    num_entities: int,
    num_triples: int,
    num_relations: int,
    *,
    exponent: float = 2.5,
    relation_skew: float = 1.0,
    seed: int = 0,
    name: str = "synthetic",
) -> KnowledgeGraph:
    """A Chung–Lu scale-free KG from ``numpy.random.default_rng(seed)`` (spec §2.2).

    Entity i has weight w_i = (i+1)^(−1/(exponent−1)). A random recursive tree (entity i ≥ 1 linked to ⌊U·i⌋,
    direction by a coin) makes the graph connected with every degree ≥ 1. Extra triples draw head and tail ∝ w
    (skipping head == tail) and relation j with p_j ∝ (j+1)^(−relation_skew). The first min(R, T) triples take
    relations 0…R−1 so every relation is used; duplicates are discarded until exactly T distinct triples exist.
    Names are ``e{i}`` and ``r{j}``. Raises ``ValueError`` if E < 2, R < 1, T < max(E−1, R), T > E·(E−1)·R/2 or
    exponent ≤ 2.
    """
    E, T, R = int(num_entities), int(num_triples), int(num_relations)
    if E < 2:
        raise ValueError(f"num_entities must be >= 2, got {E}")
    if R < 1:
        raise ValueError(f"num_relations must be >= 1, got {R}")
    if max(E - 1, R) > T:
        raise ValueError(
            f"num_triples must be >= max(num_entities - 1, num_relations) = {max(E - 1, R)}, got {T}"
        )
    if T > E * (E - 1) * R / 2:
        raise ValueError(f"num_triples must be <= E*(E-1)*R/2 = {E * (E - 1) * R // 2}, got {T}")
    if not exponent > 2:
        raise ValueError(f"exponent must be > 2, got {exponent}")

    rng = np.random.default_rng(seed)
    weights = np.arange(1, E + 1, dtype=np.float64) ** (-1.0 / (exponent - 1.0))
    entity_cdf = np.cumsum(weights)
    rel_cdf = np.cumsum(np.arange(1, R + 1, dtype=np.float64) ** (-float(relation_skew)))

    def draw(cdf: np.ndarray, size: int) -> np.ndarray:
        picks = np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right")
        return np.minimum(picks, len(cdf) - 1).astype(np.int64)

    # The random recursive tree: E − 1 distinct pairs, no self-loop.
    child = np.arange(1, E, dtype=np.int64)
    parent = np.floor(rng.random(E - 1) * child).astype(np.int64)
    coin = rng.random(E - 1) < 0.5
    heads = np.where(coin, parent, child)
    tails = np.where(coin, child, parent)
    forced = min(R, E - 1)
    rels = np.concatenate([np.arange(forced, dtype=np.int64), draw(rel_cdf, E - 1 - forced)])

    stride_t, stride_r = 1, E
    stride_h = E * R

    def keys(h: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
        return h * stride_h + r * stride_r + t * stride_t

    all_keys = [keys(heads, rels, tails)]
    seen = set(all_keys[0].tolist()) if R > E - 1 else None
    count = E - 1

    # Relations E−1 … R−1 (only when R > E − 1) each go to one more accepted triple.
    for j in range(E - 1, R):
        while True:
            h, t = draw(entity_cdf, 2).tolist()
            key = h * stride_h + j * stride_r + t
            if h != t and key not in seen:  # type: ignore[operator]
                seen.add(key)  # type: ignore[union-attr]
                all_keys.append(np.array([key], dtype=np.int64))
                count += 1
                break

    existing = np.sort(np.concatenate(all_keys))
    while count < T:
        need = T - count
        size = min(int(need * 1.25) + 64, 1 << 18)  # small batches keep temporaries (and the heap) small
        h, t, r = draw(entity_cdf, size), draw(entity_cdf, size), draw(rel_cdf, size)
        k = keys(h, r, t)[h != t]
        _, first = np.unique(k, return_index=True)
        k = k[np.sort(first)]  # distinct within the batch, in draw order
        pos = np.searchsorted(existing, k)
        pos = np.minimum(pos, len(existing) - 1)
        k = k[existing[pos] != k][:need]
        all_keys.append(k)
        existing = np.sort(np.concatenate([existing, k]))
        count += len(k)

    flat = np.concatenate(all_keys)
    del all_keys, existing
    ent_names = [f"e{i}" for i in range(E)]
    rel_names = [f"r{j}" for j in range(R)]
    triples: list[Triple] = []
    chunk = 65536  # bounded temporaries (decoded ids and the Python ints of tolist())
    for lo in range(0, len(flat), chunk):
        h_ids, rest = np.divmod(flat[lo : lo + chunk], stride_h)
        r_ids, t_ids = np.divmod(rest, stride_r)
        triples.extend(
            (ent_names[a], rel_names[b], ent_names[c])
            for a, b, c in zip(h_ids.tolist(), r_ids.tolist(), t_ids.tolist(), strict=True)
        )
    del flat
    return KnowledgeGraph(triples, name=name)


# -- queries ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A relational question: ``seeds`` (2–4 entities), the ``gold`` tree of KG triples connecting them (sorted),
    the ``question`` text and the sampling ``center``."""

    id: str
    seeds: tuple[str, ...]
    gold: tuple[Triple, ...]
    question: str
    center: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (triples as lists)."""
        return {
            "id": self.id,
            "seeds": list(self.seeds),
            "gold": [list(t) for t in self.gold],
            "question": self.question,
            "center": self.center,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Query:
        """The inverse of :meth:`to_dict`."""
        return cls(
            id=str(row["id"]),
            seeds=tuple(row["seeds"]),
            gold=tuple(tuple(t) for t in row["gold"]),  # type: ignore[misc]
            question=str(row["question"]),
            center=str(row["center"]),
        )


def question_text(seeds: Sequence[str]) -> str:
    """``How are {a} and {b} related?``, or ``How are {a}, {b}, …, and {z} related?`` (serial comma)."""
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ValueError(f"a question needs at least 2 seeds, got {len(seeds)}")
    if len(seeds) == 2:
        return f"How are {seeds[0]} and {seeds[1]} related?"
    return f"How are {', '.join(seeds[:-1])}, and {seeds[-1]} related?"


def _within(kg: KnowledgeGraph, source: int, targets: set[int], radius: int) -> bool:
    """Whether some target id is within ``radius`` undirected hops of ``source``."""
    if radius <= 0:
        return source in targets
    seen = {source}
    frontier = deque([(source, 0)])
    while frontier:
        u, d = frontier.popleft()
        if u in targets:
            return True
        if d == radius:
            continue
        for v in kg.indices[kg.indptr[u] : kg.indptr[u + 1]].tolist():
            if v not in seen:
                seen.add(v)
                frontier.append((v, d + 1))
    return False


def sample_queries(
    kg: KnowledgeGraph,
    n: int,
    *,
    num_seeds: int = 2,
    max_arm: int = 2,
    min_distance: int = 2,
    seed: int = 0,
) -> list[Query]:
    """Up to ``n`` queries whose gold subgraph is known (spec §2.2), from one ``random.Random(seed)``.

    Each attempt picks a center uniformly among the sorted entities of degree ≥ 1 and grows ``num_seeds`` arms of
    length ``randint(1, max_arm)``; every step moves to a uniformly chosen sorted neighbour not yet used in this
    attempt and records a uniformly chosen triple (from the sorted list) linking the two. An arm that cannot take a
    first step fails the attempt; one stuck later ends early. Arm ends are the seeds. An attempt whose seed set was
    seen before, or with two seeds fewer than ``min_distance`` hops apart, is rejected. After 50·n attempts it
    returns fewer, with a warning.
    """
    if num_seeds < 2:
        raise ValueError(f"num_seeds must be >= 2, got {num_seeds}")
    if max_arm < 1:
        raise ValueError(f"max_arm must be >= 1, got {max_arm}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    centers = [e for e in kg.entities if kg.degree(e) >= 1]
    queries: list[Query] = []
    seen_sets: set[frozenset[str]] = set()
    attempts = 0
    max_attempts = 50 * n
    while len(queries) < n and attempts < max_attempts and centers:
        attempts += 1
        center = rng.choice(centers)
        used = {center}
        gold: list[Triple] = []
        seeds: list[str] = []
        failed = False
        for _ in range(num_seeds):
            length = rng.randint(1, max_arm)
            current = center
            for step in range(length):
                options = [v for v in kg.neighbors(current) if v not in used]
                if not options:
                    failed = step == 0
                    break
                nxt = rng.choice(options)
                gold.append(rng.choice(kg.triples_between(current, nxt)))
                used.add(nxt)
                current = nxt
            if failed:
                break
            seeds.append(current)
        if failed:
            continue
        key = frozenset(seeds)
        if key in seen_sets:
            continue
        if min_distance > 1:
            ids = [kg.entity_index[s] for s in seeds]
            if any(_within(kg, a, set(ids[i + 1 :]), min_distance - 1) for i, a in enumerate(ids[:-1])):
                continue
        seen_sets.add(key)
        queries.append(
            Query(
                id=f"{kg.name}-{num_seeds}-{len(queries):05d}",
                seeds=tuple(seeds),
                gold=tuple(sorted(gold)),
                question=question_text(seeds),
                center=center,
            )
        )
    if len(queries) < n:
        warnings.warn(
            f"sample_queries: only {len(queries)} of {n} queries after {attempts} attempts on {kg.name} "
            f"(num_seeds={num_seeds}, max_arm={max_arm}, min_distance={min_distance})",
            stacklevel=2,
        )
    return queries


def split_queries(
    queries: Sequence[Query], *, mode: str = "random", test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Query], list[Query]]:
    """(train, test), both in input order (spec §2.2), with ``rng = random.Random(seed)``.

    - ``random``: test = the round(f·n) queries at the front of an ``rng.shuffle`` of the indices.
    - ``unseen_entities``: H = ``rng.sample`` of round(f·|pool|) of the sorted distinct seeds; a query with a seed
      in H goes to test.
    - ``unseen_relations``: the same, the pool being the sorted relations of the gold triples.
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"unknown split mode {mode!r}: use one of {', '.join(SPLIT_MODES)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = random.Random(seed)
    queries = list(queries)
    if mode == "random":
        order = list(range(len(queries)))
        rng.shuffle(order)
        test_ids = set(order[: round(test_fraction * len(queries))])
        is_test = [i in test_ids for i in range(len(queries))]
    else:
        if mode == "unseen_entities":
            items = [set(q.seeds) for q in queries]
        else:
            items = [{r for _, r, _ in q.gold} for q in queries]
        pool = sorted(set().union(*items)) if items else []
        held = set(rng.sample(pool, round(test_fraction * len(pool))))
        is_test = [bool(s & held) for s in items]
    train = [q for q, t in zip(queries, is_test, strict=True) if not t]
    test = [q for q, t in zip(queries, is_test, strict=True) if t]
    return train, test


# -- anonymisation ------------------------------------------------------------------------------------------------


def _renames(
    names: list[str], fraction: float, prefix: str, min_width: int, rng: random.Random
) -> dict[str, str]:
    count = len(names)
    k = round(fraction * count)
    chosen = sorted(rng.sample(names, k))
    new_ids = rng.sample(range(count), k)
    width = max(min_width, len(str(max(count - 1, 0))))
    return {old: f"{prefix}{new:0{width}d}" for old, new in zip(chosen, new_ids, strict=True)}


def anonymize_kg(
    kg: KnowledgeGraph, *, entity_fraction: float = 1.0, relation_fraction: float = 1.0, seed: int = 0
) -> tuple[KnowledgeGraph, dict[str, dict[str, str]]]:
    """The paper's "modified KG" with random identifiers (spec §2.2), using ``rng = random.Random(seed)``.

    round(f_e·E) of the sorted entity names are sampled and get new ids from ``rng.sample(range(E), k)`` in
    sorted-name order, written ``E`` + the id zero-padded to max(6, digits of E−1); relations likewise with ``R`` and
    width max(4, …). Returns the renamed KG (same structure) and ``{"entities": {old: new}, "relations": {old:
    new}}``. A new name colliding with a kept name raises ``ValueError``, as does a fraction outside [0, 1].
    """
    for label, f in (("entity_fraction", entity_fraction), ("relation_fraction", relation_fraction)):
        if not 0 <= f <= 1:
            raise ValueError(f"{label} must be in [0, 1], got {f}")
    rng = random.Random(seed)
    ent_map = _renames(kg.entities, entity_fraction, "E", 6, rng)
    rel_map = _renames(kg.relations, relation_fraction, "R", 4, rng)
    for kind, names, mapping in (("entity", kg.entities, ent_map), ("relation", kg.relations, rel_map)):
        kept = set(names) - set(mapping)
        clash = sorted(set(mapping.values()) & kept)
        if clash:
            raise ValueError(f"anonymised {kind} name {clash[0]!r} collides with a kept {kind} name")
    triples = [(ent_map.get(h, h), rel_map.get(r, r), ent_map.get(t, t)) for h, r, t in kg.triples]
    renamed = KnowledgeGraph(triples, name=f"{kg.name}-anon")
    return renamed, {"entities": ent_map, "relations": rel_map}


def rename_query(query: Query, mapping: Mapping[str, Mapping[str, str]]) -> Query:
    """``query`` with its seeds, gold triples and center renamed by an :func:`anonymize_kg` mapping; the question
    is rebuilt, the id kept."""
    ents = mapping.get("entities", {})
    rels = mapping.get("relations", {})
    seeds = tuple(ents.get(s, s) for s in query.seeds)
    gold = tuple(sorted((ents.get(h, h), rels.get(r, r), ents.get(t, t)) for h, r, t in query.gold))
    return Query(
        id=query.id,
        seeds=seeds,
        gold=gold,
        question=question_text(seeds),
        center=ents.get(query.center, query.center),
    )


# -- records ------------------------------------------------------------------------------------------------------


def build_records(
    kg: KnowledgeGraph,
    queries: Iterable[Query],
    retrieval: RetrievalConfig | None = None,
    *,
    style: str = "paper",
) -> list[dict[str, Any]]:
    """One JSON-serialisable record per query (spec §2.2): the training and evaluation rows.

    Columns: ``id``, ``kg``, ``num_seeds``, ``seeds``, ``question``, ``gold`` and ``triples`` (the retrieved
    subgraph, sorted) as ``[h, r, t]`` lists; ``entities`` (sorted, of ``triples`` plus seeds) with their full-KG
    ``degrees``; ``relations`` (sorted, of ``triples``) with their full-KG ``relation_counts``; ``num_kg_triples``;
    ``retrieval`` = ``{rho, rho_steps, m, bridges, connected, over_target, sizes}``; ``prompt`` (chat messages).
    """
    from unirel.prompts import build_prompt
    from unirel.retrieval import retrieve_subgraph

    records: list[dict[str, Any]] = []
    for query in queries:
        result = retrieve_subgraph(kg, list(query.seeds), retrieval)
        seeds = [str(s) for s in result.seeds]
        triples = sorted(tuple(t) for t in result.triples)
        entities = sorted({e for h, _, t in triples for e in (h, t)} | set(seeds))
        relations = sorted({r for _, r, _ in triples})
        records.append(
            {
                "id": query.id,
                "kg": kg.name,
                "num_seeds": len(seeds),
                "seeds": seeds,
                "question": query.question,
                "gold": [list(t) for t in query.gold],
                "triples": [list(t) for t in triples],
                "entities": entities,
                "degrees": [kg.degree(e) for e in entities],
                "relations": relations,
                "relation_counts": [kg.relation_count(r) for r in relations],
                "num_kg_triples": kg.num_triples,
                "retrieval": {
                    "rho": float(result.rho),
                    "rho_steps": int(result.rho_steps),
                    "m": None if result.m is None else int(result.m),
                    "bridges": [str(b) for b in result.bridges],
                    "connected": bool(result.connected),
                    "over_target": bool(result.over_target),
                    "sizes": {str(k): int(v) for k, v in dict(result.sizes).items()},
                },
                "prompt": build_prompt(query.question, triples, seeds, style=style),
            }
        )
    return records


def write_records(path: str | Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write records as JSONL, atomically (``rlcore.runs.atomic_write``)."""
    text = "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in records)
    return atomic_write(path, text)


def _jsonl_line_numbers(path: Path) -> list[int]:
    with open(path, encoding="utf-8") as fh:
        return [number for number, line in enumerate(fh, start=1) if line.strip()]


def read_records(path: str | Path, *, columns: Sequence[str] = RECORD_COLUMNS) -> list[dict[str, Any]]:
    """Records from a file written by :func:`write_records` (or any ``rlcore.data.load_records`` source).

    A row missing one of ``columns`` raises :class:`DataError` naming the column and the line.
    """
    rows = _rlcore_data.load_records(path)
    source = Path(str(path)).expanduser()
    if source.suffix.lower() == ".jsonl":
        lines = _jsonl_line_numbers(source)
    else:
        lines = list(range(1, len(rows) + 1))
    for row, line in zip(rows, lines, strict=False):
        for column in columns:
            if column not in row:
                raise DataError(f"{source}:{line}: missing column {column!r}")
    return rows
