"""R-Zero's settings (spec §3). Defaults are the paper's (P), or the official code's (C) where the paper is
silent; ``recipes/code.yaml`` flips every paper-versus-code switch to the code's side.

Loaded with :func:`load_config` (YAML + dotted ``key=value`` overrides such as ``challenger.max_steps=0``);
a bad key or value is a :class:`rlcore.config.ConfigError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rlcore.config import check, check_choice
from rlcore.config import load_config as _load_config

__all__ = [
    "BACKENDS",
    "ChallengerConfig",
    "Config",
    "CurationConfig",
    "EvalConfig",
    "GRPOSettings",
    "RZeroConfig",
    "SolverConfig",
    "VotingConfig",
    "load_config",
]

BACKENDS = ("hf", "vllm", "openai")
MATH_BENCHMARKS = ("amc23", "minerva", "math500", "gsm8k", "olympiadbench", "aime25", "aime24")
GENERAL_BENCHMARKS = ("supergpqa", "mmlu_pro", "bbeh")


@dataclass
class GRPOSettings:
    """GRPO for both roles (paper §4.1 training details; code where the paper is silent)."""

    learning_rate: float = 1e-6
    """P: AdamW, constant schedule, no warm-up."""
    weight_decay: float = 0.01
    """P."""
    kl_coef: float = 0.01
    """P: the k3 KL estimator as a loss term (TRL ``beta``, no bias correction)."""
    clip_low: float = 0.2
    """C: TRL ``epsilon``."""
    clip_high: float = 0.3
    """C: TRL ``epsilon_high`` (clip-higher); ``loss_type="dapo"``, token-mean loss."""
    max_grad_norm: float = 1.0
    """C."""
    temperature: float = 1.0
    """P: rollout temperature."""
    top_p: float = 0.99
    """P: rollout nucleus."""
    prompts_per_step: int = 512
    """C: prompts per rollout step (one step samples prompts_per_step × group_size completions)."""
    per_device_train_batch_size: int = 4
    """Completions per device per micro-batch (a memory knob; does not change the method)."""
    loss_type: str = "dapo"
    """C: token-level mean over the batch (EasyR1's token-mean)."""
    bf16: bool | None = None
    """None: bf16 when a CUDA device supports it (rlcore's CPU-safe default otherwise)."""
    gradient_checkpointing: bool = False
    use_vllm: bool = False
    """Policy rollouts through TRL's colocated vLLM engine (paper scale)."""
    logging_steps: int = 1

    def __post_init__(self) -> None:
        check(
            self.prompts_per_step >= 1, "grpo.prompts_per_step", f"must be >= 1, got {self.prompts_per_step}"
        )
        check(self.learning_rate >= 0, "grpo.learning_rate", f"must be >= 0, got {self.learning_rate}")
        check(self.kl_coef >= 0, "grpo.kl_coef", f"must be >= 0, got {self.kl_coef}")
        check(
            self.per_device_train_batch_size >= 1,
            "grpo.per_device_train_batch_size",
            f"must be >= 1, got {self.per_device_train_batch_size}",
        )


@dataclass
class ChallengerConfig:
    """The Challenger phase (paper §3.2)."""

    group_size: int = 4
    """P: G completions per prompt."""
    global_batch: int = 128
    """P: prompts per optimizer update (code: 16)."""
    max_steps: int = 5
    """P: rollout steps per iteration; 0 keeps the input model (the "Base Challenger" ablation)."""
    max_new_tokens: int = 4096
    """C."""
    bleu_threshold: float = 0.5
    """P: τ_BLEU, the clustering threshold on BLEU distance."""
    penalty_weight: float = 1.0
    """P: λ of r_rep = λ·|C_k|/B."""
    penalty_scope: str = "batch"
    """"batch": B is the whole rollout step, gathered over processes (as the code); "group": per prompt_id."""
    reward_form: str = "paper"
    """"paper": max(0, r_unc − r_rep), malformed → 0; "code": min(p̂, 1 − p̂) − r_rep, malformed → −1 − r_rep."""
    bleu_workers: int = 1
    """Processes for the BLEU matrix (rlcore's ``workers``); GPU hosts have cores to spare."""

    def __post_init__(self) -> None:
        check(self.group_size >= 2, "challenger.group_size", f"must be >= 2, got {self.group_size}")
        check(self.global_batch >= 1, "challenger.global_batch", f"must be >= 1, got {self.global_batch}")
        check(self.max_steps >= 0, "challenger.max_steps", f"must be >= 0, got {self.max_steps}")
        check(
            self.bleu_threshold >= 0, "challenger.bleu_threshold", f"must be >= 0, got {self.bleu_threshold}"
        )
        check(
            self.penalty_weight >= 0, "challenger.penalty_weight", f"must be >= 0, got {self.penalty_weight}"
        )
        check_choice(self.penalty_scope, "challenger.penalty_scope", ("batch", "group"))
        check_choice(self.reward_form, "challenger.reward_form", ("paper", "code"))
        check(self.bleu_workers >= 1, "challenger.bleu_workers", f"must be >= 1, got {self.bleu_workers}")


@dataclass
class SolverConfig:
    """The Solver phase (paper §3.3)."""

    group_size: int = 5
    """P."""
    global_batch: int = 128
    """P."""
    max_steps: int = 15
    """P."""
    max_new_tokens: int = 4096
    """C."""
    reward_form: str = "binary"
    """"binary": 1 iff the boxed answer matches the pseudo-label (P); "code": 0.9·match + 0.1·format."""
    min_examples: int = 1
    """Fewer kept records than this skip the Solver phase (with a warning)."""

    def __post_init__(self) -> None:
        check(self.group_size >= 2, "solver.group_size", f"must be >= 2, got {self.group_size}")
        check(self.global_batch >= 1, "solver.global_batch", f"must be >= 1, got {self.global_batch}")
        check(self.max_steps >= 0, "solver.max_steps", f"must be >= 0, got {self.max_steps}")
        check_choice(self.reward_form, "solver.reward_form", ("binary", "code"))
        check(self.min_examples >= 0, "solver.min_examples", f"must be >= 0, got {self.min_examples}")


@dataclass
class VotingConfig:
    """How the frozen Solver is sampled for the Challenger reward and the dataset (P: m = 10; C: sampling)."""

    num_samples: int = 10
    """P: m, Solver samples per question."""
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 40
    max_new_tokens: int = 4096
    backend: str = "hf"
    """"hf" (in-process transformers), "vllm" (an in-process vLLM engine), or "openai" (a ``vllm serve``
    endpoint at ``base_url`` serving the Solver: the paper's 4 + 4 GPU layout)."""
    base_url: str | None = None
    served_model: str | None = None
    """Model name the ``openai`` endpoint serves (default: the Solver's path)."""

    def __post_init__(self) -> None:
        check(self.num_samples >= 1, "voting.num_samples", f"must be >= 1, got {self.num_samples}")
        check_choice(self.backend, "voting.backend", BACKENDS)
        check(
            self.backend != "openai" or bool(self.base_url),
            "voting.base_url",
            "backend openai needs a base_url",
        )
        check(self.max_new_tokens >= 1, "voting.max_new_tokens", f"must be >= 1, got {self.max_new_tokens}")


@dataclass
class CurationConfig:
    """The dataset phase (paper §3.3)."""

    num_questions: int = 8000
    """P: N Challenger samples per iteration."""
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 4096
    num_samples: int | None = None
    """m for pseudo-labels; None = ``voting.num_samples`` (P: 10; code: 9)."""
    keep_low: float = 0.25
    """P: keep |p̂ − ½| ≤ 0.25 (code: 0.3)."""
    keep_high: float = 0.75
    """P (code: 0.8)."""
    require_challenger_answer: bool = False
    """C: drop questions whose Challenger output has no ``\\boxed{}``."""
    code_filters: bool = False
    """C: also drop problems containing "证明"/"box" and answers containing "text"."""

    def __post_init__(self) -> None:
        check(self.num_questions >= 0, "curation.num_questions", f"must be >= 0, got {self.num_questions}")
        check(
            self.num_samples is None or self.num_samples >= 1,
            "curation.num_samples",
            f"must be >= 1, got {self.num_samples}",
        )
        check(
            self.keep_low <= self.keep_high,
            "curation.keep_low",
            f"keep_low {self.keep_low} is above keep_high {self.keep_high}",
        )


@dataclass
class EvalConfig:
    """The evaluation protocol (spec §7)."""

    benchmarks: list[str] = field(default_factory=lambda: [*MATH_BENCHMARKS, *GENERAL_BENCHMARKS])
    temperature: float = 0.0
    """Greedy decoding (mean@32 under greedy equals plain accuracy)."""
    max_new_tokens: int = 4096
    """Math benchmarks."""
    general_max_new_tokens: int = 8192
    """SuperGPQA, MMLU-Pro, BBEH."""
    num_samples: int = 1
    """k of mean@k (with temperature > 0)."""
    limit: int | None = None
    """Items per benchmark (None: all)."""
    random_letter_fallback: bool = False
    """C: a multiple-choice answer without a letter draws a random letter instead of counting wrong."""
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.num_samples >= 1, "evaluation.num_samples", f"must be >= 1, got {self.num_samples}")
        check(self.limit is None or self.limit >= 1, "evaluation.limit", f"must be >= 1, got {self.limit}")


@dataclass
class RZeroConfig:
    """A whole R-Zero run."""

    model: str = "Qwen/Qwen3-4B-Base"
    """P: the base model both roles start from (a hub id, local dir, ``embedded:…`` or ``tiny:…``)."""
    iterations: int = 3
    """P."""
    seed: int = 1
    """C."""
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    challenger: ChallengerConfig = field(default_factory=ChallengerConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    voting: VotingConfig = field(default_factory=VotingConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        check(self.iterations >= 0, "iterations", f"must be >= 0, got {self.iterations}")
        for role in ("challenger", "solver"):
            batch = getattr(self, role).global_batch
            check(
                self.grpo.prompts_per_step % batch == 0,
                "grpo.prompts_per_step",
                f"{self.grpo.prompts_per_step} is not a multiple of {role}.global_batch {batch}",
            )

    @property
    def dataset_samples(self) -> int:
        """m of the dataset phase: ``curation.num_samples`` or else ``voting.num_samples``."""
        return self.curation.num_samples or self.voting.num_samples


Config = RZeroConfig


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> RZeroConfig:
    """A config from a YAML recipe (None: the defaults) plus ``key=value`` overrides."""
    return _load_config(RZeroConfig, path, overrides)
