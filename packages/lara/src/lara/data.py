"""Records for LARA: the six procedurally generated BBH-style sample tasks, BBH/MMLU/file loading and the
demo/test split (spec §2 ``lara.data``, §5).

The bundled sample files ``data/sample/<task>.jsonl`` (next to this module; the folder is not a package)
hold exactly ``generate_task(task, 64, seed=0)``. Regenerate them with ``python -m lara.data --regenerate``
or :func:`write_sample_files`.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from lara.prompts import format_mmlu_question
from rlcore import data as core_data
from rlcore.data import DataError, DataFileNotFound

__all__ = [
    "DATASETS",
    "SAMPLE_DIR",
    "SAMPLE_SIZE",
    "SAMPLE_TASKS",
    "DataError",
    "DataFileNotFound",
    "generate_task",
    "load_records",
    "sample_path",
    "split_demos",
    "write_sample_files",
]

SAMPLE_TASKS = (
    "boolean_expressions",
    "multistep_arithmetic_two",
    "word_sorting",
    "object_counting",
    "dyck_languages",
    "tracking_shuffled_objects_three_objects",
)
"""The procedurally generated BBH-style tasks (spec §5)."""

DATASETS = ("bbh", "mmlu", "sample")
"""Named datasets accepted by :func:`load_records` (anything else must be a data file path)."""

SAMPLE_DIR = Path(__file__).parent / "data" / "sample"
"""Where the bundled sample files live."""

SAMPLE_SIZE = 64
"""Records per bundled sample file; each is ``generate_task(task, SAMPLE_SIZE, seed=0)``."""

_FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
_MMLU_LETTERS = "ABCD"

# ------------------------------------------------------------------------------------------ generators


def _gen_boolean_expressions(rng: random.Random) -> dict:
    """2–4 literals, each with 0–2 leading ``not`` and optionally wrapped in ``( … )``, joined by and/or."""
    terms = []
    for _ in range(rng.randint(2, 4)):
        term = " ".join(["not"] * rng.randint(0, 2) + [rng.choice(["True", "False"])])
        if rng.random() < 0.3:
            term = f"( {term} )"
        terms.append(term)
    parts = [terms[0]]
    for term in terms[1:]:
        parts += [rng.choice(["and", "or"]), term]
    expression = " ".join(parts)
    return {"input": f"{expression} is", "target": str(_eval_boolean(expression.split()))}


def _eval_boolean(tokens: list[str]) -> bool:
    """Python's value of a token list over True/False/not/and/or/parentheses (precedence not > and > or)."""
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal position
        token = peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"bad boolean expression {' '.join(tokens)!r} at token {position}")
        position += 1
        return token

    def disjunction() -> bool:
        value = conjunction()
        while peek() == "or":
            take()
            right = conjunction()
            value = value or right
        return value

    def conjunction() -> bool:
        value = negation()
        while peek() == "and":
            take()
            right = negation()
            value = value and right
        return value

    def negation() -> bool:
        if peek() == "not":
            take()
            return not negation()
        return atom()

    def atom() -> bool:
        token = take()
        if token == "(":
            value = disjunction()
            take(")")
            return value
        if token in ("True", "False"):
            return token == "True"
        raise ValueError(f"bad boolean expression {' '.join(tokens)!r}: unexpected {token!r}")

    result = disjunction()
    if position != len(tokens):
        raise ValueError(f"bad boolean expression {' '.join(tokens)!r}: trailing tokens")
    return result


def _arith(operands: Sequence[int], operators: Sequence[str]) -> int:
    """Exact value of ``o0 op0 o1 op1 …`` with ``*`` binding tighter than ``+``/``-`` (left to right)."""
    terms = [operands[0]]
    signs = [1]
    for op, value in zip(operators, operands[1:], strict=True):
        if op == "*":
            terms[-1] *= value
        else:
            terms.append(value)
            signs.append(1 if op == "+" else -1)
    return sum(sign * term for sign, term in zip(signs, terms, strict=True))


def _gen_multistep_arithmetic_two(rng: random.Random) -> dict:
    """``((a o b o c o d) o (e o f o g o h)) =`` with integers in [−9, 9] and o ∈ {+, -, *}."""
    ops = ["+", "-", "*"]
    left = [rng.randint(-9, 9) for _ in range(4)]
    left_ops = [rng.choice(ops) for _ in range(3)]
    right = [rng.randint(-9, 9) for _ in range(4)]
    right_ops = [rng.choice(ops) for _ in range(3)]
    middle = rng.choice(ops)

    def show(values: list[int], operators: list[str]) -> str:
        parts = [str(values[0])]
        for op, value in zip(operators, values[1:], strict=True):
            parts += [op, str(value)]
        return " ".join(parts)

    text = f"(({show(left, left_ops)}) {middle} ({show(right, right_ops)})) ="
    value = _arith([_arith(left, left_ops), _arith(right, right_ops)], [middle])
    return {"input": text, "target": str(value)}


_SYLLABLES = (
    "ba", "be", "bi", "bo", "bu", "da", "de", "di", "do", "du", "fa", "fe", "fi", "fo", "ka", "ke", "ki", "ko",
    "ku", "la", "le", "li", "lo", "lu", "ma", "me", "mi", "mo", "mu", "na", "ne", "ni", "no", "nu", "pa", "pe",
    "pi", "po", "ra", "re", "ri", "ro", "ru", "sa", "se", "si", "so", "ta", "te", "ti", "to", "tu", "va", "ve",
    "vi", "vo", "za", "zo", "rin", "tor", "mal", "ken", "dor", "sul", "fen", "gar", "lix", "mop", "nus", "pex",
)  # fmt: skip


def _gen_word_sorting(rng: random.Random) -> dict:
    """3–6 distinct lowercase pseudo-words of 2–3 syllables; target: sorted, space-separated."""
    count = rng.randint(3, 6)
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
        if word not in words:
            words.append(word)
    return {
        "input": f"Sort the following words alphabetically: List: {' '.join(words)}",
        "target": " ".join(sorted(words)),
    }


_COUNT_WORDS = {1: "a", 2: "two", 3: "three", 4: "four", 5: "five"}
_CATEGORIES: dict[str, tuple[tuple[str, str], ...]] = {
    "musical instruments": (
        ("piano", "pianos"), ("flute", "flutes"), ("trumpet", "trumpets"), ("violin", "violins"),
        ("accordion", "accordions"), ("clarinet", "clarinets"), ("drum", "drums"), ("trombone", "trombones"),
    ),
    "fruits": (
        ("apple", "apples"), ("banana", "bananas"), ("orange", "oranges"), ("peach", "peaches"),
        ("plum", "plums"), ("grape", "grapes"), ("strawberry", "strawberries"), ("nectarine", "nectarines"),
    ),
    "vegetables": (
        ("carrot", "carrots"), ("onion", "onions"), ("potato", "potatoes"), ("cabbage", "cabbages"),
        ("eggplant", "eggplants"), ("yam", "yams"), ("head of broccoli", "heads of broccoli"),
        ("stalk of celery", "stalks of celery"),
    ),
    "animals": (
        ("cat", "cats"), ("dog", "dogs"), ("rabbit", "rabbits"), ("goat", "goats"), ("owl", "owls"),
        ("snake", "snakes"), ("elephant", "elephants"), ("mouse", "mice"),
    ),
    "objects": (
        ("chair", "chairs"), ("table", "tables"), ("lamp", "lamps"), ("oven", "ovens"), ("bed", "beds"),
        ("couch", "couches"), ("umbrella", "umbrellas"), ("toaster", "toasters"),
    ),
}  # fmt: skip


def _article(word: str) -> str:
    """``a`` or ``an`` by the word's first letter."""
    return "an" if word[0].lower() in "aeiou" else "a"


def _count_phrase(count: int, singular: str, plural: str) -> str:
    if count == 1:
        return f"{_article(singular)} {singular}"
    return f"{_COUNT_WORDS[count]} {plural}"


def _join_items(items: Sequence[str]) -> str:
    """``x``, ``x and y`` or ``x, y, and z`` (Oxford comma for three or more)."""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def _gen_object_counting(rng: random.Random) -> dict:
    """1–4 kinds (1–5 each) from the asked category plus 0–2 distractor kinds; target: the asked count."""
    category = rng.choice(list(_CATEGORIES))
    others = [noun for name, nouns in _CATEGORIES.items() if name != category for noun in nouns]
    chosen = [(noun, True) for noun in rng.sample(_CATEGORIES[category], rng.randint(1, 4))]
    chosen += [(noun, False) for noun in rng.sample(others, rng.randint(0, 2))]
    rng.shuffle(chosen)
    total = 0
    phrases = []
    for (singular, plural), asked in chosen:
        count = rng.randint(1, 5)
        phrases.append(_count_phrase(count, singular, plural))
        total += count if asked else 0
    return {"input": f"I have {_join_items(phrases)}. How many {category} do I have?", "target": str(total)}


_BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}


def _gen_dyck_languages(rng: random.Random) -> dict:
    """A valid bracket prefix over ( ) [ ] { } < > with ≥ 1 unclosed bracket; target: the closers."""
    length = rng.randint(2, 16)
    tokens: list[str] = []
    stack: list[str] = []
    for _ in range(length):
        if stack and (len(stack) >= 6 or rng.random() < 0.45):
            tokens.append(_BRACKETS[stack.pop()])
        else:
            opener = rng.choice(list(_BRACKETS))
            tokens.append(opener)
            stack.append(opener)
    if not stack:
        opener = rng.choice(list(_BRACKETS))
        tokens.append(opener)
        stack.append(opener)
    return {
        "input": (
            "Complete the rest of the sequence, making sure that the parentheses are closed properly. "
            f"Input: {' '.join(tokens)}"
        ),
        "target": " ".join(_BRACKETS[opener] for opener in reversed(stack)),
    }


_PLAYERS = ("Alice", "Bob", "Claire")
_COLOURS = (
    "red", "blue", "green", "yellow", "orange", "purple", "pink", "white", "black", "brown", "gray", "amber",
    "indigo", "olive", "crimson", "teal",
)  # fmt: skip


def _gen_tracking_three(rng: random.Random) -> dict:
    """Three players, three distinct colours, three swaps; target: the final holder's option letter."""
    colours = rng.sample(_COLOURS, 3)
    swaps = [tuple(rng.sample(_PLAYERS, 2)) for _ in range(3)]
    asked = rng.choice(_PLAYERS)
    holding = dict(zip(_PLAYERS, range(3), strict=True))
    for x, y in swaps:
        holding[x], holding[y] = holding[y], holding[x]
    start = ", ".join(
        f"{p} has {_article(c)} {c} ball" for p, c in zip(_PLAYERS[:2], colours[:2], strict=True)
    )
    start += f", and {_PLAYERS[2]} has {_article(colours[2])} {colours[2]} ball."
    moves = " ".join(
        f"{word}, {x} and {y} swap balls."
        for word, (x, y) in zip(("First", "Then", "Finally"), swaps, strict=True)
    )
    options = "\n".join(f"({letter}) {c} ball" for letter, c in zip("ABC", colours, strict=True))
    text = (
        "Alice, Bob, and Claire are playing a game. At the start of the game, they are each holding a ball: "
        f"{start}\nAs the game progresses, pairs of players trade balls. {moves} "
        f"At the end of the game, {asked} has the\nOptions:\n{options}"
    )
    return {"input": text, "target": f"({'ABC'[holding[asked]]})"}


_GENERATORS: dict[str, Callable[[random.Random], dict]] = {
    "boolean_expressions": _gen_boolean_expressions,
    "multistep_arithmetic_two": _gen_multistep_arithmetic_two,
    "word_sorting": _gen_word_sorting,
    "object_counting": _gen_object_counting,
    "dyck_languages": _gen_dyck_languages,
    "tracking_shuffled_objects_three_objects": _gen_tracking_three,
}


def _unknown(kind: str, name: Any, valid: Iterable[str]) -> ValueError:
    return ValueError(f"unknown {kind} {name!r}; expected one of {', '.join(valid)}")


def generate_task(name: str, n: int, seed: int = 0) -> list[dict]:
    """``n`` records ``{"input", "target", "task"}`` of sample task ``name`` (spec §5).

    Deterministic: drawn from ``random.Random(f"lara:{name}:{seed}")``; a draw whose input was already produced
    is redrawn, so inputs are pairwise distinct. Targets are computed exactly. Unknown ``name`` or ``n < 0`` →
    ``ValueError``; ``n = 0`` → ``[]``.
    """
    if name not in _GENERATORS:
        raise _unknown("sample task", name, SAMPLE_TASKS)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(f"lara:{name}:{seed}")
    generator = _GENERATORS[name]
    records: list[dict] = []
    seen: set[str] = set()
    attempts = 0
    while len(records) < n:
        attempts += 1
        if attempts > 100 * n + 1000:
            raise ValueError(f"{name}: could not draw {n} distinct inputs (got {len(records)})")
        record = generator(rng)
        if record["input"] in seen:
            continue
        seen.add(record["input"])
        records.append({"input": record["input"], "target": record["target"], "task": name})
    return records


# ---------------------------------------------------------------------------------------------- loading


def sample_path(task: str) -> Path:
    """The bundled file of a sample task; unknown task → ``ValueError`` listing :data:`SAMPLE_TASKS`."""
    if task not in SAMPLE_TASKS:
        raise _unknown("sample task", task, SAMPLE_TASKS)
    return SAMPLE_DIR / f"{task}.jsonl"


def _jsonl_line_numbers(path: Path) -> list[int]:
    """1-based line numbers of the non-blank lines (the records rlcore returns, in order)."""
    with open(path, encoding="utf-8") as fh:
        return [number for number, line in enumerate(fh, start=1) if line.strip()]


def _read_json_file(path: Path) -> list[Any]:
    """A ``.json`` data file: a list of records or a BBH-style object ``{"examples": [...]}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("examples"), list):
        data = data["examples"]
    if not isinstance(data, list):
        raise DataError(f'{path}: a .json data file must hold a list of records or {{"examples": [...]}}')
    return data


def _mmlu_letter(answer: Any, where: str) -> str:
    if isinstance(answer, bool):
        raise DataError(f"{where}: MMLU answer must be an index 0-3 or a letter A-D, got {answer!r}")
    if isinstance(answer, int) and 0 <= answer <= 3:
        return _MMLU_LETTERS[answer]
    if isinstance(answer, str):
        text = answer.strip().strip("()").strip().upper()
        if text in ("0", "1", "2", "3"):
            return _MMLU_LETTERS[int(text)]
        if len(text) == 1 and text in _MMLU_LETTERS:
            return text
    raise DataError(f"{where}: MMLU answer must be an index 0-3 or a letter A-D, got {answer!r}")


def _mmlu_choices(choices: Any, where: str) -> list[str]:
    if isinstance(choices, str):  # a CSV cell holding a JSON list
        try:
            choices = json.loads(choices)
        except json.JSONDecodeError:
            raise DataError(f"{where}: MMLU 'choices' must be a list of four strings") from None
    if not isinstance(choices, Sequence) or isinstance(choices, str) or len(choices) != 4:
        raise DataError(f"{where}: MMLU 'choices' must be a list of four strings")
    return [str(choice) for choice in choices]


def _normalise(row: Any, where: str, extra: dict[str, str]) -> dict:
    """One record ``{"input", "target", ...}`` from a raw row; ``where`` is ``PATH:LINE`` for errors."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: not a JSON object")
    if "input" not in row and all(key in row for key in ("question", "choices", "answer")):
        record = {
            "input": format_mmlu_question(str(row["question"]), _mmlu_choices(row["choices"], where)),
            "target": _mmlu_letter(row["answer"], where),
        }
    else:
        for key in ("input", "target"):
            if row.get(key) is None:
                raise DataError(f"{where}: record lacks {key!r}")
        record = {
            "input": row["input"] if isinstance(row["input"], str) else str(row["input"]),
            "target": row["target"] if isinstance(row["target"], str) else str(row["target"]),
        }
    for key in ("task", "subject"):
        if isinstance(row.get(key), str):
            record[key] = row[key]
        elif key in extra:
            record[key] = extra[key]
    return record


def _looks_like_path(dataset: str) -> bool:
    path = Path(dataset).expanduser()
    return path.suffix.lower() in _FILE_SUFFIXES or "/" in dataset or "\\" in dataset or path.exists()


def load_records(dataset: str | Path, task: str | None = None, *, split: str = "test") -> list[dict]:
    """Records ``{"input", "target", ...}`` of a dataset (spec §2, §5).

    ``dataset``: ``"sample"`` (the bundled file of sample task ``task``), ``"bbh"`` (hub
    ``lukaemon/bbh``, config ``task``), ``"mmlu"`` (hub ``cais/mmlu``, config = subject ``task``) or a path to a
    ``.jsonl``/``.json``/``.csv``/``.parquet`` file, read with :func:`rlcore.data.load_records` (a ``.json``
    file may also be a BBH-style ``{"examples": [...]}``). Rows with ``question``/``choices``/``answer`` become
    ``input = format_mmlu_question(...)`` and ``target`` = the letter; non-string targets are converted with
    ``str``.

    Errors: rlcore's ``DataError``/``DataFileNotFound`` propagate unchanged; a record lacking ``input`` or
    ``target`` → ``ValueError("PATH:LINE: record lacks 'target'")`` (1-based line for JSONL, record number
    otherwise); unknown dataset name or sample task → ``ValueError`` listing the valid names.
    """
    name = str(dataset)
    extra: dict[str, str] = {}
    if isinstance(dataset, str) and dataset in DATASETS:
        if not task:
            raise ValueError(
                f"dataset {name!r} needs a task ({'subject' if name == 'mmlu' else 'task name'})"
            )
        if name == "sample":
            source: str | Path = sample_path(task)
            extra["task"] = task
        elif name == "bbh":
            source = f"hf:lukaemon/bbh:{task}"
            extra["task"] = task
        else:
            source = f"hf:cais/mmlu:{task}"
            extra["subject"] = task
    elif isinstance(dataset, Path) or _looks_like_path(name):
        source = Path(name).expanduser()
    else:
        raise ValueError(
            f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)} "
            f"or a path to a {'/'.join(_FILE_SUFFIXES)} file"
        )

    if isinstance(source, Path) and source.suffix.lower() == ".json" and source.is_file():
        rows: list[Any] = _read_json_file(source)
    else:
        rows = core_data.load_records(source, split=split if isinstance(source, str) else None)

    if isinstance(source, Path) and source.suffix.lower() == ".jsonl":
        numbers = _jsonl_line_numbers(source)
    else:
        numbers = list(range(1, len(rows) + 1))
    return [_normalise(row, f"{source}:{number}", extra) for row, number in zip(rows, numbers, strict=True)]


def split_demos(
    records: Sequence[dict],
    n_demos: int,
    *,
    shuffle: bool = True,
    seed: int = 77,
    test_start: int | None = None,
    max_test: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """``(demos, test)`` (spec §2): demos = a copy of ``records[:n_demos]``, shuffled with
    ``random.Random(seed).shuffle`` when ``shuffle``; test = ``records[test_start or n_demos:][:max_test]``
    (``test_start`` used when not None). The input is not modified. ``n_demos < 1``, ``n_demos >
    len(records)`` or an empty test set → ``ValueError``."""
    if n_demos < 1:
        raise ValueError(f"n_demos must be >= 1, got {n_demos}")
    if n_demos > len(records):
        raise ValueError(f"n_demos ({n_demos}) is larger than the data ({len(records)} records)")
    demos = list(records[:n_demos])
    if shuffle:
        random.Random(seed).shuffle(demos)
    start = test_start if test_start is not None else n_demos
    test = list(records[start:][:max_test])
    if not test:
        raise ValueError(
            f"empty test set: {len(records)} records, n_demos={n_demos}, test_start={test_start}, "
            f"max_test={max_test}"
        )
    return demos, test


# ------------------------------------------------------------------------------------------- bundling


def write_sample_files(directory: str | Path | None = None) -> list[Path]:
    """Write ``generate_task(task, 64, seed=0)`` for every sample task as ``<task>.jsonl`` (one JSON object a
    line) into ``directory`` (default: the bundled :data:`SAMPLE_DIR`); returns the paths written. The
    output is byte-identical on every run."""
    target = Path(directory) if directory is not None else SAMPLE_DIR
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in SAMPLE_TASKS:
        path = target / f"{task}.jsonl"
        lines = [
            json.dumps(record, ensure_ascii=False) + "\n" for record in generate_task(task, SAMPLE_SIZE, 0)
        ]
        path.write_text("".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lara.data --regenerate [--out DIR]``: rewrite the bundled sample files."""
    parser = argparse.ArgumentParser(prog="python -m lara.data", description="LARA's bundled sample data.")
    parser.add_argument("--regenerate", action="store_true", help="rewrite the bundled sample jsonl files")
    parser.add_argument("--out", default=None, help="write into this folder instead of the bundled one")
    args = parser.parse_args(argv)
    if not args.regenerate:
        parser.print_help()
        return 0
    for path in write_sample_files(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
