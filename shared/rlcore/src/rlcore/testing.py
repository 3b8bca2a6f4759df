"""Test helpers: tiny models, images and an offline switch, as plain factories and as pytest fixtures.

This module is also a pytest plugin (the ``pytest11`` entry point ``rlcore``), so pytest imports it in every
test process of the workspace: it must stay cheap to import. torch, transformers and PIL are imported inside
the factories, never at module level (``import torch`` alone takes ~2 s, transformers ~7 s).

As a plugin it registers the ``gpu`` and ``slow`` markers, turns on the Hugging Face offline switches for the
session (tests never reach the hub; export ``HF_HUB_OFFLINE=0`` to override) and skips ``gpu`` tests where
CUDA is not available.

Helpers for CLI and multi-process tests: :func:`cli_error_line`, :func:`free_port`,
:func:`launch_cpu_processes`.

Factories: :func:`tiny_tokenizer`, :func:`tiny_lm`, :func:`tiny_reward_model`, :func:`tiny_vlm`,
:func:`tiny_images` and the :func:`offline_env` context manager. Fixtures of the same names return fresh
objects for each test (``offline_env`` holds the switches on during the test).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "OFFLINE_VARS",
    "cli_error_line",
    "free_port",
    "launch_cpu_processes",
    "offline_env",
    "tiny_images",
    "tiny_lm",
    "tiny_reward_model",
    "tiny_tokenizer",
    "tiny_vlm",
]

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
"""The variables that keep huggingface_hub, transformers and datasets off the network."""


def cli_error_line(result: Any) -> str:
    """The one ``error:`` line of a typer ``CliRunner`` result that must have failed on bad input (exit code
    2, one non-blank line, no traceback); returns it for the test to check what it names."""
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a rendezvous or a closed-port test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_cpu_processes(
    script: str | Path, *args: str, num_processes: int = 2, timeout: float = 480, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``script`` under ``accelerate launch --multi_gpu --num_processes N`` with no visible GPU: N CPU
    ranks joined with gloo. (``accelerate launch --cpu --num_processes N`` silently runs ONE process, so a
    test must still prove that every rank ran, e.g. by a file each rank writes.) Offline, no dynamo, fp32."""
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(script), *map(str, args),
    ]  # fmt: skip
    full_env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "HF_HUB_OFFLINE": "1",
        "TRL_EXPERIMENTAL_SILENCE": "1",
    }
    return subprocess.run(
        cmd, env={**full_env, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def tiny_tokenizer() -> PreTrainedTokenizerBase:
    """A fresh copy of the tiny models' tokenizer (see :func:`rlcore.models.tiny_tokenizer`)."""
    from rlcore.models import tiny_tokenizer as build

    return build()


def tiny_lm(seed: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``load_model(f"tiny:qwen2@{seed}")``: a random 35k-parameter Qwen2 causal LM and its tokenizer."""
    from rlcore.models import load_model

    return load_model(f"tiny:qwen2@{seed}")


def tiny_reward_model(seed: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``load_model(f"tiny:qwen2-reward@{seed}")``: a random Qwen2 sequence classifier giving one score."""
    from rlcore.models import load_model

    return load_model(f"tiny:qwen2-reward@{seed}")


def tiny_vlm(seed: int = 0) -> tuple[PreTrainedModel, Any]:
    """``load_model(f"tiny:qwen2.5-vl@{seed}")``: a random Qwen2.5-VL model and its processor."""
    from rlcore.models import load_model

    return load_model(f"tiny:qwen2.5-vl@{seed}")


def tiny_images(n: int = 3, seed: int = 0, size: int = 56) -> list[Image]:
    """``n`` seeded ``size`` x ``size`` RGB images: a random background with a rectangle and an ellipse in
    random colours. At the default 56 px each one is 4 image tokens for the tiny VLM's processor."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)

    def colour() -> tuple[int, int, int]:
        return rng.randrange(256), rng.randrange(256), rng.randrange(256)

    def box() -> tuple[int, int, int, int]:
        x0, y0 = rng.randrange(size // 2), rng.randrange(size // 2)
        return x0, y0, rng.randrange(x0 + 1, size), rng.randrange(y0 + 1, size)

    images = []
    for _ in range(n):
        image = Image.new("RGB", (size, size), colour())
        draw = ImageDraw.Draw(image)
        draw.rectangle(box(), fill=colour())
        draw.ellipse(box(), fill=colour())
        images.append(image)
    return images


@contextmanager
def offline_env() -> Iterator[None]:
    """Set HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE and HF_DATASETS_OFFLINE to 1, restoring them on exit.

    huggingface_hub reads HF_HUB_OFFLINE once, when imported; ``rlcore.models.load_model`` reads the variable
    at call time, so it honours this switch whenever it is entered.
    """
    saved = {name: os.environ.get(name) for name in OFFLINE_VARS}
    os.environ.update(dict.fromkeys(OFFLINE_VARS, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ------------------------------------------------------------------------------------------ pytest plugin


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped without one)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds (real model, subprocesses)")
    # Before any test imports huggingface_hub, which fixes its offline flag at import.
    for name in OFFLINE_VARS:
        os.environ.setdefault(name, "1")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return  # no torch import for runs without GPU tests
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in gpu_items:
        item.add_marker(skip)


try:
    import pytest
except ImportError:  # the factories above work without pytest; only the fixtures need it
    pytest = None

if pytest is not None:

    @pytest.fixture(name="tiny_lm")
    def _tiny_lm_fixture() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        return tiny_lm()

    @pytest.fixture(name="tiny_reward_model")
    def _tiny_reward_model_fixture() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        return tiny_reward_model()

    @pytest.fixture(name="tiny_vlm")
    def _tiny_vlm_fixture() -> tuple[PreTrainedModel, Any]:
        return tiny_vlm()

    @pytest.fixture(name="tiny_images")
    def _tiny_images_fixture() -> list[Image]:
        return tiny_images()

    @pytest.fixture(name="offline_env")
    def _offline_env_fixture() -> Iterator[None]:
        with offline_env():
            yield
