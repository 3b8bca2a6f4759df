"""PNG figures of the report (matplotlib, Agg backend); each function returns the path it wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["plot_quality_bars", "plot_ranking_heatmap", "plot_ratio_curve", "plot_tau_heatmap"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    import io

    from rlcore.runs import atomic_write

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write(path, buffer.getvalue())


def plot_ranking_heatmap(table, path: str | Path) -> Path:
    """Benchmark × model ranks (1 = best), models ordered by mean rank, cells annotated, domains separated."""
    plt = _pyplot()
    ranks = table.ranks()
    order = ranks.mean(axis=0).sort_values().index
    domains = table.domains if isinstance(table.domains, dict) else dict(table.domains)
    domain_order = list(dict.fromkeys(domains.get(b) for b in ranks.index))
    rows = sorted(
        ranks.index, key=lambda b: domain_order.index(domains.get(b))
    )  # stable: keeps benchmark order
    data = ranks.loc[rows, order].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(order), 1.0 + 0.4 * len(rows)))
    image = ax.imshow(data, cmap="viridis_r", aspect="auto")
    ax.set_xticks(
        range(len(order)), [str(m).split("/")[-1] for m in order], rotation=60, ha="right", fontsize=8
    )
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            ax.text(j, i, f"{data[i, j]:.0f}", ha="center", va="center", fontsize=7, color="white")
    labels = [domains.get(b) for b in rows]
    for i in range(1, len(rows)):
        if labels[i] != labels[i - 1]:
            ax.axhline(i - 0.5, color="white", linewidth=2)
    fig.colorbar(image, ax=ax, label="rank (1 = best)")
    ax.set_title("Model ranks per benchmark")
    return _save(fig, path)


def plot_quality_bars(quality: pd.DataFrame, path: str | Path) -> Path:
    """Grouped bars per benchmark: (CBRC + 1)/2, DS, CAD and BQS (the BQS parts on one scale)."""
    plt = _pyplot()
    parts = {
        "(CBRC+1)/2": (quality["cbrc"].to_numpy(dtype=float) + 1) / 2,
        "DS": quality["ds"].to_numpy(dtype=float),
        "CAD": quality["cad"].to_numpy(dtype=float),
        "BQS": quality["bqs"].to_numpy(dtype=float),
    }
    x = np.arange(len(quality))
    width = 0.2
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(quality)), 4.0))
    for k, (label, values) in enumerate(parts.items()):
        ax.bar(x + (k - 1.5) * width, np.nan_to_num(values), width, label=label)
    ax.set_xticks(x, list(quality.index), rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    ax.set_title("Benchmark quality")
    return _save(fig, path)


def plot_tau_heatmap(tau_table: pd.DataFrame, path: str | Path) -> Path:
    """Kendall τ between the benchmarks' model rankings."""
    plt = _pyplot()
    data = tau_table.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * len(tau_table), 1.0 + 0.5 * len(tau_table)))
    image = ax.imshow(data, cmap="RdBu", vmin=-1, vmax=1)
    names = list(tau_table.index)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label="Kendall τ")
    ax.set_title("Pairwise ranking agreement")
    return _save(fig, path)


def plot_ratio_curve(sweep: pd.DataFrame, path: str | Path) -> Path:
    """τ, stability and DS of the selective benchmark against the kept ratio (paper Figure 2)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for column in ("tau", "stability", "ds"):
        ax.plot(sweep["ratio"], sweep[column], marker="o", label=column)
    ax.set_xlabel("kept ratio")
    ax.set_ylabel("value")
    ax.legend()
    ax.set_title("Selection ratio sweep")
    return _save(fig, path)
