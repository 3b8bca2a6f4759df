"""The CLI (spec §6, §10): every command answers --help; generate → fit → evaluate on the tiny model writes
the run files; bad input is one `error:` line, exit code 2, nothing written."""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from lara.cli import app
from lara.data import generate_task
from rlcore.testing import cli_error_line

runner = CliRunner()
COMMANDS = ["generate", "fit", "evaluate", "bench", "demo"]
TINY = ["model=tiny:qwen2", "max_new_tokens=3", "group_sizes=[2]", "budget=3"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output


def test_console_script_help():
    proc = subprocess.run(["lara", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "bench" in proc.stdout


def test_generate_writes_the_task(tmp_path):
    out = tmp_path / "t.jsonl"
    result = runner.invoke(
        app, ["generate", "--task", "word_sorting", "--n", "5", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == generate_task(
        "word_sorting", 5, seed=3
    )


def test_fit_then_evaluate_on_the_tiny_model(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in generate_task("boolean_expressions", 14, seed=1)))
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["fit", "--dataset", str(data), "--n-demos", "8", "--both", "--run-dir", str(run), *TINY]
    )
    assert result.exit_code == 0, result.output
    for name in (
        "config.yaml",
        "demos.jsonl",
        "test.jsonl",
        "fit_lara.json",
        "fit_blara.json",
        "metrics.jsonl",
    ):
        assert (run / name).exists(), name
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {(m["variant"], m["k"], m["G"]) for m in metrics} == {("lara", 2, 4), ("blara", 2, 4)}
    result = runner.invoke(
        app, ["evaluate", "--run-dir", str(run), "--methods", "icl,uniform,lara,blara", "--limit", "3"]
    )
    assert result.exit_code == 0, result.output
    results = json.loads((run / "results.json").read_text())
    assert set(results) == {"icl", "uniform", "lara", "blara"} and results["icl"]["n"] == 3
    assert results["uniform"]["groups_run"] == 4 and results["icl"]["groups_run"] == 1
    assert len((run / "predictions.jsonl").read_text().splitlines()) == 12
    assert (run / "report.md").exists()


@pytest.fixture
def files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "a", "target": "b"}\n{oops\n')
    lacking = tmp_path / "lacking.jsonl"
    lacking.write_text('{"input": "a", "target": "b"}\n{"input": "c"}\n')
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps(r) + "\n" for r in generate_task("boolean_expressions", 6, seed=1)))
    fitted = tmp_path / "fitted"
    fitted.mkdir()
    (fitted / "config.yaml").write_text("model: tiny:qwen2\n")
    return {
        "missing": str(tmp_path / "nope.jsonl"),
        "bad": str(bad),
        "lacking": str(lacking),
        "small": str(small),
        "run": str(tmp_path / "run"),
        "fitted": str(fitted),
    }


@pytest.mark.parametrize(
    "args, needle",
    [
        (["fit", "--dataset", "{missing}", "--run-dir", "{run}"], "nope.jsonl"),
        (["fit", "--dataset", "{bad}", "--run-dir", "{run}"], "bad.jsonl:2"),
        (["fit", "--dataset", "{lacking}", "--run-dir", "{run}"], "lacking.jsonl:2"),
        (["fit", "--dataset", "sample", "--task", "chess", "--run-dir", "{run}"], "boolean_expressions"),
        (["fit", "--dataset", "{small}", "--n-demos", "9", "--run-dir", "{run}"], "n_demos"),
        (["fit", "--dataset", "{small}", "--n-demos", "0", "--run-dir", "{run}"], "n_demos"),
        (["fit", "--dataset", "{small}", "--n-demos", "4", "--run-dir", "{run}"], "n_demos//2"),
        (["fit", "--dataset", "{small}", "--n-demos", "6", "--run-dir", "{run}"], "test"),
        (["fit", "--dataset", "{small}", "--n-demos", "4", "--run-dir", "{run}", "bogus=1"], "bogus"),
        (
            [
                "fit",
                "--dataset",
                "sample",
                "--task",
                "boolean_expressions",
                "--n-demos",
                "8",
                "--model",
                "/no/model",
                "--run-dir",
                "{run}",
            ],
            "/no/model",
        ),
        (["evaluate", "--run-dir", "{fitted}", "--methods", "lara"], "fit_lara.json"),
        (["evaluate", "--run-dir", "{fitted}", "--methods", "magic"], "magic"),
        (["evaluate", "--run-dir", "{run}"], "run"),
        (["generate", "--task", "chess", "--out", "{run}"], "chess"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, files, args, needle):
    line = cli_error_line(runner.invoke(app, [a.format(**files) for a in args]))
    assert needle in line
    assert not (tmp_path / "run").exists()
