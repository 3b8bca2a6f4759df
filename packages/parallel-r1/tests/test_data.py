"""Loaders for every source layout, the template teacher, cold-start generation and the bundled files
(spec §2.7, §5, §8, §10)."""

from __future__ import annotations

import json

import pytest

from parallel_r1 import data as pdata
from parallel_r1.data import (
    APO_COMBINE,
    DAPO,
    PARALLEL_GSM8K,
    REJECTION_REASONS,
    extract_core_question,
    generate_sft_records,
    gsm8k_gold,
    load_problems,
    load_sft_records,
    template_trace,
    write_sample_files,
)
from parallel_r1.prompts import TAGS
from parallel_r1.rewards import check_format, count_parallel, extract_final_answer, is_correct
from rlcore import data as core_data
from rlcore.data import DataError, DataFileNotFound


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _hub(monkeypatch, tables):
    """Route rlcore.data.load_records for hub ids to local files shaped like the hub datasets."""
    real = core_data.load_records
    calls = []

    def fake(source, *, split=None, limit=None):
        source = str(source)
        if source.startswith("hf:"):
            calls.append((source, split))
            if source not in tables:
                raise DataError(f"{source}: could not load the dataset (offline)")
            return real(tables[source], limit=limit)
        return real(source, split=split, limit=limit)

    monkeypatch.setattr(core_data, "load_records", fake)
    return calls


# ------------------------------------------------------------------------------------------------ helpers


def test_extract_core_question():
    prompt = "Solve the problem.\n\n  What is 1+1?  \n\nRemember to write Answer: on its own line."
    assert extract_core_question(prompt) == "What is 1+1?"
    assert extract_core_question("only one\n\npart") == "only one\n\npart"
    assert extract_core_question("  plain  ") == "plain"
    assert extract_core_question("a\n\nb\n\nc\n\nd") == "b"
    assert extract_core_question(None) == ""  # type: ignore[arg-type]


def test_gsm8k_gold():
    assert gsm8k_gold("He has 3 + 4 = 7.\n#### 1,000") == "1000"
    assert gsm8k_gold("#### $5") == "5"
    assert gsm8k_gold("no marker") is None
    assert gsm8k_gold("a #### 1 #### 2") == "2"


# ---------------------------------------------------------------------------------------------- teacher


def test_template_trace_passes_format_and_answer_for_many_seeds():
    phrasings = set()
    for seed in range(60):
        for answer in ("70", "1000", "-3", "\\frac{1}{2}", "2.5"):
            trace = template_trace("How many?", answer, seed=seed)
            assert check_format(trace) == []
            assert count_parallel(trace) == 1
            assert trace.count("<Path>") == 2 and trace.count("<Summary>") == 1
            assert trace.endswith(f"Final Answer: {answer}")
            assert is_correct(trace, answer)
            assert template_trace("How many?", answer, seed=seed) == trace
        phrasings.add(template_trace("How many?", "70", seed=seed))
    assert len(phrasings) > 5


def test_template_trace_needs_an_answer():
    with pytest.raises(ValueError):
        template_trace("p", None)
    with pytest.raises(ValueError):
        template_trace("p", "  ")
    assert template_trace("p", 12).endswith("Final Answer: 12")


def test_generate_sft_records_template():
    problems = [{"problem": f"P{i}", "answer": str(i), "problem_id": f"id-{i}"} for i in range(5)]
    problems.append({"problem": "", "answer": "1"})
    problems.append({"problem": "no gold", "answer": None})
    records, stats = generate_sft_records(problems, "template", samples=2)
    assert len(records) == 10
    assert records[0]["problem_id"] == "id-0" and set(records[0]) == {
        "problem_id",
        "problem",
        "response",
        "answer",
    }
    assert stats == {
        "problems": 7,
        "skipped_problems": 2,
        "generated": 10,
        "accepted": 10,
        "acceptance_rate": 1.0,
        "rejections": dict.fromkeys(REJECTION_REASONS, 0),
    }
    assert generate_sft_records(problems, "template", samples=2) == (records, stats)


def test_generate_sft_records_filter_and_rejection_counts():
    good = template_trace("p", "7")
    responses = [
        good,
        "",  # empty
        "<Parallel><Path>a</Path></Parallel><Summary>s</Summary>\nFinal Answer: 7",  # format
        "Plain.\nFinal Answer: 7",  # no block
        good.replace("Final Answer: 7", "Final Answer: 8"),  # wrong
        None,  # empty
    ]
    records, stats = generate_sft_records([{"problem": "p", "answer": "7"}], lambda record: responses)
    assert [r["response"] for r in records] == [good]
    assert stats["generated"] == 6 and stats["accepted"] == 1
    assert stats["acceptance_rate"] == pytest.approx(1 / 6)
    assert stats["rejections"] == {"empty": 2, "format": 1, "no_block": 1, "wrong_answer": 1, "too_long": 0}
    # a teacher returning a single string
    records, stats = generate_sft_records([{"problem": "p", "answer": "7"}], lambda record: good)
    assert stats["accepted"] == 1


class _CharTokenizer:
    chat_template = None

    def encode(self, text, add_special_tokens=False):
        return list(text.encode())


def test_generate_sft_records_length_filter():
    problems = [{"problem": "p", "answer": "7"}]
    records, stats = generate_sft_records(problems, "template", tokenizer=_CharTokenizer(), max_length=50)
    assert records == [] and stats["rejections"]["too_long"] == 1 and stats["accepted"] == 0
    records, stats = generate_sft_records(problems, "template", tokenizer=_CharTokenizer(), max_length=10_000)
    assert len(records) == 1


def test_generate_sft_records_bad_arguments():
    with pytest.raises(ValueError, match="teacher"):
        generate_sft_records([], "gpt")
    with pytest.raises(ValueError, match="samples"):
        generate_sft_records([], "template", samples=0)
    records, stats = generate_sft_records([], "template")
    assert records == [] and stats["acceptance_rate"] == 0.0


# ---------------------------------------------------------------------------------------------- loaders


def test_load_problems_sample_and_arithmetic():
    train = load_problems("sample")
    evaluation = load_problems("sample", split="test")
    assert len(train) == 64 and len(evaluation) == 16
    assert {r["benchmark"] for r in evaluation} == {"arith"}
    assert set(evaluation[0]) >= {"problem", "answer", "benchmark", "problem_id"}
    assert not {r["problem"] for r in train} & {r["problem"] for r in evaluation}
    arith = load_problems("arithmetic", limit=5, seed=3)
    expected = core_data.arithmetic_problems(5, seed=3)
    assert [r["problem"] for r in arith] == [p["question"] for p in expected]
    assert [r["answer"] for r in arith] == [p["answer"] for p in expected]
    assert arith[0]["benchmark"] == "arith" and arith[0]["problem_id"] == "arith-0"
    hard = load_problems("arithmetic:3", limit=2)
    assert hard[0]["problem"] == core_data.arithmetic_problems(2, seed=0, difficulty=3)[0]["question"]
    assert load_problems("arithmetic", limit=3, split="test") != load_problems("arithmetic", limit=3)
    with pytest.raises(DataError):
        load_problems("arithmetic:hard")


def test_load_problems_gsm8k(tmp_path, monkeypatch):
    rows = [{"question": "Q1", "answer": "1 + 1 = 2\n#### 2"}, {"question": "Q2", "answer": "#### 1,500"}]
    calls = _hub(monkeypatch, {"hf:openai/gsm8k:main": _write_jsonl(tmp_path / "g.jsonl", rows)})
    for source in ("gsm8k", "openai/gsm8k", "hf:openai/gsm8k:main"):
        records = load_problems(source, split="test")
        assert [(r["problem"], r["answer"], r["benchmark"]) for r in records] == [
            ("Q1", "2", "gsm8k"),
            ("Q2", "1500", "gsm8k"),
        ]
    assert calls[0] == ("hf:openai/gsm8k:main", "test")


def _verl_row(question, gold, source="math_dapo"):
    content = f'Solve the following math problem step by step.\n\n{question}\n\nRemember to put your answer after "Answer:"'
    return {
        "data_source": source,
        "prompt": [{"role": "user", "content": content}],
        "ability": "MATH",
        "reward_model": {"ground_truth": gold, "style": "rule-lighteval/MATH_v2"},
        "extra_info": {"index": "x"},
    }


def test_load_problems_dapo(tmp_path, monkeypatch):
    rows = [_verl_row("What is $1+1$?", "2"), _verl_row("Find x.", "34"), _verl_row("  ", "1")]
    _hub(monkeypatch, {f"hf:{DAPO}": _write_jsonl(tmp_path / "d.jsonl", rows)})
    for source in ("dapo", DAPO, f"hf:{DAPO}"):
        records = load_problems(source)
        assert [(r["problem"], r["answer"]) for r in records] == [("What is $1+1$?", "2"), ("Find x.", "34")]
        assert records[0]["benchmark"] == "math_dapo"


def test_load_problems_apo_groups_replicas(tmp_path, monkeypatch):
    rows = [_verl_row("A1", "10", "aime24")] * 16 + [_verl_row("A2", "20", "aime24")] * 16
    rows += [_verl_row("M1", "1", "math"), _verl_row("M2", "2", "math")]
    calls = _hub(monkeypatch, {f"hf:{APO_COMBINE}": _write_jsonl(tmp_path / "apo.jsonl", rows)})
    records = load_problems("apo", split="test")
    assert calls[-1] == (f"hf:{APO_COMBINE}", None)
    assert [(r["benchmark"], r["problem"], r["answer"], r["replicas"]) for r in records] == [
        ("aime24", "A1", "10", 16),
        ("aime24", "A2", "20", 16),
        ("math", "M1", "1", 1),
        ("math", "M2", "2", 1),
    ]
    assert [r["problem_id"] for r in records] == ["aime24-0", "aime24-1", "math-0", "math-1"]
    # a local copy of the same file is read the same way
    assert load_problems(tmp_path / "apo.jsonl") == records
    limited = load_problems("apo", limit=2, seed=1)
    assert len(limited) == 2 and all(r in records for r in limited)


def test_load_problems_local_layouts(tmp_path):
    plain = _write_jsonl(
        tmp_path / "plain.jsonl", [{"problem": "P", "answer": 3}, {"problem": "", "answer": 1}]
    )
    assert load_problems(plain) == [
        {"problem": "P", "answer": "3", "benchmark": "plain", "problem_id": "plain-0", "replicas": 1}
    ]
    extra = _write_jsonl(
        tmp_path / "extra.jsonl", [{"extra_info": {"question": "Q", "answer": "work\nFinal Answer: 9"}}]
    )
    assert load_problems(extra)[0]["answer"] == "9"
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"text": "x"}])
    with pytest.raises(DataError, match="problem"):
        load_problems(bad)
    with pytest.raises(DataFileNotFound):
        load_problems(tmp_path / "missing.jsonl")


def test_load_sft_records_parallel_gsm8k(tmp_path, monkeypatch):
    trace = template_trace("P", "42")
    rows = [{"problem": "P", "text": trace}, {"problem": "Q", "text": ""}]
    _hub(monkeypatch, {f"hf:{PARALLEL_GSM8K}": _write_jsonl(tmp_path / "pg.jsonl", rows)})
    for source in (PARALLEL_GSM8K, f"hf:{PARALLEL_GSM8K}"):
        assert load_sft_records(source) == [{"problem": "P", "response": trace, "answer": "42"}]


def test_load_sft_records_verl_and_make_sft(tmp_path):
    trace = template_trace("P", "5")
    verl = _write_jsonl(
        tmp_path / "verl.jsonl", [{"extra_info": {"question": "P", "answer": trace}, "data_source": "x"}]
    )
    assert load_sft_records(verl) == [{"problem": "P", "response": trace, "answer": "5"}]
    records, _ = generate_sft_records([{"problem": f"P{i}", "answer": str(i)} for i in range(3)], "template")
    made = _write_jsonl(tmp_path / "made.jsonl", records)
    loaded = load_sft_records(made)
    assert [(r["problem"], r["answer"]) for r in loaded] == [(f"P{i}", str(i)) for i in range(3)]
    assert load_sft_records(made, limit=2) == loaded[:2]
    with pytest.raises(DataError, match="response"):
        load_sft_records(_write_jsonl(tmp_path / "bad.jsonl", [{"problem": "x"}]))
    with pytest.raises(DataError, match="make-sft"):
        load_sft_records("gsm8k")


def test_load_sft_records_sample():
    records = load_sft_records("sample")
    assert len(records) == 64
    for record in records:
        assert set(record) == {"problem", "response", "answer"}
        assert check_format(record["response"]) == [] and count_parallel(record["response"]) == 1
        assert is_correct(record["response"], record["answer"])
        assert extract_final_answer(record["response"]) == record["answer"]
        assert all(tag in record["response"] for tag in TAGS)


# ------------------------------------------------------------------------------------------ bundled files


def test_bundled_files_regenerate_byte_identically(tmp_path):
    paths = write_sample_files(tmp_path)
    assert [p.name for p in paths] == ["sample_sft.jsonl", "sample_rl.jsonl", "sample_eval.jsonl"]
    for path in paths:
        assert path.read_bytes() == (pdata.SAMPLE_DIR / path.name).read_bytes()
    assert pdata.main(["--regenerate", "--out", str(tmp_path / "again")]) == 0
    for path in paths:
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes()
    assert (pdata.SAMPLE_DIR / "README.md").is_file()
    assert [len(p.read_text().splitlines()) for p in paths] == [64, 64, 16]


def test_main_without_flag_prints_help(capsys):
    assert pdata.main([]) == 2
    assert "--regenerate" in capsys.readouterr().out
