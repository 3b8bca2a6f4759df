"""Parallel-R1's settings (spec §3): the official code's values where the paper is silent. Loaded with
``rlcore.config.load_config`` (YAML + ``key=value``); bad values are ``ConfigError`` naming the key.
``EngineConfig`` lives here and is re-exported by :mod:`parallel_r1.engine`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlcore.config import check, check_choice

__all__ = [
    "REWARD_KINDS",
    "VARIANTS",
    "Config",
    "DatagenConfig",
    "EngineConfig",
    "EvalConfig",
    "ParallelR1Config",
    "RLStage",
    "RewardConfig",
    "SFTConfig",
]

VARIANTS = ("seen", "unseen")
REWARD_KINDS = ("accuracy", "parallel", "alternating", "gated")
MATCHERS = ("minerva", "math_verify")
EXTRACTORS = ("final_line", "first_number")


@dataclass
class EngineConfig:
    """The parallel rollout engine (spec §2.4): main chain → paths → forced summary, repeated."""

    num_paths: int = 2
    max_blocks: int | None = 4
    """Blocks per response (None = unlimited)."""
    max_response_tokens: int = 3000
    max_path_tokens: int = 4096
    temperature: float = 1.0
    top_p: float = 1.0
    path_temperature: float = 1.0
    summary_separator: str = "\n"
    stop_after_max_blocks: bool = True
    """Official: stop after the last allowed block (no final answer). False resumes the main chain."""
    mask_forced_tokens: bool = False
    """Official: tokens the engine inserts are trained. True keeps them out of the loss (env_mask 0)."""
    seed: int | None = None

    def __post_init__(self) -> None:
        check(self.num_paths >= 2, "engine.num_paths", f"must be >= 2, got {self.num_paths}")
        check(
            self.max_blocks is None or self.max_blocks >= 1,
            "engine.max_blocks",
            f"must be >= 1, got {self.max_blocks}",
        )
        check(self.max_response_tokens >= 1, "engine.max_response_tokens", "must be >= 1")
        check(self.max_path_tokens >= 1, "engine.max_path_tokens", "must be >= 1")


@dataclass
class RewardConfig:
    window: int | None = 300
    """Characters at the end of the response searched for ``Final Answer:`` (official)."""
    matcher: str = "minerva"
    """"minerva" string matching (official) or "math_verify"."""
    period: int = 10
    parallel_steps: int = 2
    """S2: the parallel reward is used on the last ``parallel_steps`` of every ``period`` rollout steps."""
    extractor: str = "final_line"
    """"final_line" everywhere, or the official stage-1 GSM8K "first_number"."""

    def __post_init__(self) -> None:
        check_choice(self.matcher, "reward.matcher", MATCHERS)
        check_choice(self.extractor, "reward.extractor", EXTRACTORS)
        check(
            self.period >= 1 and 0 <= self.parallel_steps <= self.period,
            "reward.period",
            "need 0 <= parallel_steps <= period",
        )


@dataclass
class DatagenConfig:
    """Cold-start data: a teacher prompted zero-shot with the parallel template on easy problems."""

    teacher: str = "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B"
    """A model spec, openai:<url>#<model>, or "template" (the procedural CPU teacher)."""
    source: str = "openai/gsm8k"
    n: int | None = None
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 4096
    max_length: int = 4096
    samples: int = 1
    seed: int = 0


@dataclass
class SFTConfig:
    """Cold-start SFT (official: 5 epochs, lr 1e-5, batch 128, micro 1, 4096 tokens, loss on the response)."""

    data: str = "TongZheng1999/Deepseek-Qwen-3-8B-GSM8k-Parallel-data-Filtered"
    epochs: float = 5.0
    max_steps: int = -1
    learning_rate: float = 1e-5
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    lr_scheduler: str = "cosine"
    max_grad_norm: float = 1.0
    batch_size: int = 128
    micro_batch_size: int = 1
    max_length: int = 4096
    truncation: str = "drop"
    limit: int | None = None

    def __post_init__(self) -> None:
        check_choice(self.truncation, "sft.truncation", ("drop", "error", "right"))
        check(
            self.batch_size % self.micro_batch_size == 0,
            "sft.batch_size",
            "must be a multiple of micro_batch_size",
        )


@dataclass
class RLStage:
    """One GRPO stage (official: lr 1e-6, 256 prompts × 8, 2 optimizer steps per rollout step, β 0, dapo)."""

    name: str = "dapo"
    data: str = "Leo-Dai/dapo-math-17k_dedup"
    split: str = "train"
    reward: str = "accuracy"
    prompt_style: str = "parallel"
    max_steps: int = 300
    """Rollout steps (the paper's step counts were not found; 300 DAPO steps, 29 GSM8K steps = 1 epoch)."""
    learning_rate: float = 1e-6
    weight_decay: float = 0.01
    prompts_per_step: int = 256
    num_generations: int = 8
    updates_per_step: int = 2
    per_device_train_batch_size: int = 8
    epsilon: float = 0.2
    epsilon_high: float = 0.2
    """S1: 0.2; S2: 0.28."""
    delta: float | None = 3.0
    """verl's dual clip."""
    beta: float = 0.0
    loss_type: str = "dapo"
    temperature: float = 1.0
    limit: int | None = None
    save_steps: int = 10
    use_vllm: bool = False

    def __post_init__(self) -> None:
        check_choice(self.reward, "rl.reward", REWARD_KINDS)
        check_choice(self.prompt_style, "rl.prompt_style", ("parallel", "sequential"))
        check(
            self.prompts_per_step % self.updates_per_step == 0,
            "rl.prompts_per_step",
            f"{self.prompts_per_step} is not a multiple of updates_per_step {self.updates_per_step}",
        )
        check(self.num_generations >= 2, "rl.num_generations", f"must be >= 2, got {self.num_generations}")


@dataclass
class EvalConfig:
    data: str = "Leo-Dai/APO_combine"
    samples: int | None = None
    """Samples per problem; None keeps the dataset's replicas (16 for AIME/AMC, 1 for MATH)."""
    limit: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0


@dataclass
class ParallelR1Config:
    model: str = "Parallel-R1/Qwen3-4B-Base-add-special-token"
    """Or ``Qwen/Qwen3-4B-Base`` plus ``add_tags: true`` (``parallel-r1 add-tokens``)."""
    add_tags: bool = False
    variant: str = "seen"
    """"seen" (causal attention in training; the best row) or "unseen" (path-isolated masks and positions)."""
    attn_implementation: str = "sdpa"
    max_prompt_tokens: int = 2000
    engine: EngineConfig = field(default_factory=EngineConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    datagen: DatagenConfig = field(default_factory=DatagenConfig)
    sft: SFTConfig | None = field(default_factory=SFTConfig)
    rl: list[RLStage] = field(default_factory=lambda: [RLStage()])
    eval: EvalConfig = field(default_factory=EvalConfig)
    bf16: bool | None = None
    gradient_checkpointing: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(self.variant, "variant", VARIANTS)
        if self.variant == "unseen":
            check(
                self.attn_implementation in ("eager", "sdpa"),
                "attn_implementation",
                f"the Unseen variant needs eager or sdpa attention (4-D masks), got {self.attn_implementation!r}",
            )


Config = ParallelR1Config
