"""`report.md` of a run: tables at 3 decimals, per-domain averages, warnings, and the plots."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmark2.plots import plot_quality_bars, plot_ratio_curve

__all__ = ["markdown_table", "write_report"]


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.3f}"
    if value is None:
        return "none"
    return str(value)


def markdown_table(frame: pd.DataFrame, *, index: bool = True) -> str:
    """A markdown table with numbers at 3 decimals."""
    frame = frame.reset_index() if index and frame.index.name else frame
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _domain_averages(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    present = [c for c in columns if c in frame.columns]
    averages = frame.groupby("domain", sort=False)[present].mean()
    averages.loc["all"] = frame[present].mean()
    averages.index.name = "domain"
    return averages


def _warnings(quality, selection) -> list[str]:
    notes = []
    if quality is not None:
        for name, row in quality.iterrows():
            if math.isnan(row["cbrc"]):
                notes.append(f"{name}: no same-domain peer benchmark, CBRC is NaN")
        if quality["cad"].isna().all():
            notes.append("no family with two models: CAD and BQS are NaN")
    if selection is not None:
        for name, row in selection.evaluation.iterrows():
            if row["n_selected"] == 0:
                notes.append(f"{name}: the selection is empty (no item passes the CAD filter)")
    return notes


def write_report(
    run_dir,
    *,
    quality: pd.DataFrame | None = None,
    selection=None,
    strategies: pd.DataFrame | None = None,
    sweep: pd.DataFrame | None = None,
    ratios: pd.DataFrame | None = None,
    title: str | None = None,
) -> Path:
    """Write ``report.md`` into ``run_dir`` (a path or an rlcore RunDir), drawing its plots under ``plots/``."""
    from rlcore.runs import atomic_write

    root = Path(run_dir)
    plots = root / "plots"
    lines = [f"# {title or 'Benchmark² report'}", ""]
    if quality is not None:
        plot_quality_bars(quality, plots / "quality_bars.png")
        lines += ["## Benchmark quality", "", markdown_table(quality), ""]
        lines += [
            "Per-domain averages:",
            "",
            markdown_table(_domain_averages(quality, ["cbrc", "ds", "cad", "bqs"])),
            "",
        ]
    if selection is not None:
        lines += ["## Selective benchmark", "", markdown_table(selection.evaluation), ""]
        lines += ["Per-domain averages:", "", markdown_table(
            _domain_averages(selection.evaluation, ["kept", "tau", "stability", "stability_full", "ds", "ds_full"])), ""]  # fmt: skip
        lines += ["Model ranks, full and selective:", "", markdown_table(selection.ranks), ""]
    if strategies is not None:
        lines += ["## Selection strategies", "", markdown_table(strategies), ""]
    if sweep is not None:
        lines += ["## CAD threshold sweep", "", markdown_table(sweep, index=False), ""]
    if ratios is not None:
        plot_ratio_curve(ratios, plots / "ratio_curve.png")
        lines += ["## Ratio sweep", "", markdown_table(ratios, index=False), ""]
    notes = _warnings(quality, selection)
    if notes:
        lines += ["## Warnings", "", *[f"- {n}" for n in notes], ""]
    if plots.is_dir():
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}](plots/{p.name})" for p in sorted(plots.glob("*.png"))]
        lines.append("")
    return atomic_write(root / "report.md", "\n".join(lines))
