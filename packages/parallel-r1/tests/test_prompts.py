"""Tags, prompts and tag stripping (spec §2.1, §4)."""

from __future__ import annotations

import pytest

from parallel_r1.prompts import (
    ANSWER_PREFIX,
    PARALLEL_CLOSE,
    PARALLEL_OPEN,
    PATH_CLOSE,
    PATH_OPEN,
    SUMMARY_CLOSE,
    SUMMARY_OPEN,
    TAGS,
    build_messages,
    build_prompt,
    strip_tags,
)


def test_tag_constants():
    assert (PARALLEL_OPEN, PARALLEL_CLOSE) == ("<Parallel>", "</Parallel>")
    assert (PATH_OPEN, PATH_CLOSE) == ("<Path>", "</Path>")
    assert (SUMMARY_OPEN, SUMMARY_CLOSE) == ("<Summary>", "</Summary>")
    assert TAGS == ("<Parallel>", "</Parallel>", "<Path>", "</Path>", "<Summary>", "</Summary>")
    assert ANSWER_PREFIX == "Final Answer:"


def test_parallel_prompt_explains_the_format_and_ends_with_the_problem():
    prompt = build_prompt("What is 2 + 3?")
    assert prompt == build_prompt("What is 2 + 3?", "parallel")
    for tag in TAGS:
        assert tag in prompt
    assert "Final Answer:" in prompt
    assert prompt.endswith("\n\nProblem: What is 2 + 3?")


def test_sequential_prompt():
    prompt = build_prompt("What is 2 + 3?", "sequential")
    assert prompt.startswith("What is 2 + 3?")
    assert "Final Answer: " in prompt
    assert "step by step" in prompt
    assert not any(tag in prompt for tag in TAGS)


def test_latex_braces_survive():
    assert build_prompt(r"Find \frac{1}{2} of {x}").endswith(r"Problem: Find \frac{1}{2} of {x}")
    assert build_prompt("p", template="Q: {problem} {problem}") == "Q: p p"


def test_unknown_style():
    with pytest.raises(ValueError, match="style"):
        build_prompt("x", "tree")
    with pytest.raises(ValueError, match="style"):
        build_messages("x", "tree")


def test_build_messages_is_one_user_turn():
    for style in ("parallel", "sequential"):
        assert build_messages("P?", style) == [{"role": "user", "content": build_prompt("P?", style)}]


def test_strip_tags_removes_exactly_the_tags():
    text = "a<Parallel><Path>x</Path><Path>y</Path></Parallel>\n<Summary>s</Summary> <path> <Tag>"
    assert strip_tags(text) == "axy\ns <path> <Tag>"
    assert strip_tags("<Pa<Path>th>") == "<Path>"  # one pass: no tag is glued back together and removed
    assert strip_tags("plain") == "plain"
    assert strip_tags(None) == ""  # type: ignore[arg-type]
