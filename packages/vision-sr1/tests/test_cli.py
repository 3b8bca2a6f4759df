"""The CLI (spec 6, 10): every command answers --help; make-data; every bad-input case is one `error:` line,
exit code 2, nothing written; eval on 4 items; the demo in under 120 s."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
from typer.testing import CliRunner

from rlcore.testing import cli_error_line
from vision_sr1.cli import app

runner = CliRunner()
COMMANDS = ["make-data", "sft", "train", "eval", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output


def test_console_script_help():
    proc = subprocess.run(["vision-sr1", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "make-data" in proc.stdout and "demo" in proc.stdout


def test_make_data_writes_the_shapes_task(tmp_path):
    out = tmp_path / "shapes"
    args = ["make-data", "--out", str(out), "--n", "4", "--eval-n", "2", "--seed", "3", "--image-size", "32"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    cold = [json.loads(line) for line in (out / "cold_start.jsonl").read_text().splitlines()]
    assert len(train) == 4 and len(cold) == 12
    assert len((out / "eval.jsonl").read_text().splitlines()) == 2
    assert (out / "PROVENANCE.md").exists() and len(list((out / "images").glob("*.png"))) >= 4
    assert "--seed 3" in (out / "PROVENANCE.md").read_text()


@pytest.fixture
def files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "How many?", "answer": "2", "images": []}\n{oops\n')
    nocol = tmp_path / "nocol.jsonl"
    nocol.write_text('{"question": "How many?", "answer": "2"}\n')
    noimage = tmp_path / "noimage.jsonl"
    noimage.write_text('{"problem": "How many?", "answer": "2", "images": ["missing.png"]}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    recipe = tmp_path / "bogus.yaml"
    recipe.write_text("rl:\n  bogus: 1\n")
    return {
        "missing": str(tmp_path / "nope.jsonl"),
        "bad": str(bad),
        "nocol": str(nocol),
        "noimage": str(noimage),
        "empty": str(empty),
        "recipe": str(recipe),
        "norecipe": str(tmp_path / "norecipe.yaml"),
        "out": str(tmp_path / "out"),
    }


@pytest.mark.parametrize(
    "args, needles",
    [
        (["train", "--data", "{missing}", "--out", "{out}"], ["nope.jsonl", "not found"]),
        (
            ["eval", "--model", "tiny:qwen2.5-vl", "--data", "{missing}", "--out", "{out}"],
            ["nope.jsonl: not found"],
        ),
        (["sft", "--data", "{missing}", "--out", "{out}"], ["nope.jsonl", "not found"]),
        (["train", "--recipe", "{norecipe}", "--out", "{out}"], ["norecipe.yaml: not found"]),
        (["train", "--data", "{noimage}", "--out", "{out}"], ["missing.png", "not found"]),
        (["train", "--data", "{bad}", "--out", "{out}"], ["bad.jsonl", "2"]),
        (
            ["train", "--data", "{nocol}", "--out", "{out}"],
            ["nocol.jsonl", "record 0", "problem", "--problem-key"],
        ),
        (["train", "--data", "{empty}", "--out", "{out}"], ["empty.jsonl", "empty"]),
        (["train", "--model", "/no/such/model", "--out", "{out}"], ["/no/such/model"]),
        (["eval", "--model", "/no/such/model", "--data", "shapes", "--out", "{out}"], ["/no/such/model"]),
        (["train", "--recipe", "{recipe}", "--out", "{out}"], ["rl.bogus", "bogus.yaml"]),
        (["train", "--out", "{out}", "rl.group_size=many"], ["rl.group_size"]),
        (["train", "--method", "grpo", "--out", "{out}"], ["rl.method", "vision_sr1, see_think, vision_r1"]),
        (
            ["train", "--policy-loss", "sum", "--out", "{out}"],
            ["rl.policy_loss", "single_reward, multi_reward"],
        ),
        (
            ["train", "--missing-description", "loose", "--out", "{out}"],
            ["rl.missing_description", "strict, official"],
        ),
        (
            ["train", "--method", "vision_r1", "--policy-loss", "multi_reward", "--out", "{out}"],
            ["multi_reward"],
        ),
        (
            ["eval", "--model", "tiny:qwen2.5-vl", "--data", "shapes", "--limit", "0", "--out", "{out}"],
            ["eval.limit"],
        ),
        (
            [
                "eval",
                "--model",
                "tiny:qwen2.5-vl",
                "--data",
                "shapes",
                "--prompt-style",
                "x",
                "--out",
                "{out}",
            ],
            ["eval.prompt_style"],
        ),
        (["eval", "--model", "tiny:qwen2.5-vl", "--suite", "tiny", "--out", "{out}"], ["--suite"]),
        (["eval", "--model", "tiny:qwen2.5-vl", "--out", "{out}"], ["--data"]),
        (["make-data", "--out", "{out}", "--image-size", "16"], ["image_size"]),
        # data files and recipes are checked before any model loads: the data error wins over the model's
        (["train", "--model", "/no/such/model", "--data", "{nocol}", "--out", "{out}"], ["nocol.jsonl"]),
        (["sft", "--model", "/no/such/model", "--data", "{missing}", "--out", "{out}"], ["nope.jsonl"]),
        (["eval", "--model", "/no/such/model", "--data", "{bad}", "--out", "{out}"], ["bad.jsonl"]),
        (
            ["eval", "--model", "/no/such/model", "--data", "shapes", "--limit", "0", "--out", "{out}"],
            ["eval.limit"],
        ),
        (["train", "--model", "/no/such/model", "--recipe", "{recipe}", "--out", "{out}"], ["bogus.yaml"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, files, args, needles):
    line = cli_error_line(runner.invoke(app, [a.format(**files) for a in args]))
    for needle in needles:
        assert needle in line, line
    assert not (tmp_path / "out").exists()


def test_existing_run_directory_with_another_config_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("seed: 99\n")
    line = cli_error_line(runner.invoke(app, ["train", "--data", "shapes", "--out", str(out)]))
    assert "config.yaml" in line and "different config" in line


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_killed_train_run_resumes_from_its_last_checkpoint(tmp_path):
    """Rerunning the same command on the run directory of a killed run continues from its last checkpoint
    (rlcore.runs: same config accepted; TRL resumes optimizer, scheduler and step)."""
    out = tmp_path / "run"
    args = ["train", "--data", "shapes", "--out", str(out), "data.limit=4", "rl.max_steps=2", "rl.save_every=1",
            "rl.max_response_length=8", "rl.min_pixels=3136", "rl.max_pixels=3136"]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    checkpoints = out / "checkpoints"
    assert (checkpoints / "checkpoint-1").is_dir() and (checkpoints / "checkpoint-2").is_dir()
    assert [r["step"] for r in _jsonl(out / "metrics.jsonl") if "loss" in r] == [1, 2]
    assert len(_jsonl(out / "samples.jsonl")) == 16
    # the run is killed after step 1's checkpoint: no step-2 checkpoint and no report yet
    shutil.rmtree(checkpoints / "checkpoint-2")
    (out / "report.md").unlink()
    logged = len(_jsonl(out / "metrics.jsonl"))
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    resumed = _jsonl(out / "metrics.jsonl")[logged:]
    assert [r["step"] for r in resumed if "loss" in r] == [2]  # only the missing step ran
    assert len(_jsonl(out / "samples.jsonl")) == 16 + 8
    assert (checkpoints / "checkpoint-2").is_dir()
    report = (out / "report.md").read_text()
    assert "\n| 1 | " in report and "\n| 2 | " in report  # the whole run, not just the resumed part


@pytest.mark.slow
def test_eval_on_four_items(tmp_path):
    out = tmp_path / "eval"
    args = [
        "eval",
        "--model",
        "tiny:qwen2.5-vl",
        "--data",
        "shapes",
        "--limit",
        "4",
        "--out",
        str(out),
        "eval.max_new_tokens=8",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    assert len(items) == 4 and summary["n"] == 4 and summary["model"] == "tiny:qwen2.5-vl"
    assert (out / "config.yaml").exists() and "| accuracy | format |" in (out / "report.md").read_text()


@pytest.mark.slow
def test_eval_suite_paper_offline(tmp_path, monkeypatch):
    """The suite's plumbing with the hub replaced by two bundled records per source (all MLLM_test parts)."""
    import vision_sr1.data as data
    from vision_sr1.evaluation import PAPER_AVERAGE, PAPER_SUITE

    parts = [e.file_name for e in PAPER_SUITE if e.file_name]
    records = data.bundled_records("eval")

    def fake_load(source, **kwargs):
        if source == "zli12321/MLLM_test":
            return [{**records[i % 16], "file_name": f"{p}.jsonl"} for i, p in enumerate(parts * 2)]
        return records[:2]

    monkeypatch.setattr(data, "load_rl_records", fake_load)
    out = tmp_path / "suite"
    args = [
        "eval",
        "--model",
        "tiny:qwen2.5-vl",
        "--suite",
        "paper",
        "--out",
        str(out),
        "eval.max_new_tokens=4",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["benchmarks"]) == {e.name for e in PAPER_SUITE}
    assert all(b["n"] == 2 for b in summary["benchmarks"].values())
    assert summary["benchmarks"]["GSM8K"]["language_shortcut_rate"] is None
    assert set(PAPER_AVERAGE) <= set(summary["table"]) and summary["table"]["Average"] is not None
    assert (out / "MMMU" / "items.jsonl").exists() and (out / "report.md").exists()


@pytest.mark.slow
def test_demo_under_two_minutes(tmp_path):
    out = tmp_path / "demo"
    start = time.perf_counter()
    result = runner.invoke(app, ["demo", "--out", str(out)])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    assert seconds < 120, seconds
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["rows"]) == [
        "base tiny:qwen2.5-vl",
        "cold-start SFT",
        "Vision-SR1 single-reward",
        "Vision-SR1 multi-reward",
    ]
    assert all(row["n"] == 16 for row in summary["rows"].values())
    assert summary["sft_format_rate"] == summary["rows"]["cold-start SFT"]["format_rate"]
    # the cold start teaches the see-think layout (the random base model never writes it)
    assert (
        summary["rows"]["cold-start SFT"]["format_rate"]
        > summary["rows"]["base tiny:qwen2.5-vl"]["format_rate"]
    )
    assert all(
        summary["mean_r_vis_train"][k] is not None
        for k in ("Vision-SR1 single-reward", "Vision-SR1 multi-reward")
    )
    assert "plumbing numbers" in result.output and "plumbing numbers" in (out / "report.md").read_text()
    for stage in ("grpo-single", "grpo-multi"):
        rows = [json.loads(line) for line in (out / stage / "samples.jsonl").read_text().splitlines()]
        assert len(rows) == 16 and all(r["second_pass"] is not None for r in rows)
    assert (out / "sft" / "checkpoints" / "final" / "config.json").exists()
