"""UniRel's settings (spec §3). There is no official code, so every field fixes what the paper leaves open;
each default says where it comes from and names the switch for the alternative. Recipes load with
``rlcore.config.load_config``; an invalid value is a ``ConfigError`` naming the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rlcore.config import check, check_choice

__all__ = [
    "AGGREGATES",
    "BACKENDS",
    "CON_MODES",
    "REL_SIGNS",
    "SPLITS",
    "Config",
    "DataConfig",
    "EvalConfig",
    "RetrievalConfig",
    "RewardConfig",
    "TrainConfig",
    "UniRelConfig",
]

BACKENDS = ("csr", "networkx")
AGGREGATES = ("sum", "mean")
REL_SIGNS = ("fixed", "literal")
CON_MODES = ("components", "largest")
SPLITS = ("random", "unseen_entities", "unseen_relations")
STYLES = ("paper", "criteria")


@dataclass
class RetrievalConfig:
    """The subgraph retriever (paper §3.2): k-hop candidates, hub removal with a relaxed threshold, leaf
    stripping, compactness control through the m lowest-penalty bridges."""

    hops: int = 2
    """k of the k-hop candidate (reviews mention up to 4; seed pairs ≤ 4 apart meet at k = 2)."""
    rho0: float = math.log(51)
    """ρ₀, the first hub threshold: ln 51 keeps entities of degree ≤ 50 (unreported in the paper)."""
    rho_step: float = 0.5
    """Threshold increment while the seeds are disconnected (unreported)."""
    target_size: int = 50
    """Most triples shown to the model (a prompt budget; unreported)."""
    bridges: int = 5
    """m₀, bridge entities kept first; reduced one by one until the subgraph fits (unreported)."""
    backend: str = "csr"
    """"csr" (numpy/scipy on the KG's arrays) or "networkx" (the plain reference, identical results)."""

    def __post_init__(self) -> None:
        check(self.hops >= 1, "retrieval.hops", f"must be >= 1, got {self.hops}")
        check(self.rho_step > 0, "retrieval.rho_step", f"must be > 0, got {self.rho_step}")
        check(self.target_size >= 1, "retrieval.target_size", f"must be >= 1, got {self.target_size}")
        check(self.bridges >= 1, "retrieval.bridges", f"must be >= 1, got {self.bridges}")
        check_choice(self.backend, "retrieval.backend", BACKENDS)


@dataclass
class RewardConfig:
    """R = R_fmt + R_con + ½·(R_ent/x + R_rel/y) (paper Table 5: x = 7, y = 6)."""

    x: float = 7.0
    y: float = 6.0
    aggregate: str = "sum"
    """"sum": longer answers cost more (the stated preference for compactness); "mean": per-item means."""
    rel_sign: str = "fixed"
    """"fixed": R_rel = −Σ ln n_r / ln N (rare relations cost less); "literal": −Σ ĨDF as the text reads."""
    con_mode: str = "components"
    """R_con from the number of seed components κ ("components") or the largest one ("largest")."""

    def __post_init__(self) -> None:
        check(self.x > 0 and self.y > 0, "reward.x", f"x and y must be > 0, got {self.x}, {self.y}")
        check_choice(self.aggregate, "reward.aggregate", AGGREGATES)
        check_choice(self.rel_sign, "reward.rel_sign", REL_SIGNS)
        check_choice(self.con_mode, "reward.con_mode", CON_MODES)


@dataclass
class DataConfig:
    """Queries (paper: 2,500 per KG, split 2,000 / 500; also 3- and 4-seed sets)."""

    kg: str = "umls"
    """"umls" (bundled), "synthetic[:E:T:R[:SEED]]", a triples file or directory, or "hf:<id>[:<config>]"."""
    num_seeds: int = 2
    n_train: int = 2000
    n_test: int = 500
    max_arm: int = 2
    min_distance: int = 2
    split: str = "random"
    """"random", "unseen_entities" or "unseen_relations" (the generalisation sets)."""
    test_fraction: float = 0.2
    seed: int = 0
    style: str = "paper"
    """Prompt style of the records: "paper" or "criteria" (adds the reward's preferences in words)."""

    def __post_init__(self) -> None:
        check(self.num_seeds >= 2, "data.num_seeds", f"must be >= 2, got {self.num_seeds}")
        check(self.n_train >= 0 and self.n_test >= 0, "data.n_train", "n_train and n_test must be >= 0")
        check(self.max_arm >= 1, "data.max_arm", f"must be >= 1, got {self.max_arm}")
        check_choice(self.split, "data.split", SPLITS)
        check(
            0 < self.test_fraction < 1, "data.test_fraction", f"must be in (0, 1), got {self.test_fraction}"
        )
        check_choice(self.style, "data.style", STYLES)


@dataclass
class TrainConfig:
    """GRPO (paper: lr 1e-6, batch 64 prompts, 20 epochs for 2 seeds, 40 for 3–4; the rest unreported)."""

    model: str = "Qwen/Qwen2.5-3B-Instruct"
    learning_rate: float = 1e-6
    prompts_per_step: int = 64
    """The paper's "batch 64" counts prompts: one optimizer step uses 64·G completions."""
    num_generations: int = 8
    epochs: float = 20.0
    max_steps: int = -1
    """> 0 overrides epochs (the demo runs 2 steps)."""
    temperature: float = 1.0
    beta: float = 0.001
    epsilon: float = 0.2
    loss_type: str = "grpo"
    scale_rewards: str = "group"
    max_completion_length: int = 512
    per_device_train_batch_size: int = 8
    log_components: bool = True
    """Add R_fmt, R_con, R_ent, R_rel with weight 0 so TRL logs ``rewards/unirel_*/mean``."""
    use_vllm: bool = False
    bf16: bool | None = None
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        check(
            self.prompts_per_step >= 1, "train.prompts_per_step", f"must be >= 1, got {self.prompts_per_step}"
        )
        check(self.num_generations >= 2, "train.num_generations", f"must be >= 2, got {self.num_generations}")
        check(self.max_completion_length >= 1, "train.max_completion_length", "must be >= 1")
        check_choice(self.scale_rewards, "train.scale_rewards", ("group", "batch", "none"))


@dataclass
class EvalConfig:
    """Greedy decoding for every model-based method."""

    temperature: float = 0.0
    max_new_tokens: int = 512
    n: int = 1
    batch_size: int = 8

    def __post_init__(self) -> None:
        check(self.max_new_tokens >= 1, "eval.max_new_tokens", f"must be >= 1, got {self.max_new_tokens}")
        check(self.n >= 1, "eval.n", f"must be >= 1, got {self.n}")


@dataclass
class UniRelConfig:
    """A whole UniRel run."""

    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


Config = UniRelConfig
