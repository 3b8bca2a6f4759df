"""Warm-up insertion, the teacher filter, loading and the bundled data (spec §2.4, §5, §8, §10)."""

from __future__ import annotations

import json
import random

import pytest

from relayllm import data as relay_data
from relayllm.config import FilterConfig
from relayllm.data import (
    BENCHMARKS,
    CALL_LENGTH_CHOICES,
    SAMPLES,
    LoadedRecords,
    build_warmup_records,
    build_warmup_response,
    filter_by_teacher,
    insert_call_ids,
    keep_by_pass_rate,
    load_benchmark,
    load_records,
    load_sample,
    pass_rate,
    plan_insertions,
    regenerate_samples,
    sample_call_length,
    select_by_pass_rate,
)
from relayllm.prompts import build_messages, format_call, parse_calls, strip_calls
from relayllm.rewards import is_correct
from rlcore.data import DataError, DataFileNotFound
from rlcore.rollout import Sample, SamplingParams

# ------------------------------------------------------------------------------------------------- warm-up


def test_call_length_choices():
    assert len(CALL_LENGTH_CHOICES) == 36
    assert list(CALL_LENGTH_CHOICES) == sorted(set(CALL_LENGTH_CHOICES))
    assert CALL_LENGTH_CHOICES[:3] == (1, 2, 3) and CALL_LENGTH_CHOICES[-1] == 9000
    assert {100, 400, 2000} <= set(CALL_LENGTH_CHOICES)


def test_sample_call_length_draws_d_then_k():
    rng, replay = random.Random(7), random.Random(7)
    for _ in range(200):
        d, k = replay.randint(1, 9), replay.randint(0, 3)
        assert sample_call_length(rng) == d * 10**k
    assert {sample_call_length(rng) for _ in range(3000)} == set(CALL_LENGTH_CHOICES)


def _replayed_plan(num_tokens: int, seed: int, max_commands: int) -> list[tuple[int, int]]:
    """The draws of spec §2.4, in order: m, the positions, then one call length per position."""
    rng = random.Random(seed)
    m = rng.randint(0, max_commands)
    positions = sorted(rng.sample(range(num_tokens + 1), min(m, num_tokens + 1)))
    return [(p, min(sample_call_length(rng), num_tokens - p)) for p in positions]


def test_plan_invariants_over_500_seeds():
    seen_counts = set()
    for seed in range(500):
        num_tokens = seed % 50  # includes 0 and responses shorter than the number of commands
        max_commands = 3 if seed % 5 else 5
        plan = plan_insertions(num_tokens, random.Random(seed), max_commands)
        positions = [p for p, _ in plan]
        assert positions == sorted(set(positions)), "ascending, distinct positions"
        assert all(0 <= p <= num_tokens for p in positions)
        assert len(plan) <= min(max_commands, num_tokens + 1)
        for p, n in plan:
            assert n == num_tokens - p or (n in CALL_LENGTH_CHOICES and n < num_tokens - p)
            if p == num_tokens:
                assert n == 0, "a command at the very end asks for nothing"
        assert plan == _replayed_plan(num_tokens, seed, max_commands)
        seen_counts.add(len(plan))
    assert seen_counts == {0, 1, 2, 3, 4, 5}


def test_plan_rejects_negative_arguments():
    with pytest.raises(ValueError):
        plan_insertions(-1, random.Random(0))
    with pytest.raises(ValueError):
        plan_insertions(10, random.Random(0), max_commands=-1)
    assert plan_insertions(10, random.Random(0), max_commands=0) == []


def _marker(n: int) -> list[int]:
    # Negative ids cannot collide with real ones, so deleting them must restore the original sequence.
    return [-1, -(n + 2), -1]


def test_insert_call_ids_example():
    assert insert_call_ids([10, 11, 12], [(0, 5), (2, 1), (3, 0)], _marker) == [
        -1, -7, -1, 10, 11, -1, -3, -1, 12, -1, -2, -1,
    ]  # fmt: skip
    assert insert_call_ids([10, 11], [], _marker) == [10, 11]
    assert insert_call_ids([], [(0, 0)], _marker) == [-1, -2, -1]


def test_inserting_then_deleting_commands_restores_the_ids():
    for seed in range(500):
        rng = random.Random(seed)
        ids = [rng.randrange(1000) for _ in range(rng.randrange(40))]
        plan = plan_insertions(len(ids), rng)
        out = insert_call_ids(ids, plan, _marker)
        assert [i for i in out if i >= 0] == ids
        assert len(out) == len(ids) + 3 * len(plan)


def test_insert_call_ids_rejects_bad_positions():
    with pytest.raises(ValueError):
        insert_call_ids([1, 2], [(1, 3), (1, 4)], _marker)
    with pytest.raises(ValueError):
        insert_call_ids([1, 2], [(3, 1)], _marker)
    with pytest.raises(ValueError):
        insert_call_ids([1, 2], [(-1, 1)], _marker)


class CharTokenizer:
    """One id per character: decoding inserted command ids gives the command text at that position."""

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        assert add_special_tokens is False
        return [ord(c) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)


def test_build_warmup_response_inserts_the_planned_commands():
    response = "Start with 12. 12 + 5 = 17. The answer is \\boxed{17}."
    for seed in range(50):
        text = build_warmup_response(response, CharTokenizer(), random.Random(seed))
        plan = plan_insertions(len(response), random.Random(seed))
        assert parse_calls(text) == [n for _, n in plan]
        assert strip_calls(text, "remove") == response
        if plan:
            p, n = plan[0]
            assert text.startswith(response[:p] + format_call(n))


def test_build_warmup_response_with_a_real_tokenizer():
    from rlcore.testing import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    response = "Start with 12. 12 + 5 = 17. So the answer is \\boxed{17}."
    for seed in range(20):
        text = build_warmup_response(response, tokenizer, random.Random(seed))
        assert strip_calls(text, "remove") == response
        assert all(n <= len(tokenizer.encode(response, add_special_tokens=False)) for n in parse_calls(text))


def test_build_warmup_records():
    records = [{"question": "What is 1+1?", "answer": "2"}, {"question": "What is 2+2?", "answer": "4"}]
    responses = ["1 + 1 = 2, so \\boxed{2}.", "2 + 2 = 4, so \\boxed{4}."]
    rows = build_warmup_records(records, responses, CharTokenizer(), seed=3)
    assert rows == build_warmup_records(records, responses, CharTokenizer(), seed=3)
    for row, record, response in zip(rows, records, responses, strict=True):
        assert set(row) == {"prompt", "completion", "question", "answer", "num_commands"}
        assert row["prompt"] == build_messages(record["question"])
        assert row["completion"][0]["role"] == "assistant" and len(row["completion"]) == 1
        content = row["completion"][0]["content"]
        assert strip_calls(content, "remove") == response
        assert row["num_commands"] == len(parse_calls(content))
        assert (row["question"], row["answer"]) == (record["question"], record["answer"])
    no_calls = build_warmup_records(records, responses, CharTokenizer(), max_commands=0)
    assert [r["completion"][0]["content"] for r in no_calls] == responses
    with pytest.raises(ValueError):
        build_warmup_records(records, responses[:1], CharTokenizer())


# ------------------------------------------------------------------------------------------ teacher filter


def test_pass_rate_and_keep():
    assert pass_rate(5, 10) == 0.5
    assert pass_rate(0, 0) == 0.0
    assert keep_by_pass_rate(5, 10)
    assert not keep_by_pass_rate(4, 10)
    assert not keep_by_pass_rate(0, 0, threshold=0.0)
    # 1/16 clears the official script's 0.0625 despite floating point.
    assert keep_by_pass_rate(1, 16, threshold=0.0625)
    assert keep_by_pass_rate(1, 3, threshold=1 / 3)
    for correct, samples in [(-1, 10), (1, -1), (11, 10)]:
        with pytest.raises(ValueError):
            keep_by_pass_rate(correct, samples)
        with pytest.raises(ValueError):
            pass_rate(correct, samples)


def test_select_by_pass_rate():
    records = [{"id": str(i)} for i in range(5)]
    rates = [0.5, 0.4, 0.9, 0.0, 0.4]
    kept = select_by_pass_rate(records, rates)
    assert [(r["id"], r["teacher_pass_rate"]) for r in kept] == [("0", 0.5), ("2", 0.9)]
    assert "teacher_pass_rate" not in records[0], "the input records are not modified"
    assert not any("filter_fallback" in r for r in kept)
    # Topping up to 4 adds the best remaining rates, earlier position first on ties, in input order.
    topped = select_by_pass_rate(records, rates, min_keep=4)
    assert [r["id"] for r in topped] == ["0", "1", "2", "4"]
    assert [r.get("filter_fallback", False) for r in topped] == [False, True, False, True]
    assert [r["id"] for r in select_by_pass_rate(records, rates, threshold=1.0, min_keep=1)] == ["2"]
    assert len(select_by_pass_rate(records, rates, min_keep=99)) == 5
    assert select_by_pass_rate(records, rates, threshold=1.0) == []
    with pytest.raises(ValueError):
        select_by_pass_rate(records, rates[:2])


class ScriptedTeacher:
    """A Generator whose i-th sample for a question is right while i < the number scripted for it."""

    def __init__(self, right_per_question: dict[str, int]) -> None:
        self.right = right_per_question
        self.calls: list[tuple[list, SamplingParams, int]] = []

    def generate(self, prompts, params=None, n=1):
        self.calls.append((prompts, params, n))
        out = []
        for prompt in prompts:
            question = prompt[0]["content"].split("\n")[0]
            right = self.right[question]
            out.append([Sample(f"\\boxed{{{'7' if i < right else '8'}}}") for i in range(n)])
        return out


def test_filter_by_teacher_with_a_scripted_generator():
    records = [{"id": f"q{i}", "question": f"Q{i}", "answer": "7"} for i in range(5)]
    teacher = ScriptedTeacher({"Q0": 5, "Q1": 4, "Q2": 10, "Q3": 0, "Q4": 6})
    config = FilterConfig(samples=10, threshold=0.5, temperature=0.6, top_p=0.9, max_new_tokens=64)
    kept, rates = filter_by_teacher(records, teacher, config, batch_size=2)
    assert [r["id"] for r in kept] == ["q0", "q2", "q4"]
    assert [r["teacher_pass_rate"] for r in kept] == [0.5, 1.0, 0.6]
    assert rates[1] == {"id": "q1", "question": "Q1", "answer": "7", "correct": 4, "samples": 10, "rate": 0.4}
    assert [len(prompts) for prompts, _, _ in teacher.calls] == [2, 2, 1]
    prompts, params, n = teacher.calls[0]
    assert prompts == [build_messages("Q0"), build_messages("Q1")]
    assert n == 10
    assert (params.temperature, params.top_p, params.max_new_tokens) == (0.6, 0.9, 64)


def test_filter_by_teacher_min_keep_and_choice_kind():
    records = [
        {"id": "a", "question": "QA", "answer": "7"},
        {"id": "b", "question": "QB", "answer": "B", "kind": "choice"},
    ]
    kept, rates = filter_by_teacher(
        records, ScriptedTeacher({"QA": 1, "QB": 2}), FilterConfig(samples=2, min_keep=1)
    )
    assert [r["rate"] for r in rates] == [0.5, 0.0], "a boxed 7 is no letter for a choice question"
    assert [r["id"] for r in kept] == ["a"]
    kept, _ = filter_by_teacher(
        records, ScriptedTeacher({"QA": 0, "QB": 0}), FilterConfig(samples=2, min_keep=1)
    )
    assert [(r["id"], r["filter_fallback"]) for r in kept] == [("a", True)]


# ------------------------------------------------------------------------------------------------- loading


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_load_records_detects_fields_and_counts_skipped(tmp_path):
    path = _write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"problem": "P1", "final_answer": ["12", "13"], "solution": "S1"},
            {"question": "Q2", "problem": "ignored", "answer": 5, "id": "x2"},
            {"prompt": "P3", "Answer": "3"},
            {"Question": "Q4", "answer": "4", "difficulty": 2},
            {"question": "", "answer": "1"},
            {"question": "Q6", "answer": "  "},
            {"question": "Q7"},
            {"answer": "8"},
            {"question": "Q9", "answer": None},
            {"question": "Q10", "answer": []},
        ],
    )
    records = load_records(path)
    assert isinstance(records, LoadedRecords) and isinstance(records, list)
    assert records.skipped == 6
    assert records == [
        {"id": "0", "question": "P1", "answer": "12", "solution": "S1"},
        {"id": "x2", "question": "Q2", "answer": "5"},
        {"id": "2", "question": "P3", "answer": "3"},
        {"id": "3", "question": "Q4", "answer": "4", "difficulty": 2},
    ]


def test_load_records_explicit_fields_and_limit(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("q,a,question\nfirst,1,no\n,2,no\nthird,3,no\nfourth,4,no\n", encoding="utf-8")
    records = load_records(path, question_field="q", answer_field="a", limit=2)
    assert [(r["question"], r["answer"]) for r in records] == [("first", "1"), ("third", "3")]
    assert records.skipped == 1
    nothing = load_records(path, question_field="missing")
    assert nothing == [] and nothing.skipped == 4


def test_load_records_bad_sources(tmp_path):
    with pytest.raises(DataFileNotFound):
        load_records(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match=":2: not valid JSON"):
        load_records(bad)
    with pytest.raises(DataError):
        load_records(bad, limit=-1)


def test_benchmark_registry():
    expected = {
        "math500", "gsm8k", "minerva", "olympiad", "aime24", "aime25",
        "mmlu_pro", "supergpqa", "bbeh", "toy-easy", "toy-hard",
    }  # fmt: skip
    assert set(BENCHMARKS) == expected
    assert BENCHMARKS["olympiad"].core == "olympiadbench"
    assert {name for name, b in BENCHMARKS.items() if b.repeats == 32} == {"aime24", "aime25"}
    assert {name for name, b in BENCHMARKS.items() if b.subset == 1000} == {"mmlu_pro", "supergpqa", "bbeh"}
    assert {name for name, b in BENCHMARKS.items() if b.kind == "choice"} == {"mmlu_pro", "supergpqa"}


def test_load_toy_benchmarks():
    easy = load_benchmark("toy-easy")
    assert len(easy) == 16 and len(load_benchmark("toy-hard", limit=6)) == 6
    assert easy[0]["benchmark"] == "toy-easy" and easy[0]["kind"] == "math"
    assert easy[:3] == load_benchmark("toy-easy", limit=3)
    with pytest.raises(DataError, match="unknown benchmark"):
        load_benchmark("math501")


def test_hub_benchmarks_wrap_rlcore(monkeypatch, tmp_path):
    """Choice sets get their options in the question; the OOD subsets are cut with limit=1000 and the seed."""
    rows = [{"question": f"Q{i}", "options": ["x", "y", "z"], "answer": "B"} for i in range(3)]
    local = _write_jsonl(tmp_path / "mmlu.jsonl", rows)
    records = load_benchmark("mmlu_pro", source=local, limit=2)
    assert len(records) == 2
    assert records[0]["question"] == "Q0\n\nOptions:\nA. x\nB. y\nC. z"
    assert (records[0]["answer"], records[0]["kind"], records[0]["benchmark"]) == ("B", "choice", "mmlu_pro")

    calls = []

    def fake_core(name, *, limit=None, seed=0, source=None):
        calls.append((name, limit, seed))
        return [{"id": f"{name}-0", "question": "q", "answer": "1", "choices": None, "benchmark": name}]

    monkeypatch.setattr(relay_data.core_data, "load_benchmark", fake_core)
    assert load_benchmark("olympiad")[0]["benchmark"] == "olympiad"
    load_benchmark("bbeh", seed=3)
    load_benchmark("aime24")
    assert calls == [("olympiadbench", None, 0), ("bbeh", 1000, 3), ("aime24", None, 0)]


# ------------------------------------------------------------------------------------------- bundled data


def test_bundled_sets():
    sizes = {"toy_train": 64, "toy_easy": 16, "toy_hard": 16}
    difficulties = {"toy_train": {1, 2}, "toy_easy": {1}, "toy_hard": {3}}
    questions = {}
    for name in SAMPLES:
        records = load_sample(name)
        assert len(records) == sizes[name]
        assert {r["difficulty"] for r in records} == difficulties[name]
        for r in records:
            assert set(r) == {"id", "question", "answer", "difficulty", "solution"}
            assert r["solution"].endswith(f"\\boxed{{{r['answer']}}}.")
            assert is_correct(r["solution"], r["answer"])
        questions[name] = {r["question"] for r in records}
    assert not questions["toy_train"] & (questions["toy_easy"] | questions["toy_hard"])
    with pytest.raises(DataError):
        load_sample("toy_medium")


def test_worked_solution_restates_each_step():
    question = (
        "Ava has 12 apples. Then Ava gets 5 more apples. Then Ava doubles the number of apples. "
        "Then Ava gives away 4 apples. Then Ava keeps only a third of the apples. How many apples does Ava have now?"
    )
    assert relay_data._worked_solution(question, "10") == (
        "Ava starts with 12 apples. After getting 5 more: 12 + 5 = 17. Doubling: 17 * 2 = 34. "
        "After giving away 4: 34 - 4 = 30. Keeping a third: 30 / 3 = 10. "
        "So Ava has 10 apples now. The answer is \\boxed{10}."
    )
    with pytest.raises(ValueError):
        relay_data._worked_solution(question, "11")


def test_bundled_data_is_byte_identical_when_regenerated(tmp_path):
    paths = regenerate_samples(tmp_path)
    assert [p.name for p in paths] == [f"{name}.jsonl" for name in SAMPLES]
    bundled = relay_data._SAMPLE_DIR
    for path in paths:
        assert path.read_bytes() == (bundled / path.name).read_bytes()
    assert relay_data.main(["--regenerate", "--out", str(tmp_path / "again")]) == 0
    for path in paths:
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes()
