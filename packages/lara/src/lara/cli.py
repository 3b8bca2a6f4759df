"""The ``lara`` command (spec §6): ``generate`` sample tasks, ``fit`` LARA/B-LARA weights, ``evaluate`` the
methods, ``bench`` memory and time against full-context ICL, and ``demo``.

Every command takes ``--recipe FILE`` (default ``recipes/toy.yaml``) and trailing ``key=value`` overrides.
Data is validated before the model is loaded; run-directory files are written only after success; bad input
is one ``error:`` line naming it, exit code 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from lara.config import LaraConfig
from rlcore.cli import (
    OverridesArg,
    RecipeOpt,
    console,
    input_errors,
    load_recipe,
    make_app,
    package_recipe,
)
from rlcore.runs import RunDir, atomic_write

T = TypeVar("T")

TOY_RECIPE = package_recipe(__file__)

app = make_app(
    "lara", "LARA / B-LARA: in-context learning by reweighting the logits of demonstration groups."
)


def _config(recipe: Path | None, overrides: Sequence[str] | None, **options: Any) -> LaraConfig:
    """The recipe (default ``recipes/toy.yaml``), the command's options (dotted keys) and the overrides."""
    return load_recipe(LaraConfig, recipe, list(overrides or []), default=TOY_RECIPE, options=options)


def _jsonl(rows: Sequence[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _engine(config: LaraConfig):
    from lara.arithmetic import GroupedLM

    return GroupedLM.from_spec(
        config.model,
        task_format=config.task_format,
        subject=config.task if config.dataset == "mmlu" else None,
        group_batch_size=config.group_batch_size,
        prefix_cache=config.prefix_cache,
        dtype=config.dtype,
        device=config.device,
    )


def _split(config: LaraConfig) -> tuple[list[dict], list[dict]]:
    from lara.data import load_records, split_demos

    records = load_records(config.dataset, config.task)
    preset = config.resolved()
    return split_demos(
        records,
        config.n_demos,
        shuffle=preset["shuffle_demos"],
        seed=config.seed,
        test_start=preset["test_start"],
        max_test=preset["max_test"],
    )


# ---------------------------------------------------------------------------------------------- generate


@app.command()
@input_errors
def generate(
    task: Annotated[
        str, typer.Option(help="A sample task (lara.data.SAMPLE_TASKS).")
    ] = "boolean_expressions",
    n: Annotated[int, typer.Option(help="Records.")] = 64,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="The .jsonl to write.")] = Path("task.jsonl"),
) -> None:
    """Write procedurally generated BBH-style records (input, target)."""
    from lara.data import generate_task

    rows = generate_task(task, n, seed=seed)
    atomic_write(out, _jsonl(rows))
    console.print(f"{len(rows)} {task} records → {out}")


# --------------------------------------------------------------------------------------------------- fit


def fit_variants(
    config: LaraConfig, engine: Any, demos: Sequence[dict], variants: Sequence[bool]
) -> tuple[dict[bool, Any], list[dict]]:
    """Fit LARA (False) and/or B-LARA (True), one candidate k at a time so that each k is timed; the
    variants share the cached group log-probs of each k. Returns the fits and one metrics row per
    (variant, k)."""
    from lara.grouping import candidate_group_sizes
    from lara.search import LaraFit, fit_lara, select_group_size

    sizes = candidate_group_sizes(len(demos), tuple(config.group_sizes))
    if not sizes:
        raise ValueError(
            f"n_demos={len(demos)}: n_demos//2 must exceed the smallest group size {min(config.group_sizes)}"
        )
    per_k: dict[bool, dict[int, Any]] = {v: {} for v in variants}
    rows = []
    for k in sizes:
        cache: dict = {}
        for binary in variants:
            start = time.perf_counter()
            fit = fit_lara(engine, demos, replace(config, group_sizes=[k]), binary=binary, group_cache=cache)
            seconds = time.perf_counter() - start
            per_k[binary][k] = fit
            rows.append(
                {
                    "variant": "blara" if binary else "lara",
                    "k": k,
                    "G": len(fit.groups),
                    "loss": fit.scores[k],
                    "evaluations": len(fit.histories.get(k, [])),
                    "seconds": round(seconds, 3),
                }
            )
    fits = {}
    for binary, by_k in per_k.items():
        scores = {k: f.scores[k] for k, f in by_k.items()}
        best = by_k[select_group_size(scores)]
        histories = {k: f.histories.get(k, []) for k, f in by_k.items()}
        fits[binary] = LaraFit(best.binary, best.group_size, best.groups, best.weights, scores, histories)
    return fits, rows


@app.command()
@input_errors
def fit(
    dataset: Annotated[str | None, typer.Option(help="bbh, mmlu, sample, or a data file.")] = None,
    task: Annotated[str | None, typer.Option(help="BBH task, MMLU subject or sample task.")] = None,
    model: Annotated[str | None, typer.Option(help="Model spec.")] = None,
    n_demos: Annotated[int | None, typer.Option(help="N demonstrations.")] = None,
    binary: Annotated[bool, typer.Option("--binary", help="B-LARA only.")] = False,
    both: Annotated[bool, typer.Option("--both", help="LARA and B-LARA (shared cached log-probs).")] = False,
    optimizer: Annotated[str | None, typer.Option(help="cma, ngopt or exhaustive.")] = None,
    budget: Annotated[int | None, typer.Option(help="Objective evaluations per k.")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory to write.")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Fit the group weights on the demonstrations (2-fold cross-fitting) → fit_lara.json / fit_blara.json."""
    config = _config(
        recipe,
        overrides,
        dataset=dataset,
        task=task,
        model=model,
        n_demos=n_demos,
        optimizer=optimizer,
        budget=budget,
        binary="true" if binary and not both else None,
    )
    variants = [False, True] if both else [config.binary]
    if config.optimizer == "exhaustive" and False in variants:
        raise ValueError("optimizer exhaustive searches binary weights only: use --binary")
    demos, test = _split(config)
    from lara.grouping import candidate_group_sizes

    if not candidate_group_sizes(len(demos), tuple(config.group_sizes)):
        raise ValueError(
            f"n_demos={len(demos)}: n_demos//2 must exceed the smallest group size {min(config.group_sizes)}"
        )
    engine = _engine(config)
    with console.status(f"fitting {' and '.join('B-LARA' if v else 'LARA' for v in variants)}"):
        fits, rows = fit_variants(config, engine, demos, variants)
    run = RunDir(run_dir, package="lara", name="fit", config=config)
    run.write_jsonl("demos.jsonl", demos)
    run.write_jsonl("test.jsonl", test)
    for binary_fit, fitted in fits.items():
        run.write_json("fit_blara.json" if binary_fit else "fit_lara.json", fitted.to_dict())
    for row in rows:
        run.log_metrics(row)
    for binary_fit, fitted in fits.items():
        name = "B-LARA" if binary_fit else "LARA"
        console.print(f"{name}: k={fitted.group_size}, weights {[round(w, 3) for w in fitted.weights]}")
    console.print(f"run dir: {run.path}")


# ---------------------------------------------------------------------------------------------- evaluate


def _load_fit(run: Path, name: str):
    from lara.search import LaraFit

    path = run / name
    return LaraFit.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None


def evaluate_methods(
    config: LaraConfig,
    engine: Any,
    demos: Sequence[dict],
    test: Sequence[dict],
    methods: Sequence[str],
    fits: dict[str, Any],
) -> tuple[dict[str, dict], list[dict]]:
    """Accuracy, seconds per query, groups run per query and peak KV tokens of each method on ``test``."""
    from lara.methods import build_ensemble
    from lara.rewards import extract_answer, infer_answer_type, is_correct

    results, predictions = {}, []
    for method in methods:
        fit = fits.get(method) if method in ("lara", "blara") else (fits.get("lara") or fits.get("blara"))
        group_size = config.group_size or (None if fit else 4)
        ensemble = build_ensemble(
            method, list(demos), fit=fit, group_size=group_size, truncated_demos=config.truncated_demos
        )
        engine.stats.reset()
        start = time.perf_counter()
        completions = engine.predict(
            ensemble, list(test), max_new_tokens=config.max_new_tokens, stop=tuple(config.stop)
        )
        seconds = time.perf_counter() - start
        correct = []
        for i, (example, completion) in enumerate(zip(test, completions, strict=True)):
            kind = infer_answer_type(example["target"], config.task_format)
            ok = is_correct(completion, example["target"], config.task_format, mode=config.extraction)
            correct.append(ok)
            predictions.append(
                {
                    "method": method,
                    "index": i,
                    "input": example["input"],
                    "target": example["target"],
                    "completion": completion,
                    "answer": extract_answer(completion, kind, mode=config.extraction),
                    "correct": ok,
                }
            )
        n = len(test)
        results[method] = {
            "accuracy": sum(correct) / n if n else 0.0,
            "n": n,
            "k": fit.group_size if fit and method != "icl" and method != "icl_truncated" else None,
            "groups_run": sum(1 for w in ensemble.weights if w != 0),
            "seconds_per_query": seconds / n if n else 0.0,
            "group_rows_per_query": engine.stats.group_rows / n if n else 0.0,
            "peak_kv_tokens": engine.stats.peak_kv_tokens,
        }
    return results, predictions


def results_table(results: dict[str, dict]) -> Table:
    table = Table()
    for col in ("method", "k", "groups run", "accuracy", "s/query", "peak_kv_tokens"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method, r in results.items():
        table.add_row(
            method,
            "-" if r.get("k") is None else str(r["k"]),
            str(r["groups_run"]),
            f"{r['accuracy']:.3f}",
            f"{r['seconds_per_query']:.2f}",
            str(r["peak_kv_tokens"]),
        )
    return table


def _report(config: LaraConfig, results: dict[str, dict]) -> str:
    lines = [
        f"# LARA evaluation: {config.model} on {config.dataset}/{config.task}",
        "",
        f"N = {config.n_demos} demonstrations, extraction `{config.extraction}`.",
        "",
        "| method | k | groups run | accuracy | s/query | group rows/query | peak KV tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, r in results.items():
        k = "-" if r.get("k") is None else r["k"]
        lines.append(
            f"| {method} | {k} | {r['groups_run']} | {r['accuracy']:.3f} | {r['seconds_per_query']:.3f} | "
            f"{r['group_rows_per_query']:.1f} | {r['peak_kv_tokens']} |"
        )
    return "\n".join(lines) + "\n"


@app.command()
@input_errors
def evaluate(
    run_dir: Annotated[Path, typer.Option(help="A `lara fit` run directory.")],
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated: icl,icl_truncated,uniform,lara,blara.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="First N test records.")] = None,
) -> None:
    """Run each method on the run's test records → predictions.jsonl, results.json, report.md."""
    from lara.methods import METHODS
    from rlcore.config import load_config
    from rlcore.data import load_records

    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"not a `lara fit` run directory (no config.yaml): {run_dir}")
    config = load_config(LaraConfig, run_dir / "config.yaml")
    chosen = [m.strip() for m in methods.split(",") if m.strip()] if methods else list(config.methods)
    for method in chosen:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    fits = {"lara": _load_fit(run_dir, "fit_lara.json"), "blara": _load_fit(run_dir, "fit_blara.json")}
    for method in ("lara", "blara"):
        if method in chosen and fits[method] is None:
            raise ValueError(f"method {method} needs {run_dir / f'fit_{method}.json'} (run `lara fit` first)")
    fits = {k: v for k, v in fits.items() if v is not None}
    demos = load_records(run_dir / "demos.jsonl")
    test = load_records(run_dir / "test.jsonl")
    if limit is not None:
        test = test[:limit]
    if not test:
        raise ValueError(f"{run_dir / 'test.jsonl'}: no test records")
    engine = _engine(config)
    results, predictions = evaluate_methods(config, engine, demos, test, chosen, fits)
    run = RunDir.resume(run_dir, package="lara")
    run.write_jsonl("predictions.jsonl", predictions)
    run.write_json("results.json", results)
    run.write_report(_report(config, results))
    console.print(results_table(results))


# ------------------------------------------------------------------------------------------------- bench


@app.command()
@input_errors
def bench(
    model: Annotated[str, typer.Option(help="Model spec.")] = "embedded:smollm2-135m-instruct",
    task: Annotated[
        str, typer.Option(help="Sample task (records generated with seed 0).")
    ] = "boolean_expressions",
    n_demos: Annotated[str, typer.Option(help="Comma-separated N values.")] = "8,16,32,64",
    group_size: Annotated[int, typer.Option(help="k.")] = 4,
    queries: Annotated[int, typer.Option(help="Queries per method and N (after one warm-up).")] = 4,
    out: Annotated[Path, typer.Option("--out", help="JSON to write.")] = Path("bench.json"),
) -> None:
    """Memory and time of LARA / B-LARA against full-context ICL on the same model and queries (spec §9)."""
    from lara.bench import bench_table, benchmark
    from lara.data import load_records

    sizes = tuple(int(x) for x in n_demos.split(",") if x.strip())
    records = load_records("sample", task)
    rows = benchmark(model, records, n_demos=sizes, group_size=group_size, n_queries=queries)
    atomic_write(out, json.dumps(rows, indent=2))
    console.print(bench_table(rows))
    console.print(f"→ {out}")


# -------------------------------------------------------------------------------------------------- demo


@app.command()
@input_errors
def demo(
    out: Annotated[Path | None, typer.Option("--out", help="Run directory.")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The whole pipeline at toy scale on CPU: fit LARA and B-LARA, evaluate all five methods."""
    config = _config(recipe or TOY_RECIPE, overrides)
    start = time.perf_counter()
    demos, test = _split(config)
    engine = _engine(config)
    with console.status("fitting LARA and B-LARA"):
        fits, rows = fit_variants(config, engine, demos, [False, True])
    named = {"lara": fits[False], "blara": fits[True]}
    with console.status("evaluating icl, icl_truncated, uniform, lara, blara"):
        results, predictions = evaluate_methods(
            config, engine, demos, test, ["icl", "icl_truncated", "uniform", "lara", "blara"], named
        )
    run = RunDir(out, package="lara", name="demo", config=config)
    run.write_jsonl("demos.jsonl", demos)
    run.write_jsonl("test.jsonl", test)
    run.write_json("fit_lara.json", named["lara"].to_dict())
    run.write_json("fit_blara.json", named["blara"].to_dict())
    for row in rows:
        run.log_metrics(row)
    run.write_jsonl("predictions.jsonl", predictions)
    run.write_json("results.json", results)
    run.write_report(_report(config, results))
    seconds = time.perf_counter() - start
    summary = {f"{m}_acc": r["accuracy"] for m, r in results.items()}
    summary |= {"lara_k": named["lara"].group_size, "blara_groups_run": results["blara"]["groups_run"]}
    summary |= {"seconds": round(seconds, 1), "results": results}
    run.write_json("summary.json", summary)
    console.print(results_table(results))
    console.print(f"run dir: {run.path}   wall time: {seconds:.0f} s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
