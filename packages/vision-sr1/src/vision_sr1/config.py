"""Vision-SR1's settings (spec sections 2.7 and 3), with the official 7B self-reward recipe as defaults.

Sources cited per field: "paper" = arXiv 2508.19652, "code" = zli12321/Vision-SR1 (EasyR1/verl, main branch;
the multi-reward variant on branch ``embedding-decomposition``). Loaded with :func:`load_config` (YAML recipe
plus dotted ``key=value`` overrides through ``rlcore.config``); invalid values raise
``rlcore.config.ConfigError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rlcore.config import ConfigError, check, check_choice
from rlcore.config import load_config as _load_config
from vision_sr1.prompts import PROMPT_STYLES

__all__ = [
    "CHANNELS",
    "GENERATION_BACKENDS",
    "JUDGE_RULES",
    "METHODS",
    "MISSING_DESCRIPTION_MODES",
    "POLICY_LOSSES",
    "ColdStartConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "RLConfig",
    "VisionSR1Config",
    "load_config",
]

METHODS = ("vision_sr1", "see_think", "vision_r1")
"""``vision_sr1``: see-think format + visual self-reward; ``see_think``: the ablation without self-reward;
``vision_r1``: the chain-of-thought baseline (no description)."""
POLICY_LOSSES = ("single_reward", "multi_reward")
"""``single_reward``: paper v1 (one summed reward, TRL group normalisation); ``multi_reward``: v2 (each reward
channel normalised separately, per-channel clipped loss summed)."""
MISSING_DESCRIPTION_MODES = ("strict", "official")
CHANNELS = ("accuracy", "format", "visual")
GENERATION_BACKENDS = ("hf", "vllm")
JUDGE_RULES = ("strict", "official")


def _positive(value: float, key: str) -> None:
    check(value > 0, key, f"must be > 0, got {value!r}")


@dataclass
class DataConfig:
    """Where the data comes from (spec section 5). Sources are local jsonl/json/parquet/csv files or hub ids."""

    train: str = "LMMs-Lab-Turtle/Vision-SR1-47K"
    """RL prompts (code: ``data.train_files``): ~47K items from 23 public sources."""
    train_split: str = "train"
    cold_start: str = "LMMs-Lab-Turtle/Vision-SR1-Cold-9K"
    """Cold-start SFT set (paper: 9K image-question pairs x 3 response types, sharegpt messages)."""
    validation: str = "zli12321/mmstar"
    """Validation set evaluated every ``rl.eval_every`` steps (code: ``data.val_files``)."""
    validation_split: str = "test"
    problem_key: str = "problem"
    """Question column (code: ``data.prompt_key``)."""
    answer_key: str = "answer"
    """Gold-answer column (code: ``data.answer_key``)."""
    image_key: str = "images"
    """Image-list column (code: ``data.image_key``)."""
    limit: int | None = None
    """Keep only the first ``limit`` training records (None = all)."""

    def __post_init__(self) -> None:
        for key in ("problem_key", "answer_key", "image_key"):
            check(bool(getattr(self, key)), f"data.{key}", "must be a non-empty column name")
        check(
            self.limit is None or self.limit >= 1, "data.limit", f"must be >= 1 or null, got {self.limit!r}"
        )


@dataclass
class ColdStartConfig:
    """Cold-start SFT (paper section 3.3; code: LLaMA-Factory recipe of the released cold-start models)."""

    model: str = "Qwen/Qwen2.5-VL-7B-Instruct"
    """Base model (the 3B recipe starts from ``Qwen/Qwen2.5-VL-3B-Instruct``)."""
    learning_rate: float = 1e-5
    """Code recipe."""
    epochs: float = 3.0
    """Code recipe: 3 epochs."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run ``epochs``); toy runs only."""
    lr_scheduler: str = "cosine"
    """Code recipe: cosine schedule."""
    warmup_ratio: float = 0.1
    """Code recipe."""
    per_device_batch_size: int = 8
    """Code recipe: 8 per device ..."""
    gradient_accumulation_steps: int = 2
    """... x 2 accumulation steps."""
    max_length: int = 4092
    """Code recipe's cutoff length (sic, 4092)."""
    freeze_vision_tower: bool = True
    """Paper/code: vision tower and projector frozen during cold start."""
    image_max_pixels: int = 262144
    """Code recipe: images resized to at most 512x512 pixels."""
    variants: tuple[str, ...] = ("see_think", "cot", "text")
    """Paper: three responses per pair (see-think, CoT-only, text-only from the description)."""
    save_every: int = 500
    """Optimizer steps between resumable checkpoints (only the latest is kept, in ``checkpoints/final/``); a
    killed run resumes from it. 0: none. Ours (500 = the transformers ``save_steps`` default)."""
    gradient_checkpointing: bool = False
    """Memory saver for paper-scale runs (off on CPU)."""
    bf16: bool | None = None
    """None: TRL's choice (bf16 on GPUs that support it, off on CPU)."""

    def __post_init__(self) -> None:
        _positive(self.learning_rate, "sft.learning_rate")
        _positive(self.epochs, "sft.epochs")
        check(self.max_steps == -1 or self.max_steps >= 1, "sft.max_steps", "must be -1 or >= 1")
        check(0 <= self.warmup_ratio < 1, "sft.warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
        check(self.per_device_batch_size >= 1, "sft.per_device_batch_size", "must be >= 1")
        check(self.gradient_accumulation_steps >= 1, "sft.gradient_accumulation_steps", "must be >= 1")
        check(self.max_length >= 16, "sft.max_length", f"must be >= 16, got {self.max_length}")
        _positive(self.image_max_pixels, "sft.image_max_pixels")
        check(bool(self.variants), "sft.variants", "must name at least one variant")
        for variant in self.variants:
            check_choice(variant, "sft.variants", ("see_think", "cot", "text"))
        check(self.save_every >= 0, "sft.save_every", f"must be >= 0, got {self.save_every}")


@dataclass
class RLConfig:
    """GRPO with the visual self-reward (paper section 3; code: the official 7B self-reward recipe)."""

    model: str = "LMMs-Lab-Turtle/Qwen-2.5VL-7B-Cold-Start"
    """Policy initialisation: the released cold-start model (3B: ``LMMs-Lab-Turtle/Qwen-2.5VL-3B-Cold-Start``)."""
    method: str = "vision_sr1"
    """``vision_sr1`` | ``see_think`` (ablation without self-reward) | ``vision_r1`` (CoT baseline)."""
    policy_loss: str = "single_reward"
    """``single_reward`` (paper v1, code main) | ``multi_reward`` (v2, branch ``embedding-decomposition``)."""
    accuracy_weight: float = 0.9
    """Code: R = 0.9 r_acc + 0.1 r_fmt + 1.0 r_vis (the paper's figure sums three 0/1 rewards)."""
    format_weight: float = 0.1
    """Code weight of the format reward."""
    visual_weight: float = 1.0
    """Code weight of the visual self-reward."""
    multi_reward_weights: dict[str, float] = field(default_factory=lambda: {"accuracy": 1.0, "visual": 1.0})
    """v2 code: channels accuracy and visual, lambda = (1, 1); add ``format`` for a third channel."""
    missing_description: str = "strict"
    """``strict`` (ours): no/empty description block -> no second pass, r_vis = 0; ``official``: the whole
    response becomes the description (it can leak the answer)."""
    group_size: int = 8
    """Code: ``worker.rollout.n`` = 8 samples per prompt (G)."""
    prompts_per_step: int = 512
    """Code: ``data.rollout_batch_size`` = 512 prompts per rollout step (4,096 samples)."""
    prompts_per_update: int = 128
    """Code: ``worker.actor.global_batch_size`` = 128 prompts per optimizer update (4 updates per rollout)."""
    per_device_train_batch_size: int = 8
    """Completions per forward/backward micro-batch on each device (code: micro batch for update)."""
    epochs: float = 1.0
    """Paper/code: one epoch (~92 rollout steps on 47K)."""
    max_steps: int = -1
    """Stop after this many rollout steps (-1: run ``epochs``); toy runs."""
    learning_rate: float = 1e-6
    """Code: constant 1e-6, no warm-up."""
    weight_decay: float = 0.01
    """Code: AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Code: gradient clipping."""
    temperature: float = 1.0
    """Code: rollout temperature."""
    top_p: float = 0.99
    """Code: rollout top-p."""
    max_response_length: int = 2048
    """Code: ``data.max_response_length`` (new tokens of the first pass)."""
    max_prompt_length: int = 12800
    """Code: ``data.max_prompt_length``; longer first-pass prompts are filtered out (and counted); longer
    re-prompts have their description cut from the end."""
    second_pass_temperature: float | None = None
    """Second-pass sampling temperature (None: the first pass's; code samples both passes alike)."""
    second_pass_top_p: float | None = None
    """Second-pass top-p (None: the first pass's)."""
    second_pass_max_tokens: int | None = None
    """Second-pass new-token budget (None: ``max_response_length``)."""
    kl_coef: float = 0.01
    """Code: k3 ("low_var_kl") KL loss against the initial policy, coefficient 0.01, not in the reward."""
    clip_low: float = 0.2
    """Code: ``clip_ratio_low``."""
    clip_high: float = 0.3
    """Code: ``clip_ratio_high`` (asymmetric, DAPO-style)."""
    dual_clip: float = 3.0
    """Code: ``clip_ratio_dual`` (dual-clip constant c for negative advantages)."""
    adv_eps: float = 1e-4
    """Advantage epsilon (code 1e-6; TRL/project 1e-4). Exact in the multi-reward path only."""
    freeze_vision_tower: bool = False
    """Code: the vision tower trains during RL."""
    min_pixels: int = 262144
    """Code: images smaller than this are upscaled (512x512)."""
    max_pixels: int = 4194304
    """Code: images larger than this are downscaled (2048x2048)."""
    eval_every: int = 5
    """Code: validation every 5 rollout steps on ``data.validation`` (greedy); 0 disables it."""
    save_every: int = 15
    """Code: a checkpoint every 15 rollout steps; 0 saves only the final model."""
    generation_backend: str = "hf"
    """``hf`` (transformers generate; CPU and tests) or ``vllm`` (colocated engine; the paper recipe)."""
    vllm_gpu_memory_utilization: float = 0.6
    """Share of GPU memory the colocated vLLM engine may take (code: 0.6)."""
    gradient_checkpointing: bool = False
    """Memory saver for paper-scale runs (off on CPU)."""
    bf16: bool | None = None
    """None: TRL's choice (bf16 on GPUs that support it, off on CPU)."""

    def __post_init__(self) -> None:
        check_choice(self.method, "rl.method", METHODS)
        check_choice(self.policy_loss, "rl.policy_loss", POLICY_LOSSES)
        check_choice(self.missing_description, "rl.missing_description", MISSING_DESCRIPTION_MODES)
        check_choice(self.generation_backend, "rl.generation_backend", GENERATION_BACKENDS)
        check(
            self.group_size >= 2,
            "rl.group_size",
            f"GRPO needs >= 2 samples per prompt, got {self.group_size}",
        )
        check(self.prompts_per_step >= 1, "rl.prompts_per_step", "must be >= 1")
        check(self.prompts_per_update >= 1, "rl.prompts_per_update", "must be >= 1")
        check(
            self.prompts_per_step % self.prompts_per_update == 0,
            "rl.prompts_per_step",
            f"{self.prompts_per_step} is not a multiple of rl.prompts_per_update ({self.prompts_per_update}): "
            "each rollout step must make a whole number of optimizer updates",
        )
        check(self.per_device_train_batch_size >= 1, "rl.per_device_train_batch_size", "must be >= 1")
        check(bool(self.multi_reward_weights), "rl.multi_reward_weights", "must name at least one channel")
        for name, weight in self.multi_reward_weights.items():
            check_choice(name, "rl.multi_reward_weights", CHANNELS)
            check(weight >= 0, f"rl.multi_reward_weights.{name}", f"must be >= 0, got {weight}")
        check(
            self.policy_loss != "multi_reward" or self.method == "vision_sr1",
            "rl.policy_loss",
            f"multi_reward needs rl.method=vision_sr1 (the visual channel), got rl.method={self.method}",
        )
        for key in ("accuracy_weight", "format_weight", "visual_weight", "kl_coef", "weight_decay"):
            check(getattr(self, key) >= 0, f"rl.{key}", f"must be >= 0, got {getattr(self, key)}")
        _positive(self.epochs, "rl.epochs")
        check(self.max_steps == -1 or self.max_steps >= 1, "rl.max_steps", "must be -1 or >= 1")
        _positive(self.learning_rate, "rl.learning_rate")
        _positive(self.max_grad_norm, "rl.max_grad_norm")
        _positive(self.temperature, "rl.temperature")
        check(0 < self.top_p <= 1, "rl.top_p", f"must be in (0, 1], got {self.top_p}")
        check(self.max_response_length >= 1, "rl.max_response_length", "must be >= 1")
        check(self.max_prompt_length >= 16, "rl.max_prompt_length", "must be >= 16")
        check(
            self.second_pass_temperature is None or self.second_pass_temperature >= 0,
            "rl.second_pass_temperature",
            "must be >= 0 or null",
        )
        check(
            self.second_pass_top_p is None or 0 < self.second_pass_top_p <= 1,
            "rl.second_pass_top_p",
            "must be in (0, 1] or null",
        )
        check(
            self.second_pass_max_tokens is None or self.second_pass_max_tokens >= 1,
            "rl.second_pass_max_tokens",
            "must be >= 1 or null",
        )
        check(0 <= self.clip_low < 1, "rl.clip_low", f"must be in [0, 1), got {self.clip_low}")
        check(self.clip_high >= 0, "rl.clip_high", f"must be >= 0, got {self.clip_high}")
        check(
            self.dual_clip > 1 + self.clip_high,
            "rl.dual_clip",
            f"must exceed 1 + rl.clip_high ({1 + self.clip_high}) for TRL's delta to equal the dual clip, "
            f"got {self.dual_clip}",
        )
        _positive(self.adv_eps, "rl.adv_eps")
        check(1 <= self.min_pixels <= self.max_pixels, "rl.min_pixels", "need 1 <= min_pixels <= max_pixels")
        check(self.eval_every >= 0, "rl.eval_every", "must be >= 0")
        check(self.save_every >= 0, "rl.save_every", "must be >= 0")
        check(
            0 < self.vllm_gpu_memory_utilization <= 1,
            "rl.vllm_gpu_memory_utilization",
            "must be in (0, 1]",
        )


@dataclass
class EvalConfig:
    """Evaluation (spec section 7): greedy first pass, optional judge, greedy second pass for perception."""

    prompt_style: str = "see_think"
    """First-pass instruction: ``see_think`` (also used to probe CoT models' perception) or ``cot``."""
    temperature: float = 0.0
    """Code: greedy decoding, n = 1."""
    max_new_tokens: int = 2048
    """New tokens per pass (code: 2048)."""
    perception_model: str | None = None
    """Model answering the second pass (None: the evaluated model); fix it to compare LSR across models."""
    judge: str | None = None
    """``URL#MODEL`` of an OpenAI-compatible judge for free-form answers the rule marks wrong (code: an LLM
    judge); None: rule-based only."""
    judge_rule: str = "strict"
    """``strict``: the judgment must say "correct" and not "incorrect"; ``official``: anything without
    "incorrect" counts as correct (an empty reply too)."""
    multiple_choice: bool = False
    """Rule-based grading only, never the judge (MMMU, MMMU-Pro, VisNumBench, HallusionBench)."""
    split: str = "test"
    """Split of a hub evaluation set."""
    limit: int | None = None
    """Evaluate only the first ``limit`` records (None = all)."""
    batch_size: int = 16
    """Prompts per generate call."""
    min_pixels: int = 262144
    """Images smaller than this many pixels are upscaled (aspect kept) before the processor (code: 262144)."""
    max_pixels: int = 4194304
    """Images larger than this many pixels are downscaled (aspect kept) before the processor (code: 4194304)."""

    def __post_init__(self) -> None:
        check_choice(self.prompt_style, "eval.prompt_style", tuple(PROMPT_STYLES))
        check(
            1 <= self.min_pixels <= self.max_pixels,
            "eval.min_pixels",
            f"need 1 <= min_pixels <= max_pixels, got {self.min_pixels} and {self.max_pixels}",
        )
        check_choice(self.judge_rule, "eval.judge_rule", JUDGE_RULES)
        check(self.temperature >= 0, "eval.temperature", f"must be >= 0, got {self.temperature}")
        check(self.max_new_tokens >= 1, "eval.max_new_tokens", "must be >= 1")
        check(
            self.limit is None or self.limit >= 1, "eval.limit", f"must be >= 1 or null, got {self.limit!r}"
        )
        check(self.batch_size >= 1, "eval.batch_size", "must be >= 1")
        check(
            self.judge is None or ("#" in self.judge and not self.judge.startswith("#")),
            "eval.judge",
            f"must be URL#MODEL, got {self.judge!r}",
        )


@dataclass
class VisionSR1Config:
    """The whole pipeline: data, cold-start SFT (``sft``), GRPO (``rl``) and evaluation (``eval``)."""

    seed: int = 1
    """Code: ``data.seed`` = 1."""
    data: DataConfig = field(default_factory=DataConfig)
    sft: ColdStartConfig = field(default_factory=ColdStartConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


Config = VisionSR1Config
"""The top-level config class (the workspace's recipe test loads every recipe with it)."""


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> VisionSR1Config:
    """A :class:`VisionSR1Config` from a YAML recipe (optional) plus dotted ``key=value`` overrides."""
    return _load_config(VisionSR1Config, path, overrides)
