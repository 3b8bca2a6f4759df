"""The ``relayllm`` command: one subcommand per pipeline stage, plus ``decode``, ``bench`` and ``demo`` (spec §6).

Every pipeline command takes ``--recipe FILE`` (default ``recipes/toy.yaml``), trailing ``key=value``
overrides and ``--out DIR``; bad input is one ``error:`` line and exit code 2, with nothing half-written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from relayllm.config import RelayLLMConfig
from rlcore.cli import (
    OutOpt,
    OverridesArg,
    RecipeOpt,
    console,
    load_recipe,
    make_app,
    package_recipe,
    run_directory,
    user_errors,
)

TOY_RECIPE = package_recipe(__file__)

app = make_app(
    "relayllm", "RelayLLM: a small model that calls a large one for a few tokens with <call>n</call>."
)

SlmOpt = Annotated[str | None, typer.Option("--slm", help="Small model spec (overrides the recipe's slm).")]
LlmOpt = Annotated[
    str | None, typer.Option("--llm", help="Large model: spec, openai:<url>#<model> or vllm:<model>.")
]
DataOpt = Annotated[
    str | None, typer.Option("--data", help="Records: .jsonl/.json/.parquet/.csv, hf:<id> or sample:<name>.")
]


def _config(
    recipe: Path | None, overrides: list[str] | None, *, slm=None, llm=None, data=None
) -> RelayLLMConfig:
    extra = [*(overrides or [])]
    extra += [f"slm={slm}"] if slm else []
    extra += [f"llm={llm}"] if llm else []
    extra += [f"data.train={data}"] if data else []
    recipe_path = recipe or (TOY_RECIPE if TOY_RECIPE.exists() else None)
    return load_recipe(RelayLLMConfig, recipe_path, extra)


def _records(config: RelayLLMConfig, source: str | None = None) -> list[dict]:
    from relayllm.pipeline import read_records

    if source and not source.startswith(("hf:", "sample:")) and source.endswith(".jsonl"):
        from rlcore.data import load_records

        rows = load_records(source)
        if rows and "prompt" in rows[0] and "completion" in rows[0]:
            return rows  # already warm-up rows
    records = read_records(config, source)
    skipped = getattr(records, "skipped", 0)
    if skipped:
        console.print(f"[yellow]skipped {skipped} records without a question or an answer[/]")
    return records


@app.command("warmup-data")
@user_errors
def warmup_data(
    slm: SlmOpt = None,
    data: DataOpt = None,
    responses: Annotated[
        str | None, typer.Option(help="sample (SLM self-samples) or solution (a column).")
    ] = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Sample SLM answers and insert <call>n</call> commands into them (warm-up data, paper §3.2)."""
    from relayllm.pipeline import build_warmup_data

    extra = [*(overrides or []), *([f"warmup.responses={responses}"] if responses else [])]
    config = _config(recipe, extra, slm=slm, data=data)
    records = _records(config)
    with run_directory(out, package="relayllm", name="warmup-data", config=config) as run:
        result = build_warmup_data(config, run, records)
    console.print(
        f"{result['stats']['rows']} rows, commands per row {result['stats']['commands']} → {result['path']}"
    )


@app.command()
@user_errors
def warmup(
    slm: SlmOpt = None,
    data: DataOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Warm-up SFT on warmup_data.jsonl with completion-only loss."""
    from relayllm.pipeline import run_warmup
    from rlcore.data import DataError, load_records

    config = _config(recipe, overrides, slm=slm)
    if not data:
        raise DataError("warmup needs --data warmup_data.jsonl (made by `relayllm warmup-data`)")
    rows = load_records(data)
    if not rows or "completion" not in rows[0]:
        raise DataError(f"not warm-up data: rows need prompt and completion ({data})")
    with run_directory(out, package="relayllm", name="warmup", config=config) as run:
        checkpoint = run_warmup(config, run, rows)
    console.print(f"warm-up checkpoint → {checkpoint}")


@app.command("filter")
@user_errors
def filter_cmd(
    llm: LlmOpt = None,
    data: DataOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Keep the questions the teacher solves (pass rate >= filter.threshold over filter.samples samples)."""
    from relayllm.pipeline import run_filter

    config = _config(recipe, overrides, llm=llm, data=data)
    records = _records(config)
    with run_directory(out, package="relayllm", name="filter", config=config) as run:
        result = run_filter(config, run, records)
    console.print(f"kept {result['kept']} of {result['total']} → {result['path']}")


@app.command()
@user_errors
def train(
    slm: SlmOpt = None,
    llm: LlmOpt = None,
    data: DataOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """GRPO with the relay rollout and the call-aware reward (train.reward=difficulty_aware|simple|accuracy)."""
    from relayllm.pipeline import run_train

    config = _config(recipe, overrides, slm=slm, llm=llm, data=data)
    records = _records(config)
    with run_directory(out, package="relayllm", name="train", config=config) as run:
        result = run_train(config, run, records)
    console.print(f"{result['global_step']} GRPO steps → {result['output_dir']}")


def _summary_table(title: str, rows) -> Table:
    table = Table(title=title)
    for col in ("benchmark", "n", "accuracy %", "call %", "calls/item"):
        table.add_column(col, justify="right" if col != "benchmark" else "left")
    for row in rows:
        table.add_row(
            row.name,
            str(row.n),
            f"{100 * row.accuracy:.2f}",
            f"{100 * row.call_ratio:.2f}",
            f"{row.calls_per_item:.2f}",
        )
    return table


@app.command("eval")
@user_errors
def eval_cmd(
    slm: SlmOpt = None,
    llm: LlmOpt = None,
    benchmarks: Annotated[str | None, typer.Option(help="Comma-separated benchmark names.")] = None,
    mode: Annotated[
        str | None, typer.Option(help="relay, slm (teacher-free) or llm (teacher alone).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Items per benchmark.")] = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Accuracy and call ratio per benchmark: items/<benchmark>.jsonl, summary.json and a table."""
    from relayllm.data import load_benchmark
    from relayllm.pipeline import evaluate_benchmarks

    extra = [*(overrides or [])]
    extra += [f"eval.mode={mode}"] if mode else []
    extra += [f"eval.limit={limit}"] if limit else []
    extra += [f"eval.benchmarks=[{benchmarks}]"] if benchmarks else []
    config = _config(recipe, extra, slm=slm, llm=llm)
    for name in config.eval.benchmarks:
        load_benchmark(name, limit=1)  # an unknown name or unreadable set fails before anything is written
    with run_directory(out, package="relayllm", name=f"eval-{config.eval.mode}", config=config) as run:
        rows = evaluate_benchmarks(config, run)
    console.print(_summary_table(f"{config.eval.mode} mode", rows))
    console.print(f"run dir {run.path}")


@app.command()
@user_errors
def router(
    relay: Annotated[Path | None, typer.Option(help="Eval run dir of the relay.")] = None,
    slm: Annotated[Path | None, typer.Option(help="Eval run dir of the SLM alone.")] = None,
    llm: Annotated[Path | None, typer.Option(help="Eval run dir of the LLM alone.")] = None,
    relay_acc: Annotated[float | None, typer.Option(help="a_R (any unit, the same for all three).")] = None,
    relay_ratio: Annotated[float | None, typer.Option(help="c_R as a fraction (0.0107 for 1.07%).")] = None,
    slm_acc: Annotated[float | None, typer.Option(help="a_S.")] = None,
    llm_acc: Annotated[float | None, typer.Option(help="a_L.")] = None,
) -> None:
    """The random-router comparison: what a router sending a random share of queries to the LLM would get."""
    from relayllm.evaluation import random_router_comparison
    from relayllm.pipeline import router_from_runs
    from rlcore.config import ConfigError

    if relay and slm and llm:
        comparison = router_from_runs(relay, slm, llm)
    elif None not in (relay_acc, relay_ratio, slm_acc, llm_acc):
        comparison = random_router_comparison(relay_acc, relay_ratio, slm_acc, llm_acc)
    else:
        raise ConfigError(
            "router needs --relay/--slm/--llm run dirs, or --relay-acc/--relay-ratio/--slm-acc/--llm-acc"
        )
    console.print(router_line(comparison))


def router_line(c) -> str:
    share = "n/a" if c.matched_llm_share is None else f"{c.matched_llm_share + 0.0:.4f}"  # no "-0.0000"
    reduction = "n/a" if c.cost_reduction is None else f"{100 * c.cost_reduction:.1f}%"
    return (
        f"random router at the relay's cost: accuracy {c.equal_cost_accuracy:.2f} (relay margin {c.accuracy_gain:+.2f}); "
        f"matching the relay's accuracy needs an LLM share of {share} (relay cost reduction {reduction})"
    )


@app.command()
@user_errors
def decode(
    question: Annotated[str, typer.Option(help="The question.")],
    slm: SlmOpt = None,
    llm: LlmOpt = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """One relay, printed with the LLM's spans highlighted."""
    from relayllm.pipeline import load_llm, load_slm
    from relayllm.prompts import build_messages
    from relayllm.relay import relay_decode

    config = _config(recipe, overrides, slm=slm, llm=llm)
    result = relay_decode(load_slm(config.slm), load_llm(config), build_messages(question), config.relay)
    text = Text()
    for segment in result.segments:
        text.append(segment.text, style="bold magenta" if segment.source == "llm" else None)
    console.print(text)
    console.print(
        f"finish {result.finish} · {result.num_calls} calls · {result.llm_tokens}/{result.total_tokens} LLM tokens "
        f"(call ratio {100 * result.call_ratio:.2f}%)"
    )


@app.command()
@user_errors
def bench(
    slm: Annotated[str, typer.Option(help="Small model.")] = "embedded:smollm2-135m-instruct",
    llm: Annotated[str, typer.Option(help="Large model.")] = "embedded:smollm2-135m-instruct",
    runs: Annotated[int, typer.Option(help="Median over this many runs.")] = 3,
    tokens: Annotated[int, typer.Option(help="Answer length T.")] = 256,
) -> None:
    """KV-reuse benchmark: relay speed at call ratio 0, and cost versus the number of calls (spec §9)."""
    from relayllm.bench import run_bench

    run_bench(slm, llm, runs=runs, tokens=tokens, console=console)


@app.command()
@user_errors
def demo(out: OutOpt = None, recipe: RecipeOpt = None, overrides: OverridesArg = None) -> None:
    """The whole pipeline at toy scale on CPU: warm-up data, warm-up, filter, GRPO, eval in three modes, router."""
    from relayllm.demo import run_demo

    config = _config(recipe, overrides)
    with run_directory(out, package="relayllm", name="demo", config=config) as run:
        run_demo(config, run, console=console)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
