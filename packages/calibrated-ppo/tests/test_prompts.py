"""Spec §2.1 and §4: confidence and evaluation prompts."""

from __future__ import annotations

import re

import pytest

from calibrated_ppo.prompts import (
    CONFIDENCE_SYSTEM_PROMPT,
    append_confidence,
    confidence_messages,
    eval_messages,
    eval_system_prompt,
    format_mc_question,
)

SPEC_SYSTEM_PROMPT = """Answer the question below as well as you can, then rate how confident you are that your answer is accurate or helpful, on a scale from 0 to 10.
```Example Format:
<Your responses>
Confidence: <A number from 0 to 10 showing how sure you are that your answer is accurate or helpful.>```

Follow this format exactly and make sure the word 'Confidence:' appears in your reply."""

CONFIDENCE_DIGIT = re.compile(r"Confidence:\s*\d")


def test_confidence_system_prompt_is_the_spec_block():
    assert CONFIDENCE_SYSTEM_PROMPT == SPEC_SYSTEM_PROMPT
    assert not CONFIDENCE_DIGIT.search(CONFIDENCE_SYSTEM_PROMPT)


def test_confidence_messages_with_and_without_system_role():
    assert confidence_messages("What is 2+2?") == [
        {"role": "system", "content": CONFIDENCE_SYSTEM_PROMPT},
        {"role": "user", "content": "Question: What is 2+2?"},
    ]
    assert confidence_messages("What is 2+2?", system_role=False) == [
        {"role": "user", "content": CONFIDENCE_SYSTEM_PROMPT + "\n\nQuestion: What is 2+2?"}
    ]
    with pytest.raises(TypeError):
        confidence_messages(3)  # type: ignore[arg-type]


def test_append_confidence():
    assert append_confidence("The answer is 4.", 8) == "The answer is 4.\nConfidence: 8."
    assert append_confidence("x", 8.0) == "x\nConfidence: 8."
    assert append_confidence("x", 7.5) == "x\nConfidence: 7.5."
    assert append_confidence("", 0) == "\nConfidence: 0."
    with pytest.raises(TypeError):
        append_confidence("x", "8")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        append_confidence(None, 8)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "answer_type", "example"), [("mc", "option letter", "(A)"), ("numeric", "number", "1")]
)
@pytest.mark.parametrize("cot", [False, True])
def test_eval_system_prompt_fixed_parts(kind, answer_type, example, cot):
    prompt = eval_system_prompt(kind, cot=cot)
    answer_line = f"Answer: <only the {answer_type} here (e.g., {example})>"
    confidence_line = (
        "Confidence: <a number from 0 to 10 showing how sure you are that your answer is correct>"
    )
    block = re.search(r"```Example Format:\n(.*?)```", prompt, re.DOTALL)
    assert block is not None, prompt
    lines = block.group(1).split("\n")
    if cot:
        assert lines == ["Explanation: <your step-by-step reasoning>", answer_line, confidence_line]
        assert "step by step" in prompt.split("```")[0]
    else:
        assert lines == [answer_line, confidence_line]
        assert "Explanation:" not in prompt
    assert answer_type in prompt.split("```")[0]
    closing = prompt.split("```")[-1]
    assert "'Answer:'" in closing and "'Confidence:'" in closing
    # No placeholder line may contain `Confidence:` followed by a digit.
    assert not any(CONFIDENCE_DIGIT.search(line) for line in prompt.splitlines())


def test_eval_system_prompt_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        eval_system_prompt("free-text")


def test_format_mc_question():
    assert format_mc_question("Which is largest?", ["3", "9", 5]) == (
        "Which is largest?\nChoose the best answer from the following options.\n(A) 3\n(B) 9\n(C) 5\n"
    )
    letters = re.findall(r"^\((\w)\) ", format_mc_question("q", [str(i) for i in range(26)]), re.MULTILINE)
    assert "".join(letters) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    with pytest.raises(ValueError):
        format_mc_question("q", [])
    with pytest.raises(ValueError):
        format_mc_question("q", [str(i) for i in range(27)])


def test_eval_messages():
    text = format_mc_question("Which?", ["a", "b"])
    assert eval_messages("Which?", ["a", "b"], "mc") == [
        {"role": "system", "content": eval_system_prompt("mc")},
        {"role": "user", "content": "Question: " + text},
    ]
    assert eval_messages("What is 2+2?", None, "numeric", cot=True, system_role=False) == [
        {"role": "user", "content": eval_system_prompt("numeric", cot=True) + "\n\nQuestion: What is 2+2?"}
    ]
    with pytest.raises(ValueError):
        eval_messages("q", [], "mc")
    with pytest.raises(ValueError):
        eval_messages("q", None, "essay")


def test_tags_present():
    assert "Confidence:" in CONFIDENCE_SYSTEM_PROMPT
    for kind in ("mc", "numeric"):
        assert "Answer:" in eval_system_prompt(kind) and "Confidence:" in eval_system_prompt(kind)
        assert "Explanation:" in eval_system_prompt(kind, cot=True)
    assert append_confidence("r", 3).endswith("\nConfidence: 3.")
