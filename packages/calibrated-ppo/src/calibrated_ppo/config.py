"""Settings of the paper's pipeline (spec §3), loaded with ``rlcore.config`` (YAML + dotted overrides such as
``ppo.kl_coef=0.05``). Defaults are the official Llama-3-8B scripts (``SeanLeng1/Reward-Calibration``);
``recipes/paper-mistral.yaml`` holds the Mistral values. Where the paper's code and our default differ, the
field's comment names the switch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlcore.config import check, check_choice

__all__ = [
    "CRITIC_INITS",
    "CalibratedPPOConfig",
    "CalibrationConfig",
    "Config",
    "EvalConfig",
    "PPOConfig",
    "RewardModelConfig",
]

CRITIC_INITS = ("reward_model", "policy", "small")
EVAL_DATASET_NAMES = (
    "gsm8k",
    "commonsense_qa",
    "sciq",
    "object_counting",
    "mmlu_professional",
    "truthfulqa_mc1",
)


@dataclass
class RewardModelConfig:
    """Reward-model (RM) and calibrated-reward-model (CRM) training on TRL's RewardTrainer."""

    base_model: str = "OpenLLMAI/Llama-3-8b-rm-mixture"
    """The CRM starts from the existing RM (official scripts)."""
    dataset: str = "hf:HINT-lab/calibration_preference_mixture_final-v0.1"
    loss: str = "sigmoid"
    """"sigmoid": the paper's two confidence terms; "combined" also trains the original chosen ≻ rejected pair."""
    epochs: int = 1
    learning_rate: float = 9e-6
    train_batch_size: int = 256
    micro_batch_size: int = 1
    warmup_ratio: float = 0.03
    min_lr_ratio: float = 0.1
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    weight_decay: float = 0.0
    max_length: int = 8192
    eval_fraction: float = 0.03
    """Seeded hold-out for the reward statistics (the official script asks for an eval split that does not exist)."""
    high_levels: list[int] = field(default_factory=lambda: [7, 8, 9, 10])
    low_levels: list[int] = field(default_factory=lambda: [0, 1, 2, 3])
    variant_seed: int = 42
    max_samples: int | None = None

    def __post_init__(self) -> None:
        check_choice(self.loss, "reward_model.loss", ("sigmoid", "combined"))
        check(self.epochs >= 1, "reward_model.epochs", f"must be >= 1, got {self.epochs}")
        check(
            self.train_batch_size % self.micro_batch_size == 0,
            "reward_model.train_batch_size",
            f"{self.train_batch_size} is not a multiple of micro_batch_size {self.micro_batch_size}",
        )
        check(
            0 <= self.eval_fraction < 1,
            "reward_model.eval_fraction",
            f"must be in [0, 1), got {self.eval_fraction}",
        )
        check(len(self.adam_betas) == 2, "reward_model.adam_betas", "needs two numbers")
        check(
            bool(self.high_levels) and bool(self.low_levels),
            "reward_model.high_levels",
            "levels must be non-empty",
        )


@dataclass
class PPOConfig:
    """Our compact PPO (OpenRLHF 0.3.8 semantics; the Llama-3-8B script's values)."""

    policy: str = "OpenLLMAI/Llama-3-8b-sft-mixture"
    reference: str | None = None
    """None: a frozen copy of the policy."""
    reward_model: str = "OpenLLMAI/Llama-3-8b-rm-mixture"
    calibrated_reward_model: str = "HINT-lab/llama3-8b-crm-final-v0.1"
    critic_init: str = "reward_model"
    """"reward_model" (the RM in use; the CRM under PPO-M), "policy" (backbone + fresh head) or "small" (toy)."""
    prompts: str = "hf:HINT-lab/prompt-collections-final-v0.3"
    input_key: str = "confidence_prompt"
    max_samples: int | None = None
    num_episodes: int = 1
    rollout_batch_size: int = 512
    micro_rollout_batch_size: int = 4
    train_batch_size: int = 64
    micro_train_batch_size: int = 2
    ppo_epochs: int = 1
    max_prompt_len: int = 1024
    max_new_tokens: int = 1024
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    """0 = off (the official code passes None)."""
    actor_lr: float = 5e-7
    critic_lr: float = 9e-6
    actor_weight_decay: float = 0.0
    critic_weight_decay: float = 0.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    warmup_ratio: float = 0.03
    min_lr_ratio: float = 0.1
    max_grad_norm: float = 1.0
    kl_coef: float = 0.01
    """Fixed KL coefficient (Mistral: 0.05)."""
    gamma: float = 1.0
    lam: float = 0.95
    clip_eps: float = 0.2
    value_clip: float | None = 0.2
    reward_clip: float = 10.0
    normalize_reward: bool = True
    save_critic: bool = False
    bf16: bool | None = None
    """None: on only on GPU."""
    gradient_checkpointing: bool | None = None
    """None: on only on GPU."""

    def __post_init__(self) -> None:
        check_choice(self.critic_init, "ppo.critic_init", CRITIC_INITS)
        for name in (
            "rollout_batch_size",
            "micro_rollout_batch_size",
            "train_batch_size",
            "micro_train_batch_size",
            "ppo_epochs",
            "num_episodes",
            "max_new_tokens",
            "max_prompt_len",
        ):
            check(getattr(self, name) >= 1, f"ppo.{name}", f"must be >= 1, got {getattr(self, name)}")
        check(
            self.rollout_batch_size % self.micro_rollout_batch_size == 0,
            "ppo.rollout_batch_size",
            f"{self.rollout_batch_size} is not a multiple of micro_rollout_batch_size {self.micro_rollout_batch_size}",
        )
        check(
            self.train_batch_size % self.micro_train_batch_size == 0,
            "ppo.train_batch_size",
            f"{self.train_batch_size} is not a multiple of micro_train_batch_size {self.micro_train_batch_size}",
        )
        check(self.kl_coef >= 0, "ppo.kl_coef", f"must be >= 0, got {self.kl_coef}")
        check(self.top_k >= 0, "ppo.top_k", f"must be >= 0 (0 = off), got {self.top_k}")
        check(0 < self.top_p <= 1, "ppo.top_p", f"must be in (0, 1], got {self.top_p}")
        check(len(self.adam_betas) == 2, "ppo.adam_betas", "needs two numbers")


@dataclass
class CalibrationConfig:
    """PPO-C's reward adjustment (paper §4.2)."""

    alpha: float = 0.1
    """EMA rate of the running reward average r̄."""
    w: float = 2.0
    """Adjustment weight (the CLI default of the official code: 0.5 with threshold)."""
    mode: str = "difference"
    """"difference": r + w·(r − r̄)·(ĉ − ½) (scripts); "threshold": the official CLI default."""
    ema_init: str | float = "auto"
    """"auto": 0 when rewards are normalised, else the RM's stored mean or 0; "rm_mean" (official), or a number."""
    ema_scope: str = "micro_batch"
    """r̄ is updated once per reward call: every micro rollout batch (official) or once per rollout batch."""
    default_confidence: float = 5.0
    which: str = "first"

    def __post_init__(self) -> None:
        check(0 <= self.alpha <= 1, "calibration.alpha", f"must be in [0, 1], got {self.alpha}")
        check_choice(self.mode, "calibration.mode", ("difference", "threshold"))
        check_choice(self.ema_scope, "calibration.ema_scope", ("micro_batch", "rollout_batch"))
        check_choice(self.which, "calibration.which", ("first", "last"))
        check(
            isinstance(self.ema_init, int | float) or self.ema_init in ("auto", "rm_mean"),
            "calibration.ema_init",
            f"{self.ema_init!r} is not auto, rm_mean or a number",
        )

    def initial_average(self, normalize_reward: bool, rm_mean: float | None) -> float:
        """r̄ at the start of PPO-C (spec §3: the official start is the RM's raw mean, a scale mismatch when
        rewards are standardised)."""
        if self.ema_init == "auto":
            return 0.0 if normalize_reward else float(rm_mean or 0.0)
        if self.ema_init == "rm_mean":
            return float(rm_mean or 0.0)
        return float(self.ema_init)


@dataclass
class EvalConfig:
    """The paper's verbalised-confidence evaluation (§2.5)."""

    model: str | None = None
    datasets: list[str] = field(default_factory=lambda: list(EVAL_DATASET_NAMES))
    limit: int | None = None
    backend: str = "hf"
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    max_new_tokens: int | None = None
    """None: 16 (256 with cot)."""
    cot: bool = False
    seed: int = 1234
    batch_size: int = 1
    max_retries: int = 10
    n_bins: int = 10
    binning: str = "exact"
    """"exact" bins or "netcal" (the official float edges, to compare with published numbers)."""
    match: str = "numeric"
    """"numeric"-aware accuracy or the official "exact" match."""
    system_role: bool = True

    def __post_init__(self) -> None:
        check_choice(self.backend, "eval.backend", ("hf", "vllm", "openai"))
        check_choice(self.binning, "eval.binning", ("exact", "netcal"))
        check_choice(self.match, "eval.match", ("numeric", "exact"))
        check(self.n_bins >= 1, "eval.n_bins", f"must be >= 1, got {self.n_bins}")
        check(self.max_retries >= 0, "eval.max_retries", f"must be >= 0, got {self.max_retries}")
        check(self.batch_size >= 1, "eval.batch_size", f"must be >= 1, got {self.batch_size}")

    @property
    def new_tokens(self) -> int:
        """``max_new_tokens`` or its default: 16 direct, 256 with chain of thought."""
        return self.max_new_tokens or (256 if self.cot else 16)


@dataclass
class CalibratedPPOConfig:
    """The whole pipeline: reward models, PPO, PPO-C's calibration and the evaluation."""

    seed: int = 42
    output_dir: str = "runs"
    reward_model: RewardModelConfig = field(default_factory=RewardModelConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


Config = CalibratedPPOConfig
