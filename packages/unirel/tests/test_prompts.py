"""unirel.prompts (spec §2.4, §4)."""

from __future__ import annotations

import pytest

from unirel.prompts import PATH_CLOSE, PATH_OPEN, build_prompt, format_answer, format_triple, textualize
from unirel.rewards import parse_answer

TRIPLES = [("A", "r1", "X"), ("X", "r2", "B")]


def test_markers() -> None:
    assert PATH_OPEN == "PATH:"
    assert PATH_CLOSE == "END"


def test_format_triple_and_textualize() -> None:
    assert format_triple(("A", "r1", "X")) == "(A | r1 | X)"
    assert format_triple(["a b", "rel", "c"]) == "(a b | rel | c)"
    assert textualize(TRIPLES) == "(A | r1 | X)\n(X | r2 | B)"
    assert textualize([]) == ""
    with pytest.raises(ValueError):
        format_triple(("A", "r1"))
    with pytest.raises(ValueError):
        format_triple("abc")


def test_format_answer() -> None:
    assert format_answer(TRIPLES) == "PATH: (A | r1 | X); (X | r2 | B) END"
    assert format_answer(TRIPLES[:1]) == "PATH: (A | r1 | X) END"
    assert format_answer([]) == "PATH: END"
    assert parse_answer(format_answer([])).error == "empty path"
    assert parse_answer(format_answer(TRIPLES)).triples == tuple(TRIPLES)


@pytest.mark.parametrize("style", ["paper", "criteria"])
def test_build_prompt_parts_in_order(style: str) -> None:
    messages = build_prompt("How are A and B related?", TRIPLES, ["A", "B"], style=style)
    assert isinstance(messages, list) and len(messages) == 1
    assert messages[0]["role"] == "user"
    assert set(messages[0]) == {"role", "content"}
    content = messages[0]["content"]
    lines = content.split("\n")
    assert lines[0] == "Question: How are A and B related?"
    assert lines[1] == "Entities: A; B"
    assert "(head | relation | tail)" in lines[2]
    assert lines[3:5] == ["(A | r1 | X)", "(X | r2 | B)"]
    rest = "\n".join(lines[5:])
    assert "ONLY" in rest
    assert "PATH: (head | relation | tail); (head | relation | tail) END" in rest
    assert content.index("Question:") < content.index("Entities:") < content.index("(A | r1 | X)")
    assert content.index("(X | r2 | B)") < content.index("ONLY")


def test_criteria_adds_one_sentence() -> None:
    paper = build_prompt("Q?", TRIPLES, ["A", "B", "C"])[0]["content"]
    criteria = build_prompt("Q?", TRIPLES, ["A", "B", "C"], style="criteria")[0]["content"]
    assert "Entities: A; B; C" in paper
    assert criteria.startswith(paper)
    extra = criteria[len(paper) :].strip()
    assert extra.count(".") == 1 and extra.endswith(".")
    assert "hub" in extra and "rare relations" in extra
    assert "hub" not in paper


def test_build_prompt_unknown_style() -> None:
    with pytest.raises(ValueError, match="style"):
        build_prompt("Q?", TRIPLES, ["A", "B"], style="fancy")
