"""The CLI (spec §6, §10): every command answers --help; make-sft with the template teacher; bad input is one
`error:` line, exit code 2, nothing written."""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from parallel_r1.cli import app
from parallel_r1.rewards import is_correct, is_format_correct
from rlcore.testing import cli_error_line

runner = CliRunner()
COMMANDS = ["add-tokens", "make-sft", "sft", "rl", "eval", "pipeline", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output


def test_console_script_help():
    proc = subprocess.run(["parallel-r1", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "pipeline" in proc.stdout


def test_make_sft_with_the_template_teacher(tmp_path):
    out = tmp_path / "sft.jsonl"
    result = runner.invoke(
        app, ["make-sft", "--source", "arithmetic", "--teacher", "template", "--n", "6", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and all(
        is_format_correct(r["response"]) and is_correct(r["response"], r["answer"]) for r in rows
    )
    assert json.loads((tmp_path / "sft.jsonl.stats.json").read_text())["accepted"] == 6


@pytest.fixture
def files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "1+1", "response": "x", "answer": "2"}\n{oops\n')
    nocol = tmp_path / "nocol.jsonl"
    nocol.write_text('{"question": "1+1"}\n')
    return {
        "missing": str(tmp_path / "nope.jsonl"),
        "bad": str(bad),
        "nocol": str(nocol),
        "out": str(tmp_path / "out"),
    }


@pytest.mark.parametrize(
    "args, needle",
    [
        (["sft", "--data", "{missing}", "--out", "{out}"], "nope.jsonl"),
        (["sft", "--data", "{bad}", "--out", "{out}"], "bad.jsonl:2"),
        (["rl", "--data", "{nocol}", "--out", "{out}"], "nocol.jsonl"),
        (["rl", "--reward", "style", "--out", "{out}"], "rl.reward"),
        (["rl", "--stage", "gsm9k", "--out", "{out}"], "gsm9k"),
        (["sft", "--variant", "hidden", "--out", "{out}"], "variant"),
        (
            ["sft", "--out", "{out}", "variant=unseen", "attn_implementation=flash_attention_2"],
            "attn_implementation",
        ),
        (["eval", "--model", "/no/such/model", "--data", "sample", "--out", "{out}"], "/no/such/model"),
        (["sft", "--out", "{out}", "sft.bogus=1"], "sft.bogus"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, files, args, needle):
    line = cli_error_line(runner.invoke(app, [a.format(**files) for a in args]))
    assert needle in line
    assert not (tmp_path / "out").exists()
