"""Evaluation through any generator (spec §2.10): batching, parsing, scoring, reflection, LLM parser."""

import pytest

from crosswordbench.evaluate import EvalConfig, evaluate, evaluate_responses, generate_texts, released_images
from crosswordbench.prompts import format_solution
from crosswordbench.puzzle import Puzzle
from rlcore.config import ConfigError
from rlcore.rollout import Sample, SamplingParams


def second_puzzle() -> Puzzle:
    return Puzzle.from_words(
        [("DOG", "Barker", 0, 0, "across"), ("DIG", "Excavate", 0, 0, "down")], 3, 3, id="Q"
    )


class Recorder:
    def __init__(self, reply):
        self.reply, self.calls = reply, []

    def generate(self, prompts, params=None, n=1):
        self.calls.append((prompts, params))
        return [[Sample(self.reply(p), [0] * 7)] for p in prompts]


def test_oracle_scores_one_and_records_have_every_field(P):
    puzzles = [P, second_puzzle()]
    by_id = {p.id: p for p in puzzles}
    gen = Recorder(
        lambda conv: format_solution(
            next(p for p in by_id.values() if p.word("across 1").clue in conv[-1]["content"])
        )
    )
    result = evaluate(puzzles, gen, EvalConfig(batch_size=1, max_new_tokens=32))
    assert len(gen.calls) == 2 and gen.calls[0][1].max_new_tokens == 32 and gen.calls[0][1].temperature == 0.0
    assert [r["id"] for r in result.records] == ["P", "Q"]
    for record in result.records:
        assert record["wcr"] == record["lcr"] == record["icr"] == record["completion"] == 1.0
        assert record["completion_tokens"] == 7 and record["template"] == "text_cot"
    assert result.summary["wcr"]["mean"] == 1.0 and result.summary["wcr"]["n"] == 2


def test_plain_callable_and_on_records(P):
    seen = []
    result = evaluate(
        [P, P, P],
        lambda convs: ["Across:\n1: CAT"] * len(convs),
        EvalConfig(batch_size=2),
        on_records=seen.append,
    )
    assert [len(rows) for rows in seen] == [2, 1]
    assert result.records[0]["wcr"] == pytest.approx(1 / 3) and result.records[0]["completion_tokens"] == 0


def test_reflection_updates_the_first_answers(P):
    replies = iter(["<think>hmm</think>Across:\n1: CAT\nDown:\n1: COW\n2: SEA", "Down:\n2: TEA"])
    captured = []

    def gen(convs):
        captured.append(convs[0])
        return [next(replies)]

    result = evaluate([P], gen, EvalConfig(reflection=True))
    record = result.records[0]
    assert record["first_answers"]["down 2"] == "SEA" and record["answers"]["down 2"] == "TEA"
    assert record["wcr"] == 1.0
    assert captured[1][1] == {"role": "assistant", "content": "Across:\n1: CAT\nDown:\n1: COW\n2: SEA"}
    assert "incorrect" in captured[1][2]["content"]


def test_llm_parser_rewrites_before_parsing(P):
    parser = Recorder(lambda conv: "Across:\n1: CAT")
    result = evaluate(
        [P], lambda convs: ["The first word is cat."], EvalConfig(parser="llm", parser_model=parser)
    )
    assert result.records[0]["answers"] == {"across 1": "CAT"}
    assert "The first word is cat." in parser.calls[0][0][0][-1]["content"]


def test_image_template_and_no_stop_system_prompt(P):
    gen = Recorder(lambda conv: "")
    evaluate([P], gen, EvalConfig(template="img_cot", no_stop_system_prompt=True))
    conv = gen.calls[0][0][0]
    assert conv[0]["role"] == "system" and any(b["type"] == "image" for b in conv[1]["content"])


def test_extraction_template_uses_extraction_parsing(P):
    reply = "ACROSS:\n1: Feline pet\nExtracted Word: CAT\nDOWN:\n2: Hot drink\nExtracted Word: TEA"
    result = evaluate([P], lambda convs: [reply], EvalConfig(template="extraction"))
    assert result.records[0]["answers"] == {"across 1": "CAT", "down 2": "TEA"}


def test_evaluate_responses(P):
    result = evaluate_responses([P, P], ["Across:\n1: CAT\nDown:\n1: COW\n2: SEA", None])
    assert [r["wcr"] for r in result.records] == [pytest.approx(2 / 3), 0.0]
    assert result.summary["wcr"]["mean"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="responses"):
        evaluate_responses([P], [])


def test_released_images_mapping(P):
    P.meta["images"] = {"empty_grid_image": "g", "key_image": "k", "partial_0.5": "p", "grid_image": "x"}
    assert released_images(P) == {"grid": "g", "key": "k", "partial_0.5": "p"}


def test_generator_errors_propagate_and_bad_config(P):
    def broken(convs):
        raise RuntimeError("server down")

    with pytest.raises(RuntimeError, match="server down"):
        evaluate([P], broken)
    with pytest.raises(ValueError, match="replies"):
        generate_texts(lambda convs: [], [[{"role": "user", "content": "x"}]], SamplingParams())
    for bad in ({"template": "nope"}, {"parser": "llm"}, {"images": "web"}, {"think": "middle"}):
        with pytest.raises(ConfigError, match="valid|parser_model"):
            EvalConfig(**bad)


@pytest.mark.slow
def test_tiny_model_end_to_end(P):
    from rlcore.rollout import make_generator

    result = evaluate([P], make_generator("tiny:qwen2"), EvalConfig(max_new_tokens=8))
    record = result.records[0]
    assert record["completion_tokens"] >= 1 and 0.0 <= record["wcr"] <= 1.0
    assert set(result.summary) >= {"wcr", "lcr", "icr"}
