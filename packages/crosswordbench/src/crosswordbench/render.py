"""Pillow renderings of a puzzle: the images shown to vision-language models (spec §2.5).

Layout (≈ the reference layout at 200 dpi with the defaults of :class:`RenderConfig`):

* cell ``(r, c)`` spans x ``margin + c*cell … margin + c*cell + cell - 1`` and
  y ``margin + r*cell … margin + r*cell + cell - 1``;
* only letter cells are drawn: a 1-px ``(128, 128, 128)`` outline on the cell boundary and a 1-px black
  outline inset by one pixel; blocked cells stay white;
* clue numbers are drawn at ``(x0 + 3, y0 + 2)``, letters centred in their cell;
* the clues start ``clue_gap_px`` below the grid at ``x = margin``: a bold ``Across:`` header, the lines
  ``f"{number}. {clue}"`` wrapped at ``wrap_chars`` characters and ``line_px`` apart, then ``Down:`` and its
  lines;
* the canvas adds ``margin`` around grid and text; ``grid_only`` is exactly
  ``(2*margin + cols*cell, 2*margin + rows*cell)``.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .puzzle import BLOCK, Puzzle, check_mask

__all__ = ["VARIANTS", "RenderConfig", "render_image"]

VARIANTS = ("grid", "grid_only", "key", "partial", "filled")
"""``grid``: empty grid + clues; ``grid_only``: empty grid alone; ``key``: every letter + clues;
``partial`` / ``filled``: letters where the mask is True + clues (``filled`` is the interactive mode's name
for the grid with confirmed answers written in)."""

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREY = (128, 128, 128)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class RenderConfig:
    """Sizes in pixels (spec §2.5). ``font_path``: a TrueType/OpenType font for every text (needed for CJK);
    None → Pillow's bundled default font at the requested sizes."""

    cell_px: int = 62
    margin_px: int = 100
    number_font_px: int = 16
    letter_font_px: int = 30
    clue_font_px: int = 25
    header_font_px: int = 33
    line_px: int = 44
    clue_gap_px: int = 30
    wrap_chars: int = 80
    font_path: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.cell_px < 4:
            raise ValueError(f"cell_px must be at least 4, got {self.cell_px}")
        if self.margin_px < 0:
            raise ValueError(f"margin_px must be >= 0, got {self.margin_px}")
        if self.wrap_chars < 1:
            raise ValueError(f"wrap_chars must be >= 1, got {self.wrap_chars}")
        for name in ("number_font_px", "letter_font_px", "clue_font_px", "header_font_px", "line_px"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@lru_cache(maxsize=64)
def _font(path: str | None, size: int) -> Font:
    """A font of ``size`` px: ``path`` if given, else Pillow's default (cached: fonts are slow to load)."""
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


def _fonts(config: RenderConfig) -> dict[str, Font]:
    path = None if config.font_path is None else os.fspath(config.font_path)
    return {
        "number": _font(path, config.number_font_px),
        "letter": _font(path, config.letter_font_px),
        "clue": _font(path, config.clue_font_px),
        "header": _font(path, config.header_font_px),
    }


def _text_width(font: Font, text: str, stroke: int = 0) -> int:
    """Rightmost pixel extent of ``text`` drawn at x = 0."""
    if not text:
        return 0
    _left, _top, right, _bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox(
        (0, 0), text, font=font, stroke_width=stroke
    )
    return max(0, right)


def _clue_block(puzzle: Puzzle, config: RenderConfig) -> list[tuple[str, bool]]:
    """The clue text as ``(line, is_header)`` pairs: ``Across:``, its wrapped lines, ``Down:``, its lines."""
    lines: list[tuple[str, bool]] = []
    for direction, header in (("across", "Across:"), ("down", "Down:")):
        lines.append((header, True))
        for word in puzzle.words:
            if word.direction != direction:
                continue
            wrapped = textwrap.wrap(
                f"{word.number}. {word.clue}", width=config.wrap_chars, subsequent_indent="    "
            ) or [f"{word.number}."]
            lines.extend((line, False) for line in wrapped)
    return lines


def _letters(puzzle: Puzzle, variant: str, mask: Any) -> list[list[bool]]:
    """Which letter cells show their letter."""
    if variant in ("partial", "filled"):
        return check_mask(puzzle, mask)
    show = variant == "key"
    return [[show and ch != BLOCK for ch in row] for row in puzzle.grid]


def render_image(
    puzzle: Puzzle,
    variant: str = "grid",
    *,
    mask: Any = None,
    config: RenderConfig | None = None,
) -> Image.Image:
    """Draw ``puzzle`` as an RGB image on white (spec §2.5).

    ``variant`` is one of :data:`VARIANTS`. ``partial`` and ``filled`` need ``mask`` (rows × cols booleans,
    True = letter shown); the other variants ignore it. Unknown variant, missing or misshaped mask →
    ``ValueError``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown render variant {variant!r}; valid: {', '.join(VARIANTS)}")
    if variant in ("partial", "filled") and mask is None:
        raise ValueError(f"variant {variant!r} needs a mask (rows x cols booleans, True = revealed)")
    config = config or RenderConfig()
    show = _letters(puzzle, variant, mask)
    fonts = _fonts(config)
    cell, margin = config.cell_px, config.margin_px
    grid_w, grid_h = puzzle.cols * cell, puzzle.rows * cell

    lines = [] if variant == "grid_only" else _clue_block(puzzle, config)
    if lines:
        text_w = max(
            _text_width(fonts["header"] if is_header else fonts["clue"], text, 1 if is_header else 0)
            for text, is_header in lines
        )
        width = max(grid_w, text_w) + 2 * margin
        height = margin + grid_h + config.clue_gap_px + len(lines) * config.line_px + margin
    else:
        width, height = grid_w + 2 * margin, grid_h + 2 * margin

    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    numbers = {}
    for word in puzzle.words:
        numbers.setdefault((word.row, word.col), word.number)

    for r, row in enumerate(puzzle.grid):
        for c, ch in enumerate(row):
            if ch == BLOCK:
                continue
            x0, y0 = margin + c * cell, margin + r * cell
            x1, y1 = x0 + cell - 1, y0 + cell - 1
            draw.rectangle((x0, y0, x1, y1), outline=GREY, width=1)
            draw.rectangle((x0 + 1, y0 + 1, x1 - 1, y1 - 1), outline=BLACK, width=1)
            if (r, c) in numbers:
                draw.text((x0 + 3, y0 + 2), str(numbers[(r, c)]), fill=BLACK, font=fonts["number"])
            if show[r][c]:
                left, top, right, bottom = draw.textbbox((0, 0), ch, font=fonts["letter"])
                x = x0 + (cell - (right - left)) / 2 - left
                y = y0 + (cell - (bottom - top)) / 2 - top
                draw.text((x, y), ch, fill=BLACK, font=fonts["letter"])

    y = margin + grid_h + config.clue_gap_px
    for text, is_header in lines:
        if is_header:
            # Bold header: the same font drawn with a 1-px stroke in the text colour.
            draw.text((margin, y), text, fill=BLACK, font=fonts["header"], stroke_width=1, stroke_fill=BLACK)
        else:
            draw.text((margin, y), text, fill=BLACK, font=fonts["clue"])
        y += config.line_px
    return image
