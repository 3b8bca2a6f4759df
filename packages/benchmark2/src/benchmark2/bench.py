"""Performance benchmark of the Benchmark² numeric core (spec §9).

Three parts:

1. **Absolute**: the vectorised per-benchmark pipeline (DS of the model means, pooled inversions → CAD, CBRC over
   benchmarks, BQS, ``select_items``, ``evaluate_selection`` on the subset and on all items, i.e. two stability
   bootstraps) at 100 models × 15 benchmarks × 10k items; target ≤ 2.0 s. Generation is not timed.
2. **Ratio** against ``naive_pipeline``, the same numbers computed with Python loops over models, items, family
   pairs and bootstrap draws and ``scipy.stats.kendalltau`` per pair, on the same bootstrap indices: equal within
   1e-9 with identical selections, and ≥ 30× slower at 2,000 items with n_boot = 50.
3. **Growth**: times over items × models; the log-log slope of time against items must be ≤ 1.2.

Inputs come from a local seeded IRT generator (``_synthetic_matrix``), so the benchmark does not depend on
``benchmark2.data``; when ``benchmark2.data`` and ``benchmark2.quality`` are importable, part 1 also times
``quality_table`` + ``select_benchmarks`` on ``synthetic_results`` as an extra row.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from scipy import stats

from benchmark2.metrics import (
    bqs,
    cad_score,
    cbrc,
    discriminability,
    inversion_counts,
    normalize_families,
)
from benchmark2.selection import evaluate_selection, select_items

__all__ = ["naive_pipeline", "run_bench", "vectorised_pipeline"]

MODELS_PER_FAMILY = 4
N_DOMAINS = 3
_GAP_TOL = 1e-9  # same tie rule as metrics.discriminability
_KEY_DECIMALS = 12  # same tie rule as selection.select_items


# ------------------------------------------------------------------------------------------------- inputs


def _family_rows(models: int) -> list[list[int]]:
    """Families of MODELS_PER_FAMILY consecutive rows (strongest first); leftover rows are in no family."""
    n_fam = models // MODELS_PER_FAMILY
    return [list(range(f * MODELS_PER_FAMILY, (f + 1) * MODELS_PER_FAMILY)) for f in range(n_fam)]


def _abilities(models: int, families: list[list[int]]) -> np.ndarray:
    """Model abilities θ shared by every benchmark: family offset + 1.0 per size step (largest strongest)."""
    rng = np.random.default_rng(10_000 + models)
    theta = rng.normal(0.0, 0.7, models)  # models in no family keep a random ability
    for fam in families:
        offset = rng.normal(0.0, 0.5)
        k = len(fam)
        for rank, row in enumerate(fam):
            theta[row] = offset + 1.0 * (k - 1 - rank) - (k - 1) / 2.0
    return theta


def _synthetic_matrix(seed: int, models: int, items: int, families: list[list[int]]) -> np.ndarray:
    """One binary benchmark [models, items] from a seeded IRT 2PL model (10% of items answered at chance)."""
    rng = np.random.default_rng(seed)
    theta = _abilities(models, families) + rng.normal(0.0, 0.3, models)  # benchmark-specific skill
    mu = rng.uniform(-1.0, 1.0)
    difficulty = rng.normal(mu, 1.0, items)
    discrimination = rng.lognormal(0.5, 0.3, items)
    discrimination[rng.random(items) < 0.1] = 0.0
    logits = discrimination[None, :] * (theta[:, None] - difficulty[None, :])
    return (rng.random((models, items)) < 1.0 / (1.0 + np.exp(-logits))).astype(float)


def _inputs(seed: int, models: int, benchmarks: int, items: int):
    families = _family_rows(models)
    mats = [_synthetic_matrix(seed + 1 + b, models, items, families) for b in range(benchmarks)]
    domains = [f"domain{b * N_DOMAINS // benchmarks}" for b in range(benchmarks)]
    return mats, domains, families


# --------------------------------------------------------------------------------------------- pipelines


def vectorised_pipeline(
    mats,
    domains,
    families,
    *,
    n_boot: int = 100,
    seed: int = 0,
    ratio: float = 0.35,
    cad_threshold: float | None = 0.15,
    eps: float = 0.02,
    lam: float = 12.0,
    weights=(0.3, 0.3, 0.4),
    variant: str = "b",
) -> dict:
    """Per-benchmark quality (DS, CAD, CBRC, BQS) and selection (items, τ, stability, DS) with the NumPy core."""
    means = np.stack([np.asarray(m, dtype=float).mean(axis=1) for m in mats])
    cb, cb_std = cbrc(means, domains, variant=variant, return_std=True)
    out: dict[str, list] = {k: [] for k in _FIELDS}
    for b, mat in enumerate(mats):
        ds = discriminability(means[b], eps=eps)
        inv, comp = inversion_counts(mat, families)
        cad = cad_score(inv / comp if comp else float("nan"), lam=lam)
        sel = select_items(mat, families, ratio=ratio, cad_threshold=cad_threshold, eps=eps, lam=lam)
        ev = evaluate_selection(mat, sel, n_boot=n_boot, seed=seed, eps=eps, variant=variant)
        full = evaluate_selection(
            mat, np.arange(mat.shape[1]), n_boot=n_boot, seed=seed, eps=eps, variant=variant
        )
        row = {
            "cbrc": float(cb[b]),
            "cbrc_std": float(cb_std[b]),
            "ds": ds,
            "inversions": inv,
            "comparisons": comp,
            "cad": cad,
            "bqs": bqs(cb[b], ds, cad, weights=weights),
            "selected": sel.tolist(),
            "tau": ev["tau"],
            "stability": ev["stability"],
            "ds_sel": ev["ds"],
            "stability_full": full["stability"],
            "ds_full": full["ds"],
        }
        for k in _FIELDS:
            out[k].append(row[k])
    return out


_FIELDS = (
    "cbrc",
    "cbrc_std",
    "ds",
    "inversions",
    "comparisons",
    "cad",
    "bqs",
    "selected",
    "tau",
    "stability",
    "ds_sel",
    "stability_full",
    "ds_full",
)


def _naive_tau(x, y) -> float:
    t = stats.kendalltau(x, y).statistic
    return 0.0 if math.isnan(t) else float(t)


def _naive_ds(s: list[float], eps: float) -> float:
    m = len(s)
    if m < 2:
        return 0.0
    mu = sum(s) / m
    sigma = math.sqrt(sum((v - mu) ** 2 for v in s) / m)
    if mu == 0.0 or sigma == 0.0:
        return 0.0
    sep = sum(1 for j in range(m) for k in range(j + 1, m) if abs(s[j] - s[k]) > eps + _GAP_TOL)
    return sigma / mu * math.sqrt(sep / (m * (m - 1) / 2))


def _naive_row_means(rows: list[list[float]]) -> list[float]:
    out = []
    for row in rows:  # loop over models
        total = 0.0
        for v in row:  # and over items
            total += v
        out.append(total / len(row))
    return out


def _naive_stability(mat: np.ndarray, n_boot: int, seed: int) -> float:
    n = mat.shape[1]
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))  # the same single draw
    draws = [np.round(mat[:, idx[k]].mean(axis=1), 12) for k in range(n_boot)]  # loop over draws
    taus = [_naive_tau(draws[a], draws[b]) for a in range(n_boot) for b in range(a + 1, n_boot)]
    return sum(taus) / len(taus)


def naive_pipeline(
    mats,
    domains,
    families,
    *,
    n_boot: int = 100,
    seed: int = 0,
    ratio: float = 0.35,
    cad_threshold: float | None = 0.15,
    eps: float = 0.02,
    lam: float = 12.0,
    weights=(0.3, 0.3, 0.4),
    variant: str = "b",
) -> dict:
    """The same results as ``vectorised_pipeline`` computed with Python loops (models, items, family pairs,
    bootstrap draws) and ``scipy.stats.kendalltau`` per pair, on the same bootstrap indices. τ-b only."""
    if variant != "b":
        raise ValueError("naive_pipeline implements τ-b only (scipy's default)")
    fams = [f.tolist() for f in normalize_families(families, np.asarray(mats[0]).shape[0])]
    mats = [np.asarray(m, dtype=float) for m in mats]
    rows_all = [m.tolist() for m in mats]
    means = [_naive_row_means(rows) for rows in rows_all]
    n_b = len(mats)
    out: dict[str, list] = {k: [] for k in _FIELDS}
    for b in range(n_b):
        mat, rows, s = mats[b], rows_all[b], means[b]
        m, n = mat.shape
        peers = [_naive_tau(s, means[j]) for j in range(n_b) if j != b and domains[j] == domains[b]]
        cb = sum(peers) / len(peers) if peers else float("nan")
        cb_std = math.sqrt(sum((t - cb) ** 2 for t in peers) / len(peers)) if peers else float("nan")
        ds = _naive_ds(s, eps)
        # Inversions: every within-family (stronger a, weaker c) pair, item by item.
        inv_item = [0] * n
        pairs = 0
        for fam in fams:
            for x in range(len(fam)):
                for y in range(x + 1, len(fam)):
                    pairs += 1
                    strong, weak = rows[fam[x]], rows[fam[y]]
                    for q in range(n):
                        if weak[q] > strong[q]:
                            inv_item[q] += 1
        inv, comp = sum(inv_item), pairs * n
        cad = math.exp(-lam * inv / comp) if comp else float("nan")
        parts = (cb, ds, cad)
        quality = (
            float("nan")
            if any(math.isnan(v) for v in parts)
            else weights[0] * (cb + 1) / 2 + weights[1] * ds + weights[2] * cad
        )
        # Selection: per-item CAD filter, covariance contribution, top k with ties to the lower index.
        s_bar = sum(s) / m
        contrib = []
        for q in range(n):
            col = [rows[j][q] for j in range(m)]
            if max(col) == min(col):
                contrib.append(0.0)
                continue
            c_bar = sum(col) / m
            contrib.append(sum((col[j] - c_bar) * (s[j] - s_bar) for j in range(m)) / m)
        item_cads = [math.exp(-lam * inv_item[q] / pairs) if pairs else 1.0 for q in range(n)]
        candidates = [q for q in range(n) if cad_threshold is None or item_cads[q] > cad_threshold]
        k = max(1, math.floor(ratio * n + 0.5))
        ranked = sorted(candidates, key=lambda q: (-round(contrib[q], _KEY_DECIMALS), q))
        sel = sorted(ranked[:k])
        sub = mat[:, sel]
        sub_means = _naive_row_means(sub.tolist())
        row = {
            "cbrc": cb,
            "cbrc_std": cb_std,
            "ds": ds,
            "inversions": inv,
            "comparisons": comp,
            "cad": cad,
            "bqs": quality,
            "selected": sel,
            "tau": _naive_tau(s, sub_means),
            "stability": _naive_stability(sub, n_boot, seed),
            "ds_sel": _naive_ds(sub_means, eps),
            "stability_full": _naive_stability(mat, n_boot, seed),
            "ds_full": ds,
        }
        for key in _FIELDS:
            out[key].append(row[key])
    return out


def compare_results(a: dict, b: dict, *, tol: float = 1e-9) -> float:
    """Largest absolute difference between two pipeline results; raises if any selection differs."""
    worst = 0.0
    for key in _FIELDS:
        for x, y in zip(a[key], b[key], strict=True):
            if key == "selected":
                if list(x) != list(y):
                    raise AssertionError("selections differ")
                continue
            if math.isnan(x) and math.isnan(y):
                continue
            worst = max(worst, abs(float(x) - float(y)))
    if worst > tol:
        raise AssertionError(f"results differ by {worst:.3g} > {tol}")
    return worst


# ----------------------------------------------------------------------------------------------- driver


def _best_time(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _package_time(models: int, benchmarks: int, items: int, n_boot: int) -> float | None:
    """quality_table + select_benchmarks on synthetic_results, when the data and quality modules are ready."""
    try:
        from benchmark2.config import Benchmark2Config
        from benchmark2.data import synthetic_results
        from benchmark2.quality import quality_table, select_benchmarks
    except ImportError:
        return None
    per_domain = max(1, benchmarks // N_DOMAINS)
    results = synthetic_results(
        0,
        n_families=max(1, models // MODELS_PER_FAMILY),
        models_per_family=MODELS_PER_FAMILY,
        n_domains=N_DOMAINS,
        benchmarks_per_domain=per_domain,
        n_items=items,
    )
    config = Benchmark2Config(n_boot=n_boot)

    def run():
        quality_table(results, config=config)
        select_benchmarks(results, config=config)

    return _best_time(run, 2)


def run_bench(
    models: int = 100,
    benchmarks: int = 15,
    items: int = 10000,
    n_boot: int = 100,
    ratio_items: int = 2000,
    out=None,
    console=None,
    *,
    items_grid=(2500, 5000, 10000),
    models_grid=(25, 50, 100),
    ratio_n_boot: int = 50,
    repeat: int = 3,
) -> dict:
    """Run spec §9's three parts, print rich tables and (with ``out``) save the numbers as JSON."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    report: dict = {"config": {"models": models, "benchmarks": benchmarks, "items": items, "n_boot": n_boot}}

    # 1. Absolute time at full scale.
    mats, domains, fams = _inputs(0, models, benchmarks, items)
    t_abs = _best_time(lambda: vectorised_pipeline(mats, domains, fams, n_boot=n_boot), repeat)
    del mats
    t_pkg = _package_time(models, benchmarks, items, n_boot)
    report["absolute"] = {"seconds": t_abs, "target_s": 2.0, "ok": t_abs <= 2.0, "package_seconds": t_pkg}
    table = Table(
        title=f"1. Absolute: {models} models × {benchmarks} benchmarks × {items} items, n_boot={n_boot}"
    )
    for col in ("pipeline", "seconds", "target", "ok"):
        table.add_column(col)
    table.add_row("vectorised core", f"{t_abs:.3f}", "≤ 2.0 s", "yes" if t_abs <= 2.0 else "NO")
    if t_pkg is not None:
        table.add_row(
            "quality_table + select_benchmarks", f"{t_pkg:.3f}", "≤ 2.0 s", "yes" if t_pkg <= 2.0 else "NO"
        )
    console.print(table)

    # 2. Ratio against the loop baseline on identical inputs and bootstrap indices.
    mats, domains, fams = _inputs(1, models, benchmarks, ratio_items)
    fast = vectorised_pipeline(mats, domains, fams, n_boot=ratio_n_boot)
    t_fast = _best_time(lambda: vectorised_pipeline(mats, domains, fams, n_boot=ratio_n_boot), repeat)
    t0 = time.perf_counter()
    slow = naive_pipeline(mats, domains, fams, n_boot=ratio_n_boot)
    t_slow = time.perf_counter() - t0
    max_diff = compare_results(fast, slow)
    ratio = t_slow / t_fast
    report["ratio"] = {
        "items": ratio_items,
        "n_boot": ratio_n_boot,
        "vectorised_s": t_fast,
        "naive_s": t_slow,
        "speedup": ratio,
        "max_abs_diff": max_diff,
        "selections_identical": True,
        "target": 30.0,
        "ok": ratio >= 30.0,
    }
    table = Table(
        title=f"2. Ratio vs naive_pipeline: {models} × {benchmarks} × {ratio_items}, n_boot={ratio_n_boot}"
    )
    for col in ("vectorised s", "naive s", "speedup", "max |diff|", "selections", "ok (≥ 30×)"):
        table.add_column(col)
    table.add_row(
        f"{t_fast:.3f}",
        f"{t_slow:.2f}",
        f"{ratio:.1f}×",
        f"{max_diff:.1e}",
        "identical",
        "yes" if ratio >= 30 else "NO",
    )
    console.print(table)

    # 3. Growth over items × models.
    grid = []
    for m in models_grid:
        for n in items_grid:
            mats, domains, fams = _inputs(2, m, benchmarks, n)
            t = _best_time(lambda mats=mats, domains=domains, fams=fams: vectorised_pipeline(
                mats, domains, fams, n_boot=n_boot), repeat)  # fmt: skip
            grid.append({"models": m, "items": n, "seconds": t})
    top = max(models_grid)
    xs = [g["items"] for g in grid if g["models"] == top]
    ys = [g["seconds"] for g in grid if g["models"] == top]
    slope = float(np.polyfit(np.log(xs), np.log(ys), 1)[0]) if len(xs) >= 2 else float("nan")
    top_items = max(items_grid)
    xm = [g["models"] for g in grid if g["items"] == top_items]
    ym = [g["seconds"] for g in grid if g["items"] == top_items]
    slope_m = float(np.polyfit(np.log(xm), np.log(ym), 1)[0]) if len(xm) >= 2 else float("nan")
    report["growth"] = {
        "grid": grid,
        "slope_items": slope,
        "slope_models": slope_m,
        "target_slope_items": 1.2,
        "ok": slope <= 1.2,
    }
    table = Table(title=f"3. Growth: seconds, {benchmarks} benchmarks, n_boot={n_boot}")
    table.add_column("models \\ items")
    for n in items_grid:
        table.add_column(str(n))
    for m in models_grid:
        table.add_row(str(m), *[f"{g['seconds']:.3f}" for g in grid if g["models"] == m])
    console.print(table)
    console.print(
        f"log-log slope vs items (models={top}): {slope:.2f} (≤ 1.2: {'yes' if slope <= 1.2 else 'NO'}); "
        f"vs models (items={top_items}): {slope_m:.2f}"
    )
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(path)
        console.print(f"saved {path}")
    return report
