"""lara.data: generators verified by independent recomputation, bundled files, loading and splitting
(spec §2 ``lara.data``, §5)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

import lara.data
import rlcore.data
from lara.data import SAMPLE_TASKS, generate_task, load_records, split_demos, write_sample_files
from lara.prompts import format_mmlu_question
from rlcore.data import DataError, DataFileNotFound

SEEDS = (0, 1, 7, 123)

# ------------------------------------------------------------------------------ independent checkers


def _bool_value(tokens: list[str]) -> bool:
    """Shunting-yard evaluation (a different algorithm from the package's recursive descent)."""
    precedence = {"or": 1, "and": 2, "not": 3}
    output: list[str] = []
    stack: list[str] = []
    for token in tokens:
        if token in ("True", "False"):
            output.append(token)
        elif token == "not":
            stack.append(token)  # right-associative unary
        elif token in ("and", "or"):
            while stack and stack[-1] != "(" and precedence[stack[-1]] >= precedence[token]:
                output.append(stack.pop())
            stack.append(token)
        elif token == "(":
            stack.append(token)
        elif token == ")":
            while stack[-1] != "(":
                output.append(stack.pop())
            stack.pop()
        else:
            raise AssertionError(f"unexpected token {token!r}")
    output += reversed(stack)
    values: list[bool] = []
    for token in output:
        if token in ("True", "False"):
            values.append(token == "True")
        elif token == "not":
            values.append(not values.pop())
        else:
            right, left = values.pop(), values.pop()
            values.append(left and right if token == "and" else left or right)
    assert len(values) == 1
    return values[0]


def check_boolean_expressions(record: dict) -> None:
    text = record["input"]
    assert text.endswith(" is") and "  " not in text
    tokens = text[: -len(" is")].split(" ")
    literals = [t for t in tokens if t in ("True", "False")]
    assert 2 <= len(literals) <= 4
    assert not re.search(r"(not ){3}", text)
    assert set(tokens) <= {"True", "False", "not", "and", "or", "(", ")"}
    assert record["target"] == str(_bool_value(tokens))


def _arith_value(text: str) -> int:
    tokens = text.split(" ")
    numbers = [int(t) for t in tokens[0::2]]
    ops = tokens[1::2]
    assert len(numbers) == 4 and all(-9 <= v <= 9 for v in numbers)
    assert all(op in "+-*" and len(op) == 1 for op in ops)
    # fold products first, then sum with signs
    total, product, sign = 0, numbers[0], 1
    for op, value in zip(ops, numbers[1:], strict=True):
        if op == "*":
            product *= value
        else:
            total += sign * product
            sign, product = (1 if op == "+" else -1), value
    return total + sign * product


def check_multistep_arithmetic_two(record: dict) -> None:
    match = re.fullmatch(r"\(\((.+)\) ([-+*]) \((.+)\)\) =", record["input"])
    assert match, record["input"]
    left, right = _arith_value(match.group(1)), _arith_value(match.group(3))
    op = match.group(2)
    expected = left + right if op == "+" else left - right if op == "-" else left * right
    assert record["target"] == str(expected)


def check_word_sorting(record: dict) -> None:
    prefix = "Sort the following words alphabetically: List: "
    assert record["input"].startswith(prefix)
    words = record["input"][len(prefix) :].split(" ")
    assert 3 <= len(words) <= 6 and len(set(words)) == len(words)
    assert all(re.fullmatch(r"[a-z]+", w) for w in words)
    assert record["target"] == " ".join(sorted(words))


_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5}


def check_object_counting(record: dict) -> None:
    match = re.fullmatch(r"I have (.+)\. How many (.+) do I have\?", record["input"])
    assert match, record["input"]
    items_text, category = match.groups()
    assert category in ("musical instruments", "fruits", "vegetables", "animals", "objects")
    if ", " in items_text:
        head, last = items_text.rsplit(", and ", 1)
        items = [*head.split(", "), last]
        assert len(items) >= 3
    else:
        items = items_text.split(" and ")
        assert len(items) <= 2
    lookup = {}
    for name, nouns in lara.data._CATEGORIES.items():
        for singular, plural in nouns:
            lookup[singular] = lookup[plural] = name
    total, asked_kinds, distractors = 0, 0, 0
    for item in items:
        word, noun = item.split(" ", 1)
        if word in ("a", "an"):
            count = 1
            assert word == ("an" if noun[0] in "aeiou" else "a"), item
        else:
            count = _NUMBERS[word]
        if lookup[noun] == category:
            total += count
            asked_kinds += 1
        else:
            distractors += 1
    assert 1 <= asked_kinds <= 4 and 0 <= distractors <= 2
    assert record["target"] == str(total)


def check_dyck_languages(record: dict) -> None:
    prefix = (
        "Complete the rest of the sequence, making sure that the parentheses are closed properly. Input: "
    )
    assert record["input"].startswith(prefix)
    pairs = {")": "(", "]": "[", "}": "{", ">": "<"}
    closer_of = {v: k for k, v in pairs.items()}
    stack: list[str] = []
    for token in record["input"][len(prefix) :].split(" "):
        if token in closer_of:
            stack.append(token)
        else:
            assert stack and stack.pop() == pairs[token], record["input"]  # a valid prefix
    assert stack
    assert record["target"] == " ".join(closer_of[t] for t in reversed(stack))


_TRACKING = re.compile(
    r"Alice, Bob, and Claire are playing a game\. At the start of the game, they are each holding a ball: "
    r"Alice has (a|an) (\w+) ball, Bob has (a|an) (\w+) ball, and Claire has (a|an) (\w+) ball\.\n"
    r"As the game progresses, pairs of players trade balls\. First, (\w+) and (\w+) swap balls\. "
    r"Then, (\w+) and (\w+) swap balls\. Finally, (\w+) and (\w+) swap balls\. "
    r"At the end of the game, (\w+) has the\nOptions:\n\(A\) (\w+) ball\n\(B\) (\w+) ball\n\(C\) (\w+) ball"
)


def check_tracking_shuffled_objects_three_objects(record: dict) -> None:
    match = _TRACKING.fullmatch(record["input"])
    assert match, record["input"]
    g = match.groups()
    colours = [g[1], g[3], g[5]]
    for article, colour in ((g[0], g[1]), (g[2], g[3]), (g[4], g[5])):
        assert article == ("an" if colour[0] in "aeiou" else "a")
    assert len(set(colours)) == 3 and list(g[13:16]) == colours
    holding = {"Alice": colours[0], "Bob": colours[1], "Claire": colours[2]}
    for x, y in (g[6:8], g[8:10], g[10:12]):
        assert x != y and {x, y} <= set(holding)
        holding[x], holding[y] = holding[y], holding[x]
    assert record["target"] == "(" + "ABC"[colours.index(holding[g[12]])] + ")"


CHECKERS = {
    "boolean_expressions": check_boolean_expressions,
    "multistep_arithmetic_two": check_multistep_arithmetic_two,
    "word_sorting": check_word_sorting,
    "object_counting": check_object_counting,
    "dyck_languages": check_dyck_languages,
    "tracking_shuffled_objects_three_objects": check_tracking_shuffled_objects_three_objects,
}

# ------------------------------------------------------------------------------------------ generators


def test_checker_sanity() -> None:
    assert _bool_value(["not", "(", "True", ")", "and", "(", "True", ")"]) is False
    assert _bool_value(["True", "or", "False", "and", "False"]) is True
    assert _bool_value(["not", "not", "True"]) is True
    assert _arith_value("-1 + 2 + 9 * 5") == 46
    assert _arith_value("2 - 3 * -2 - 1") == 7
    check_multistep_arithmetic_two({"input": "((-1 + 2 + 9 * 5) - (-2 + -4 + -4 * -7)) =", "target": "24"})


def test_sample_tasks_constant() -> None:
    assert tuple(CHECKERS) == SAMPLE_TASKS


@pytest.mark.parametrize("task", SAMPLE_TASKS)
@pytest.mark.parametrize("seed", SEEDS)
def test_generated_targets_recomputed(task: str, seed: int) -> None:
    records = generate_task(task, 200, seed)
    assert len(records) == 200
    assert len({r["input"] for r in records}) == 200  # pairwise distinct inputs
    for record in records:
        assert isinstance(record["input"], str) and isinstance(record["target"], str)
        assert record["task"] == task
        CHECKERS[task](record)


@pytest.mark.parametrize("task", SAMPLE_TASKS)
def test_generation_deterministic(task: str) -> None:
    assert generate_task(task, 50, 3) == generate_task(task, 50, 3)
    assert generate_task(task, 20, 3) == generate_task(task, 50, 3)[:20]  # a prefix of a longer draw
    assert generate_task(task, 20, 0) != generate_task(task, 20, 1)


def test_generation_uses_named_rng() -> None:
    rng = random.Random("lara:word_sorting:5")
    first = lara.data._gen_word_sorting(rng)
    assert generate_task("word_sorting", 1, 5)[0]["input"] == first["input"]


def test_tracking_spec_text() -> None:
    text = generate_task("tracking_shuffled_objects_three_objects", 1, 0)[0]["input"]
    assert text.startswith(
        "Alice, Bob, and Claire are playing a game. At the start of the game, they are each holding a ball: "
    )
    assert "ball.\nAs the game progresses, pairs of players trade balls. First, " in text
    assert " has the\nOptions:\n(A) " in text


def test_generate_task_errors() -> None:
    with pytest.raises(ValueError, match="boolean_expressions"):
        generate_task("nope", 3)
    with pytest.raises(ValueError, match="n must be"):
        generate_task("word_sorting", -1)
    assert generate_task("word_sorting", 0) == []


# -------------------------------------------------------------------------------------- bundled files


@pytest.mark.parametrize("task", SAMPLE_TASKS)
def test_bundled_files_equal_generator(task: str) -> None:
    path = lara.data.SAMPLE_DIR / f"{task}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 64
    assert [json.loads(line) for line in lines] == generate_task(task, 64, seed=0)
    assert load_records("sample", task) == generate_task(task, 64, seed=0)


def test_regeneration_byte_identical(tmp_path: Path) -> None:
    paths = write_sample_files(tmp_path)
    assert [p.name for p in paths] == [f"{t}.jsonl" for t in SAMPLE_TASKS]
    for path in paths:
        assert path.read_bytes() == (lara.data.SAMPLE_DIR / path.name).read_bytes()


def test_data_folder_is_not_a_package() -> None:
    folder = Path(lara.data.__file__).parent / "data"
    assert not (folder / "__init__.py").exists()
    assert (folder / "README.md").is_file()
    assert lara.data.__file__.endswith("data.py")


def test_regenerate_cli(tmp_path: Path) -> None:
    assert lara.data.main(["--regenerate", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.jsonl" for t in SAMPLE_TASKS)


# -------------------------------------------------------------------------------------------- loading


def test_sample_errors() -> None:
    with pytest.raises(ValueError, match="tracking_shuffled_objects_three_objects"):
        load_records("sample", "snarks")
    with pytest.raises(ValueError, match="task"):
        load_records("sample")


def test_unknown_dataset_lists_names() -> None:
    with pytest.raises(ValueError, match="bbh, mmlu, sample"):
        load_records("bigbench", "x")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataFileNotFound, match="data file not found") as info:
        load_records(str(missing))
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(DataFileNotFound):
        load_records(tmp_path / "nope.json")


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_jsonl_real_line_numbers(tmp_path: Path) -> None:
    good = '{"input": "a", "target": "(A)"}\n'
    path = _write(tmp_path / "d.jsonl", good + "\n   \n" + '{"input": "b"}\n')
    with pytest.raises(ValueError, match=re.escape(f"{path}:4: record lacks 'target'")):
        load_records(path)
    path = _write(tmp_path / "e.jsonl", "\n" + '{"target": "b"}\n')
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: record lacks 'input'")):
        load_records(path)


def test_jsonl_bad_json_propagates(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", '{"input": "a", "target": "b"}\n\n{oops\n')
    with pytest.raises(DataError, match=re.escape(f"{path}:3: not valid JSON")):
        load_records(path)


def test_jsonl_records_and_conversions(tmp_path: Path) -> None:
    rows = [
        {"input": "x", "target": 5},
        {"input": "y", "target": True, "task": "t"},
        {"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": 2},
        {"question": "R?", "choices": ["a", "b", "c", "d"], "answer": "d", "subject": "anatomy"},
    ]
    path = _write(tmp_path / "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    records = load_records(path)
    assert records == [
        {"input": "x", "target": "5"},
        {"input": "y", "target": "True", "task": "t"},
        {"input": format_mmlu_question("Q?", ["a", "b", "c", "d"]), "target": "C"},
        {"input": format_mmlu_question("R?", ["a", "b", "c", "d"]), "target": "D", "subject": "anatomy"},
    ]


def test_mmlu_row_errors(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "m.jsonl", json.dumps({"question": "Q", "choices": ["a", "b"], "answer": 0}) + "\n"
    )
    with pytest.raises(ValueError, match=re.escape(f"{path}:1:")):
        load_records(path)
    path = _write(
        tmp_path / "n.jsonl", json.dumps({"question": "Q", "choices": list("abcd"), "answer": 7}) + "\n"
    )
    with pytest.raises(ValueError, match=re.escape(f"{path}:1: MMLU answer")):
        load_records(path)


def test_json_list_and_examples(tmp_path: Path) -> None:
    rows = [{"input": "a", "target": "(A)"}, {"input": "b", "target": 3}]
    expected = [{"input": "a", "target": "(A)"}, {"input": "b", "target": "3"}]
    assert load_records(_write(tmp_path / "l.json", json.dumps(rows))) == expected
    assert load_records(_write(tmp_path / "e.json", json.dumps({"examples": rows}))) == expected
    path = _write(tmp_path / "bad.json", json.dumps({"examples": [rows[0], {"input": "c"}]}))
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: record lacks 'target'")):
        load_records(path)
    path = _write(tmp_path / "broken.json", '[\n{"input": "a",\n oops}]')
    with pytest.raises(DataError, match=re.escape(f"{path}:3: not valid JSON")):
        load_records(path)
    path = _write(tmp_path / "scalar.json", "3")
    with pytest.raises(DataError, match="list of records"):
        load_records(path)


def test_csv(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "input,target\nq1,(A)\nq2,7\n")
    assert load_records(path) == [{"input": "q1", "target": "(A)"}, {"input": "q2", "target": "7"}]
    path = _write(tmp_path / "e.csv", "input,answer_text\nq1,x\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:1: record lacks 'target'")):
        load_records(path)


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"input": ["a", "b"], "target": [1, 2]}), path)
    assert load_records(path) == [{"input": "a", "target": "1"}, {"input": "b", "target": "2"}]


def test_unsupported_suffix_is_rlcore_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.txt", "hello")
    with pytest.raises(DataError, match="unsupported data file"):
        load_records(path)


def test_hub_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None]] = []

    def fake(source, *, split=None, limit=None):
        calls.append((str(source), split))
        if "bbh" in str(source):
            return [{"input": "q", "target": "(B)"}]
        return [{"question": "Q", "choices": ["w", "x", "y", "z"], "answer": 1}]

    monkeypatch.setattr(rlcore.data, "load_records", fake)
    assert load_records("bbh", "snarks") == [{"input": "q", "target": "(B)", "task": "snarks"}]
    assert load_records("mmlu", "anatomy", split="validation") == [
        {"input": format_mmlu_question("Q", ["w", "x", "y", "z"]), "target": "B", "subject": "anatomy"}
    ]
    assert calls == [("hf:lukaemon/bbh:snarks", "test"), ("hf:cais/mmlu:anatomy", "validation")]
    with pytest.raises(ValueError, match="needs a task"):
        load_records("bbh")


def test_hub_error_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    error = DataError("hf:lukaemon/bbh:snarks: could not load the dataset (offline)")

    def fake(source, *, split=None, limit=None):
        raise error

    monkeypatch.setattr(rlcore.data, "load_records", fake)
    with pytest.raises(DataError) as info:
        load_records("bbh", "snarks")
    assert info.value is error


# ------------------------------------------------------------------------------------------- splitting


def test_split_demos_basic() -> None:
    records = [{"input": str(i), "target": str(i)} for i in range(10)]
    original = [dict(r) for r in records]
    demos, test = split_demos(records, 4, shuffle=False)
    assert demos == records[:4] and test == records[4:]
    demos, test = split_demos(records, 4)
    expected = records[:4]
    random.Random(77).shuffle(expected)
    assert demos == expected and test == records[4:]
    assert records == original  # the input is not modified
    demos, _ = split_demos(records, 4, seed=3)
    expected = records[:4]
    random.Random(3).shuffle(expected)
    assert demos == expected


def test_split_demos_test_window() -> None:
    records = list(range(300))
    demos, test = split_demos(records, 32, shuffle=False, test_start=64, max_test=200)
    assert demos == list(range(32)) and test == list(range(64, 264))
    _, test = split_demos(records, 5, shuffle=False, max_test=3)
    assert test == [5, 6, 7]
    _, test = split_demos(records, 5, shuffle=False, test_start=0, max_test=2)
    assert test == [0, 1]


@pytest.mark.parametrize(
    ("n_demos", "kwargs", "message"),
    [
        (0, {}, ">= 1"),
        (-1, {}, ">= 1"),
        (11, {}, "larger than the data"),
        (10, {}, "empty test set"),
        (4, {"test_start": 10}, "empty test set"),
        (4, {"max_test": 0}, "empty test set"),
    ],
)
def test_split_demos_errors(n_demos: int, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_demos(list(range(10)), n_demos, **kwargs)
