"""Cross-package checks: the workspace holds together, every recipe validates, every CLI answers."""

import importlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from workspace import members  # noqa: E402

MEMBERS = members()
PACKAGES = [m for m in MEMBERS if m.path.parent.name == "packages"]
IMPORT_NAMES = {
    "relayllm": "relayllm",
    "benchmark2": "benchmark2",
    "unirel": "unirel",
    "visplay": "visplay",
    "parallel-r1": "parallel_r1",
    "vision-sr1": "vision_sr1",
    "r-zero": "r_zero",
    "crosswordbench": "crosswordbench",
    "lara": "lara",
    "calibrated-ppo": "calibrated_ppo",
}


def test_rlcore_is_a_member():
    assert MEMBERS[0].name == "rlcore"


def test_root_is_virtual_and_lock_is_committed():
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "project" not in root, "the workspace root is virtual"
    assert root["tool"]["uv"]["workspace"]["members"] == ["shared/*", "packages/*"]
    assert (ROOT / "uv.lock").exists()


@pytest.mark.parametrize("member", PACKAGES, ids=lambda m: m.name)
def test_package_anatomy(member):
    project = tomllib.loads((member.path / "pyproject.toml").read_text())["project"]
    assert member.name in IMPORT_NAMES, f"{member.name} is not one of the ten distribution names"
    assert project.get("version")
    core = [d for d in project["dependencies"] if re.match(r"rlcore\b", d)]
    assert core and "<" in core[0] and ">=" in core[0], "depends on rlcore with explicit bounds"
    siblings = set(IMPORT_NAMES) - {member.name}
    assert not [d for d in project["dependencies"] if re.split(r"[\[<>=; ]", d)[0] in siblings]
    assert member.script == member.name
    src = member.path / "src" / IMPORT_NAMES[member.name]
    for required in ("__init__.py", "config.py", "cli.py"):
        assert (src / required).exists(), required
    assert (member.path / "README.md").exists()
    assert (member.path / "recipes" / "toy.yaml").exists()
    wheel = tomllib.loads((member.path / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"
    ]
    assert wheel["force-include"] == {"recipes": f"{IMPORT_NAMES[member.name]}/recipes"}, (
        "wheels ship the recipes"
    )


@pytest.mark.slow
def test_wheels_ship_the_recipes_where_the_cli_finds_them(tmp_path):
    """`pip install <dist>` then `<dist> demo`: the toy recipe is inside the wheel, beside cli.py."""
    import zipfile

    subprocess.run(
        ["uv", "build", "--all-packages", "--wheel", "-q", "-o", str(tmp_path)],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    for member in PACKAGES:
        name = IMPORT_NAMES[member.name]
        (wheel,) = tmp_path.glob(f"{name}-*.whl")
        files = set(zipfile.ZipFile(wheel).namelist())
        for recipe in (member.path / "recipes").glob("*.yaml"):
            assert f"{name}/recipes/{recipe.name}" in files, (wheel.name, recipe.name)
        assert f"{name}/cli.py" in files


RECIPES = [(m, r) for m in PACKAGES for r in sorted((m.path / "recipes").glob("*.yaml"))]


@pytest.mark.parametrize(("member", "recipe"), RECIPES, ids=lambda x: getattr(x, "name", str(x)))
def test_every_recipe_validates(member, recipe):
    """Each package's config module defines `Config`, the dataclass its recipes describe."""
    from rlcore.config import load_config

    config_module = importlib.import_module(f"{IMPORT_NAMES[member.name]}.config")
    load_config(config_module.Config, recipe)


@pytest.mark.parametrize("member", [m for m in MEMBERS if m.script], ids=lambda m: m.name)
def test_every_cli_answers_help(member):
    proc = subprocess.run([member.script, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stdout


def _cli(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(["rlcore", *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_rlcore_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    missing = _cli("eval", "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r1"))
    assert missing.returncode == 2
    assert "missing.jsonl" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    assert "Traceback" not in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1"}\nnot json\n')
    malformed = _cli("eval", "--data", str(bad), "--out", str(tmp_path / "r2"))
    assert malformed.returncode == 2 and "bad.jsonl:2: not valid JSON" in malformed.stderr
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "q", "answer": "1"}\n')
    unknown = _cli("eval", "--data", str(good), "--model", "tiny:nonsense", "--out", str(tmp_path / "r3"))
    assert unknown.returncode == 2 and "tiny:nonsense" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert not any((tmp_path / d).exists() for d in ("r1", "r2", "r3")), "nothing half-written"
