"""lara.prompts: the §4 formats, character for character."""

from __future__ import annotations

import pytest

from lara.prompts import (
    build_prompt,
    format_demo,
    format_mmlu_question,
    format_query,
    group_prefix,
    mmlu_header,
)


def test_bbh_spec_example() -> None:
    demos = [{"input": "Q1", "target": "(A)"}]
    assert build_prompt(demos, {"input": "Q2"}) == "Question: Q1\nAnswer: (A)\n\nQuestion: Q2\nAnswer:"


def test_bbh_demo_and_query() -> None:
    assert format_demo({"input": "x", "target": "True"}) == "Question: x\nAnswer: True\n\n"
    assert format_query({"input": "x", "target": "ignored"}) == "Question: x\nAnswer:"
    assert group_prefix([]) == ""
    demos = [{"input": "a", "target": "1"}, {"input": "b", "target": "2"}]
    assert group_prefix(demos) == "Question: a\nAnswer: 1\n\nQuestion: b\nAnswer: 2\n\n"
    assert build_prompt(demos, {"input": "c"}) == group_prefix(demos) + format_query({"input": "c"})


def test_mmlu_header_two_spaces() -> None:
    assert mmlu_header("high_school_physics") == (
        "The following are multiple choice questions (with answers) about  high school physics.\n\n"
    )
    assert (
        mmlu_header("anatomy")
        == "The following are multiple choice questions (with answers) about  anatomy.\n\n"
    )


def test_mmlu_question_and_prompt() -> None:
    item = format_mmlu_question("What is 2+2?", ["3", "4", "5", "6"])
    assert item == "What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:"
    demo = {"input": item, "target": "B"}
    assert format_demo(demo, "mmlu") == f"Question: {item} B\n\n"
    assert format_query(demo, "mmlu") == f"Question: {item}"
    prompt = build_prompt([demo], {"input": "Q?"}, "mmlu", "anatomy")
    assert prompt == mmlu_header("anatomy") + f"Question: {item} B\n\nQuestion: Q?"
    assert group_prefix([], "mmlu", "anatomy") == mmlu_header("anatomy")


def test_mmlu_needs_four_choices() -> None:
    with pytest.raises(ValueError, match="four"):
        format_mmlu_question("q", ["a", "b", "c"])
    with pytest.raises(ValueError, match="four"):
        format_mmlu_question("q", ["a", "b", "c", "d", "e"])


def test_errors() -> None:
    with pytest.raises(ValueError, match="task_format"):
        format_demo({"input": "x", "target": "y"}, "chat")
    with pytest.raises(ValueError, match="task_format"):
        format_query({"input": "x"}, "nope")
    with pytest.raises(ValueError, match="task_format"):
        build_prompt([], {"input": "x"}, "nope")
    with pytest.raises(ValueError, match="subject"):
        group_prefix([], "mmlu")
    with pytest.raises(ValueError, match="subject"):
        build_prompt([], {"input": "x"}, "mmlu", None)
