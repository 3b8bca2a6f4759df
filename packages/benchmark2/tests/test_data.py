"""Tests for benchmark2.data: the data model, long-table and lm-eval loaders, score files, synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark2 import data as bdata
from benchmark2.data import (
    BenchmarkMatrix,
    DataError,
    DataFileNotFound,
    ItemResults,
    ModelInfo,
    ScoreTable,
    infer_family_size,
    read_items,
    read_lm_eval,
    read_scores,
    synthetic_results,
    write_items,
)

DATA_DIR = Path(bdata.__file__).with_name("data")


def _rows(**override):
    """A small valid long table: two models of one family, two benchmarks, two items each."""
    rows = []
    for model, size, scores in (("big", "7B", [1, 1, 0, 1]), ("small", "135M", [1, 0, 0, 1])):
        for k, (bench, item) in enumerate((("A", 1), ("A", 2), ("B", "x"), ("B", "y"))):
            rows.append(
                {
                    "model": model,
                    "family": "fam",
                    "size": size,
                    "benchmark": bench,
                    "domain": "math" if bench == "A" else "code",
                    "item_id": item,
                    "score": scores[k],
                    "level": 3 if bench == "A" else 5,
                    "note": model,  # varies per item across models: ignored
                }
            )
    return rows


def _same(a: ItemResults, b: ItemResults) -> None:
    assert a.models == b.models
    assert list(a.benchmarks) == list(b.benchmarks)
    for name, m in a.benchmarks.items():
        o = b.benchmarks[name]
        assert m.domain == o.domain and m.item_ids == o.item_ids
        np.testing.assert_array_equal(m.scores, o.scores)
        if m.item_info is None:
            assert o.item_info is None
        else:
            pd.testing.assert_frame_equal(m.item_info, o.item_info, check_dtype=False)


# -- data model ------------------------------------------------------------------------------------


def test_from_records_basics():
    res = ItemResults.from_records(_rows())
    assert res.model_names == ("big", "small")
    assert res.models[1] == ModelInfo("small", "fam", 0.135)
    assert res.models[0].size == 7.0
    assert list(res.benchmarks) == ["A", "B"]
    a = res.benchmarks["A"]
    assert a.item_ids == ("1", "2") and a.domain == "math"
    np.testing.assert_array_equal(a.scores, [[1, 1], [1, 0]])
    assert list(a.item_info.columns) == ["level"]  # "note" is not constant per item
    assert res.families() == {"fam": [0, 1]}
    table = res.score_table()
    assert isinstance(table, ScoreTable)
    assert table.scores.loc["A", "small"] == 0.5 and table.domains == {"A": "math", "B": "code"}


def test_correct_column_bools_and_optional_columns():
    rows = [
        {"model": m, "benchmark": "b", "item_id": i, "correct": v}
        for m, vals in (("m1", [True, False]), ("m2", [False, False]))
        for i, v in zip((0, 1), vals, strict=True)
    ]
    res = ItemResults.from_records(rows)
    np.testing.assert_array_equal(res.benchmarks["b"].scores, [[1, 0], [0, 0]])
    assert res.benchmarks["b"].domain == bdata.DEFAULT_DOMAIN
    assert res.models[0] == ModelInfo("m1")


def test_families_strongest_first_with_singletons():
    models = [ModelInfo("s", "f", 1.0), ModelInfo("solo"), ModelInfo("l", "f", 8.0), ModelInfo("m", "f", 4.0)]
    res = ItemResults(models, [BenchmarkMatrix("b", "d", ("q",), np.ones((4, 1)))])
    assert res.families() == {"f": [2, 3, 0], "solo": [1]}
    assert res.families(["m", "s"]) == {"f": [0, 1]}


def test_subset_and_to_frame_round_trip():
    res = synthetic_results(
        1, n_families=2, models_per_family=2, n_domains=1, benchmarks_per_domain=2, n_items=5
    )
    sub = res.subset(models=["fam2-4B", "fam1-1B"], benchmarks=["d1b2"], items={"d1b2": [4, 0]})
    m = sub.benchmarks["d1b2"]
    assert sub.model_names == ("fam2-4B", "fam1-1B") and m.item_ids == ("q00004", "q00000")
    np.testing.assert_array_equal(m.scores, res.benchmarks["d1b2"].scores[np.ix_([2, 1], [4, 0])])
    assert (
        m.item_info["difficulty"].tolist()
        == res.benchmarks["d1b2"].item_info["difficulty"].iloc[[4, 0]].tolist()
    )
    _same(res, ItemResults.from_frame(res.to_frame()))


def test_score_table_subset_and_ranks():
    frame = pd.DataFrame({"a": [0.5, 0.9], "b": [0.7, 0.9], "c": [0.1, 0.2]}, index=["X", "Y"])
    table = ScoreTable(frame, {"X": "d", "Y": "d"}, (ModelInfo("a"), ModelInfo("b"), ModelInfo("c")))
    ranks = table.ranks()
    assert ranks.loc["X"].tolist() == [2, 1, 3]
    assert ranks.loc["Y"].tolist() == [1, 1, 3]  # ties share the minimum rank
    sub = table.subset(models=["c", "a"], benchmarks=["Y"])
    assert sub.scores.columns.tolist() == ["c", "a"] and sub.domains == {"Y": "d"}
    with pytest.raises(ValueError, match="fractions"):
        ScoreTable(frame * 100, {}, ())


# -- every long-table ValueError -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda rows: [{k: v for k, v in r.items() if k != "benchmark"} for r in rows],
            "missing required column",
        ),
        (
            lambda rows: [{k: v for k, v in r.items() if k != "score"} for r in rows],
            "missing required column",
        ),
        (lambda rows: [], "missing required column"),
        (lambda rows: [dict(rows[0], score="abc"), *rows[1:]], r"row 0 .*score 'abc'"),
        (lambda rows: [dict(rows[0], score=float("nan")), *rows[1:]], r"row 0 .*not a number"),
        (lambda rows: [*rows[:3], dict(rows[3], score=1.5), *rows[4:]], r"row 3 .*\[0, 1\]"),
        (lambda rows: [*rows, dict(rows[1])], r"row 8 .*duplicate .*'big', 'A', '2'"),
        (lambda rows: [*rows[:2], dict(rows[2], family="other"), *rows[3:]], r"row 2 .*'big' has two family"),
        (lambda rows: [*rows[:2], dict(rows[2], size=8), *rows[3:]], r"row 2 .*'big' has two size"),
        (lambda rows: [*rows[:5], dict(rows[5], domain="x"), *rows[6:]], r"row 5 .*'A' has two domains"),
        (
            lambda rows: [dict(r, size=None) if r["model"] == "small" else r for r in rows],
            "'small' .* no size",
        ),
        (lambda rows: [dict(r, size="7b") for r in rows], "same size 7"),
        (lambda rows: [dict(rows[0], size="huge"), *rows[1:]], r"row 0 .*size 'huge'"),
    ],
)
def test_long_table_errors(mutate, message):
    with pytest.raises(ValueError, match=message) as info:
        ItemResults.from_records(mutate(_rows()))
    assert isinstance(info.value, DataError)


def test_empty_table_has_no_rows():
    with pytest.raises(ValueError, match="no rows"):
        ItemResults.from_frame(pd.DataFrame(columns=["model", "benchmark", "item_id", "score"]))


def test_missing_cells_error_zero_drop():
    rows = [r for r in _rows() if not (r["model"] == "small" and r["item_id"] == 2)]
    with pytest.raises(ValueError, match=r"1 missing .* first \('small', 'A', '2'\)"):
        ItemResults.from_records(rows)
    zero = ItemResults.from_records(rows, missing="zero")
    np.testing.assert_array_equal(zero.benchmarks["A"].scores, [[1, 1], [1, 0]])
    drop = ItemResults.from_records(rows, missing="drop")
    assert drop.benchmarks["A"].item_ids == ("1",) and len(drop.benchmarks["A"].item_info) == 1
    emptied = [r for r in _rows() if not (r["model"] == "small" and r["benchmark"] == "A")]
    with pytest.raises(ValueError, match="'A': no item"):
        ItemResults.from_records(emptied, missing="drop")
    with pytest.raises(ValueError, match="missing must be"):
        ItemResults.from_records(rows, missing="ignore")


# -- files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_write_read_round_trip(tmp_path, suffix):
    res = synthetic_results(
        3, n_families=2, models_per_family=2, n_domains=2, benchmarks_per_domain=1, n_items=7
    )
    path = write_items(res, tmp_path / f"items{suffix}")
    _same(res, read_items(path))


def test_json_list_and_jsonl_errors(tmp_path):
    res = ItemResults.from_records(_rows())
    path = tmp_path / "items.json"
    path.write_text(json.dumps(_rows()))
    _same(res, read_items(path))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_rows()[0]) + "\n\n{oops\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: not valid JSON"):
        read_items(bad)
    with pytest.raises(FileNotFoundError) as info:
        read_items(tmp_path / "absent.csv")
    assert isinstance(info.value, DataFileNotFound)
    text = tmp_path / "items.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match="unsupported"):
        read_items(text)
    with pytest.raises(ValueError, match="writes .csv"):
        write_items(res, tmp_path / "x.json")
    missing_col = tmp_path / "m.csv"
    pd.DataFrame(_rows()).drop(columns="item_id").to_csv(missing_col, index=False)
    with pytest.raises(ValueError, match=r"m\.csv: .*item_id"):
        read_items(missing_col)


# -- lm-evaluation-harness -------------------------------------------------------------------------


def _write_samples(path: Path, task: str, rows: list[dict]) -> None:
    lines = []
    for doc_id, filt, metrics, values in rows:
        rec = {
            "doc_id": doc_id,
            "doc": {"q": doc_id},
            "target": "t",
            "arguments": [],
            "resps": [],
            "filtered_resps": [],
        }
        if filt is not None:
            rec["filter"] = filt
        rec["metrics"] = list(metrics)
        rec.update(values)
        rec["doc_hash"] = "h"
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")


def _lm_eval_folder(root: Path) -> Path:
    new, old = "2024-05-01T10-00-00.000001", "2024-04-01T10-00-00.000001"
    for folder, model_name, ok in (("org__Big-7B", "org/Big-7B", True), ("org__Small-1B", None, False)):
        d = root / "out" / folder
        d.mkdir(parents=True)
        if model_name:
            (d / f"results_{new}.json").write_text(json.dumps({"model_name": model_name, "results": {}}))
        # gsm8k: two filters, the first line's filter (strict-match) is the default
        _write_samples(
            d / f"samples_gsm8k_{new}.jsonl",
            "gsm8k",
            [
                (0, "strict-match", ["exact_match"], {"exact_match": 1.0 if ok else 0.0}),
                (0, "flexible-extract", ["exact_match"], {"exact_match": 1.0}),
                (1, "strict-match", ["exact_match"], {"exact_match": True}),
                (1, "flexible-extract", ["exact_match"], {"exact_match": 0.0}),
            ],
        )
        # a stale older run of the same task must lose
        _write_samples(
            d / f"samples_gsm8k_{old}.jsonl",
            "gsm8k",
            [(0, "strict-match", ["exact_match"], {"exact_match": 0.5})],
        )
        # ifeval: list metrics, no filter key (= "none")
        _write_samples(
            d / f"samples_leaderboard_ifeval_{new}.jsonl",
            "leaderboard_ifeval",
            [
                (
                    5,
                    None,
                    ["prompt_level_strict_acc", "inst_level_strict_acc"],
                    {"prompt_level_strict_acc": ok, "inst_level_strict_acc": [True, ok, False, True]},
                ),
            ],
        )
    return root / "out"


def test_read_lm_eval_folder(tmp_path):
    out = _lm_eval_folder(tmp_path)
    res = read_lm_eval(out)
    assert res.model_names == ("org/Big-7B", "org/Small-1B")  # model_name, else folder name with __ -> /
    assert list(res.benchmarks) == ["gsm8k", "leaderboard_ifeval"]
    g = res.benchmarks["gsm8k"]
    assert g.item_ids == ("gsm8k/0", "gsm8k/1")
    np.testing.assert_array_equal(g.scores, [[1, 1], [0, 1]])  # strict-match, newest stamp
    np.testing.assert_array_equal(res.benchmarks["leaderboard_ifeval"].scores, [[1], [0]])

    flex = read_lm_eval(out, filter="flexible-extract", tasks=["gsm*"])
    np.testing.assert_array_equal(flex.benchmarks["gsm8k"].scores, [[1, 0], [1, 0]])
    inst = read_lm_eval(
        out,
        metric={"*ifeval": "inst_level_strict_acc"},
        benchmark_map={"gsm8k": "GSM8K", "leaderboard_*": "IFEval"},
        domains={"GSM8K": "math"},
        families={"org": ["org/Big-7B", "org/Small-1B"]},
    )
    np.testing.assert_allclose(inst.benchmarks["IFEval"].scores, [[0.75], [0.5]])
    assert inst.benchmarks["GSM8K"].domain == "math"
    assert inst.models == (ModelInfo("org/Big-7B", "org", 2.0), ModelInfo("org/Small-1B", "org", 1.0))
    inferred = read_lm_eval(out, infer_families=True)
    assert inferred.models == (
        ModelInfo("org/Big-7B", "org/Big", 7.0),
        ModelInfo("org/Small-1B", "org/Small", 1.0),
    )


def test_read_lm_eval_errors(tmp_path):
    out = _lm_eval_folder(tmp_path)
    with pytest.raises(ValueError, match=r"samples_gsm8k_2024-05.*:1: record has no metric 'acc'"):
        read_lm_eval(out, metric="acc")
    with pytest.raises(FileNotFoundError):
        read_lm_eval(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no samples"):
        read_lm_eval(tmp_path / "empty")
    bad = tmp_path / "bad" / "m"
    bad.mkdir(parents=True)
    _write_samples(bad / "samples_t_2024-01-01T00-00-00.jsonl", "t", [(0, "none", ["acc"], {"acc": "yes"})])
    with pytest.raises(ValueError, match=r"samples_t_.*:1: metric value 'yes'"):
        read_lm_eval(tmp_path / "bad")
    _write_samples(bad / "samples_t_2024-01-01T00-00-00.jsonl", "t", [(0, "none", ["acc"], {"acc": 2.0})])
    with pytest.raises(ValueError, match=r":1: metric value 2.0 is outside"):
        read_lm_eval(tmp_path / "bad")
    _write_samples(
        bad / "samples_t_2024-01-01T00-00-00.jsonl",
        "t",
        [(0, "none", ["acc"], {"acc": 1}), (0, "none", ["acc"], {"acc": 0})],
    )
    with pytest.raises(ValueError, match=r":2: duplicate doc_id 0"):
        read_lm_eval(tmp_path / "bad")


# -- aggregate score files -------------------------------------------------------------------------


def test_read_scores_long_and_wide(tmp_path):
    long = pd.DataFrame(
        {
            "model": ["m1", "m1", "m2", "m2", "m3"],
            "benchmark": ["A", "B", "A", "B", "A"],
            "score": [50.0, 60.0, 70.0, 80.0, 10.0],
            "domain": ["x", "y", "x", "y", "x"],
        }
    )
    path = tmp_path / "long.csv"
    long.to_csv(path, index=False)
    with pytest.warns(UserWarning, match="dropped 1 model"):
        table = read_scores(path)
    assert table.scores.loc["A"].tolist() == [0.5, 0.7] and table.domains == {"A": "x", "B": "y"}
    dup = tmp_path / "dup.csv"
    pd.concat([long.iloc[:4], long.iloc[[0]]]).to_csv(dup, index=False)
    with pytest.raises(ValueError, match=r"row 4: duplicate \(model, benchmark\)"):
        read_scores(dup)
    assert read_scores(dup, duplicates="first").scores.shape == (2, 2)

    wide = pd.DataFrame(
        {
            "Model": ["a", "b", "c"],
            "family": ["f", "f", None],
            "size": ["7B", "1B", None],
            "mmlu": [0.5, 0.6, 0.2],
            "gsm": [0.1, 0.3, 0.9],
            "Average ⬆️": [0.3, 0.45, 0.55],
            "flag": [True, False, True],
        }
    )
    wpath = tmp_path / "wide.parquet"
    wide.to_parquet(wpath)
    table = read_scores(wpath, domains={"mmlu": "k"})
    assert table.benchmarks == ["mmlu", "gsm"] and table.model_names == ("a", "b", "c")
    assert table.models[0] == ModelInfo("a", "f", 7.0) and table.models[2] == ModelInfo("c")
    assert table.domains == {"mmlu": "k", "gsm": bdata.DEFAULT_DOMAIN}
    renamed = read_scores(wpath, benchmarks={"gsm": "GSM8K"}, scale="percent")
    assert renamed.scores.loc["GSM8K"].tolist() == pytest.approx([0.001, 0.003, 0.009])
    with pytest.raises(ValueError, match="missing benchmark column"):
        read_scores(wpath, benchmarks=["nope"])
    with pytest.raises(ValueError, match="unknown preset"):
        read_scores(wpath, preset="helm")
    with pytest.raises(FileNotFoundError):
        read_scores(tmp_path / "none.csv")


def test_read_scores_fewer_than_two_and_duplicates(tmp_path):
    path = tmp_path / "w.csv"
    pd.DataFrame({"model": ["a", "b"], "s": [0.1, None]}).to_csv(path, index=False)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="fewer than 2"):
        read_scores(path)
    pd.DataFrame({"model": ["a", "a", "b"], "s": [0.1, 0.2, 0.3]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="row 1: duplicate model 'a'"):
        read_scores(path)
    assert read_scores(path, duplicates="first").scores.loc["s"].tolist() == [0.1, 0.3]


def test_read_scores_open_llm_leaderboard(tmp_path):
    frame = pd.DataFrame(
        {
            "eval_name": ["x", "y", "z", "w"],
            "fullname": [
                "Qwen/Qwen2.5-72B-Instruct",
                "Qwen/Qwen2.5-72B-Instruct",
                "Qwen/Qwen2.5-7B-Instruct",
                "gpt2",
            ],
            "Precision": ["bfloat16", "float16", "bfloat16", "float16"],
            "#Params (B)": [72.7, 72.7, 7.6, 0.1],
            "Average ⬆️": [40.0, 39.0, 30.0, 5.0],
            "IFEval Raw": [0.86, 0.85, 0.75, 0.18],
            "BBH Raw": [0.73, 0.72, 0.55, 0.30],
            "MATH Lvl 5 Raw": [0.6, 0.5, 0.5, 0.0],
            "GPQA Raw": [0.4, 0.4, 0.3, 0.25],
            "MUSR Raw": [0.42, 0.41, 0.4, 0.35],
            "MMLU-PRO Raw": [0.56, 0.56, 0.44, 0.11],
            "IFEval": [86.0, 85.0, 75.0, 18.0],
        }
    )
    path = tmp_path / "contents.csv"
    frame.to_csv(path, index=False)
    table = read_scores(path, preset="open-llm-leaderboard")
    assert table.benchmarks == ["IFEval", "BBH", "MATH Lvl 5", "GPQA", "MuSR", "MMLU-Pro"]
    assert table.model_names == ("Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "gpt2")
    assert table.scores.loc["IFEval"].tolist() == [0.86, 0.75, 0.18]  # first duplicate kept, fractions as is
    assert table.models[0] == ModelInfo("Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen2.5-Instruct", 72.0)
    assert table.models[2] == ModelInfo("gpt2")
    assert table.families() == {"Qwen/Qwen2.5-Instruct": [0, 1], "gpt2": [2]}


# -- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Qwen/Qwen2.5-72B-Instruct", ("Qwen/Qwen2.5-Instruct", 72.0)),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", ("HuggingFaceTB/SmolLM2-Instruct", 0.135)),
        ("Mixtral-8x7B", (None, None)),
        ("gpt2", (None, None)),
        ("meta-llama/Llama-3.1-8B", ("meta-llama/Llama-3.1", 8.0)),
        ("org/1.5b_chat", ("org/chat", 1.5)),
    ],
)
def test_infer_family_size(name, expected):
    assert infer_family_size(name) == expected


# -- synthetic data --------------------------------------------------------------------------------


def test_synthetic_results_shape_and_determinism():
    res = synthetic_results(0)
    assert len(res.models) == 12 and res.model_names[:3] == ("fam1-16B", "fam1-4B", "fam1-1B")
    assert res.models[0] == ModelInfo("fam1-16B", "fam1", 16.0)
    assert list(res.benchmarks)[:2] == ["d1b1", "d1b2"] and res.benchmarks["d3b3"].domain == "domain3"
    m = res.benchmarks["d1b1"]
    assert m.scores.shape == (12, 300) and m.item_ids[0] == "q00000" and m.item_ids[-1] == "q00299"
    assert list(m.item_info.columns) == ["difficulty", "discrimination", "noisy"]
    assert (m.item_info.loc[m.item_info["noisy"], "discrimination"] == 0).all()
    assert set(np.unique(m.scores)) <= {0.0, 1.0}
    _same(res, synthetic_results(0))
    assert not np.array_equal(m.scores, synthetic_results(1).benchmarks["d1b1"].scores)
    # the first draws follow the documented order: family offsets, then domain skills
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.5, 4)
    rng.normal(0, 0.3, (12, 3))
    mu = rng.uniform(-1, 1)
    np.testing.assert_allclose(m.item_info["difficulty"], rng.normal(mu, 1.0, 300))
    assert offsets.shape == (4,)
    with pytest.raises(ValueError):
        synthetic_results(0, noisy_fraction=1.5)


def test_bundled_synthetic_demo_equals_generator():
    _same(synthetic_results(0), read_items(DATA_DIR / "synthetic_demo.csv"))


# -- bundled paper data ----------------------------------------------------------------------------


def _need(name: str) -> None:
    if not (DATA_DIR / name).is_file():
        pytest.skip(f"bundled {name} not present yet")


def test_paper_scores():
    _need("paper_scores.csv")
    table = bdata.paper_scores()
    assert table.scores.shape == (15, 11)
    assert float(table.scores.to_numpy().max()) <= 1.0
    assert len([f for f, rows in table.families().items() if len(rows) >= 2]) == 4
    assert set(table.domains.values()) == {"Mathematics", "General Reasoning", "Knowledge & Understanding"}


def test_paper_tables():
    _need("paper_family_cad.csv")
    _need("paper_table1.csv")
    cad = bdata.paper_family_cad()
    assert cad.columns[0] == "benchmark" and cad.shape[1] == 5
    table1 = bdata.paper_table1()
    assert {"benchmark", "domain", "cbrc", "ds", "cad", "bqs"} <= set(table1.columns)


def test_paper_pairwise_tau():
    _need("paper_pairwise_tau.csv")
    tau = bdata.paper_pairwise_tau()
    values = tau.to_numpy(dtype=float)
    np.testing.assert_array_equal(np.diag(values), 1.0)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(values.T))
    np.testing.assert_allclose(np.nan_to_num(values), np.nan_to_num(values.T))
    if (DATA_DIR / "paper_scores.csv").is_file():
        domains = bdata.paper_scores().domains
        for a in tau.index:
            for b in tau.columns:
                assert np.isnan(tau.loc[a, b]) == (domains[a] != domains[b])


def test_paper_accessors_on_fake_files(tmp_path, monkeypatch):
    """The accessors' formats, checked on tiny stand-ins so they are covered even before the real files exist."""
    pd.DataFrame(
        {
            "model": ["o/A-7B", "o/A-1B", "o/A-7B", "o/A-1B"],
            "family": ["A", "A", "A", "A"],
            "size": [7, 1, 7, 1],
            "benchmark": ["X", "X", "Y", "Y"],
            "domain": ["d1", "d1", "d2", "d2"],
            "score": [50.0, 25.0, 80.0, 100.0],
        }
    ).to_csv(tmp_path / "paper_scores.csv", index=False)
    pd.DataFrame({"benchmark_a": ["X", "Y"], "benchmark_b": ["Z", "W"], "tau": [0.5, -0.2]}).to_csv(
        tmp_path / "paper_pairwise_tau.csv", index=False
    )
    pd.DataFrame({"benchmark": ["X"], "F1": [0.67], "F2": [1.0]}).to_csv(
        tmp_path / "paper_family_cad.csv", index=False
    )
    monkeypatch.setattr(bdata, "_DATA_DIR", tmp_path)
    table = bdata.paper_scores()
    assert table.scores.loc["X"].tolist() == [0.5, 0.25] and table.domains == {"X": "d1", "Y": "d2"}
    assert table.families() == {"A": [0, 1]}
    tau = bdata.paper_pairwise_tau()
    assert list(tau.index) == ["X", "Z", "Y", "W"]
    assert tau.loc["Z", "X"] == 0.5 and tau.loc["W", "Y"] == -0.2 and tau.loc["Y", "Y"] == 1.0
    assert np.isnan(tau.loc["X", "Y"])
    assert bdata.paper_family_cad().columns.tolist() == ["benchmark", "F1", "F2"]
    with pytest.raises(FileNotFoundError, match="paper_table1.csv"):
        bdata.paper_table1()
