"""The answer parser and the UniRel reward (spec §2.5, §4).

The paper (UniRel-R1, arXiv 2512.17043) trains with

    R = R_fmt + R_con + ½·(R_ent/x + R_rel/y),   x = 7, y = 6 (Table 5),

where, for a valid answer A (the distinct parsed triples, all from the listed subgraph) with intermediates I (its
non-seed entities):

- R_fmt = 1 (−1 for an invalid answer);
- R_con = :func:`connectivity_level` of the partition of the n seeds induced by A, from −⌊n/2⌋ (all apart) to
  ⌈n/2⌉ − 1 (all joined);
- R_ent = −Σ_{e∈I} ln(1 + deg e) (hub penalty, full-KG degrees);
- R_rel = −Σ_{(h,r,t)∈A} ln n_r / ln N (spec §3 fixes the sign; ``rel_sign="literal"`` uses −Σ ĨDF instead).

An invalid answer (parse error, or an edge not listed in its orientation) gets the minimum of every term:
R = −1 − ⌊n/2⌋. Everything here runs without torch; the TRL reward functions never raise.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from rlcore.rewards import completion_text
from unirel.config import CON_MODES, RewardConfig
from unirel.kg import Triple, hub_penalty, normalize_name, normalized_idf, relation_penalty
from unirel.prompts import PATH_CLOSE, PATH_OPEN, format_triple

__all__ = [
    "KGStats",
    "ParsedAnswer",
    "RewardBreakdown",
    "Stats",
    "component_rewards",
    "connectivity_level",
    "make_unirel_reward",
    "parse_answer",
    "score_answer",
    "score_record",
    "unirel_reward",
]


_MAX_ITEM_CHARS = 80
_STANDALONE_END = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(PATH_CLOSE) + r"(?![A-Za-z0-9_])")
_ITEM_SPLIT = re.compile(r";|\r\n|\r|\n")


# -- parsing --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedAnswer:
    """The triples of an answer block, or ``error`` (then ``triples == ()``)."""

    triples: tuple[Triple, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _fail(error: str) -> ParsedAnswer:
    return ParsedAnswer((), error)


def parse_answer(text: object) -> ParsedAnswer:
    """Parse the answer grammar of spec §4; total (never raises).

    1. The **last** ``PATH:`` (case-sensitive) opens the block, else ``missing PATH:``.
    2. The first standalone ``END`` after it closes the block (``END.`` and ``)END`` count, ``ENDING`` does not),
       else ``missing END``; later text is ignored.
    3. The body splits on ``;`` and line breaks; items are stripped, empty ones dropped; none left is ``empty path``.
    4. Each item is ``(head | relation | tail)``: starts with ``(``, ends with ``)``, exactly two ``|``, three
       non-empty normalised fields; otherwise ``malformed triple: <item, at most 80 chars>``.
    """
    if not isinstance(text, str):
        return _fail("not a string")
    start = text.rfind(PATH_OPEN)
    if start < 0:
        return _fail(f"missing {PATH_OPEN}")
    body_start = start + len(PATH_OPEN)
    close = _STANDALONE_END.search(text, body_start)
    if close is None:
        return _fail(f"missing {PATH_CLOSE}")
    body = text[body_start : close.start()]
    items = [item.strip() for item in _ITEM_SPLIT.split(body)]
    items = [item for item in items if item]
    if not items:
        return _fail("empty path")
    triples: list[Triple] = []
    for item in items:
        fields = item[1:-1].split("|") if len(item) >= 2 and item[0] == "(" and item[-1] == ")" else []
        names = [normalize_name(f) for f in fields]
        if len(names) != 3 or not all(names):
            return _fail(f"malformed triple: {item[:_MAX_ITEM_CHARS]}")
        triples.append((names[0], names[1], names[2]))
    return ParsedAnswer(tuple(triples))


# -- connectivity ---------------------------------------------------------------------------------------------------


def connectivity_level(component_sizes: Iterable[int], mode: str = "components") -> int:
    """R_con from the number of seeds in each part of the seed partition (a missing seed is its own part).

    With n = Σ sizes and κ = the number of parts: ``components`` gives (n − κ) − ⌊n/2⌋, ``largest`` gives
    max − 1 − ⌊n/2⌋. Both run from −⌊n/2⌋ (all apart) to ⌈n/2⌉ − 1 (all joined). Empty input, a part < 1 or an
    unknown mode raises ``ValueError``.
    """
    if mode not in CON_MODES:
        raise ValueError(f"unknown connectivity mode {mode!r}; expected one of {', '.join(CON_MODES)}")
    sizes = list(component_sizes)
    if not sizes:
        raise ValueError("connectivity_level needs at least one part")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"every part needs an integer size >= 1, got {size!r}")
    n = sum(int(s) for s in sizes)
    if mode == "components":
        return (n - len(sizes)) - n // 2
    return int(max(sizes)) - 1 - n // 2


# -- statistics -----------------------------------------------------------------------------------------------------


class Stats(Protocol):
    """What scoring needs from a KG: full-KG degrees, relation counts n_r and N. ``KnowledgeGraph`` fits."""

    @property
    def num_triples(self) -> int: ...

    def degree(self, entity: str) -> int: ...

    def relation_count(self, relation: str) -> int: ...


def _is_count(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class KGStats:
    """Full-KG statistics of the entities and relations a record shows (unknown names give 0)."""

    degrees: Mapping[str, int]
    relation_counts: Mapping[str, int]
    num_triples: int

    def degree(self, entity: str) -> int:
        return int(self.degrees.get(entity, 0))

    def relation_count(self, relation: str) -> int:
        return int(self.relation_counts.get(relation, 0))

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> KGStats:
        """From the record columns ``entities``/``degrees``, ``relations``/``relation_counts`` and
        ``num_kg_triples``. A missing column, mismatched lengths, a degree < 0, a count outside [1, N] or N < 1
        raise ``ValueError``."""
        return cls._build(
            record.get("entities"),
            record.get("degrees"),
            record.get("relations"),
            record.get("relation_counts"),
            record.get("num_kg_triples"),
        )

    @classmethod
    def _build(cls, entities: Any, degrees: Any, relations: Any, counts: Any, total: Any) -> KGStats:
        if not _is_count(total) or total < 1:
            raise ValueError(f"num_kg_triples must be an integer >= 1, got {total!r}")
        degree_map = _paired("entities", entities, "degrees", degrees)
        count_map = _paired("relations", relations, "relation_counts", counts)
        for entity, degree in degree_map.items():
            if not _is_count(degree) or degree < 0:
                raise ValueError(f"degree of {entity!r} must be an integer >= 0, got {degree!r}")
        for relation, count in count_map.items():
            if not _is_count(count) or not 1 <= count <= total:
                raise ValueError(f"count of {relation!r} must be an integer in [1, {total}], got {count!r}")
        return cls(
            {e: int(d) for e, d in degree_map.items()},
            {r: int(c) for r, c in count_map.items()},
            int(total),
        )


def _paired(keys_name: str, keys: Any, values_name: str, values: Any) -> dict[str, Any]:
    if not _is_list(keys) or not _is_list(values):
        raise ValueError(f"columns {keys_name!r} and {values_name!r} must be lists")
    if len(keys) != len(values):
        raise ValueError(f"{keys_name!r} has {len(keys)} entries but {values_name!r} has {len(values)}")
    out: dict[str, Any] = {}
    for key, value in zip(keys, values, strict=True):
        if not isinstance(key, str):
            raise ValueError(f"{keys_name!r} must hold strings, got {key!r}")
        out[normalize_name(key)] = value
    return out


def _is_list(value: object) -> bool:
    """An ordered collection (list, tuple, numpy array), not a string, mapping or set."""
    if isinstance(value, str | bytes | Mapping | AbstractSet):
        return False
    return isinstance(value, Sequence) or (hasattr(value, "__len__") and hasattr(value, "__getitem__"))


# -- scoring --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardBreakdown:
    """One scored answer: ``total = fmt + con + ½·(ent/x + rel/y)``.

    ``components`` is κ, the number of seed parts (n for an invalid answer); ``num_triples`` = |A| and
    ``intermediates`` = |I| (both 0 for an invalid answer); ``error`` says why an answer is invalid.
    """

    total: float
    fmt: float
    con: float
    ent: float
    rel: float
    valid: bool
    connected: bool
    components: int
    num_triples: int
    intermediates: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seed_list(seeds: Iterable[Any]) -> list[str]:
    if isinstance(seeds, str | bytes):
        raise ValueError("seeds must be a list of names, not one string")
    out = list(dict.fromkeys(normalize_name(s) for s in seeds))
    if len(out) < 2:
        raise ValueError(f"need at least 2 distinct seeds, got {len(out)}")
    return out


def _triple_list(triples: Iterable[Any]) -> list[Triple]:
    out: list[Triple] = []
    for t in triples:
        if isinstance(t, str | bytes) or not _is_list(t) or len(t) != 3:
            raise ValueError(f"a triple needs 3 fields (head, relation, tail), got {t!r}")
        out.append((normalize_name(t[0]), normalize_name(t[1]), normalize_name(t[2])))
    return out


def _seed_partition(seeds: Sequence[str], triples: Iterable[Triple]) -> list[int]:
    """Seeds per part of the partition the triples induce (a seed absent from the triples is its own part)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for head, _, tail in triples:
        a, b = find(head), find(tail)
        if a != b:
            parent[a] = b
    sizes: dict[str, int] = {}
    for seed in seeds:
        root = find(seed)
        sizes[root] = sizes.get(root, 0) + 1
    return list(sizes.values())


def _invalid(n: int, error: str) -> RewardBreakdown:
    con = float(-(n // 2))
    return RewardBreakdown(-1.0 + con, -1.0, con, 0.0, 0.0, False, False, n, 0, 0, error)


def score_answer(
    text: object,
    seeds: Iterable[Any],
    allowed: Iterable[Any],
    stats: Stats,
    config: RewardConfig | None = None,
) -> RewardBreakdown:
    """Score one answer with R = R_fmt + R_con + ½·(R_ent/x + R_rel/y) (spec §2.5).

    ``allowed`` is the triple list the prompt showed; ``stats`` gives full-KG degrees, relation counts and N.
    Seeds are normalised and de-duplicated; fewer than 2 raise ``ValueError``, as do inconsistent ``stats`` (a
    listed relation with count outside [1, N]). The answer text itself never raises: a parse error or a triple that
    is not listed in its orientation makes the answer invalid (fmt −1, con −⌊n/2⌋, ent = rel = 0).
    """
    cfg = config if config is not None else RewardConfig()
    seed_list = _seed_list(seeds)
    allowed_set = set(_triple_list(allowed))
    n = len(seed_list)
    parsed = parse_answer(text)
    if not parsed.ok:
        return _invalid(n, parsed.error or "invalid answer")
    for triple in parsed.triples:
        if triple not in allowed_set:
            reason = (
                "reversed edge"
                if (triple[2], triple[1], triple[0]) in allowed_set
                else "edge not in the list"
            )
            return _invalid(n, f"{reason}: {format_triple(triple)[:_MAX_ITEM_CHARS]}")

    answer = list(dict.fromkeys(parsed.triples))
    seed_set = set(seed_list)
    entities = dict.fromkeys(e for h, _, t in answer for e in (h, t))
    intermediates = [e for e in entities if e not in seed_set]
    sizes = _seed_partition(seed_list, answer)
    con = float(connectivity_level(sizes, cfg.con_mode))

    ent_terms = [hub_penalty(stats.degree(e)) for e in intermediates]
    total_n = stats.num_triples
    rel_cost = relation_penalty if cfg.rel_sign == "fixed" else normalized_idf
    rel_terms = [rel_cost(stats.relation_count(r), total_n) for _, r, _ in answer]
    if cfg.aggregate == "sum":
        ent = -math.fsum(ent_terms)
        rel = -math.fsum(rel_terms)
    else:
        ent = -math.fsum(ent_terms) / len(ent_terms) if ent_terms else 0.0
        rel = -math.fsum(rel_terms) / len(rel_terms)
    ent, rel = ent + 0.0, rel + 0.0  # no negative zeros
    fmt = 1.0
    total = fmt + con + 0.5 * (ent / cfg.x + rel / cfg.y)
    return RewardBreakdown(
        total=total,
        fmt=fmt,
        con=con,
        ent=ent,
        rel=rel,
        valid=True,
        connected=len(sizes) == 1,
        components=len(sizes),
        num_triples=len(answer),
        intermediates=len(intermediates),
        error=None,
    )


def score_record(
    record: Mapping[str, Any], completion: Any, config: RewardConfig | None = None
) -> RewardBreakdown:
    """:func:`score_answer` of a completion (a string or chat messages) against a record's columns (``seeds``,
    ``triples`` and the :meth:`KGStats.from_record` columns). Inconsistent columns raise ``ValueError``."""
    return _score_row(
        completion,
        record.get("seeds"),
        record.get("triples"),
        record.get("entities"),
        record.get("degrees"),
        record.get("relations"),
        record.get("relation_counts"),
        record.get("num_kg_triples"),
        config if config is not None else RewardConfig(),
    )


def _score_row(
    completion: Any,
    seeds: Any,
    triples: Any,
    entities: Any,
    degrees: Any,
    relations: Any,
    counts: Any,
    total: Any,
    config: RewardConfig,
) -> RewardBreakdown:
    stats = KGStats._build(entities, degrees, relations, counts, total)
    if not _is_list(seeds):
        raise ValueError("column 'seeds' must be a list")
    if not _is_list(triples):
        raise ValueError("column 'triples' must be a list")
    seed_list = _seed_list(seeds)
    allowed = _triple_list(triples)
    missing = [s for s in seed_list if s not in stats.degrees]
    missing += [e for h, _, t in allowed for e in (h, t) if e not in stats.degrees]
    if missing:
        raise ValueError(f"entity {missing[0]!r} is not in column 'entities'")
    unknown = [r for _, r, _ in allowed if r not in stats.relation_counts]
    if unknown:
        raise ValueError(f"relation {unknown[0]!r} is not in column 'relations'")
    return score_answer(completion_text(completion), seed_list, allowed, stats, config)


# -- TRL reward functions -------------------------------------------------------------------------------------------

_COLUMNS = ("seeds", "triples", "entities", "degrees", "relations", "relation_counts", "num_kg_triples")

RewardFunction = Callable[..., list[float | None]]


def _breakdowns(
    completions: Any, kwargs: Mapping[str, Any], config: RewardConfig
) -> list[RewardBreakdown | None]:
    """One breakdown per completion; None for a row whose columns are missing or inconsistent. Never raises."""
    try:
        rows = list(completions)
    except Exception:
        return []
    columns: list[list[Any]] = []
    for name in _COLUMNS:
        try:
            values = kwargs.get(name)
            values = list(values) if values is not None and not isinstance(values, str | bytes) else []
        except Exception:
            values = []
        columns.append(values + [None] * (len(rows) - len(values)))
    out: list[RewardBreakdown | None] = []
    for i, completion in enumerate(rows):
        try:
            out.append(_score_row(completion, *(col[i] for col in columns), config))
        except Exception:
            out.append(None)
    return out


def make_unirel_reward(config: RewardConfig | None = None) -> RewardFunction:
    """The TRL reward ``unirel_reward(prompts, completions, **columns) -> list[float | None]``:
    R = R_fmt + R_con + ½·(R_ent/x + R_rel/y) per completion.

    It reads the record columns ``seeds``, ``triples``, ``entities``, ``degrees``, ``relations``,
    ``relation_counts`` and ``num_kg_triples``; completions may be strings or chat messages. A row with missing
    or inconsistent columns gives None; it never raises.
    """
    cfg = config if config is not None else RewardConfig()

    def unirel_reward(prompts: Any = None, completions: Any = (), **kwargs: Any) -> list[float | None]:
        return [None if b is None else b.total for b in _breakdowns(completions, kwargs, cfg)]

    unirel_reward.__name__ = unirel_reward.__qualname__ = "unirel_reward"
    return unirel_reward


unirel_reward = make_unirel_reward()
"""The reward with the default :class:`~unirel.config.RewardConfig` (x = 7, y = 6, sums, fixed sign)."""


def component_rewards(config: RewardConfig | None = None) -> list[RewardFunction]:
    """The breakdown's parts as TRL rewards ``unirel_fmt``, ``unirel_con``, ``unirel_ent`` and ``unirel_rel``
    (raw R_fmt, R_con, R_ent, R_rel). Training adds them with weight 0 so TRL logs ``rewards/unirel_*/mean``."""
    cfg = config if config is not None else RewardConfig()

    def make(field: str) -> RewardFunction:
        def reward(prompts: Any = None, completions: Any = (), **kwargs: Any) -> list[float | None]:
            return [
                None if b is None else float(getattr(b, field)) for b in _breakdowns(completions, kwargs, cfg)
            ]

        reward.__name__ = reward.__qualname__ = f"unirel_{field}"
        return reward

    return [make(field) for field in ("fmt", "con", "ent", "rel")]
