"""Prompts and the re-prompt text (spec sections 2.1 and 4)."""

from __future__ import annotations

import pytest

from vision_sr1.prompts import (
    COT_INSTRUCTION,
    REPROMPT_INSTRUCTION,
    SEE_THINK_INSTRUCTION,
    build_reprompt,
    clean_question,
    fill_images,
    first_pass_messages,
    reprompt_messages,
)


def test_see_think_instruction_names_the_tags_and_ends_with_the_layout():
    for tag in ("<description>", "</description>", "<think>", "</think>", "\\boxed{}"):
        assert tag in SEE_THINK_INSTRUCTION
    assert SEE_THINK_INSTRUCTION.endswith(
        "<description> ... </description> <think> ... </think> \\boxed{...}"
    )


def test_cot_instruction_has_think_and_box_but_no_description():
    assert "<think>" in COT_INSTRUCTION and "</think>" in COT_INSTRUCTION and "\\boxed{}" in COT_INSTRUCTION
    assert "description" not in COT_INSTRUCTION


def test_reprompt_instruction_names_think_and_box():
    assert "<think>" in REPROMPT_INSTRUCTION and "</think>" in REPROMPT_INSTRUCTION
    assert "\\boxed{}" in REPROMPT_INSTRUCTION
    assert "<description>" not in REPROMPT_INSTRUCTION


def test_clean_question_removes_every_image_placeholder_and_strips():
    assert clean_question("  <image>What is this?<image> \n") == "What is this?"
    assert clean_question("A <image> B") == "A  B"
    assert clean_question("plain") == "plain"


def test_first_pass_messages_block_order():
    messages = first_pass_messages("<image>How many cats?", 2)
    assert messages == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "How many cats?"},
                {"type": "image"},
                {"type": "image"},
                {"type": "text", "text": SEE_THINK_INSTRUCTION},
            ],
        }
    ]


def test_first_pass_messages_default_is_one_image_see_think():
    content = first_pass_messages("Q")[0]["content"]
    assert [b["type"] for b in content] == ["text", "image", "text"]
    assert content[-1]["text"] == SEE_THINK_INSTRUCTION


def test_first_pass_messages_cot_style_and_text_only():
    content = first_pass_messages("What is 2+2?", 0, style="cot")[0]["content"]
    assert content == [{"type": "text", "text": "What is 2+2?"}, {"type": "text", "text": COT_INSTRUCTION}]


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"style": "vision_r1"}, "style"), ({"num_images": -1}, "num_images")]
)
def test_first_pass_messages_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        first_pass_messages("Q", **kwargs)


def test_reprompt_worked_example():
    """Section 4: description "Two cats on a mat." and problem "How many cats?<image>"."""
    text = build_reprompt("Two cats on a mat.", "How many cats?<image>")
    assert text == "Text description: Two cats on a mat.\nQuestion: How many cats?\n" + REPROMPT_INSTRUCTION
    assert text.split("\n") == [
        "Text description: Two cats on a mat.",
        "Question: How many cats?",
        REPROMPT_INSTRUCTION,
    ]


def test_reprompt_messages_is_one_plain_user_turn():
    assert reprompt_messages("d", "q <image>") == [
        {"role": "user", "content": "Text description: d\nQuestion: q\n" + REPROMPT_INSTRUCTION}
    ]


def test_fill_images_puts_the_images_into_the_placeholders_in_order():
    messages = first_pass_messages("Which is larger?", 2)
    filled = fill_images(messages, ["left.png", "right.png"])
    assert [b for b in filled[0]["content"] if b["type"] == "image"] == [
        {"type": "image", "image": "left.png"},
        {"type": "image", "image": "right.png"},
    ]
    assert filled[0]["content"][0] == messages[0]["content"][0] and filled[0]["content"][-1]["type"] == "text"
    assert messages[0]["content"][1] == {"type": "image"}  # the input is not modified
    assert fill_images(first_pass_messages("Q", 0), []) == first_pass_messages("Q", 0)
    assert fill_images(reprompt_messages("d", "q"), []) == reprompt_messages("d", "q")
    with pytest.raises(ValueError, match="2 image placeholder"):
        fill_images(messages, ["only-one.png"])
