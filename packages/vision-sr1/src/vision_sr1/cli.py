"""The ``vision-sr1`` command (spec section 6): make-data, sft, train, eval (and ``--suite paper``) and demo.

Every pipeline command takes ``--recipe FILE`` (default ``recipes/toy.yaml``) and trailing ``key=value``
overrides, and writes an ``rlcore.runs`` directory. Inputs (recipe, data, option values) are checked before any
model loads; bad input is one ``error: <input>: <reason>`` line on stderr, exit code 2, nothing half-written.
The data source ``shapes`` names the bundled procedural sample (``vision_sr1/data``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

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
from vision_sr1.config import VisionSR1Config

TOY_RECIPE = package_recipe(__file__)
BUNDLED = "shapes"
"""Data source name of the bundled shapes sample (train, eval and cold-start files)."""

app = make_app(
    "vision-sr1",
    "Vision-SR1: a VLM describes the image, reasons, answers; its own description, re-read without the image, "
    "earns a visual self-reward. Cold-start SFT, then GRPO (single- or multi-reward).",
)

ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Model spec (hub id, local dir, tiny:qwen2.5-vl).")
]
DataOpt = Annotated[
    str | None,
    typer.Option("--data", help="Records: a .jsonl/.json/.parquet/.csv file, a hub id, or 'shapes'."),
]
ProblemKey = Annotated[str | None, typer.Option("--problem-key", help="Question column.")]
AnswerKey = Annotated[str | None, typer.Option("--answer-key", help="Gold-answer column.")]
ImageKey = Annotated[str | None, typer.Option("--image-key", help="Image-list column.")]


def _config(recipe: Path | None, overrides: Sequence[str] | None, **options: Any) -> VisionSR1Config:
    """The recipe (default ``recipes/toy.yaml``), the trailing overrides, then the command's options."""
    return load_recipe(VisionSR1Config, recipe, list(overrides or []), default=TOY_RECIPE, options=options)


def _run(out: Path | None, name: str, config: Any):
    """The run directory, removed again (when new) if the command fails on bad input."""
    return run_directory(out, package="vision-sr1", name=name, config=config, input_errors=True)


def _rl_records(source: str, cfg: VisionSR1Config, *, split: str, limit: int | None = None) -> list[dict]:
    """RL/eval records of ``source`` (``shapes``: the bundled ``train``/``eval`` split); empty → refused."""
    from rlcore.data import DataError
    from vision_sr1.data import bundled_records, load_rl_records

    if source == BUNDLED:
        records = bundled_records("eval" if split in ("test", "eval", "validation") else "train")
        records = records[:limit] if limit else records
    else:
        records = load_rl_records(
            source,
            split=split,
            limit=limit,
            problem_key=cfg.data.problem_key,
            answer_key=cfg.data.answer_key,
            image_key=cfg.data.image_key,
        )
    if not records:
        raise DataError(f"{source}: the data set is empty")
    return records


def _sft_records(source: str) -> list[dict]:
    from rlcore.data import DataError
    from vision_sr1.data import bundled_records, load_sft_records

    records = bundled_records("cold_start") if source == BUNDLED else load_sft_records(source)
    if not records:
        raise DataError(f"{source}: the data set is empty")
    return records


def _load_policy(spec: str) -> tuple[Any, Any]:
    from rlcore.models import load_model

    return load_model(spec, task="image-text-to-text")


@app.command("make-data")
@input_errors
def make_data(
    out: Annotated[Path, typer.Option("--out", help="Folder for train/eval/cold_start.jsonl and images/.")],
    n: Annotated[int, typer.Option(help="Training records.")] = 64,
    eval_n: Annotated[int, typer.Option("--eval-n", help="Evaluation records (seed + 1).")] = 32,
    seed: Annotated[int, typer.Option(help="Seed of the procedural scenes.")] = 0,
    image_size: Annotated[
        int, typer.Option("--image-size", help="Square image side in pixels (>= 32).")
    ] = 112,
) -> None:
    """Write the procedural shapes task: train.jsonl, eval.jsonl, cold_start.jsonl, images/, PROVENANCE.md."""
    from rlcore.runs import atomic_write
    from vision_sr1.data import make_shapes_records, write_shapes_dataset

    if n < 1 or eval_n < 0:
        raise ValueError(f"--n must be >= 1 and --eval-n >= 0, got {n} and {eval_n}")
    make_shapes_records(0, seed=seed, image_size=image_size)  # validates image_size before writing anything
    paths = write_shapes_dataset(out, n=n, eval_n=eval_n, seed=seed, image_size=image_size)
    atomic_write(
        Path(out) / "PROVENANCE.md",
        "# Provenance\n\nProcedural shapes drawn with PIL by `vision_sr1.data` (no third-party content, "
        "Apache-2.0).\n\nRegenerate byte for byte with:\n\n"
        f"    vision-sr1 make-data --out {out} --n {n} --eval-n {eval_n} --seed {seed} --image-size {image_size}\n",
    )
    console.print(f"wrote {', '.join(str(p) for p in paths)}")


@app.command()
@input_errors
def sft(
    model: ModelOpt = None,
    data: DataOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Cold-start SFT (vision tower and projector frozen, loss on the response) → RUN/checkpoints/final."""
    from vision_sr1.training import sft as run_sft

    config = _config(recipe, overrides, **{"sft.model": model, "data.cold_start": data})
    records = _sft_records(config.data.cold_start)
    with _run(out, "sft", config) as run:
        policy = _load_policy(config.sft.model)
        with console.status(f"cold-start SFT on {len(records)} examples"):
            result = run_sft(config, records, run, model=policy)
        run.write_report(
            f"# Vision-SR1 cold-start SFT\n\nModel `{config.sft.model}`, {len(records)} examples, "
            f"{result.global_step} steps; final model in `{result.output_dir}`.\n"
        )
    console.print(f"SFT model → {result.output_dir}")


@app.command()
@input_errors
def train(
    model: ModelOpt = None,
    data: DataOpt = None,
    method: Annotated[str | None, typer.Option(help="vision_sr1, see_think or vision_r1.")] = None,
    policy_loss: Annotated[
        str | None, typer.Option("--policy-loss", help="single_reward or multi_reward.")
    ] = None,
    missing_description: Annotated[
        str | None, typer.Option("--missing-description", help="strict or official.")
    ] = None,
    problem_key: ProblemKey = None,
    answer_key: AnswerKey = None,
    image_key: ImageKey = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """GRPO with the visual self-reward (or a baseline) → RUN/checkpoints, metrics.jsonl, samples.jsonl."""
    from vision_sr1.training import train as run_train

    config = _config(
        recipe,
        overrides,
        **{
            "rl.model": model,
            "data.train": data,
            "rl.method": method,
            "rl.policy_loss": policy_loss,
            "rl.missing_description": missing_description,
            "data.problem_key": problem_key,
            "data.answer_key": answer_key,
            "data.image_key": image_key,
        },
    )
    records = _rl_records(config.data.train, config, split=config.data.train_split, limit=config.data.limit)
    validation = None
    if config.rl.eval_every > 0 and config.data.validation:
        validation = _rl_records(
            config.data.validation, config, split=config.data.validation_split, limit=config.eval.limit
        )
    with _run(out, "train", config) as run:
        policy = _load_policy(config.rl.model)
        with console.status(f"GRPO ({config.rl.method}, {config.rl.policy_loss}) on {len(records)} prompts"):
            result = run_train(config, records, run, model=policy, validation=validation)
        _write_train_report(run, config, result)
    console.print(f"policy → {result.output_dir}   run dir: {run.path}")


def _write_train_report(run: Any, config: VisionSR1Config, result: Any) -> None:
    """``report.md``: one row per optimizer step of the whole run, read back from ``metrics.jsonl`` (so a resumed
    run reports the steps before its restart too; a step logged twice keeps its latest row)."""
    by_step = {r["step"]: r for r in run.read_jsonl("metrics.jsonl") if "loss" in r}
    steps = [by_step[step] for step in sorted(by_step)]
    lines = [
        f"# Vision-SR1 GRPO ({config.rl.method}, {config.rl.policy_loss})",
        "",
        "| step | loss | reward | r_acc | r_fmt | r_vis | skipped | grad_norm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in steps:
        fmt = r.get("rewards/format_reward/mean", r.get("rewards/cot_format_reward/mean"))
        cells = [
            r.get("loss"),
            r.get("reward"),
            r.get("rewards/accuracy_reward/mean"),
            fmt,
            r.get("rewards/visual_reward/mean"),
            r.get("self_reward/skipped_frac"),
            r.get("grad_norm"),
        ]
        lines.append(f"| {r['step']} | " + " | ".join(_fmt(c) for c in cells) + " |")
    lines += ["", f"Final model: `{result.output_dir}`."]
    run.write_report("\n".join(lines) + "\n")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


@app.command("eval")
@input_errors
def eval_cmd(
    model: Annotated[str, typer.Option("--model", help="Model spec of the evaluated model.")],
    data: DataOpt = None,
    split: Annotated[str | None, typer.Option(help="Split of a hub data set.")] = None,
    prompt_style: Annotated[str | None, typer.Option("--prompt-style", help="see_think or cot.")] = None,
    perception_model: Annotated[
        str | None,
        typer.Option("--perception-model", help="Model answering the second pass (default: --model)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N records.")] = None,
    judge: Annotated[str | None, typer.Option(help="OpenAI-compatible judge as URL#MODEL.")] = None,
    suite: Annotated[str | None, typer.Option(help="'paper': every benchmark of the paper's table.")] = None,
    problem_key: ProblemKey = None,
    answer_key: AnswerKey = None,
    image_key: ImageKey = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Accuracy, format rate, perception accuracy and language-shortcut rate → RUN/items.jsonl, summary.json."""
    from rlcore.data import DataError
    from vision_sr1.evaluation import evaluate

    config = _config(
        recipe,
        overrides,
        **{
            "eval.split": split,
            "eval.prompt_style": prompt_style,
            "eval.perception_model": perception_model,
            "eval.limit": limit,
            "eval.judge": judge,
            "data.problem_key": problem_key,
            "data.answer_key": answer_key,
            "data.image_key": image_key,
        },
    )
    if suite is not None:
        if suite != "paper":
            raise ValueError(f"--suite: {suite!r} is not a suite; the only suite is 'paper'")
        _eval_suite(model, config, out)
        return
    if data is None:
        raise DataError("--data: required (a file, a hub id or 'shapes'), or use --suite paper")
    records = _rl_records(data, config, split=config.eval.split, limit=config.eval.limit)
    with _run(out, "eval", config) as run:
        items, summary = evaluate(model, records, cfg=config.eval)
        run.write_jsonl("items.jsonl", items)
        run.write_json("summary.json", {"model": model, "data": data, **summary})
        run.write_report(_eval_report(model, data, config, summary))
    console.print(_summary_table({model: summary}))
    console.print(f"run dir: {run.path}")


def _eval_report(model: str, data: str, config: VisionSR1Config, summary: dict) -> str:
    reader = config.eval.perception_model or "the evaluated model"
    cells = [
        summary.get(k) for k in ("accuracy", "format_rate", "perception_accuracy", "language_shortcut_rate")
    ]
    return (
        f"# Vision-SR1 evaluation of `{model}` on `{data}`\n\n"
        f"{summary['n']} items, `{config.eval.prompt_style}` prompt, greedy; second pass read by {reader}.\n\n"
        "| accuracy | format | perception_acc | LSR |\n|---|---|---|---|\n"
        "| " + " | ".join(_fmt(c) for c in cells) + " |\n"
    )


def _summary_table(rows: dict[str, dict]) -> Table:
    table = Table()
    for col in ("model", "accuracy", "format", "perception_acc", "LSR"):
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for name, s in rows.items():
        table.add_row(
            name,
            _fmt(s.get("accuracy")),
            _fmt(s.get("format_rate")),
            _fmt(s.get("perception_accuracy")),
            _fmt(s.get("language_shortcut_rate")),
        )
    return table


def _eval_suite(model: str, config: VisionSR1Config, out: Path | None) -> None:
    """Every benchmark of the paper (``evaluation.PAPER_SUITE``), one model load, then the combined table."""
    from dataclasses import replace

    from rlcore.rollout import make_generator
    from vision_sr1.data import load_rl_records
    from vision_sr1.evaluation import PAPER_SUITE, evaluate_generators, judge_generator, paper_average

    loaded: dict[str, list[dict]] = {}
    suites: list[tuple[Any, list[dict]]] = []
    for entry in PAPER_SUITE:  # every data set first: bad data fails before the model loads
        if entry.source not in loaded:
            loaded[entry.source] = load_rl_records(
                entry.source,
                split=entry.split,
                problem_key=config.data.problem_key,
                answer_key=config.data.answer_key,
                image_key=config.data.image_key,
            )
        records = loaded[entry.source]
        if entry.file_name is not None:
            wanted = entry.file_name.lower()
            records = [r for r in records if wanted in str(r.get("file_name", "")).lower()]
        suites.append((entry, records[: config.eval.limit] if config.eval.limit else records))
    with _run(out, "eval-paper", config) as run:
        generator = make_generator(model)
        perception = (
            make_generator(config.eval.perception_model) if config.eval.perception_model else generator
        )
        judge = judge_generator(config.eval.judge) if config.eval.judge else None
        results: dict[str, dict] = {}
        for entry, records in suites:
            style = "cot" if entry.text_only else config.eval.prompt_style
            with console.status(f"{entry.name}: {len(records)} items"):
                items, summary = evaluate_generators(
                    generator,
                    records,
                    cfg=replace(config.eval, prompt_style=style),
                    perception=perception,
                    judge=judge,
                    multiple_choice=entry.multiple_choice,
                )
            if entry.text_only:
                summary = {**summary, "perception_accuracy": None, "language_shortcut_rate": None}
            run.write_jsonl(f"{entry.name}/items.jsonl", items)
            run.write_json(f"{entry.name}/summary.json", summary)
            results[entry.name] = summary
        table = paper_average(results)
        run.write_json("summary.json", {"model": model, "benchmarks": results, "table": table})
        lines = ["| benchmark | accuracy |", "|---|---|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in table.items()]
        run.write_report(f"# Vision-SR1 evaluation of `{model}`\n\n" + "\n".join(lines) + "\n")
    console.print(_summary_table(results))
    console.print(f"Average (8 benchmarks): {_fmt(table['Average'])}; run dir: {run.path}")


# -- demo ---------------------------------------------------------------------------------------------------


@app.command()
@input_errors
def demo(
    out: OutOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the whole demo.")] = 0,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The pipeline at toy scale on CPU (tiny:qwen2.5-vl, bundled shapes): base eval, cold-start SFT, GRPO
    single- and multi-reward, evaluation of every checkpoint, the summary table."""
    from dataclasses import replace

    import torch

    from rlcore.runs import RunDir
    from vision_sr1.evaluation import evaluate
    from vision_sr1.training import sft as run_sft
    from vision_sr1.training import train as run_train

    start = time.perf_counter()
    config = _config(recipe, [f"seed={seed}", *(overrides or [])])
    eval_records = _rl_records(BUNDLED, config, split="test")[:16]
    train_records = _rl_records(BUNDLED, config, split="train")
    cold_start = _sft_records(BUNDLED)
    rows: dict[str, dict] = {}
    r_vis: dict[str, float | None] = {}
    labels = {
        "base": f"base {config.sft.model}",
        "sft": "cold-start SFT",
        "single": "Vision-SR1 single-reward",
        "multi": "Vision-SR1 multi-reward",
    }
    with _run(out, "demo", config) as run:
        torch.manual_seed(seed)

        def evaluate_stage(key: str, model: str) -> None:
            with console.status(f"evaluating {labels[key]}"):
                items, summary = evaluate(model, eval_records, cfg=config.eval)
            RunDir(run.path / f"eval-{key}", package="vision-sr1").write_jsonl("items.jsonl", items)
            rows[labels[key]] = summary

        evaluate_stage("base", config.sft.model)
        sft_dir = run.path / "sft"
        with console.status(f"cold-start SFT on {len(cold_start)} examples"):
            run_sft(
                config,
                cold_start,
                RunDir(sft_dir, package="vision-sr1"),
                model=_load_policy(config.sft.model),
                output_dir=sft_dir / "checkpoints" / "final",
            )
        sft_model = str(sft_dir / "checkpoints" / "final")
        evaluate_stage("sft", sft_model)
        for key, loss in (("single", "single_reward"), ("multi", "multi_reward")):
            stage_cfg = replace(config, rl=replace(config.rl, method="vision_sr1", policy_loss=loss))
            stage = RunDir(run.path / f"grpo-{key}", package="vision-sr1")
            with console.status(f"GRPO {labels[key]}"):
                result = run_train(
                    stage_cfg,
                    train_records,
                    stage,
                    model=_load_policy(sft_model),
                    output_dir=stage.path / "checkpoints" / "final",
                )
            values = [m["self_reward/visual_mean"] for m in result.metrics if "self_reward/visual_mean" in m]
            r_vis[labels[key]] = sum(values) / len(values) if values else None
            evaluate_stage(key, str(result.output_dir))
        seconds = time.perf_counter() - start
        headline = {
            "base_accuracy": rows[labels["base"]]["accuracy"],
            "sft_format_rate": rows[labels["sft"]]["format_rate"],
            "single_accuracy": rows[labels["single"]]["accuracy"],
            "multi_accuracy": rows[labels["multi"]]["accuracy"],
        }
        run.write_json(
            "summary.json",
            {**headline, "rows": rows, "mean_r_vis_train": r_vis, "seconds": round(seconds, 1)},
        )
        run.write_report(_demo_report(rows, r_vis, seconds))
    console.print(_plain_table(rows, r_vis), highlight=False, soft_wrap=True)
    console.print(
        "These are plumbing numbers from a random tiny model on a toy task, not results. "
        f"Run dir: {run.path} (wall time {seconds:.0f} s)"
    )


def _plain_table(rows: dict[str, dict], r_vis: dict[str, float | None]) -> str:
    """The demo's table as fixed-width text (spec section 6), whatever the terminal width."""
    header = f"{'model':<26}{'accuracy':>9}{'format':>8}{'perception_acc':>16}{'LSR':>7}  mean_r_vis(train)"
    lines = [header]
    for name, s in rows.items():
        vis = r_vis.get(name)
        lines.append(
            f"{name:<26}{_fmt(s.get('accuracy')):>9}{_fmt(s.get('format_rate')):>8}"
            f"{_fmt(s.get('perception_accuracy')):>16}{_fmt(s.get('language_shortcut_rate')):>7}  "
            f"{'-' if vis is None else _fmt(vis)}"
        )
    return "\n".join(lines)


def _demo_report(rows: dict[str, dict], r_vis: dict[str, float | None], seconds: float) -> str:
    lines = [
        "# Vision-SR1 demo (toy scale: tiny:qwen2.5-vl, bundled shapes)",
        "",
        "| model | accuracy | format | perception_acc | LSR | mean_r_vis(train) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in rows.items():
        cells = [
            s.get(k) for k in ("accuracy", "format_rate", "perception_accuracy", "language_shortcut_rate")
        ]
        vis = r_vis.get(name)
        lines.append(
            f"| {name} | " + " | ".join(_fmt(c) for c in cells) + f" | {'-' if vis is None else _fmt(vis)} |"
        )
    lines += [
        "",
        "These are plumbing numbers from a random tiny model on a toy task, not results.",
        f"Wall time {seconds:.0f} s. Evaluated on 16 bundled eval items (greedy, both passes).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    app()


if __name__ == "__main__":
    main()
