"""Prompts and the Questioner's output formats (spec §2.1, §4, §8 "Typed parse")."""

from __future__ import annotations

import random
import re
import time

import pytest

from visplay.prompts import (
    QUESTION_TYPES,
    ParsedQuestion,
    parse_question,
    questioner_messages,
    reasoner_messages,
)

TYPED = (
    "<type>numerical</type>\n<question>How many red cars are parked on the left side?</question>\n"
    "<answer>3</answer>"
)
INVALID = ParsedQuestion("", "", "", False)


def test_question_types() -> None:
    assert QUESTION_TYPES == ("multiple choice", "numerical", "regression")


def test_questioner_messages_layout_and_placeholder() -> None:
    messages = questioner_messages()
    assert [m["role"] for m in messages] == ["system", "user"]
    assert isinstance(messages[0]["content"], str)
    image_block, text_block = messages[1]["content"]
    assert image_block == {"type": "image"}
    assert text_block["type"] == "text" and "question" in text_block["text"]


def test_questioner_messages_carries_the_image() -> None:
    marker = object()
    image_block = questioner_messages(marker)[1]["content"][0]
    assert image_block == {"type": "image", "image": marker}


@pytest.mark.parametrize(
    ("question_format", "tags", "absent"),
    [
        ("question", ["<question>", "</question>"], ["<type>", "<answer>"]),
        ("typed", ["<type>", "</type>", "<question>", "</question>", "<answer>", "</answer>"], []),
    ],
)
def test_questioner_instructions_name_the_format_tags(question_format, tags, absent) -> None:
    instructions = questioner_messages(question_format=question_format)[0]["content"]
    for tag in tags:
        assert tag in instructions
    for tag in absent:
        assert tag not in instructions
    for kind in QUESTION_TYPES:
        assert kind in instructions


def test_questioner_messages_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="question_format"):
        questioner_messages(question_format="json")


def test_reasoner_messages_reasoning_style() -> None:
    question = "How many {red} shapes?"
    messages = reasoner_messages(question)
    assert len(messages) == 1 and messages[0]["role"] == "user"
    image_block, text_block = messages[0]["content"]
    assert image_block == {"type": "image"}
    assert question in text_block["text"]
    assert "\\boxed{}" in text_block["text"]
    assert "step by step" in text_block["text"]


def test_reasoner_messages_answer_only_style_names_the_type() -> None:
    image = object()
    messages = reasoner_messages(
        "Which bar is tallest?", image, style="answer_only", question_type="numerical"
    )
    image_block, text_block = messages[0]["content"]
    assert image_block["image"] is image
    text = text_block["text"]
    assert "Which bar is tallest?" in text and "\\boxed{answer}" in text
    assert "Type: numerical." in text and "no explanation" in text and "no units" in text
    untyped = reasoner_messages("Q?", style="answer_only")[0]["content"][1]["text"]
    assert "Type:" not in untyped


def test_reasoner_messages_rejects_unknown_style() -> None:
    with pytest.raises(ValueError, match="style"):
        reasoner_messages("Q?", style="chatty")


def test_parse_question_format_takes_first_block_stripped() -> None:
    text = (
        "Thinking...\n<question>\n  What is shown\n on the left?  </question> then <question>other</question>"
    )
    assert parse_question(text) == ParsedQuestion("What is shown\n on the left?", "", "", True)


def test_parse_question_allows_spaces_inside_tags() -> None:
    assert parse_question("< question >Why?</ question >") == ParsedQuestion("Why?", "", "", True)
    assert parse_question("<question >Why?< /question>").valid


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no tags at all",
        "<question>unclosed",
        "<question>   </question>",
        "</question>x<question>",
        "<q>x</q>",
    ],
)
def test_parse_question_invalid_inputs(text) -> None:
    assert parse_question(text) == INVALID


@pytest.mark.parametrize("value", [None, 3, ["<question>x</question>"], b"<question>x</question>"])
def test_parse_question_non_strings_are_invalid(value) -> None:
    assert parse_question(value) == INVALID
    assert parse_question(value, question_format="typed") == INVALID


def test_parse_typed_spec_example() -> None:
    parsed = parse_question(TYPED, question_format="typed")
    assert parsed == ParsedQuestion("How many red cars are parked on the left side?", "numerical", "3", True)


def test_parse_typed_without_answer_is_invalid() -> None:
    text = TYPED.split("\n<answer>")[0]
    assert parse_question(text, question_format="typed") == INVALID


def test_parse_typed_lowercases_type_without_checking_it() -> None:
    text = (
        "<type> Multiple Choice </type>junk\n<question>Is it red?</question>\n\n<answer> Yes </answer> tail"
    )
    assert parse_question(text, question_format="typed") == ParsedQuestion(
        "Is it red?", "multiple choice", "Yes", True
    )
    odd = "<type>Essay</type><question>Q?</question><answer>a</answer>"
    assert parse_question(odd, question_format="typed").type == "essay"


@pytest.mark.parametrize(
    "text",
    [
        "<question>Q?</question><type>numerical</type><answer>3</answer>",  # wrong order
        "<type></type><question>Q?</question><answer>3</answer>",  # empty type
        "<type>numerical</type><question> </question><answer>3</answer>",  # empty question
        "<type>numerical</type><question>Q?</question><answer>  </answer>",  # empty answer
        "<type>numerical</type><question>Q?</question><answer>3",  # unclosed answer
    ],
)
def test_parse_typed_invalid(text) -> None:
    assert parse_question(text, question_format="typed") == INVALID


def test_parse_question_format_ignores_typed_extras_and_vice_versa() -> None:
    assert parse_question(TYPED) == ParsedQuestion(
        "How many red cars are parked on the left side?", "", "", True
    )
    assert parse_question("<question>Only a question</question>", question_format="typed") == INVALID


def test_parse_question_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="question_format"):
        parse_question("<question>x</question>", question_format="xml")


def test_parsed_question_is_frozen() -> None:
    parsed = parse_question("<question>x</question>")
    with pytest.raises(AttributeError):
        parsed.question = "y"  # type: ignore[misc]


def _regex_parse(text: str, question_format: str) -> ParsedQuestion:
    """The spec's definition as a backtracking regex, for comparison on short texts."""

    def block(tag: str) -> str:
        return rf"<\s*{tag}\s*>(.*?)<\s*/\s*{tag}\s*>"

    if question_format == "question":
        match = re.search(block("question"), text, re.DOTALL)
        question = match.group(1).strip() if match else ""
        return ParsedQuestion(question, "", "", True) if question else INVALID
    match = re.search(block("type") + ".*?" + block("question") + ".*?" + block("answer"), text, re.DOTALL)
    if match is None or not all(g.strip() for g in match.groups()):
        return INVALID
    kind, question, answer = (g.strip() for g in match.groups())
    return ParsedQuestion(question, kind.lower(), answer, True)


def test_parse_question_agrees_with_the_regex_definition() -> None:
    """Random near-misses of the typed skeleton: pieces dropped, and noise or stray tags inserted."""
    skeleton = ["<type>", "x", "</type>", "<question>", "y", "</question>", "<answer>", "z", "</answer>"]
    noise = ["<type>", "</type>", "<question>", "</question>", "<answer>", "</answer>", "< question >",
             "</ answer>", "w", " ", "\n"]  # fmt: skip
    rng = random.Random(0)
    outcomes = {"question": set(), "typed": set()}
    for _ in range(3000):
        parts = []
        for piece in skeleton:
            parts += [rng.choice(noise) for _ in range(rng.choice((0, 0, 1, 2)))]
            if rng.random() < 0.9:
                parts.append(piece)
        text = "".join(parts)
        for question_format, seen in outcomes.items():
            parsed = parse_question(text, question_format=question_format)
            assert parsed == _regex_parse(text, question_format), text
            seen.add(parsed.valid)
    assert outcomes == {"question": {True, False}, "typed": {True, False}}


def test_parse_question_is_fast_on_tag_floods() -> None:
    floods = ["<type>a</type>" * 2000, "<question>" * 5000, "<type>a</type><question>q</question>" * 1000]
    start = time.perf_counter()
    for text in floods:
        assert not parse_question(text, question_format="typed").valid
        parse_question(text)
    assert time.perf_counter() - start < 1.0
