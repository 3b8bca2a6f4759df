"""Data loaders (spec §2.7, §5) on small local files and monkeypatched hub rows, and the bundled sample data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import rlcore.data
from calibrated_ppo.data import (
    EVAL_DATASETS,
    SAMPLE_FILES,
    load_crm_examples,
    load_eval_dataset,
    load_preference_pairs,
    load_prompts,
    make_sample_data,
    sample_data_path,
)
from rlcore.data import DataError


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _msgs(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


# ------------------------------------------------------------------------------------------ pairs, CRM


def test_load_preference_pairs_formats_and_drops(tmp_path, caplog) -> None:
    path = _write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"chosen": _msgs("q1", "good"), "rejected": _msgs("q1", "bad")},
            {"prompt": "q2", "chosen": "good2", "rejected": "bad2"},
            {"chosen": _msgs("q3", "a") + _msgs("more", "b"), "rejected": _msgs("q3", "c")},  # multi-turn
            {"chosen": [{"role": "user", "content": 3}], "rejected": _msgs("q", "x")},  # malformed
        ],
    )
    with caplog.at_level("WARNING"):
        pairs = load_preference_pairs(path)
    assert pairs == [
        {"chosen": _msgs("q1", "good"), "rejected": _msgs("q1", "bad")},
        {"chosen": _msgs("q2", "good2"), "rejected": _msgs("q2", "bad2")},
    ]
    assert "dropped 2" in caplog.text
    assert load_preference_pairs(path, limit=1) == pairs[:1]


def test_load_preference_pairs_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        load_preference_pairs(tmp_path / "missing.jsonl")
    path = _write_jsonl(tmp_path / "nocol.jsonl", [{"chosen": _msgs("q", "a")}])
    with pytest.raises(DataError, match="rejected"):
        load_preference_pairs(path)


def test_load_crm_examples_builds_variants_with_seed(tmp_path) -> None:
    from calibrated_ppo.crm import make_crm_example

    rows = [{"chosen": _msgs(f"q{i}", "good"), "rejected": _msgs(f"q{i}", "bad")} for i in range(3)]
    rows.insert(1, {"chosen": _msgs("q", "a") + _msgs("b", "c"), "rejected": _msgs("q", "d")})  # skipped
    path = _write_jsonl(tmp_path / "pairs.jsonl", rows)
    examples = load_crm_examples(path, seed=7)
    rng = random.Random(7)
    expected = [make_crm_example(r["chosen"], r["rejected"], rng) for r in rows if len(r["chosen"]) == 2]
    assert examples == expected
    assert len(load_crm_examples(path, seed=7, limit=2)) == 2


def test_load_crm_examples_uses_variant_columns(tmp_path) -> None:
    row = {
        "chosen": _msgs("q", "good"),
        "rejected": _msgs("q", "bad"),
        "chosen_high": _msgs("q", "good\nConfidence: 9."),
        "chosen_low": _msgs("q", "good\nConfidence: 1."),
        "rejected_high": _msgs("q", "bad\nConfidence: 8."),
        "rejected_low": _msgs("q", "bad\nConfidence: 0."),
        "extra": 1,
    }
    path = _write_jsonl(tmp_path / "crm.jsonl", [row])
    (example,) = load_crm_examples(path)
    assert example == {k: v for k, v in row.items() if k != "extra"}


def test_load_prompts(tmp_path) -> None:
    conf = [{"role": "system", "content": "sys"}, {"role": "user", "content": "Question: q1"}]
    path = _write_jsonl(
        tmp_path / "prompts.jsonl",
        [
            {"confidence_prompt": conf, "prompt": "q1"},
            {"confidence_prompt": "plain", "prompt": "q2"},
            {"confidence_prompt": None, "prompt": "q3"},
        ],
    )
    assert load_prompts(path) == [conf, [{"role": "user", "content": "plain"}]]
    assert load_prompts(path, input_key="prompt", limit=2) == [
        [{"role": "user", "content": "q1"}],
        [{"role": "user", "content": "q2"}],
    ]
    with pytest.raises(DataError, match="question"):
        load_prompts(path, input_key="question")


def test_hub_source_goes_through_load_records(monkeypatch) -> None:
    calls = []

    def fake(source, *, split=None, limit=None):
        calls.append((source, split))
        return [{"prompt": "hello", "chosen": "a", "rejected": "b"}]

    monkeypatch.setattr(rlcore.data, "load_records", fake)
    assert load_preference_pairs("hf:org/pairs") == [
        {"chosen": _msgs("hello", "a"), "rejected": _msgs("hello", "b")}
    ]
    assert calls == [("hf:org/pairs", None)]


# ------------------------------------------------------------------------------------------ evaluation sets


def _fake_hub(monkeypatch, tables: dict[tuple[str, str | None], list[dict]]) -> list:
    calls = []

    def fake(source, *, split=None, limit=None):
        calls.append((str(source), split))
        return tables[(str(source), split)]

    monkeypatch.setattr(rlcore.data, "load_records", fake)
    return calls


def test_eval_datasets_table() -> None:
    assert set(EVAL_DATASETS) == {
        "gsm8k",
        "commonsense_qa",
        "sciq",
        "object_counting",
        "mmlu_professional",
        "truthfulqa_mc1",
    }
    assert {name: spec.n for name, spec in EVAL_DATASETS.items()} == {
        "gsm8k": 1319,
        "commonsense_qa": 1221,
        "sciq": 1000,
        "object_counting": 1000,
        "mmlu_professional": 2700,
        "truthfulqa_mc1": 817,
    }


def test_gsm8k(monkeypatch) -> None:
    calls = _fake_hub(
        monkeypatch,
        {
            ("hf:openai/gsm8k:main", "test"): [
                {"question": "How many?", "answer": "steps\n#### 1,234"},
                {"question": "No gold", "answer": "no marker"},
                {"question": "Two?", "answer": "#### 2"},
            ]
        },
    )
    items = load_eval_dataset("gsm8k")
    assert calls == [("hf:openai/gsm8k:main", "test")]
    assert items[0] == {
        "id": "gsm8k-0",
        "question": "How many?",
        "options": None,
        "answer": "1234",
        "kind": "numeric",
        "dataset": "gsm8k",
    }
    assert [i["id"] for i in items] == ["gsm8k-0", "gsm8k-2"]
    assert load_eval_dataset("gsm8k", limit=1) == items[:1]


def test_commonsense_qa(monkeypatch) -> None:
    _fake_hub(
        monkeypatch,
        {
            ("hf:tau/commonsense_qa", "validation"): [
                {
                    "question": "Q",
                    "choices": {"label": list("ABCDE"), "text": list("vwxyz")},
                    "answerKey": "C",
                },
            ]
        },
    )
    (item,) = load_eval_dataset("commonsense_qa")
    assert item["options"] == list("vwxyz") and item["answer"] == "C" and item["kind"] == "mc"


def test_sciq_shuffle(monkeypatch) -> None:
    rows = [
        {
            "question": f"Q{i}",
            "distractor1": f"d1-{i}",
            "distractor2": f"d2-{i}",
            "distractor3": f"d3-{i}",
            "correct_answer": f"ok-{i}",
        }
        for i in range(5)
    ]
    _fake_hub(monkeypatch, {("hf:allenai/sciq", "test"): rows})
    items = load_eval_dataset("sciq")
    rng = random.Random(1234)
    for i, item in enumerate(items):
        options = [f"d3-{i}", f"d1-{i}", f"d2-{i}", f"ok-{i}"]
        rng.shuffle(options)
        assert item["options"] == options
        assert item["options"]["ABCD".index(item["answer"])] == f"ok-{i}"
    assert load_eval_dataset("sciq", limit=2) == items[:2]
    assert load_eval_dataset("sciq", seed=5) != items


def test_object_counting(monkeypatch, tmp_path) -> None:
    rows = [
        {"inputs": "I have a cat and two dogs. How many animals?", "targets": ["three", "3"]},
        {"inputs": "none", "targets": ["zero"]},
    ]
    calls = _fake_hub(monkeypatch, {("hf:tasksource/bigbench:object_counting", None): rows})
    items = load_eval_dataset("object_counting")
    assert calls == [("hf:tasksource/bigbench:object_counting", None)]  # all splits
    assert [(i["answer"], i["kind"]) for i in items] == [("3", "numeric")]
    task = tmp_path / "task.json"
    task.write_text(
        json.dumps({"name": "object_counting", "examples": [{"input": "Q?", "target": ["2", "two"]}]})
    )
    (item,) = load_eval_dataset("object_counting", source=task)
    assert item["question"] == "Q?" and item["answer"] == "2"


def test_mmlu_professional(monkeypatch) -> None:
    subjects = ("accounting", "law", "medicine", "psychology")
    tables = {
        (f"hf:cais/mmlu:professional_{s}", "test"): [{"question": s, "choices": list("wxyz"), "answer": k}]
        for k, s in enumerate(subjects)
    }
    calls = _fake_hub(monkeypatch, tables)
    items = load_eval_dataset("mmlu_professional")
    assert [c[0] for c in calls] == [f"hf:cais/mmlu:professional_{s}" for s in subjects]
    assert [(i["question"], i["answer"]) for i in items] == list(zip(subjects, "ABCD", strict=True))
    assert [i["id"] for i in items] == [f"mmlu_professional-{k}" for k in range(4)]


def test_truthfulqa_mc1_shuffle(monkeypatch) -> None:
    rows = [
        {
            "question": f"Q{i}",
            "mc1_targets": {"choices": [f"right{i}", "w1", "w2", "w3"], "labels": [1, 0, 0, 0]},
        }
        for i in range(4)
    ]
    _fake_hub(monkeypatch, {("hf:truthfulqa/truthful_qa:multiple_choice", "validation"): rows})
    items = load_eval_dataset("truthfulqa_mc1")
    rng = random.Random(1234)
    for i, item in enumerate(items):
        options = [f"right{i}", "w1", "w2", "w3"]
        rng.shuffle(options)
        assert item["options"] == options
        assert item["options"]["ABCD".index(item["answer"])] == f"right{i}"


def test_eval_dataset_errors(monkeypatch, tmp_path) -> None:
    with pytest.raises(DataError, match="unknown evaluation dataset"):
        load_eval_dataset("not_a_dataset")
    _fake_hub(monkeypatch, {("hf:allenai/sciq", "test"): [{"question": "Q"}]})
    with pytest.raises(DataError, match="row 0"):
        load_eval_dataset("sciq")


def test_local_canonical_file(tmp_path) -> None:
    path = _write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"question": "1+1?", "answer": 2},
            {"question": "Pick", "options": ["a", "b"], "answer": "B"},
        ],
    )
    items = load_eval_dataset(path)
    assert items == [
        {
            "id": "mine-0",
            "question": "1+1?",
            "options": None,
            "answer": "2",
            "kind": "numeric",
            "dataset": "mine",
        },
        {
            "id": "mine-1",
            "question": "Pick",
            "options": ["a", "b"],
            "answer": "B",
            "kind": "mc",
            "dataset": "mine",
        },
    ]
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"question": "q"}])
    with pytest.raises(DataError, match="answer"):
        load_eval_dataset(bad)


# ------------------------------------------------------------------------------------------ bundled data


def test_bundled_files_regenerate_byte_identical(tmp_path) -> None:
    paths = make_sample_data(tmp_path, seed=0)
    assert [p.name for p in paths] == list(SAMPLE_FILES)
    for path in paths:
        assert path.read_bytes() == sample_data_path(path.name).read_bytes(), path.name
    other = make_sample_data(tmp_path / "seed1", seed=1)
    assert other[0].read_bytes() != paths[0].read_bytes()


def test_bundled_contents() -> None:
    from calibrated_ppo.prompts import confidence_messages

    pairs = load_preference_pairs(sample_data_path("preference_pairs"))
    assert len(pairs) == 64
    for pair in pairs:
        assert pair["chosen"][0] == pair["rejected"][0]
        assert pair["chosen"][1]["content"] != pair["rejected"][1]["content"]

    rows = rlcore.data.load_records(sample_data_path("prompts"))
    assert len(rows) == 64
    for i, row in enumerate(rows):
        question = row["prompt"][0]["content"]
        expected = confidence_messages(question) if i % 4 == 0 else row["prompt"]
        assert row["confidence_prompt"] == expected
        assert row["answer"] == str(eval(question.removeprefix("What is ").removesuffix("?")))
    assert len(load_prompts(sample_data_path("prompts"))) == 64

    arith = load_eval_dataset("eval_arith")
    assert len(arith) == 40 and {i["kind"] for i in arith} == {"numeric"}
    for item in arith:
        assert item["answer"] == str(eval(item["question"].removeprefix("What is ").removesuffix("?")))
    choice = load_eval_dataset(sample_data_path("eval_choice"), limit=40)
    assert len(choice) == 40 and {i["kind"] for i in choice} == {"mc"}
    for item in choice:
        numbers = [int(o) for o in item["options"]]
        assert len(numbers) == 4 and numbers["ABCD".index(item["answer"])] == max(numbers)
    assert len(load_crm_examples(sample_data_path("preference_pairs.jsonl"))) == 64

    readme = (sample_data_path("prompts").parent / "README.md").read_text()
    assert "generated by this package, no third-party content" in readme


def test_sample_data_path_unknown() -> None:
    with pytest.raises(DataError):
        sample_data_path("nope")
