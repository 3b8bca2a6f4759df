"""The CLI (spec §6, §10): every command answers --help; kg-stats, retrieve, prepare and the model-free
evaluations work end to end; bad input is one `error:` line, exit code 2, nothing written."""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from rlcore.testing import cli_error_line
from unirel.cli import app
from unirel.data import build_records, load_kg, sample_queries, write_records

runner = CliRunner()
COMMANDS = ["kg-stats", "retrieve", "prepare", "train", "evaluate", "bench", "demo"]
T1 = [
    ("A", "r1", "X"),
    ("X", "r2", "B"),
    ("A", "r3", "H"),
    ("H", "r3", "B"),
    *[("H", "r4", f"L{i}") for i in range(1, 9)],
    ("X", "r5", "D"),
]


def _ok(result):
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    _ok(runner.invoke(app, [command, "--help"]))


def test_console_script_help():
    proc = subprocess.run(["unirel", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "prepare" in proc.stdout


@pytest.fixture
def t1_file(tmp_path):
    path = tmp_path / "t1.tsv"
    path.write_text("".join("\t".join(t) + "\n" for t in T1))
    return path


def test_kg_stats_on_umls():
    out = _ok(runner.invoke(app, ["kg-stats", "--kg", "umls"]))
    assert "entities 135\n" in out and "relations 46\n" in out and "triples 6529\n" in out
    assert "affects (1022)" in out and "max degree 382" in out


def test_retrieve_prints_the_trace_and_the_triples(t1_file):
    out = _ok(runner.invoke(app, ["retrieve", "--kg", str(t1_file), "--seeds", "A,B", "--target-size", "2"]))
    assert "sizes candidate 13 → hub 13 → leaf 4 → compact 2" in out
    assert "(A | r1 | X)\n(X | r2 | B)" in out


def test_prepare_then_model_free_evaluations(tmp_path):
    run = tmp_path / "run"
    _ok(
        runner.invoke(
            app,
            [
                "prepare",
                "--kg",
                "synthetic:300:1500:12",
                "--n-train",
                "6",
                "--n-test",
                "4",
                "--anonymize",
                "0.5",
                "--run-dir",
                str(run),
            ],
        )
    )
    for name in (
        "config.yaml",
        "kg.json",
        "queries.jsonl",
        "train.jsonl",
        "test.jsonl",
        "test_anon0.5.jsonl",
        "retrieval.json",
    ):
        assert (run / name).exists(), name
    assert len((run / "test.jsonl").read_text().splitlines()) == 4
    for method in ("shortest_path", "optimal"):
        _ok(runner.invoke(app, ["evaluate", "--run-dir", str(run), "--method", method]))
    results = json.loads((run / "results.json").read_text())
    optimal, shortest = results["optimal@test.jsonl"], results["shortest_path@test.jsonl"]
    assert optimal["optimal_gap"] == pytest.approx(0.0, abs=1e-9) and optimal["format_accuracy"] == 1.0
    assert shortest["reward"] <= optimal["reward"] + 1e-9
    assert (run / "predictions_optimal.jsonl").exists() and "| optimal |" in (run / "report.md").read_text()


@pytest.fixture
def files(tmp_path, t1_file):
    bad = tmp_path / "bad.tsv"
    bad.write_text("A\tr1\tX\nB\tr2\n")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "test.jsonl").write_text('{"id": "x"}\n')
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    kg = load_kg("umls")
    write_records(prepared / "test.jsonl", build_records(kg, sample_queries(kg, 1, seed=0)))
    return {
        "t1": str(t1_file),
        "bad": str(bad),
        "missing": str(tmp_path / "nope.tsv"),
        "run": str(tmp_path / "run"),
        "prepared": str(prepared),
        "broken": str(broken),
    }


@pytest.mark.parametrize(
    "args, needle",
    [
        (["kg-stats", "--kg", "{missing}"], "triples file not found"),
        (["kg-stats", "--kg", "{bad}"], "bad.tsv:2: expected 3 fields (head, relation, tail), got 2"),
        (["kg-stats", "--kg", "wikidata"], "wikidata"),
        (["retrieve", "--kg", "{t1}", "--seeds", "A,Zed"], "unknown seed entity: Zed"),
        (["retrieve", "--kg", "{t1}", "--seeds", "A"], "2 seeds"),
        (["retrieve", "--kg", "{t1}", "--seeds", "A,B", "--backend", "igraph"], "retrieval.backend"),
        (["prepare", "--kg", "{missing}", "--run-dir", "{run}"], "triples file not found"),
        (["prepare", "--kg", "{t1}", "--split", "temporal", "--run-dir", "{run}"], "data.split"),
        (["prepare", "--kg", "{t1}", "--run-dir", "{run}", "data.nope=1"], "data.nope"),
        (["train", "--run-dir", "{run}"], "train.jsonl"),
        (["evaluate", "--run-dir", "{run}", "--method", "oracle"], "oracle"),
        (["evaluate", "--run-dir", "{broken}", "--method", "optimal"], "test.jsonl:1: missing column"),
        (["evaluate", "--run-dir", "{prepared}", "--method", "unirel"], "checkpoint"),
        (["evaluate", "--run-dir", "{run}", "--method", "optimal"], "records file not found"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, files, args, needle):
    line = cli_error_line(runner.invoke(app, [a.format(**files) for a in args]))
    assert needle in line
    assert not (tmp_path / "run").exists()
