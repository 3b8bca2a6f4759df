"""LARA's settings (spec §3), loaded with ``rlcore.config.load_config`` (YAML + ``key=value`` overrides).

Where the paper and the official code (``Chengsong-Huang/LARA``) disagree, the default is the paper's and the
field's comment names the code's value; ``recipes/official-code.yaml`` sets every such switch to the code's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlcore.config import check, check_choice

__all__ = [
    "DATASETS",
    "EXTRACTION_MODES",
    "FINAL_MODES",
    "LOSSES",
    "OPTIMIZERS",
    "Config",
    "LaraConfig",
    "dataset_preset",
]

DATASETS = ("bbh", "mmlu", "sample")
OPTIMIZERS = ("cma", "ngopt", "exhaustive")
FINAL_MODES = ("best", "last")
LOSSES = ("teacher_forced", "greedy_substitute")
EXTRACTION_MODES = ("clean", "official")
METHOD_NAMES = ("icl", "icl_truncated", "uniform", "lara", "blara")

_PRESETS = {
    "bbh": {"shuffle_demos": True, "test_start": None, "max_test": None},
    "sample": {"shuffle_demos": True, "test_start": None, "max_test": None},
    "mmlu": {"shuffle_demos": False, "test_start": 64, "max_test": 200},
}


@dataclass
class LaraConfig:
    """One LARA run: data, model, the weight search and the evaluation (spec §3)."""

    model: str = "meta-llama/Meta-Llama-3.1-8B"
    """The README's model (the official code defaults to Mistral-7B-v0.3); any ``rlcore.models`` spec."""
    dataset: str = "bbh"
    """``bbh``, ``mmlu`` (task = subject), ``sample`` (a bundled generated task) or a data file path."""
    task: str | None = "date_understanding"
    """BBH task, MMLU subject or sample task (ignored for a path)."""
    n_demos: int = 32
    """N demonstrations (paper: 32)."""
    group_sizes: list[int] = field(default_factory=lambda: [2, 4, 8])
    """Candidate group sizes k; those with 1 <= k < N//2 are tried and the best cross-fit loss wins."""
    binary: bool = False
    """True = B-LARA (weights in {0, 1}; unselected groups are never run)."""
    optimizer: str = "cma"
    """Paper/README: CMA-ES. Official code: ``ngopt`` (nevergrad's NGOpt). ``exhaustive``: every binary mask."""
    budget: int = 20
    """Objective evaluations per k."""
    weight_bounds: list[float] = field(default_factory=lambda: [-1.5, 1.5])
    """The continuous search box; the search starts from 1/G."""
    final_candidate: str = "best"
    """``best``: the evaluated candidate with the lowest loss. Official code: ``last`` (one more ask)."""
    loss: str = "teacher_forced"
    """Paper: NLL of the held-out demos' targets. Official code: ``greedy_substitute``."""
    cache_group_logprobs: bool = True
    """Compute each (group, held-out example) log-prob tensor once per k (exact; only affects speed)."""
    extraction: str = "clean"
    """Answer extraction: ``clean`` or the official containment walk ``official``."""
    max_new_tokens: int = 10
    """Paper: 10."""
    stop: list[str] = field(default_factory=list)
    seed: int = 77
    """Demo shuffle and optimiser seed (paper/code: 77)."""
    shuffle_demos: bool | None = None
    """None: the dataset's preset (bbh/sample: True; mmlu: False)."""
    test_start: int | None = None
    """None: the preset (bbh/sample: right after the demos; mmlu: 64)."""
    max_test: int | None = None
    """None: the preset (bbh/sample: all; mmlu: 200)."""
    group_batch_size: int | None = None
    """Engine: None = all active groups in one batch; b = at most b groups per forward call."""
    prefix_cache: bool = False
    """Engine: keep each group prefix's KV cache and reuse it for every query."""
    truncated_demos: int | None = None
    """``icl_truncated``: first m demos (None: the largest candidate k, one LARA group's context)."""
    group_size: int | None = None
    """``uniform``: k when the run has no fit (then 4)."""
    methods: list[str] = field(default_factory=lambda: ["icl", "icl_truncated", "uniform", "lara"])
    """Methods ``lara evaluate`` runs."""
    dtype: str = "auto"
    """auto: bfloat16 on CUDA, float32 on CPU."""
    device: str = "auto"

    def __post_init__(self) -> None:
        check(self.n_demos >= 1, "n_demos", f"must be >= 1, got {self.n_demos}")
        check(
            bool(self.group_sizes) and all(k >= 1 for k in self.group_sizes),
            "group_sizes",
            "must be >= 1 each",
        )
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check(self.budget >= 1, "budget", f"must be >= 1, got {self.budget}")
        check(
            len(self.weight_bounds) == 2 and self.weight_bounds[0] < self.weight_bounds[1],
            "weight_bounds",
            f"must be [low, high] with low < high, got {self.weight_bounds}",
        )
        check_choice(self.final_candidate, "final_candidate", FINAL_MODES)
        check_choice(self.loss, "loss", LOSSES)
        check_choice(self.extraction, "extraction", EXTRACTION_MODES)
        check(self.max_new_tokens >= 1, "max_new_tokens", f"must be >= 1, got {self.max_new_tokens}")
        check(
            self.group_batch_size is None or self.group_batch_size >= 1,
            "group_batch_size",
            f"must be >= 1, got {self.group_batch_size}",
        )
        for method in self.methods:
            check_choice(method, "methods", METHOD_NAMES)
        check(
            self.optimizer != "exhaustive" or self.binary, "optimizer", "exhaustive search needs binary: true"
        )

    @property
    def task_format(self) -> str:
        """``mmlu`` for MMLU, else ``bbh`` (BBH, the sample tasks and data files)."""
        return "mmlu" if self.dataset == "mmlu" else "bbh"

    def resolved(self) -> dict:
        """``shuffle_demos``, ``test_start`` and ``max_test`` with the dataset preset filled in."""
        preset = _PRESETS.get(self.dataset, _PRESETS["bbh"])
        return {
            name: getattr(self, name) if getattr(self, name) is not None else preset[name]
            for name in ("shuffle_demos", "test_start", "max_test")
        }


def dataset_preset(dataset: str) -> dict:
    """The split preset of a dataset (spec §3): shuffle_demos, test_start, max_test."""
    return dict(_PRESETS.get(dataset, _PRESETS["bbh"]))


Config = LaraConfig
