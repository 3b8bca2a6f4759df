"""The ``r-zero`` command (spec §6): each stage of the loop as a subcommand, ``iterate`` for the whole loop,
``evaluate`` and ``demo``. Every command takes ``--recipe FILE`` (default ``recipes/toy.yaml``) and trailing
``key=value`` overrides. Bad input is one ``error:`` line naming it, exit code 2, nothing half-written.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from r_zero.config import RZeroConfig
from rlcore.cli import OverridesArg, RecipeOpt, console, load_recipe, make_app, package_recipe, user_errors
from rlcore.data import DataError
from rlcore.errors import USER_ERRORS
from rlcore.runs import atomic_write

TOY_RECIPE = package_recipe(__file__)

app = make_app("r-zero", "R-Zero: a Challenger and a Solver co-evolve from one base LLM with zero data.")

ModelOpt = Annotated[str | None, typer.Option(help="Model spec: hub id, local dir, embedded:…, tiny:….")]
OutFile = Annotated[Path, typer.Option("--out", help="The file to write.")]
OutDir = Annotated[Path, typer.Option("--out", help="The checkpoint directory to write.")]


def _config(recipe: Path | None, overrides: list[str] | None) -> RZeroConfig:
    return load_recipe(RZeroConfig, recipe, overrides, default=TOY_RECIPE if TOY_RECIPE.exists() else None)


def _jsonl(path: Path) -> list[dict]:
    from rlcore.data import load_records

    if not Path(path).is_file():
        raise FileNotFoundError(f"file not found: {path}")
    return load_records(path)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Warnings of the loop (a skipped Solver phase, a step without a valid question) as one yellow line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        console.print(f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True)


@contextmanager
def _new_dir(path: Path) -> Iterator[Path]:
    """A directory a command fills; removed again (when it is new) if the command fails on bad input."""
    existed = path.exists()
    try:
        yield path
    except (*USER_ERRORS, ValueError):
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _model(spec: str | None, config: RZeroConfig) -> str:
    """The model of a command: ``--…`` option or the recipe's ``model`` (loading errors are one line later)."""
    return spec or config.model


@app.command("train-challenger")
@user_errors
def train_challenger_cmd(
    challenger: ModelOpt = None,
    solver: ModelOpt = None,
    out: OutDir = Path("runs/r-zero/challenger"),
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """GRPO on the Challenger against the frozen Solver (uncertainty − repetition reward)."""
    from r_zero.coevolve import train_challenger

    config = _config(recipe, overrides)
    challenger_model, solver_model = _model(challenger, config), _model(solver, config)
    with console.status("Challenger GRPO"), _new_dir(out):
        path = train_challenger(config, challenger_model, solver_model, out)
    console.print(f"Challenger checkpoint → {path}")


@app.command()
@user_errors
def generate(
    challenger: ModelOpt = None,
    out: OutFile = Path("questions.jsonl"),
    n: Annotated[
        int | None, typer.Option(help="Challenger samples (default curation.num_questions).")
    ] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The Challenger writes N questions → questions.jsonl (id, question, challenger_answer, valid, raw)."""
    from r_zero.coevolve import generate_questions

    config = _config(recipe, overrides)
    if n is not None and n < 0:
        raise DataError(f"--n must be >= 0, got {n}")
    model = _model(challenger, config)
    with console.status("generating questions"):
        rows = generate_questions(config, model, n=n)
    _write_jsonl(out, rows)
    console.print(f"{sum(r['valid'] for r in rows)} valid of {len(rows)} → {out}")


@app.command()
@user_errors
def label(
    solver: ModelOpt = None,
    questions: Annotated[Path | None, typer.Option(help="questions.jsonl from `r-zero generate`.")] = None,
    out: OutFile = Path("labelled.jsonl"),
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The frozen Solver answers each valid question m times; the majority vote is its pseudo-label."""
    from r_zero.coevolve import build_solver_dataset

    config = _config(recipe, overrides)
    if questions is None:
        raise DataError("label needs --questions questions.jsonl")
    rows = _jsonl(questions)
    for i, row in enumerate(rows):
        if "question" not in row or "valid" not in row:
            raise DataError(f"{questions}: record {i} needs question and valid (made by `r-zero generate`)")
    model = _model(solver, config)
    with console.status(f"labelling {sum(bool(r['valid']) for r in rows)} questions"):
        labelled, _ = build_solver_dataset(config, model, rows)
    _write_jsonl(out, labelled)
    console.print(f"{sum(r['answer'] is not None for r in labelled)} labelled of {len(labelled)} → {out}")


@app.command("filter")
@user_errors
def filter_cmd(
    labelled: Annotated[Path | None, typer.Option(help="labelled.jsonl from `r-zero label`.")] = None,
    out: OutFile = Path("solver_data.jsonl"),
    low: Annotated[float | None, typer.Option(help="Keep band low end (default curation.keep_low).")] = None,
    high: Annotated[
        float | None, typer.Option(help="Keep band high end (default curation.keep_high).")
    ] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Keep the labelled questions whose p̂ lies in the band (no model)."""
    from r_zero.curation import filter_records

    config = _config(recipe, overrides)
    if labelled is None:
        raise DataError("filter needs --labelled labelled.jsonl")
    rows = _jsonl(labelled)
    lo = config.curation.keep_low if low is None else low
    hi = config.curation.keep_high if high is None else high
    try:
        kept = filter_records(rows, lo, hi, code_filters=config.curation.code_filters)
    except ValueError as exc:
        raise DataError(f"{labelled}: {exc}") from None
    _write_jsonl(out, kept)
    console.print(f"kept {len(kept)} of {len(rows)} (p̂ in [{lo}, {hi}]) → {out}")


@app.command("train-solver")
@user_errors
def train_solver_cmd(
    solver: ModelOpt = None,
    data: Annotated[Path | None, typer.Option(help="solver_data.jsonl (problem, answer).")] = None,
    out: OutDir = Path("runs/r-zero/solver"),
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """GRPO on the Solver with the pseudo-label reward."""
    from r_zero.coevolve import train_solver
    from r_zero.data import load_solver_records

    config = _config(recipe, overrides)
    if data is None:
        raise DataError("train-solver needs --data solver_data.jsonl")
    if not Path(data).is_file():
        raise FileNotFoundError(f"file not found: {data}")
    records = load_solver_records(str(data))
    if not records:
        raise DataError(f"{data}: no records")
    model = _model(solver, config)
    with console.status(f"Solver GRPO on {len(records)} records"), _new_dir(out):
        path = train_solver(config, model, records, out)
    console.print(f"Solver checkpoint → {path}")


@app.command()
@user_errors
def iterate(
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (rerun to resume).")] = None,
    iterations: Annotated[int | None, typer.Option(help="Iterations (default from the recipe).")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The whole loop: Challenger phase → dataset phase → Solver phase → evaluation, per iteration."""
    from r_zero.coevolve import run_iterations

    extra = [*(overrides or []), *([f"iterations={iterations}"] if iterations is not None else [])]
    config = _config(recipe, extra)
    run = _open_run(run_dir, config, "iterate")
    with _new_dir(run.path), _warnings_as_lines(), console.status("R-Zero") as status:
        results = run_iterations(config, run, status=lambda line: status.update(line))
    for r in results:
        console.print(
            f"iteration {r.iteration}: kept {r.num_kept}/{r.num_generated}, scores "
            + ", ".join(f"{k}={v:.3f}" for k, v in r.scores.items())
        )
    console.print(f"run dir: {run.path}")


def _open_run(run_dir: Path | None, config: RZeroConfig, name: str):
    from rlcore.runs import RunDir

    existed = run_dir is not None and Path(run_dir).exists()
    try:
        return RunDir(run_dir, package="r-zero", name=name if run_dir is None else None, config=config)
    except USER_ERRORS:
        if run_dir is not None and not existed:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


@app.command()
@user_errors
def evaluate(
    model: ModelOpt = None,
    benchmarks: Annotated[str | None, typer.Option(help="Comma-separated names (default: all ten).")] = None,
    limit: Annotated[int | None, typer.Option(help="Items per benchmark.")] = None,
    out: OutFile = Path("eval.json"),
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Accuracy per benchmark (greedy), plus math_avg / general_avg / overall → eval.json."""
    from r_zero.evaluation import aggregate_scores, evaluate_solver, known_benchmarks

    extra = [*(overrides or [])]
    extra += [f"evaluation.benchmarks=[{benchmarks}]"] if benchmarks else []
    extra += [f"evaluation.limit={limit}"] if limit is not None else []
    config = _config(recipe, extra)
    unknown = [b for b in config.evaluation.benchmarks if b not in known_benchmarks()]
    if unknown:
        raise DataError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(known_benchmarks())}")
    spec = _model(model, config)
    scores = evaluate_solver(spec, config.evaluation.benchmarks, config.evaluation)
    scores = {**scores, **aggregate_scores(scores)}
    atomic_write(out, json.dumps({"model": spec, "scores": scores}, indent=2))
    for name, value in scores.items():
        console.print(f"{name:>14}  {value:.4f}")
    console.print(f"→ {out}")


@app.command()
@user_errors
def demo(
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/r-zero/demo-<time>).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Alias of --run-dir.")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """`iterate` with recipes/toy.yaml: SmolLM2-135M-Instruct in both roles, 1 iteration, CPU, < 2 min."""
    from r_zero.coevolve import iteration_history, results_table, run_iterations

    config = _config(recipe, overrides)
    start = time.perf_counter()
    run = _open_run(
        run_dir or out or Path("runs/r-zero") / time.strftime("demo-%Y%m%d-%H%M%S"), config, "demo"
    )
    with _new_dir(run.path), _warnings_as_lines(), console.status("R-Zero demo") as status:
        results = run_iterations(config, run, status=lambda line: status.update(line))
    base = json.loads(run.file("iter_0/eval.json").read_text())["scores"]
    history = iteration_history(config, base, results)
    key = "arith" if "arith" in base else next(iter(base))
    seconds = time.perf_counter() - start
    last = results[-1] if results else None
    summary = {
        "base_acc": base.get(key),
        "final_acc": last.scores.get(key) if last else base.get(key),
        "challenger_reward": last.challenger_reward_mean if last else None,
        "kept": last.num_kept if last else 0,
        "generated": last.num_generated if last else 0,
        "solver_phase": ("skipped" if last.num_kept < max(config.solver.min_examples, 1) else "trained")
        if last
        else "none",
        "seconds": round(seconds, 1),
        "history": history,
    }
    atomic_write(run.file("summary.json"), json.dumps(summary, indent=2, default=str))
    label = f"{key} acc"
    console.print(
        f"R-Zero demo ({config.model}, {config.iterations} iteration{'s' if config.iterations != 1 else ''}, toy scale)",
        highlight=False,
    )
    for line in results_table(history, key, label):
        if not line.startswith("|---"):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"run dir: {run.path}   wall time: {seconds:.0f} s", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
