"""Seeded crossword generation from word–clue pairs (spec §2.2), written from the paper's rules.

CrossWordBench (Leng et al., COLM 2025) builds each puzzle by randomised placement: a first word is dropped
somewhere on an empty grid, then the rest of a shuffled word list is offered in a few passes, each word going
to its best-scoring legal spot, i.e. the spot crossing the most existing letters. Many such layouts are tried
and the fullest one is kept; a puzzle is accepted once it holds enough words ("more than 10/20/30" at
7×7/14×14/21×21). The rules of a legal spot are :func:`placement_score`'s.

Two engines compute the best spot and give identical puzzles:

* ``"reference"`` scans every start cell and direction with :func:`placement_score`
  (that is :func:`best_placement`, literally);
* ``"indexed"`` (default) only looks at spots that cross an *anchor* — a letter that belongs to exactly one
  word, of the other direction — because no other spot can score 2 or more. It keeps every such spot of the
  current grid (a *slot*) indexed by length, offset and anchor letter, updates the index line by line as words
  are placed, and so answers each word with a few dictionary look-ups.

Everything random comes from one ``random.Random(config.seed)``, and the pool is sorted before use, so the
same inputs give the same puzzles whatever the input order.
"""

from __future__ import annotations

import random
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .puzzle import BLOCK, DIRECTIONS, Puzzle

__all__ = [
    "ENGINES",
    "GenerationConfig",
    "GenerationError",
    "best_placement",
    "default_max_word_len",
    "default_min_words",
    "generate_puzzles",
    "placement_score",
]

ENGINES = ("indexed", "reference")
"""Engines of :func:`generate_puzzles`; both give identical puzzles, ``"indexed"`` is the fast default."""

Placement = tuple[int, int, str, int]
"""``(row, col, direction, score)`` of a word's best spot."""

Pair = tuple[str, str]
"""``(WORD, clue)``."""


class GenerationError(ValueError):
    """The word list cannot make a puzzle (fewer distinct usable words than ``min_words``)."""


# --------------------------------------------------------------------------------------------------------------
# The placement rule


def _step(direction: str) -> tuple[int, int]:
    """``(d_row, d_col)`` of one step along ``direction``."""
    if direction == "across":
        return 0, 1
    if direction == "down":
        return 1, 0
    raise ValueError(f"unknown direction {direction!r}: use one of {', '.join(DIRECTIONS)}")


def placement_score(grid: Sequence[Sequence[str]], word: str, row: int, col: int, direction: str) -> int:
    """Score of writing ``word`` from ``(row, col)`` along ``direction`` on ``grid`` (rows: strings or lists).

    0 (illegal) when the word is shorter than 2, leaves the grid, or touches a letter just before its first or
    just after its last cell, or when one of its cells

    * holds a different letter,
    * is empty while a perpendicular neighbour holds a letter (that would glue on a two-letter run), or
    * holds the same letter while a neighbour along the direction holds a letter (that would overlap a
      parallel word).

    Otherwise ``1 + c``, ``c`` the number of its cells that already hold its letter (the crossings). These are
    the paper's rules, except that a collinear overlap, which genxword allows in rare cases, is illegal (§3).
    Unknown direction → ``ValueError``.
    """
    d_row, d_col = _step(direction)
    length = len(word)
    if length < 2:
        return 0
    rows = len(grid)
    cols = len(grid[0]) if rows else 0
    last_row, last_col = row + d_row * (length - 1), col + d_col * (length - 1)
    if row < 0 or col < 0 or last_row >= rows or last_col >= cols:
        return 0

    def holds_letter(r: int, c: int) -> bool:
        return 0 <= r < rows and 0 <= c < cols and grid[r][c] != BLOCK

    if holds_letter(row - d_row, col - d_col) or holds_letter(last_row + d_row, last_col + d_col):
        return 0
    crossings = 0
    for i, letter in enumerate(word):
        r, c = row + d_row * i, col + d_col * i
        cell = grid[r][c]
        if cell == BLOCK:
            # The perpendicular neighbours of (r, c) are one step across the direction: (r ± d_col, c ± d_row).
            if holds_letter(r - d_col, c - d_row) or holds_letter(r + d_col, c + d_row):
                return 0
        elif cell != letter or holds_letter(r - d_row, c - d_col) or holds_letter(r + d_row, c + d_col):
            return 0
        else:
            crossings += 1
    return 1 + crossings


def best_placement(grid: Sequence[Sequence[str]], word: str) -> Placement | None:
    """The best spot of ``word`` on ``grid``: ``(row, col, direction, score)``, or None.

    Only spots scoring at least 2 (at least one crossing) count; the highest score wins, ties go to the
    smallest row, then column, then across before down. This is the literal scan of every start cell and
    direction (the ``"reference"`` engine); the ``"indexed"`` engine returns exactly the same result.
    """
    rows = len(grid)
    cols = len(grid[0]) if rows else 0
    best: Placement | None = None
    for row in range(rows):
        for col in range(cols):
            for direction in DIRECTIONS:
                score = placement_score(grid, word, row, col, direction)
                # Strictly greater: the first spot met in (row, col, across-before-down) order wins ties.
                if score >= 2 and (best is None or score > best[3]):
                    best = (row, col, direction, score)
    return best


# --------------------------------------------------------------------------------------------------------------
# Configuration


def default_min_words(rows: int, cols: int) -> int:
    """Acceptance threshold: 11/21/31 words for min(rows, cols) = 7/14/21 (the reference code's "more than
    10/20/30"), else ⌊10·m/7⌋ + 1 for m = min(rows, cols)."""
    return 10 * min(rows, cols) // 7 + 1


def default_max_word_len(rows: int, cols: int) -> int:
    """Longest usable word: min(rows, cols) − 2, as in the paper."""
    return min(rows, cols) - 2


@dataclass
class GenerationConfig:
    """Settings of :func:`generate_puzzles` (defaults of spec §3).

    ``min_words`` and ``max_word_len`` left as None follow the grid size; :attr:`resolved_min_words` and
    :attr:`resolved_max_word_len` give the values in force.
    """

    rows: int = 7
    cols: int = 7
    min_words: int | None = None
    max_word_len: int | None = None
    restarts: int = 32
    passes: int = 5
    replacement: bool = False
    refresh_after: int = 3
    max_failures: int = 50
    max_duplicates: int = 10
    engine: str = "indexed"
    seed: int = 1234

    @property
    def resolved_min_words(self) -> int:
        """``min_words``, or :func:`default_min_words` of the grid when None."""
        return default_min_words(self.rows, self.cols) if self.min_words is None else self.min_words

    @property
    def resolved_max_word_len(self) -> int:
        """``max_word_len``, or :func:`default_max_word_len` of the grid when None."""
        return default_max_word_len(self.rows, self.cols) if self.max_word_len is None else self.max_word_len

    @property
    def grid_size(self) -> str:
        """``"7x7"``-style size label, used in puzzle ids and ``meta``."""
        return f"{self.rows}x{self.cols}"

    def validate(self) -> None:
        """``ValueError`` on settings no generation can run with: spec §2.2 step 1, plus ``refresh_after``,
        ``max_failures`` or ``max_duplicates`` below 1 and a ``max_word_len`` above min(rows, cols)."""
        if self.rows < 3 or self.cols < 3:
            raise ValueError(f"grid must be at least 3x3, got {self.grid_size}")
        for name in ("restarts", "passes", "refresh_after", "max_failures", "max_duplicates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.resolved_min_words < 1:
            raise ValueError(f"min_words must be at least 1, got {self.min_words}")
        # A longer word would fit one direction only, so it could not always be the first word. (A limit
        # below 2 leaves no usable word: GenerationError, as for any too-small pool.)
        if self.resolved_max_word_len > min(self.rows, self.cols):
            raise ValueError(
                f"max_word_len must be at most min(rows, cols) = {min(self.rows, self.cols)}, "
                f"got {self.resolved_max_word_len}"
            )
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}: use one of {', '.join(ENGINES)}")


# --------------------------------------------------------------------------------------------------------------
# Layouts: a grid being filled, with one of the two ways of finding a word's best spot


class _Layout(ABC):
    """A grid under construction and the words on it, in placement order."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows = rows
        self.cols = cols
        self.grid: list[list[str]] = [[BLOCK] * cols for _ in range(rows)]
        self.words: list[tuple[str, str, int, int, str]] = []
        self.placed: set[str] = set()

    def place(self, word: str, clue: str, row: int, col: int, direction: str) -> None:
        """Write ``word`` on the grid; the caller has checked that the spot is legal."""
        d_row, d_col = _step(direction)
        for i, letter in enumerate(word):
            self.grid[row + d_row * i][col + d_col * i] = letter
        self.words.append((word, clue, row, col, direction))
        self.placed.add(word)

    @abstractmethod
    def best(self, word: str) -> Placement | None:
        """The word's :func:`best_placement` on the current grid."""

    def grid_rows(self) -> tuple[str, ...]:
        return tuple("".join(row) for row in self.grid)


class _ReferenceLayout(_Layout):
    """``engine="reference"``: the literal scan of :func:`best_placement`."""

    def best(self, word: str) -> Placement | None:
        return best_placement(self.grid, word)


# A slot: a legal spot crossing at least one letter, whatever word goes there. It is stored under its first
# crossing (offset, letter) and holds (rank, other crossings, placement); lower rank is better: higher score,
# then smaller row, column, across before down — best_placement's order.
_Slot = tuple[int, tuple[tuple[int, str], ...], Placement]


class _IndexedLayout(_Layout):
    """``engine="indexed"``: every legal crossing spot of the grid, indexed by (length, offset, letter).

    Whether a spot is legal, and its score, depend on the grid only, except that the word must carry the
    grid's letter at each crossing: a spot of length L with crossings {(i, letter)} is legal for exactly the
    words of length L matching those letters, and then scores 1 + #crossings (:func:`placement_score`).
    A crossing is an anchor: a letter without letter neighbours along the spot's direction, i.e. one that
    belongs to a single word, of the other direction. So the best spot of a word is the best-ranked slot of
    its length whose first crossing is one of its (offset, letter) pairs and whose other crossings match —
    the same result as the literal scan, found with ``len(word)`` dictionary look-ups.

    Placing a word only changes the slots of the lines it touches (its own line and the two beside it, and
    the perpendicular lines through its cells and just past its ends), so only those lines are recomputed.
    """

    def __init__(self, rows: int, cols: int, max_len: int) -> None:
        super().__init__(rows, cols)
        self.max_len = max_len
        # Slots per line: across slots of each row, down slots of each column.
        self._line_slots: dict[tuple[str, int], list[tuple[int, int, str, _Slot]]] = {}
        # length → offset → letter → slots.
        self._index: dict[int, list[dict[str, list[_Slot]]]] = {}

    def place(self, word: str, clue: str, row: int, col: int, direction: str) -> None:
        super().place(word, clue, row, col, direction)
        # A spot's legality reads its own cells, the cells just past its ends and the cells beside it. So the
        # new letters can only change the slots of the parallel lines through and beside the word, and of
        # the perpendicular lines through its cells and just past its ends.
        last = len(word) - 1
        if direction == "across":
            parallel = [("across", r) for r in range(row - 1, row + 2) if 0 <= r < self.rows]
            perpendicular = [("down", c) for c in range(col - 1, col + last + 2) if 0 <= c < self.cols]
        else:
            parallel = [("down", c) for c in range(col - 1, col + 2) if 0 <= c < self.cols]
            perpendicular = [("across", r) for r in range(row - 1, row + last + 2) if 0 <= r < self.rows]
        for line in parallel + perpendicular:
            self._line_slots[line] = self._slots_of_line(*line)
        self._rebuild_index()

    def _slots_of_line(self, direction: str, k: int) -> list[tuple[int, int, str, _Slot]]:
        """The legal crossing spots along row ``k`` (across) or column ``k`` (down), as
        ``(length, first offset, first letter, slot)``."""
        grid, rows, cols = self.grid, self.rows, self.cols
        if direction == "across":
            line = grid[k]
            above = grid[k - 1] if k > 0 else None
            below = grid[k + 1] if k + 1 < rows else None
            side = [
                (above is not None and above[j] != BLOCK) or (below is not None and below[j] != BLOCK)
                for j in range(cols)
            ]
        else:
            line = [grid[r][k] for r in range(rows)]
            side = [
                (k > 0 and grid[r][k - 1] != BLOCK) or (k + 1 < cols and grid[r][k + 1] != BLOCK)
                for r in range(rows)
            ]
        n = len(line)
        filled = [ch != BLOCK for ch in line]
        if not any(filled):
            return []
        # A cell no spot along this line may cover: a letter with a letter beside it along the line (it is
        # part of a parallel word), or an empty cell with a letter beside it across the line.
        bad = [
            (filled[j] and ((j > 0 and filled[j - 1]) or (j + 1 < n and filled[j + 1])))
            or (not filled[j] and side[j])
            for j in range(n)
        ]
        score_span = 2 * rows * cols  # rank = -score * score_span + position: score first, then position
        dir_index = DIRECTIONS.index(direction)
        slots: list[tuple[int, int, str, _Slot]] = []
        for start in range(n - 1):
            if bad[start] or (start > 0 and filled[start - 1]):  # the cell before the word must be empty
                continue
            crossings: list[tuple[int, str]] = []
            for end in range(start, min(n, start + self.max_len)):
                if bad[end]:  # and so is every longer spot from this start
                    break
                if filled[end]:
                    crossings.append((end - start, line[end]))
                # Too short, no crossing (score 1), or a letter just after the end: not this length, though a
                # longer spot may take that letter as a crossing.
                if end == start or not crossings or (end + 1 < n and filled[end + 1]):
                    continue
                row, col = (k, start) if direction == "across" else (start, k)
                score = 1 + len(crossings)
                rank = -score * score_span + (row * cols + col) * 2 + dir_index
                offset, letter = crossings[0]
                slot = (rank, tuple(crossings[1:]), (row, col, direction, score))
                slots.append((end - start + 1, offset, letter, slot))
        return slots

    def _rebuild_index(self) -> None:
        """Regroup all lines' slots by length, first-crossing offset and letter (a few hundred at most)."""
        index: dict[int, list[dict[str, list[_Slot]]]] = {}
        for slots in self._line_slots.values():
            for length, offset, letter, slot in slots:
                by_offset = index.get(length)
                if by_offset is None:
                    by_offset = index[length] = [{} for _ in range(length)]
                by_offset[offset].setdefault(letter, []).append(slot)
        self._index = index

    def best(self, word: str) -> Placement | None:
        by_offset = self._index.get(len(word))
        if by_offset is None:
            return None
        best_rank = 0
        best: Placement | None = None
        for offset, letter in enumerate(word):
            slots = by_offset[offset].get(letter)
            if slots is None:
                continue
            for rank, others, placement in slots:
                if best is not None and rank >= best_rank:
                    continue
                for i, ch in others:
                    if word[i] != ch:
                        break
                else:
                    best_rank, best = rank, placement
        return best


# --------------------------------------------------------------------------------------------------------------
# The generator


def _pair(entry: Any) -> Pair:
    """``(WORD, clue)`` of an entry: the word upper-cased, the clue as a string."""
    try:
        word, clue = entry[0], entry[1]
    except (TypeError, IndexError, KeyError):
        raise ValueError(f"a word list entry is (WORD, clue), got {entry!r}") from None
    word = str(word).strip().upper()
    if BLOCK in word or any(ch.isspace() for ch in word):
        raise ValueError(f"word {word!r} holds a space or {BLOCK!r}")
    return word, str(clue)


def _make_layout(config: GenerationConfig, max_len: int) -> _Layout:
    if config.engine == "reference":
        return _ReferenceLayout(config.rows, config.cols)
    return _IndexedLayout(config.rows, config.cols, max_len)


class _Generator:
    """State of one :func:`generate_puzzles` run: the random stream, the pool and the first-word memory."""

    def __init__(self, base: list[Pair], config: GenerationConfig) -> None:
        self.config = config
        self.base = base
        self.pool = list(base)
        self.max_len = max(len(word) for word, _ in base)
        self.rng = random.Random(config.seed)
        self.first_words: set[str] = set()

    def layout(self) -> _Layout:
        """One randomised layout (step 2): first word, then up to ``passes`` passes over the shuffled pool."""
        cfg, rng, pool = self.config, self.rng, self.pool
        layout = _make_layout(cfg, self.max_len)
        # Vary the first word across layouts: draw among words not yet used first, all again once exhausted.
        fresh = [pair for pair in pool if pair[0] not in self.first_words]
        if not fresh:
            self.first_words.clear()
            fresh = pool
        word, clue = rng.choice(fresh)
        self.first_words.add(word)
        # The first word scores 1 anywhere, so it is placed directly: random direction, uniform in-bounds start.
        direction = DIRECTIONS[rng.randrange(2)]
        if direction == "across":
            row, col = rng.randrange(cfg.rows), rng.randrange(cfg.cols - len(word) + 1)
        else:
            row, col = rng.randrange(cfg.rows - len(word) + 1), rng.randrange(cfg.cols)
        layout.place(word, clue, row, col, direction)
        order = list(pool)
        rng.shuffle(order)
        for _ in range(cfg.passes):
            placed_any = False
            for word, clue in order:
                # One use per word per grid, even with another clue.
                if word in layout.placed:
                    continue
                spot = layout.best(word)
                if spot is not None:
                    layout.place(word, clue, spot[0], spot[1], spot[2])
                    placed_any = True
            if not placed_any:
                break
        return layout

    def attempt(self) -> _Layout:
        """Up to ``restarts`` layouts; the one with most words (earliest on ties), stopping early at one that
        uses every distinct word of the pool (no layout can do better)."""
        every_word = len({word for word, _ in self.pool})
        best: _Layout | None = None
        for _ in range(self.config.restarts):
            layout = self.layout()
            if best is None or len(layout.words) > len(best.words):
                best = layout
            if len(best.words) == every_word:
                break
        assert best is not None  # restarts >= 1
        return best

    def restore_pool(self) -> None:
        self.pool = list(self.base)

    def remove_from_pool(self, used: Iterable[Pair]) -> None:
        used = set(used)
        self.pool = [pair for pair in self.pool if pair not in used]
        if len({word for word, _ in self.pool}) < self.config.resolved_min_words:
            self.restore_pool()

    def pool_reduced(self) -> bool:
        return len(self.pool) < len(self.base)


def generate_puzzles(
    entries: Iterable[Sequence[Any]],
    n: int,
    config: GenerationConfig | None = None,
    *,
    exclude: Iterable[Sequence[Any]] | None = None,
) -> list[Puzzle]:
    """Generate ``n`` distinct crosswords from ``(WORD, clue)`` entries (spec §2.2).

    1. ``n < 0``, a grid smaller than 3×3, ``min_words``/``restarts``/``passes`` (or ``refresh_after``,
       ``max_failures``, ``max_duplicates``) below 1, ``max_word_len`` above min(rows, cols) or an unknown
       engine → ``ValueError``; ``n == 0`` → ``[]``. The pool holds the distinct pairs with
       ``2 <= len(WORD) <= max_word_len`` (words upper-cased), minus ``exclude``, sorted by (length desc, word,
       clue) so that input order never matters; fewer distinct words than ``min_words`` →
       :class:`GenerationError`. One ``random.Random(seed)`` drives everything.
    2. An attempt runs ``restarts`` layouts and keeps the fullest (earliest on ties), stopping early at one
       that uses every distinct pool word. A layout places a first word (one not yet used first, the memory
       reset when exhausted) in a random direction at a uniformly drawn in-bounds start, then offers a shuffled
       copy of the pool in up to ``passes`` passes, each unplaced word going to its :func:`best_placement`; a
       pass that places nothing ends it.
    3. The attempt is accepted if it has ``min_words`` words or more and a grid unlike every accepted one.
       ``max_duplicates`` duplicates in a row, or ``max_failures`` unaccepted attempts in a row (duplicates
       count), stop early with a warning and a shorter list.
    4. Without replacement, accepted pairs leave the pool, which is restored (minus ``exclude``) when fewer than
       ``min_words`` distinct words remain or after ``refresh_after`` unaccepted attempts in a row on a reduced
       pool.
    5. Ids are ``f"{rows}x{cols}-{i:04d}"`` from 1; ``meta`` holds ``grid_size`` and ``seed``.

    Same inputs → the same puzzles; ``engine="reference"`` gives identical puzzles to the default.
    """
    cfg = config if config is not None else GenerationConfig()
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    cfg.validate()
    if n == 0:
        return []
    min_words, max_len = cfg.resolved_min_words, cfg.resolved_max_word_len
    excluded = {_pair(entry) for entry in exclude} if exclude is not None else set()
    usable = {pair for pair in map(_pair, entries) if 2 <= len(pair[0]) <= max_len} - excluded
    base = sorted(usable, key=lambda pair: (-len(pair[0]), pair[0], pair[1]))
    distinct = len({word for word, _ in base})
    if distinct < min_words:
        raise GenerationError(
            f"only {distinct} distinct words of 2 to {max_len} letters are left (after exclusions); "
            f"a {cfg.grid_size} puzzle needs at least min_words = {min_words}"
        )

    gen = _Generator(base, cfg)
    puzzles: list[Puzzle] = []
    accepted_grids: set[tuple[str, ...]] = set()
    failures = duplicates = reduced_failures = 0
    while len(puzzles) < n:
        on_reduced_pool = gen.pool_reduced()
        layout = gen.attempt()
        grid = layout.grid_rows()
        if len(layout.words) >= min_words and grid not in accepted_grids:
            accepted_grids.add(grid)
            puzzles.append(
                Puzzle.from_words(
                    layout.words,
                    cfg.rows,
                    cfg.cols,
                    id=f"{cfg.grid_size}-{len(puzzles) + 1:04d}",
                    meta={"grid_size": cfg.grid_size, "seed": cfg.seed},
                )
            )
            failures = duplicates = reduced_failures = 0
            if not cfg.replacement:
                gen.remove_from_pool((word, clue) for word, clue, *_ in layout.words)
            continue
        # Not accepted: too few words, or a grid we already have.
        failures += 1
        duplicates = duplicates + 1 if len(layout.words) >= min_words else 0
        if duplicates >= cfg.max_duplicates or failures >= cfg.max_failures:
            reason = (
                f"{duplicates} duplicate grids in a row"
                if duplicates >= cfg.max_duplicates
                else f"{failures} attempts in a row without a new puzzle of {min_words}+ words"
            )
            warnings.warn(
                f"generate_puzzles stopped early with {len(puzzles)} of {n} {cfg.grid_size} puzzles: {reason} "
                f"(raise restarts, max_failures or max_duplicates, or give more words)",
                stacklevel=2,
            )
            break
        if on_reduced_pool:
            reduced_failures += 1
            if reduced_failures >= cfg.refresh_after:
                gen.restore_pool()
                reduced_failures = 0
    return puzzles
