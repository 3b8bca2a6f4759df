"""The CLI (spec §6, §10): every subcommand answers --help; bad input is one `error:` line, exit code 2,
nothing written."""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from r_zero.cli import app
from rlcore.testing import cli_error_line

runner = CliRunner()
COMMANDS = ["train-challenger", "generate", "label", "filter", "train-solver", "iterate", "evaluate", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output


def test_console_script_help():
    proc = subprocess.run(["r-zero", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "iterate" in proc.stdout


def test_filter_without_a_model(tmp_path):
    labelled = tmp_path / "labelled.jsonl"
    rows = [
        {"problem": f"q{i}", "answer": "1", "score": s} for i, s in enumerate([0.2, 0.25, 0.5, 0.75, 0.8])
    ]
    rows.append({"problem": "q9", "answer": None, "score": 0.5})
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "kept.jsonl"
    result = runner.invoke(
        app, ["filter", "--labelled", str(labelled), "--out", str(out), "--low", "0.25", "--high", "0.75"]
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["problem"] for line in out.read_text().splitlines()] == ["q1", "q2", "q3"]


@pytest.fixture
def files(tmp_path):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"problem": "x", "answer": "1", "score": 0.5}\n{oops\n')
    no_score = tmp_path / "noscore.jsonl"
    no_score.write_text('{"problem": "x", "answer": "1"}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    no_answer = tmp_path / "noanswer.jsonl"
    no_answer.write_text('{"problem": "x"}\n')
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("voting: [unclosed\n")
    return {
        "missing": str(tmp_path / "nope.jsonl"),
        "bad": str(bad_json),
        "noscore": str(no_score),
        "empty": str(empty),
        "noanswer": str(no_answer),
        "yaml": str(bad_yaml),
        "out": str(tmp_path / "out"),
        "outfile": str(tmp_path / "out.jsonl"),
    }


@pytest.mark.parametrize(
    "args, needle",
    [
        (["filter", "--labelled", "{missing}", "--out", "{outfile}"], "nope.jsonl"),
        (["filter", "--labelled", "{bad}", "--out", "{outfile}"], "bad.jsonl:2"),
        (["filter", "--labelled", "{noscore}", "--out", "{outfile}"], "score"),
        (["filter", "--labelled", "{noscore}", "--out", "{outfile}", "curation.nope=1"], "curation.nope"),
        (["filter", "--labelled", "{noscore}", "--out", "{outfile}", "--recipe", "{yaml}"], "bad.yaml"),
        (["train-solver", "--data", "{empty}", "--out", "{out}"], "no records"),
        (["train-solver", "--data", "{noanswer}", "--out", "{out}"], "answer"),
        (["train-solver", "--data", "{missing}", "--out", "{out}"], "nope.jsonl"),
        (["label", "--questions", "{missing}", "--out", "{outfile}"], "nope.jsonl"),
        (["evaluate", "--benchmarks", "gsm9k", "--out", "{outfile}"], "gsm9k"),
        (
            [
                "evaluate",
                "--model",
                "/no/such/model",
                "--benchmarks",
                "arith",
                "--limit",
                "1",
                "--out",
                "{outfile}",
            ],
            "/no/such/model",
        ),
        (["iterate", "--run-dir", "{out}", "voting.num_samples=0"], "voting.num_samples"),
        (
            ["train-solver", "--solver", "/no/such/model", "--data", "{noscore}", "--out", "{out}"],
            "/no/such/model",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, files, args, needle):
    line = cli_error_line(runner.invoke(app, [a.format(**files) for a in args]))
    assert needle in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.jsonl").exists()
