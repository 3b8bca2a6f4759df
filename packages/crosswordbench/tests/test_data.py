"""Word lists, the WordNet build rules, the bundled list and puzzle files (spec §2.3, §5, §10)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from crosswordbench import data as data_mod
from crosswordbench.data import (
    DataError,
    build_word_list,
    bundled_word_list,
    clean_word,
    gives_away,
    load_puzzles,
    load_word_list,
    save_puzzles,
    wordnet_clue,
)
from crosswordbench.puzzle import Puzzle

DATA_DIR = Path(data_mod.__file__).parent / "data"
SYSTEM_WORDNET = Path("/usr/share/wordnet")


# -- word lists --------------------------------------------------------------------------------------


def test_dataerror_is_rlcores() -> None:
    import rlcore.data

    assert DataError is rlcore.data.DataError
    assert issubclass(DataError, ValueError)


def test_text_list_splits_at_first_whitespace(tmp_path: Path) -> None:
    f = tmp_path / "words.txt"
    f.write_text(
        "# a comment\n"
        "\n"
        "cat  Feline   pet\n"
        "   # indented comment\n"
        "COW\tFarm animal that moos\n"
        "ice-cream Frozen  dessert \n",
        encoding="utf-8",
    )
    assert load_word_list(f) == [
        ("CAT", "Feline pet"),
        ("COW", "Farm animal that moos"),
        ("ICECREAM", "Frozen dessert"),
    ]
    assert load_word_list(str(f)) == load_word_list(f)  # str or PathLike


def test_text_line_without_clue_names_path_and_line(tmp_path: Path) -> None:
    f = tmp_path / "words.txt"
    f.write_text("cat Feline pet\n\n# c\nlonely\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{f}:4:")):
        load_word_list(f)


def test_answer_cleaning_rules() -> None:
    assert clean_word("o'clock") == "OCLOCK"
    assert clean_word("rock ’n’ roll") == "ROCKNROLL"
    assert clean_word("St. Louis") == "STLOUIS"
    assert clean_word("x-ray") == "XRAY"
    assert clean_word("猫咪") == "猫咪"  # CJK letters are alphabetic
    assert clean_word("a") is None  # shorter than 2
    assert clean_word("a.") is None
    assert clean_word("r2d2") is None  # digits are not letters
    assert clean_word("tic,tac") is None


def test_csv_headers_case_insensitive_clue_or_question(tmp_path: Path) -> None:
    f = tmp_path / "words.csv"
    f.write_text(
        '\ufeffID,Answer,Clue\n1,cat,"Feline, pet"\n2,x,too short\n3,dog,\n4,cat,"Feline,  pet"\n',
        encoding="utf-8",
    )
    # BOM tolerated, 'x' too short, empty clue dropped, duplicate (after collapsing) dropped.
    assert load_word_list(f) == [("CAT", "Feline, pet")]

    g = tmp_path / "words.csv"
    g.write_text("QUESTION,ANSWER\nHot drink,tea\nFeline pet,cat\n", encoding="utf-8")
    assert load_word_list(g) == [("TEA", "Hot drink"), ("CAT", "Feline pet")]


def test_csv_prefers_clue_over_question(tmp_path: Path) -> None:
    f = tmp_path / "w.csv"
    f.write_text("answer,question,clue\ncat,What purrs?,Feline pet\n", encoding="utf-8")
    assert load_word_list(f) == [("CAT", "Feline pet")]


def test_tsv(tmp_path: Path) -> None:
    f = tmp_path / "w.tsv"
    f.write_text(
        "Answer\tClue\ncow\tFarm animal, that moos\ntea\tHot drink\ncow\tFarm animal, that moos\n",
        encoding="utf-8",
    )
    assert load_word_list(f) == [("COW", "Farm animal, that moos"), ("TEA", "Hot drink")]


def test_csv_missing_columns_names_found(tmp_path: Path) -> None:
    f = tmp_path / "w.csv"
    f.write_text("word,hint\ncat,Feline pet\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"'word', 'hint'") as err:
        load_word_list(f)
    assert str(f) in str(err.value)


def test_csv_short_row_names_line(tmp_path: Path) -> None:
    f = tmp_path / "w.csv"
    f.write_text("answer,clue\ncat,Feline pet\ndog\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{f}:3:")):
        load_word_list(f)


def test_duplicates_keep_first_in_file_order(tmp_path: Path) -> None:
    f = tmp_path / "w.txt"
    f.write_text("bee second\nant first\nBEE second\nbee other\nant first\n", encoding="utf-8")
    assert load_word_list(f) == [("BEE", "second"), ("ANT", "first"), ("BEE", "other")]


def test_missing_and_empty_lists(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_word_list(tmp_path / "nope.txt")
    f = tmp_path / "empty.txt"
    f.write_text("# only a comment\nx tiny\n", encoding="utf-8")
    with pytest.raises(DataError, match="no usable"):
        load_word_list(f)


def test_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "w.txt"
    f.write_bytes(b"caf\xe9 coffee house\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_word_list(f)


# -- the WordNet build rules on a tiny synthetic WordNet ------------------------------------------

# (file, key, [words], gloss) per synset; index.sense lines reference them by name.
_SYNSETS = {
    "N1": (
        "data.noun",
        "n",
        ["dog", "domestic_dog"],
        'a member of the genus Canis; "the dog barked all night"',
    ),
    "N2": (
        "data.noun",
        "n",
        ["dog", "frump"],
        'a dull unattractive unpleasant girl or woman; "she is a frump"',
    ),
    "N3": ("data.noun", "n", ["Paris", "capital_of_France"], "the capital of France"),
    "N4": (
        "data.noun",
        "n",
        ["cat", "true_cat"],
        "feline mammal usually having thick soft fur; cats are pets",
    ),
    "N5": ("data.noun", "n", ["cat", "cat-o'-nine-tails"], "a `whip' with nine knotted cords:  "),
    "N6": (
        "data.noun",
        "n",
        ["tea"],
        "a beverage made by steeping dried leaves in boiling water; popular in many countries of the world",
    ),
    "N7": ("data.noun", "n", ["tea"], "ok"),
    "N8": ("data.noun", "n", ["computer", "computing_machine"], "a machine for performing computations"),
    "N9": (
        "data.noun",
        "n",
        ["computer", "calculator"],
        "an expert at calculation (or at operating calculating machines)",
    ),
    "N10": ("data.noun", "n", ["starling"], "a gregarious bird that flocks like a star"),
    "N11": ("data.noun", "n", ["bob", "bob_haircut"], "a hairdo"),
    "N12": ("data.noun", "n", ["Bob"], "a man's given name"),
    "N13": ("data.noun", "n", ["hot_dog", "frank"], "a frankfurter served in a bun"),
    "N14": ("data.noun", "n", ["mug"], 'a drinking vessel; "a mug of tea"'),
    "N15": ("data.noun", "n", ["mug", "cup"], "a drinking vessel"),
    "N16": ("data.noun", "n", ["mug", "face"], "the face"),
    "N17": (
        "data.noun",
        "n",
        ["tea"],
        "a long description of a light afternoon meal with sandwiches and cakes and more",
    ),
    "N18": ("data.noun", "n", ["ant", "emmet"], "social insect"),
    "V1": (
        "data.verb",
        "v",
        [
            "dog",
            "chase",
            "chase_after",
            "trail",
            "tail",
            "tag",
            "give_chase",
            "go_after",
            "track",
            "follow",
        ],  # 10 words: w_cnt is hex "0a"
        'go after with the intent to catch; "The policeman chased the mugger down the alley"',
    ),
    "A1": ("data.adj", "a", ["large(a)", "big"], "above average in size"),
    "S1": ("data.adj", "s", ["big(a)"], "above average in size or number or quantity"),
    "R1": ("data.adv", "r", ["fast"], "quickly or rapidly (often used as a combining form)"),
}

# sense_key -> (synset, sense_number, tag_cnt)
_SENSES = {
    "dog%1:05:00::": ("N1", 1, 5),
    "dog%1:18:01::": ("N2", 2, 2),
    "dog%2:38:00::": ("V1", 1, 2),
    "paris%1:15:00::": ("N3", 1, 50),
    "cat%1:05:00::": ("N4", 1, 2),
    "cat%1:06:00::": ("N5", 2, 1),
    "tea%1:13:00::": ("N6", 1, 3),
    "tea%1:13:01::": ("N7", 2, 1),
    "tea%1:13:02::": ("N17", 3, 1),
    "computer%1:06:00::": ("N8", 1, 2),
    "computer%1:18:00::": ("N9", 2, 1),
    "starling%1:05:00::": ("N10", 1, 3),
    "bob%1:14:00::": ("N11", 1, 1),
    "bob%1:18:00::": ("N12", 2, 10),  # a proper name: does not count
    "hot_dog%1:13:00::": ("N13", 1, 9),  # not ^[a-z]{3,12}$
    "mug%1:06:00::": ("N14", 1, 2),
    "mug%1:06:01::": ("N15", 2, 1),
    "mug%1:08:00::": ("N16", 3, 1),
    "ant%1:05:00::": ("N18", 1, 2),  # tag sum 2 < 3
    "large%3:00:00::": ("A1", 1, 0),
    "big%5:00:01:large:00": ("S1", 1, 4),  # satellite: ss_type 5 lives in data.adj
    "fast%4:02:00::": ("R1", 1, 3),
}

_EXPECTED = """\
BIG above average in size or number or quantity
CAT a 'whip' with nine knotted cords
COMPUTER an expert at calculation (or at operating calculating machines)
DOG a member of the genus Canis
DOG go after with the intent to catch
FAST quickly or rapidly (often used as a combining form)
MUG a drinking vessel
MUG the face
STARLING a gregarious bird that flocks like a star
TEA a beverage made by steeping dried leaves in boiling water
"""

_HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 ...  \n"


def _write_wordnet(root: Path) -> Path:
    """Data files whose lines sit at their byte offsets, after a license header as in the real ones."""
    root.mkdir()
    contents = {name: _HEADER for name in ("data.noun", "data.verb", "data.adj", "data.adv")}
    offsets: dict[str, int] = {}
    for name, (file, ss_type, words, gloss) in _SYNSETS.items():
        offset = len(contents[file].encode())
        offsets[name] = offset
        word_fields = " ".join(f"{w} 0" for w in words)
        contents[file] += f"{offset:08d} 05 {ss_type} {len(words):02x} {word_fields} 000 | {gloss}  \n"
    for file, text in contents.items():
        (root / file).write_text(text, encoding="utf-8")
    lines = [f"{key} {offsets[syn]:08d} {num} {tag}\n" for key, (syn, num, tag) in sorted(_SENSES.items())]
    (root / "index.sense").write_text("".join(lines), encoding="utf-8")
    return root


def test_build_rules_on_synthetic_wordnet(tmp_path: Path) -> None:
    wordnet = _write_wordnet(tmp_path / "wn")
    out = tmp_path / "out" / "list.txt"
    pairs = build_word_list(wordnet, out)
    assert out.read_bytes() == _EXPECTED.encode("utf-8")
    assert pairs == [tuple(line.split(" ", 1)) for line in _EXPECTED.splitlines()]
    # reproducible byte for byte; without out nothing is written
    assert build_word_list(str(wordnet)) == pairs
    again = tmp_path / "again.txt"
    build_word_list(wordnet, again)
    assert again.read_bytes() == out.read_bytes()
    # the file reads back through the ordinary loader unchanged
    assert load_word_list(out) == pairs


def test_build_missing_dir_and_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_word_list(tmp_path / "nowhere")
    wordnet = _write_wordnet(tmp_path / "wn")
    (wordnet / "index.sense").unlink()
    (wordnet / "data.adv").unlink()
    with pytest.raises(FileNotFoundError, match=r"index\.sense, data\.adv"):
        build_word_list(wordnet, tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists()


def test_build_bad_offset_is_dataerror(tmp_path: Path) -> None:
    wordnet = _write_wordnet(tmp_path / "wn")
    (wordnet / "index.sense").write_text("dog%1:05:00:: 00000003 1 5\n", encoding="utf-8")
    with pytest.raises(DataError, match="data.noun"):
        build_word_list(wordnet)


def test_clue_and_giveaway_rules() -> None:
    assert wordnet_clue('a `whip\' with cords; "ex"') == "a 'whip' with cords"
    assert wordnet_clue("plain text :;  ") == "plain text"
    long = "x" * 40 + "; " + "y" * 40
    assert wordnet_clue(long) == "x" * 40
    assert gives_away("feline; cats", "cat")  # p = 3 >= len - 1
    assert gives_away("used in computing", "computer")  # p = 6 >= 5
    assert not gives_away("a star bird", "starling")  # p = 4: < 5 and < len - 1
    assert not gives_away("a dog", "do")  # p = 2 < 3
    assert gives_away("Doves fly", "dove")  # lower-cased tokens


# -- the bundled list ------------------------------------------------------------------------------


def test_bundled_file_format_and_counts() -> None:
    path = DATA_DIR / "wordnet_en.txt"
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    lines = text.splitlines()
    assert text.endswith("\n") and "\r" not in text
    assert all(re.fullmatch(r"[A-Z]{3,12} \S.{1,67}\S", line) for line in lines)
    words = [line.split(" ", 1)[0] for line in lines]
    assert words == sorted(words)
    distinct = set(words)
    assert 9_000 <= len(lines) <= 10_500
    assert 5_800 <= len(distinct) <= 6_800
    assert 1_700 <= sum(len(w) <= 5 for w in distinct) <= 2_200
    assert 400_000 <= len(raw) <= 520_000
    assert max(words.count(w) for w in ("DOG", "CAT", "TEA")) <= 2
    assert len(set(lines)) == len(lines)
    assert bundled_word_list() == [tuple(line.split(" ", 1)) for line in lines]
    assert bundled_word_list("wordnet") is not bundled_word_list("wordnet")  # callers may mutate theirs
    assert (
        (DATA_DIR / "LICENSE-WordNet.txt")
        .read_text(encoding="utf-8")
        .startswith("This software and database is being provided to you, the LICENSEE, by")
    )
    assert (
        "WordNet 3.0 Copyright 2006 by Princeton University" in (DATA_DIR / "LICENSE-WordNet.txt").read_text()
    )
    assert "1:3.0-37" in (DATA_DIR / "README.md").read_text(encoding="utf-8")


def test_bundled_unknown_name() -> None:
    with pytest.raises(ValueError, match="wordnet"):
        bundled_word_list("klingon")


@pytest.mark.skipif(
    not all((SYSTEM_WORDNET / n).is_file() for n in data_mod.WORDNET_FILES),
    reason="WordNet 3.0 files not installed (apt-get install wordnet-base wordnet-sense-index)",
)
def test_bundled_file_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "wordnet_en.txt"
    build_word_list(SYSTEM_WORDNET, out)
    assert out.read_bytes() == (DATA_DIR / "wordnet_en.txt").read_bytes()


# -- puzzles ---------------------------------------------------------------------------------------


def _released(P: Puzzle, *, as_string: bool = True, reference: list | None = None) -> dict:
    """A record in the released dataset's layout: wordlist entries [WORD, clue, row, col, vertical]."""
    state = {
        "grid": [list(row) for row in P.grid],
        "wordlist": [[w.answer, w.clue, w.row, w.col, int(w.direction == "down"), 0] for w in P.words],
    }
    mask = [[False] * 5 for _ in range(5)]
    mask[0][1] = True
    return {
        "id": 7,
        "puzzle_state": json.dumps(state) if as_string else state,
        "reference_answer": json.dumps(reference if reference is not None else P.reference()),
        "partial_grid_0.25": {"grid": ["-A---"] + ["-----"] * 4, "mask": mask},
    }


def test_save_and_load_round_trip(tmp_path: Path, P: Puzzle) -> None:
    P.meta = {"grid_size": "5x5", "images": {"grid_image": object()}}
    out = save_puzzles([P, P], tmp_path / "sub" / "puzzles.jsonl")
    assert out == tmp_path / "sub" / "puzzles.jsonl"
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "images" not in lines[0]
    loaded = load_puzzles(out)
    assert [p.to_dict() for p in loaded] == [P.to_dict()] * 2
    assert loaded[0].grid == P.grid and loaded[0].keys() == ["across 1", "down 1", "down 2"]
    assert load_puzzles(str(out), limit=1)[0].to_dict() == P.to_dict()


def test_save_keeps_unicode(tmp_path: Path) -> None:
    p = Puzzle.from_words([("猫咪", "貓", 0, 0, "across")], 1, 2, id="zh")
    out = save_puzzles([p], tmp_path / "zh.jsonl")
    assert "猫咪" in out.read_text(encoding="utf-8")
    assert load_puzzles(out)[0].grid == ["猫咪"]


def test_released_records_json_and_parquet(tmp_path: Path, P: Puzzle) -> None:
    records = [_released(P), _released(P, as_string=False)]
    f = tmp_path / "released.json"
    f.write_text(json.dumps(records), encoding="utf-8")
    loaded = load_puzzles(f)
    for puzzle in loaded:
        assert puzzle.grid == P.grid and puzzle.reference() == P.reference()
        assert puzzle.id == "7"
        assert puzzle.meta["prefill_masks"]["0.25"][0][1] is True

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), "white").save(buf, format="PNG")
    row = _released(P)
    row["grid_image"] = {"bytes": buf.getvalue(), "path": None}
    row["partial_image_0.25"] = {"bytes": buf.getvalue(), "path": None}
    row["partial_grid_0.25"] = json.dumps(row["partial_grid_0.25"])
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "released.parquet")
    [puzzle] = load_puzzles(tmp_path / "released.parquet")
    assert puzzle.reference() == P.reference()
    images = puzzle.meta["images"]
    assert set(images) == {"grid_image", "partial_image_0.25"}
    assert images["grid_image"].size == (4, 3)
    assert "images" not in puzzle.to_dict()["meta"]
    assert "prefill_masks" in puzzle.meta


def test_disagreeing_reference_answer_names_the_record(tmp_path: Path, P: Puzzle) -> None:
    wrong = [dict(r) for r in P.reference()]
    wrong[2]["answer"] = "SEA"
    good, bad = _released(P), _released(P, reference=wrong)
    f = tmp_path / "released.jsonl"
    f.write_text(
        "\n".join(json.dumps(r) for r in (good, good)) + "\n\n" + json.dumps(bad) + "\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match=re.escape(f"{f}:4:") + ".*reference_answer"):
        load_puzzles(f)
    g = tmp_path / "released.json"
    g.write_text(json.dumps([good, bad]), encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{g}: record 1") + ".*reference_answer"):
        load_puzzles(g)


def test_bad_records_are_dataerrors(tmp_path: Path, P: Puzzle) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps(P.to_dict()) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{f}:2")):
        load_puzzles(f)
    conflict = P.to_dict()
    conflict["words"][1]["answer"] = "DOG"  # D vs C at (0, 0)
    f.write_text(json.dumps(conflict) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{f}:1:") + ".*conflict"):
        load_puzzles(f)
    missing = {"id": "x", "grid": P.grid}
    f.write_text(json.dumps(missing) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{f}:1:")):
        load_puzzles(f)
    weird = P.to_dict()
    weird["words"][0]["row"] = "zero"
    f.write_text(json.dumps(weird) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{f}:1:")):
        load_puzzles(f)


def test_missing_and_unsupported_puzzle_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="gone.jsonl"):
        load_puzzles(tmp_path / "gone.jsonl")
    with pytest.raises(FileNotFoundError):
        load_puzzles(str(tmp_path / "gone.parquet"))
    other = tmp_path / "puzzles.csv"
    other.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported"):
        load_puzzles(other)


def test_hub_source_goes_through_rlcore(monkeypatch: pytest.MonkeyPatch, P: Puzzle) -> None:
    calls = []

    def fake_load_records(source, *, split=None, limit=None):
        calls.append((source, split, limit))
        return [_released(P)]

    monkeypatch.setattr(data_mod, "load_records", fake_load_records)
    [puzzle] = load_puzzles("HINT-lab/CrossWordBench", hf_config="english", split="14x14", limit=3)
    assert calls == [("hf:HINT-lab/CrossWordBench:english", "14x14", 3)]
    assert puzzle.reference() == P.reference()

    def offline(source, *, split=None, limit=None):
        raise DataError(
            f"{source}: could not load the dataset (offline); download it first or pass a local file"
        )

    monkeypatch.setattr(data_mod, "load_records", offline)
    with pytest.raises(DataError, match=r"^hf:HINT-lab/CrossWordBench:chinese: could not load"):
        load_puzzles("HINT-lab/CrossWordBench", hf_config="chinese")
