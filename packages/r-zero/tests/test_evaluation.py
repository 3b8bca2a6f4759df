"""The evaluation protocol, the BBEH matcher and the score aggregation (spec §2.5, §7, §8)."""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Sequence

import pytest

from r_zero import evaluation
from r_zero.config import EvalConfig
from r_zero.evaluation import (
    GENERAL_BENCHMARKS,
    MATH_BENCHMARKS,
    aggregate_scores,
    bbeh_match,
    choice_prediction,
    evaluate_solver,
    extract_bbeh_answer,
    format_question,
)
from r_zero.prompts import MC_INSTRUCTION, SOLVER_SYSTEM_PROMPT
from rlcore.data import DataError
from rlcore.rollout import Sample, SamplingParams

# ------------------------------------------------------------------------------------------------ helpers


class ScriptedGenerator:
    """A Generator whose completions are scripted per question: the first key found in the user turn gives
    the texts of samples 0, 1, … (cycled). Records every call's params, n and user turns."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.calls: list[tuple[SamplingParams, int, list[list[dict]]]] = []

    def generate(
        self, prompts: Sequence[list[dict]], params: SamplingParams | None = None, n: int = 1
    ) -> list[list[Sample]]:
        self.calls.append((params, n, list(prompts)))
        out = []
        for messages in prompts:
            user = messages[-1]["content"]
            texts = next(v for k, v in self.script.items() if k in user)
            out.append([Sample(text=texts[s % len(texts)]) for s in range(n)])
        return out


class ExplodingGenerator:
    def generate(self, prompts, params=None, n=1):
        raise AssertionError("the model must not be called")


def _data_module():
    """r_zero.data (the module once written; until then the bundled-data namespace package)."""
    return importlib.import_module("r_zero.data")


@pytest.fixture
def benchmark_rows(monkeypatch):
    """Replace r_zero.data.load_benchmark with scripted rows; returns (rows by name, list of calls)."""
    rows: dict[str, list[dict]] = {}
    calls: list[tuple[str, int | None]] = []

    def fake_load_benchmark(name: str, limit: int | None = None) -> list[dict]:
        calls.append((name, limit))
        return rows[name][:limit] if limit is not None else list(rows[name])

    monkeypatch.setattr(_data_module(), "load_benchmark", fake_load_benchmark, raising=False)
    return rows, calls


MATH_ROWS = [
    {"id": "gsm8k-0", "problem": "What is 2+2?", "answer": "4", "choices": None},
    {"id": "gsm8k-1", "problem": "What is half of one?", "answer": "0.5", "choices": None},
    {"id": "gsm8k-2", "problem": "What is 3*3?", "answer": "9", "choices": None},
    {"id": "gsm8k-3", "problem": "What is 10-3?", "answer": "7", "choices": None},
]
MATH_SCRIPT = {
    "2+2": ["So \\boxed{4}."],
    "half of one": ["\\boxed{\\frac{1}{2}}"],
    "3*3": ["\\boxed{6}"],
    "10-3": ["It is 7."],
}
MC_ROWS = [
    {"id": "mmlu_pro-0", "problem": "Pick B.", "answer": "B", "choices": ["one", "two", "three"]},
    {"id": "mmlu_pro-1", "problem": "Pick C.", "answer": "C", "choices": ["one", "two", "three"]},
    {"id": "mmlu_pro-2", "problem": "Pick A.", "answer": "A", "choices": ["one", "two", "three"]},
]
MC_SCRIPT = {"Pick B.": ["\\boxed{B}"], "Pick C.": ["\\boxed{A}"], "Pick A.": ["I would say A."]}
BBEH_ROWS = [
    {"id": "bbeh-0", "problem": "Which option?", "answer": "(A)", "choices": None},
    {"id": "bbeh-1", "problem": "Is it valid?", "answer": "True", "choices": None},
    {"id": "bbeh-2", "problem": "How many?", "answer": "7", "choices": None},
    {"id": "bbeh-3", "problem": "Name it.", "answer": "x", "choices": None},
]
BBEH_SCRIPT = {
    "Which option?": ["Thinking... The answer is (a)."],
    "Is it valid?": ["\\boxed{true}"],
    "How many?": ["\\boxed{7.0}"],
    "Name it.": ["no idea"],
}


# ------------------------------------------------------------------------------------------- aggregation


def test_benchmark_names_match_the_spec():
    assert MATH_BENCHMARKS == ("amc23", "minerva", "math500", "gsm8k", "olympiadbench", "aime25", "aime24")
    assert GENERAL_BENCHMARKS == ("supergpqa", "mmlu_pro", "bbeh")


def test_aggregate_scores_v1_qwen3_4b_base_row():
    scores = dict.fromkeys(MATH_BENCHMARKS, 42.58) | {"supergpqa": 20.88, "mmlu_pro": 37.38, "bbeh": 7.57}
    agg = aggregate_scores(scores)
    assert set(agg) == {"math_avg", "general_avg", "overall"}
    assert agg["math_avg"] == pytest.approx(42.58, abs=1e-6)
    assert agg["general_avg"] == pytest.approx((20.88 + 37.38 + 7.57) / 3, abs=1e-6)
    assert agg["overall"] == pytest.approx(27.1025, abs=1e-6)
    assert round(agg["overall"], 2) == 27.10


def test_aggregate_scores_omits_keys_and_ignores_other_names():
    assert aggregate_scores({}) == {}
    assert aggregate_scores({"arith": 1.0, "hellaswag": 0.3}) == {}
    assert aggregate_scores({"gsm8k": 0.8, "math500": 0.4}) == {"math_avg": pytest.approx(0.6, abs=1e-12)}
    assert aggregate_scores({"bbeh": 0.1, "mmlu_pro": 0.3}) == {"general_avg": pytest.approx(0.2, abs=1e-12)}
    # overall = mean of [math_avg] + each general score present.
    assert aggregate_scores({"gsm8k": 0.8, "math500": 0.4, "bbeh": 0.2, "arith": 0.0}) == {
        "math_avg": pytest.approx(0.6, abs=1e-12),
        "general_avg": pytest.approx(0.2, abs=1e-12),
        "overall": pytest.approx(0.4, abs=1e-12),
    }


# ---------------------------------------------------------------------------------------------------- BBEH


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("True", "true", True),  # lower-cased both sides
        ("  Paris. ", "paris", True),  # stripped, final period dropped
        ("(A)", "a", True),  # "(x)" vs "x"
        ("b", "(B)", True),
        ("(b)", "a", False),
        ("3.0", "3", True),  # equal as numbers
        ("1e3", "1000", True),
        ("'hello'", "hello", True),  # quotes ignored
        ("[1,2]", "1, 2", True),  # brackets; ", " read as ","
        ("yes?", "yes", True),  # a final "?"
        ("no", "yes", False),
        ("4", "5", False),
        ("**valid**", "valid", True),
        ("$7$", "7", True),
        (None, "x", False),
        ("x", None, False),
        ("", "", True),
    ],
)
def test_bbeh_match(prediction, gold, expected):
    assert bbeh_match(prediction, gold) is expected


def test_extract_bbeh_answer_box_then_the_answer_is():
    assert extract_bbeh_answer("The answer is (B). Final: \\boxed{(C)}") == "(C)"
    assert extract_bbeh_answer("the answer is 3. Wait. The answer is: valid.\nMore text") == "valid."
    assert extract_bbeh_answer("I do not know.") is None
    assert extract_bbeh_answer("The answer is") is None
    assert extract_bbeh_answer(None) is None
    assert bbeh_match(extract_bbeh_answer("So The answer is: Valid.\n"), "valid")


# ------------------------------------------------------------------------------------------ multiple choice


def test_format_question_lists_lettered_options_then_the_instruction():
    assert format_question("What is 2+2?") == "What is 2+2?"
    assert format_question("What is 2+2?", None) == "What is 2+2?"
    text = format_question("Which is even?", ["3", "4", "5"])
    assert text == f"Which is even?\n\nA. 3\nB. 4\nC. 5\n\n{MC_INSTRUCTION}"


def test_choice_prediction_extracts_the_letter_in_the_last_box():
    assert choice_prediction("\\boxed{A} then \\boxed{B}", 4) == "B"
    assert choice_prediction("\\boxed{(C) three}", 4) == "C"
    assert choice_prediction("The answer is B", 4) is None
    assert choice_prediction("\\boxed{42}", 4) is None
    assert choice_prediction(None, 4) is None


def test_choice_prediction_random_letter_fallback_is_seeded_among_the_options():
    drawn = [choice_prediction("no box", 3, random.Random(seed)) for seed in range(50)]
    assert set(drawn) == {"A", "B", "C"}
    assert drawn == [choice_prediction("no box", 3, random.Random(seed)) for seed in range(50)]
    assert drawn[7] == random.Random(7).choice("ABC")
    # A letter that was extracted is never replaced.
    assert choice_prediction("\\boxed{B}", 3, random.Random(0)) == "B"


# --------------------------------------------------------------------------------------------- evaluate_solver


def test_evaluate_solver_scores_math_choice_and_bbeh(benchmark_rows, tmp_path):
    rows, calls = benchmark_rows
    rows |= {"gsm8k": MATH_ROWS, "mmlu_pro": MC_ROWS, "bbeh": BBEH_ROWS}
    gen = ScriptedGenerator(MATH_SCRIPT | MC_SCRIPT | BBEH_SCRIPT)
    config = EvalConfig(max_new_tokens=111, general_max_new_tokens=222, batch_size=2)
    out = tmp_path / "iter_1" / "eval.json"

    scores = evaluate_solver(gen, ["gsm8k", "mmlu_pro", "bbeh"], config, out_path=out)

    assert list(scores) == ["gsm8k", "mmlu_pro", "bbeh"]
    assert scores["gsm8k"] == pytest.approx(2 / 4, abs=1e-12)  # 4 and 1/2 = 0.5 right; 6 wrong; no box
    assert scores["mmlu_pro"] == pytest.approx(1 / 3, abs=1e-12)  # B right; A for C; no box is wrong
    assert scores["bbeh"] == pytest.approx(3 / 4, abs=1e-12)  # (a)/(A), true/True, 7.0/7 right
    assert calls == [("gsm8k", None), ("mmlu_pro", None), ("bbeh", None)]

    # Token budgets: math vs general; greedy; one sample; batches of 2.
    budgets = {}
    for params, n, prompts in gen.calls:
        assert params.temperature == 0.0 and n == 1 and len(prompts) <= 2
        for messages in prompts:
            assert messages[0] == {"role": "system", "content": SOLVER_SYSTEM_PROMPT}
            budgets[messages[-1]["content"].split("\n")[0]] = params.max_new_tokens
    assert budgets["What is 2+2?"] == 111
    assert budgets["Pick B."] == 222 and budgets["Which option?"] == 222

    # The multiple-choice user turn lists the options and ends with the instruction.
    mc_user = next(m[-1]["content"] for _, _, ps in gen.calls for m in ps if "Pick C." in m[-1]["content"])
    assert mc_user == f"Pick C.\n\nA. one\nB. two\nC. three\n\n{MC_INSTRUCTION}"

    report = json.loads(out.read_text())
    assert report["scores"] == scores
    assert report["aggregate"] == aggregate_scores(scores)
    assert {name: b["n"] for name, b in report["benchmarks"].items()} == {
        "gsm8k": 4,
        "mmlu_pro": 3,
        "bbeh": 4,
    }
    assert report["benchmarks"]["gsm8k"]["max_new_tokens"] == 111
    assert report["benchmarks"]["bbeh"]["max_new_tokens"] == 222
    items = [json.loads(line) for line in (out.parent / "eval_gsm8k.jsonl").read_text().splitlines()]
    assert [it["id"] for it in items] == ["gsm8k-0", "gsm8k-1", "gsm8k-2", "gsm8k-3"]
    assert [it["predictions"] for it in items] == [["4"], ["\\frac{1}{2}"], ["6"], [None]]
    assert [it["scores"] for it in items] == [[1.0], [1.0], [0.0], [0.0]]
    bbeh_items = [json.loads(line) for line in (out.parent / "eval_bbeh.jsonl").read_text().splitlines()]
    assert bbeh_items[0]["predictions"] == ["(a)."] and bbeh_items[0]["gold"] == "(A)"
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "eval.json",
        "eval_bbeh.jsonl",
        "eval_gsm8k.jsonl",
        "eval_mmlu_pro.jsonl",
    ]


def test_evaluate_solver_mean_at_k_limit_and_sampling_settings(benchmark_rows):
    rows, calls = benchmark_rows
    rows["math500"] = MATH_ROWS
    script = {"2+2": ["\\boxed{4}", "\\boxed{5}", "\\boxed{4}"], "half of one": ["\\boxed{1/2}", "none"]}
    gen = ScriptedGenerator(script)
    config = EvalConfig(temperature=0.6, num_samples=3, limit=2, seed=5)
    scores = evaluate_solver(gen, "math500", config)
    # Item 1: 2 of 3 right; item 2: samples 1/2, none, 1/2 -> 2 of 3 right. mean@3 = 2/3.
    assert scores == {"math500": pytest.approx(2 / 3, abs=1e-12)}
    assert calls == [("math500", 2)]
    (params, n, _prompts), *_ = gen.calls
    assert (params.temperature, params.seed, params.max_new_tokens, n) == (0.6, 5, 4096, 3)


def test_evaluate_solver_random_letter_fallback(benchmark_rows, tmp_path):
    rows, _ = benchmark_rows
    rows["supergpqa"] = MC_ROWS
    results = []
    for _ in range(2):
        out = tmp_path / f"run{len(results)}" / "eval.json"
        config = EvalConfig(random_letter_fallback=True, seed=3)
        scores = evaluate_solver(ScriptedGenerator(MC_SCRIPT), ["supergpqa"], config, out_path=out)
        items = [json.loads(line) for line in (out.parent / "eval_supergpqa.jsonl").read_text().splitlines()]
        results.append((scores, items))
    (scores, items), (scores2, items2) = results
    assert (scores, items) == (scores2, items2)  # seeded
    fallback = items[2]["predictions"][0]
    assert items[0]["predictions"] == ["B"] and items[1]["predictions"] == ["A"]
    assert fallback in {"A", "B", "C"}
    assert scores["supergpqa"] == pytest.approx((1 + (fallback == "A")) / 3, abs=1e-12)


def test_evaluate_solver_accepts_a_model_spec(benchmark_rows, monkeypatch):
    rows, _ = benchmark_rows
    rows["gsm8k"] = MATH_ROWS[:1]
    specs = []
    gen = ScriptedGenerator(MATH_SCRIPT)
    monkeypatch.setattr(evaluation, "make_generator", lambda spec: specs.append(spec) or gen)
    assert evaluate_solver("tiny:qwen2", ["gsm8k"], EvalConfig()) == {"gsm8k": 1.0}
    assert specs == ["tiny:qwen2"]


def test_unknown_benchmark_fails_before_any_data_or_model(benchmark_rows, monkeypatch):
    _, calls = benchmark_rows
    monkeypatch.setattr(evaluation, "make_generator", lambda spec: pytest.fail("model built"))
    with pytest.raises(DataError) as info:
        evaluate_solver(ExplodingGenerator(), ["gsm8k", "nope"], EvalConfig())
    message = str(info.value)
    assert "'nope'" in message and "math500" in message and "bbeh" in message and "arith" in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(DataError, match="nope"):
        evaluate_solver("tiny:qwen2", "gsm8k,nope", EvalConfig())
    assert calls == []


# -------------------------------------------------------------------------------------------- tiny model


@pytest.mark.slow
def test_evaluate_solver_tiny_model_on_bundled_arith(tmp_path):
    data = _data_module()
    if not hasattr(data, "load_benchmark"):
        pytest.skip("r_zero.data.load_benchmark is not written yet")
    out = tmp_path / "eval.json"
    config = EvalConfig(max_new_tokens=8, limit=2, batch_size=2)
    scores = evaluate_solver("tiny:qwen2", ["arith"], config, out_path=out)
    assert set(scores) == {"arith"} and 0.0 <= scores["arith"] <= 1.0
    report = json.loads(out.read_text())
    assert report["benchmarks"]["arith"]["n"] == 2
    assert len((tmp_path / "eval_arith.jsonl").read_text().splitlines()) == 2
