"""The ``parallel-r1`` command (spec §6): add-tokens, make-sft, sft, rl, eval, pipeline and demo. Every command
takes ``--recipe FILE`` (default ``recipes/toy.yaml``) and trailing ``key=value`` overrides; runs get an
``rlcore.runs`` directory. Bad input is one ``error:`` line naming it, exit code 2, nothing half-written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from parallel_r1.config import ParallelR1Config
from rlcore.cli import (
    OutOpt,
    OverridesArg,
    RecipeOpt,
    console,
    input_errors,
    load_recipe,
    make_app,
    package_recipe,
    run_directory,
)
from rlcore.runs import RunDir, atomic_write

TOY_RECIPE = package_recipe(__file__)

app = make_app(
    "parallel-r1", "Parallel-R1: parallel thinking through cold-start SFT then GRPO (Seen / Unseen)."
)

ModelOpt = Annotated[str | None, typer.Option("--model", help="Model spec (hub id, local dir, tiny:…).")]
DataOpt = Annotated[
    str | None, typer.Option("--data", help="hf:<id>, a file, a shorthand id, sample or arithmetic.")
]
VariantOpt = Annotated[str | None, typer.Option("--variant", help="seen or unseen.")]


def _config(recipe: Path | None, overrides: Sequence[str] | None, **options: Any) -> ParallelR1Config:
    """The recipe (default ``recipes/toy.yaml``), the command's options (dotted keys) and the overrides."""
    return load_recipe(ParallelR1Config, recipe, list(overrides or []), default=TOY_RECIPE, options=options)


def _run(out: Path | None, name: str, config: Any):
    """The run directory, removed again (when new) if the command fails on bad input."""
    return run_directory(out, package="parallel-r1", name=name, config=config, input_errors=True)


def _with_gold(records: list[dict], source: str) -> list[dict]:
    """The problems that have a gold answer; none → a ``DataError`` naming the source and the column."""
    from rlcore.data import DataError

    kept = [r for r in records if r.get("answer") not in (None, "")]
    if not kept:
        raise DataError(
            f"{source}: no problem with a gold answer (column 'answer', 'final_answer' or a GSM8K/DAPO layout)"
        )
    return kept


@app.command("add-tokens")
@input_errors
def add_tokens(
    model: Annotated[str, typer.Option("--model", help="Model to extend.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the model and tokenizer.")],
) -> None:
    """Add the six tags as single non-special tokens (embeddings resized) and save model and tokenizer."""
    from parallel_r1.trainer import prepare_model

    _, _, tags = prepare_model(model, add_tags=True, out_dir=out)
    console.print(f"tags {tags} → {out}")


@app.command("make-sft")
@input_errors
def make_sft(
    source: Annotated[str, typer.Option(help="Problems: gsm8k, arithmetic or a file.")] = "arithmetic",
    teacher: Annotated[
        str, typer.Option(help="'template' or a model spec / openai:<url>#<model>.")
    ] = "template",
    n: Annotated[int, typer.Option(help="Problems to use.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed (problems and template phrasing).")] = 0,
    out: Annotated[Path, typer.Option("--out", help="The jsonl to write (plus FILE.stats.json).")] = Path(
        "sft.jsonl"
    ),
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Cold-start traces: prompt a teacher with the parallel template; keep well-formed, correct traces."""
    from parallel_r1.data import generate_sft_records, load_problems, make_teacher

    config = _config(recipe, overrides)
    problems = load_problems(source, limit=n, seed=seed)
    records, stats = generate_sft_records(
        problems,
        make_teacher(teacher, config.datagen, seed=seed),
        max_length=config.datagen.max_length,
        samples=config.datagen.samples,
    )
    atomic_write(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    atomic_write(Path(f"{out}.stats.json"), json.dumps(stats, indent=2))
    console.print(f"accepted {len(records)} of {stats.get('generated', len(records))} → {out}")
    if not records:
        raise typer.Exit(1)


@app.command()
@input_errors
def sft(
    model: ModelOpt = None,
    data: DataOpt = None,
    variant: VariantOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Cold-start SFT (Seen: causal mask; Unseen: path-isolated mask and positions) → checkpoints/final."""
    from parallel_r1.data import load_sft_records
    from parallel_r1.trainer import run_sft

    config = _config(recipe, overrides, model=model, **{"sft.data": data, "variant": variant})
    records = load_sft_records(
        config.sft.data, limit=config.sft.limit
    )  # bad data fails before the model loads
    with _run(out, "sft", config) as run, console.status("SFT"):
        path = run_sft(config, run, records=records)
    console.print(f"SFT checkpoint → {path}")


@app.command()
@input_errors
def rl(
    model: ModelOpt = None,
    data: DataOpt = None,
    variant: VariantOpt = None,
    reward: Annotated[str | None, typer.Option(help="accuracy, parallel, alternating or gated.")] = None,
    stage: Annotated[
        str | None, typer.Option(help="Name of the recipe's rl stage (default: the first).")
    ] = None,
    prompt_style: Annotated[
        str | None, typer.Option(help="parallel or sequential (the GRPO baseline).")
    ] = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """GRPO with the parallel rollout engine (or TRL's generation for the sequential baseline)."""
    from parallel_r1.data import load_problems
    from parallel_r1.trainer import run_rl

    config = _config(recipe, overrides, model=model, variant=variant)
    stages = {s.name: s for s in config.rl}
    if stage is not None and stage not in stages:
        raise ValueError(f"unknown stage {stage!r}; the recipe has {', '.join(stages) or 'none'}")
    chosen = stages[stage] if stage else config.rl[0]
    updates = {
        k: v for k, v in (("data", data), ("reward", reward), ("prompt_style", prompt_style)) if v is not None
    }
    chosen = replace(chosen, **updates)  # __post_init__ validates reward and prompt style
    records = _with_gold(
        load_problems(chosen.data, split=chosen.split, limit=chosen.limit, seed=config.seed), chosen.data
    )
    with _run(out, f"rl-{chosen.name}", config) as run, console.status(f"GRPO ({chosen.reward})"):
        path = run_rl(config, chosen, run, records=records)
    console.print(f"policy → {path}")


def _table(rows: dict[str, dict]) -> Table:
    table = Table()
    for col in ("stage", "parallel %", "format-ok %", "mean@k", "pass@k", "seconds"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, r in rows.items():
        table.add_row(
            name,
            f"{100 * r['parallel_ratio']:.1f}",
            f"{100 * r['format_ok']:.1f}",
            f"{r['mean_at_k']:.3f}",
            f"{r['pass_at_k']:.3f}",
            f"{r['seconds']:.1f}",
        )
    return table


@app.command("eval")
@input_errors
def eval_cmd(
    model: ModelOpt = None,
    data: DataOpt = None,
    samples: Annotated[int | None, typer.Option(help="Samples per problem.")] = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """mean@k, pass@k and the parallel ratio per benchmark → samples.jsonl, eval.json."""
    from parallel_r1.data import load_problems
    from parallel_r1.trainer import run_eval

    config = _config(recipe, overrides, model=model, **{"eval.data": data, "eval.samples": samples})
    records = _with_gold(
        load_problems(config.eval.data, split="test", limit=config.eval.limit, seed=config.seed),
        config.eval.data,
    )
    with _run(out, "eval", config) as run, console.status("evaluating"):
        summary = run_eval(config, run, records=records)
    table = Table()
    for col in ("benchmark", "problems", "k", "mean@k", "pass@k", "parallel %"):
        table.add_column(col)
    for name, s in summary.items():
        if name != "overall":
            table.add_row(
                name,
                str(s["n_problems"]),
                str(s["k"]),
                f"{s['mean_at_k']:.3f}",
                f"{s['pass_at_k']:.3f}",
                f"{100 * s['parallel_ratio']:.1f}",
            )
    console.print(table)
    console.print(f"Avg {summary['overall']['mean_avg']:.3f}; run dir: {run.path}")


@app.command()
@input_errors
def pipeline(recipe: RecipeOpt = None, out: OutOpt = None, overrides: OverridesArg = None) -> None:
    """The recipe's stages in order (SFT, each RL stage, evaluation); rerun to resume."""
    from parallel_r1.trainer import run_pipeline

    config = _config(recipe, overrides)
    with _run(out, "pipeline", config) as run:
        summary = run_pipeline(config, run)
    console.print(f"Avg {summary['overall']['mean_avg']:.3f}; run dir: {run.path}")


def _eval_row(summary: dict, rows: list[dict], seconds: float) -> dict:
    benchmarks = [v for k, v in summary.items() if k != "overall"]
    n = max(1, len(rows))
    return {
        "parallel_ratio": summary["overall"]["parallel_ratio"],
        "format_ok": sum(r["format_ok"] for r in rows) / n,
        "mean_at_k": sum(b["mean_at_k"] for b in benchmarks) / max(1, len(benchmarks)),
        "pass_at_k": sum(b["pass_at_k"] for b in benchmarks) / max(1, len(benchmarks)),
        "seconds": seconds,
    }


@app.command()
@input_errors
def demo(out: OutOpt = None, recipe: RecipeOpt = None, overrides: OverridesArg = None) -> None:
    """The curriculum at toy scale on CPU: base eval, then SFT → eval → 2 GRPO steps → eval for Seen and Unseen."""
    from parallel_r1.data import load_problems, load_sft_records
    from parallel_r1.trainer import prepare_model, run_eval, run_rl, run_sft

    config = _config(recipe or TOY_RECIPE, overrides)
    start = time.perf_counter()
    sft_records = load_sft_records(config.sft.data, limit=config.sft.limit)
    rl_records = load_problems(
        config.rl[0].data, split=config.rl[0].split, limit=config.rl[0].limit, seed=config.seed
    )
    eval_records = load_problems(config.eval.data, split="test", limit=config.eval.limit, seed=config.seed)
    rows: dict[str, dict] = {}
    with _run(out, "demo", config) as run:
        base = run.file("base")
        prepare_model(config.model, add_tags=config.add_tags, out_dir=base)
        cfg = replace(config, model=str(base), add_tags=False)

        def evaluate(name: str, model: str) -> None:
            t0 = time.perf_counter()
            stage = RunDir(run.path / f"eval-{name}", package="parallel-r1")
            with console.status(f"evaluating {name}"):
                summary = run_eval(cfg, stage, model=model, records=eval_records)
            rows[name] = _eval_row(summary, stage.read_jsonl("samples.jsonl"), time.perf_counter() - t0)

        evaluate("base", str(base))
        for variant in ("seen", "unseen"):
            vcfg = replace(cfg, variant=variant)
            with console.status(f"SFT ({variant})"):
                sft_model = run_sft(
                    vcfg, RunDir(run.path / f"sft-{variant}", package="parallel-r1"), records=sft_records
                )
            evaluate(f"sft-{variant}", str(sft_model))
            with console.status(f"GRPO ({variant}, {vcfg.rl[0].reward})"):
                rl_model = run_rl(
                    vcfg,
                    vcfg.rl[0],
                    RunDir(run.path / f"rl-{variant}", package="parallel-r1"),
                    model=str(sft_model),
                    records=rl_records,
                )
            evaluate(f"rl-{variant}", str(rl_model))
        seconds = time.perf_counter() - start
        run.write_json(
            "summary.json",
            {
                **{f"{k}_mean_at_k": v["mean_at_k"] for k, v in rows.items()},
                **{f"{k}_parallel": v["parallel_ratio"] for k, v in rows.items()},
                "seconds": round(seconds, 1),
                "rows": rows,
            },
        )
        lines = [
            "| stage | parallel % | format-ok % | mean@4 | pass@4 | seconds |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {100 * v['parallel_ratio']:.1f} | {100 * v['format_ok']:.1f} | {v['mean_at_k']:.3f} | "
            f"{v['pass_at_k']:.3f} | {v['seconds']:.1f} |"
            for k, v in rows.items()
        ]
        run.write_report(
            "# Parallel-R1 demo (toy scale: tiny:qwen2, bundled arithmetic)\n\n" + "\n".join(lines) + "\n"
        )
    console.print(_table(rows))
    console.print(f"run dir: {run.path}   wall time: {seconds:.0f} s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
