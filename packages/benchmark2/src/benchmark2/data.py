"""Per-item and aggregate benchmark results: the data model, its loaders and the bundled data.

`ItemResults` holds one `[models, items]` score matrix per benchmark; `ScoreTable` holds per-benchmark model
means. Long tables (CSV, JSONL, parquet, JSON), lm-evaluation-harness ``--log_samples`` folders and
leaderboard-style score files load into them. Every problem a user can fix raises `rlcore.errors.DataError`
(a ``ValueError``) naming the row, key, path or line; a missing path raises `DataFileNotFound` (also a
``FileNotFoundError``), so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import fnmatch
import json
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlcore.errors import DataError, DataFileNotFound

__all__ = [
    "BenchmarkMatrix",
    "DataError",
    "DataFileNotFound",
    "ItemResults",
    "ModelInfo",
    "ScoreTable",
    "infer_family_size",
    "paper_family_cad",
    "paper_pairwise_tau",
    "paper_scores",
    "paper_table1",
    "read_items",
    "read_lm_eval",
    "read_scores",
    "synthetic_results",
    "write_items",
]

DEFAULT_DOMAIN = "all"
"""The domain of a benchmark whose input names none: one shared domain, as ``cbrc(domains=None)`` assumes."""

_LONG_COLUMNS = ("model", "family", "size", "benchmark", "domain", "item_id", "score")
_MISSING_MODES = ("error", "zero", "drop")
_DATA_DIR = Path(__file__).with_name("data")  # the bundled-files folder next to this module


# -- small helpers ---------------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    """None, NaN or an empty string: an absent optional field in any of the table formats."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([bBmM]?)\s*$")


def _parse_size(value: Any) -> float | None:
    """A model size as a number of billions: numbers pass, ``"7B"`` → 7.0, ``"135M"`` → 0.135."""
    if _is_blank(value):
        return None
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"size {value!r} is not a number")
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    else:
        match = _SIZE_RE.match(str(value))
        if match is None:
            raise ValueError(f"size {value!r} is not a number or a string such as '7B' or '135M'")
        number = float(match.group(1))
        if match.group(2).lower() == "m":
            number /= 1000.0
    if not np.isfinite(number):
        raise ValueError(f"size {value!r} is not finite")
    return number


def _check_missing(missing: str) -> None:
    if missing not in _MISSING_MODES:
        raise DataError(f"missing must be one of {', '.join(_MISSING_MODES)}, got {missing!r}")


def _require_path(path: str | Path, what: str = "data file") -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataFileNotFound(f"{what} not found: {path}")
    return path


def _family_rows(models: Sequence[ModelInfo]) -> dict[str, list[int]]:
    """Family -> row indices, strongest (largest size) first; families in order of their first member."""
    groups: dict[str, list[int]] = {}
    for row, info in enumerate(models):
        key = info.family if info.family is not None else info.name  # a model without family is its own
        groups.setdefault(key, []).append(row)
    # sizes are unique within a family (validated), so a stable sort on -size is well defined; a singleton
    # without a size keeps its place
    return {
        key: sorted(rows, key=lambda r: -(models[r].size if models[r].size is not None else 0.0))
        for key, rows in groups.items()
    }


def _validate_models(models: Sequence[ModelInfo]) -> None:
    seen: set[str] = set()
    sizes: dict[str, dict[float, str]] = {}
    for info in models:
        if info.name in seen:
            raise DataError(f"duplicate model {info.name!r}")
        seen.add(info.name)
        if info.family is None:
            continue
        if info.size is None:
            raise DataError(f"model {info.name!r} belongs to family {info.family!r} but has no size")
        other = sizes.setdefault(info.family, {}).get(info.size)
        if other is not None:
            raise DataError(
                f"models {other!r} and {info.name!r} of family {info.family!r} have the same size {info.size:g}"
            )
        sizes[info.family][info.size] = info.name


def _as_model(value: ModelInfo | str) -> ModelInfo:
    return value if isinstance(value, ModelInfo) else ModelInfo(str(value))


# -- data model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """A model: its name, optional family and size (larger = stronger within the family; billions advised)."""

    name: str
    family: str | None = None
    size: float | None = None


@dataclass(frozen=True, eq=False)
class BenchmarkMatrix:
    """One benchmark's per-item scores: ``scores[model, item]`` fractions in [0, 1], rows in model order.

    ``item_info`` (optional) has one row per item with extra per-item columns (difficulty, …).
    """

    name: str
    domain: str
    item_ids: tuple[str, ...]
    scores: np.ndarray
    item_info: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores, dtype=np.float64)
        if scores.ndim != 2:
            raise DataError(
                f"benchmark {self.name!r}: scores must be 2-D [models, items], got {scores.ndim}-D"
            )
        if not np.isfinite(scores).all():
            raise DataError(f"benchmark {self.name!r}: scores contain NaN or inf")
        if scores.size and (scores.min() < 0.0 or scores.max() > 1.0):
            raise DataError(f"benchmark {self.name!r}: scores must lie in [0, 1]")
        item_ids = tuple(str(i) for i in self.item_ids)
        if len(item_ids) != scores.shape[1]:
            raise DataError(
                f"benchmark {self.name!r}: {len(item_ids)} item ids for {scores.shape[1]} score columns"
            )
        if len(set(item_ids)) != len(item_ids):
            raise DataError(f"benchmark {self.name!r}: duplicate item ids")
        if self.item_info is not None and len(self.item_info) != len(item_ids):
            raise DataError(
                f"benchmark {self.name!r}: item_info has {len(self.item_info)} rows, not {len(item_ids)}"
            )
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "item_ids", item_ids)

    @property
    def n_items(self) -> int:
        """The number of items (columns)."""
        return self.scores.shape[1]


class ItemResults:
    """Per-item results of several models on several benchmarks.

    ``models`` (a tuple of `ModelInfo`) sets the row order of every `BenchmarkMatrix` in ``benchmarks`` (an
    ordered ``name -> BenchmarkMatrix`` dict).
    """

    def __init__(
        self,
        models: Sequence[ModelInfo | str],
        benchmarks: Mapping[str, BenchmarkMatrix] | Iterable[BenchmarkMatrix],
    ) -> None:
        self.models: tuple[ModelInfo, ...] = tuple(_as_model(m) for m in models)
        _validate_models(self.models)
        items = benchmarks.values() if isinstance(benchmarks, Mapping) else benchmarks
        self.benchmarks: dict[str, BenchmarkMatrix] = {}
        for matrix in items:
            if matrix.name in self.benchmarks:
                raise DataError(f"duplicate benchmark {matrix.name!r}")
            if matrix.scores.shape[0] != len(self.models):
                raise DataError(
                    f"benchmark {matrix.name!r}: {matrix.scores.shape[0]} score rows for {len(self.models)} models"
                )
            self.benchmarks[matrix.name] = matrix

    def __repr__(self) -> str:
        return f"ItemResults({len(self.models)} models, {len(self.benchmarks)} benchmarks)"

    @property
    def model_names(self) -> tuple[str, ...]:
        """Model names in row order."""
        return tuple(m.name for m in self.models)

    def families(self, models: Sequence[str] | None = None) -> dict[str, list[int]]:
        """Family -> row indices, strongest (largest) first; families in order of their first member.

        Models without a family are singletons keyed by their own name. With ``models`` (names), only those
        models count and the indices refer to positions in that sequence.
        """
        if models is None:
            return _family_rows(self.models)
        by_name = {m.name: m for m in self.models}
        unknown = [name for name in models if name not in by_name]
        if unknown:
            raise DataError(f"unknown model(s): {', '.join(map(repr, unknown))}")
        return _family_rows([by_name[name] for name in models])

    def score_table(self) -> ScoreTable:
        """The aggregate view: each model's mean item score per benchmark."""
        frame = pd.DataFrame(
            [m.scores.mean(axis=1) for m in self.benchmarks.values()],
            index=pd.Index(list(self.benchmarks), name="benchmark"),
            columns=pd.Index(list(self.model_names), name="model"),
        )
        domains = {name: m.domain for name, m in self.benchmarks.items()}
        return ScoreTable(frame, domains, self.models)

    def subset(
        self,
        models: Sequence[str] | None = None,
        benchmarks: Sequence[str] | None = None,
        items: Mapping[str, Sequence[int] | np.ndarray] | None = None,
    ) -> ItemResults:
        """A copy restricted to ``models`` (names, in the given order), ``benchmarks`` (names) and, per
        benchmark in ``items``, the given item indices (other benchmarks keep all their items)."""
        names = self.model_names
        if models is None:
            rows = np.arange(len(names))
        else:
            index = {n: i for i, n in enumerate(names)}
            unknown = [m for m in models if m not in index]
            if unknown:
                raise DataError(f"unknown model(s): {', '.join(map(repr, unknown))}")
            rows = np.array([index[m] for m in models], dtype=np.int64)
        keep = list(self.benchmarks) if benchmarks is None else list(benchmarks)
        unknown = [b for b in keep if b not in self.benchmarks]
        unknown += [b for b in (items or {}) if b not in self.benchmarks]
        if unknown:
            raise DataError(f"unknown benchmark(s): {', '.join(map(repr, unknown))}")
        out = []
        for name in keep:
            matrix = self.benchmarks[name]
            cols = np.arange(matrix.n_items)
            if items is not None and name in items:
                cols = np.asarray(items[name], dtype=np.int64).reshape(-1)
                if cols.size and (cols.min() < -matrix.n_items or cols.max() >= matrix.n_items):
                    raise DataError(f"benchmark {name!r}: item index out of range")
            info = None if matrix.item_info is None else matrix.item_info.iloc[cols].reset_index(drop=True)
            out.append(
                BenchmarkMatrix(
                    name,
                    matrix.domain,
                    tuple(matrix.item_ids[c] for c in cols),
                    matrix.scores[np.ix_(rows, cols)],
                    info,
                )
            )
        return ItemResults([self.models[r] for r in rows], out)

    def to_frame(self) -> pd.DataFrame:
        """The long table: one row per (model, benchmark, item), columns ``model, family, size, benchmark,
        domain, item_id, score`` plus any ``item_info`` columns; rows benchmark by benchmark, model-major."""
        n_models = len(self.models)
        parts = []
        for name, matrix in self.benchmarks.items():
            n = matrix.n_items
            part = {
                "model": np.repeat(np.array(self.model_names, dtype=object), n),
                "family": np.repeat(np.array([m.family for m in self.models], dtype=object), n),
                "size": np.repeat(np.array([np.nan if m.size is None else m.size for m in self.models]), n),
                "benchmark": name,
                "domain": matrix.domain,
                "item_id": np.tile(np.array(matrix.item_ids, dtype=object), n_models),
                "score": matrix.scores.reshape(-1),
            }
            frame = pd.DataFrame(part)
            if matrix.item_info is not None:
                for col in matrix.item_info.columns:
                    if col not in frame.columns:
                        frame[col] = np.tile(matrix.item_info[col].to_numpy(), n_models)
            parts.append(frame)
        if not parts:
            return pd.DataFrame(columns=list(_LONG_COLUMNS))
        return pd.concat(parts, ignore_index=True)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, missing: str = "error") -> ItemResults:
        """Build from a long table (see the module docs for the rules); ``missing`` is ``error``, ``zero``
        or ``drop`` for absent (model, benchmark, item) cells."""
        return _from_long(df, missing=missing)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], *, missing: str = "error") -> ItemResults:
        """Build from long-table rows given as dicts."""
        return _from_long(pd.DataFrame.from_records(list(records)), missing=missing)


@dataclass(frozen=True, eq=False)
class ScoreTable:
    """Aggregate scores: ``scores`` has index = benchmarks and columns = model names, complete fractions.

    ``domains`` maps benchmark -> domain; ``models`` holds a `ModelInfo` per column, in column order.
    """

    scores: pd.DataFrame
    domains: dict[str, str] = field(default_factory=dict)
    models: tuple[ModelInfo, ...] = ()

    def __post_init__(self) -> None:
        scores = self.scores.copy()
        scores.index = pd.Index([str(b) for b in scores.index], name="benchmark")
        scores.columns = pd.Index([str(m) for m in scores.columns], name="model")
        if scores.index.has_duplicates or scores.columns.has_duplicates:
            raise DataError("a score table needs unique benchmarks and models")
        values = scores.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise DataError("a score table must be complete: it holds NaN or inf")
        if values.size and (values.min() < 0.0 or values.max() > 1.0):
            raise DataError("scores must be fractions in [0, 1] (divide percentages by 100)")
        scores = scores.astype(np.float64)
        domains = {b: str(self.domains.get(b, DEFAULT_DOMAIN)) for b in scores.index}
        models = tuple(_as_model(m) for m in self.models) or tuple(ModelInfo(m) for m in scores.columns)
        if tuple(m.name for m in models) != tuple(scores.columns):
            raise DataError("ScoreTable models must match the score columns, in order")
        _validate_models(models)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "domains", domains)
        object.__setattr__(self, "models", models)

    @property
    def model_names(self) -> tuple[str, ...]:
        """Model names in column order."""
        return tuple(self.scores.columns)

    @property
    def benchmarks(self) -> list[str]:
        """Benchmark names in row order."""
        return list(self.scores.index)

    def families(self) -> dict[str, list[int]]:
        """Family -> column indices, strongest first (as `ItemResults.families`)."""
        return _family_rows(self.models)

    def subset(
        self, models: Sequence[str] | None = None, benchmarks: Sequence[str] | None = None
    ) -> ScoreTable:
        """A copy restricted to the given model and benchmark names (in the given order)."""
        cols = list(self.scores.columns) if models is None else list(models)
        rows = list(self.scores.index) if benchmarks is None else list(benchmarks)
        unknown = [m for m in cols if m not in self.scores.columns] + [
            b for b in rows if b not in self.scores.index
        ]
        if unknown:
            raise DataError(f"unknown model(s) or benchmark(s): {', '.join(map(repr, unknown))}")
        by_name = {m.name: m for m in self.models}
        return ScoreTable(
            self.scores.loc[rows, cols], {b: self.domains[b] for b in rows}, tuple(by_name[m] for m in cols)
        )

    def ranks(self) -> pd.DataFrame:
        """Per benchmark, each model's rank (1 = best; ties share the minimum rank)."""
        return self.scores.rank(axis=1, ascending=False, method="min").astype(np.int64)


# -- long tables -----------------------------------------------------------------------------------


def _row_label(df: pd.DataFrame, pos: int) -> str:
    row = df.iloc[pos]
    keys = ", ".join(f"{k}={row[k]!r}" for k in ("model", "benchmark", "item_id") if k in df.columns)
    return f"row {pos} ({keys})"


def _scores_from(df: pd.DataFrame, column: str) -> np.ndarray:
    raw = df[column]
    if raw.dtype == bool:
        return raw.to_numpy(dtype=np.float64)
    if raw.dtype == object:
        # bools inside an object column (JSON rows mixing types) are 0/1, not errors
        raw = raw.map(lambda v: float(v) if isinstance(v, bool | np.bool_) else v)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{_row_label(df, pos)}: score {df[column].iloc[pos]!r} is not a number in [0, 1] "
            "(divide percentages by 100)"
        )
    return values


def _first_conflict(df: pd.DataFrame, key: str, value: pd.Series) -> int | None:
    """Position of the first row whose ``value`` disagrees with an earlier row of the same ``key``."""
    pairs = pd.DataFrame({"k": df[key].to_numpy(), "v": value.to_numpy()})
    distinct = pairs.drop_duplicates()
    clash = distinct.duplicated("k")
    if not clash.any():
        return None
    return int(distinct.index[np.flatnonzero(clash.to_numpy())[0]])


def _from_long(df: pd.DataFrame, *, missing: str) -> ItemResults:
    _check_missing(missing)
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"a long table must be a DataFrame, got {type(df).__name__}")
    df = df.reset_index(drop=True)
    score_col = "score" if "score" in df.columns else ("correct" if "correct" in df.columns else None)
    required = ["model", "benchmark", "item_id"]
    absent = [c for c in required if c not in df.columns] + (["score"] if score_col is None else [])
    if absent:
        raise DataError(
            f"long table: missing required column(s) {', '.join(absent)} (have: {', '.join(map(str, df.columns))})"
        )
    if df.empty:
        raise DataError("long table: no rows")
    for col in required:
        blank = df[col].map(_is_blank).to_numpy(dtype=bool)
        if blank.any():
            raise DataError(f"{_row_label(df, int(np.flatnonzero(blank)[0]))}: empty {col}")
    model = df["model"].astype(str)
    bench = df["benchmark"].astype(str)
    item = df["item_id"].astype(str)
    keyed = pd.DataFrame({"model": model, "benchmark": bench, "item_id": item})
    scores = _scores_from(df, score_col)

    dup = keyed.duplicated().to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise DataError(
            f"{_row_label(df, pos)}: duplicate (model, benchmark, item_id) "
            f"({model.iloc[pos]!r}, {bench.iloc[pos]!r}, {item.iloc[pos]!r})"
        )

    # per-model family and size: consistent across rows, parsed once per distinct raw value
    if "family" in df.columns:
        family = df["family"].map(lambda v: None if _is_blank(v) else str(v))
    else:
        family = pd.Series([None] * len(df), dtype=object)
    if "size" in df.columns:
        parsed: dict[Any, float | None] = {}
        for value in pd.unique(df["size"]):
            try:
                parsed[value] = _parse_size(value)
            except ValueError as exc:
                pos = int(np.flatnonzero((df["size"] == value).to_numpy())[0])
                raise DataError(f"{_row_label(df, pos)}: {exc}") from None
        size = df["size"].map(lambda v: parsed.get(v) if not _is_blank(v) else None)
        size = size.astype(object).where(size.notna(), None)
    else:
        size = pd.Series([None] * len(df), dtype=object)
    frame = pd.DataFrame({"model": model})
    for label, values in (("family", family), ("size", size)):
        pos = _first_conflict(
            frame, "model", values.astype(object).map(lambda v: "\x00none" if v is None else v)
        )
        if pos is not None:
            raise DataError(f"{_row_label(df, pos)}: model {model.iloc[pos]!r} has two {label} values")
    if "domain" in df.columns:
        domain = df["domain"].map(lambda v: DEFAULT_DOMAIN if _is_blank(v) else str(v))
    else:
        domain = pd.Series([DEFAULT_DOMAIN] * len(df), dtype=object)
    pos = _first_conflict(pd.DataFrame({"benchmark": bench}), "benchmark", domain)
    if pos is not None:
        raise DataError(f"{_row_label(df, pos)}: benchmark {bench.iloc[pos]!r} has two domains")

    mcodes, mnames = pd.factorize(model)
    first_row = np.unique(mcodes, return_index=True)[1]
    models = [
        ModelInfo(str(mnames[i]), family.iloc[first_row[i]], size.iloc[first_row[i]])
        for i in range(len(mnames))
    ]
    for info, row in zip(models, first_row, strict=True):
        if info.family is not None and info.size is None:
            raise DataError(
                f"{_row_label(df, int(row))}: model {info.name!r} of family {info.family!r} has no size"
            )
    _validate_models(models)

    # extra columns constant per (benchmark, item) become item_info; others are ignored
    extra = [c for c in df.columns if c not in (*_LONG_COLUMNS, "correct", score_col)]
    info_cols = []
    if extra:
        grouped = df[extra].groupby([bench, item], sort=False)
        counts = grouped.nunique(dropna=False)
        info_cols = [c for c in extra if (counts[c] <= 1).all()]

    bcodes, bnames = pd.factorize(bench)
    order = np.argsort(bcodes, kind="stable")
    bounds = np.searchsorted(bcodes[order], np.arange(len(bnames) + 1))
    matrices = []
    n_missing, first_missing = 0, None
    for b, name in enumerate(bnames):
        rows = order[bounds[b] : bounds[b + 1]]
        icodes, inames = pd.factorize(item.to_numpy()[rows])
        mat = np.full((len(mnames), len(inames)), np.nan)
        mat[mcodes[rows], icodes] = scores[rows]
        hole = np.isnan(mat)
        keep_cols = np.arange(len(inames))
        if hole.any():
            if missing == "error":
                n_missing += int(hole.sum())
                if first_missing is None:
                    r, c = np.argwhere(hole)[0]
                    first_missing = (str(mnames[r]), str(name), str(inames[c]))
                continue
            if missing == "zero":
                mat[hole] = 0.0
            else:
                keep_cols = np.flatnonzero(~hole.any(axis=0))
                if keep_cols.size == 0:
                    raise DataError(
                        f"benchmark {name!r}: no item has a score from every model (missing='drop')"
                    )
                mat = mat[:, keep_cols]
        info = None
        if info_cols:
            first = np.unique(icodes, return_index=True)[1]
            info = df[info_cols].iloc[rows[first[keep_cols]]].reset_index(drop=True)
            info = info.loc[:, info.notna().any(axis=0)]
            if info.shape[1] == 0:
                info = None
        item_ids = tuple(str(inames[c]) for c in keep_cols)
        matrices.append(BenchmarkMatrix(str(name), str(domain.iloc[rows[0]]), item_ids, mat, info))
    if n_missing:
        m, b, i = first_missing
        raise DataError(
            f"long table: {n_missing} missing (model, benchmark, item) cell(s), first ({m!r}, {b!r}, {i!r}); "
            "use missing='zero' or 'drop'"
        )
    return ItemResults(models, matrices)


def _read_table(path: Path) -> pd.DataFrame:
    """A DataFrame from a ``.csv``, ``.jsonl``, ``.parquet`` or ``.json`` (a list of records) file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file") from None
    except Exception as exc:  # pandas/pyarrow raise many unrelated classes for a malformed file
        raise DataError(f"{path}: unreadable {suffix[1:]} file ({exc})") from None
    if suffix == ".jsonl":
        from rlcore.data import load_records

        return pd.DataFrame.from_records(load_records(path))  # errors name PATH:LINE
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: not valid JSON") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path}: a .json table must hold a list of objects")
        return pd.DataFrame.from_records(data)
    raise DataError(
        f"{path}: unsupported file type {suffix or '(none)'} (use .csv, .jsonl, .parquet or .json)"
    )


def read_items(path: str | Path, *, missing: str = "error") -> ItemResults:
    """Read a long table from ``.csv``, ``.jsonl``, ``.parquet`` or ``.json`` (a list of records)."""
    _check_missing(missing)
    path = _require_path(path)
    frame = _read_table(path)
    try:
        return _from_long(frame, missing=missing)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN; an absent optional field reads back the same
    return value


def write_items(results: ItemResults, path: str | Path) -> Path:
    """Write ``results`` as a long table (``.csv``, ``.jsonl`` or ``.parquet``, by suffix); returns the path."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".parquet"):
        raise DataError(f"{path}: write_items writes .csv, .jsonl or .parquet, not {suffix or '(none)'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = results.to_frame()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        # json.dumps keeps floats exact (repr); DataFrame.to_json rounds to 10 digits by default
        columns = list(frame.columns)
        with open(path, "w", encoding="utf-8") as fh:
            for row in frame.itertuples(index=False, name=None):
                record = {c: _json_value(v) for c, v in zip(columns, row, strict=True)}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


# -- model names -----------------------------------------------------------------------------------

_SIZE_TOKEN = re.compile(r"(?<![^-_])(\d+(?:\.\d+)?)([bBmM])(?=[-_]|$)")


def infer_family_size(name: str) -> tuple[str | None, float | None]:
    """Family and size (billions) from a model name such as ``Qwen/Qwen2.5-72B-Instruct``.

    The first ``<number>B``/``<number>M`` token of the last path part bounded by ``-``, ``_`` or an end is the
    size; the family is the name without it and the separator before it (after it, when it comes first).
    ``Mixtral-8x7B`` and ``gpt2`` give ``(None, None)``.
    """
    name = str(name)
    prefix, slash, last = name.rpartition("/")
    match = _SIZE_TOKEN.search(last)
    if match is None:
        return None, None
    size = float(match.group(1))
    if match.group(2).lower() == "m":
        size /= 1000.0
    start, end = match.span()
    # drop the separator before the token, or after it when the token comes first
    rest = last[: start - 1] + last[end:] if start > 0 else last[end + 1 :]
    if not rest:
        return None, None
    return prefix + slash + rest, size


# -- lm-evaluation-harness -------------------------------------------------------------------------

_SAMPLES_RE = re.compile(r"^samples_(.+)_([^_]+)\.jsonl$")
_RESULTS_RE = re.compile(r"^results_(.+)\.json$")


def _lm_eval_value(value: Any, where: str) -> float:
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if not (0.0 <= number <= 1.0):
            raise DataError(f"{where}: metric value {value!r} is outside [0, 1]")
        return number
    if isinstance(value, list) and value and all(isinstance(v, bool | int | float) for v in value):
        parts = [_lm_eval_value(v, where) for v in value]
        return float(np.mean(parts))
    raise DataError(f"{where}: metric value {value!r} is not a bool, a number in [0, 1] or a list of them")


def _model_name(folder: Path) -> str:
    results = sorted(
        ((m.group(1), p) for p in folder.glob("results_*.json") if (m := _RESULTS_RE.match(p.name))),
        key=lambda t: t[0],
    )
    for _stamp, path in reversed(results):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            continue  # an unreadable results file cannot name the model; fall back to an older one or the folder
        if isinstance(data, dict) and isinstance(data.get("model_name"), str) and data["model_name"]:
            return data["model_name"]
        break  # the newest file decides; without model_name, use the folder name
    return folder.name.replace("__", "/")


def _match(name: str, mapping: Mapping[str, Any]) -> Any:
    """``mapping[name]``, else the value of the first pattern that matches, else None."""
    if name in mapping:
        return mapping[name]
    for pattern, value in mapping.items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    return None


def read_lm_eval(
    path: str | Path,
    *,
    metric: str | Mapping[str, str] | None = None,
    filter: str | None = None,  # the harness's own word, though it shadows the builtin
    tasks: Sequence[str] | None = None,
    benchmark_map: Mapping[str, str] | None = None,
    domains: Mapping[str, str] | None = None,
    families: Mapping[str, Sequence[str]] | None = None,
    infer_families: bool = False,
    missing: str = "error",
) -> ItemResults:
    """Per-item results from an lm-evaluation-harness ``--output_path OUT --log_samples`` folder.

    Each folder holding ``samples_<task>_<stamp>.jsonl`` files is one model (named by ``model_name`` in its
    newest ``results_*.json``, else the folder name with ``__`` → ``/``); per (model, task) the newest stamp wins.
    Items are ``<task>/<doc_id>``; the metric value of each record under the chosen filter is its score.
    """
    _check_missing(missing)
    root = _require_path(path, "lm-eval output folder")
    files = [root] if root.is_file() else sorted(root.rglob("samples_*.jsonl"))
    chosen: dict[tuple[Path, str], tuple[str, Path]] = {}
    for file in files:
        match = _SAMPLES_RE.match(file.name)
        if match is None:
            continue
        task, stamp = match.group(1), match.group(2)
        if tasks is not None and not any(task == t or fnmatch.fnmatchcase(task, t) for t in tasks):
            continue
        key = (file.parent, task)
        if key not in chosen or stamp > chosen[key][0]:  # ISO stamps compare as strings
            chosen[key] = (stamp, file)
    if not chosen:
        raise DataError(f"{root}: no samples_*.jsonl files" + (" matching the tasks" if tasks else ""))

    names = {folder: _model_name(folder) for folder in sorted({k[0] for k in chosen})}
    rank: dict[str, tuple[str, float]] = {}
    for fam, members in (families or {}).items():
        for k, member in enumerate(members):
            rank[member] = (fam, float(len(members) - k))  # listed strongest first: sizes k…1
    model_info: dict[str, ModelInfo] = {}
    for model in names.values():
        if model in rank:
            model_info[model] = ModelInfo(model, *rank[model])
        elif infer_families:
            model_info[model] = ModelInfo(model, *infer_family_size(model))
        else:
            model_info[model] = ModelInfo(model)

    records: list[dict] = []
    for (folder, task), (_stamp, file) in sorted(chosen.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        model = names[folder]
        info = model_info[model]
        bench = str(_match(task, benchmark_map or {}) or task)
        domain = (domains or {}).get(bench)
        task_metric = _match(task, metric) if isinstance(metric, Mapping) else metric
        chosen_filter = filter
        seen: set[str] = set()
        with open(file, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{file}:{number}"
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    raise DataError(f"{where}: not valid JSON") from None
                if not isinstance(rec, dict):
                    raise DataError(f"{where}: not a JSON object")
                rec_filter = rec.get("filter", "none")
                if chosen_filter is None:
                    chosen_filter = rec_filter  # the first line's filter
                if rec_filter != chosen_filter:
                    continue
                name = task_metric
                if name is None:
                    listed = rec.get("metrics")
                    if not isinstance(listed, list) or not listed:
                        raise DataError(f"{where}: record has no 'metrics' list; pass metric=")
                    name = listed[0]
                if name not in rec:
                    raise DataError(f"{where}: record has no metric {name!r}")
                if "doc_id" not in rec:
                    raise DataError(f"{where}: record has no 'doc_id'")
                item_id = f"{task}/{rec['doc_id']}"
                if item_id in seen:
                    raise DataError(
                        f"{where}: duplicate doc_id {rec['doc_id']!r} under filter {chosen_filter!r}"
                    )
                seen.add(item_id)
                records.append(
                    {
                        "model": model,
                        "family": info.family,
                        "size": info.size,
                        "benchmark": bench,
                        "domain": domain,
                        "item_id": item_id,
                        "score": _lm_eval_value(rec[name], where),
                    }
                )
    if not records:
        raise DataError(f"{root}: no sample records under the chosen filter")
    try:
        return _from_long(pd.DataFrame.from_records(records), missing=missing)
    except DataError as exc:
        raise DataError(f"{root}: {exc}") from None


# -- aggregate score files -------------------------------------------------------------------------

_MODEL_COLUMNS = ("model", "fullname", "Model", "name", "eval_name")
_NON_BENCHMARK = {"family", "size", "domain", "params", "#Params (B)"}
_PRESETS: dict[str, dict[str, Any]] = {
    "open-llm-leaderboard": {
        "model_column": "fullname",
        "benchmarks": {
            "IFEval Raw": "IFEval",
            "BBH Raw": "BBH",
            "MATH Lvl 5 Raw": "MATH Lvl 5",
            "GPQA Raw": "GPQA",
            "MUSR Raw": "MuSR",
            "MMLU-PRO Raw": "MMLU-Pro",
        },
        "duplicates": "first",
        "infer_families": True,
        "size_column": "#Params (B)",
    }
}


def read_scores(
    path: str | Path,
    *,
    preset: str | None = None,
    model_column: str | None = None,
    benchmarks: Sequence[str] | Mapping[str, str] | None = None,
    scale: str = "auto",
    domains: Mapping[str, str] | None = None,
    duplicates: str = "error",
    infer_families: bool = False,
) -> ScoreTable:
    """Aggregate scores from a long (``model, benchmark, score``) or wide (a row per model) table.

    ``scale``: ``auto`` (percent, ÷100, if any value exceeds 1), ``fraction`` or ``percent``. Models missing a
    score are dropped with a warning; ``duplicates`` is ``error`` or ``first``.
    """
    size_column = None
    if preset is not None:
        if preset not in _PRESETS:
            raise DataError(f"unknown preset {preset!r} (known: {', '.join(_PRESETS)})")
        spec = _PRESETS[preset]
        model_column = model_column or spec["model_column"]
        benchmarks = benchmarks if benchmarks is not None else spec["benchmarks"]
        duplicates = spec["duplicates"]
        infer_families = True
        size_column = spec["size_column"]
    if scale not in ("auto", "fraction", "percent"):
        raise DataError(f"scale must be auto, fraction or percent, got {scale!r}")
    if duplicates not in ("error", "first"):
        raise DataError(f"duplicates must be error or first, got {duplicates!r}")
    path = _require_path(path, "score file")
    frame = _read_table(path)
    if frame.empty:
        raise DataError(f"{path}: no rows")

    long = model_column is None and {"model", "benchmark", "score"} <= set(frame.columns)
    if long:
        frame = frame.reset_index(drop=True)
        frame["model"] = frame["model"].astype(str)
        frame["benchmark"] = frame["benchmark"].astype(str)
        dup = frame.duplicated(["model", "benchmark"]).to_numpy()
        if dup.any() and duplicates == "error":
            pos = int(np.flatnonzero(dup)[0])
            raise DataError(
                f"{path}: row {pos}: duplicate (model, benchmark) ({frame['model'].iloc[pos]!r}, "
                f"{frame['benchmark'].iloc[pos]!r}); pass duplicates='first'"
            )
        frame = frame.loc[~dup]
        wide = frame.pivot(index="model", columns="benchmark", values="score")
        model_order = list(pd.unique(frame["model"]))
        bench_order = list(pd.unique(frame["benchmark"]))
        wide = wide.reindex(index=model_order, columns=bench_order)
        per_model = frame.drop_duplicates("model").set_index("model")
        file_domains = {}
        if "domain" in frame.columns:
            for b, d in frame.drop_duplicates("benchmark").set_index("benchmark")["domain"].items():
                if not _is_blank(d):
                    file_domains[b] = str(d)
    else:
        if model_column is None:
            model_column = next((c for c in _MODEL_COLUMNS if c in frame.columns), None)
            if model_column is None:
                raise DataError(f"{path}: no model column (looked for {', '.join(_MODEL_COLUMNS)})")
        elif model_column not in frame.columns:
            raise DataError(f"{path}: missing model column {model_column!r}")
        frame = frame.reset_index(drop=True)
        frame[model_column] = frame[model_column].astype(str)
        if isinstance(benchmarks, Mapping):
            rename = dict(benchmarks)
        elif benchmarks is not None:
            rename = {b: b for b in benchmarks}
        else:
            rename = {
                c: c
                for c in frame.columns
                if c != model_column
                and c not in _NON_BENCHMARK
                and not str(c).startswith("Average")
                and pd.api.types.is_numeric_dtype(frame[c])
                and not pd.api.types.is_bool_dtype(frame[c])
            }
        absent = [c for c in rename if c not in frame.columns]
        if absent:
            raise DataError(f"{path}: missing benchmark column(s) {', '.join(map(str, absent))}")
        if not rename:
            raise DataError(f"{path}: no numeric benchmark columns")
        dup = frame.duplicated(model_column).to_numpy()
        if dup.any() and duplicates == "error":
            pos = int(np.flatnonzero(dup)[0])
            raise DataError(
                f"{path}: row {pos}: duplicate model {frame[model_column].iloc[pos]!r}; pass duplicates='first'"
            )
        frame = frame.loc[~dup]
        wide = frame.set_index(model_column)[list(rename)].rename(columns=rename)
        wide.columns = [str(c) for c in wide.columns]
        per_model = frame.set_index(model_column)
        file_domains = {}

    values = wide.apply(pd.to_numeric, errors="coerce").astype(np.float64)
    finite = values.to_numpy()[np.isfinite(values.to_numpy())]
    percent = scale == "percent" or (scale == "auto" and finite.size and finite.max() > 1.0)
    if percent:
        values = values / 100.0
    incomplete = values.isna().any(axis=1)
    if incomplete.any():
        dropped = list(values.index[incomplete])
        warnings.warn(
            f"{path}: dropped {len(dropped)} model(s) missing a score: {', '.join(map(str, dropped[:5]))}"
            + (" …" if len(dropped) > 5 else ""),
            stacklevel=2,
        )
        values = values.loc[~incomplete]
    if len(values) < 2:
        raise DataError(f"{path}: fewer than 2 models with complete scores")
    arr = values.to_numpy()
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise DataError(f"{path}: scores outside [0, 1] (after scale={scale!r})")

    models = []
    for name in values.index:
        row = per_model.loc[name]
        fam = row.get("family") if "family" in per_model.columns else None
        fam = None if _is_blank(fam) else str(fam)
        size = _parse_size(row.get("size")) if "size" in per_model.columns else None
        if fam is None and infer_families:
            inferred_family, inferred_size = infer_family_size(str(name))
            if inferred_family is not None:
                fam, size = inferred_family, size if size is not None else inferred_size
        if fam is not None and size is None and size_column and size_column in per_model.columns:
            size = _parse_size(row.get(size_column))
        if fam is not None and size is None:
            fam = None  # a family is only useful with sizes to order it
        models.append(ModelInfo(str(name), fam, size))
    # two leaderboard entries of one family may share a size; keep the first in the family, others alone
    seen: set[tuple[str, float]] = set()
    for k, info in enumerate(models):
        if info.family is not None:
            if (info.family, info.size) in seen:
                models[k] = ModelInfo(info.name, None, info.size)
            seen.add((info.family, info.size))

    table = values.T
    table.index.name, table.columns.name = "benchmark", "model"
    dom = {b: str((domains or {}).get(b, file_domains.get(b, DEFAULT_DOMAIN))) for b in table.index}
    return ScoreTable(table, dom, tuple(models))


# -- synthetic data --------------------------------------------------------------------------------


def synthetic_results(
    seed: int = 0,
    *,
    n_families: int = 4,
    models_per_family: int = 3,
    n_domains: int = 3,
    benchmarks_per_domain: int = 3,
    n_items: int = 300,
    noisy_fraction: float = 0.1,
) -> ItemResults:
    """Seeded IRT 2PL item results (spec §5): families of models 4× apart in size and 1.0 apart in ability.

    One ``numpy.random.default_rng(seed)``, drawn in this order: family offsets, domain skills, then per
    benchmark its mean difficulty, difficulties, discriminations, noisy flags (discrimination 0) and outcomes.
    Names are 1-based: ``fam1-16B``, ``d1b1``, ``domain1``, items ``q00000``….
    """
    for label, value in (
        ("n_families", n_families),
        ("models_per_family", models_per_family),
        ("n_domains", n_domains),
        ("benchmarks_per_domain", benchmarks_per_domain),
        ("n_items", n_items),
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if not 0.0 <= noisy_fraction <= 1.0:
        raise ValueError(f"noisy_fraction must lie in [0, 1], got {noisy_fraction!r}")
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0.0, 0.5, size=n_families)
    models, theta = [], []
    for f in range(n_families):
        for i in range(models_per_family - 1, -1, -1):  # largest first
            models.append(ModelInfo(f"fam{f + 1}-{4**i}B", f"fam{f + 1}", float(4**i)))
            theta.append(offsets[f] + 1.0 * i)
    ability = np.asarray(theta)
    n_models = len(models)
    skills = rng.normal(0.0, 0.3, size=(n_models, n_domains))
    item_ids = tuple(f"q{j:05d}" for j in range(n_items))
    matrices = []
    for d in range(n_domains):
        for b in range(benchmarks_per_domain):
            mu = rng.uniform(-1.0, 1.0)
            difficulty = rng.normal(mu, 1.0, size=n_items)
            discrimination = rng.lognormal(0.5, 0.3, size=n_items)
            noisy = rng.random(n_items) < noisy_fraction
            discrimination[noisy] = 0.0  # answered at chance
            logits = discrimination[None, :] * ((ability + skills[:, d])[:, None] - difficulty[None, :])
            correct = rng.random((n_models, n_items)) < 1.0 / (1.0 + np.exp(-logits))
            info = pd.DataFrame({"difficulty": difficulty, "discrimination": discrimination, "noisy": noisy})
            matrices.append(
                BenchmarkMatrix(
                    f"d{d + 1}b{b + 1}", f"domain{d + 1}", item_ids, correct.astype(np.float64), info
                )
            )
    return ItemResults(models, matrices)


# -- bundled paper data ----------------------------------------------------------------------------


def _bundled(name: str) -> pd.DataFrame:
    path = _DATA_DIR / name
    if not path.is_file():
        raise DataFileNotFound(
            f"the paper's appendix tables are not bundled yet ({path.name} missing; transcribe arXiv 2601.03986's "
            "Tables 1, 7, 11-13 and 15-17 into src/benchmark2/data/, see its README)"
        )
    return pd.read_csv(path)


def paper_scores() -> ScoreTable:
    """The paper's per-model benchmark scores (Tables 11–13) as fractions, with families and sizes."""
    frame = _bundled("paper_scores.csv")
    frame["score"] = pd.to_numeric(frame["score"]) / 100.0
    models = frame.drop_duplicates("model")
    infos = tuple(ModelInfo(str(r.model), str(r.family), float(r.size)) for r in models.itertuples())
    table = frame.pivot(index="benchmark", columns="model", values="score")
    table = table.reindex(index=list(pd.unique(frame["benchmark"])), columns=[m.name for m in infos])
    domains = dict(frame.drop_duplicates("benchmark")[["benchmark", "domain"]].itertuples(index=False))
    return ScoreTable(table, domains, infos)


def paper_family_cad() -> pd.DataFrame:
    """Table 7: per-family CAD; a ``benchmark`` column and one column per family (paper order)."""
    return _bundled("paper_family_cad.csv")


def paper_table1() -> pd.DataFrame:
    """Table 1 as printed: ``benchmark, domain, cbrc, cbrc_sd, ds, range_min_pct, range_max_pct, ds_sd, cad,
    cad_sd, bqs`` (a ``benchmark`` column, one row per benchmark)."""
    return _bundled("paper_table1.csv")


def paper_pairwise_tau() -> pd.DataFrame:
    """Tables 15–17: Kendall τ between benchmarks as a symmetric frame (diagonal 1, NaN across domains)."""
    pairs = _bundled("paper_pairwise_tau.csv")
    order: list[str] = []
    for a, b in zip(pairs["benchmark_a"], pairs["benchmark_b"], strict=True):
        for name in (str(a), str(b)):
            if name not in order:
                order.append(name)
    table = pd.DataFrame(np.nan, index=pd.Index(order, name="benchmark"), columns=pd.Index(order))
    for a, b, tau in zip(pairs["benchmark_a"], pairs["benchmark_b"], pairs["tau"], strict=True):
        table.loc[str(a), str(b)] = float(tau)
        table.loc[str(b), str(a)] = float(tau)
    for name in order:
        table.loc[name, name] = 1.0
    return table
