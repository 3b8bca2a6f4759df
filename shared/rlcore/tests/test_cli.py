"""The `rlcore` command in-process: a real evaluation and the demo on tiny models, and the exit-2 convention."""

import json

from typer.testing import CliRunner

from rlcore.app import app
from rlcore.cli import user_errors
from rlcore.config import ConfigError

runner = CliRunner()


def test_eval_writes_a_run_dir(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(
        "".join(json.dumps({"question": f"{i} + {i}?", "answer": str(2 * i)}) + "\n" for i in range(3))
    )
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(data),
            "--model",
            "tiny:qwen2",
            "--n",
            "2",
            "--temperature",
            "1.0",
            "--max-new-tokens",
            "8",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 2 and summary["items"] == 3 and 0.0 <= summary["accuracy"] <= 1.0
    items = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [len(it["completions"]) for it in items] == [2, 2, 2]
    assert (out / "config.yaml").exists()


def test_eval_unknown_column_is_exit_2(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"problem": "1+1", "answer": "2"}) + "\n")
    result = runner.invoke(
        app, ["eval", "--data", str(data), "--model", "tiny:qwen2", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "no column 'question'" in result.output
    assert not (tmp_path / "r").exists()


def test_demo_on_tiny_models(tmp_path):
    result = runner.invoke(
        app, ["demo", "--model", "tiny:qwen2", "--problems", "2", "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["problems"] == 2 and summary["grpo_steps"] == 2
    report = (tmp_path / "d" / "report.md").read_text()
    assert "| step | loss |" in report
    assert len((tmp_path / "d" / "metrics.jsonl").read_text().splitlines()) == 2


def test_user_errors_decorator():
    import typer

    @user_errors
    def broken():
        raise ConfigError("lr: expected a number, got 'x' in toy.yaml")

    try:
        broken()
    except typer.Exit as exc:
        assert exc.exit_code == 2
    else:
        raise AssertionError("expected typer.Exit")


def test_run_directory_is_removed_after_a_user_error(tmp_path):
    import pytest

    from rlcore.cli import run_directory
    from rlcore.data import DataError

    with pytest.raises(DataError), run_directory(tmp_path / "new", package="p", config={"a": 1}) as run:
        run.write_text("partial.txt", "x")
        raise DataError("bad record")
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(DataError), run_directory(tmp_path / "old", package="p"):
        raise DataError("bad record")
    assert (tmp_path / "old").exists()  # a directory that existed before is left alone
    with run_directory(tmp_path / "ok", package="p") as run:
        run.write_text("done.txt", "y")
    assert (tmp_path / "ok" / "done.txt").read_text() == "y"


def test_package_recipe_prefers_the_checkout_then_the_installed_copy(tmp_path):
    from rlcore.cli import package_recipe

    # a checkout: packages/<dist>/src/<import>/cli.py with packages/<dist>/recipes/toy.yaml
    cli = tmp_path / "dist" / "src" / "pkg" / "cli.py"
    cli.parent.mkdir(parents=True)
    cli.write_text("")
    (tmp_path / "dist" / "recipes").mkdir()
    (tmp_path / "dist" / "recipes" / "toy.yaml").write_text("seed: 1\n")
    assert package_recipe(cli) == tmp_path / "dist" / "recipes" / "toy.yaml"
    # an installed wheel: site-packages/<import>/recipes/toy.yaml beside cli.py
    installed = tmp_path / "site-packages" / "pkg" / "cli.py"
    (installed.parent / "recipes").mkdir(parents=True)
    (installed.parent / "recipes" / "paper.yaml").write_text("seed: 2\n")
    assert package_recipe(installed, "paper.yaml") == installed.parent / "recipes" / "paper.yaml"
