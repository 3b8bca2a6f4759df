"""Benchmark-level tables: quality (CBRC, DS, CAD, BQS), selection, strategies and sweeps (paper §3–§5).

Held-out models never enter a metric fit or a selection; they appear only in the rank tables.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmark2.config import Benchmark2Config
from benchmark2.metrics import (
    bqs,
    cad_score,
    capability_alignment,
    cbrc,
    discriminability,
    inversion_counts,
    inversion_rate,
    kendall_tau,
    pool_family_cad,
)
from benchmark2.selection import (
    baseline_selection,
    evaluate_selection,
    item_cad,
    item_discriminability,
    item_inversions,
    select_items,
)

__all__ = [
    "Selection",
    "bootstrap_quality",
    "compare_strategies",
    "family_cad_table",
    "pairwise_tau_table",
    "quality_from_scores",
    "quality_table",
    "ratio_sweep",
    "reproduce_table1",
    "select_benchmarks",
    "threshold_sweep",
]

PAPER_FAMILY_PAIRS = (3, 1, 3, 3)
"""Within-family pairs of the paper's four families (3, 2, 3, 3 models): the pooling weights of Table 7."""


def _config(config: Benchmark2Config | None) -> Benchmark2Config:
    return config if config is not None else Benchmark2Config()


def _fit(results, config: Benchmark2Config):
    """The results restricted to the models that enter metric fits (all but the held-out ones)."""
    held = set(config.held_out)
    unknown = held - set(results.model_names)
    if unknown:
        warnings.warn(f"held-out models not in the data: {', '.join(sorted(unknown))}", stacklevel=3)
    if not held:
        return results
    return results.subset(models=[m for m in results.model_names if m not in held])


def _families(results, config: Benchmark2Config) -> dict[str, list[int]]:
    """Families with at least two members, as row indices strongest first."""
    if config.families:
        index = {name: i for i, name in enumerate(results.model_names)}
        fams = {f: [index[m] for m in members if m in index] for f, members in config.families.items()}
    else:
        fams = results.families()
    fams = {f: list(rows) for f, rows in fams.items() if len(rows) >= 2}
    return fams


def _domains(results, config: Benchmark2Config) -> list[str]:
    return [config.domains.get(name, matrix.domain) for name, matrix in results.benchmarks.items()]


def _peer_domains(domains: list[str], config: Benchmark2Config):
    return None if config.cbrc_scope == "all" else domains


def _mean_matrix(results) -> np.ndarray:
    """[benchmarks, models]: each model's mean item score per benchmark."""
    return np.stack([m.scores.mean(axis=1) for m in results.benchmarks.values()])


def _cad_parts(scores: np.ndarray, fams: dict[str, list[int]], config: Benchmark2Config):
    inv, comp = inversion_counts(scores, fams) if fams else (0, 0)
    per_family = [cad_score(inversion_rate(scores, [rows]), lam=config.lam) for rows in fams.values()]
    if not fams:
        cad = float("nan")
    elif config.cad_pooling == "pooled":
        cad = capability_alignment(scores, fams, lam=config.lam)
    else:
        cad = float(np.mean(per_family))
    std = float(np.std(per_family)) if per_family else float("nan")
    return inv, comp, cad, std


def quality_table(results, *, config: Benchmark2Config | None = None) -> pd.DataFrame:
    """CBRC, DS, CAD and BQS per benchmark, with the inputs they rest on (paper Table 1)."""
    config = _config(config)
    fit = _fit(results, config)
    fams = _families(fit, config)
    if not fams:
        warnings.warn("no family with two models: CAD and BQS are NaN", stacklevel=2)
    domains = _domains(fit, config)
    means = _mean_matrix(fit)
    cb, cb_std = cbrc(means, _peer_domains(domains, config), variant=config.tau_variant, return_std=True)
    rows = []
    for b, (name, matrix) in enumerate(fit.benchmarks.items()):
        if np.isnan(cb[b]):
            warnings.warn(f"{name}: no same-domain peer, CBRC is NaN", stacklevel=2)
        model_means = means[b]
        ds = discriminability(model_means, eps=config.eps)
        inv, comp, cad, cad_std = _cad_parts(matrix.scores, fams, config)
        rows.append(
            {
                "benchmark": name,
                "domain": domains[b],
                "n_models": matrix.scores.shape[0],
                "n_items": matrix.scores.shape[1],
                "min": float(model_means.min()),
                "max": float(model_means.max()),
                "mean": float(model_means.mean()),
                "cbrc": float(cb[b]),
                "cbrc_std": float(cb_std[b]),
                "ds": ds,
                "inversions": int(inv),
                "comparisons": int(comp),
                "raw_inversion_rate": inv / comp if comp else float("nan"),
                "cad": cad,
                "cad_std": cad_std,
                "bqs": bqs(cb[b], ds, cad, weights=config.weights, clip_ds=config.clip_ds),
            }
        )
    return pd.DataFrame(rows).set_index("benchmark")


def quality_from_scores(
    table, *, cad: dict[str, float] | None = None, config: Benchmark2Config | None = None
):
    """CBRC and DS (and BQS where a CAD is given) from aggregate scores (a ScoreTable): no item columns."""
    config = _config(config)
    held = set(config.held_out)
    scores = table.scores[[m for m in table.scores.columns if m not in held]]
    benchmarks = list(scores.index)
    domains = [config.domains.get(b, table.domains.get(b)) if isinstance(table.domains, dict) else table.domains[b]
               for b in benchmarks]  # fmt: skip
    values = scores.to_numpy(dtype=float)
    cb, cb_std = cbrc(values, _peer_domains(domains, config), variant=config.tau_variant, return_std=True)
    rows = []
    for b, name in enumerate(benchmarks):
        ds = discriminability(values[b], eps=config.eps)
        c = float((cad or {}).get(name, float("nan")))
        rows.append(
            {
                "benchmark": name,
                "domain": domains[b],
                "n_models": values.shape[1],
                "min": float(values[b].min()),
                "max": float(values[b].max()),
                "mean": float(values[b].mean()),
                "cbrc": float(cb[b]),
                "cbrc_std": float(cb_std[b]),
                "ds": ds,
                "cad": c,
                "bqs": bqs(cb[b], ds, c, weights=config.weights, clip_ds=config.clip_ds),
            }
        )
    return pd.DataFrame(rows).set_index("benchmark")


def family_cad_table(results, *, config: Benchmark2Config | None = None) -> pd.DataFrame:
    """Per-family CAD (paper Table 7): index benchmark, one column per family with at least two fit models."""
    config = _config(config)
    fit = _fit(results, config)
    fams = _families(fit, config)
    data = {
        family: [cad_score(inversion_rate(m.scores, [rows]), lam=config.lam) for m in fit.benchmarks.values()]
        for family, rows in fams.items()
    }
    return pd.DataFrame(data, index=pd.Index(list(fit.benchmarks), name="benchmark"))


def pairwise_tau_table(source, *, config: Benchmark2Config | None = None) -> pd.DataFrame:
    """Kendall τ between the model rankings of every pair of benchmarks (paper Tables 15–17)."""
    from benchmark2.data import ItemResults

    config = _config(config)
    if isinstance(source, ItemResults):
        fit = _fit(source, config)
        names, values = list(fit.benchmarks), _mean_matrix(fit)
    else:
        held = set(config.held_out)
        frame = source.scores[[m for m in source.scores.columns if m not in held]]
        names, values = list(frame.index), frame.to_numpy(dtype=float)
    n = len(names)
    tau = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            tau[i, j] = tau[j, i] = kendall_tau(values[i], values[j], variant=config.tau_variant)
    return pd.DataFrame(tau, index=pd.Index(names, name="benchmark"), columns=names)


def bootstrap_quality(results, *, n_boot: int = 1000, seed: int = 0, config: Benchmark2Config | None = None):
    """Item-bootstrap confidence intervals of CBRC, DS, CAD and BQS (paper App. E).

    One ``default_rng(seed)``; each iteration resamples every benchmark's items, in benchmark order, with
    ``rng.integers(0, n_b, n_b)`` and recomputes the four metrics. Columns ``<metric>_mean``, ``_lo`` and
    ``_hi`` (2.5 and 97.5 percentiles).
    """
    config = _config(config)
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    fit = _fit(results, config)
    fams = _families(fit, config)
    domains = _peer_domains(_domains(fit, config), config)
    rng = np.random.default_rng(seed)
    matrices = [m.scores for m in fit.benchmarks.values()]
    draws = np.empty((n_boot, len(matrices), 4))
    for k in range(n_boot):
        resampled = [s[:, rng.integers(0, s.shape[1], s.shape[1])] for s in matrices]
        means = np.stack([s.mean(axis=1) for s in resampled])
        cb = cbrc(means, domains, variant=config.tau_variant)
        for b, s in enumerate(resampled):
            ds = discriminability(means[b], eps=config.eps)
            cad = _cad_parts(s, fams, config)[2]
            draws[k, b] = (
                cb[b],
                ds,
                cad,
                bqs(cb[b], ds, cad, weights=config.weights, clip_ds=config.clip_ds),
            )
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (no peer, no family) stay NaN
        for m, metric in enumerate(("cbrc", "ds", "cad", "bqs")):
            out[f"{metric}_mean"] = np.nanmean(draws[:, :, m], axis=0)
            out[f"{metric}_lo"] = np.nanpercentile(draws[:, :, m], 2.5, axis=0)
            out[f"{metric}_hi"] = np.nanpercentile(draws[:, :, m], 97.5, axis=0)
    return pd.DataFrame(out, index=pd.Index(list(fit.benchmarks), name="benchmark"))


def reproduce_table1(*, config: Benchmark2Config | None = None) -> pd.DataFrame:
    """Table 1 recomputed from the bundled appendix tables, beside the paper's printed values.

    CBRC and DS from the per-model scores (Tables 11–13); CAD pooled from the per-family CADs of Table 7,
    weighted by the families' pair counts (3, 1, 3, 3); ``cbrc_paper_tau`` is the mean of the paper's printed
    pairwise τ over the four same-domain peers (Tables 15–17).
    """
    from benchmark2.data import paper_family_cad, paper_pairwise_tau, paper_scores, paper_table1

    config = _config(config)
    scores = paper_scores()
    table1 = paper_table1().set_index("benchmark")
    family_cad = paper_family_cad().set_index("benchmark")
    paper_tau = paper_pairwise_tau()
    order = list(table1.index)
    values = scores.scores.loc[order].to_numpy(dtype=float)
    domains = [table1.loc[b, "domain"] for b in order]
    cb = cbrc(values, domains, variant=config.tau_variant)
    rows = []
    for i, name in enumerate(order):
        ds = discriminability(values[i], eps=config.eps)
        cad = pool_family_cad(family_cad.loc[name].to_numpy(dtype=float), PAPER_FAMILY_PAIRS, lam=config.lam)
        peers = [b for b, d in zip(order, domains, strict=True) if d == domains[i] and b != name]
        paper_row = table1.loc[name]
        rows.append(
            {
                "benchmark": name,
                "domain": domains[i],
                "cbrc": float(cb[i]),
                "ds": ds,
                "cad": cad,
                "bqs": bqs(cb[i], ds, cad, weights=config.weights, clip_ds=config.clip_ds),
                "cbrc_paper_tau": float(np.mean([paper_tau.loc[name, p] for p in peers])),
                "paper_cbrc": float(paper_row["cbrc"]),
                "paper_ds": float(paper_row["ds"]),
                "paper_cad": float(paper_row["cad"]),
                "paper_bqs": float(paper_row["bqs"]),
                "paper_bqs_from_parts": bqs(
                    paper_row["cbrc"], paper_row["ds"], paper_row["cad"], weights=config.weights
                ),
                "min": float(values[i].min()),
                "max": float(values[i].max()),
            }
        )
    return pd.DataFrame(rows).set_index("benchmark")


@dataclass
class Selection:
    """The selective benchmark: chosen items per benchmark, item scores, per-benchmark evaluation and ranks.

    ``results.subset(items=selection.selected)`` is the selective benchmark itself.
    """

    selected: dict[str, np.ndarray]
    items: pd.DataFrame
    evaluation: pd.DataFrame
    ranks: pd.DataFrame


def _select(scores, fams, config: Benchmark2Config, *, ratio=None, threshold: Any = "config"):
    return select_items(
        scores,
        fams,
        ratio=config.ratio if ratio is None else ratio,
        cad_threshold=config.cad_threshold if threshold == "config" else threshold,
        method=config.item_method,
        lam=config.lam,
        eps=config.eps,
    )


def _evaluate(scores, selected, config: Benchmark2Config) -> dict:
    if len(selected) == 0:
        return {"tau": float("nan"), "stability": float("nan"), "ds": float("nan"), "kept": 0.0}
    return evaluate_selection(scores, selected, n_boot=config.n_boot, seed=config.seed, eps=config.eps,
                              variant=config.tau_variant)  # fmt: skip


def select_benchmarks(results, *, config: Benchmark2Config | None = None) -> Selection:
    """Per benchmark: drop items with per-item CAD <= threshold, keep the top `ratio` by discriminability
    contribution (paper §5.4), and evaluate the subset against the full benchmark."""
    config = _config(config)
    fit = _fit(results, config)
    fams = _families(fit, config)
    domains = _domains(fit, config)
    selected, item_rows, eval_rows = {}, [], []
    for b, (name, matrix) in enumerate(fit.benchmarks.items()):
        scores = matrix.scores
        chosen = _select(scores, fams, config)
        selected[name] = chosen
        inv, pairs = item_inversions(scores, fams) if fams else (np.zeros(scores.shape[1], int),) * 2
        cads = item_cad(scores, fams, lam=config.lam) if fams else np.ones(scores.shape[1])
        contribution = item_discriminability(scores, method=config.item_method, eps=config.eps)
        mask = np.zeros(scores.shape[1], bool)
        mask[chosen] = True
        item_rows.append(
            pd.DataFrame(
                {
                    "benchmark": name,
                    "item_id": list(matrix.item_ids),
                    "mean_score": scores.mean(axis=0),
                    "inversions": inv,
                    "pairs": pairs,
                    "item_cad": cads,
                    "contribution": contribution,
                    "selected": mask,
                }
            )
        )
        if len(chosen) == 0:
            warnings.warn(f"{name}: the selection is empty (no item passes the CAD filter)", stacklevel=2)
        subset = _evaluate(scores, chosen, config)
        full = _evaluate(scores, np.arange(scores.shape[1]), config)
        eval_rows.append(
            {
                "benchmark": name,
                "domain": domains[b],
                "n_items": scores.shape[1],
                "n_selected": len(chosen),
                "kept": subset["kept"],
                "tau": subset["tau"],
                "stability": subset["stability"],
                "ds": subset["ds"],
                "stability_full": full["stability"],
                "ds_full": full["ds"],
            }
        )
    ranks = _rank_table(results, selected, config)
    return Selection(
        selected=selected,
        items=pd.concat(item_rows, ignore_index=True),
        evaluation=pd.DataFrame(eval_rows).set_index("benchmark"),
        ranks=ranks,
    )


def _rank_table(results, selected: dict[str, np.ndarray], config: Benchmark2Config) -> pd.DataFrame:
    """All models, held-out ones included (paper Tables 2–3): full and selective scores and ranks."""
    full = np.mean([m.scores.mean(axis=1) for m in results.benchmarks.values()], axis=0)
    sel = np.mean(
        [m.scores[:, selected[n]].mean(axis=1) if len(selected[n]) else m.scores.mean(axis=1)
         for n, m in results.benchmarks.items()],
        axis=0,
    )  # fmt: skip
    frame = pd.DataFrame(
        {
            "held_out": [name in set(config.held_out) for name in results.model_names],
            "full_score": full,
            "selective_score": sel,
        },
        index=pd.Index(results.model_names, name="model"),
    )
    frame["full_rank"] = frame["full_score"].rank(ascending=False, method="min").astype(int)
    frame["selective_rank"] = frame["selective_score"].rank(ascending=False, method="min").astype(int)
    return frame


STRATEGIES = ("full", "cad+ds", "cad", "ds", "random", "high_accuracy", "low_accuracy", "medium_difficulty")


def compare_strategies(results, *, config: Benchmark2Config | None = None, strategies=None) -> pd.DataFrame:
    """Selection strategies side by side (paper Tables 4 and 6): means over benchmarks of τ, stability, DS
    and the kept share; ``random`` averages seeds seed … seed + n_random − 1 and reports their std."""
    config = _config(config)
    fit = _fit(results, config)
    fams = _families(fit, config)
    rows = []
    for strategy in strategies or STRATEGIES:
        per_seed = []
        seeds = range(config.seed, config.seed + config.n_random) if strategy == "random" else [config.seed]
        for seed in seeds:
            values = []
            for matrix in fit.benchmarks.values():
                scores = matrix.scores
                n = scores.shape[1]
                if strategy == "full":
                    chosen = np.arange(n)
                elif strategy == "cad+ds":
                    chosen = _select(scores, fams, config)
                elif strategy == "cad":
                    cads = item_cad(scores, fams, lam=config.lam) if fams else np.ones(n)
                    threshold = config.cad_threshold if config.cad_threshold is not None else -1.0
                    chosen = np.flatnonzero(cads > threshold)
                elif strategy == "ds":
                    chosen = _select(scores, fams, config, threshold=None)
                elif strategy in ("random", "high_accuracy", "low_accuracy", "medium_difficulty"):
                    chosen = baseline_selection(scores, strategy, ratio=config.ratio, seed=seed)
                else:
                    raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
                values.append(_evaluate(scores, chosen, config))
            per_seed.append(
                {k: float(np.nanmean([v[k] for v in values])) for k in ("tau", "stability", "ds", "kept")}
            )
        row = {"strategy": strategy}
        for key in ("tau", "stability", "ds", "kept"):
            row[key] = float(np.mean([p[key] for p in per_seed]))
        for key in ("tau", "stability", "ds", "kept"):
            row[f"{key}_std"] = float(np.std([p[key] for p in per_seed]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("strategy")


def threshold_sweep(
    results, thresholds=(0.40, 0.15, 0.05, 0.01, None), *, config: Benchmark2Config | None = None
):
    """The CAD threshold's effect (paper Table 5): survivors of the filter, then τ, stability and DS."""
    config = _config(config)
    fit = _fit(results, config)
    fams = _families(fit, config)
    rows = []
    for threshold in thresholds:
        survivors, values = [], []
        for matrix in fit.benchmarks.values():
            scores = matrix.scores
            cads = item_cad(scores, fams, lam=config.lam) if fams else np.ones(scores.shape[1])
            survivors.append(float(np.mean(cads > threshold)) if threshold is not None else 1.0)
            values.append(_evaluate(scores, _select(scores, fams, config, threshold=threshold), config))
        rows.append(
            {
                "threshold": threshold,
                "survivors": float(np.mean(survivors)),
                **{k: float(np.nanmean([v[k] for v in values])) for k in ("tau", "stability", "ds")},
            }
        )
    frame = pd.DataFrame(rows)
    frame["threshold"] = pd.Series([r["threshold"] for r in rows], dtype=object)  # keep None: "no filter"
    return frame


def ratio_sweep(results, ratios=(0.1, 0.2, 0.35, 0.5, 0.75, 1.0), *, config: Benchmark2Config | None = None):
    """The kept share's effect (paper Figure 2): τ, stability and DS of the selection at each ratio."""
    config = _config(config)
    fit = _fit(results, config)
    fams = _families(fit, config)
    rows = []
    for ratio in ratios:
        values = [_evaluate(m.scores, _select(m.scores, fams, config, ratio=ratio), config)
                  for m in fit.benchmarks.values()]  # fmt: skip
        rows.append(
            {
                "ratio": ratio,
                **{k: float(np.nanmean([v[k] for v in values])) for k in ("tau", "stability", "ds")},
            }
        )
    return pd.DataFrame(rows)
