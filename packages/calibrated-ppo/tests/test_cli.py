"""The CLI (spec §6, §10): every subcommand answers --help; the model-free commands work; bad input is one
`error:` line, exit code 2, nothing written."""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from calibrated_ppo.cli import app
from calibrated_ppo.data import sample_data_path
from rlcore.testing import cli_error_line

runner = CliRunner()
COMMANDS = [
    "make-sample-data",
    "build-crm-data",
    "train-rm",
    "train-crm",
    "ppo",
    "evaluate",
    "rm-bias",
    "plot",
    "bench",
    "demo",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output


def test_console_script_help():
    proc = subprocess.run(["calibrated-ppo", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "rm-bias" in proc.stdout


def test_make_sample_data_reproduces_the_bundled_files(tmp_path):
    result = runner.invoke(app, ["make-sample-data", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("preference_pairs", "prompts", "eval_arith", "eval_choice"):
        assert (tmp_path / f"{name}.jsonl").read_bytes() == sample_data_path(name).read_bytes()


def test_build_crm_data_from_the_bundled_pairs(tmp_path):
    out = tmp_path / "crm.jsonl"
    result = runner.invoke(
        app, ["build-crm-data", "--input", "sample:preference_pairs", "--output", str(out), "--limit", "3"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    assert {"chosen", "rejected", "chosen_high", "chosen_low", "rejected_high", "rejected_low"} <= set(
        rows[0]
    )
    assert "Confidence:" in rows[0]["chosen_high"][-1]["content"]


def test_plot_from_records(tmp_path):
    records = tmp_path / "r.jsonl"
    records.write_text(
        "".join(json.dumps({"conf": c, "correct": k}) + "\n" for c, k in [(0.9, 1), (0.2, 0), (0.7, 0)])
    )
    out = tmp_path / "p.png"
    result = runner.invoke(app, ["plot", "--records", str(records), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{oops\n')
    nocol = tmp_path / "nocol.jsonl"
    nocol.write_text('{"prompt": "a", "chosen": "b"}\n')
    yaml_bad = tmp_path / "bad.yaml"
    yaml_bad.write_text("ppo: [unclosed\n")
    return {
        "missing": str(tmp_path / "nope.jsonl"),
        "bad": str(bad),
        "nocol": str(nocol),
        "yaml": str(yaml_bad),
        "out": str(tmp_path / "out"),
    }


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train-rm", "--data", "{missing}", "--out", "{out}"], "nope.jsonl"),
        (["train-rm", "--data", "{bad}", "--out", "{out}"], "bad.jsonl:2"),
        (["train-crm", "--data", "{nocol}", "--out", "{out}"], "rejected"),
        (["ppo", "--method", "ppo-x", "--out", "{out}"], "ppo-x"),
        (["ppo", "--out", "{out}", "ppo.rollout_batch_size=6"], "ppo.rollout_batch_size"),
        (["ppo", "--out", "{out}", "--recipe", "{yaml}"], "bad.yaml"),
        (["evaluate", "--model", "tiny:qwen2", "--datasets", "squad", "--out", "{out}"], "squad"),
        (["evaluate", "--datasets", "sample:eval_arith", "--out", "{out}"], "--model"),
        (
            [
                "evaluate",
                "--model",
                "/no/such/model",
                "--datasets",
                "sample:eval_arith",
                "--limit",
                "1",
                "--out",
                "{out}",
            ],
            "/no/such/model",
        ),
        (
            ["rm-bias", "--reward-model", "tiny:qwen2-reward", "--mode", "sideways", "--out", "{out}"],
            "sideways",
        ),
        (
            [
                "rm-bias",
                "--reward-model",
                "/no/such/rm",
                "--data",
                "sample:preference_pairs",
                "--out",
                "{out}",
            ],
            "/no/such/rm",
        ),
        (["plot", "--records", "{missing}", "--out", "{out}"], "nope.jsonl"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, files, args, needle):
    line = cli_error_line(runner.invoke(app, [a.format(**files) for a in args]))
    assert needle in line
    assert not (tmp_path / "out").exists()
