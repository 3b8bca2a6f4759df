"""Renderer pixel geometry and errors (spec §2.5, §8, §10)."""

from __future__ import annotations

import pytest
from PIL import Image

from crosswordbench.puzzle import Puzzle, prefill_mask
from crosswordbench.render import VARIANTS, RenderConfig, render_image

GREY = (128, 128, 128)
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
CFG = RenderConfig()
M, CELL = CFG.margin_px, CFG.cell_px


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def images(P: Puzzle) -> dict[str, Image.Image]:
    return {v: render_image(P, v) for v in ("grid", "grid_only", "key")}


def origin(r: int, c: int) -> tuple[int, int]:
    return M + c * CELL, M + r * CELL


def dark_near_centre(img: Image.Image, r: int, c: int, radius: int = 12) -> int:
    x0, y0 = origin(r, c)
    cx, cy = x0 + CELL // 2, y0 + CELL // 2
    return sum(
        1
        for x in range(cx - radius, cx + radius)
        for y in range(cy - radius, cy + radius)
        if sum(img.getpixel((x, y))) < 300
    )


def test_grid_only_size_and_mode(images):
    img = images["grid_only"]
    assert img.mode == "RGB"
    assert img.size == (2 * 100 + 5 * 62, 2 * 100 + 5 * 62)


@pytest.mark.parametrize("variant", ["grid", "grid_only", "key"])
def test_cell_outlines(images, variant):
    img = images[variant]
    for r, c in [(0, 0), (0, 1), (2, 2)]:  # letter cells
        x0, y0 = origin(r, c)
        x1, y1 = x0 + CELL - 1, y0 + CELL - 1
        mid_x, mid_y = x0 + CELL // 2, y0 + CELL // 2
        for px in [(x0, mid_y), (x1, mid_y), (mid_x, y0), (mid_x, y1), (x0, y0), (x1, y1)]:
            assert img.getpixel(px) == GREY, (variant, r, c, px)
        for px in [(x0 + 1, mid_y), (x1 - 1, mid_y), (mid_x, y0 + 1), (mid_x, y1 - 1), (x0 + 1, y0 + 1)]:
            assert img.getpixel(px) == BLACK, (variant, r, c, px)
        # Interior far from the number (top-left) and the centred letter: white.
        assert img.getpixel((x1 - 4, y1 - 4)) == WHITE
        assert img.getpixel((x0 + 4, y1 - 4)) == WHITE


@pytest.mark.parametrize("variant", ["grid", "key"])
def test_blocked_cells_white(images, variant):
    img = images[variant]
    for r, c in [(1, 1), (2, 1), (0, 3), (4, 4)]:
        x0, y0 = origin(r, c)
        # Inside the blocked cell, away from the neighbours' outlines.
        for dx in range(3, CELL - 3, 7):
            for dy in range(3, CELL - 3, 7):
                assert img.getpixel((x0 + dx, y0 + dy)) == WHITE, (variant, r, c, dx, dy)
    # The margin above the grid is white.
    assert img.getpixel((M // 2, M // 2)) == WHITE
    assert img.getpixel((M + 5, M - 2)) == WHITE


def test_numbers_drawn_at_start_cells(images):
    img = images["grid_only"]

    def dark_in_number_box(r, c):
        x0, y0 = origin(r, c)
        return sum(
            1
            for x in range(x0 + 3, x0 + 15)
            for y in range(y0 + 2, y0 + 20)
            if sum(img.getpixel((x, y))) < 300
        )

    assert dark_in_number_box(0, 0) > 0 and dark_in_number_box(0, 2) > 0
    assert dark_in_number_box(0, 1) == 0 and dark_in_number_box(1, 0) == 0


def test_key_draws_letters_grid_does_not(images):
    for r, c in [(0, 0), (0, 1), (1, 2), (2, 0)]:
        assert dark_near_centre(images["key"], r, c) > 0
        assert dark_near_centre(images["grid"], r, c) == 0
        assert dark_near_centre(images["grid_only"], r, c) == 0


def test_clues_below_grid(P, images):
    for variant in ("grid", "key"):
        img = images[variant]
        assert img.size[1] > images["grid_only"].size[1]
        assert img.size[0] >= images["grid_only"].size[0]
        top = M + 5 * CELL + CFG.clue_gap_px
        band = [(x, y) for x in range(M, img.size[0] - M) for y in range(top, top + CFG.line_px)]
        assert any(sum(img.getpixel(p)) < 300 for p in band)  # the "Across:" header
        # Nothing in the bottom margin or the gap between grid and clues.
        assert all(img.getpixel((x, img.size[1] - 2)) == WHITE for x in range(img.size[0]))
        assert all(img.getpixel((x, M + 5 * CELL + 5)) == WHITE for x in range(img.size[0]))
        assert img.size == render_image(P, variant).size  # deterministic


def test_wrapping_adds_lines(P):
    short = render_image(P, "grid", config=RenderConfig(wrap_chars=80))
    narrow = render_image(P, "grid", config=RenderConfig(wrap_chars=8))
    assert narrow.size[1] > short.size[1]


def test_partial_and_filled(P):
    mask = [[False] * 5 for _ in range(5)]
    mask[0][0] = mask[1][2] = True
    for variant in ("partial", "filled"):
        img = render_image(P, variant, mask=mask)
        assert dark_near_centre(img, 0, 0) > 0 and dark_near_centre(img, 1, 2) > 0
        assert dark_near_centre(img, 0, 1) == 0 and dark_near_centre(img, 2, 2) == 0
    img = render_image(P, "partial", mask=prefill_mask(P, 0.5))
    assert img.mode == "RGB"


def test_config_scales_grid(P):
    cfg = RenderConfig(cell_px=40, margin_px=10)
    assert render_image(P, "grid_only", config=cfg).size == (2 * 10 + 5 * 40, 2 * 10 + 5 * 40)


def test_font_path(P):
    from pathlib import Path

    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not font.exists():
        pytest.skip("no DejaVu font")
    img = render_image(P, "key", config=RenderConfig(font_path=font))
    assert dark_near_centre(img, 0, 0) > 0


def test_errors(P):
    with pytest.raises(ValueError, match="grid_only"):
        render_image(P, "nope")
    with pytest.raises(ValueError, match="mask"):
        render_image(P, "partial")
    with pytest.raises(ValueError, match="shape"):
        render_image(P, "filled", mask=[[True] * 5] * 4)
    with pytest.raises(ValueError, match="shape"):
        render_image(P, "partial", mask=[[True] * 4] * 5)
    assert set(VARIANTS) == {"grid", "grid_only", "key", "partial", "filled"}
