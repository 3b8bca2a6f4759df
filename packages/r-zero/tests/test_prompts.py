"""Prompts and the Challenger output parser (spec §2.2, §4, §8) and the challenger_samples.jsonl fixtures."""

from __future__ import annotations

import json

import pytest

from r_zero.data import CHALLENGER_SAMPLES
from r_zero.prompts import (
    CHALLENGER_SYSTEM_PROMPT,
    CHALLENGER_USER_PROMPT,
    MC_INSTRUCTION,
    SOLVER_SYSTEM_PROMPT,
    ChallengerOutput,
    challenger_messages,
    parse_challenger_output,
    solver_messages,
)


def test_challenger_messages_are_the_fixed_two_turn_chat():
    messages = challenger_messages()
    assert messages == [
        {"role": "system", "content": CHALLENGER_SYSTEM_PROMPT},
        {"role": "user", "content": CHALLENGER_USER_PROMPT},
    ]
    messages[0]["content"] = "changed"  # a fresh list each call: callers may not corrupt the next prompt
    assert challenger_messages()[0]["content"] == CHALLENGER_SYSTEM_PROMPT


def test_prompts_name_the_required_tags():
    for tag in ("<question>", "</question>", "\\boxed{"):
        assert tag in CHALLENGER_SYSTEM_PROMPT
    assert "30%" in CHALLENGER_SYSTEM_PROMPT
    assert "\\boxed{}" in SOLVER_SYSTEM_PROMPT
    assert "\\boxed{" in MC_INSTRUCTION and "letter" in MC_INSTRUCTION


def test_solver_messages_put_the_bare_question_in_the_user_turn():
    assert solver_messages("What is 2 + 2?") == [
        {"role": "system", "content": SOLVER_SYSTEM_PROMPT},
        {"role": "user", "content": "What is 2 + 2?"},
    ]


def test_parse_spec_example_takes_the_last_block_and_box():
    text = "<question>\nA?\n</question>\n<question> B? </question>\n\n\\boxed{\\frac{3}{4}}"
    assert parse_challenger_output(text) == ("B?", "\\frac{3}{4}")
    assert isinstance(parse_challenger_output(text), ChallengerOutput)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, (None, None)),
        ("", (None, None)),
        ("<question>\nline one\nline two\n</question>", ("line one\nline two", None)),
        ("<question>  \n </question> \\boxed{1}", (None, "1")),
        ("<QUESTION>x</QUESTION> \\boxed{2}", (None, "2")),
        ("<question>x \\boxed{3}", (None, "3")),
        ("<question>ok</question> \\boxed{}", ("ok", None)),
        ("<question>ok</question> \\boxed{ 5 ", ("ok", None)),
        ("<question>ok</question> <question>unclosed", ("ok", None)),
        ("</question><question>", (None, None)),
        ("<question>q</question>\\boxed{\\boxed{12}}", ("q", "12")),
    ],
)
def test_parse_edge_cases(text, expected):
    assert parse_challenger_output(text) == expected


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError, match="text"):
        parse_challenger_output(42)


def test_challenger_samples_parse_as_recorded():
    records = [json.loads(line) for line in CHALLENGER_SAMPLES.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 12
    kinds = {r["kind"] for r in records}
    for kind in ("valid", "exact-duplicate", "near-duplicate", "missing-tags", "empty-block", "nested-box"):
        assert kind in kinds
    for record in records:
        assert parse_challenger_output(record["text"]) == (record["question"], record["answer"]), record["id"]
