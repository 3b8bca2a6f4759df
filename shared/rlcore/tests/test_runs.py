import json
from dataclasses import dataclass

import pytest

from rlcore.config import ConfigError
from rlcore.runs import RunDir, atomic_write


@dataclass
class Cfg:
    lr: float = 0.1
    name: str = "x"


def test_layout_and_logs(tmp_path):
    run = RunDir(tmp_path / "run", package="pkg", config=Cfg())
    assert (run.path / "config.yaml").read_text().startswith("lr: 0.1")
    run.log_metrics({"step": 1, "loss": 0.5})
    run.log_metrics({"step": 2, "loss": 0.25})
    run.log_samples([{"text": "héllo"}])
    assert run.read_jsonl("metrics.jsonl") == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.25}]
    assert json.loads((run.path / "samples.jsonl").read_text()) == {"text": "héllo"}
    run.write_json("sub/a.json", {"a": 1})
    run.write_jsonl("rows.jsonl", [{"i": 0}, {"i": 1}])
    assert run.read_jsonl("rows.jsonl") == [{"i": 0}, {"i": 1}]
    assert json.loads((run.path / "sub/a.json").read_text()) == {"a": 1}


def test_default_location(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = RunDir(package="pkg", name="trial")
    assert run.path == tmp_path.joinpath("runs", "pkg", "trial").relative_to(tmp_path)
    assert run.path.is_dir()


def test_checkpoints_and_stages(tmp_path):
    run = RunDir(tmp_path / "r", package="p")
    assert run.last_checkpoint() is None
    (run.checkpoint_dir(5) / "w").write_text("5")
    (run.checkpoint_dir(20) / "w").write_text("20")
    run.checkpoint_dir(30)  # empty: a checkpoint that was never written
    assert run.last_checkpoint().name == "step-20"
    assert not run.done("sft")
    run.mark_done("sft")
    assert run.done("sft")


def test_config_mismatch_and_resume(tmp_path):
    RunDir(tmp_path / "r", package="p", config=Cfg())
    RunDir(tmp_path / "r", package="p", config=Cfg())  # same config: fine
    with pytest.raises(ConfigError, match="different config"):
        RunDir(tmp_path / "r", package="p", config=Cfg(lr=0.2))
    resumed = RunDir.resume(tmp_path / "r")
    assert resumed.config == {"lr": 0.1, "name": "x"}
    with pytest.raises(FileNotFoundError):
        RunDir.resume(tmp_path / "nope")


def test_report_with_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    run = RunDir(tmp_path / "r", package="p")
    run.write_report("# Report\n", plots={"curve": fig, "raw": b"\x89PNG fake"})
    assert (run.path / "report.md").read_text() == "# Report\n"
    assert (run.path / "plots/curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (run.path / "plots/raw.png").read_bytes() == b"\x89PNG fake"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write(target, "old")

    class Boom(str):
        def encode(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(target, Boom("new"))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
