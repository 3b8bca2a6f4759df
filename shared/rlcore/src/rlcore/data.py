"""Records from the hub or local files, procedural tasks with exact answers, and shared benchmarks.

Records are plain ``dict`` rows. Every failure a user can fix is a :class:`DataError` (a
``ValueError``) naming the source and, for JSONL, the line; a missing file is a
:class:`DataFileNotFound`, which is also a ``FileNotFoundError``.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcore.errors import DataError, DataFileNotFound

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "DataError",
    "DataFileNotFound",
    "arithmetic_problems",
    "gsm8k_answer",
    "load_benchmark",
    "load_image",
    "load_records",
    "regenerate_main",
]


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: not a JSON object")
            rows.append(row)
    return rows


def _read_json(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: a .json data file must hold a list of records (objects)")
    return data


def _read_csv(path: Path) -> list[dict]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return [dict(row) for row in csv.DictReader(fh)]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from None


def _read_parquet(path: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated classes for a bad file
        raise DataError(f"{path}: unreadable parquet ({exc})") from None


_READERS: dict[str, Callable[[Path], list[dict]]] = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def _load_hub(source: str, split: str | None) -> list[dict]:
    spec = source[len("hf:") :]
    repo, _, config = spec.partition(":")
    if not repo:
        raise DataError(f"{source}: expected hf:<dataset id> or hf:<dataset id>:<config>")
    try:
        import datasets

        loaded = datasets.load_dataset(repo, config or None, split=split)
    except Exception as exc:  # offline, unknown id, unknown split: all the same to the user
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"{source}: could not load the dataset ({message}); download it first or pass a local file"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        return [row for name in loaded for row in loaded[name]]
    return list(loaded)


def load_records(source: str | Path, *, split: str | None = None, limit: int | None = None) -> list[dict]:
    """Rows from ``hf:<id>[:<config>]`` (all splits concatenated when ``split`` is None) or a local
    ``.jsonl`` (blank lines skipped), ``.json`` (a list of records), ``.parquet`` or ``.csv`` file.
    ``limit`` keeps the first rows."""
    source_str = str(source)
    if source_str.startswith("hf:"):
        rows = _load_hub(source_str, split)
    else:
        path = Path(source_str).expanduser()
        if not path.exists():
            raise DataFileNotFound(f"data file not found: {path}")
        reader = _READERS.get(path.suffix.lower())
        if reader is None or not path.is_file():
            kinds = ", ".join(_READERS)
            raise DataError(f"{path}: unsupported data file (use {kinds}, or hf:<dataset id>)")
        rows = reader(path)
    if limit is not None:
        if limit < 0:
            raise DataError(f"{source_str}: limit must be >= 0, got {limit}")
        rows = rows[:limit]
    return rows


def load_image(image: Any) -> Any:
    """A PIL image from a PIL image (returned as is) or a file path (opened, converted to RGB).

    A missing file is a :class:`DataFileNotFound`, an unreadable one a :class:`DataError`; anything that is
    neither a path nor an image is a ``ValueError``.
    """
    if isinstance(image, str | os.PathLike):
        from PIL import Image, UnidentifiedImageError

        path = Path(image).expanduser()
        if not path.is_file():
            raise DataFileNotFound(f"image file not found: {path}")
        try:
            with Image.open(path) as opened:
                return opened.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"{path}: unreadable image ({exc})") from None
    if not hasattr(image, "mode") or not hasattr(image, "size"):
        raise ValueError(f"an image must be a PIL image or a file path, got {type(image).__name__}")
    return image


# -- procedural arithmetic word problems ----------------------------------------------------------

_NAMES = ["Ava", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jon", "Kira", "Liam"]
_ITEMS = ["apples", "books", "coins", "marbles", "pencils", "stickers", "shells", "cards", "stamps", "beads"]


def _step(rng: random.Random, total: int, name: str, items: str) -> tuple[str, int]:
    """One more operation on the running total, keeping every intermediate value a non-negative integer."""
    ops = ["add", "sub", "mul"]
    divisors = [d for d in (2, 3, 4, 5) if total % d == 0 and total > 0]
    if divisors:
        ops.append("div")
    if total <= 1:
        ops.remove("sub")
    op = rng.choice(ops)
    if op == "add":
        k = rng.randint(2, 40)
        return f"Then {name} gets {k} more {items}.", total + k
    if op == "sub":
        k = rng.randint(1, min(total - 1, 40))
        return f"Then {name} gives away {k} {items}.", total - k
    if op == "mul":
        k = rng.randint(2, 4)
        word = {2: "doubles", 3: "triples", 4: "quadruples"}[k]
        return f"Then {name} {word} the number of {items}.", total * k
    k = rng.choice(divisors)
    word = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth"}[k]
    return f"Then {name} keeps only {word} of the {items}.", total // k


def arithmetic_problems(n: int, *, seed: int, difficulty: int = 1) -> list[dict]:
    """``n`` word problems ``{"question", "answer", "difficulty"}`` with exact integer answers.

    Difficulty ``d`` applies ``d`` operations (+, -, x, exact ÷) to a starting amount. The list is a
    function of ``(n, seed, difficulty)`` only.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if difficulty < 1:
        raise ValueError(f"difficulty must be >= 1, got {difficulty}")
    rng = random.Random(f"arithmetic:{seed}:{difficulty}")
    problems = []
    for _ in range(n):
        name, items = rng.choice(_NAMES), rng.choice(_ITEMS)
        total = rng.randint(2, 60)
        sentences = [f"{name} has {total} {items}."]
        for _ in range(difficulty):
            sentence, total = _step(rng, total, name, items)
            sentences.append(sentence)
        sentences.append(f"How many {items} does {name} have now?")
        problems.append({"question": " ".join(sentences), "answer": str(total), "difficulty": difficulty})
    return problems


def gsm8k_answer(solution: str) -> str | None:
    """GSM8K's gold answer: the text after the last ``####``, stripped, without ``,`` and ``$``."""
    if not isinstance(solution, str) or "####" not in solution:
        return None
    return solution.rsplit("####", 1)[1].strip().replace(",", "").replace("$", "").strip()


# -- shared text benchmarks ----------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """Where a benchmark lives on the hub and how to read its question and gold answer."""

    source: str
    split: str
    question: str
    answer: Callable[[dict], Any]
    choices: str | None = None


def _field(name: str) -> Callable[[dict], Any]:
    return lambda row: row.get(name)


def _first(name: str) -> Callable[[dict], Any]:
    def read(row: dict) -> Any:
        value = row.get(name)
        return value[0] if isinstance(value, list | tuple) and value else value

    return read


BENCHMARKS: dict[str, Benchmark] = {
    "math500": Benchmark("hf:HuggingFaceH4/MATH-500", "test", "problem", _field("answer")),
    "gsm8k": Benchmark(
        "hf:openai/gsm8k:main", "test", "question", lambda row: gsm8k_answer(row.get("answer"))
    ),
    "amc23": Benchmark("hf:zwhe99/amc23", "test", "question", _field("answer")),
    "minerva": Benchmark("hf:zwhe99/simplerl-minerva-math", "test", "problem", _field("answer")),
    "olympiadbench": Benchmark(
        "hf:zwhe99/simplerl-OlympiadBench", "test", "question", _first("final_answer")
    ),
    "aime24": Benchmark("hf:HuggingFaceH4/aime_2024", "train", "problem", _field("answer")),
    "aime25": Benchmark("hf:yentinglin/aime_2025", "train", "problem", _field("answer")),
    "mmlu_pro": Benchmark("hf:TIGER-Lab/MMLU-Pro", "test", "question", _field("answer"), choices="options"),
    "supergpqa": Benchmark(
        "hf:m-a-p/SuperGPQA", "train", "question", _field("answer_letter"), choices="options"
    ),
    "bbeh": Benchmark("hf:MrLight/bbeh-eval", "train", "question", _field("answer")),
}
"""The text benchmarks relayllm and r-zero both evaluate on: hub id, split, question and answer columns."""


def load_benchmark(
    name: str, *, limit: int | None = None, seed: int = 0, source: str | Path | None = None
) -> list[dict]:
    """Benchmark ``name`` as records ``{"id", "question", "answer", "choices", "benchmark"}``.

    ``limit`` keeps ``random.Random(seed).sample`` of that many rows, in their original order.
    ``source`` reads the same columns from a local file (or another hub id) instead of the hub
    default, for machines without hub access.
    """
    if name not in BENCHMARKS:
        raise DataError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    spec = BENCHMARKS[name]
    rows = load_records(source or spec.source, split=spec.split if source is None else None)
    indices = list(range(len(rows)))
    if limit is not None and limit < len(rows):
        indices = sorted(random.Random(seed).sample(indices, limit))
    records = []
    for i in indices:
        row = rows[i]
        if spec.question not in row:
            raise DataError(f"{source or spec.source}: row {i} has no column {spec.question!r}")
        answer = spec.answer(row)
        choices = row.get(spec.choices) if spec.choices else None
        records.append(
            {
                "id": f"{name}-{i}",
                "question": row[spec.question],
                "answer": None if answer is None else str(answer),
                "choices": list(choices) if choices is not None else None,
                "benchmark": name,
            }
        )
    return records


def regenerate_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    regenerate: Callable[[str | None], Sequence[Path]],
) -> int:
    """The ``python -m <package>.data --regenerate [--out DIR]`` entry point of a package's bundled files:
    ``regenerate(out_dir_or_None)`` rewrites them and returns their paths, printed one per line. Without
    ``--regenerate`` it prints the help and returns 2."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--regenerate", action="store_true", help="rewrite the generated bundled files")
    parser.add_argument(
        "--out", default=None, help="directory to write to (default: the package's data folder)"
    )
    args = parser.parse_args(argv)
    if not args.regenerate:
        parser.print_help()
        return 2
    for path in regenerate(args.out):
        print(path)
    return 0
