import json

import pytest

from rlcore.data import (
    BENCHMARKS,
    DataError,
    DataFileNotFound,
    arithmetic_problems,
    gsm8k_answer,
    load_benchmark,
    load_records,
)


def test_local_formats(tmp_path):
    rows = [{"q": "a", "n": 1}, {"q": "b", "n": 2}]
    (tmp_path / "d.jsonl").write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    (tmp_path / "d.json").write_text(json.dumps(rows))
    (tmp_path / "d.csv").write_text("q,n\na,1\nb,2\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    assert load_records(tmp_path / "d.jsonl") == rows
    assert load_records(str(tmp_path / "d.json"), limit=1) == rows[:1]
    assert load_records(tmp_path / "d.csv") == [{"q": "a", "n": "1"}, {"q": "b", "n": "2"}]
    assert load_records(tmp_path / "d.parquet") == rows


def test_errors(tmp_path):
    with pytest.raises(DataFileNotFound, match="nope.jsonl") as info:
        load_records(tmp_path / "nope.jsonl")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid JSON"):
        load_records(bad)
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported"):
        load_records(tmp_path / "x.txt")
    (tmp_path / "obj.json").write_text('{"a": 1}')
    with pytest.raises(DataError, match="list of records"):
        load_records(tmp_path / "obj.json")


def test_hub_offline_is_a_data_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match="hf:nobody/nothing"):
        load_records("hf:nobody/nothing")


def test_arithmetic_problems_deterministic_and_exact():
    a = arithmetic_problems(20, seed=3, difficulty=3)
    assert a == arithmetic_problems(20, seed=3, difficulty=3)
    assert a != arithmetic_problems(20, seed=4, difficulty=3)
    assert all(p["difficulty"] == 3 and p["answer"].isdigit() for p in a)
    assert all(p["question"].count("Then ") == 3 for p in a)
    # difficulty 1 is one operation: re-derive each answer from the text
    import re

    fractions = {"half": 2, "a third": 3, "a quarter": 4, "a fifth": 5}
    factors = {"doubles": 2, "triples": 3, "quadruples": 4}
    for p in arithmetic_problems(50, seed=0, difficulty=1):
        q, answer = p["question"], int(p["answer"])
        start = int(re.match(r"\w+ has (\d+)", q).group(1))
        if m := re.search(r"gets (\d+) more", q):
            assert answer == start + int(m.group(1))
        elif m := re.search(r"gives away (\d+)", q):
            assert answer == start - int(m.group(1)) >= 1
        elif m := re.search(r"(doubles|triples|quadruples)", q):
            assert answer == start * factors[m.group(1)]
        else:
            frac = re.search(r"keeps only (half|a third|a quarter|a fifth)", q).group(1)
            assert answer * fractions[frac] == start


def test_gsm8k_answer():
    assert gsm8k_answer("so ... #### 1,080") == "1080"
    assert gsm8k_answer("#### $5") == "5"
    assert gsm8k_answer("a #### 1 #### 2 ") == "2"
    assert gsm8k_answer("no marker") is None


def test_load_benchmark_from_local_source(tmp_path):
    rows = [{"problem": f"p{i}", "answer": str(i)} for i in range(10)]
    src = tmp_path / "math.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    records = load_benchmark("math500", limit=4, seed=1, source=src)
    assert len(records) == 4
    ids = [int(r["id"].split("-")[1]) for r in records]
    assert ids == sorted(ids)
    assert records[0] == {
        "id": f"math500-{ids[0]}",
        "question": f"p{ids[0]}",
        "answer": str(ids[0]),
        "choices": None,
        "benchmark": "math500",
    }
    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text(json.dumps({"question": "q", "answer": "x #### 1,000"}) + "\n")
    assert load_benchmark("gsm8k", source=gsm)[0]["answer"] == "1000"
    mc = tmp_path / "mc.jsonl"
    mc.write_text(json.dumps({"question": "q", "answer": "B", "options": ["x", "y"]}) + "\n")
    assert load_benchmark("mmlu_pro", source=mc)[0]["choices"] == ["x", "y"]
    with pytest.raises(DataError, match="math500"):
        load_benchmark("nope")
    assert set(BENCHMARKS) >= {"math500", "gsm8k", "aime24", "aime25", "supergpqa", "bbeh"}


def test_load_image(tmp_path, tiny_images):
    from rlcore.data import load_image

    path = tmp_path / "a.png"
    tiny_images[0].save(path)
    assert load_image(path).size == tiny_images[0].size
    assert load_image(str(path)).mode == "RGB"
    assert load_image(tiny_images[1]) is tiny_images[1]
    with pytest.raises(DataFileNotFound, match="missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(DataError, match="bad.png"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="PIL image or a file path"):
        load_image(42)
