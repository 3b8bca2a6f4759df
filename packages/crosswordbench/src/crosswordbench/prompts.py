"""Text views of a puzzle and the prompts sent to models (spec §2.4 and §4).

All prompt texts are written for this package (not taken from the reference code). A solve prompt tells the
model how the puzzle is shown, how clues are addressed, how to reason (exact number and direction, length from
the grid, crossing letters, clue analysis, a final crossing check), the answer conventions, and the required
final answer format, verbatim::

    Across:
    [Number as shown in clues]: [Answer]

    Down:
    [Number as shown in clues]: [Answer]

(``image`` instead of ``clues`` in image templates).
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from typing import Any

from PIL import Image

from .puzzle import BLOCK, Puzzle, check_mask, prefill_mask
from .render import RenderConfig, render_image

__all__ = [
    "ANSWER_FORMAT_IMAGE",
    "ANSWER_FORMAT_TEXT",
    "EXTRACTION_FORMAT",
    "IMAGE_TEMPLATES",
    "INTERACTIVE_FIRST",
    "INTERACTIVE_FOLLOWUP",
    "LLM_PARSER_PROMPT",
    "MODALITIES",
    "NO_STOP_SYSTEM_PROMPT",
    "PREFILL_RATIOS",
    "REFLECTION_PROMPT",
    "TEMPLATES",
    "TEXT_TEMPLATES",
    "answer_format",
    "as_image",
    "build_messages",
    "clue_lines",
    "format_solution",
    "grid_text",
    "interactive_first_message",
    "interactive_first_prompt",
    "interactive_followup_message",
    "interactive_followup_prompt",
    "prefill_for",
    "reflection_message",
    "reflection_prompt",
    "system_messages",
    "template_modality",
]

TEMPLATES = (
    "text_cot",
    "text_cot_prefilled",
    "text_shot",
    "img_cot",
    "img_cot_prefilled",
    "img_shot",
    "img_cot_grid_only",
    "extraction",
)
TEXT_TEMPLATES = ("text_cot", "text_cot_prefilled", "text_shot")
IMAGE_TEMPLATES = tuple(t for t in TEMPLATES if t not in TEXT_TEMPLATES)
MODALITIES = ("text", "image")
PREFILL_RATIOS = ("0.25", "0.5", "0.75")
"""The prefill ratios of the released dataset, as the keys of ``meta["prefill_masks"]``."""

Message = dict[str, Any]


# --------------------------------------------------------------------------------------------------------
# Text views (§2.4)


def grid_text(puzzle: Puzzle, mask: Any = None, ratio: float | str | None = None) -> str:
    """The grid as a nested list: 1 for a blocked cell, 0 for a hidden letter cell and the letter (a ``str``)
    where ``mask`` reveals it, serialised with ``str()``. Prefix ``"empty grid = "`` without mask,
    ``f"grid ({ratio}) = "`` with mask and ratio, ``"grid = "`` with mask only (spec §2.4)."""
    shown = None if mask is None else check_mask(puzzle, mask)
    cells: list[list[int | str]] = [
        [1 if ch == BLOCK else (ch if shown is not None and shown[r][c] else 0) for c, ch in enumerate(row)]
        for r, row in enumerate(puzzle.grid)
    ]
    if mask is None:
        prefix = "empty grid = "
    elif ratio is None:
        prefix = "grid = "
    else:
        prefix = f"grid ({ratio}) = "
    return prefix + str(cells)


def clue_lines(puzzle: Puzzle) -> list[str]:
    """One line per clue in reference order: ``f"{Direction} {number} ({row}, {col}): {clue}"``, e.g.
    ``"Across 12 (3, 0): Feline pet"`` (0-indexed start cell; spec §2.4)."""
    return [f"{w.direction.capitalize()} {w.number} ({w.row}, {w.col}): {w.clue}" for w in puzzle.words]


def prefill_for(puzzle: Puzzle, ratio: str | float) -> list[list[bool]]:
    """The prefill mask at ``ratio``: the released one in ``meta["prefill_masks"]`` if present, else
    :func:`~crosswordbench.puzzle.prefill_mask` (spec §4)."""
    key = str(ratio)
    released = (puzzle.meta.get("prefill_masks") or {}).get(key)
    if released is not None:
        return check_mask(puzzle, released)
    return prefill_mask(puzzle, float(ratio))


def template_modality(template: str) -> str:
    """``"text"`` for the text templates, ``"image"`` for the others; unknown → ``ValueError``."""
    _check_template(template)
    return "text" if template in TEXT_TEMPLATES else "image"


def _check_template(template: str) -> None:
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; valid: {', '.join(TEMPLATES)}")


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; valid: {', '.join(MODALITIES)}")


# --------------------------------------------------------------------------------------------------------
# Prompt texts (§4)


def answer_format(source: str = "clues") -> str:
    """The required final answer format, verbatim; ``source`` is ``"clues"`` (text) or ``"image"``."""
    return (
        f"Across:\n[Number as shown in {source}]: [Answer]\n\nDown:\n[Number as shown in {source}]: [Answer]"
    )


ANSWER_FORMAT_TEXT = answer_format("clues")
ANSWER_FORMAT_IMAGE = answer_format("image")

EXTRACTION_FORMAT = (
    "ACROSS:\n"
    "[Number as shown in image]: [Clue Text]\n"
    "Extracted Word: [Word from Grid]\n"
    "\n"
    "DOWN:\n"
    "[Number as shown in image]: [Clue Text]\n"
    "Extracted Word: [Word from Grid]"
)


def _format_for(modality: str) -> str:
    return ANSWER_FORMAT_TEXT if modality == "text" else ANSWER_FORMAT_IMAGE


_TEXT_GRID_INTRO = (
    "Here is a crossword puzzle. The grid is written as a matrix: 1 is a blocked (black) cell and 0 is an "
    "empty cell that takes exactly one letter. Rows and columns are counted from 0, starting at the top-left "
    "cell."
)
_TEXT_CLUE_INTRO = (
    "Every clue below states its direction (Across or Down) and its number, the (row, column) cell where its "
    "answer starts, and the clue text."
)
_IMAGE_GRID_INTRO = (
    "The image shows a crossword puzzle. Each white square holds exactly one letter; areas without squares "
    "are blocked. A small number in a square marks the first letter of an answer."
)
_IMAGE_CLUE_INTRO = (
    "The clues are printed below the grid, grouped under Across and Down; each one is given with its number "
    "and its text."
)
_PREFILLED_NOTE = (
    "Some cells are already filled in and show their letter instead of being empty. These letters are "
    "correct: build on them."
)


def _guidelines(modality: str) -> str:
    length_from = (
        "count the cells from its start cell to the next blocked cell or the edge of the grid"
        if modality == "text"
        else "count the squares from its numbered square to the next blocked area or the edge of the grid"
    )
    return (
        "Solve every clue, step by step:\n"
        "1. Address each clue by its EXACT direction and number as given. The numbers are not consecutive, "
        "so never renumber the clues or make up new ones.\n"
        f"2. Find the length of the answer: {length_from}.\n"
        "3. Note the letters it shares with crossing answers (and any letters already shown) and make them "
        "agree.\n"
        "4. Analyse the clue itself: its definition, any wordplay, and its grammatical form.\n"
        "5. When every clue has an answer, check all crossings once more and fix any clash before you give "
        "your final answers.\n"
        "\n"
        "Keep in mind:\n"
        "- Each answer is one word written without spaces, even if it stands for a phrase.\n"
        "- An abbreviation in the clue signals an abbreviated answer.\n"
        "- The answer agrees with the clue in tense and in number (singular or plural).\n"
        "- A clue ending in '?' hints at a pun or some other wordplay.\n"
        "- Across answers read from left to right; Down answers read from top to bottom.\n"
        "- Do not renumber anything, do not stop part-way and do not ask for confirmation: answer every "
        "clue in this reply.\n"
        "\n"
        "Finish your reply with all your answers in exactly this format:\n"
        "\n" + _format_for(modality)
    )


def _join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


def _clue_block(puzzle: Puzzle) -> str:
    return "Clues:\n" + "\n".join(clue_lines(puzzle))


_EXTRACTION_TEXT = (
    "The image shows a solved crossword: every white square holds a letter, small numbers mark where answers "
    "start, and the clues are printed below the grid under Across and Down.\n"
    "\n"
    "Read every numbered word off the grid: an Across word runs from its numbered square to the right, a Down "
    "word from its numbered square downwards, each up to the next blocked area or the edge of the grid. Pair "
    "each word with the clue of the same number and direction, copy that clue's text, and write the word "
    "exactly as its letters appear in the grid, without spaces. Cover every clue and keep the numbers as "
    "printed.\n"
    "\n"
    "Give your result in exactly this format:\n"
    "\n" + EXTRACTION_FORMAT
)


# --------------------------------------------------------------------------------------------------------
# Images


def as_image(value: Any) -> Image.Image:
    """A PIL image from a PIL image, encoded bytes, or a dataset cell ``{"bytes": …}`` / ``{"path": …}``
    (how parquet/HF datasets store images); converted to RGB."""
    if isinstance(value, Image.Image):
        image = value
    elif isinstance(value, bytes | bytearray):
        image = Image.open(BytesIO(value))
    elif isinstance(value, Mapping) and value.get("bytes"):
        image = Image.open(BytesIO(value["bytes"]))
    elif isinstance(value, Mapping) and value.get("path"):
        image = Image.open(value["path"])
    else:
        raise ValueError(f"not an image: {type(value).__name__}")
    return image if image.mode == "RGB" else image.convert("RGB")


class _Images:
    """Renders what it is asked for unless ``images`` holds a released one under that key."""

    def __init__(self, puzzle: Puzzle, render: RenderConfig | None, images: Mapping[str, Any] | None):
        self.puzzle, self.render, self.images = puzzle, render, images or {}

    def get(self, variant: str, ratio: str | None = None) -> Image.Image:
        key = variant if ratio is None else f"{variant}_{ratio}"
        given = self.images.get(key)
        if given is not None:
            return as_image(given)
        mask = None if ratio is None else prefill_for(self.puzzle, ratio)
        return render_image(self.puzzle, variant, mask=mask, config=self.render)


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


def _image(image: Image.Image) -> dict:
    return {"type": "image", "image": image}


# --------------------------------------------------------------------------------------------------------
# Solve and extraction messages (§2.4, §4)


def build_messages(
    puzzle: Puzzle,
    template: str = "text_cot",
    *,
    render: RenderConfig | None = None,
    images: Mapping[str, Any] | None = None,
) -> list[Message]:
    """One user message for ``template`` (one of :data:`TEMPLATES`): its content is a string for the text
    templates, else a list of ``{"type": "text", "text": …}`` and ``{"type": "image", "image": PIL.Image}``
    parts (spec §2.4, §4). ``render`` configures the renderer; ``images`` maps ``"grid"``, ``"grid_only"``,
    ``"key"``, ``"partial_0.25"``, ``"partial_0.5"``, ``"partial_0.75"`` to images used instead of rendering
    (released dataset images; PIL images, bytes or ``{"bytes": …}``). Unknown template → ``ValueError``."""
    _check_template(template)
    clues = _clue_block(puzzle)
    if template in TEXT_TEMPLATES:
        if template == "text_cot":
            body = _join(_TEXT_GRID_INTRO, _TEXT_CLUE_INTRO, grid_text(puzzle), clues)
        elif template == "text_cot_prefilled":
            grid = grid_text(puzzle, prefill_for(puzzle, "0.75"), 0.75)
            body = _join(_TEXT_GRID_INTRO, _PREFILLED_NOTE, _TEXT_CLUE_INTRO, grid, clues)
        else:  # text_shot
            grids = [grid_text(puzzle)] + [
                grid_text(puzzle, prefill_for(puzzle, r), r) for r in PREFILL_RATIOS
            ]
            shot_note = (
                "The same grid is shown four times: empty, then with about 25%, 50% and 75% of its letters "
                "filled in (a filled cell shows its letter instead of 0). Every shown letter is correct; use "
                "them to solve the whole puzzle."
            )
            body = _join(_TEXT_GRID_INTRO, shot_note, _TEXT_CLUE_INTRO, "\n".join(grids), clues)
        return [{"role": "user", "content": _join(body, _guidelines("text"))}]

    source = _Images(puzzle, render, images)
    if template == "extraction":
        content = [_text(_EXTRACTION_TEXT), _image(source.get("key"))]
    elif template == "img_cot":
        content = [
            _text(_join(_IMAGE_GRID_INTRO, _IMAGE_CLUE_INTRO, _guidelines("image"))),
            _image(source.get("grid")),
        ]
    elif template == "img_cot_prefilled":
        content = [
            _text(_join(_IMAGE_GRID_INTRO, _PREFILLED_NOTE, _IMAGE_CLUE_INTRO, _guidelines("image"))),
            _image(source.get("partial", "0.75")),
        ]
    elif template == "img_shot":
        shot_note = (
            "You get four images of the same crossword: first empty, then with about 25%, 50% and 75% of its "
            "letters filled in. Every shown letter is correct; use them to solve the whole puzzle."
        )
        content = [
            _text(_join(_IMAGE_GRID_INTRO, shot_note, _IMAGE_CLUE_INTRO, _guidelines("image"))),
            _text("Empty grid:"),
            _image(source.get("grid")),
        ]
        for ratio in PREFILL_RATIOS:
            content += [
                _text(f"About {round(float(ratio) * 100)}% filled:"),
                _image(source.get("partial", ratio)),
            ]
    else:  # img_cot_grid_only
        clue_intro = (
            "The image shows only the grid. The clues follow as text: each one states its direction (Across or "
            "Down) and its number, the (row, column) square where its answer starts (counted from 0 at the "
            "top-left square of the grid), and the clue text."
        )
        content = [
            _text(_join(_IMAGE_GRID_INTRO, clue_intro, clues, _guidelines("image"))),
            _image(source.get("grid_only")),
        ]
    return [{"role": "user", "content": content}]


# --------------------------------------------------------------------------------------------------------
# Reflection, interactive mode and the system prompt (§4, §2.9, §2.10)

NO_STOP_SYSTEM_PROMPT = (
    "Complete the whole task in a single response. Give your full, final answer in this reply; do not stop "
    "early, do not ask questions and do not wait for confirmation."
)


def system_messages(no_stop: bool) -> list[Message]:
    """``[{"role": "system", "content": NO_STOP_SYSTEM_PROMPT}]`` if ``no_stop``, else ``[]`` (spec §4)."""
    return [{"role": "system", "content": NO_STOP_SYSTEM_PROMPT}] if no_stop else []


def reflection_prompt(modality: str = "text") -> str:
    """The self-reflection turn sent after a first answer (spec §4); ``modality`` picks the answer format."""
    _check_modality(modality)
    return (
        "Your previous solution contains incorrect answers. Go through it again carefully:\n"
        "1. List every intersection, i.e. every cell where an Across answer crosses a Down answer, and check "
        "that both answers put the same letter in that cell.\n"
        "2. Re-check each clue against its answer: meaning, length, tense and number.\n"
        "3. Correct every answer that fails a check.\n"
        "\n"
        "Then give the full solution again, every clue included, in exactly this format:\n"
        "\n" + _format_for(modality)
    )


REFLECTION_PROMPT = reflection_prompt("text")
"""The reflection turn for text templates (``reflection_prompt("image")`` for image templates)."""


def reflection_message(template: str = "text_cot") -> Message:
    """The user message of the reflection round for a solve ``template``."""
    return {"role": "user", "content": reflection_prompt(template_modality(template))}


def interactive_first_prompt(modality: str = "image") -> str:
    """Turn 1 of the interactive mode (spec §4): solve ONE clue, explain, answer in the format, wait."""
    _check_modality(modality)
    return _join(_interactive_intro(modality), _interactive_instructions(modality))


def _interactive_intro(modality: str) -> str:
    if modality == "text":
        return _TEXT_GRID_INTRO + " " + _TEXT_CLUE_INTRO
    return _IMAGE_GRID_INTRO + " " + _IMAGE_CLUE_INTRO


def _interactive_instructions(modality: str) -> str:
    return _join(
        "We will solve this crossword together, one clue at a time. Choose ONE clue you are confident about "
        "and solve only that clue. Address it by its exact direction and number, explain your reasoning "
        "(length from the grid, meaning of the clue), and write the answer as one word without spaces.",
        "Give your answer in this format, listing only the one clue you solved under its direction:\n\n"
        + _format_for(modality),
        "Then stop and wait: I will check your answer and, if it is right, write it into the grid.",
    )


def interactive_followup_prompt(modality: str = "image") -> str:
    """Later interactive turns (spec §4): confirmed answers are in the grid; pick another clue, preferring
    ones that cross confirmed answers; never repeat one; same format."""
    _check_modality(modality)
    where = "grid above" if modality == "text" else "grid in the image"
    return _join(
        f"Every answer confirmed so far is now written into the {where}. Choose ONE more clue that has not "
        "been answered yet, preferably one that crosses a confirmed answer so you can use its letters. Never "
        "repeat a clue that was already answered. Explain your reasoning and give the answer in the same "
        "format as before, listing only that clue:\n\n" + _format_for(modality),
        "Then stop and wait for my reply.",
    )


INTERACTIVE_FIRST = interactive_first_prompt("image")
"""The first interactive prompt for the image modality (``interactive_first_prompt("text")`` for text)."""
INTERACTIVE_FOLLOWUP = interactive_followup_prompt("image")
"""The follow-up interactive prompt for the image modality."""


def interactive_first_message(
    puzzle: Puzzle,
    modality: str = "image",
    *,
    render: RenderConfig | None = None,
    image: Any = None,
) -> Message:
    """Turn 1 (spec §2.9 step 1): the first interactive prompt with the ``grid`` image (``image`` overrides the
    rendering, e.g. a released image) or with ``grid_text`` and the clue lines (text modality)."""
    _check_modality(modality)
    if modality == "text":
        return {
            "role": "user",
            "content": _join(
                _interactive_intro("text"),
                grid_text(puzzle),
                _clue_block(puzzle),
                _interactive_instructions("text"),
            ),
        }
    picture = as_image(image) if image is not None else render_image(puzzle, "grid", config=render)
    return {"role": "user", "content": [_text(interactive_first_prompt("image")), _image(picture)]}


def interactive_followup_message(
    puzzle: Puzzle,
    mask: Any,
    modality: str = "image",
    *,
    render: RenderConfig | None = None,
) -> Message:
    """A later turn (spec §2.9 step 4): confirmed words filled in (``filled`` image, or ``grid_text`` with
    ``mask`` plus the clue lines) and the follow-up prompt. ``mask``: rows × cols, True = confirmed letter."""
    _check_modality(modality)
    mask = check_mask(puzzle, mask)
    if modality == "text":
        return {
            "role": "user",
            "content": _join(
                grid_text(puzzle, mask), _clue_block(puzzle), interactive_followup_prompt("text")
            ),
        }
    picture = render_image(puzzle, "filled", mask=mask, config=render)
    return {"role": "user", "content": [_text(interactive_followup_prompt("image")), _image(picture)]}


# --------------------------------------------------------------------------------------------------------
# Model-based answer rewriting (``EvalConfig(parser="llm")``; the reference code used o3-mini)

LLM_PARSER_PROMPT = (
    "Below is a reply to a crossword puzzle. Copy out the final answer it gives for each clue; do not solve "
    "anything yourself and do not change any answer. The clues are: {keys}. Skip a clue the reply does not "
    "answer. Write answers as single words without spaces, in exactly this format and nothing else:\n\n"
    + ANSWER_FORMAT_TEXT
    + "\n\nReply:\n{reply}"
)
"""Prompt of the answer-rewriting model; ``{keys}`` are the puzzle's clue keys, ``{reply}`` the reply with
its reasoning stripped."""


def format_solution(puzzle: Puzzle, answers: Mapping[str, str] | None = None) -> str:
    """Answers in the final format (``Across:`` / ``Down:`` blocks, ``number: ANSWER`` lines); ``None``
    gives the reference solution (the demo's "oracle" solver)."""
    answers = {w.key: w.answer for w in puzzle.words} if answers is None else dict(answers)
    blocks = []
    for direction in ("across", "down"):
        lines = [
            f"{w.number}: {answers[w.key]}"
            for w in puzzle.words
            if w.direction == direction and answers.get(w.key)
        ]
        blocks.append(f"{direction.capitalize()}:\n" + "\n".join(lines))
    return "\n\n".join(blocks)
