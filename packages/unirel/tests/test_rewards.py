"""unirel.rewards (spec §2.5, §4, §8): the parser, R_con, the exact T1 numbers and the TRL rewards."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unirel.config import RewardConfig
from unirel.kg import KnowledgeGraph, is_valid_name, normalize_name
from unirel.prompts import format_answer
from unirel.rewards import (
    KGStats,
    ParsedAnswer,
    RewardBreakdown,
    component_rewards,
    connectivity_level,
    make_unirel_reward,
    parse_answer,
    score_answer,
    score_record,
    unirel_reward,
)

# -- the toy KG T1 ------------------------------------------------------------------------------------------------

T1 = [
    ("A", "r1", "X"),
    ("X", "r2", "B"),
    ("A", "r3", "H"),
    ("H", "r3", "B"),
    *[("H", "r4", f"L{i}") for i in range(1, 9)],
    ("X", "r5", "D"),
]
DEGREES = {"A": 2, "B": 2, "X": 3, "H": 10, "D": 1, **{f"L{i}": 1 for i in range(1, 9)}}
COUNTS = {"r1": 1, "r2": 1, "r3": 2, "r4": 8, "r5": 1}


class MinimalStats:
    """The smallest object scoring accepts: degree(e), relation_count(r), num_triples."""

    num_triples = 13

    def degree(self, entity: str) -> int:
        return DEGREES.get(entity, 0)

    def relation_count(self, relation: str) -> int:
        return COUNTS.get(relation, 0)


AXB = "PATH: (A | r1 | X); (X | r2 | B) END"
AHB = "PATH: (A | r3 | H); (H | r3 | B) END"
TREE_ABD = "PATH: (A | r1 | X); (X | r2 | B); (X | r5 | D) END"


def t1_record(seeds: list[str] | None = None) -> dict:
    entities = sorted(DEGREES)
    relations = sorted(COUNTS)
    return {
        "seeds": seeds or ["A", "B"],
        "triples": sorted([list(t) for t in T1]),
        "entities": entities,
        "degrees": [DEGREES[e] for e in entities],
        "relations": relations,
        "relation_counts": [COUNTS[r] for r in relations],
        "num_kg_triples": 13,
    }


def columns(records: list[dict]) -> dict[str, list]:
    keys = ("seeds", "triples", "entities", "degrees", "relations", "relation_counts", "num_kg_triples")
    return {k: [r.get(k) for r in records] for k in keys}


STATS = [MinimalStats(), KnowledgeGraph(T1), KGStats(DEGREES, COUNTS, 13), KGStats.from_record(t1_record())]


# -- exact numbers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stats", STATS, ids=["minimal", "kg", "kgstats", "from_record"])
def test_t1_exact_numbers(stats) -> None:
    b = score_answer(AXB, ["A", "B"], T1, stats)
    assert b.total == pytest.approx(0.900979, abs=1e-6)
    assert (b.fmt, b.con, b.rel) == (1.0, 0.0, 0.0)
    assert b.ent == pytest.approx(-1.386294, abs=1e-6)
    assert b.valid and b.connected and b.components == 1
    assert (b.num_triples, b.intermediates, b.error) == (2, 1, None)

    b = score_answer(AHB, ["A", "B"], T1, stats)
    assert b.rel == pytest.approx(-2 * math.log(2) / math.log(13))
    assert b.rel == pytest.approx(-0.540476, abs=1e-6)
    assert b.ent == pytest.approx(-2.397895, abs=1e-6)
    assert b.total == pytest.approx(1 - (0.342556 + 0.090079) / 2, abs=1e-6)
    assert b.total == pytest.approx(0.783682, abs=1e-6)

    b = score_answer("PATH: (A | r1 | X) END", ["A", "B"], T1, stats)
    assert b.total == pytest.approx(-0.099021, abs=1e-6)
    assert (b.con, b.components, b.connected) == (-1.0, 2, False)

    b = score_answer("no answer", ["A", "B"], T1, stats)
    assert b.total == -2.0
    assert (b.fmt, b.con, b.ent, b.rel, b.valid, b.connected, b.components) == (-1, -1, 0, 0, False, False, 2)
    assert b.error == "missing PATH:"

    b = score_answer(TREE_ABD, ["A", "B", "D"], T1, stats)
    assert b.total == pytest.approx(1.900979, abs=1e-6)
    assert (b.con, b.components, b.intermediates, b.num_triples) == (1.0, 1, 1, 3)


def test_invalid_edges() -> None:
    stats = MinimalStats()
    reversed_edge = score_answer("PATH: (X | r1 | A); (X | r2 | B) END", ["A", "B"], T1, stats)
    assert not reversed_edge.valid and reversed_edge.total == -2.0
    assert "reversed" in (reversed_edge.error or "")
    invented = score_answer("PATH: (A | r9 | B) END", ["A", "B"], T1, stats)
    assert invented.total == -2.0 and "not in the list" in (invented.error or "")
    # listed in the KG but not in the prompt's list
    shown = [t for t in T1 if t != ("X", "r2", "B")]
    assert score_answer(AXB, ["A", "B"], shown, stats).total == -2.0
    # invalid with 4 seeds: -1 - 2
    assert score_answer("", ["A", "B", "D", "H"], T1, stats).total == -3.0
    assert score_answer(None, ["A", "B", "D"], T1, stats).error == "not a string"


def test_answer_details() -> None:
    stats = MinimalStats()
    # duplicates count once; names are normalised; reasoning before the block is fine
    text = "Thinking... PATH: (A |  r1 | X);(A | r1 | X)\n( X | r2 | B ) END. trailing"
    b = score_answer(text, ["A", " B ", "A"], T1, stats)
    assert b.total == pytest.approx(0.900979, abs=1e-6)
    assert b.num_triples == 2
    # an answer touching no seed is the all-apart level
    b = score_answer("PATH: (H | r4 | L1) END", ["A", "B"], T1, stats)
    assert b.valid and b.con == -1 and b.components == 2
    assert b.ent == pytest.approx(-math.log(11) - math.log(2))
    # a seed-to-seed extra edge adds its relation cost
    b = score_answer(AXB.replace(" END", "; (A | r3 | H) END"), ["A", "B"], T1, stats)
    assert b.intermediates == 2 and b.rel == pytest.approx(-math.log(2) / math.log(13))


def test_score_answer_seed_errors() -> None:
    with pytest.raises(ValueError):
        score_answer(AXB, ["A"], T1, MinimalStats())
    with pytest.raises(ValueError):
        score_answer(AXB, ["A", " A "], T1, MinimalStats())
    with pytest.raises(ValueError):
        score_answer(AXB, "AB", T1, MinimalStats())


def test_aggregate_mean_and_literal_sign() -> None:
    stats = MinimalStats()
    mean = RewardConfig(aggregate="mean")
    b = score_answer(AHB, ["A", "B"], T1, stats, mean)
    assert b.ent == pytest.approx(-math.log(11))
    assert b.rel == pytest.approx(-math.log(2) / math.log(13))
    b = score_answer(TREE_ABD, ["A", "B", "D"], T1, stats, mean)
    assert b.rel == 0.0 and b.ent == pytest.approx(-math.log(4))
    # mean with no intermediates: ent = 0
    assert score_answer("PATH: (X | r5 | D) END", ["X", "D"], T1, stats, mean).ent == 0.0

    literal = RewardConfig(rel_sign="literal")
    b = score_answer(AHB, ["A", "B"], T1, stats, literal)
    assert b.rel == pytest.approx(-2 * math.log(13 / 2) / math.log(13))
    b = score_answer(AXB, ["A", "B"], T1, stats, literal)
    assert b.rel == pytest.approx(-2.0)
    assert b.total == pytest.approx(1 + 0.5 * (-math.log(4) / 7 - 2 / 6))

    custom = RewardConfig(x=1.0, y=2.0)
    b = score_answer(AHB, ["A", "B"], T1, stats, custom)
    assert b.total == pytest.approx(1 + 0.5 * (b.ent / 1 + b.rel / 2))


def test_con_mode_largest_in_scoring() -> None:
    stats = MinimalStats()
    seeds = ["A", "B", "L1", "L2"]
    text = "PATH: (A | r1 | X); (X | r2 | B); (H | r4 | L1); (H | r4 | L2) END"
    assert score_answer(text, seeds, T1, stats).con == 0.0  # [2, 2] components
    assert score_answer(text, seeds, T1, stats, RewardConfig(con_mode="largest")).con == -1.0


# -- R_con tables ---------------------------------------------------------------------------------------------------

CON_TABLE = [
    # sizes, components, largest
    ([1, 1], -1, -1),
    ([2], 0, 0),
    ([1, 1, 1], -1, -1),
    ([2, 1], 0, 0),
    ([1, 2], 0, 0),
    ([3], 1, 1),
    ([1, 1, 1, 1], -2, -2),
    ([2, 1, 1], -1, -1),
    ([2, 2], 0, -1),
    ([3, 1], 0, 0),
    ([4], 1, 1),
    ([3, 3], 1, -1),
]


@pytest.mark.parametrize(("sizes", "components", "largest"), CON_TABLE)
def test_connectivity_table(sizes: list[int], components: int, largest: int) -> None:
    assert connectivity_level(sizes) == components
    assert connectivity_level(sizes, "components") == components
    assert connectivity_level(sizes, mode="largest") == largest


@pytest.mark.parametrize("n", range(2, 9))
def test_connectivity_range(n: int) -> None:
    for mode in ("components", "largest"):
        assert connectivity_level([1] * n, mode) == -(n // 2)
        assert connectivity_level([n], mode) == math.ceil(n / 2) - 1
    levels = {connectivity_level([k] + [1] * (n - k)) for k in range(1, n + 1)}
    assert len(levels) == n


def test_connectivity_errors() -> None:
    for bad in ([], [0, 2], [2, -1], [1.5]):
        with pytest.raises(ValueError):
            connectivity_level(bad)
    with pytest.raises(ValueError):
        connectivity_level([1, 1], mode="mean")


# -- grammar --------------------------------------------------------------------------------------------------------


def test_parse_ok() -> None:
    p = parse_answer(AXB)
    assert isinstance(p, ParsedAnswer) and p.ok and p.error is None
    assert p.triples == (("A", "r1", "X"), ("X", "r2", "B"))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (None, "not a string"),
        (42, "not a string"),
        (["PATH: (A | r | B) END"], "not a string"),
        ("", "missing PATH:"),
        ("(A | r1 | X) END", "missing PATH:"),
        ("path: (A | r1 | X) END", "missing PATH:"),
        ("PATH (A | r1 | X) END", "missing PATH:"),
        ("PATH: (A | r1 | X)", "missing END"),
        ("PATH: (A | r1 | X) ENDING", "missing END"),
        ("PATH: (A | r1 | X) end", "missing END"),
        ("PATH: (A | r1 | X) _END", "missing END"),
        ("PATH: (A | r1 | X) END2", "missing END"),
        ("PATH: END", "empty path"),
        ("PATH:END", "empty path"),
        ("PATH: ; ;\n\n END", "empty path"),
        ("PATH: (A | r1 | X), (X | r2 | B) END", "malformed triple: (A | r1 | X), (X | r2 | B)"),
        ("PATH: (A | r1 | X) -> (X | r2 | B) END", "malformed triple: (A | r1 | X) -> (X | r2 | B)"),
        ("PATH: A | r1 | X END", "malformed triple: A | r1 | X"),
        ("PATH: (A | r1 | X END", "malformed triple: (A | r1 | X"),
        ("PATH: (A | r1) END", "malformed triple: (A | r1)"),
        ("PATH: (A | r1 | X | Y) END", "malformed triple: (A | r1 | X | Y)"),
        ("PATH: ( | r1 | X) END", "malformed triple: ( | r1 | X)"),
        ("PATH: (A |  | X) END", "malformed triple: (A |  | X)"),
        ("PATH: (A | r1 | ) END", "malformed triple: (A | r1 | )"),
        ("PATH: () END", "malformed triple: ()"),
        ("PATH: ( END", "malformed triple: ("),
    ],
)
def test_parse_errors(text: object, error: str) -> None:
    p = parse_answer(text)
    assert p.error == error
    assert p.triples == () and not p.ok


def test_malformed_item_truncated_to_80_chars() -> None:
    item = "(" + "a" * 200
    p = parse_answer(f"PATH: {item} END")
    assert p.error == "malformed triple: " + item[:80]
    assert len(p.error) == len("malformed triple: ") + 80


@pytest.mark.parametrize(
    "text",
    [
        "PATH: (A | r1 | X) END.",
        "PATH: (A | r1 | X)END",
        "PATH: (A | r1 | X) END and more text",
        "PATH: (A | r1 | X);END-",
        "PATH: (A | r1 | X);\n\nEND:",
        "PATH: (A | r1 | X)\nEND",
        "PATH: (A | r1 | X) END END",
    ],
)
def test_standalone_end(text: str) -> None:
    assert parse_answer(text).triples == (("A", "r1", "X"),)


def test_end_inside_text_after_block_ignored_and_names_with_end() -> None:
    # END next to letters/digits/underscore inside a name does not close the block
    p = parse_answer("PATH: (xEND | END_r | ENDx) END")
    assert p.triples == (("xEND", "END_r", "ENDx"),)
    # a standalone END inside the body closes early and leaves a malformed item
    assert parse_answer("PATH: (A END | r | B) END").error == "malformed triple: (A"


def test_last_path_wins() -> None:
    text = "PATH: (A | r1 | X) END\nOn second thought:\nPATH: (A | r3 | H); (H | r3 | B) END"
    assert parse_answer(text).triples == (("A", "r3", "H"), ("H", "r3", "B"))
    # the last PATH: wins even when its block is broken
    assert parse_answer("PATH: (A | r1 | X) END PATH: (A | r1 | X)").error == "missing END"
    # ENDING does not close the block, so the text after it belongs to the body
    assert (
        parse_answer("PATH: (A | r1 | X) ENDING soon END").error
        == "malformed triple: (A | r1 | X) ENDING soon"
    )
    # PATH: is case-sensitive, so a lower-case later one does not count
    assert parse_answer("PATH: (A | r1 | X) END path: junk").ok


def test_splitting_on_semicolons_and_line_breaks() -> None:
    expected = (("A", "r1", "X"), ("X", "r2", "B"), ("X", "r5", "D"))
    for sep in ("; ", ";", "\n", "\r\n", "\r", ";\n", " ;\r\n\n"):
        text = f"PATH: (A | r1 | X){sep}(X | r2 | B){sep}(X | r5 | D) END"
        assert parse_answer(text).triples == expected, repr(sep)
    assert parse_answer("PATH:\n(A | r1 | X);\n\n;(X | r2 | B)\nEND").triples == expected[:2]


def test_parse_normalises_and_keeps_parentheses_in_names() -> None:
    p = parse_answer("PATH: (  New   York (city) |  located\tin | USA ) END")
    assert p.triples == (("New York (city)", "located in", "USA"),)
    p = parse_answer("PATH: ((a) | r | (b)) END")
    assert p.triples == (("(a)", "r", "(b)"),)


def test_parse_keeps_duplicates_and_order() -> None:
    p = parse_answer("PATH: (X | r2 | B); (A | r1 | X); (X | r2 | B) END")
    assert p.triples == (("X", "r2", "B"), ("A", "r1", "X"), ("X", "r2", "B"))


def test_round_trip_fixed() -> None:
    triples = [
        ("A", "r1", "X"),
        ("X", "r2", "B"),
        ("New York (city)", "END_of", "x-ENDy_"),
        ("a.ENDx", "r", "(b)"),
    ]
    triples = [t for t in triples if all(is_valid_name(x) for x in t)]
    assert len(triples) >= 3
    assert parse_answer(format_answer(triples)).triples == tuple(triples)


_NAME_CHARS = st.sampled_from([*"abcXYZ019_ ()|;:.-\t\n\r", "END", "PATH:", "PATH", "é", "→"])
_names = (
    st.lists(_NAME_CHARS, min_size=1, max_size=8)
    .map(lambda parts: normalize_name("".join(parts)))
    .filter(is_valid_name)
)
_any_names = st.text(min_size=1, max_size=12).map(normalize_name).filter(is_valid_name)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _names, _names), min_size=1, max_size=6))
def test_round_trip_property(triples: list[tuple[str, str, str]]) -> None:
    assert parse_answer(format_answer(triples)).triples == tuple(triples)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_any_names, _any_names, _any_names), min_size=1, max_size=4))
def test_round_trip_property_unicode(triples: list[tuple[str, str, str]]) -> None:
    assert parse_answer(format_answer(triples)).triples == tuple(triples)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.integers(), st.none(), st.lists(st.text())))
def test_parse_is_total(value: object) -> None:
    p = parse_answer(value)
    assert isinstance(p, ParsedAnswer)
    assert p.ok == (p.error is None)
    if not p.ok:
        assert p.triples == ()


# -- KGStats --------------------------------------------------------------------------------------------------------


def test_kgstats() -> None:
    stats = KGStats.from_record(t1_record())
    assert stats.degree("H") == 10 and stats.degree("unknown") == 0
    assert stats.relation_count("r4") == 8 and stats.relation_count("nope") == 0
    assert stats.num_triples == 13
    record = t1_record()
    for key, value in [
        ("degrees", [1, 2]),
        ("relation_counts", [1, 1, 2, 8, 99]),
        ("relation_counts", [0, 1, 2, 8, 1]),
        ("degrees", None),
        ("num_kg_triples", 0),
        ("num_kg_triples", "13"),
        ("entities", "ABX"),
    ]:
        with pytest.raises(ValueError):
            KGStats.from_record({**record, key: value})
    with pytest.raises(ValueError):
        KGStats.from_record({})


def test_score_record() -> None:
    b = score_record(t1_record(), [{"role": "assistant", "content": AXB}])
    assert isinstance(b, RewardBreakdown)
    assert b.total == pytest.approx(0.900979, abs=1e-6)
    assert b.as_dict()["total"] == b.total


# -- TRL reward functions -------------------------------------------------------------------------------------------


def test_unirel_reward_strings_and_messages() -> None:
    records = [t1_record(), t1_record(), t1_record(["A", "B", "D"]), t1_record()]
    completions = [
        AXB,
        [{"role": "assistant", "content": AHB}],
        [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "text", "text": TREE_ABD}]},
        ],
        "garbage",
    ]
    out = unirel_reward(prompts=[None] * 4, completions=completions, **columns(records))
    assert unirel_reward.__name__ == "unirel_reward"
    assert [round(v, 6) for v in out] == [0.900979, 0.783682, 1.900979, -2.0]
    # positional call, as TRL does
    assert unirel_reward([None], [AXB], **columns([t1_record()]))[0] == pytest.approx(0.900979, abs=1e-6)


def test_make_unirel_reward_config() -> None:
    f = make_unirel_reward(RewardConfig(x=1.0, y=1.0))
    assert f.__name__ == "unirel_reward"
    out = f(prompts=[None], completions=[AHB], **columns([t1_record()]))
    assert out[0] == pytest.approx(1 + 0.5 * (-math.log(11) - 2 * math.log(2) / math.log(13)))


@pytest.mark.parametrize(
    "change",
    [
        {"seeds": ["A"]},
        {"seeds": ["A", "A"]},
        {"seeds": "AB"},
        {"seeds": None},
        {"seeds": ["A", "Q"]},  # seed not in entities
        {"triples": [["A", "r1"]]},
        {"triples": "nope"},
        {"triples": [["A", "r1", "Z"]]},  # entity not in entities
        {"triples": [["A", "r9", "X"]]},  # relation not in relations
        {"degrees": [1]},
        {"degrees": [-1] * 13},
        {"relation_counts": [1, 1, 2, 8, 14]},
        {"relations": None},
        {"num_kg_triples": None},
        {"num_kg_triples": 0},
        {"entities": 5},
    ],
)
def test_unirel_reward_bad_columns_give_none(change: dict) -> None:
    records = [t1_record(), {**t1_record(), **change}]
    out = unirel_reward(prompts=[None, None], completions=[AXB, AXB], **columns(records))
    assert out[0] == pytest.approx(0.900979, abs=1e-6)
    assert out[1] is None
    for fn in component_rewards():
        parts = fn(prompts=[None, None], completions=[AXB, AXB], **columns(records))
        assert parts[1] is None and parts[0] is not None


def test_unirel_reward_missing_and_short_columns() -> None:
    cols = columns([t1_record(), t1_record()])
    del cols["relation_counts"]
    assert unirel_reward(prompts=[None, None], completions=[AXB, AXB], **cols) == [None, None]
    cols = columns([t1_record(), t1_record()])
    cols["seeds"] = cols["seeds"][:1]
    out = unirel_reward(prompts=[None, None], completions=[AXB, AXB], **cols)
    assert out[0] == pytest.approx(0.900979, abs=1e-6) and out[1] is None
    assert unirel_reward(prompts=[], completions=[]) == []
    assert unirel_reward([None], [AXB]) == [None]


_garbage = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    completions=st.one_of(_garbage, st.lists(_garbage, max_size=3)),
    cols=st.dictionaries(
        st.sampled_from(
            ["seeds", "triples", "entities", "degrees", "relations", "relation_counts", "num_kg_triples"]
        ),
        _garbage,
    ),
)
def test_rewards_never_raise(completions: object, cols: dict) -> None:
    for fn in (unirel_reward, *component_rewards()):
        out = fn(prompts=None, completions=completions, **cols)
        assert isinstance(out, list)
        assert all(v is None or isinstance(v, float) for v in out)


def test_component_rewards() -> None:
    fns = component_rewards()
    assert [f.__name__ for f in fns] == ["unirel_fmt", "unirel_con", "unirel_ent", "unirel_rel"]
    records = [t1_record(), t1_record(), t1_record()]
    completions = [AHB, "PATH: (A | r1 | X) END", "nonsense"]
    fmt, con, ent, rel = (f(prompts=[None] * 3, completions=completions, **columns(records)) for f in fns)
    assert fmt == [1.0, 1.0, -1.0]
    assert con == [0.0, -1.0, -1.0]
    assert ent[0] == pytest.approx(-math.log(11)) and ent[1] == pytest.approx(-math.log(4)) and ent[2] == 0.0
    assert rel[0] == pytest.approx(-0.540476, abs=1e-6) and rel[1] == 0.0 and rel[2] == 0.0
    totals = unirel_reward(prompts=[None] * 3, completions=completions, **columns(records))
    for i in range(3):
        assert totals[i] == pytest.approx(fmt[i] + con[i] + 0.5 * (ent[i] / 7 + rel[i] / 6))
    mean_fns = component_rewards(RewardConfig(aggregate="mean"))
    assert [f.__name__ for f in mean_fns] == ["unirel_fmt", "unirel_con", "unirel_ent", "unirel_rel"]
    assert mean_fns[3](prompts=[None], completions=[AHB], **columns([t1_record()]))[0] == pytest.approx(
        -math.log(2) / math.log(13)
    )


def test_unirel_reward_accepts_numpy_columns() -> None:
    np = pytest.importorskip("numpy")
    record = t1_record()
    cols = {
        "seeds": [np.array(record["seeds"])],
        "triples": [np.array(record["triples"])],
        "entities": [record["entities"]],
        "degrees": [np.array(record["degrees"])],
        "relations": [tuple(record["relations"])],
        "relation_counts": [np.array(record["relation_counts"])],
        "num_kg_triples": [np.int64(13)],
    }
    assert unirel_reward([None], [AXB], **cols)[0] == pytest.approx(0.900979, abs=1e-6)
    # a set has no order to pair with its degrees
    assert unirel_reward([None], [AXB], **{**cols, "entities": [set(record["entities"])]}) == [None]
