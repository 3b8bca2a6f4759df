"""Word lists and puzzle files (spec §2.3 and §5).

- :func:`load_word_list` reads a user's ``(WORD, clue)`` pairs from CSV/TSV or plain text;
- :func:`bundled_word_list` reads the license-clean list shipped in ``data/wordnet_en.txt``;
- :func:`build_word_list` rebuilds that list from Princeton WordNet 3.0 (Debian's files);
- :func:`load_puzzles` / :func:`save_puzzles` read puzzles (ours or the released dataset's records) and
  write them as JSON lines.

Every problem a user can fix is a :class:`DataError` (``rlcore.data.DataError``, a ``ValueError``) that names
the file and the line or record; a missing file is a ``FileNotFoundError`` naming it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from crosswordbench.puzzle import Puzzle, PuzzleError
from rlcore.data import DataError, load_records
from rlcore.errors import DataFileNotFound
from rlcore.runs import atomic_write

__all__ = [
    "BUNDLED_WORD_LISTS",
    "WORDNET_FILES",
    "DataError",
    "build_word_list",
    "bundled_word_list",
    "clean_word",
    "load_puzzles",
    "load_word_list",
    "save_puzzles",
]

PathLike = str | os.PathLike[str]
Pair = tuple[str, str]

# -- word lists ------------------------------------------------------------------------------------

# Characters a list may use inside an answer that are not part of the grid entry (§2.3): "ice cream",
# "x-ray", "o'clock", "rock ’n’ roll", "St. Louis" all become plain letter runs.
_ANSWER_DROP = re.compile(r"[\s\-'’.]+")


def clean_word(raw: str) -> str | None:
    """A list answer as a grid entry (§2.3): whitespace, ``-``, ``'``, ``’`` and ``.`` dropped; kept only
    if at least 2 characters remain and all are letters (``str.isalpha``, so CJK is allowed); upper-cased.
    Returns ``None`` for an answer that cannot go in a grid."""
    answer = _ANSWER_DROP.sub("", raw)
    if len(answer) < 2 or not answer.isalpha():
        return None
    return answer.upper()


def _clean_clue(raw: str) -> str:
    """Whitespace runs collapsed to one space, ends stripped (§2.3); ``""`` means "drop the pair"."""
    return " ".join(raw.split())


def _missing(path: Path, what: str) -> DataFileNotFound:
    # rlcore's DataFileNotFound is both a FileNotFoundError (what §10 asks for) and a DataError, so CLIs
    # that catch either report it as one line.
    return DataFileNotFound(f"{what} not found: {path}")


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: spreadsheet programs put a BOM in front of the CSV header.
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _table_pairs(path: Path, text: str, delimiter: str) -> Iterable[tuple[int, str, str]]:
    """``(line, answer, clue)`` from a CSV/TSV with a header: ``answer`` and ``clue`` (else ``question``)
    columns, matched case-insensitively (§2.3)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file, expected a header with 'answer' and 'clue' columns")
        names = [h.strip().lower() for h in header]
        clue_name = "clue" if "clue" in names else "question"
        if "answer" not in names or clue_name not in names:
            found = ", ".join(repr(h) for h in header) or "none"
            raise DataError(
                f"{path}:1: needs columns 'answer' and 'clue' (or 'question'), case-insensitive; found {found}"
            )
        a, c = names.index("answer"), names.index(clue_name)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            if len(row) <= max(a, c):
                raise DataError(
                    f"{path}:{reader.line_num}: {len(row)} field(s), but the header puts "
                    f"'answer' in column {a + 1} and '{clue_name}' in column {c + 1}"
                )
            yield reader.line_num, row[a], row[c]
    except csv.Error as exc:
        raise DataError(
            f"{path}:{reader.line_num}: unreadable {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})"
        ) from None


def _line_pairs(path: Path, text: str) -> Iterable[tuple[int, str, str]]:
    """``(line, answer, clue)`` from a text list: ``WORD clue`` split at the first whitespace, blank and
    ``#`` lines skipped (§2.3)."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 1)
        if len(parts) < 2:
            raise DataError(f"{path}:{number}: expected 'WORD clue', found no clue after {parts[0]!r}")
        yield number, parts[0], parts[1]


def _pairs_from(path: Path, rows: Iterable[tuple[int, str, str]]) -> list[Pair]:
    pairs: dict[Pair, None] = {}  # an ordered set: duplicates keep their first position (§2.3)
    for _line, raw_answer, raw_clue in rows:
        answer = clean_word(raw_answer)
        clue = _clean_clue(raw_clue)
        if answer is None or not clue:
            continue
        pairs.setdefault((answer, clue), None)
    if not pairs:
        raise DataError(f"{path}: no usable (answer, clue) pairs (answers need 2+ letters, clues text)")
    return list(pairs)


def load_word_list(path: PathLike) -> list[Pair]:
    """``(WORD, clue)`` pairs from a user's list, in file order, duplicates dropped (spec §2.3).

    ``.csv``/``.tsv``: a header with ``answer`` and ``clue`` (else ``question``) columns, case-insensitive;
    other files: one ``WORD clue`` per line, split at the first whitespace, blank and ``#`` lines skipped.
    Answers lose whitespace, ``-``, ``'``, ``’`` and ``.``, must then be 2+ letters (``str.isalpha``) and
    are upper-cased; pairs failing that, or with an empty clue, are skipped. A line without a clue or a
    table without the columns → ``DataError("<path>:<line>: …")``; missing file → ``FileNotFoundError``;
    nothing usable → ``DataError``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise _missing(path, "word list")
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        rows = _table_pairs(path, text, "," if suffix == ".csv" else "\t")
    else:
        rows = _line_pairs(path, text)
    return _pairs_from(path, rows)


BUNDLED_WORD_LISTS = {"wordnet": "wordnet_en.txt"}
"""Bundled lists by name → file in ``crosswordbench/data`` (§5)."""


@cache
def _bundled(name: str) -> tuple[Pair, ...]:
    resource = resources.files("crosswordbench").joinpath("data", BUNDLED_WORD_LISTS[name])
    with resources.as_file(resource) as path:
        return tuple(load_word_list(path))


def bundled_word_list(name: str = "wordnet") -> list[Pair]:
    """The bundled ``(WORD, clue)`` list (§5): ``"wordnet"`` reads ``data/wordnet_en.txt``, derived from
    Princeton WordNet 3.0 (see ``data/README.md``). Unknown name → ``ValueError`` listing the names."""
    if name not in BUNDLED_WORD_LISTS:
        raise ValueError(f"unknown bundled word list {name!r}; valid: {', '.join(BUNDLED_WORD_LISTS)}")
    return list(_bundled(name))


# -- building the bundled list from WordNet --------------------------------------------------------

WORDNET_FILES = ("index.sense", "data.noun", "data.verb", "data.adj", "data.adv")
"""The WordNet 3.0 files :func:`build_word_list` reads (Debian: ``wordnet-base`` ships the data files,
``wordnet-sense-index`` ships ``index.sense``; both install into ``/usr/share/wordnet``)."""

# ss_type digit of a sense key → data file; 5 (adjective satellite) lives in data.adj (wndb(5WN)).
_DATA_FILE = {"1": "data.noun", "2": "data.verb", "3": "data.adj", "4": "data.adv", "5": "data.adj"}

_LEMMA = re.compile(r"[a-z]{3,12}")
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # syntactic marker glued to adjectives in data.adj
_BACKQUOTED = re.compile(r"`([^`']*)'")  # WordNet quotes as `x'
_TRAILING = re.compile(r"[\s;:]+$")
_TOKEN = re.compile(r"[a-z]+")

MIN_TAG_SUM = 3
MAX_CLUE_LEN = 69
MAX_CLUES = 2


def _synset(data: bytes, offset: int, source: Path) -> tuple[list[str], str]:
    """The words and the gloss of the synset at byte ``offset`` of a data file (wndb(5WN): ``offset
    lex_filenum ss_type w_cnt word lex_id ... | gloss``)."""
    end = data.find(b"\n", offset)
    try:
        line = data[offset : end if end >= 0 else len(data)].decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{source}: the synset at byte offset {offset:08d} is not UTF-8") from None
    fields, sep, gloss = line.partition(" | ")
    parts = fields.split()
    if not sep or len(parts) < 4 or parts[0] != f"{offset:08d}" or not re.fullmatch(r"[0-9a-f]+", parts[3]):
        raise DataError(f"{source}: no synset at byte offset {offset:08d}")
    count = int(parts[3], 16)  # w_cnt is two hex digits
    words = [_ADJ_MARKER.sub("", w) for w in parts[4 : 4 + 2 * count : 2]]
    return words, gloss


def wordnet_clue(gloss: str) -> str:
    """A WordNet gloss as a clue (§5): the text before the first ``"`` (dropping the examples), `` `x' ``
    → ``'x'``, trailing ``;``/``:``/spaces removed, and if still over 69 characters cut at the first
    ``;``. The caller checks the length (3–69)."""
    clue = gloss.split('"', 1)[0]
    clue = _BACKQUOTED.sub(r"'\1'", clue)
    clue = _TRAILING.sub("", clue).strip()
    if len(clue) > MAX_CLUE_LEN:
        clue = _TRAILING.sub("", clue.split(";", 1)[0]).strip()
    return clue


def gives_away(clue: str, lemma: str) -> bool:
    """True if a clue token (a lower-cased letter run) shares with ``lemma`` a common prefix of length
    p >= 3 with p >= 5 or p >= len(lemma) - 1 (§5): "dogs" in a clue for DOG, "computing" for COMPUTER."""
    for token in _TOKEN.findall(clue.lower()):
        p = 0
        while p < min(len(token), len(lemma)) and token[p] == lemma[p]:
            p += 1
        if p >= 3 and (p >= 5 or p >= len(lemma) - 1):
            return True
    return False


def build_word_list(wordnet_dir: PathLike, out: PathLike | None = None) -> list[Pair]:
    """Derive the bundled ``(WORD, clue)`` list from Princeton WordNet 3.0 (spec §5), byte-for-byte
    reproducibly; write it atomically to ``out`` as ``WORD clue`` lines (UTF-8) when given.

    A sense (an ``index.sense`` line ``sense_key synset_offset sense_number tag_cnt``) counts if its lemma
    matches ``^[a-z]{3,12}$`` and occurs in lower case among its synset's words (so no proper names). A
    lemma is kept if its senses' tag counts sum to >= 3. Its clues are its senses with tag count >= 1 by
    (tag count desc, sense number), each gloss made a clue by :func:`wordnet_clue`, kept if 3–69
    characters long and not :func:`gives_away` the lemma, at most 2 distinct. Output sorted by word, clues
    in selection order. Missing directory or files → ``FileNotFoundError`` naming them.
    """
    root = Path(wordnet_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"WordNet directory not found: {root}")
    absent = [name for name in WORDNET_FILES if not (root / name).is_file()]
    if absent:
        raise FileNotFoundError(
            f"WordNet files missing in {root}: {', '.join(absent)} (Debian: apt-get install wordnet-base "
            "wordnet-sense-index)"
        )
    # The data files are ~22 MB together; holding them as bytes makes each synset a slice at its offset.
    data = {name: (root / name).read_bytes() for name in set(_DATA_FILE.values())}

    # lemma -> [(tag_cnt, sense_number, sense_key, synset file, offset)] of its counting senses
    senses: dict[str, list[tuple[int, int, str, str, int]]] = {}
    index = root / "index.sense"
    with open(index, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                key, offset, sense_number, tag_cnt = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
                lemma, lex_sense = key.split("%", 1)
                name = _DATA_FILE[lex_sense[0]]
            except (ValueError, IndexError, KeyError):
                raise DataError(
                    f"{index}:{number}: expected 'sense_key synset_offset sense_number tag_cnt'"
                ) from None
            if not _LEMMA.fullmatch(lemma):
                continue
            words, _gloss = _synset(data[name], offset, root / name)
            if lemma not in words:  # only "Dog"-style capitalised forms here: a proper name
                continue
            senses.setdefault(lemma, []).append((tag_cnt, sense_number, key, name, offset))

    pairs: list[Pair] = []
    for lemma in sorted(senses):
        tagged = senses[lemma]
        if sum(s[0] for s in tagged) < MIN_TAG_SUM:
            continue
        clues: list[str] = []
        # Most frequent sense first; the sense key (unique) only breaks ties between parts of speech that
        # share a sense number and count, so the order never depends on the file's line order.
        for tag_cnt, _sense_number, _key, name, offset in sorted(tagged, key=lambda s: (-s[0], s[1], s[2])):
            if tag_cnt < 1 or len(clues) == MAX_CLUES:
                break
            clue = wordnet_clue(_synset(data[name], offset, root / name)[1])
            if 3 <= len(clue) <= MAX_CLUE_LEN and not gives_away(clue, lemma) and clue not in clues:
                clues.append(clue)
        pairs.extend((lemma.upper(), clue) for clue in clues)

    if out is not None:
        atomic_write(out, "".join(f"{word} {clue}\n" for word, clue in pairs).encode("utf-8"))
    return pairs


# -- puzzles ---------------------------------------------------------------------------------------

_PUZZLE_SUFFIXES = (".jsonl", ".json", ".parquet")
_IMAGE_COLUMNS = ("grid_image", "empty_grid_image", "key_image")


def _is_image(value: Any) -> bool:
    """A PIL image, encoded image bytes, or the ``{"bytes", "path"}`` dict a parquet image column holds."""
    if hasattr(value, "mode") and hasattr(value, "size"):
        return True
    if isinstance(value, bytes | bytearray):
        return True
    return isinstance(value, Mapping) and ("bytes" in value or "path" in value) and "mask" not in value


def _as_image(value: Any, where: str, column: str) -> Any:
    """Open encoded images with Pillow (lazily: only the header is read now); PIL images pass through."""
    if hasattr(value, "mode") and hasattr(value, "size"):
        return value
    raw = value.get("bytes") if isinstance(value, Mapping) else value
    if raw is None and isinstance(value, Mapping) and value.get("path"):
        return value["path"]  # an image stored by path: rlcore.data.load_image opens it when needed
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(bytes(raw)))
    except (UnidentifiedImageError, OSError, TypeError) as exc:
        raise DataError(f"{where}: column {column!r} is not a readable image ({exc})") from None


def _split_images(record: Mapping, where: str) -> tuple[dict, dict]:
    """Separate the released dataset's image columns (§2.3: ``grid_image``, ``empty_grid_image``,
    ``key_image``, ``partial_*``) from the puzzle fields. ``partial_grid_<ratio>`` records (grid + mask)
    are not images and stay for :meth:`Puzzle.from_dict`."""
    fields: dict = {}
    images: dict = {}
    for column, value in record.items():
        is_image_column = column in _IMAGE_COLUMNS or (column.startswith("partial_") and _is_image(value))
        if is_image_column:
            if value is not None:
                images[column] = _as_image(value, where, column)
        else:
            fields[column] = value
    return fields, images


def _to_puzzle(record: Any, where: str) -> Puzzle:
    if not isinstance(record, Mapping):
        raise DataError(f"{where}: a puzzle record is an object, got {type(record).__name__}")
    fields, images = _split_images(record, where)
    try:
        puzzle = Puzzle.from_dict(fields)
    except PuzzleError as exc:
        raise DataError(f"{where}: {exc}") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        # Malformed values (a row that is not a list, a number that is text, ...) that from_dict does not
        # anticipate are still the record's fault, not ours.
        raise DataError(f"{where}: malformed puzzle record ({type(exc).__name__}: {exc})") from None
    if images:
        puzzle.meta["images"] = images
    return puzzle


def _jsonl_lines(path: Path) -> list[int]:
    """The line number of each record of a JSONL file (rlcore skips blank lines, as we do here)."""
    with open(path, encoding="utf-8") as fh:
        return [number for number, line in enumerate(fh, start=1) if line.strip()]


def load_puzzles(
    source: PathLike, *, hf_config: str = "english", split: str = "7x7", limit: int | None = None
) -> list[Puzzle]:
    """Puzzles from a ``.jsonl``, ``.json`` (a list) or ``.parquet`` file of records in either
    :meth:`Puzzle.from_dict` form (ours or the released dataset's), or else from the hub dataset
    ``source`` via ``rlcore.data.load_records(f"hf:{source}:{hf_config}", split=split, limit=limit)``
    (spec §2.3; its ``DataError`` propagates unchanged). ``limit`` keeps the first records.

    Dataset images go to ``meta["images"]`` (which ``to_dict`` omits). A bad record → ``DataError``
    naming the file and line (JSONL) or record index; a missing file → ``FileNotFoundError``.
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    local = path.suffix.lower() in _PUZZLE_SUFFIXES or not isinstance(source, str) or path.is_file()
    if not local:
        name = f"hf:{text}:{hf_config}"
        rows = load_records(name, split=split, limit=limit)
        where = [f"{name} (split {split}): record {i}" for i in range(len(rows))]
    else:
        if not path.is_file():
            raise _missing(path, "puzzle file")
        if path.suffix.lower() not in _PUZZLE_SUFFIXES:
            raise DataError(f"{path}: unsupported puzzle file (use .jsonl, .json or .parquet, or a hub id)")
        rows = load_records(path, limit=limit)
        if path.suffix.lower() == ".jsonl":
            where = [f"{path}:{line}" for line in _jsonl_lines(path)]
        else:
            where = [f"{path}: record {i}" for i in range(len(rows))]
    return [_to_puzzle(row, where[i]) for i, row in enumerate(rows)]


def save_puzzles(puzzles: Iterable[Puzzle], path: PathLike) -> Path:
    """Write ``puzzles`` as JSON lines of :meth:`Puzzle.to_dict` (UTF-8, unescaped), atomically (§2.3).
    Returns the path."""
    lines = [json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in puzzles]
    return atomic_write(Path(path).expanduser(), "".join(lines))
