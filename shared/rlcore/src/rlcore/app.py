"""The ``rlcore`` command: the core's demo and a generic evaluator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rlcore.cli import OutOpt, console, make_app, user_errors

app = make_app("rlcore", "The shared core of the workspace: demo and evaluation.")


@app.command()
@user_errors
def demo(
    out: OutOpt = None,
    model: Annotated[
        str, typer.Option(help="Model spec answering the problems.")
    ] = "embedded:smollm2-135m-instruct",
    problems: Annotated[int, typer.Option(help="How many arithmetic problems.")] = 8,
) -> None:
    """A real model answers arithmetic problems, then two GRPO steps run on a tiny model."""
    from rlcore.demo import run_demo

    with console.status("running the rlcore demo"):
        result = run_demo(out, model=model, problems=problems)
    table = Table(title=f"{result['model']}: {result['problems']} arithmetic problems")
    for col in ("question", "gold", "prediction", "correct"):
        table.add_column(col, overflow="fold")
    for row in result["rows"]:
        table.add_row(
            row["question"], row["answer"], str(row["prediction"]), "yes" if row["correct"] else "no"
        )
    console.print(table)
    steps = Table(title="GRPO on tiny:qwen2")
    for col in ("step", "loss", "reward", "grad_norm", "time/generation", "time/update"):
        steps.add_column(col, justify="right")
    for row in result["steps"]:
        steps.add_row(
            *(
                f"{row.get(c, 0):.4g}"
                for c in ("step", "loss", "reward", "grad_norm", "time/generation", "time/update")
            )
        )
    console.print(steps)
    console.print(
        f"accuracy {result['accuracy']:.3f} · load {result['load_s']} s · generate {result['generate_s']} s · "
        f"grpo {result['grpo_s']} s · run dir {result['run_dir']}"
    )


@app.command("eval")
@user_errors
def evaluate_cmd(
    data: Annotated[
        str, typer.Option(help="Records: a .jsonl/.json/.csv/.parquet file, hf:<id>, or a benchmark name.")
    ],
    model: Annotated[
        str, typer.Option(help="Generator spec: a model spec, hf:, vllm: or openai:<url>#<model>.")
    ] = ("embedded:smollm2-135m-instruct"),
    question: Annotated[str, typer.Option(help="Question column.")] = "question",
    n: Annotated[int, typer.Option(help="Samples per question.")] = 1,
    temperature: Annotated[float, typer.Option(help="0 means greedy.")] = 0.0,
    max_new_tokens: Annotated[int, typer.Option()] = 512,
    limit: Annotated[int | None, typer.Option(help="Keep this many records.")] = None,
    out: OutOpt = None,
) -> None:
    """Score a model's last \\boxed{} answer against the `answer` column: accuracy, pass@k, maj@n."""
    from rlcore.data import BENCHMARKS, DataError, load_benchmark, load_records
    from rlcore.eval import evaluate
    from rlcore.rewards import boxed_accuracy_reward
    from rlcore.rollout import SamplingParams, make_generator
    from rlcore.runs import RunDir

    records = load_benchmark(data, limit=limit) if data in BENCHMARKS else load_records(data, limit=limit)
    if records and question not in records[0]:
        raise DataError(f"{data}: no column {question!r} (columns: {', '.join(records[0])})")
    generator = make_generator(model)  # fails before anything is written when the model is unknown
    run = RunDir(out, package="rlcore", name=None, config={"data": data, "model": model, "n": n})
    result = evaluate(
        generator,
        records,
        boxed_accuracy_reward,
        prompt=lambda r: [
            {"role": "user", "content": f"{r[question]}\nPut the final answer in \\boxed{{}}."}
        ],
        n=n,
        params=SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens),
        k=tuple(k for k in (1, 2, 4, 8, 16, 32) if k <= n),
        out=run.file("samples.jsonl"),
    )
    run.write_json("summary.json", result.summary())
    table = Table(title=f"{model} on {data}")
    for key, value in result.summary().items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    console.print(f"run dir {Path(run.path)}")


def main() -> None:
    app()
