"""Benchmark²'s settings (spec §3). No official code exists: where the paper is silent or inconsistent the
default is stated and the alternative is a switch."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlcore.config import check

__all__ = ["Benchmark2Config", "CollectConfig", "Config"]


@dataclass
class CollectConfig:
    """`benchmark2 collect`: per-item results from models through rlcore (optional stage)."""

    max_new_tokens: int = 16384
    """Table 8's generation length."""
    temperature: float = 0.0
    """Greedy, as the main text says (Table 8 says 0.7 / top-p 0.8: set both for that)."""
    top_p: float = 1.0
    limit: int | None = None

    def __post_init__(self) -> None:
        check(self.max_new_tokens >= 1, "collect.max_new_tokens", "must be >= 1")
        check(self.temperature >= 0, "collect.temperature", "must be >= 0")
        check(0 < self.top_p <= 1, "collect.top_p", "must be in (0, 1]")


@dataclass
class Benchmark2Config:
    """Metric, selection and data settings with the paper's defaults."""

    eps: float = 0.02
    """DS significance gap on the 0–1 scale (paper §3.2)."""
    lam: float = 12.0
    """λ of the CAD transform exp(−λ·rate) (paper App. B)."""
    weights: tuple[float, float, float] = (0.3, 0.3, 0.4)
    """BQS weights α, β, γ of (CBRC+1)/2, DS and CAD (paper §3.4)."""
    tau_variant: str = "b"
    """Kendall τ-b (real scores tie; the paper does not say) or "a"."""
    cbrc_scope: str = "domain"
    """Peers of a benchmark: the same-domain benchmarks (paper), or "all" other benchmarks."""
    cad_pooling: str = "pooled"
    """CAD from the inversions pooled over families (paper Eq. 4); "family_mean" averages per-family CADs."""
    clip_ds: bool = False
    """Clip DS at 1 inside BQS (the paper says DS ∈ [0, 1], but the coefficient of variation can exceed 1)."""
    held_out: list[str] = field(default_factory=list)
    """Models left out of every metric fit and selection, kept in the rank tables (paper: 3 base models)."""
    families: dict[str, list[str]] = field(default_factory=dict)
    """Family -> model names, strongest first; overrides the data's families."""
    infer_families: bool = False
    """Infer family and size from model names (`Qwen/Qwen2.5-72B-Instruct` -> Qwen2.5-Instruct, 72)."""
    domains: dict[str, str] = field(default_factory=dict)
    """Benchmark -> domain; overrides the data's domains."""
    missing: str = "error"
    """Absent (model, item) cells: "error", "zero" (count 0) or "drop" (remove the item)."""
    ratio: float = 0.35
    """Share of each benchmark's items the selective benchmark keeps (paper §5.4)."""
    cad_threshold: float | None = 0.15
    """Items need per-item CAD above this (Table 5; None: no filter)."""
    item_method: str = "covariance"
    """Per-item discriminability: covariance with the model totals (default), "pointbiserial" or "loo"."""
    n_boot: int = 100
    """Bootstrap draws of the stability measure (paper K = 100)."""
    seed: int = 0
    n_random: int = 5
    """Seeds of the random-selection baseline."""
    ci_boot: int = 1000
    """Bootstrap iterations of the --ci confidence intervals (paper App. E)."""
    collect: CollectConfig = field(default_factory=CollectConfig)

    def __post_init__(self) -> None:
        check(self.eps >= 0, "eps", f"must be >= 0, got {self.eps}")
        check(self.lam > 0, "lam", f"must be > 0, got {self.lam}")
        check(len(self.weights) == 3 and all(w >= 0 for w in self.weights), "weights", "three numbers >= 0")
        check(self.tau_variant in ("a", "b"), "tau_variant", f"'a' or 'b', got {self.tau_variant!r}")
        check(
            self.cbrc_scope in ("domain", "all"), "cbrc_scope", f"'domain' or 'all', got {self.cbrc_scope!r}"
        )
        check(self.cad_pooling in ("pooled", "family_mean"), "cad_pooling", f"got {self.cad_pooling!r}")
        check(
            self.missing in ("error", "zero", "drop"),
            "missing",
            f"'error', 'zero' or 'drop', got {self.missing!r}",
        )
        check(0 < self.ratio <= 1, "ratio", f"must be in (0, 1], got {self.ratio}")
        check(
            self.cad_threshold is None or 0 <= self.cad_threshold <= 1,
            "cad_threshold",
            "must be in [0, 1] or null",
        )
        check(
            self.item_method in ("covariance", "pointbiserial", "loo"),
            "item_method",
            f"'covariance', 'pointbiserial' or 'loo', got {self.item_method!r}",
        )
        check(self.n_boot >= 2, "n_boot", f"must be >= 2, got {self.n_boot}")
        check(self.n_random >= 1, "n_random", f"must be >= 1, got {self.n_random}")
        check(self.ci_boot >= 2, "ci_boot", f"must be >= 2, got {self.ci_boot}")


Config = Benchmark2Config
"""The root config class every recipe describes."""
