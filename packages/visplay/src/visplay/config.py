"""VisPlay's settings (spec §3). The defaults reproduce the paper's Qwen2.5-VL-3B run (arXiv 2511.15661,
§4 and appendix A.2); where the paper and the reference code (``bruno686/VisPlay``) disagree, the paper is the
default and the code is a switch, named in each field's docstring.

Loaded with :func:`load_config` (YAML recipe plus dotted ``key=value`` overrides such as
``questioner.steps=0``); an unknown key, a wrong type or an invalid value is a
:class:`rlcore.config.ConfigError` naming the key and the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcore.config import check, check_choice
from rlcore.config import load_config as _load_config
from visplay.data import BENCHMARKS

__all__ = [
    "BACKENDS",
    "BENCHMARK_NAMES",
    "Config",
    "CurationConfig",
    "EvaluationConfig",
    "OptimConfig",
    "QuestionerConfig",
    "ReasonerConfig",
    "RewardConfig",
    "VisPlayConfig",
    "load_config",
]

BACKENDS = ("hf", "vllm")
"""How the frozen models are sampled for rewards, questions and labels: in-process transformers or vLLM."""
BENCHMARK_NAMES = tuple(BENCHMARKS)
"""The paper's seven evaluation benchmarks (:data:`visplay.data.BENCHMARKS`), in the order of spec §5's table;
``--benchmark all`` and the default ``evaluation.benchmarks``."""


def _positive(value: int, key: str) -> None:
    check(value >= 1, key, f"must be >= 1, got {value}")


@dataclass
class QuestionerConfig:
    """Stage 1: GRPO on the Image-Conditioned Questioner against the frozen Reasoner (paper §3.2)."""

    question_format: str = "question"
    """Paper: one ``<question>`` block. ``"typed"``: the code's ``<type>``, ``<question>``, ``<answer>`` blocks."""
    steps: int = 20
    """Rollout steps per iteration (paper A.2, 3B; 7B: 10; the current code: 40). 0 skips stage 1 and keeps
    the previous Questioner (the paper's "challenger" row)."""
    group_size: int = 8
    """G: questions sampled per image."""
    images_per_step: int = 512
    """Images per rollout step (images_per_step · G completions)."""
    images_per_update: int = 128
    """Images per optimizer update: images_per_step / images_per_update updates per rollout step."""
    max_new_tokens: int = 2048
    temperature: float = 1.0
    top_p: float = 0.99

    def __post_init__(self) -> None:
        check_choice(self.question_format, "questioner.question_format", ("question", "typed"))
        check(self.steps >= 0, "questioner.steps", f"must be >= 0, got {self.steps}")
        check(self.group_size >= 2, "questioner.group_size", f"must be >= 2, got {self.group_size}")
        _positive(self.images_per_step, "questioner.images_per_step")
        _positive(self.images_per_update, "questioner.images_per_update")
        check(
            self.images_per_step % self.images_per_update == 0,
            "questioner.images_per_step",
            f"{self.images_per_step} is not a multiple of questioner.images_per_update {self.images_per_update}",
        )
        _positive(self.max_new_tokens, "questioner.max_new_tokens")
        check(self.temperature > 0, "questioner.temperature", f"must be > 0, got {self.temperature}")
        check(0 < self.top_p <= 1, "questioner.top_p", f"must be in (0, 1], got {self.top_p}")


@dataclass
class ReasonerConfig:
    """Stage 3: GRPO on the Multimodal Reasoner with the silver labels of the curated set (paper §3.3)."""

    reward_mode: str = "paper"
    """Paper: binary accuracy. ``"code"``: 0.9·accuracy + 0.1·``<think>`` format."""
    steps: int = 20
    """Rollout steps per iteration (paper A.2, 3B; 7B: 10; the current code: 20)."""
    group_size: int = 8
    """G: answers sampled per question."""
    questions_per_step: int = 512
    questions_per_update: int = 128
    max_new_tokens: int = 4096
    temperature: float = 1.0
    """Rollout sampling (EasyR1's rollout settings, as for the Questioner)."""
    top_p: float = 0.99

    def __post_init__(self) -> None:
        check_choice(self.reward_mode, "reasoner.reward_mode", ("paper", "code"))
        check(self.steps >= 0, "reasoner.steps", f"must be >= 0, got {self.steps}")
        check(self.group_size >= 2, "reasoner.group_size", f"must be >= 2, got {self.group_size}")
        _positive(self.questions_per_step, "reasoner.questions_per_step")
        _positive(self.questions_per_update, "reasoner.questions_per_update")
        check(
            self.questions_per_step % self.questions_per_update == 0,
            "reasoner.questions_per_step",
            f"{self.questions_per_step} is not a multiple of reasoner.questions_per_update "
            f"{self.questions_per_update}",
        )
        _positive(self.max_new_tokens, "reasoner.max_new_tokens")
        check(self.temperature > 0, "reasoner.temperature", f"must be > 0, got {self.temperature}")
        check(0 < self.top_p <= 1, "reasoner.top_p", f"must be in (0, 1], got {self.top_p}")


@dataclass
class RewardConfig:
    """The Questioner's reward: uncertainty of the frozen Reasoner's m answers minus the diversity penalty."""

    mode: str = "paper"
    """Paper: valid·max(0, r_unc − r_div), invalid 0. ``"code"``: min(c, 1 − c) − r_div, invalid −1 − r_div."""
    diversity_scope: str = "image"
    """Paper: cluster the G questions of each image. ``"batch"``: the whole reward call (the code)."""
    diversity_weight: float = 1.0
    """λ of r_div = λ·|C(i)|/G; unstated in the paper, R-Zero's value."""
    bleu_threshold: float = 0.5
    """τ: questions cluster while their average BLEU distance is strictly below it."""
    num_reasoner_samples: int = 10
    """m: Reasoner answers per question; the confidence c is the majority's share of them."""
    reasoner_prompt: str = "reasoning"
    """Paper: one reasoning prompt everywhere. ``"answer_only"``: the code's answer-only reward server."""
    reasoner_max_new_tokens: int = 4096
    reasoner_temperature: float = 1.0
    reasoner_top_p: float = 1.0
    reasoner_top_k: int = 40

    def __post_init__(self) -> None:
        check_choice(self.mode, "reward.mode", ("paper", "code"))
        check_choice(self.diversity_scope, "reward.diversity_scope", ("image", "batch"))
        check(
            self.diversity_weight >= 0,
            "reward.diversity_weight",
            f"must be >= 0, got {self.diversity_weight}",
        )
        check(
            0 < self.bleu_threshold <= 1,
            "reward.bleu_threshold",
            f"must be in (0, 1], got {self.bleu_threshold}",
        )
        _positive(self.num_reasoner_samples, "reward.num_reasoner_samples")
        check_choice(self.reasoner_prompt, "reward.reasoner_prompt", ("reasoning", "answer_only"))
        _positive(self.reasoner_max_new_tokens, "reward.reasoner_max_new_tokens")
        check(
            self.reasoner_temperature >= 0,
            "reward.reasoner_temperature",
            f"must be >= 0, got {self.reasoner_temperature}",
        )
        check(
            0 < self.reasoner_top_p <= 1,
            "reward.reasoner_top_p",
            f"must be in (0, 1], got {self.reasoner_top_p}",
        )
        check(self.reasoner_top_k >= 0, "reward.reasoner_top_k", f"must be >= 0, got {self.reasoner_top_k}")


@dataclass
class CurationConfig:
    """Stage 2: the trained Questioner writes N questions per image, the frozen Reasoner labels them by majority
    vote, and only the informative ones (confidence inside the band) are kept (paper §3.3)."""

    num_images: int = 1000
    questions_per_image: int = 8
    """N."""
    image_selection: str = "random"
    """Paper: a fresh random subset every iteration (seed + iteration). ``"first"``: the code's first images."""
    num_reasoner_samples: int = 10
    """m at curation (the code: 9)."""
    tau_low: float = 0.25
    """Keep τ_low ≤ c ≤ τ_high (the code: [0.3, 0.8])."""
    tau_high: float = 0.75
    budget: int | None = None
    """Keep at most this many questions (None: all)."""
    temperature: float = 1.0
    """Questioner sampling for the candidates."""
    top_p: float = 0.95

    def __post_init__(self) -> None:
        check(self.num_images >= 0, "curation.num_images", f"must be >= 0, got {self.num_images}")
        _positive(self.questions_per_image, "curation.questions_per_image")
        check_choice(self.image_selection, "curation.image_selection", ("random", "first"))
        _positive(self.num_reasoner_samples, "curation.num_reasoner_samples")
        check(0 <= self.tau_low <= 1, "curation.tau_low", f"must be in [0, 1], got {self.tau_low}")
        check(0 <= self.tau_high <= 1, "curation.tau_high", f"must be in [0, 1], got {self.tau_high}")
        check(
            self.tau_low <= self.tau_high,
            "curation.tau_low",
            f"tau_low {self.tau_low} is above tau_high {self.tau_high}",
        )
        check(self.budget is None or self.budget >= 0, "curation.budget", f"must be >= 0, got {self.budget}")
        check(self.temperature > 0, "curation.temperature", f"must be > 0, got {self.temperature}")
        check(0 < self.top_p <= 1, "curation.top_p", f"must be in (0, 1], got {self.top_p}")


@dataclass
class OptimConfig:
    """GRPO optimisation for both roles (paper A.2; EasyR1 defaults where the paper is silent)."""

    learning_rate: float = 1e-6
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    kl_coef: float = 0.01
    """β of the k3 KL estimator, a loss term against the iteration's starting model (0: no reference model)."""
    clip_low: float = 0.2
    """ε_low of the clipped ratio."""
    clip_high: float = 0.3
    """ε_high (clip-higher)."""
    dual_clip: float = 3.0
    """Dual-clip bound on the ratio for negative advantages (TRL ``delta``)."""
    freeze_vision_tower: bool = False
    per_device_train_batch_size: int = 8
    """Completions per device per micro-batch: a memory knob that does not change the method."""
    bf16: bool | None = None
    """None: rlcore's choice (off on CPU, TRL's default on GPU)."""
    gradient_checkpointing: bool = False
    use_vllm: bool = False
    """Policy rollouts through TRL's colocated vLLM engine (paper scale)."""
    logging_steps: int = 1

    def __post_init__(self) -> None:
        check(self.learning_rate >= 0, "optim.learning_rate", f"must be >= 0, got {self.learning_rate}")
        check(self.weight_decay >= 0, "optim.weight_decay", f"must be >= 0, got {self.weight_decay}")
        check(self.max_grad_norm > 0, "optim.max_grad_norm", f"must be > 0, got {self.max_grad_norm}")
        check(self.kl_coef >= 0, "optim.kl_coef", f"must be >= 0, got {self.kl_coef}")
        check(self.clip_low > 0, "optim.clip_low", f"must be > 0, got {self.clip_low}")
        check(self.clip_high > 0, "optim.clip_high", f"must be > 0, got {self.clip_high}")
        check(
            self.dual_clip > 1 + self.clip_high,
            "optim.dual_clip",
            f"must be above 1 + clip_high = {1 + self.clip_high}, got {self.dual_clip}",
        )
        _positive(self.per_device_train_batch_size, "optim.per_device_train_batch_size")
        _positive(self.logging_steps, "optim.logging_steps")


@dataclass
class EvaluationConfig:
    """Evaluation of each Reasoner (spec §7): greedy decoding, the reasoning prompt, rule or judge scoring."""

    benchmarks: list[str] = field(default_factory=lambda: list(BENCHMARK_NAMES))
    """Benchmark names (spec §5), ``sample`` (the bundled eval split) or local jsonl/parquet files."""
    limit: int | None = None
    """Items per benchmark (None: all)."""
    max_new_tokens: int = 4096
    batch_size: int = 16
    judge: str = "rule"
    """``"rule"``: boxed answer equivalent to the gold one. ``"openai"``: an OpenAI-compatible judge model."""
    judge_url: str | None = None
    judge_model: str | None = None

    def __post_init__(self) -> None:
        check(len(self.benchmarks) >= 1, "evaluation.benchmarks", "needs at least one benchmark")
        check(self.limit is None or self.limit >= 1, "evaluation.limit", f"must be >= 1, got {self.limit}")
        _positive(self.max_new_tokens, "evaluation.max_new_tokens")
        _positive(self.batch_size, "evaluation.batch_size")
        check_choice(self.judge, "evaluation.judge", ("rule", "openai"))
        check(
            self.judge != "openai" or bool(self.judge_url and self.judge_model),
            "evaluation.judge_url",
            "judge openai needs judge_url and judge_model",
        )


@dataclass
class VisPlayConfig:
    """A whole VisPlay run (spec §3, §6)."""

    model: str = "Qwen/Qwen2.5-VL-3B-Instruct"
    """The base VLM both roles start from (also Qwen2.5-VL-7B-Instruct and XiaomiMiMo/MiMo-VL-7B-SFT)."""
    images: str = "LMMs-Lab-Turtle/Vision-SR1-47K"
    """Unlabelled training images: a hub id, a folder, a jsonl/parquet/csv file, or ``sample``."""
    image_column: str = "images"
    iterations: int = 3
    seed: int = 0
    image_resize: str = "fixed"
    """Paper: every image resized to image_size × image_size. ``"pixels"``: the code's min/max pixel bounds."""
    image_size: int = 224
    min_pixels: int = 262144
    max_pixels: int = 4194304
    format_warmup_steps: int = 0
    """Toy only (spec §6): SFT steps on gold questions and boxed answers before iteration 1, so that a random
    tiny model writes tags and boxes. 0 (the paper): no warm-up."""
    format_warmup_learning_rate: float = 1e-3
    format_warmup_batch_size: int = 8
    backend: str = "hf"
    """Sampling of the frozen Questioner and Reasoner outside GRPO: ``hf`` or ``vllm`` (GPU)."""
    torch_threads: int | None = None
    """CPU threads of torch for the CLI's model-running commands (None: torch's default). The toy recipe uses 1:
    a 115k-parameter model gains nothing from intra-op parallelism and loses much to it on a busy machine."""
    vllm_gpu_memory_utilization: float = 0.3
    """GPU memory share of a ``backend: vllm`` engine, which shares the GPU with GRPO training."""
    generation_batch_size: int = 16
    """Prompts per generate call when writing and labelling questions (bounds memory on the hf backend)."""
    questioner: QuestionerConfig = field(default_factory=QuestionerConfig)
    reasoner: ReasonerConfig = field(default_factory=ReasonerConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def __post_init__(self) -> None:
        check(bool(self.model.strip()), "model", "must not be empty")
        check(self.iterations >= 1, "iterations", f"must be >= 1, got {self.iterations}")
        check_choice(self.image_resize, "image_resize", ("fixed", "pixels"))
        check(self.image_size >= 28, "image_size", f"must be >= 28, got {self.image_size}")
        check(self.min_pixels >= 1, "min_pixels", f"must be >= 1, got {self.min_pixels}")
        check(
            self.max_pixels >= self.min_pixels,
            "max_pixels",
            f"{self.max_pixels} is below min_pixels {self.min_pixels}",
        )
        check(
            self.format_warmup_steps >= 0,
            "format_warmup_steps",
            f"must be >= 0, got {self.format_warmup_steps}",
        )
        check(
            self.format_warmup_learning_rate > 0,
            "format_warmup_learning_rate",
            f"must be > 0, got {self.format_warmup_learning_rate}",
        )
        _positive(self.format_warmup_batch_size, "format_warmup_batch_size")
        check_choice(self.backend, "backend", BACKENDS)
        check(
            self.torch_threads is None or self.torch_threads >= 1,
            "torch_threads",
            f"must be >= 1, got {self.torch_threads}",
        )
        check(
            0 < self.vllm_gpu_memory_utilization <= 1,
            "vllm_gpu_memory_utilization",
            f"must be in (0, 1], got {self.vllm_gpu_memory_utilization}",
        )
        _positive(self.generation_batch_size, "generation_batch_size")

    def grpo_args(self, role: str, *, world_size: int | None = None) -> dict[str, Any]:
        """``trl.GRPOConfig`` keywords for ``role`` (``"questioner"`` or ``"reasoner"``): spec §3's mapping.

        Batch sizes count images (questions) per rollout step and per optimizer update, so one step makes
        per_step / per_update optimizer updates and TRL's ``max_steps`` (which counts updates) is
        ``steps · per_step / per_update``. ``output_dir`` and ``seed`` are left to the caller.
        """
        from rlcore.train import grpo_batch_args

        if role == "questioner":
            phase = self.questioner
            per_step, per_update = phase.images_per_step, phase.images_per_update
        elif role == "reasoner":
            phase = self.reasoner
            per_step, per_update = phase.questions_per_step, phase.questions_per_update
        else:
            raise ValueError(f"role must be 'questioner' or 'reasoner', got {role!r}")
        opt = self.optim
        batch = grpo_batch_args(
            per_step,
            per_update,
            phase.group_size,
            per_device_train_batch_size=opt.per_device_train_batch_size,
            world_size=world_size,
        )
        args: dict[str, Any] = {
            "learning_rate": opt.learning_rate,
            "weight_decay": opt.weight_decay,
            "max_grad_norm": opt.max_grad_norm,
            "lr_scheduler_type": "constant",
            "beta": opt.kl_coef,
            "use_bias_correction_kl": False,  # EasyR1's plain low-variance (k3) KL
            "epsilon": opt.clip_low,
            "epsilon_high": opt.clip_high,
            "delta": opt.dual_clip,
            "loss_type": "dapo",  # token mean
            "scale_rewards": "group",
            "num_iterations": 1,
            "temperature": phase.temperature,
            "top_p": phase.top_p,
            "max_completion_length": phase.max_new_tokens,
            "max_steps": phase.steps * (per_step // per_update),
            "remove_unused_columns": False,  # image, image_id and answer reach the reward functions
            "logging_steps": opt.logging_steps,
            "gradient_checkpointing": opt.gradient_checkpointing,
            "save_strategy": "no",
            **batch,
        }
        if opt.bf16 is not None:
            args["bf16"] = opt.bf16
        if opt.use_vllm:
            args.update(use_vllm=True, vllm_mode="colocate")
        return args


Config = VisPlayConfig


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> VisPlayConfig:
    """A config from a YAML recipe (None: the defaults of spec §3) plus dotted ``key=value`` overrides."""
    return _load_config(VisPlayConfig, path, overrides)
