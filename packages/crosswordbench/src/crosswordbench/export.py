"""Export to and import from the files real crossword programs open (spec §2.11): Across Lite ``.puz``
(version 1.3, through puzpy) and ipuz v2 JSON (checked against the ``ipuz`` package's validator).

Both formats describe words only through the grid: a program numbers the cells and takes every maximal run
of two or more letters as a word. Exporting therefore requires that a puzzle's words are exactly those runs
(every generated puzzle's are); round trips then keep the grid, the keys, the answers and the clues.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipuz
import puz

from crosswordbench.puzzle import BLOCK, Puzzle, PuzzleError, Word
from rlcore.data import DataError
from rlcore.errors import DataFileNotFound
from rlcore.runs import atomic_write

__all__ = ["IPUZ_KIND", "IPUZ_VERSION", "ExportError", "from_ipuz", "from_puz", "to_ipuz", "to_puz"]

PathLike = str | os.PathLike[str]

IPUZ_VERSION = "http://ipuz.org/v2"
IPUZ_KIND = "http://ipuz.org/crossword#1"
_IPUZ_BLOCK = "#"
_PUZ_BLOCKS = ".:"  # puzpy's black squares: "." (and ":" in diagramless files)


class ExportError(ValueError):
    """A puzzle that the target format cannot hold (text outside Latin-1 for ``.puz``, words that are not
    the grid's letter runs)."""


# -- shared ----------------------------------------------------------------------------------------


def _letter_runs(grid: list[str]) -> set[tuple[int, int, str, int]]:
    """Every maximal run of >= 2 letter cells as ``(row, col, direction, length)``: the words a crossword
    program sees in the grid."""
    rows, cols = len(grid), len(grid[0]) if grid else 0
    runs = set()
    for r in range(rows):
        for c in range(cols):
            if grid[r][c] == BLOCK:
                continue
            for direction, dr, dc in (("across", 0, 1), ("down", 1, 0)):
                pr, pc = r - dr, c - dc
                if pr >= 0 and pc >= 0 and grid[pr][pc] != BLOCK:
                    continue  # not the start of a run
                n = 0
                while r + n * dr < rows and c + n * dc < cols and grid[r + n * dr][c + n * dc] != BLOCK:
                    n += 1
                if n >= 2:
                    runs.add((r, c, direction, n))
    return runs


def _check_exportable(puzzle: Puzzle, fmt: str) -> None:
    ours = {(w.row, w.col, w.direction, len(w.answer)) for w in puzzle.words}
    theirs = _letter_runs(puzzle.grid)
    if ours != theirs:
        extra = sorted(theirs - ours)
        missing = sorted(ours - theirs)
        detail = "; ".join(
            part
            for part in (
                f"runs without a word: {extra}" if extra else "",
                f"words that are not a whole run: {missing}" if missing else "",
            )
            if part
        )
        raise ExportError(
            f"puzzle {puzzle.id or '(no id)'} cannot be written as {fmt}: its words must be exactly the grid's "
            f"runs of 2+ letters, because readers derive the words from the grid ({detail})"
        )


def _clue_order(puzzle: Puzzle) -> list[Word]:
    """Clues by (number, across first): the order of Across Lite's clue list."""
    return sorted(puzzle.words, key=lambda w: (w.number, w.direction != "across"))


def _build(
    entries: list[tuple[str, str, int, int, str]], rows: int, cols: int, ident: str, meta: dict, where: str
) -> Puzzle:
    try:
        return Puzzle.from_words(entries, rows, cols, ident, meta)
    except PuzzleError as exc:
        raise DataError(f"{where}: {exc}") from None


# -- Across Lite .puz ------------------------------------------------------------------------------


def _latin1(text: str, what: str, puzzle: Puzzle) -> str:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        bad = "".join(dict.fromkeys(text[exc.start : exc.end]))
        raise ExportError(
            f"puzzle {puzzle.id or '(no id)'}: {what} holds {bad!r}, which Across Lite 1.3 (.puz, Latin-1) "
            "cannot store; export it as .ipuz instead"
        ) from None
    if "\0" in text:
        raise ExportError(f"puzzle {puzzle.id or '(no id)'}: {what} holds a NUL character")
    return text


def to_puz(
    puzzle: Puzzle, path: PathLike, *, title: str | None = None, author: str = "crosswordbench"
) -> Path:
    """Write ``puzzle`` as an Across Lite 1.3 ``.puz`` file through puzpy (spec §2.11), atomically.

    Solution: the rows with ``-`` → ``.``; fill: ``-`` for letter cells, ``.`` for blocks; clues ordered by
    (number, across first); title defaults to the puzzle id. Text outside Latin-1 (the 1.3 encoding) or
    words that are not the grid's letter runs → :class:`ExportError`. Returns the path.
    """
    _check_exportable(puzzle, ".puz")
    if any(ch in _PUZ_BLOCKS for row in puzzle.grid for ch in row):
        raise ExportError(
            f"puzzle {puzzle.id or '(no id)'}: '.' and ':' are black squares in .puz, not letters"
        )
    p = puz.Puzzle()  # version 1.3, ISO-8859-1
    p.width, p.height = puzzle.cols, puzzle.rows
    p.solution = _latin1("".join(row.replace(BLOCK, ".") for row in puzzle.grid), "the grid", puzzle)
    p.fill = "".join("." if ch == BLOCK else "-" for row in puzzle.grid for ch in row)
    p.title = _latin1(puzzle.id if title is None else title, "the title", puzzle)
    p.author = _latin1(author, "the author", puzzle)
    p.clues = [_latin1(w.clue, f"the clue of {w.key}", puzzle) for w in _clue_order(puzzle)]
    return atomic_write(Path(path).expanduser(), p.tobytes())


def from_puz(path: PathLike) -> Puzzle:
    """Read an Across Lite ``.puz`` file with puzpy's numbering (``puz.read(path).clue_numbering()``;
    spec §2.11). The id is the file name without suffix; title, author and copyright go to ``meta`` when
    set. Missing file → ``FileNotFoundError``; corrupt, scrambled or inconsistent file → ``DataError``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFileNotFound(f".puz file not found: {path}")
    try:
        p = puz.read(str(path))
        numbering = p.clue_numbering()
    except puz.PuzzleFormatError as exc:
        raise DataError(f"{path}: not a valid .puz file ({exc.message or 'format error'})") from None
    except Exception as exc:  # puzpy lets struct/Unicode/index errors of a truncated file escape
        raise DataError(f"{path}: not a valid .puz file ({type(exc).__name__}: {exc})") from None
    if p.is_solution_locked():
        raise DataError(f"{path}: the solution is scrambled (locked); unlock it in Across Lite first")
    entries_puz = list(numbering.across) + list(numbering.down)
    if len(p.clues) != len(entries_puz):
        raise DataError(f"{path}: {len(p.clues)} clues for {len(entries_puz)} words in the grid")
    solution, width = p.solution, p.width
    entries = []
    for e in entries_puz:
        step = 1 if e["dir"] == "across" else width
        answer = "".join(solution[e["cell"] + i * step] for i in range(e["len"])).upper()
        entries.append((answer, e["clue"] or "", e["row"], e["col"], e["dir"]))
    meta = {k: v for k, v in (("title", p.title), ("author", p.author), ("copyright", p.copyright)) if v}
    return _build(entries, p.height, p.width, path.stem, meta, str(path))


# -- ipuz ------------------------------------------------------------------------------------------


def to_ipuz(puzzle: Puzzle, path: PathLike | None = None, *, title: str | None = None) -> dict:
    """The puzzle as an ipuz v2 crossword dict (spec §2.11), valid for ``ipuz.read(json.dumps(d))``:
    ``puzzle`` cells ``"#"`` (block), the clue number, or 0; ``solution`` cells ``"#"`` or the letter;
    ``clues {"Across": [[n, clue]], "Down": [...]}``; the id as ``uniqueid``, the title (default: the id).
    Written as UTF-8 JSON, atomically, if ``path`` is given. Words that are not the grid's letter runs →
    :class:`ExportError`."""
    _check_exportable(puzzle, ".ipuz")
    numbers = {(w.row, w.col): w.number for w in puzzle.words}
    cells = [
        [_IPUZ_BLOCK if ch == BLOCK else numbers.get((r, c), 0) for c, ch in enumerate(row)]
        for r, row in enumerate(puzzle.grid)
    ]
    solution = [[_IPUZ_BLOCK if ch == BLOCK else ch for ch in row] for row in puzzle.grid]
    data: dict[str, Any] = {
        "version": IPUZ_VERSION,
        "kind": [IPUZ_KIND],
        "origin": "crosswordbench",
    }
    if puzzle.id:
        data["uniqueid"] = puzzle.id
    shown_title = puzzle.id if title is None else title
    if shown_title:
        data["title"] = shown_title
    data.update(
        {
            "dimensions": {"width": puzzle.cols, "height": puzzle.rows},
            "block": _IPUZ_BLOCK,
            "empty": 0,
            "puzzle": cells,
            "solution": solution,
            "clues": {
                "Across": [[w.number, w.clue] for w in puzzle.words if w.direction == "across"],
                "Down": [[w.number, w.clue] for w in puzzle.words if w.direction == "down"],
            },
        }
    )
    if path is not None:
        atomic_write(Path(path).expanduser(), _ipuz_json(data))
    return data


def _ipuz_json(data: Mapping[str, Any]) -> str:
    """Readable JSON: one top-level field per line, grids and clue lists one row or clue per line."""

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def block(items: list[str], indent: str) -> str:
        return "[\n" + ",\n".join(f"{indent}  {item}" for item in items) + f"\n{indent}]"

    fields = []
    for key, value in data.items():
        if key in ("puzzle", "solution"):
            text = block([dump(row) for row in value], "  ")
        elif key == "clues":
            text = (
                "{\n"
                + ",\n".join(
                    f"    {dump(name)}: {block([dump(clue) for clue in clues], '    ')}"
                    for name, clues in value.items()
                )
                + "\n  }"
            )
        else:
            text = dump(value)
        fields.append(f"  {dump(key)}: {text}")
    return "{\n" + ",\n".join(fields) + "\n}\n"


_JSONP = re.compile(r"^\s*[A-Za-z_$][\w$]*\s*\((.*)\)\s*;?\s*$", re.S)


def _cell_value(cell: Any, key: str) -> Any:
    """An ipuz cell may be a bare value or a dict with the value under ``key`` (``cell`` / ``value``)."""
    return cell.get(key) if isinstance(cell, Mapping) else cell


def from_ipuz(path_or_dict: PathLike | Mapping) -> Puzzle:
    """Read an ipuz crossword from a file or a dict (spec §2.11). Each clue's answer is read from
    ``solution`` starting at the cell labelled with its number in ``puzzle``; the id is ``uniqueid``, else
    the file name without suffix. Missing file → ``FileNotFoundError``; invalid or incomplete ipuz (no
    solution or clues, a number not in the grid, rebus cells, other directions) → ``DataError``.
    """
    if isinstance(path_or_dict, Mapping):
        where, stem, data = "ipuz data", "", dict(path_or_dict)
    else:
        path = Path(path_or_dict).expanduser()
        if not path.is_file():
            raise DataFileNotFound(f".ipuz file not found: {path}")
        where, stem = str(path), path.stem
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{where}: not UTF-8 text (byte {exc.start})") from None
        wrapped = _JSONP.match(text)  # ipuz allows a JSONP wrapper: ipuz({...})
        try:
            data = json.loads(wrapped.group(1) if wrapped and not text.lstrip().startswith("{") else text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(data, dict):
            raise DataError(f"{where}: an ipuz file holds a JSON object")
    try:
        ipuz.read(json.dumps(data))
    except ipuz.IPUZException as exc:
        raise DataError(f"{where}: invalid ipuz ({exc})") from None
    except (TypeError, ValueError) as exc:  # not JSON-serialisable dict values
        raise DataError(f"{where}: invalid ipuz ({exc})") from None
    if not any(str(kind).startswith("http://ipuz.org/crossword") for kind in data["kind"]):
        raise DataError(f"{where}: not an ipuz crossword (kind {data['kind']})")
    missing = [name for name in ("solution", "clues") if name not in data]
    if missing:
        raise DataError(f"{where}: incomplete ipuz, no {' or '.join(missing)}")

    block = str(data.get("block", _IPUZ_BLOCK))
    width, height = int(data["dimensions"]["width"]), int(data["dimensions"]["height"])
    solution_rows = data["solution"]
    if len(solution_rows) != height or any(len(row) != width for row in solution_rows):
        raise DataError(f"{where}: solution is not {height} rows of {width} cells")
    grid = []
    for r, row in enumerate(solution_rows):
        cells = []
        for c, cell in enumerate(row):
            value = _cell_value(cell, "value")
            if value is None or str(value) in (block, "", " ", "0", BLOCK):
                cells.append(BLOCK)  # block, omitted or unknown cell
            elif len(str(value)) != 1:
                raise DataError(
                    f"{where}: solution cell ({r}, {c}) holds {value!r}; rebus cells are not supported"
                )
            else:
                cells.append(str(value).upper())
        grid.append(cells)

    starts: dict[str, tuple[int, int]] = {}
    for r, row in enumerate(data["puzzle"]):
        for c, cell in enumerate(row):
            label = _cell_value(cell, "cell")
            if label is not None and str(label) not in (block, "0", "") and str(label).isdigit():
                starts[str(int(label))] = (r, c)

    entries = []
    for name, clues in data["clues"].items():
        direction = str(name).split(":", 1)[0].strip().lower()
        if direction not in ("across", "down"):
            raise DataError(f"{where}: clue direction {name!r} is not supported (only Across and Down)")
        dr, dc = (0, 1) if direction == "across" else (1, 0)
        for clue in clues:
            if isinstance(clue, Mapping):
                number, text = clue.get("number"), clue.get("clue", "")
            elif isinstance(clue, list | tuple) and len(clue) >= 2:
                number, text = clue[0], clue[1]
            else:
                raise DataError(f"{where}: {name} clue {clue!r} has no number")
            if str(number) not in starts:
                raise DataError(f"{where}: {name} clue {number!r} has no numbered cell in the grid")
            r, c = starts[str(number)]
            answer = ""
            while r < height and c < width and grid[r][c] != BLOCK:
                answer += grid[r][c]
                r, c = r + dr, c + dc
            r, c = starts[str(number)]
            entries.append((answer, str(text), r, c, direction))
    ident = str(data.get("uniqueid") or stem)
    meta = {k: data[k] for k in ("title", "author", "copyright") if data.get(k)}
    return _build(entries, height, width, ident, meta, where)
