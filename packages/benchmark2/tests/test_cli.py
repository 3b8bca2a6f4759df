"""The CLI on bundled and synthetic data, and the exit-2 convention (spec §6, §10)."""

import json

import pytest
from typer.testing import CliRunner

from benchmark2.cli import app

runner = CliRunner()
COMMANDS = ["synth", "convert", "score", "select", "report", "reproduce-table1", "collect", "bench", "demo"]


def _error(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command):
    assert runner.invoke(app, [command, "--help"]).exit_code == 0


def test_demo_writes_the_run(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    run = tmp_path / "d"
    for name in ("quality.csv", "selection.csv", "ranks.csv", "strategies.csv", "thresholds.csv", "ratios.csv",
                 "report.md", "summary.json"):  # fmt: skip
        assert (run / name).exists(), name
    for plot in ("quality_bars", "ratio_curve", "ranking_heatmap", "tau_heatmap"):
        assert (run / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    assert "average" in result.output and "strategies" in result.output
    assert json.loads((run / "summary.json").read_text())["benchmarks"] == 9
    rebuilt = runner.invoke(app, ["report", "--run-dir", str(run)])
    assert rebuilt.exit_code == 0, rebuilt.output


def test_synth_score_select_round_trip(tmp_path):
    items = tmp_path / "items.csv"
    assert runner.invoke(app, ["synth", "--out", str(items), "--items", "60"]).exit_code == 0
    scored = runner.invoke(app, ["score", "--items", str(items), "--out", str(tmp_path / "s"), "--ci", "5"])
    assert scored.exit_code == 0, scored.output
    assert (tmp_path / "s" / "quality_ci.csv").exists() and (tmp_path / "s" / "family_cad.csv").exists()
    selective = tmp_path / "selective.csv"
    selected = runner.invoke(
        app, ["select", "--items", str(items), "--ratio", "0.5", "--cad-threshold", "none",
              "--out-items", str(selective), "--out", str(tmp_path / "sel")],
    )  # fmt: skip
    assert selected.exit_code == 0, selected.output
    assert selective.exists()


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    assert "nope.csv" in _error(
        runner.invoke(app, ["score", "--items", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "a")])
    )
    assert not (tmp_path / "a").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model": "m", "benchmark": "b", "item_id": 1, "score": 1}\n{oops\n')
    line = _error(runner.invoke(app, ["select", "--items", str(bad), "--out", str(tmp_path / "b")]))
    assert "bad.jsonl" in line and "2" in line
    assert not (tmp_path / "b").exists()
    items = tmp_path / "items.csv"
    runner.invoke(app, ["synth", "--out", str(items), "--items", "20"])
    assert "ratio" in _error(runner.invoke(app, ["select", "--items", str(items), "--ratio", "1.5"]))
    assert "nope" in _error(runner.invoke(app, ["score", "--items", str(items), "nope=1"]))
    assert "--items" in _error(runner.invoke(app, ["score"]))


@pytest.mark.slow
def test_collect_with_a_tiny_model(tmp_path):
    from rlcore.data import arithmetic_problems

    records = tmp_path / "records.jsonl"
    problems = arithmetic_problems(3, seed=0)
    records.write_text("".join(json.dumps({"id": f"p{i}", **p}) + "\n" for i, p in enumerate(problems)))
    out = tmp_path / "items.csv"
    result = runner.invoke(
        app, ["collect", "--model", "tiny:qwen2", "--records", str(records), "--benchmark", "arith", "--out", str(out),
              "collect.max_new_tokens=8"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from benchmark2.data import read_items

    items = read_items(out)
    assert items.model_names == ("tiny:qwen2",) or list(items.model_names) == ["tiny:qwen2"]
    assert items.benchmarks["arith"].scores.shape == (1, 3)
    unknown = runner.invoke(
        app,
        [
            "collect",
            "--model",
            "tiny:nope",
            "--records",
            str(records),
            "--benchmark",
            "a",
            "--out",
            str(tmp_path / "x.csv"),
        ],
    )
    assert "tiny:nope" in _error(unknown)
