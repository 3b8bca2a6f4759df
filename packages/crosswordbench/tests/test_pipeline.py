"""The pipeline stages on tiny models (spec §6, §8): evaluate and interactive runs resume from their
samples; the GRPO extension logs a loss and changes every parameter it trains."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosswordbench.cli import app
from crosswordbench.config import Config
from crosswordbench.data import save_puzzles
from crosswordbench.demo import TOY_RECIPE
from crosswordbench.pipeline import train_run
from rlcore.config import load_config
from rlcore.runs import RunDir

runner = CliRunner()


@pytest.fixture
def puzzles_file(tmp_path, P):
    path = tmp_path / "p.jsonl"
    save_puzzles([P, replace(P, id="P2")], path)
    return path


def _ok(result):
    assert result.exit_code == 0, result.output
    return result.output


def test_evaluate_writes_samples_metrics_report_and_resumes(tmp_path, puzzles_file):
    out = tmp_path / "eval"
    args = [
        "evaluate",
        "--puzzles",
        str(puzzles_file),
        "--model",
        "tiny:qwen2",
        "--out",
        str(out),
        "eval.max_new_tokens=4",
        "eval.batch_size=1",
    ]
    _ok(runner.invoke(app, args))
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["P", "P2"] and all(r["completion_tokens"] >= 1 for r in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["text_cot"]["wcr"]["n"] == 2
    assert "| text_cot | 2 |" in (out / "report.md").read_text()
    (out / "samples.jsonl").write_text(json.dumps(rows[0]) + "\n")  # as if killed after the first puzzle
    _ok(runner.invoke(app, args))
    again = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in again] == ["P", "P2"] and again[0] == rows[0]


def test_interactive_run(tmp_path, puzzles_file):
    out = tmp_path / "inter"
    _ok(
        runner.invoke(
            app,
            [
                "interactive",
                "--puzzles",
                str(puzzles_file),
                "--model",
                "tiny:qwen2",
                "--modality",
                "text",
                "--limit",
                "1",
                "--out",
                str(out),
                "eval.max_new_tokens=4",
            ],
        )
    )
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["stop_reason"] in {"stagnant", "incorrect", "solved", "max_turns"}
    assert rows[0]["transcript"][0]["role"] == "user"
    assert json.loads((out / "metrics.json").read_text())["n"] == 1


def _weights(spec):
    from rlcore.models import load_model

    model, _ = load_model(str(spec))
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters()}


def test_grpo_extension_trains(tmp_path, monkeypatch):
    # A random tiny model never writes a correct answer, so every group would score 0 and GRPO would have
    # no advantage to learn from: give the WCR slot a reward that varies with the completion's length.
    import crosswordbench.rewards as rewards
    from rlcore.rewards import completion_text

    def wcr_reward(prompts, completions, puzzle=None, **kwargs):
        assert puzzle is not None and len(puzzle) == len(completions)
        return [len(completion_text(c)) / 100 for c in completions]

    monkeypatch.setattr(rewards, "wcr_reward", wcr_reward)
    config = load_config(Config, TOY_RECIPE, ["model=tiny:qwen2", "train.n_puzzles=2", "train.max_steps=2"])
    run = RunDir(tmp_path / "train", package="crosswordbench", config=config)
    result = train_run(config, run)
    assert result["global_step"] == 2
    logged = [row for row in run.read_jsonl("metrics.jsonl") if "loss" in row]
    assert len(logged) == 2 and "rewards/wcr_reward/mean" in logged[0]
    before, after = _weights("tiny:qwen2"), _weights(result["output_dir"])
    changed = [n for n in before if not (before[n] == after[n]).all()]
    assert len(changed) == len(before), set(before) - set(changed)
    assert Path(run.file("train_puzzles.jsonl")).exists()
