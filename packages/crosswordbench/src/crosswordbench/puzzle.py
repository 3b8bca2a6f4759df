"""The puzzle model: words on a grid, standard numbering, crossings, and the prefill masks that control
difficulty (spec §2.1).

A grid is a list of equal-length strings, one per row; ``"-"`` (:data:`BLOCK`) is a blocked cell and
anything else a letter. Cells are ``(row, col)``, 0-indexed from the top-left.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BLOCK",
    "DIRECTIONS",
    "Intersection",
    "Puzzle",
    "PuzzleError",
    "Word",
    "check_mask",
    "intersections",
    "leave_one_out_mask",
    "masked_grid",
    "number_words",
    "prefill_mask",
    "stable_seed",
]

BLOCK = "-"
"""A blocked (black) cell."""

DIRECTIONS = ("across", "down")

Cell = tuple[int, int]
Mask = list[list[bool]]


class PuzzleError(ValueError):
    """A puzzle that cannot exist: no words, a word off the grid, two letters in one cell, ..."""


@dataclass(frozen=True)
class Word:
    """One answer on the grid: its clue, start cell and direction; ``number`` is its clue number."""

    answer: str
    clue: str
    row: int
    col: int
    direction: str
    number: int = 0

    @property
    def key(self) -> str:
        """``"across 3"`` / ``"down 12"``: how clues and answers are addressed everywhere."""
        return f"{self.direction} {self.number}"

    def cells(self) -> list[Cell]:
        """Its cells in reading order."""
        if self.direction == "across":
            return [(self.row, self.col + i) for i in range(len(self.answer))]
        return [(self.row + i, self.col) for i in range(len(self.answer))]


def number_words(words: Iterable[Word]) -> list[Word]:
    """Standard crossword numbering: distinct start cells sorted by (row, col) get 1, 2, 3, ...; an across
    and a down word starting in one cell share the number. Stored numbers are ignored. Returns the across
    words by number, then the down words by number (the reference order)."""
    words = list(words)
    starts = sorted({(w.row, w.col) for w in words})
    number = {cell: i for i, cell in enumerate(starts, start=1)}
    numbered = [Word(w.answer, w.clue, w.row, w.col, w.direction, number[(w.row, w.col)]) for w in words]
    return sorted(numbered, key=lambda w: (DIRECTIONS.index(w.direction), w.number))


def _direction(value: Any) -> str:
    if isinstance(value, bool):
        value = int(value)
    if value in (0, 1) and not isinstance(value, str):
        return DIRECTIONS[int(value)]
    if isinstance(value, str) and value.strip().lower() in DIRECTIONS:
        return value.strip().lower()
    raise PuzzleError(f"bad direction {value!r}: use 'across'/'down' or 0/1 (1 = down)")


def _as_word(entry: Word | Sequence[Any]) -> Word:
    if isinstance(entry, Word):
        answer, clue, row, col, direction = entry.answer, entry.clue, entry.row, entry.col, entry.direction
    else:
        if len(entry) < 5:
            raise PuzzleError(f"a word entry is (answer, clue, row, col, direction), got {entry!r}")
        answer, clue, row, col, direction = entry[:5]
    answer = str(answer).upper()
    if len(answer) < 2:
        raise PuzzleError(f"answer {answer!r} is shorter than 2 letters")
    if BLOCK in answer or any(ch.isspace() for ch in answer):
        raise PuzzleError(f"answer {answer!r} holds a space or {BLOCK!r}")
    try:
        row, col = int(row), int(col)
    except (TypeError, ValueError):
        raise PuzzleError(f"bad start cell ({row!r}, {col!r}) of {answer}") from None
    return Word(answer, str(clue), row, col, _direction(direction))


def _grid_from_words(words: Sequence[Word], rows: int, cols: int) -> list[str]:
    if rows < 1 or cols < 1:
        raise PuzzleError(f"grid size must be at least 1x1, got {rows}x{cols}")
    cells = [[BLOCK] * cols for _ in range(rows)]
    for word in words:
        for (r, c), letter in zip(word.cells(), word.answer, strict=True):
            if not (0 <= r < rows and 0 <= c < cols):
                raise PuzzleError(
                    f"{word.answer} ({word.direction} at {word.row}, {word.col}) leaves the "
                    f"{rows}x{cols} grid"
                )
            if cells[r][c] not in (BLOCK, letter):
                raise PuzzleError(
                    f"letter conflict at ({r}, {c}): {cells[r][c]} vs {letter} of {word.answer}"
                )
            cells[r][c] = letter
    return ["".join(row) for row in cells]


@dataclass
class Puzzle:
    """A crossword: its solved grid and its words in reference order (across by number, then down)."""

    grid: list[str]
    words: list[Word]
    id: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.grid)

    @property
    def cols(self) -> int:
        return len(self.grid[0]) if self.grid else 0

    def keys(self) -> list[str]:
        """The clue keys in reference order, e.g. ``["across 1", "down 1", "down 2"]``."""
        return [w.key for w in self.words]

    def word(self, key: str) -> Word:
        """The word of a key; unknown key → ``KeyError``."""
        for w in self.words:
            if w.key == key:
                return w
        raise KeyError(f"no clue {key!r} in puzzle {self.id or '(no id)'}; keys: {', '.join(self.keys())}")

    def reference(self) -> list[dict]:
        """``[{"direction": key, "clue", "answer"}]`` in reference order (the released format)."""
        return [{"direction": w.key, "clue": w.clue, "answer": w.answer} for w in self.words]

    def letter_cells(self) -> list[Cell]:
        """Every letter cell, row-major."""
        return [(r, c) for r, row in enumerate(self.grid) for c, ch in enumerate(row) if ch != BLOCK]

    def to_dict(self) -> dict:
        """A JSON-ready dict; :meth:`from_dict` reproduces the puzzle. ``meta["images"]`` is left out."""
        return {
            "id": self.id,
            "rows": self.rows,
            "cols": self.cols,
            "grid": list(self.grid),
            "words": [
                {
                    "answer": w.answer,
                    "clue": w.clue,
                    "row": w.row,
                    "col": w.col,
                    "direction": w.direction,
                    "number": w.number,
                }
                for w in self.words
            ],
            "meta": {k: v for k, v in self.meta.items() if k != "images"},
        }

    @classmethod
    def from_words(
        cls,
        entries: Iterable[Word | Sequence[Any]],
        rows: int,
        cols: int,
        id: str = "",
        meta: Mapping | None = None,
    ) -> Puzzle:
        """Build the grid from words (``Word``s or ``(answer, clue, row, col, direction)`` tuples, direction
        ``"across"``/``"down"`` or 0/1) and number them. ``PuzzleError`` on no words, an off-grid cell, a
        letter conflict, a bad direction or an answer shorter than 2."""
        words = [_as_word(entry) for entry in entries]
        if not words:
            raise PuzzleError("a puzzle needs at least one word")
        grid = _grid_from_words(words, int(rows), int(cols))
        return cls(grid, number_words(words), str(id), dict(meta or {}))

    @classmethod
    def from_dict(cls, d: Mapping | str) -> Puzzle:
        """Inverse of :meth:`to_dict`; also a JSON string of either form, or a record of the released
        dataset (``puzzle_state`` with ``grid`` and ``wordlist``, optional ``id``, ``reference_answer`` and
        ``partial_grid_<ratio>``). Raises ``PuzzleError`` on anything inconsistent."""
        if isinstance(d, str | bytes):
            try:
                d = json.loads(d)
            except json.JSONDecodeError as exc:
                raise PuzzleError(f"not a JSON puzzle: {exc}") from None
        if not isinstance(d, Mapping):
            raise PuzzleError(f"a puzzle record is a dict, got {type(d).__name__}")
        if "puzzle_state" in d:
            return _from_released(d)
        missing = [k for k in ("words",) if k not in d]
        if missing:
            raise PuzzleError(f"puzzle record lacks {', '.join(missing)} (fields: {', '.join(map(str, d))})")
        grid = d.get("grid")
        rows = d.get("rows", len(grid) if grid else None)
        cols = d.get("cols", len(grid[0]) if grid else None)
        if rows is None or cols is None:
            raise PuzzleError("puzzle record lacks rows/cols and grid")
        entries = []
        for w in d["words"]:
            if not isinstance(w, Mapping) or any(k not in w for k in ("answer", "row", "col", "direction")):
                raise PuzzleError(f"a word needs answer, clue, row, col and direction, got {w!r}")
            entries.append((w["answer"], w.get("clue", ""), w["row"], w["col"], w["direction"]))
        puzzle = cls.from_words(
            entries, rows, cols, "" if d.get("id") is None else str(d["id"]), dict(d.get("meta") or {})
        )
        if grid is not None and [str(r).upper() for r in grid] != puzzle.grid:
            raise PuzzleError(f"puzzle {puzzle.id or '(no id)'}: its grid disagrees with its words")
        return puzzle


def _json_field(value: Any, name: str) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise PuzzleError(f"{name} is not valid JSON: {exc}") from None
    return value


def _from_released(d: Mapping) -> Puzzle:
    state = _json_field(d["puzzle_state"], "puzzle_state")
    if not isinstance(state, Mapping) or "grid" not in state or "wordlist" not in state:
        raise PuzzleError("puzzle_state needs grid and wordlist")
    grid = ["".join(str(ch) for ch in row) for row in state["grid"]]
    if not grid or len({len(r) for r in grid}) != 1:
        raise PuzzleError("puzzle_state.grid is not a rectangle of cells")
    meta: dict = {}
    masks = {}
    for ratio in ("0.25", "0.5", "0.75"):
        partial = d.get(f"partial_grid_{ratio}")
        if partial is None:
            continue
        partial = _json_field(partial, f"partial_grid_{ratio}")
        mask = partial.get("mask") if isinstance(partial, Mapping) else None
        if mask is None:
            raise PuzzleError(f"partial_grid_{ratio} lacks its mask")
        masks[ratio] = [[bool(v) for v in row] for row in mask]
    if masks:
        meta["prefill_masks"] = masks
    puzzle = Puzzle.from_words(
        [tuple(entry[:5]) for entry in state["wordlist"]],
        len(grid),
        len(grid[0]),
        "" if d.get("id") is None else str(d["id"]),
        meta,
    )
    if [r.upper() for r in grid] != puzzle.grid:
        raise PuzzleError(f"puzzle {puzzle.id or '(no id)'}: its grid disagrees with its word list")
    for ratio, mask in masks.items():
        if len(mask) != puzzle.rows or any(len(row) != puzzle.cols for row in mask):
            raise PuzzleError(
                f"partial_grid_{ratio}: mask shape differs from the {puzzle.rows}x{puzzle.cols} grid"
            )
    reference = d.get("reference_answer")
    if reference is not None:
        reference = _json_field(reference, "reference_answer")
        try:
            theirs = sorted(
                (" ".join(str(r["direction"]).lower().split()), str(r["answer"]).upper()) for r in reference
            )
        except (TypeError, KeyError):
            raise PuzzleError("reference_answer entries need direction and answer") from None
        ours = sorted((w.key, w.answer) for w in puzzle.words)
        if theirs != ours:
            raise PuzzleError(
                f"puzzle {puzzle.id or '(no id)'}: reference_answer disagrees with its word list"
            )
    return puzzle


@dataclass(frozen=True)
class Intersection:
    """An across and a down word crossing in cell ``(row, col)``, at ``across_index`` of the across
    answer and ``down_index`` of the down answer."""

    across_key: str
    down_key: str
    across_index: int
    down_index: int
    row: int
    col: int


def intersections(puzzle: Puzzle) -> list[Intersection]:
    """Every crossing of an across word A and a down word D, ordered by A then D in reference order."""
    across = [w for w in puzzle.words if w.direction == "across"]
    down = [w for w in puzzle.words if w.direction == "down"]
    found = []
    for a in across:
        for d in down:
            if a.col <= d.col <= a.col + len(a.answer) - 1 and d.row <= a.row <= d.row + len(d.answer) - 1:
                found.append(Intersection(a.key, d.key, d.col - a.col, a.row - d.row, a.row, d.col))
    return found


def stable_seed(puzzle: Puzzle) -> int:
    """A seed that depends only on the solved grid: the first 8 bytes (big-endian) of SHA-256 of the rows
    joined. (The reference code used Python's salted ``hash()``, different in every process.)"""
    return int.from_bytes(hashlib.sha256("".join(puzzle.grid).encode("utf-8")).digest()[:8], "big")


def _empty_mask(puzzle: Puzzle) -> Mask:
    return [[False] * puzzle.cols for _ in range(puzzle.rows)]


def prefill_mask(
    puzzle: Puzzle, ratio: float, *, seed: int | None = None, order: Sequence[Cell] | None = None
) -> Mask:
    """Reveal about ``ratio`` of the letter cells (True = revealed) so that every word keeps a hidden cell.

    The target is ``int(#letters * ratio)``. Cells are walked in ``order`` (if given; blocked and repeated
    cells skipped) or in the row-major letter cells shuffled by ``random.Random(stable_seed(puzzle)`` or
    ``seed)``; a cell is revealed unless that would complete some word through it. Masks of one order are
    nested across ratios; fewer than the target may be revealed.
    """
    if not 0 <= ratio <= 1:
        raise ValueError(f"prefill ratio must be in [0, 1], got {ratio}")
    letters = puzzle.letter_cells()
    target = int(len(letters) * ratio)
    if order is None:
        walk = list(letters)
        random.Random(stable_seed(puzzle) if seed is None else seed).shuffle(walk)
    else:
        walk = [tuple(cell) for cell in order]
    words_at: dict[Cell, list[list[Cell]]] = {}
    for word in puzzle.words:
        cells = word.cells()
        for cell in cells:
            words_at.setdefault(cell, []).append(cells)
    mask = _empty_mask(puzzle)
    revealed = 0
    seen: set[Cell] = set()
    for cell in walk:
        if revealed >= target:
            break
        if cell in seen or cell not in words_at:
            continue
        seen.add(cell)
        r, c = cell
        completes = any(all(mask[rr][cc] for rr, cc in cells if (rr, cc) != cell) for cells in words_at[cell])
        if not completes:
            mask[r][c] = True
            revealed += 1
    return mask


def leave_one_out_mask(puzzle: Puzzle, *, seed: int | None = None, key: str | None = None) -> Mask:
    """Every letter revealed except all cells (crossings included) of one word: ``key``, or else the first
    word of the reference order shuffled with :func:`prefill_mask`'s seeding rule. Unknown key →
    ``KeyError``."""
    if key is None:
        keys = puzzle.keys()
        random.Random(stable_seed(puzzle) if seed is None else seed).shuffle(keys)
        key = keys[0]
    hidden = set(puzzle.word(key).cells())
    mask = _empty_mask(puzzle)
    for r, c in puzzle.letter_cells():
        mask[r][c] = (r, c) not in hidden
    return mask


def check_mask(puzzle: Puzzle, mask: Any) -> Mask:
    """``mask`` as rows × cols booleans; ``ValueError`` if it is missing or misshaped."""
    if mask is None:
        raise ValueError("a mask is needed here (rows x cols booleans, True = revealed)")
    rows = [list(row) for row in mask]
    if len(rows) != puzzle.rows or any(len(row) != puzzle.cols for row in rows):
        raise ValueError(f"mask shape differs from the puzzle's {puzzle.rows}x{puzzle.cols} grid")
    return [[bool(v) for v in row] for row in rows]


def masked_grid(puzzle: Puzzle, mask: Any) -> list[str]:
    """Letters where ``mask`` reveals them, ``"-"`` elsewhere (the released partial-grid layout)."""
    mask = check_mask(puzzle, mask)
    return [
        "".join(ch if ch != BLOCK and mask[r][c] else BLOCK for c, ch in enumerate(row))
        for r, row in enumerate(puzzle.grid)
    ]
