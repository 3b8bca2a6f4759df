"""The CLI (spec §6, §10): every command answers --help; the file commands work end to end on small
inputs; bad input is one `error:` line naming it, exit code 2, and nothing written."""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from crosswordbench.cli import app
from crosswordbench.data import load_puzzles, save_puzzles
from rlcore.testing import cli_error_line

runner = CliRunner()
COMMANDS = [
    "generate",
    "render",
    "export",
    "import",
    "evaluate",
    "interactive",
    "score",
    "correlate",
    "build-wordlist",
    "train",
    "demo",
]


def _ok(result):
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    _ok(runner.invoke(app, [command, "--help"]))


def test_console_script_help():
    proc = subprocess.run(["crosswordbench", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "demo" in proc.stdout


@pytest.fixture
def puzzles_file(tmp_path, P):
    path = tmp_path / "p.jsonl"
    save_puzzles([P], path)
    return path


def test_generate_with_images_and_exports(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text(
        "\n".join(
            f"{w} clue for {w.lower()}"
            for w in [
                "CAT",
                "COW",
                "TEA",
                "ACE",
                "OAT",
                "TOE",
                "EAT",
                "ATE",
                "WET",
                "TWO",
                "AWE",
                "OWE",
                "ACT",
                "COT",
                "TAC",
                "WAC",
                "ETA",
                "TAO",
            ]
        )
        + "\n"
    )
    out = tmp_path / "gen"
    output = _ok(
        runner.invoke(
            app,
            [
                "generate",
                "--words",
                str(words),
                "--size",
                "5x5",
                "--n",
                "2",
                "--images",
                "--export",
                "puz,ipuz",
                "--out",
                str(out),
                "generate.restarts=4",
            ],
        )
    )
    puzzles = load_puzzles(out / "puzzles.jsonl")
    assert 1 <= len(puzzles) <= 2 and "puzzles" in output
    first = puzzles[0].id
    assert (out / "images" / f"{first}_grid.png").exists() and (
        out / "images" / f"{first}_partial_0.5.png"
    ).exists()
    assert (out / "export" / f"{first}.puz").exists() and (out / "export" / f"{first}.ipuz").exists()


def test_render_export_import_round_trip(tmp_path, puzzles_file, P):
    _ok(
        runner.invoke(
            app,
            [
                "render",
                "--puzzles",
                str(puzzles_file),
                "--variant",
                "partial",
                "--ratio",
                "0.5",
                "--out",
                str(tmp_path / "img"),
            ],
        )
    )
    assert (tmp_path / "img" / "P_partial.png").exists()
    for fmt in ("puz", "ipuz"):
        _ok(
            runner.invoke(
                app, ["export", "--puzzles", str(puzzles_file), "--format", fmt, "--out", str(tmp_path / fmt)]
            )
        )
    back = tmp_path / "back.jsonl"
    _ok(
        runner.invoke(
            app,
            [
                "import",
                str(tmp_path / "puz" / "P.puz"),
                str(tmp_path / "ipuz" / "P.ipuz"),
                "--out",
                str(back),
            ],
        )
    )
    for puzzle in load_puzzles(back):
        assert puzzle.grid == P.grid and puzzle.reference() == P.reference()


def test_score_saved_replies(tmp_path, puzzles_file):
    replies = tmp_path / "r.jsonl"
    replies.write_text(json.dumps({"id": "P", "response": "Across:\n1: CAT\nDown:\n1: COW\n2: SEA"}) + "\n")
    output = _ok(
        runner.invoke(
            app,
            [
                "score",
                "--puzzles",
                str(puzzles_file),
                "--responses",
                str(replies),
                "--out",
                str(tmp_path / "s"),
            ],
        )
    )
    assert "WCR 0.667" in output
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert metrics["text_cot"]["icr"]["mean"] == 0.5


def _fake_run(folder, model, wcrs):
    folder.mkdir()
    (folder / "config.yaml").write_text(f"model: {model}\n")
    (folder / "samples.jsonl").write_text(
        "".join(json.dumps({"id": f"p{i}", "wcr": w}) + "\n" for i, w in enumerate(wcrs))
    )
    return folder


def test_correlate_runs(tmp_path):
    img, parse = [], []
    for k, (a, b) in enumerate([(0.1, 0.3), (0.2, 0.5), (0.4, 0.9), (0.15, 0.35)]):
        img.append(_fake_run(tmp_path / f"img{k}", f"m{k}", [a, a + 0.1, a - 0.05]))
        parse.append(_fake_run(tmp_path / f"parse{k}", f"m{k}", [b, b - 0.1, b + 0.05]))
    args = ["correlate", "--n-boot", "200", "--out", str(tmp_path / "c")]
    for a, b in zip(img, parse, strict=True):
        args += ["--img", str(a), "--parse", str(b)]
    output = _ok(runner.invoke(app, args))
    result = json.loads((tmp_path / "c" / "correlation.json").read_text())
    assert result["r"] > 0.9 and "r = " in output and set(result["models"]) == {"m0", "m1", "m2", "m3"}
    assert list((tmp_path / "c").glob("**/*.png"))


@pytest.mark.parametrize(
    "args, needle",
    [
        (["render", "--puzzles", "{missing}", "--out", "{out}"], "nope.jsonl"),
        (["render", "--puzzles", "{puzzles}", "--variant", "sketch", "--out", "{out}"], "grid_only"),
        (["export", "--puzzles", "{puzzles}", "--format", "pdf", "--out", "{out}"], "ipuz"),
        (
            [
                "evaluate",
                "--puzzles",
                "{puzzles}",
                "--model",
                "tiny:qwen2",
                "--template",
                "poem",
                "--out",
                "{out}",
            ],
            "text_cot",
        ),
        (
            [
                "evaluate",
                "--puzzles",
                "{puzzles}",
                "--model",
                "tiny:qwen2",
                "--backend",
                "grpc",
                "--out",
                "{out}",
            ],
            "openai",
        ),
        (
            ["evaluate", "--puzzles", "{puzzles}", "--model", "/no/such/model", "--out", "{out}"],
            "/no/such/model",
        ),
        (["evaluate", "--puzzles", "{puzzles}", "--out", "{out}"], "--model"),
        (
            [
                "interactive",
                "--puzzles",
                "{puzzles}",
                "--model",
                "tiny:qwen2",
                "--modality",
                "audio",
                "--out",
                "{out}",
            ],
            "image",
        ),
        (["evaluate", "--puzzles", "{bad}", "--model", "tiny:qwen2", "--out", "{out}"], "bad.jsonl:2"),
        (["generate", "--words", "{missing}", "--out", "{out}"], "nope.jsonl"),
        (["generate", "--size", "2x2", "--n", "1", "--out", "{out}"], "3x3"),
        (["score", "--puzzles", "{puzzles}", "--responses", "{missing}", "--out", "{out}"], "nope.jsonl"),
        (["import", "{missing}", "--out", "{out}"], "nope.jsonl"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, puzzles_file, args, needle):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(puzzles_file.read_text() + "{not json\n")
    values = {
        "missing": str(tmp_path / "nope.jsonl"),
        "out": str(tmp_path / "run"),
        "puzzles": str(puzzles_file),
        "bad": str(bad),
    }
    line = cli_error_line(runner.invoke(app, [a.format(**values) for a in args]))
    assert needle in line
    assert not (tmp_path / "run").exists()
