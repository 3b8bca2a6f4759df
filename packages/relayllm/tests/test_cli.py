"""Bad input at the CLI (spec §10): one `error:` line naming the input, exit code 2, nothing written."""

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from relayllm.cli import app
from rlcore.testing import cli_error_line

runner = CliRunner()
COMMANDS = ["warmup-data", "warmup", "filter", "train", "eval", "router", "decode", "bench", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output


def test_console_script_help():
    proc = subprocess.run(["relayllm", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "demo" in proc.stdout


def test_missing_file(tmp_path):
    line = cli_error_line(
        runner.invoke(app, ["filter", "--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r")])
    )
    assert "nope.jsonl" in line
    assert not (tmp_path / "r").exists()


def test_malformed_jsonl(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1"}\n{oops\n')
    line = cli_error_line(runner.invoke(app, ["filter", "--data", str(bad), "--out", str(tmp_path / "r")]))
    assert "bad.jsonl:2: not valid JSON" in line
    assert not (tmp_path / "r").exists()


def test_malformed_recipe_and_unknown_key(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("slm: [oops\n")
    assert "r.yaml" in cli_error_line(runner.invoke(app, ["eval", "--recipe", str(recipe)]))
    line = cli_error_line(runner.invoke(app, ["eval", "train.lr=3"]))
    assert "train.lr" in line and "toy.yaml" in line


def test_unknown_benchmark(tmp_path):
    line = cli_error_line(runner.invoke(app, ["eval", "--benchmarks", "nope", "--out", str(tmp_path / "r")]))
    assert "nope" in line
    assert not (tmp_path / "r").exists()


def test_unknown_model(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "1+1?", "answer": "2"}) + "\n")
    line = cli_error_line(
        runner.invoke(
            app, ["filter", "--llm", "tiny:nonsense", "--data", str(data), "--out", str(tmp_path / "r")]
        )
    )
    assert "tiny:nonsense" in line
    assert not (tmp_path / "r").exists()


def test_unreachable_openai_server(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "1+1?", "answer": "2"}) + "\n")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket closes
    spec = f"openai:http://127.0.0.1:{port}/v1#some-model"
    line = cli_error_line(
        runner.invoke(app, ["filter", "--llm", spec, "--data", str(data), "--out", str(tmp_path / "r")])
    )
    assert f"127.0.0.1:{port}" in line
    assert not (tmp_path / "r").exists()


def test_records_without_question_or_answer(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "q"}) + "\n" + json.dumps({"answer": "2"}) + "\n")
    line = cli_error_line(runner.invoke(app, ["filter", "--data", str(data), "--out", str(tmp_path / "r")]))
    assert "d.jsonl" in line


def test_router_needs_inputs_and_computes():
    line = cli_error_line(runner.invoke(app, ["router"]))
    assert "--relay" in line
    ok = runner.invoke(
        app,
        [
            "router",
            "--relay-acc",
            "49.52",
            "--relay-ratio",
            "0.0107",
            "--slm-acc",
            "42.50",
            "--llm-acc",
            "54.12",
        ],
    )
    assert ok.exit_code == 0, ok.output
    text = " ".join(ok.output.split())
    assert "42.62" in text and "+6.90" in text and "0.6041" in text and "98.2%" in text


def test_console_script_exit_code_is_2(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        ["relayllm", "filter", "--data", str(tmp_path / "missing.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "missing.jsonl" in proc.stderr


def test_eval_and_decode_commands_on_tiny_models(tmp_path):
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        ["eval", "--slm", "tiny:qwen2", "--llm", "tiny:qwen2", "--benchmarks", "toy-easy,toy-hard", "--limit", "2",
         "--mode", "relay", "--out", str(out), "relay.max_tokens=6"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "relay" and [r["name"] for r in summary["rows"]] == [
        "toy-easy",
        "toy-hard",
        "average",
    ]
    assert len((out / "items" / "toy-hard.jsonl").read_text().splitlines()) == 2
    decoded = runner.invoke(
        app,
        [
            "decode",
            "--question",
            "What is 2 + 2?",
            "--slm",
            "tiny:qwen2",
            "--llm",
            "tiny:qwen2",
            "relay.max_tokens=6",
        ],
    )
    assert decoded.exit_code == 0, decoded.output
    assert "finish" in decoded.output and "LLM tokens" in decoded.output
