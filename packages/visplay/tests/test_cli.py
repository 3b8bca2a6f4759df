"""The CLI (spec §6, §10): every subcommand answers --help; the model-free commands work; every bad input is one
`error:` line, exit code 2, with nothing written."""

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlcore.testing import cli_error_line
from visplay.cli import app

runner = CliRunner()
COMMANDS = [
    "make-sample", "train-questioner", "generate", "label", "curate", "train-reasoner", "selfplay", "evaluate",
    "bench", "demo",
]  # fmt: skip
TOY = Path(__file__).resolve().parents[1] / "recipes" / "toy.yaml"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output


def test_console_script_help():
    proc = subprocess.run(["visplay", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "selfplay" in proc.stdout


def test_make_sample_writes_pngs_and_a_manifest(tmp_path):
    out = tmp_path / "sample"
    result = runner.invoke(app, ["make-sample", "--out", str(out), "--n", "3", "--size", "64"])
    assert result.exit_code == 0, result.output
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [row["kind"] for row in manifest] == ["shapes", "bars", "geometry"]
    assert all((out / row["image"]).is_file() for row in manifest)
    assert {"image_id", "question", "type", "answer", "meta"} <= set(manifest[0])


def test_curate_keeps_the_band_and_prints_kept(tmp_path):
    rows = [
        {"question": "q1", "image": "images/a.png", "reasoner_answers": ["1", "1", "2", "3"], "extra": 7},
        {"question": "q2", "image": "images/a.png", "reasoner_answers": ["1", "1", "1", "1"]},
        {"question": "", "image": "images/a.png", "reasoner_answers": []},
        {"question": "q4", "image": "images/b.png", "reasoner_answers": ["2", "2.0", "2", None]},
    ]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "curated.jsonl"
    result = runner.invoke(app, ["curate", "--candidates", str(labelled), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "kept 2/4" in result.output
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["question"], r["answer"], r["confidence"]) for r in kept] == [
        ("q1", "1", 0.5),
        ("q4", "2", 0.75),
    ]
    assert kept[0]["extra"] == 7 and kept[0]["image"] == "images/a.png"
    tight = tmp_path / "tight.jsonl"
    result = runner.invoke(
        app,
        ["curate", "--candidates", str(labelled), "--out", str(tight), "--tau-low", "0.6", "--budget", "5"],
    )
    assert result.exit_code == 0 and "kept 1/4" in result.output


def test_bench_prints_the_table():
    result = runner.invoke(
        app, ["bench", "--images", "8", "--group-size", "4", "--sizes", "16,32", "--repeats", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "per-image" in result.output and "batch" in result.output


@pytest.fixture
def files(tmp_path):
    from PIL import Image

    def jsonl(name, rows, raw=None):
        path = tmp_path / name
        path.write_text(raw if raw is not None else "".join(json.dumps(r) + "\n" for r in rows))
        return str(path)

    images = tmp_path / "imgs"
    images.mkdir()
    Image.new("RGB", (56, 56), (255, 0, 0)).save(images / "good.png")
    (images / "broken.png").write_bytes(b"not a png at all")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    good = images / "good.png"
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("questioner: [unclosed\n")
    curated_row = json.dumps({"question": "q", "image": str(good), "answer": "1"})
    return {
        "missing": str(tmp_path / "nope.jsonl"),
        "bad": jsonl(
            "bad.jsonl", None, raw='{"question": "q", "image": "x.png", "reasoner_answers": []}\n{oops\n'
        ),
        "badcurated": jsonl("badcurated.jsonl", None, raw=curated_row + "\n{oops\n"),
        "noanswers": jsonl("noanswers.jsonl", [{"question": "q", "image": str(good)}]),
        "stringanswers": jsonl("stringanswers.jsonl", [{"question": "q", "reasoner_answers": "AB"}]),
        "noimage": jsonl("noimage.jsonl", [{"question": "q"}]),
        "noquestion": jsonl("noquestion.jsonl", [{"image": str(good), "answer": "1"}]),
        "noanswer": jsonl("noanswer.jsonl", [{"question": "q", "image": str(good)}]),
        "labelled": jsonl(
            "labelled.jsonl", [{"question": "q", "image": str(good), "reasoner_answers": ["1"]}]
        ),
        "curated": jsonl("curated.jsonl", [{"question": "q", "image": str(good), "answer": "1"}]),
        "corrupt": jsonl(
            "corrupt.jsonl", [{"question": "q", "image": str(images / "broken.png"), "image_id": "img-7"}]
        ),
        "images": str(images),
        "empty": str(empty_dir),
        "yaml": str(bad_yaml),
        "out": str(tmp_path / "out"),
        "outfile": str(tmp_path / "out.jsonl"),
    }


# Each case: the arguments, and how its one line starts after "error: " (spec §10: "<input>: <reason>").
BAD_INPUT = [
    # a missing file or directory
    (["curate", "--candidates", "{missing}", "--out", "{outfile}"], "{missing}: file not found"),
    (["label", "--candidates", "{missing}", "--out", "{outfile}"], "{missing}: file not found"),
    (["train-reasoner", "--data", "{missing}", "--out", "{out}"], "{missing}: file not found"),
    (["generate", "--images", "/no/such/dir", "--out", "{out}"], "/no/such/dir: image source not found"),
    (["train-questioner", "--images", "/no/such/dir", "--out", "{out}"], "/no/such/dir: image source not found"),
    (["evaluate", "--benchmark", "{missing}", "--out", "{outfile}"], "{missing}: benchmark file not found"),
    (["label", "--out", "{outfile}"], "--candidates: missing"),
    # malformed JSONL, naming the line
    (["curate", "--candidates", "{bad}", "--out", "{outfile}"], "{bad}: line 2: not valid JSON"),
    (["label", "--candidates", "{bad}", "--out", "{outfile}"], "{bad}: line 2: not valid JSON"),
    (["train-reasoner", "--data", "{badcurated}", "--out", "{out}"], "{badcurated}: line 2: not valid JSON"),
    # a record lacking a field the subcommand needs
    (["curate", "--candidates", "{noanswers}", "--out", "{outfile}"], "{noanswers}: line 1: missing field 'reasoner_answers'"),
    (["curate", "--candidates", "{stringanswers}", "--out", "{outfile}"], "{stringanswers}: candidate 0: 'reasoner_answers' must be a list"),
    (["label", "--candidates", "{noimage}", "--out", "{outfile}"], "{noimage}: line 1: missing field 'image'"),
    (["label", "--candidates", "{noquestion}", "--out", "{outfile}"], "{noquestion}: line 1: missing field 'question'"),
    (["train-reasoner", "--data", "{noanswer}", "--out", "{out}"], "{noanswer}: line 1: missing field 'answer'"),
    (["train-reasoner", "--data", "{noquestion}", "--out", "{out}"], "{noquestion}: line 1: missing field 'question'"),
    (["train-reasoner", "--data", "{noimage}", "--out", "{out}"], "{noimage}: line 1: missing field 'image'"),
    # an unknown benchmark
    (["evaluate", "--benchmark", "mmmmu", "--out", "{outfile}"], "mmmmu: unknown benchmark"),
    # an unknown model spec or missing weights (rlcore's line)
    (["evaluate", "--model", "/no/such/model", "--benchmark", "sample", "--limit", "1", "--out", "{outfile}"], "model '/no/such/model': "),
    (["label", "--reasoner", "/no/such/model", "--candidates", "{labelled}", "--out", "{outfile}"], "model '/no/such/model': "),
    (["train-reasoner", "--reasoner", "/no/such/model", "--data", "{curated}", "--out", "{out}"], "model '/no/such/model': "),
    (["generate", "--questioner", "tiny:nope", "--images", "{images}", "--num-images", "1", "--out", "{out}"], "model 'tiny:nope': "),
    # malformed YAML, an unknown key, a wrong type, an invalid value (rlcore's ConfigError, naming key and file)
    (["selfplay", "--recipe", "{yaml}", "--out", "{out}"], "{yaml}: line 2: "),
    (["selfplay", "--out", "{out}", "questioner.nope=1"], f"unknown config key 'questioner.nope' in {TOY}"),
    (["selfplay", "--out", "{out}", "questioner.steps=two"], "questioner.steps: expected an integer"),
    (["demo", "--out", "{out}", "reward.bleu_threshold=0"], "reward.bleu_threshold: must be in (0, 1]"),
    (["curate", "--candidates", "{labelled}", "--out", "{outfile}", "--tau-low", "0.9", "--tau-high", "0.1"], "curation.tau_low: "),
    # an image that cannot be decoded, naming its id
    (["label", "--candidates", "{corrupt}", "--out", "{outfile}"], "{corrupt}: image of 'img-7': "),
    (["generate", "--images", "{images}", "--out", "{out}"], "{images}: image 'broken': "),
    # an image source with no usable images
    (["generate", "--images", "{empty}", "--out", "{out}"], "{empty}: no usable images"),
    (["train-questioner", "--images", "{empty}", "--out", "{out}"], "{empty}: no usable images"),
    (["selfplay", "--out", "{out}", "images={empty}"], "{empty}: no usable images"),
    (["selfplay", "--out", "{out}", "images=/no/such/images.parquet"], "/no/such/images.parquet: image source not found"),
    # other arguments
    (["make-sample", "--out", "{out}", "--n", "-1"], "--n: must be >= 0, got -1"),
    (["make-sample", "--out", "{out}", "--size", "10"], "--size: must be >= 64, got 10"),
    (["bench", "--sizes", "a,b"], "--sizes: expected comma-separated integers"),
    (["bench", "--repeats", "0"], "--repeats: must be >= 1, got 0"),
]  # fmt: skip


@pytest.mark.parametrize("args, head", BAD_INPUT, ids=[" ".join(a[:2]) + f" [{h}]" for a, h in BAD_INPUT])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, files, args, head):
    result = runner.invoke(app, [a.format(**files) for a in args])
    line = cli_error_line(result)
    assert line.startswith("error: " + head.format(**files)), line
    assert result.stderr.strip() == line and not result.stdout.strip()  # on stderr, nothing on stdout
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.jsonl").exists()


def test_make_sample_defaults_to_the_sample_seed(tmp_path):
    result = runner.invoke(app, ["make-sample", "--out", str(tmp_path / "s"), "--n", "1", "--size", "64"])
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "s" / "manifest.jsonl").read_text())
    assert row["image_id"] == "shapes-20251119-000" and (tmp_path / "s" / row["image"]).is_file()
    assert not [p for p in (tmp_path / "s").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_demo_on_a_reduced_recipe(tmp_path):
    out = tmp_path / "demo"
    reduced = [
        "iterations=1", "format_warmup_steps=4", "questioner.steps=1", "reasoner.steps=1", "curation.num_images=2",
        "evaluation.limit=3", "evaluation.max_new_tokens=8",
    ]  # fmt: skip
    result = runner.invoke(app, ["demo", "--out", str(out), *reduced])
    assert result.exit_code == 0, result.output
    assert "plumbing check, not a result" in result.output
    header = next(line for line in result.output.splitlines() if line.startswith("model"))
    assert [c.strip() for c in header.split("|")][:5] == [
        "model",
        "q_valid",
        "q_reward",
        "kept/cand",
        "r_reward",
    ]
    assert any(line.startswith("iter 1") and "/8" in line for line in result.output.splitlines())
    summary = json.loads((out / "summary.json").read_text())
    assert [row["model"] for row in summary["rows"]] == ["base", "iter 1"]
    assert (out / "report.md").is_file() and (out / "iter_1" / "candidates.jsonl").is_file()


def test_bench_template_generator():
    from visplay.bench import template_questions

    questions = template_questions(2000)
    assert questions == template_questions(2000) and questions != template_questions(2000, seed=1)
    assert all(6 <= len(q.split()) <= 16 for q in questions)
    duplicates = 1 - len(set(questions)) / len(questions)
    assert 0.15 <= duplicates <= 0.3


@pytest.mark.slow
def test_generate_label_curate_evaluate_with_the_tiny_vlm(tmp_path):
    out = tmp_path / "cands"
    common = [
        "evaluation.max_new_tokens=4",
        "questioner.max_new_tokens=6",
        "reward.reasoner_max_new_tokens=4",
    ]
    result = runner.invoke(
        app,
        [
            "generate",
            "--images",
            "sample",
            "--num-images",
            "2",
            "--n-per-image",
            "2",
            "--out",
            str(out),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "candidates.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(
        (out / r["image"]).is_file() and r["image"].startswith("images/") for r in rows
    )
    # Give every candidate a question, so that the Reasoner labels them all.
    (out / "candidates.jsonl").write_text(
        "".join(json.dumps({**r, "question": "How many shapes?", "valid": True}) + "\n" for r in rows)
    )
    result = runner.invoke(app, ["label", "--candidates", str(out / "candidates.jsonl"), "--m", "2", *common])
    assert result.exit_code == 0, result.output
    labelled = [json.loads(line) for line in (out / "labelled.jsonl").read_text().splitlines()]
    assert all(len(r["reasoner_answers"]) == 2 and r["image"].startswith("images/") for r in labelled)
    result = runner.invoke(app, ["curate", "--candidates", str(out / "labelled.jsonl"), "--tau-low", "0"])
    assert result.exit_code == 0 and "kept" in result.output
    target = tmp_path / "eval.json"
    result = runner.invoke(
        app, ["evaluate", "--benchmark", "sample", "--limit", "3", "--out", str(target), *common]
    )
    assert result.exit_code == 0, result.output
    assert "pooled" in result.output and "macro" in result.output
    saved = json.loads(target.read_text())
    assert saved["summary"]["n"] == 3 and len(saved["items"]) == 3


def test_evaluate_split_and_column_options_reach_the_benchmark(tmp_path, monkeypatch):
    import base64
    import io

    from PIL import Image

    import visplay.data as data
    import visplay.selfplay as selfplay
    from visplay.evaluation import aggregate_accuracy

    seen = []

    def fake_evaluate_model(config, model, records):
        seen.extend(records)
        return {"items": [], "summary": aggregate_accuracy({r["subset"]: [True] for r in records})}

    monkeypatch.setattr(selfplay, "evaluate_model", fake_evaluate_model)
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(png, format="PNG")
    row = {"q": "How many?", "a": "3", "pic": base64.b64encode(png.getvalue()).decode()}
    local = tmp_path / "mine.jsonl"
    local.write_text(json.dumps(row) + "\n")
    args = ["--question-column", "q", "--answer-column", "a", "--image-column", "pic"]
    result = runner.invoke(
        app, ["evaluate", "--benchmark", str(local), *args, "--out", str(tmp_path / "e.json")]
    )
    assert result.exit_code == 0, result.output
    assert [(r["question"], r["answer"], r["subset"]) for r in seen] == [("How many?", "3", "mine")]
    assert "pooled" in result.output and "macro" in result.output

    calls = []

    def fake_load_records(source, *, split=None, limit=None):
        calls.append((source, split))
        return [{"problem": "Q?", "answer": "A", "images": [Image.new("RGB", (8, 8))]}]

    monkeypatch.setattr(data, "load_records", fake_load_records)
    result = runner.invoke(
        app, ["evaluate", "--benchmark", "mmmu", "--split", "validation", "--out", str(tmp_path / "h.json")]
    )
    assert result.exit_code == 0, result.output
    assert calls == [("hf:zli12321/MMMU", "validation")]
