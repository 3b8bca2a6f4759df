"""Across Lite .puz and ipuz export/import (spec §2.11, §10)."""

from __future__ import annotations

import json
from pathlib import Path

import ipuz
import puz
import pytest

from crosswordbench.data import DataError
from crosswordbench.export import ExportError, from_ipuz, from_puz, to_ipuz, to_puz
from crosswordbench.puzzle import Puzzle


def _bigger() -> Puzzle:
    """Rows CAT--, O-E--, W-APE, ----A, ----R: a number shared by an across and a down word, words
    starting below row 0."""
    return Puzzle.from_words(
        [
            ("CAT", "Feline pet", 0, 0, "across"),
            ("COW", "Farm animal that moos", 0, 0, "down"),
            ("TEA", "Hot drink", 0, 2, "down"),
            ("APE", "Primate", 2, 2, "across"),
            ("EAR", "Hearing organ", 2, 4, "down"),
        ],
        5,
        5,
        id="big-0001",
    )


def _same(a: Puzzle, b: Puzzle) -> None:
    assert a.grid == b.grid
    assert a.keys() == b.keys()
    assert [(w.answer, w.clue, w.row, w.col, w.direction) for w in a.words] == [
        (w.answer, w.clue, w.row, w.col, w.direction) for w in b.words
    ]


def test_export_error_is_valueerror() -> None:
    assert issubclass(ExportError, ValueError)


def test_puz_round_trip(tmp_path: Path, P: Puzzle) -> None:
    out = to_puz(P, tmp_path / "export" / "P.puz")
    assert out == tmp_path / "export" / "P.puz"
    back = from_puz(out)
    _same(back, P)
    assert back.id == "P"
    assert back.meta["author"] == "crosswordbench" and back.meta["title"] == "P"


def test_puz_layout_is_across_lite(tmp_path: Path) -> None:
    p = _bigger()
    assert p.grid == ["CAT--", "O-E--", "W-APE", "----A", "----R"]
    assert p.keys() == ["across 1", "across 3", "down 1", "down 2", "down 4"]
    to_puz(p, tmp_path / "b.puz", title="Demo", author="me")
    raw = puz.read(str(tmp_path / "b.puz"))
    assert raw.version == b"1.3"
    assert raw.width == 5 and raw.height == 5
    assert raw.solution == "".join(row.replace("-", ".") for row in p.grid)
    assert raw.fill == "".join("." if ch == "-" else "-" for row in p.grid for ch in row)
    assert raw.title == "Demo" and raw.author == "me"
    # clues by (number, across first)
    assert raw.clues == ["Feline pet", "Farm animal that moos", "Hot drink", "Primate", "Hearing organ"]
    _same(from_puz(tmp_path / "b.puz"), p)


def test_puz_latin1_ok_and_non_latin1_rejected(tmp_path: Path, P: Puzzle) -> None:
    cafe = Puzzle.from_words([("CAFÉ", "Où l'on boit un café", 0, 0, "across")], 1, 4, id="fr")
    _same(from_puz(to_puz(cafe, tmp_path / "fr.puz")), cafe)
    zh = Puzzle.from_words([("猫咪", "Cat", 0, 0, "across")], 1, 2, id="zh")
    with pytest.raises(ExportError, match="Latin-1"):
        to_puz(zh, tmp_path / "zh.puz")
    P2 = Puzzle.from_words(
        [
            (w.answer, w.clue + (" ☕" if w.key == "down 2" else ""), w.row, w.col, w.direction)
            for w in P.words
        ],
        5,
        5,
    )
    with pytest.raises(ExportError, match="down 2"):
        to_puz(P2, tmp_path / "cup.puz")
    with pytest.raises(ExportError, match="title"):
        to_puz(P, tmp_path / "t.puz", title="Кроссворд")
    assert not (tmp_path / "zh.puz").exists() and not (tmp_path / "cup.puz").exists()


def test_words_must_be_the_grid_runs(tmp_path: Path) -> None:
    # Two parallel across words stacked: the grid has down runs of 2 letters that are no word.
    stacked = Puzzle.from_words([("CAT", "a", 0, 0, "across"), ("OAR", "b", 1, 0, "across")], 3, 3)
    with pytest.raises(ExportError, match="runs"):
        to_puz(stacked, tmp_path / "s.puz")
    with pytest.raises(ExportError, match="runs"):
        to_ipuz(stacked)


def test_corrupt_puz_is_dataerror(tmp_path: Path, P: Puzzle) -> None:
    good = to_puz(P, tmp_path / "good.puz").read_bytes()
    garbage = tmp_path / "garbage.puz"
    garbage.write_bytes(b"this is not a crossword")
    with pytest.raises(DataError, match="garbage.puz"):
        from_puz(garbage)
    truncated = tmp_path / "truncated.puz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="truncated.puz"):
        from_puz(truncated)
    flipped = bytearray(good)
    flipped[0x34] ^= 0x01  # first solution byte: checksums no longer match
    bad = tmp_path / "checksum.puz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match="checksum"):
        from_puz(bad)
    with pytest.raises(FileNotFoundError, match="absent.puz"):
        from_puz(tmp_path / "absent.puz")


def test_ipuz_dict_is_valid_and_round_trips(tmp_path: Path, P: Puzzle) -> None:
    d = to_ipuz(P)
    assert ipuz.read(json.dumps(d)) == d
    assert d["version"] == "http://ipuz.org/v2"
    assert d["kind"] == ["http://ipuz.org/crossword#1"]
    assert d["dimensions"] == {"width": 5, "height": 5}
    assert d["puzzle"][0] == [1, 0, 2, "#", "#"]
    assert d["puzzle"][1] == [0, "#", 0, "#", "#"]
    assert d["solution"][0] == ["C", "A", "T", "#", "#"]
    assert d["clues"] == {
        "Across": [[1, "Feline pet"]],
        "Down": [[1, "Farm animal that moos"], [2, "Hot drink"]],
    }
    _same(from_ipuz(d), P)
    assert from_ipuz(d).id == "P"


def test_ipuz_file_round_trip_unicode(tmp_path: Path) -> None:
    p = _bigger()
    out = tmp_path / "b.ipuz"
    d = to_ipuz(p, out, title="Démo")
    text = out.read_text(encoding="utf-8")
    assert json.loads(text) == d and "Démo" in text
    ipuz.read(text)
    _same(from_ipuz(out), p)
    _same(from_ipuz(str(out)), p)
    zh = Puzzle.from_words([("猫咪", "猫", 0, 0, "across"), ("咪呀", "呀", 0, 1, "down")], 2, 2, id="zh")
    back = from_ipuz(to_ipuz(zh, tmp_path / "zh.ipuz"))
    _same(back, zh)
    _same(from_ipuz(tmp_path / "zh.ipuz"), zh)


def test_ipuz_other_clue_and_cell_forms(P: Puzzle) -> None:
    d = to_ipuz(P)
    d["clues"] = {
        "Across:Across": [{"number": 1, "clue": "Feline pet"}],
        "Down": [["1", "Farm animal that moos"], [2, "Hot drink"]],
    }
    d["puzzle"][0][0] = {"cell": 1, "style": {"shapebg": "circle"}}
    d["solution"][0][1] = {"value": "a"}
    _same(from_ipuz(d), P)


def test_incomplete_ipuz_is_dataerror(tmp_path: Path, P: Puzzle) -> None:
    d = to_ipuz(P)
    no_solution = {k: v for k, v in d.items() if k != "solution"}
    with pytest.raises(DataError, match="solution"):
        from_ipuz(no_solution)
    no_kind = {k: v for k, v in d.items() if k != "kind"}
    with pytest.raises(DataError, match="kind"):
        from_ipuz(no_kind)
    unnumbered = json.loads(json.dumps(d))
    unnumbered["puzzle"][0][2] = 0
    with pytest.raises(DataError, match="2"):
        from_ipuz(unnumbered)
    f = tmp_path / "broken.ipuz"
    f.write_text('{"version": "http://ipuz.org/v2", ', encoding="utf-8")
    with pytest.raises(DataError, match="broken.ipuz"):
        from_ipuz(f)
    g = tmp_path / "nosol.ipuz"
    g.write_text(json.dumps(no_solution), encoding="utf-8")
    with pytest.raises(DataError, match="nosol.ipuz"):
        from_ipuz(g)
    with pytest.raises(FileNotFoundError, match="absent.ipuz"):
        from_ipuz(tmp_path / "absent.ipuz")


def test_jsonp_ipuz(tmp_path: Path, P: Puzzle) -> None:
    f = tmp_path / "p.ipuz"
    f.write_text("ipuz(" + json.dumps(to_ipuz(P)) + ")", encoding="utf-8")
    _same(from_ipuz(f), P)
