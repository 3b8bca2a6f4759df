"""The settings a recipe holds (``recipes/toy.yaml``, ``recipes/paper.yaml``), with the paper's defaults
(spec §3). Generation, evaluation and the interactive mode keep their own config classes
(:class:`~crosswordbench.generate.GenerationConfig`, :class:`~crosswordbench.evaluate.EvalConfig`,
:class:`~crosswordbench.interactive.InteractiveConfig`); this file gathers them with the data source, the
model and the training extension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from crosswordbench.evaluate import EvalConfig
from crosswordbench.interactive import InteractiveConfig
from crosswordbench.prompts import TEMPLATES
from rlcore.config import ConfigError

__all__ = [
    "BACKENDS",
    "Config",
    "CrossWordBenchConfig",
    "DataSettings",
    "GenerateSettings",
    "TrainSettings",
    "parse_size",
]

BACKENDS = ("hf", "vllm", "openai")


def parse_size(size: str) -> tuple[int, int]:
    """``"7x7"`` → ``(7, 7)``; anything else → ``ConfigError``."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(size))
    if not match:
        raise ConfigError(f"grid size must look like 7x7, got {size!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass
class GenerateSettings:
    """Puzzle generation (spec §2.2, §6 ``generate``): the paper made 100 English puzzles per size."""

    words: str = "bundled"
    """Word–clue list: "bundled" (WordNet, spec §5) or a .txt/.csv/.tsv path."""
    sizes: list[str] = field(default_factory=lambda: ["7x7", "14x14"])
    """Grid sizes in order; later sizes exclude the pairs used by earlier ones (paper: 7×7 and 14×14)."""
    n: int = 100
    seed: int = 1234
    restarts: int = 32
    """Layouts tried per attempt (reference code: as many as fit in 30 s of wall clock)."""
    passes: int = 5
    replacement: bool = False
    """Reuse word–clue pairs across puzzles (the paper: no reuse)."""
    engine: str = "indexed"

    def __post_init__(self) -> None:
        for size in self.sizes:
            parse_size(size)
        if self.n < 0:
            raise ConfigError(f"generate.n must be >= 0, got {self.n}")


@dataclass
class DataSettings:
    """Which puzzles are evaluated: a file, a hub id, or None for puzzles generated from ``generate``."""

    puzzles: str | None = None
    """``.jsonl``/``.json``/``.parquet`` of puzzles, or a hub id such as ``HINT-lab/CrossWordBench``."""
    hf_config: str = "english"
    """Hub subset: english, chinese, english_simple, commonsenseqa."""
    split: str = "7x7"
    """Hub split: 7x7 or 14x14 (english)."""
    limit: int | None = None


@dataclass
class TrainSettings:
    """GRPO on generated puzzles with ``wcr_reward`` + ``icr_reward`` (an extension, not in the paper)."""

    n_puzzles: int = 64
    size: str = "7x7"
    template: str = "text_cot"
    wcr_weight: float = 1.0
    icr_weight: float = 0.5
    num_generations: int = 8
    prompts_per_step: int = 8
    prompts_per_update: int = 8
    per_device_train_batch_size: int = 8
    max_completion_tokens: int = 1024
    learning_rate: float = 1e-6
    max_steps: int = 100
    temperature: float = 1.0
    beta: float = 0.0
    logging_steps: int = 1

    def __post_init__(self) -> None:
        parse_size(self.size)
        if self.template not in TEMPLATES:
            raise ConfigError(
                f"train.template: unknown template {self.template!r}; valid: {', '.join(TEMPLATES)}"
            )


@dataclass
class CrossWordBenchConfig:
    """A whole recipe: what to generate or load, which model, how to evaluate, the interactive mode and
    the training extension."""

    model: str | None = None
    """Model spec (``embedded:smollm2-135m-instruct``, a local dir, ``tiny:qwen2``, ...); ``--model``."""
    backend: str = "hf"
    """hf (transformers), vllm, or openai (an OpenAI-compatible server at ``base_url``)."""
    base_url: str | None = None
    templates: list[str] = field(default_factory=lambda: ["text_cot"])
    """Templates evaluated in turn; the paper's main ones are text_cot (LLMs) and img_cot (LVLMs)."""
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    data: DataSettings = field(default_factory=DataSettings)
    eval: EvalConfig = field(default_factory=EvalConfig)
    interactive: InteractiveConfig = field(default_factory=InteractiveConfig)
    train: TrainSettings = field(default_factory=TrainSettings)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}; valid: {', '.join(BACKENDS)}")
        for template in self.templates:
            if template not in TEMPLATES:
                raise ConfigError(f"templates: unknown template {template!r}; valid: {', '.join(TEMPLATES)}")

    def generator_spec(self, model: str | None = None) -> str:
        """The ``rlcore.rollout.make_generator`` spec of the model under ``backend``."""
        model = model or self.model
        if not model:
            raise ConfigError("no model: pass --model SPEC or set model in the recipe")
        if model.startswith(("hf:", "vllm:", "openai:")):
            return model
        if self.backend == "openai":
            if not self.base_url:
                raise ConfigError("backend openai needs --base-url URL (an OpenAI-compatible server)")
            return f"openai:{self.base_url}#{model}"
        return f"{self.backend}:{model}"


Config = CrossWordBenchConfig
