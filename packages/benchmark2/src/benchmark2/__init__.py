"""Benchmark²: systematic evaluation of LLM benchmarks (Qian, Huang et al., arXiv 2601.03986).

Scores benchmarks, not models: cross-benchmark ranking consistency (CBRC), discriminability (DS) and
capability alignment deviation (CAD), combined into BQS, and selects the items that keep a benchmark's
ranking with a third of its size. Every public name is re-exported here; nothing imports torch.
"""

from benchmark2.collect import collect_items
from benchmark2.config import Benchmark2Config, CollectConfig, Config
from benchmark2.data import (
    BenchmarkMatrix,
    ItemResults,
    ModelInfo,
    ScoreTable,
    infer_family_size,
    paper_family_cad,
    paper_pairwise_tau,
    paper_scores,
    paper_table1,
    read_items,
    read_lm_eval,
    read_scores,
    synthetic_results,
    write_items,
)
from benchmark2.metrics import (
    bqs,
    cad_score,
    capability_alignment,
    cbrc,
    discriminability,
    inversion_counts,
    inversion_rate,
    kendall_tau,
    mean_pairwise_tau,
    pool_family_cad,
    stability,
)
from benchmark2.plots import plot_quality_bars, plot_ranking_heatmap, plot_ratio_curve, plot_tau_heatmap
from benchmark2.prompts import build_messages
from benchmark2.quality import (
    Selection,
    bootstrap_quality,
    compare_strategies,
    family_cad_table,
    pairwise_tau_table,
    quality_from_scores,
    quality_table,
    ratio_sweep,
    reproduce_table1,
    select_benchmarks,
    threshold_sweep,
)
from benchmark2.report import write_report
from benchmark2.rewards import exact_match_reward
from benchmark2.selection import (
    baseline_selection,
    evaluate_selection,
    item_cad,
    item_discriminability,
    item_inversions,
    select_items,
)

__version__ = "0.1.0"

__all__ = [
    "Benchmark2Config",
    "BenchmarkMatrix",
    "CollectConfig",
    "Config",
    "ItemResults",
    "ModelInfo",
    "ScoreTable",
    "Selection",
    "__version__",
    "baseline_selection",
    "bootstrap_quality",
    "bqs",
    "build_messages",
    "cad_score",
    "capability_alignment",
    "cbrc",
    "collect_items",
    "compare_strategies",
    "discriminability",
    "evaluate_selection",
    "exact_match_reward",
    "family_cad_table",
    "infer_family_size",
    "inversion_counts",
    "inversion_rate",
    "item_cad",
    "item_discriminability",
    "item_inversions",
    "kendall_tau",
    "mean_pairwise_tau",
    "pairwise_tau_table",
    "paper_family_cad",
    "paper_pairwise_tau",
    "paper_scores",
    "paper_table1",
    "plot_quality_bars",
    "plot_ranking_heatmap",
    "plot_ratio_curve",
    "plot_tau_heatmap",
    "pool_family_cad",
    "quality_from_scores",
    "quality_table",
    "ratio_sweep",
    "read_items",
    "read_lm_eval",
    "read_scores",
    "reproduce_table1",
    "select_benchmarks",
    "select_items",
    "stability",
    "synthetic_results",
    "threshold_sweep",
    "write_items",
    "write_report",
]
