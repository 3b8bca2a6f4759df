"""The package surface (spec section 2): `vision_sr1` re-exports every module's public names (plus
``__version__``); ``VisionSR1GRPOTrainer`` stays lazy so that importing the package does not import TRL."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import vision_sr1

MODULES = ["config", "data", "evaluation", "multireward", "prompts", "rewards", "selfreward", "training"]


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_is_re_exported(name):
    module = importlib.import_module(f"vision_sr1.{name}")
    public = [n for n in module.__all__ if n != "VisionSR1GRPOTrainer"]
    missing = [n for n in public if n not in vision_sr1.__all__]
    assert not missing, missing
    assert all(getattr(vision_sr1, n) is getattr(module, n) for n in public)


def test_all_lists_exactly_the_re_exports():
    expected = {"__version__"} | {
        n
        for m in MODULES
        for n in importlib.import_module(f"vision_sr1.{m}").__all__
        if n != "VisionSR1GRPOTrainer"
    }
    assert set(vision_sr1.__all__) == expected and len(vision_sr1.__all__) == len(expected)


def test_importing_the_package_does_not_import_trl():
    code = "import sys, vision_sr1; assert 'trl' not in sys.modules, 'trl imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
