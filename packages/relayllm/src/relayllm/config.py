"""RelayLLM's settings with the paper's defaults (spec §3). Every field cites where its value comes from.

Paper versus official code: the default is the paper's; the switch named in each field's comment
reproduces the official code (``Chengsong-Huang/RelayLLM``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlcore.config import check, check_choice

__all__ = [
    "BENCHMARK_DEFAULTS",
    "Config",
    "DataConfig",
    "EvalConfig",
    "FilterConfig",
    "RelayConfig",
    "RelayLLMConfig",
    "TrainConfig",
    "WarmupConfig",
]

BENCHMARK_DEFAULTS = ("minerva", "math500", "gsm8k", "olympiad", "aime25", "aime24")
"""The six math benchmarks of the paper's Table 1, in its column order."""


@dataclass
class RelayConfig:
    """How one relay runs (paper §3.1; eval code)."""

    max_turns: int = 5
    """SLM calls per answer at most (so at most max_turns − 1 LLM calls); eval code: 5."""
    max_tokens: int = 8192
    """Response budget in SLM tokens, LLM spans included (eval code: 8192)."""
    llm_view: str = "space"
    """How commands look to the LLM: "space" (eval code: replaced by a space, then stripped) or "remove"
    (append-only view, friendlier to the teacher's prefix cache)."""
    handoff: str = "auto"
    """"tokens" splices the LLM's ids (shared tokenizer, the paper), "text" re-encodes its text with the SLM
    tokenizer, "auto" picks tokens when the tokenizer fingerprints agree."""

    def __post_init__(self) -> None:
        check(self.max_turns >= 1, "relay.max_turns", f"must be >= 1, got {self.max_turns}")
        check(self.max_tokens >= 1, "relay.max_tokens", f"must be >= 1, got {self.max_tokens}")
        check_choice(self.llm_view, "relay.llm_view", ("space", "remove"))
        check_choice(self.handoff, "relay.handoff", ("auto", "tokens", "text"))


@dataclass
class DataConfig:
    """Where the questions come from (spec §5)."""

    train: str = "hf:guanning-ai/dapo17k"
    """RL and warm-up questions: DAPO-Math-17k (fields problem, answer). A local jsonl/json/parquet/csv works too."""
    question_field: str | None = None
    """Question column; None auto-detects question, problem, prompt, Question."""
    answer_field: str | None = None
    """Answer column; None auto-detects answer, final_answer, Answer."""
    limit: int | None = None
    """Keep the first `limit` records (None: all)."""

    def __post_init__(self) -> None:
        check(self.limit is None or self.limit >= 0, "data.limit", f"must be >= 0, got {self.limit}")


@dataclass
class WarmupConfig:
    """Warm-up: SLM self-samples with random calls inserted, then SFT with completion-only loss (paper §3.2)."""

    learning_rate: float = 2e-5
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 16
    max_length: int = 4096
    num_train_epochs: float = 1.0
    warmup_ratio: float = 0.03
    max_commands: int = 3
    """Commands inserted per response: m ~ U{0..max_commands} (paper: up to 3)."""
    samples_per_question: int = 1
    temperature: float = 0.7
    """Sampling temperature of the SLM self-samples."""
    max_new_tokens: int = 4096
    only_correct: bool = False
    """Keep only self-samples whose boxed answer is right (the paper keeps all: the loss teaches the format)."""
    responses: str = "sample"
    """"sample" the SLM's own answers (the paper), or use the records' "solution" column."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run the epochs)."""
    bf16: bool = False
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        check(self.learning_rate > 0, "warmup.learning_rate", "must be > 0")
        check(self.max_commands >= 0, "warmup.max_commands", f"must be >= 0, got {self.max_commands}")
        check(self.samples_per_question >= 1, "warmup.samples_per_question", "must be >= 1")
        check(self.max_new_tokens >= 1, "warmup.max_new_tokens", "must be >= 1")
        check(self.temperature >= 0, "warmup.temperature", "must be >= 0")
        check_choice(self.responses, "warmup.responses", ("sample", "solution"))


@dataclass
class FilterConfig:
    """Teacher pass-rate filter of the RL data (paper §3.3: 10 samples, keep pass rate >= 0.5)."""

    samples: int = 10
    """Teacher samples per question (official script: 16)."""
    threshold: float = 0.5
    """Keep a question when the teacher's pass rate is >= threshold (official script: 0.0625, "above 0")."""
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 8192
    min_keep: int = 0
    """Keep at least this many records, topping up with the best remaining rates (marked filter_fallback)."""

    def __post_init__(self) -> None:
        check(self.samples >= 1, "filter.samples", f"must be >= 1, got {self.samples}")
        check(0.0 <= self.threshold <= 1.0, "filter.threshold", f"must be in [0, 1], got {self.threshold}")
        check(0.0 < self.top_p <= 1.0, "filter.top_p", f"must be in (0, 1], got {self.top_p}")
        check(self.min_keep >= 0, "filter.min_keep", f"must be >= 0, got {self.min_keep}")
        check(self.max_new_tokens >= 1, "filter.max_new_tokens", "must be >= 1")


@dataclass
class TrainConfig:
    """GRPO with the relay rollout (paper §3.3, Eq. 1-4; EasyR1 defaults where the paper is silent)."""

    reward: str = "difficulty_aware"
    """"difficulty_aware" (paper Eq. 4), "simple" (Eq. 3: 1[correct] − ρ) or "accuracy" (the GRPO baseline)."""
    learning_rate: float = 1e-6
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    num_generations: int = 8
    """G, completions per prompt."""
    prompts_per_step: int = 128
    """Prompts per rollout step (EasyR1 rollout_batch_size)."""
    prompts_per_update: int = 32
    """Prompts per optimizer update (EasyR1 global_batch_size): 128/32 = 4 updates per rollout step."""
    per_device_train_batch_size: int = 8
    """Completions per device per micro-batch; gradient accumulation follows from the two prompt counts."""
    num_train_epochs: float = 1.0
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run the epochs)."""
    beta: float = 0.01
    """KL coefficient (KL as a loss, k3 estimator in TRL; EasyR1 uses low_var_kl)."""
    epsilon: float = 0.2
    epsilon_high: float = 0.2
    """Upper clip (paper Eq. 1: symmetric 0.2; official code: 0.3)."""
    max_grad_norm: float = 1.0
    max_turns: int = 3
    """SLM calls per rollout at most (training script: 3)."""
    max_completion_tokens: int = 8192
    temperature: float = 1.0
    top_p: float = 1.0
    llm_temperature: float = 0.7
    loss_type: str = "dapo"
    mask_llm_tokens: bool = False
    """Mask the teacher's tokens out of the loss via env_mask (the code leaves its mask commented out: off)."""
    independence_bonus: float = 1.5
    stubborn_penalty: float = -1.0
    exploration_reward: bool = True
    ratio_source: str = "actual"
    """ρ: "actual" LLM tokens / response tokens (paper) or "requested" Σ min(n, 4096) / tokens (code)."""
    scope: str = "group"
    """Scenario per query group (paper) or over the whole reward "batch" (code)."""
    use_vllm: bool = False
    """Colocated vLLM rollouts of the SLM (GPU)."""
    bf16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 0
    """Checkpoint every this many steps (0: only the final model)."""

    def __post_init__(self) -> None:
        check_choice(self.reward, "train.reward", ("difficulty_aware", "simple", "accuracy"))
        check_choice(self.ratio_source, "train.ratio_source", ("actual", "requested"))
        check_choice(self.scope, "train.scope", ("group", "batch"))
        check(
            self.num_generations >= 2, "train.num_generations", f"GRPO needs >= 2, got {self.num_generations}"
        )
        check(self.max_turns >= 1, "train.max_turns", f"must be >= 1, got {self.max_turns}")
        check(self.max_completion_tokens >= 1, "train.max_completion_tokens", "must be >= 1")
        check(self.prompts_per_step >= 1, "train.prompts_per_step", "must be >= 1")
        check(self.prompts_per_update >= 1, "train.prompts_per_update", "must be >= 1")
        check(self.epsilon >= 0 and self.epsilon_high >= 0, "train.epsilon", "clip ranges must be >= 0")


@dataclass
class EvalConfig:
    """Evaluation (paper §4): greedy decoding, AIME as avg@32 at temperature 0.7."""

    benchmarks: tuple[str, ...] = BENCHMARK_DEFAULTS
    mode: str = "relay"
    """"relay" (SLM with the teacher), "slm" (teacher-free: <call> banned, never executed) or "llm" (teacher alone)."""
    temperature: float = 0.0
    """SLM temperature for single-sample sets (paper: greedy; code: 0.7 everywhere)."""
    llm_temperature: float = 0.0
    sampled_temperature: float = 0.7
    """Temperature of the repeated sets (AIME ×32)."""
    max_turns: int = 5
    limit: int | None = None
    """Items per benchmark (None: all; the OOD sets are cut to 1000 anyway)."""
    repeats: int | None = None
    """Samples per AIME question (None: the paper's 32)."""
    chat_template_kwargs: dict[str, bool] = field(default_factory=lambda: {"enable_thinking": False})

    def __post_init__(self) -> None:
        check_choice(self.mode, "eval.mode", ("relay", "slm", "llm"))
        check(self.max_turns >= 1, "eval.max_turns", f"must be >= 1, got {self.max_turns}")
        check(self.limit is None or self.limit >= 1, "eval.limit", f"must be >= 1, got {self.limit}")
        check(self.repeats is None or self.repeats >= 1, "eval.repeats", f"must be >= 1, got {self.repeats}")
        check(self.temperature >= 0 and self.llm_temperature >= 0, "eval.temperature", "must be >= 0")


@dataclass
class RelayLLMConfig:
    """The whole pipeline: models, relay, data and one section per stage."""

    slm: str = "Qwen/Qwen3-1.7B"
    """The small model (the trained policy): a load_model spec."""
    llm: str = "Qwen/Qwen3-8B"
    """The frozen large model: a load_model spec, openai:<base_url>#<model> or vllm:<model>."""
    llm_tokenizer: str | None = None
    """Tokenizer of a server LLM (gives it a fingerprint and a chat template, enabling the tokens handoff)."""
    relay: RelayConfig = field(default_factory=RelayConfig)
    data: DataConfig = field(default_factory=DataConfig)
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0


Config = RelayLLMConfig
"""The root config class every recipe describes (the workspace's recipe test loads recipes with it)."""
