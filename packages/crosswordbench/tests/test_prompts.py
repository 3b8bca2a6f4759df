"""Text views and prompt messages (spec §2.4, §4, §8, §10)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from crosswordbench import prompts as pr
from crosswordbench.prompts import (
    ANSWER_FORMAT_IMAGE,
    ANSWER_FORMAT_TEXT,
    EXTRACTION_FORMAT,
    TEMPLATES,
    build_messages,
    clue_lines,
    grid_text,
)
from crosswordbench.puzzle import Puzzle, prefill_mask
from crosswordbench.render import RenderConfig

SMALL = RenderConfig(cell_px=20, margin_px=5, wrap_chars=40)


@pytest.fixture
def P() -> Puzzle:
    return Puzzle.from_words(
        [
            ("CAT", "Feline pet", 0, 0, "across"),
            ("COW", "Farm animal that moos", 0, 0, "down"),
            ("TEA", "Hot drink", 0, 2, "down"),
        ],
        5,
        5,
    )


def test_grid_text_empty(P):
    assert grid_text(P) == (
        "empty grid = [[0, 0, 0, 1, 1], [0, 1, 0, 1, 1], [0, 1, 0, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]]"
    )


def test_grid_text_masked(P):
    mask = [[False] * 5 for _ in range(5)]
    mask[0][0] = mask[1][2] = True
    mask[3][3] = True  # a blocked cell stays 1 even if the mask says True
    body = "[['C', 0, 0, 1, 1], [0, 1, 'E', 1, 1], [0, 1, 0, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]]"
    assert grid_text(P, mask) == "grid = " + body
    assert grid_text(P, mask, 0.5) == "grid (0.5) = " + body
    assert grid_text(P, mask, "0.75") == "grid (0.75) = " + body
    with pytest.raises(ValueError):
        grid_text(P, [[True] * 5] * 3)


def test_clue_lines(P):
    assert clue_lines(P) == [
        "Across 1 (0, 0): Feline pet",
        "Down 1 (0, 0): Farm animal that moos",
        "Down 2 (0, 2): Hot drink",
    ]
    assert "Down 2 (0, 2): Hot drink" in clue_lines(P)


def test_templates_tuple():
    assert TEMPLATES == (
        "text_cot",
        "text_cot_prefilled",
        "text_shot",
        "img_cot",
        "img_cot_prefilled",
        "img_shot",
        "img_cot_grid_only",
        "extraction",
    )


EXPECTED_IMAGES = {
    "img_cot": 1,
    "img_cot_prefilled": 1,
    "img_shot": 4,
    "img_cot_grid_only": 1,
    "extraction": 1,
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_builds(P, template):
    messages = build_messages(P, template, render=SMALL)
    assert len(messages) == 1 and messages[0]["role"] == "user"
    content = messages[0]["content"]
    if template.startswith("text"):
        assert isinstance(content, str)
        text = content
        assert grid_text(P) in text or template != "text_cot"
        assert all(line in text for line in clue_lines(P))
        assert ANSWER_FORMAT_TEXT in text
    else:
        assert isinstance(content, list)
        assert all(part["type"] in ("text", "image") for part in content)
        imgs = [part["image"] for part in content if part["type"] == "image"]
        assert len(imgs) == EXPECTED_IMAGES[template]
        assert all(isinstance(img, Image.Image) and img.mode == "RGB" for img in imgs)
        assert content[0]["type"] == "text"
        text = "\n".join(part["text"] for part in content if part["type"] == "text")
        if template == "extraction":
            assert EXTRACTION_FORMAT in text
        else:
            assert ANSWER_FORMAT_IMAGE in text and "[Number as shown in clues]" not in text
        if template == "img_cot_grid_only":
            assert all(line in text for line in clue_lines(P))
            assert imgs[0].size == (2 * 5 + 5 * 20, 2 * 5 + 5 * 20)


def test_answer_formats_verbatim():
    assert ANSWER_FORMAT_TEXT == (
        "Across:\n[Number as shown in clues]: [Answer]\n\nDown:\n[Number as shown in clues]: [Answer]"
    )
    assert ANSWER_FORMAT_TEXT.replace("clues", "image") == ANSWER_FORMAT_IMAGE
    assert EXTRACTION_FORMAT == (
        "ACROSS:\n[Number as shown in image]: [Clue Text]\nExtracted Word: [Word from Grid]\n\n"
        "DOWN:\n[Number as shown in image]: [Clue Text]\nExtracted Word: [Word from Grid]"
    )


def test_prefilled_uses_mask(P):
    text = build_messages(P, "text_cot_prefilled")[0]["content"]
    assert grid_text(P, prefill_mask(P, 0.75), 0.75) in text
    shot = build_messages(P, "text_shot")[0]["content"]
    assert grid_text(P) in shot
    for ratio in ("0.25", "0.5", "0.75"):
        assert grid_text(P, prefill_mask(P, float(ratio)), float(ratio)) in shot


def test_prefilled_prefers_released_mask(P):
    mask = [[False] * 5 for _ in range(5)]
    mask[2][0] = True
    P.meta["prefill_masks"] = {"0.75": mask}
    text = build_messages(P, "text_cot_prefilled")[0]["content"]
    assert grid_text(P, mask, 0.75) in text


def test_released_images_used(P):
    given = Image.new("RGB", (7, 9), (1, 2, 3))
    buf = io.BytesIO()
    given.save(buf, format="PNG")
    content = build_messages(P, "img_cot", images={"grid": given})[0]["content"]
    assert [p["image"] for p in content if p["type"] == "image"] == [given]
    content = build_messages(
        P, "img_cot_prefilled", images={"partial_0.75": {"bytes": buf.getvalue()}}, render=SMALL
    )[0]["content"]
    img = next(p["image"] for p in content if p["type"] == "image")
    assert img.size == (7, 9) and img.getpixel((0, 0)) == (1, 2, 3)
    content = build_messages(P, "img_shot", images={"partial_0.5": given}, render=SMALL)[0]["content"]
    imgs = [p["image"] for p in content if p["type"] == "image"]
    assert len(imgs) == 4 and imgs[2] is given and imgs[0].size != (7, 9)


def test_unknown_template(P):
    with pytest.raises(ValueError, match="text_cot"):
        build_messages(P, "nope")
    with pytest.raises(ValueError, match="text_cot"):
        pr.template_modality("nope")


def test_system_and_reflection():
    assert pr.system_messages(False) == []
    (msg,) = pr.system_messages(True)
    assert msg["role"] == "system" and msg["content"] == pr.NO_STOP_SYSTEM_PROMPT
    assert "incorrect" in pr.REFLECTION_PROMPT and "intersection" in pr.REFLECTION_PROMPT
    assert pr.REFLECTION_PROMPT.endswith(ANSWER_FORMAT_TEXT)
    assert pr.reflection_message("img_cot")["content"].endswith(ANSWER_FORMAT_IMAGE)
    assert pr.reflection_message("text_cot") == {"role": "user", "content": pr.REFLECTION_PROMPT}


def test_interactive_messages(P):
    first = pr.interactive_first_message(P, "text")
    assert first["role"] == "user" and isinstance(first["content"], str)
    assert grid_text(P) in first["content"] and "ONE" in first["content"]
    assert all(line in first["content"] for line in clue_lines(P))
    first_img = pr.interactive_first_message(P, "image", render=SMALL)["content"]
    assert [p["type"] for p in first_img] == ["text", "image"]
    assert first_img[0]["text"] == pr.INTERACTIVE_FIRST

    mask = [[False] * 5 for _ in range(5)]
    mask[0] = [True, True, True, False, False]
    follow = pr.interactive_followup_message(P, mask, "text")["content"]
    assert grid_text(P, mask) in follow and pr.interactive_followup_prompt("text") in follow
    follow_img = pr.interactive_followup_message(P, mask, "image", render=SMALL)["content"]
    assert follow_img[0]["text"] == pr.INTERACTIVE_FOLLOWUP
    assert isinstance(follow_img[1]["image"], Image.Image)
    with pytest.raises(ValueError, match="image"):
        pr.interactive_first_message(P, "audio")
    with pytest.raises(ValueError):
        pr.interactive_followup_message(P, [[True]], "text")
