"""The ``visplay`` command (spec §6, §10): each stage of the loop as a subcommand, ``selfplay`` for the whole
loop, ``evaluate``, ``bench`` and ``demo``. Model-running commands take ``--recipe FILE`` (default
``recipes/toy.yaml``) and trailing ``key=value`` overrides. Bad input is one ``error:`` line naming it, exit
code 2, and nothing half-written.

JSONL files keep images as paths. ``generate`` writes ``candidates.jsonl`` beside an ``images/`` folder of PNG
copies, with paths relative to its output folder; a relative image path in a file a command reads is resolved
against that file's folder, then its parent (so the files of a run directory's ``iter_<i>/`` also work).
"""

from __future__ import annotations

import io
import json
import time
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rlcore.cli import (
    OverridesArg,
    RecipeOpt,
    console,
    input_errors,
    load_recipe,
    make_app,
    package_recipe,
    run_directory,
)
from rlcore.data import DataError
from rlcore.runs import RunDir, atomic_write
from visplay.config import BENCHMARK_NAMES, VisPlayConfig
from visplay.data import SAMPLE_SEED

TOY_RECIPE = package_recipe(__file__)

app = make_app("visplay", "VisPlay: a VLM's Questioner and Reasoner train each other from unlabelled images.")

ModelOpt = Annotated[
    str | None, typer.Option(help="Model spec: hub id, local dir, tiny:qwen2.5-vl (default: recipe).")
]
ImagesOpt = Annotated[
    str | None,
    typer.Option(
        help="Image source: sample, a folder, a jsonl/parquet/csv file or a hub id (default: recipe)."
    ),
]
OutDir = Annotated[Path | None, typer.Option("--out", help="Output directory.")]
OutFile = Annotated[Path | None, typer.Option("--out", help="Output file.")]


def _config(
    recipe: Path | None, overrides: list[str] | None, options: dict[str, Any] | None = None
) -> VisPlayConfig:
    """The command's config: ``--recipe`` (default the toy recipe), overrides, then the command's options."""
    config = load_recipe(VisPlayConfig, recipe, overrides, default=TOY_RECIPE, options=options)
    if config.torch_threads is not None:
        import torch

        torch.set_num_threads(config.torch_threads)
    return config


def _output_dir(path: Path, config: VisPlayConfig | None = None) -> AbstractContextManager[RunDir]:
    """The folder a command fills, as an ``rlcore.runs.RunDir``: removed again (when it did not exist) if the
    command fails on bad input, so that nothing is left half-written."""
    return run_directory(path, package="visplay", config=config, input_errors=True)


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """The loop's warnings (an empty curated set) as one yellow line each, after the command."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if issubclass(warning.category, UserWarning) and "visplay" in warning.filename:
            console.print(f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True)


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    """Records of a JSONL file; a missing file, a malformed line or a record without a ``required`` field is a
    user error naming the file and the line."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}: line {number}: not valid JSON") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {number}: not a JSON object")
        missing = [key for key in required if key not in row]
        if missing:
            raise DataError(f"{path}: line {number}: missing field {', '.join(repr(k) for k in missing)}")
        rows.append(row)
    return rows


def _resolve_images(path: Path, rows: list[dict], needed: list[int]) -> list[dict]:
    """Rows whose ``image`` (for the ``needed`` indices) is a decoded PIL image; a relative path is looked up
    beside ``path``, then one folder up. An image that cannot be found or decoded names its record."""
    from rlcore.data import load_image

    out = list(rows)
    for i in needed:
        row = rows[i]
        image = row["image"]
        name = row.get("image_id", row.get("id", f"line {i + 1}"))
        if isinstance(image, str) and not Path(image).is_absolute():
            bases = [path.parent, path.parent.parent]
            image = next((str(b / image) for b in bases if (b / image).is_file()), str(path.parent / image))
        try:
            out[i] = {**row, "image": load_image(image)}
        except (DataError, ValueError) as exc:
            raise DataError(f"{path}: image of {name!r}: {exc}") from None
    return out


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def _images(
    config: VisPlayConfig, source: str | None, limit: int | None, selection: str, seed: int
) -> list[dict]:
    from visplay.data import load_images
    from visplay.selfplay import prepare_image

    items = load_images(
        source or config.images, column=config.image_column, limit=limit, selection=selection, seed=seed
    )
    return [{**item, "image": prepare_image(item["image"], config)} for item in items]


@app.command("make-sample")
@input_errors
def make_sample(
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNGs and manifest.jsonl.")] = Path(
        "sample"
    ),
    n: Annotated[int, typer.Option(help="Number of images (>= 0).")] = 24,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = SAMPLE_SEED,
    size: Annotated[int, typer.Option(help="Image side in pixels (>= 64).")] = 112,
) -> None:
    """Draw the procedural sample images: <id>.png files plus manifest.jsonl (kind, question, answer, meta)."""
    from visplay.data import make_sample_images

    for option, value, low in (("--n", n, 0), ("--size", size, 64)):
        if value < low:
            raise DataError(f"{option}: must be >= {low}, got {value}")
    items = make_sample_images(n, seed=seed, size=size)
    with _output_dir(out) as run:
        manifest = []
        for item in items:
            file = f"{item['image_id']}.png"
            png = io.BytesIO()
            item["image"].save(png, format="PNG")
            atomic_write(run.file(file), png.getvalue())
            manifest.append({k: v for k, v in item.items() if k != "image"} | {"image": file})
        run.write_jsonl("manifest.jsonl", manifest)
    console.print(f"{len(items)} images and manifest.jsonl → {out}")


@app.command("train-questioner")
@input_errors
def train_questioner_cmd(
    questioner: ModelOpt = None,
    reasoner: ModelOpt = None,
    images: ImagesOpt = None,
    out: OutDir = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Stage 1: GRPO on the Questioner against the frozen Reasoner (uncertainty − diversity reward)."""
    from visplay.selfplay import train_questioner

    config = _config(recipe, overrides)
    q = config.questioner
    items = _images(config, images, q.images_per_step * max(q.steps, 1), "random", config.seed)
    target = out or Path("runs/visplay/questioner")
    with console.status("Questioner GRPO"), _output_dir(target) as run:
        path = train_questioner(
            questioner or config.model, reasoner or config.model, items, config=config, run_dir=run
        )
    console.print(f"Questioner checkpoint → {path}")


@app.command()
@input_errors
def generate(
    questioner: ModelOpt = None,
    images: ImagesOpt = None,
    n_per_image: Annotated[int | None, typer.Option(help="N (default curation.questions_per_image).")] = None,
    num_images: Annotated[int | None, typer.Option(help="Images (default curation.num_images).")] = None,
    out: OutDir = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The Questioner writes N questions per image → OUT/candidates.jsonl (+ OUT/images/*.png)."""
    from visplay.selfplay import frozen_generator, generate_questions, save_image_copy

    config = _config(
        recipe, overrides, {"curation.questions_per_image": n_per_image, "curation.num_images": num_images}
    )
    c = config.curation
    items = _images(config, images, c.num_images, c.image_selection, config.seed)
    target = out or Path("candidates")
    with console.status(f"writing {c.questions_per_image} questions for each of {len(items)} images"):
        rows = generate_questions(
            frozen_generator(config, questioner or config.model),
            items,
            n_per_image=c.questions_per_image,
            question_format=config.questioner.question_format,
            max_new_tokens=config.questioner.max_new_tokens,
            temperature=c.temperature,
            top_p=c.top_p,
            seed=config.seed,
            batch_size=config.generation_batch_size,
        )
    with _output_dir(target) as run:
        paths = {item["image_id"]: save_image_copy(run, item["image_id"], item["image"]) for item in items}
        run.write_jsonl("candidates.jsonl", [{**r, "image": paths[r["image_id"]]} for r in rows])
    console.print(f"{sum(r['valid'] for r in rows)} valid of {len(rows)} → {target / 'candidates.jsonl'}")


@app.command()
@input_errors
def label(
    reasoner: ModelOpt = None,
    candidates: Annotated[Path | None, typer.Option(help="candidates.jsonl (question, image).")] = None,
    m: Annotated[int | None, typer.Option(help="Reasoner samples per question (default curation).")] = None,
    out: OutFile = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The frozen Reasoner answers each valid question m times → labelled.jsonl (answer, confidence)."""
    from visplay.curation import is_valid_candidate
    from visplay.rewards import reasoner_sampling
    from visplay.selfplay import frozen_generator, label_questions

    config = _config(recipe, overrides, {"curation.num_reasoner_samples": m})
    if candidates is None:
        raise DataError("--candidates: missing; label needs the candidates.jsonl to label")
    rows = _read_jsonl(candidates, ("question", "image"))
    valid = [i for i, row in enumerate(rows) if is_valid_candidate(row)]
    loaded = _resolve_images(candidates, rows, valid)
    with console.status(f"labelling {len(valid)} valid questions"):
        labelled = label_questions(
            frozen_generator(config, reasoner or config.model),
            loaded,
            m=config.curation.num_reasoner_samples,
            style=config.reward.reasoner_prompt,
            seed=config.seed,
            batch_size=config.generation_batch_size,
            **reasoner_sampling(config.reward),
        )
    target = out or candidates.with_name("labelled.jsonl")
    # The image field passes through as it was read (a path), like every other field.
    _write_jsonl(target, [{**row, "image": src["image"]} for row, src in zip(labelled, rows, strict=True)])
    console.print(f"{sum(row['answer'] is not None for row in labelled)} labelled of {len(rows)} → {target}")


@app.command()
@input_errors
def curate(
    candidates: Annotated[Path | None, typer.Option(help="labelled.jsonl (needs reasoner_answers).")] = None,
    out: OutFile = None,
    tau_low: Annotated[float | None, typer.Option(help="Band low end (default curation.tau_low).")] = None,
    tau_high: Annotated[float | None, typer.Option(help="Band high end (default curation.tau_high).")] = None,
    budget: Annotated[int | None, typer.Option(help="Keep at most this many (default: all).")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Keep the valid questions whose vote confidence c has tau_low ≤ c ≤ tau_high (no model)."""
    from visplay.curation import curate as curate_rows

    config = _config(
        recipe,
        overrides,
        {"curation.tau_low": tau_low, "curation.tau_high": tau_high, "curation.budget": budget},
    )
    if candidates is None:
        raise DataError("--candidates: missing; curate needs a labelled.jsonl")
    rows = _read_jsonl(candidates, ("reasoner_answers",))
    c = config.curation
    try:
        kept = curate_rows(rows, tau_low=c.tau_low, tau_high=c.tau_high, budget=c.budget)
    except ValueError as exc:  # the band and the budget were checked with the config: a record is malformed
        raise DataError(f"{candidates}: {exc}") from None
    target = out or candidates.with_name("curated.jsonl")
    _write_jsonl(target, kept)
    console.print(f"kept {len(kept)}/{len(rows)} → {target}", highlight=False)


@app.command("train-reasoner")
@input_errors
def train_reasoner_cmd(
    reasoner: ModelOpt = None,
    data: Annotated[Path | None, typer.Option(help="curated.jsonl (question, image, answer).")] = None,
    out: OutDir = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Stage 3: GRPO on the Reasoner with the silver labels of the curated questions."""
    from visplay.selfplay import train_reasoner

    config = _config(recipe, overrides)
    if data is None:
        raise DataError("--data: missing; train-reasoner needs a curated.jsonl")
    rows = _read_jsonl(data, ("question", "image", "answer"))
    if not rows:
        raise DataError(f"{data}: no records")
    for i, row in enumerate(rows):
        if row["answer"] in (None, "") or not str(row["question"]).strip():
            raise DataError(f"{data}: line {i + 1}: empty question or answer")
    records = _resolve_images(data, rows, list(range(len(rows))))
    target = out or Path("runs/visplay/reasoner")
    with console.status(f"Reasoner GRPO on {len(records)} questions"), _output_dir(target) as run:
        path = train_reasoner(reasoner or config.model, records, config=config, run_dir=run)
    console.print(f"Reasoner checkpoint → {path}")


def _print_rows(rows: list[dict]) -> None:
    from visplay.selfplay import summary_table

    for line in summary_table(rows):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command()
@input_errors
def selfplay(
    out: OutDir = None,
    resume: Annotated[bool, typer.Option(help="Skip the stages a previous run finished.")] = True,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The whole loop: Questioner GRPO → curation → Reasoner GRPO → evaluation, per iteration."""
    from visplay.selfplay import run_selfplay

    config = _config(recipe, overrides)
    _check_local_images(config)
    target = out or Path("runs/visplay") / time.strftime("selfplay-%Y%m%d-%H%M%S")
    with _output_dir(target, config) as run, _warnings_as_lines(), console.status("VisPlay") as status:
        rows = run_selfplay(config, run, resume=resume, status=status.update)
    _print_rows(rows)
    console.print(f"run dir: {target}")


def _benchmark_names(benchmark: str) -> list[str]:
    if benchmark == "all":
        return list(BENCHMARK_NAMES)
    return [name.strip() for name in benchmark.split(",") if name.strip()]


def _check_local_images(config: VisPlayConfig) -> None:
    """Fail on an unusable local image source (missing, empty, a table without the column, a first image that
    does not decode) before the loop spends any time on models (spec §10). A hub source is read by the first
    Questioner stage, once."""
    from visplay.data import load_images

    source = str(config.images)
    if source.startswith("hf:") or not (
        source.startswith("sample") or Path(source).suffix or Path(source).exists()
    ):
        return
    load_images(source, column=config.image_column, limit=1, selection="first")


@app.command()
@input_errors
def evaluate(
    model: ModelOpt = None,
    benchmark: Annotated[
        str, typer.Option(help="A benchmark name, a jsonl/parquet file, 'sample', 'all', or a comma list.")
    ] = "sample",
    limit: Annotated[int | None, typer.Option(help="Items per benchmark.")] = None,
    split: Annotated[str, typer.Option(help="Split of a hub benchmark.")] = "test",
    question_column: Annotated[str, typer.Option(help="Column of the question.")] = "problem",
    answer_column: Annotated[str, typer.Option(help="Column of the gold answer.")] = "answer",
    image_column: Annotated[str, typer.Option(help="Column of the image.")] = "images",
    judge: Annotated[
        str, typer.Option(help="rule (boxed answer equivalence) or openai (a judge model).")
    ] = "rule",
    judge_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server of the judge.")] = None,
    judge_model: Annotated[str | None, typer.Option(help="The judge model's name on that server.")] = None,
    out: OutFile = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Greedy accuracy per benchmark with pooled and macro averages → eval.json. A benchmark is read from split
    ``test`` with columns ``problem``, ``answer``, ``images`` unless ``--split`` / ``--*-column`` say otherwise."""
    from visplay.data import load_benchmark
    from visplay.selfplay import evaluate_model, prepare_image

    config = _config(
        recipe,
        overrides,
        {
            "evaluation.limit": limit,
            "evaluation.judge": judge,
            "evaluation.judge_url": judge_url,
            "evaluation.judge_model": judge_model,
        },
    )
    records = []
    for name in _benchmark_names(benchmark):
        items = load_benchmark(
            name,
            split=split,
            limit=config.evaluation.limit,
            question_column=question_column,
            answer_column=answer_column,
            image_column=image_column,
        )
        records += [{**r, "image": prepare_image(r["image"], config)} for r in items]
    if not records:
        raise DataError(f"{benchmark}: no records to evaluate")
    spec = model or config.model
    with console.status(f"evaluating {spec} on {len(records)} items"):
        result = evaluate_model(config, spec, records)
    target = out or Path("eval.json")
    atomic_write(target, json.dumps({"model": spec, **result}, indent=2, ensure_ascii=False, default=str))
    summary = result["summary"]
    table = Table(title=f"{spec}")
    for column in ("benchmark", "n", "correct", "accuracy"):
        table.add_column(column, justify="left" if column == "benchmark" else "right")
    for name, sub in summary["subsets"].items():
        acc = "-" if sub["accuracy"] is None else f"{sub['accuracy']:.4f}"
        table.add_row(name, str(sub["n"]), f"{sub['correct']:g}", acc)
    table.add_row("pooled", str(summary["n"]), "", f"{summary['pooled']:.4f}")
    table.add_row("macro", "", "", f"{summary['macro']:.4f}")
    console.print(table)
    console.print(f"→ {target}")


@app.command()
@input_errors
def bench(
    images: Annotated[int, typer.Option(help="Images of the per-image scope.")] = 512,
    group_size: Annotated[int, typer.Option(help="G questions per image.")] = 8,
    sizes: Annotated[str, typer.Option(help="Batch-scope sizes, comma-separated.")] = "256,512,1024",
    repeats: Annotated[int, typer.Option(help="Timings per case (the best is kept).")] = 3,
) -> None:
    """Time the diversity regulariser at VisPlay's shapes: per-image scope (< 1 s target) and batch scope."""
    from visplay.bench import benchmark_table, run_benchmark

    try:
        batch_sizes = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise DataError(f"--sizes: expected comma-separated integers, got {sizes!r}") from None
    for option, value in (("--images", images), ("--group-size", group_size), ("--repeats", repeats)):
        if value < 1:
            raise DataError(f"{option}: must be >= 1, got {value}")
    if not batch_sizes or min(batch_sizes) < 1:
        raise DataError(f"--sizes: every size must be >= 1, got {sizes!r}")
    result = run_benchmark(images=images, group_size=group_size, batch_sizes=batch_sizes, repeats=repeats)
    for line in benchmark_table(result):
        console.print(line, highlight=False, markup=False)


@app.command()
@input_errors
def demo(
    out: OutDir = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """recipes/toy.yaml end to end on CPU (tiny:qwen2.5-vl, 2 iterations, < 2 min): a plumbing check."""
    from visplay.selfplay import run_selfplay, summary_table

    config = _config(recipe, overrides)
    target = out or Path("runs/visplay") / time.strftime("demo-%Y%m%d-%H%M%S")
    start = time.perf_counter()
    with _output_dir(target, config) as run, _warnings_as_lines(), console.status("VisPlay demo") as status:
        rows = run_selfplay(config, run, status=status.update)
    seconds = time.perf_counter() - start
    lines = summary_table(rows)
    last = rows[-1]
    summary = {
        "base_pooled": rows[0]["pooled"],
        "final_pooled": last["pooled"],
        "final_macro": last["macro"],
        "kept": "-" if last["candidates"] is None else f"{last['kept']}/{last['candidates']}",
        "seconds": round(seconds, 1),
        "model": config.model,
        "iterations": config.iterations,
        "rows": rows,
    }
    run.write_json("summary.json", summary)
    run.write_text(
        "report.md",
        f"# VisPlay demo: {config.model} (random init + format warm-up)\n\n"
        "A plumbing check, not a result.\n\n```\n"
        + "\n".join(lines)
        + f"\n```\n\nWall time: {seconds:.0f} s\n",
    )
    console.print(
        f"VisPlay demo — {config.model} (random init + format warm-up): plumbing check, not a result",
        highlight=False,
        soft_wrap=True,
    )
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"run dir: {target}   wall time: {seconds:.0f} s", highlight=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
