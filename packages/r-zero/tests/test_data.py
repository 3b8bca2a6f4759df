"""Datasets, benchmarks and the bundled files (spec §2.5, §5)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from r_zero import data
from r_zero.data import (
    ARITH_EVAL,
    SOLVER_SAMPLE,
    challenger_prompt_dataset,
    load_benchmark,
    load_solver_records,
    regenerate_samples,
    sample_eval_records,
    sample_solver_records,
)
from r_zero.prompts import challenger_messages
from rlcore.data import DataError


def test_challenger_prompt_dataset():
    rows = challenger_prompt_dataset(3)
    assert rows == [{"prompt": challenger_messages(), "prompt_id": i} for i in range(3)]
    assert challenger_prompt_dataset(0) == []
    with pytest.raises(ValueError, match="n"):
        challenger_prompt_dataset(-1)


def test_data_module_is_not_shadowed_by_the_data_folder():
    assert Path(data.__file__).name == "data.py"
    assert ARITH_EVAL.parent.name == "data" and ARITH_EVAL.is_file()


def test_sample_eval_records():
    records = sample_eval_records()
    assert len(records) == 32
    assert Counter(r["difficulty"] for r in records) == {1: 11, 2: 11, 3: 10}
    assert all(set(r) == {"id", "problem", "answer", "difficulty"} for r in records)
    assert len({r["id"] for r in records}) == 32


def test_sample_solver_records_are_in_the_curated_format():
    records = sample_solver_records()
    assert len(records) == 16
    for r in records:
        assert set(r) == {"problem", "answer", "score", "votes", "num_samples"}
        assert (r["score"], r["votes"], r["num_samples"]) == (0.5, 5, 10)
        assert r["answer"].isdigit()
    assert load_solver_records(str(SOLVER_SAMPLE)) == records


def test_arith_benchmark():
    rows = load_benchmark("arith")
    assert len(rows) == 32
    assert rows[0] == {
        "id": "arith-0",
        "problem": sample_eval_records()[0]["problem"],
        "answer": sample_eval_records()[0]["answer"],
        "choices": None,
    }
    subset = load_benchmark("arith", limit=16)
    assert len(subset) == 16
    ids = [int(r["id"].split("-")[1]) for r in subset]
    assert ids == sorted(ids)
    assert load_benchmark("arith", limit=16) == subset  # seeded
    assert len(load_benchmark("arith", limit=100)) == 32


def test_hub_benchmarks_rename_question(monkeypatch):
    seen = {}

    def fake(name, *, limit=None, **kwargs):
        seen["args"] = (name, limit)
        return [
            {"id": f"{name}-0", "question": "Q?", "answer": "B", "choices": ["x", "y"], "benchmark": name},
        ]

    monkeypatch.setattr(data.core_data, "load_benchmark", fake)
    assert load_benchmark("mmlu_pro", limit=5) == [
        {"id": "mmlu_pro-0", "problem": "Q?", "answer": "B", "choices": ["x", "y"]}
    ]
    assert seen["args"] == ("mmlu_pro", 5)


def test_unknown_benchmark():
    with pytest.raises(DataError, match="arith"):
        load_benchmark("nope")


def test_load_solver_records_needs_problem_and_answer(tmp_path):
    path = tmp_path / "curated.jsonl"
    path.write_text(json.dumps({"problem": "p", "answer": "1"}) + "\n" + json.dumps({"problem": "q"}) + "\n")
    with pytest.raises(DataError, match=r"curated\.jsonl: row 1 has no 'answer'"):
        load_solver_records(str(path))
    path.write_text(json.dumps({"answer": "1"}) + "\n")
    with pytest.raises(DataError, match="row 0 has no 'problem'"):
        load_solver_records(str(path))
    with pytest.raises(FileNotFoundError):
        load_solver_records(str(tmp_path / "missing.jsonl"))


def test_regenerate_is_byte_identical(tmp_path):
    paths = regenerate_samples(tmp_path)
    assert [p.name for p in paths] == ["arith_eval.jsonl", "solver_sample.jsonl"]
    for path in paths:
        assert path.read_bytes() == (ARITH_EVAL.parent / path.name).read_bytes()


def test_regenerate_command(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "r_zero.data", "--regenerate", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "arith_eval.jsonl").read_bytes() == ARITH_EVAL.read_bytes()
    assert (out / "solver_sample.jsonl").read_bytes() == SOLVER_SAMPLE.read_bytes()
    assert data.main([]) == 2  # without --regenerate: help, nothing written


def test_readme_has_a_line_per_file():
    readme = (ARITH_EVAL.parent / "README.md").read_text(encoding="utf-8")
    assert "CC0" in readme and "python -m r_zero.data --regenerate" in readme
    for name in ("arith_eval.jsonl", "solver_sample.jsonl", "challenger_samples.jsonl"):
        assert sum(name in line for line in readme.splitlines()) == 1
