"""Data for R-Zero: the Challenger's prompt dataset, curated Solver records, benchmarks and the bundled files
(spec §2.5, §5).

R-Zero needs no training data: every Challenger prompt is the same fixed chat (:func:`challenger_prompt_dataset`
only fixes how many there are and numbers them with a ``prompt_id``), and the Solver trains on the questions
the Challenger wrote, pseudo-labelled by the Solver's own majority vote (columns ``problem``, ``answer`` =
pseudo-label ỹ, ``score`` = p̂, ``votes``, ``num_samples`` = m).

The bundled files live in the ``data/`` folder beside this module (a plain folder without ``__init__.py``,
so ``r_zero.data`` stays this module). Regenerate the generated ones with
``python -m r_zero.data --regenerate``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from r_zero.prompts import challenger_messages
from rlcore import data as core_data
from rlcore.data import DataError, regenerate_main

__all__ = [
    "ARITH_EVAL",
    "BENCHMARK_NAMES",
    "CHALLENGER_SAMPLES",
    "SOLVER_SAMPLE",
    "challenger_prompt_dataset",
    "load_benchmark",
    "load_solver_records",
    "regenerate_samples",
    "sample_eval_records",
    "sample_solver_records",
]

_DATA_DIR = Path(__file__).parent / "data"
ARITH_EVAL = _DATA_DIR / "arith_eval.jsonl"
"""32 arithmetic word problems (``id``, ``problem``, ``answer``, ``difficulty``): the ``arith`` benchmark."""
SOLVER_SAMPLE = _DATA_DIR / "solver_sample.jsonl"
"""16 records in the curated-set format, for Solver-training smoke tests."""
CHALLENGER_SAMPLES = _DATA_DIR / "challenger_samples.jsonl"
"""12 hand-written Challenger outputs (``text``) with their expected parse (``question``, ``answer``)."""

BENCHMARK_NAMES: tuple[str, ...] = (*core_data.BENCHMARKS, "arith")
"""Every name :func:`load_benchmark` accepts: rlcore's shared text benchmarks and the bundled ``arith``."""

# Generation settings of the bundled files (spec §5); changing one changes the files.
_ARITH_SEED = 1234
_ARITH_COUNTS = ((1, 11), (2, 11), (3, 10))  # (difficulty, how many)
_SOLVER_SEED = 4321
_SOLVER_COUNT = 16


def challenger_prompt_dataset(n: int) -> list[dict]:
    """``n`` Challenger prompts ``{"prompt": challenger_messages(), "prompt_id": i}``.

    R-Zero has no input data: the rows differ only in ``prompt_id``, which the ``group`` penalty scope uses to
    cluster each prompt's G completions alone. ``ValueError`` if n < 0.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    return [{"prompt": challenger_messages(), "prompt_id": i} for i in range(n)]


def load_solver_records(source: str) -> list[dict]:
    """Solver-training records from ``hf:<id>`` or a local .jsonl/.json/.parquet/.csv file
    (:func:`rlcore.data.load_records`). Every row needs a ``problem`` and a non-empty ``answer``; otherwise a
    :class:`rlcore.data.DataError` names the source and the row."""
    rows = core_data.load_records(source)
    for index, row in enumerate(rows):
        for key in ("problem", "answer"):
            value = row.get(key)
            if value is None or not str(value).strip():
                raise DataError(f"{source}: row {index} has no {key!r}")
    return rows


def _read_bundled(path: Path) -> list[dict]:
    return core_data.load_records(path)


def _arith_benchmark(limit: int | None, seed: int) -> list[dict]:
    rows = _read_bundled(ARITH_EVAL)
    indices = list(range(len(rows)))
    if limit is not None:
        if limit < 0:
            raise DataError(f"arith: limit must be >= 0, got {limit}")
        if limit < len(rows):
            # The same subset rule as rlcore.data.load_benchmark: a seeded sample kept in file order, so a
            # small limit still mixes the three difficulties.
            indices = sorted(random.Random(seed).sample(indices, limit))
    return [
        {"id": rows[i]["id"], "problem": rows[i]["problem"], "answer": rows[i]["answer"], "choices": None}
        for i in indices
    ]


def load_benchmark(name: str, limit: int | None = None) -> list[dict]:
    """Evaluation rows ``{"id", "problem", "answer", "choices"}`` of benchmark ``name``.

    The names of spec §7 come from :func:`rlcore.data.load_benchmark` (``question`` renamed ``problem``;
    ``choices`` is the option list of MMLU-Pro and SuperGPQA, else ``None``); ``"arith"`` is the bundled
    ``arith_eval.jsonl``. ``limit`` keeps a seeded sample of that many rows in their original order. An
    unknown name is a :class:`rlcore.data.DataError` listing the known ones.
    """
    if name == "arith":
        return _arith_benchmark(limit, seed=0)
    if name not in core_data.BENCHMARKS:
        raise DataError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARK_NAMES)}")
    return [
        {"id": row["id"], "problem": row["question"], "answer": row["answer"], "choices": row["choices"]}
        for row in core_data.load_benchmark(name, limit=limit)
    ]


def sample_eval_records() -> list[dict]:
    """The bundled ``arith_eval.jsonl``: 32 problems ``{"id", "problem", "answer", "difficulty"}``."""
    return _read_bundled(ARITH_EVAL)


def sample_solver_records() -> list[dict]:
    """The bundled ``solver_sample.jsonl``: 16 curated-format records ``{"problem", "answer", "score",
    "votes", "num_samples"}`` (answer = the true answer, p̂ = 0.5, 5 votes of m = 10)."""
    return _read_bundled(SOLVER_SAMPLE)


# ------------------------------------------------------------------------------------------ bundled files


def _generated_files() -> dict[str, list[dict]]:
    """The generated bundled files, a pure function of the seeds above."""
    arith = [
        problem
        for difficulty, count in _ARITH_COUNTS
        for problem in core_data.arithmetic_problems(count, seed=_ARITH_SEED, difficulty=difficulty)
    ]
    solver = core_data.arithmetic_problems(_SOLVER_COUNT, seed=_SOLVER_SEED, difficulty=1)
    return {
        ARITH_EVAL.name: [
            {
                "id": f"arith-{i}",
                "problem": p["question"],
                "answer": p["answer"],
                "difficulty": p["difficulty"],
            }
            for i, p in enumerate(arith)
        ],
        SOLVER_SAMPLE.name: [
            {"problem": p["question"], "answer": p["answer"], "score": 0.5, "votes": 5, "num_samples": 10}
            for p in solver
        ],
    }


def regenerate_samples(directory: str | Path | None = None) -> list[Path]:
    """Write the generated bundled files (``arith_eval.jsonl``, ``solver_sample.jsonl``; byte-identical on
    every run) into ``directory`` (default: the package's data folder) and return their paths. The
    hand-written ``challenger_samples.jsonl`` is not generated and is left alone."""
    target = Path(directory) if directory is not None else _DATA_DIR
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, records in _generated_files().items():
        path = target / name
        path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m r_zero.data --regenerate [--out DIR]``."""
    return regenerate_main(
        argv,
        prog="python -m r_zero.data",
        description="Rewrite R-Zero's bundled data.",
        regenerate=regenerate_samples,
    )


if __name__ == "__main__":
    raise SystemExit(main())
