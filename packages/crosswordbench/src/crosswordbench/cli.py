"""The ``crosswordbench`` command (spec §6): generate, render, export and import puzzles; evaluate a model
zero-shot or interactively; score saved replies; correlate image-CoT with grid parsing; build the bundled
word list; the GRPO extension; and ``demo``.

Bad input is one ``error:`` line naming it, exit code 2, and no half-written run directory.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crosswordbench.config import CrossWordBenchConfig
from rlcore.cli import (
    OutOpt,
    OverridesArg,
    RecipeOpt,
    console,
    input_errors,
    load_recipe,
    make_app,
    run_directory,
)

T = TypeVar("T")

app = make_app(
    "crosswordbench",
    "CrossWordBench: controllable crossword generation and evaluation of LLMs and LVLMs (text, image, interactive).",
)

PuzzlesOpt = Annotated[
    str | None,
    typer.Option("--puzzles", help="Puzzles: .jsonl/.json/.parquet, or a hub id (HINT-lab/CrossWordBench)."),
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="Model spec: local dir, embedded:…, tiny:…, hub id.")
]
BackendOpt = Annotated[str | None, typer.Option("--backend", help="hf, vllm or openai.")]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="OpenAI-compatible server (backend openai).")
]
TemplateOpt = Annotated[
    str | None, typer.Option("--template", help="text_cot, img_cot, extraction, … (spec §2.4).")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="Evaluate the first N puzzles.")]
HfConfigOpt = Annotated[str | None, typer.Option("--hf-config", help="Hub subset (english, chinese, …).")]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Hub split (7x7, 14x14).")]


def _run(out: Path | None, name: str, config: Any = None):
    """The run directory, removed again (when new) if the command fails on bad input."""
    return run_directory(out, package="crosswordbench", name=name, config=config, input_errors=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _config(recipe: Path | None, overrides: list[str] | None, **options: Any) -> CrossWordBenchConfig:
    keys = {
        "model": "model",
        "backend": "backend",
        "base_url": "base_url",
        "puzzles": "data.puzzles",
        "hf_config": "data.hf_config",
        "split": "data.split",
        "limit": "data.limit",
        "modality": "interactive.modality",
    }
    extra = [*(overrides or [])]
    for name, value in options.items():
        if value is None or value is False:
            continue
        if name == "template":
            extra.append(f"templates=[{value}]")
        elif name == "reflection":
            extra.append("eval.reflection=true")
        else:
            extra.append(f"{keys[name]}={value}")
    return load_recipe(CrossWordBenchConfig, recipe, extra)


def _read_puzzles(path: str | None):
    from crosswordbench.data import load_puzzles

    if not path:
        raise ValueError("--puzzles is required (a puzzles .jsonl/.json/.parquet or a hub id)")
    return load_puzzles(path)


# ------------------------------------------------------------------------------------------ generation


@app.command()
@input_errors
def generate(
    words: Annotated[
        str, typer.Option(help="Word–clue list: 'bundled' or a .txt/.csv/.tsv file.")
    ] = "bundled",
    size: Annotated[list[str] | None, typer.Option(help="Grid size, repeatable (7x7, 14x14).")] = None,
    n: Annotated[int | None, typer.Option(help="Puzzles per size.")] = None,
    seed: Annotated[int | None, typer.Option(help="Generator seed.")] = None,
    restarts: Annotated[int | None, typer.Option(help="Layouts tried per attempt.")] = None,
    replacement: Annotated[bool, typer.Option(help="Allow a word–clue pair in several puzzles.")] = False,
    images: Annotated[bool, typer.Option(help="Write images/<id>_<variant>.png.")] = False,
    export: Annotated[
        str | None, typer.Option(help="Also write export/<id>.puz|.ipuz: 'puz', 'ipuz' or 'puz,ipuz'.")
    ] = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Generate puzzles → DIR/puzzles.jsonl (later sizes exclude earlier sizes' pairs)."""
    from crosswordbench.data import save_puzzles
    from crosswordbench.pipeline import generate_sets, word_entries, write_exports, write_images

    extra = [*(overrides or []), f"generate.words={words}"]
    extra += [f"generate.sizes=[{','.join(size)}]"] if size else []
    extra += [
        f"generate.{k}={v}" for k, v in (("n", n), ("seed", seed), ("restarts", restarts)) if v is not None
    ]
    extra += ["generate.replacement=true"] if replacement else []
    config = load_recipe(CrossWordBenchConfig, recipe, extra)
    formats = [f.strip() for f in export.split(",") if f.strip()] if export else []
    entries = word_entries(config.generate.words)
    with _run(out, "generate", config) as run:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with console.status(
                f"generating {config.generate.n} per size {', '.join(config.generate.sizes)}"
            ):
                puzzles = generate_sets(config.generate, entries=entries)
        for warning in caught:
            console.print(f"[yellow]warning:[/] {warning.message}", highlight=False)
        if config.generate.n > 0 and not puzzles:
            raise ValueError(
                "no puzzle could be generated: use a larger word list, more restarts or --replacement"
            )
        save_puzzles(puzzles, run.file("puzzles.jsonl"))
        if images:
            write_images(puzzles, run.file("images"))
        if formats:
            write_exports(puzzles, run.file("export"), formats)
    console.print(f"{len(puzzles)} puzzles → {run.file('puzzles.jsonl')}")


@app.command()
@input_errors
def render(
    puzzles: PuzzlesOpt = None,
    variant: Annotated[str, typer.Option(help="grid, grid_only, key, partial or filled.")] = "grid",
    ratio: Annotated[
        float | None, typer.Option(help="Prefill ratio for partial/filled (default 0.75).")
    ] = None,
    out: OutOpt = None,
) -> None:
    """Render every puzzle as DIR/<id>_<variant>.png."""
    from crosswordbench.prompts import prefill_for
    from crosswordbench.render import VARIANTS, render_image

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
    if ratio is not None and not 0 <= ratio <= 1:
        raise ValueError(f"--ratio must be in [0, 1], got {ratio}")
    items = _read_puzzles(puzzles)
    with _run(out, "render") as run:
        for puzzle in items:
            mask = (
                prefill_for(puzzle, ratio if ratio is not None else 0.75)
                if variant in ("partial", "filled")
                else None
            )
            render_image(puzzle, variant, mask=mask).save(run.file(f"{puzzle.id}_{variant}.png"))
    console.print(f"{len(items)} images → {run.path}")


@app.command("export")
@input_errors
def export_cmd(
    puzzles: PuzzlesOpt = None,
    format: Annotated[str, typer.Option("--format", help="puz (Across Lite) or ipuz.")] = "puz",
    out: OutOpt = None,
) -> None:
    """Write every puzzle as DIR/<id>.puz or DIR/<id>.ipuz."""
    from crosswordbench.pipeline import EXPORT_FORMATS, write_exports

    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {format!r}; valid: {', '.join(EXPORT_FORMATS)}")
    items = _read_puzzles(puzzles)
    with _run(out, "export") as run:
        paths = write_exports(items, run.path, [format])
    console.print(f"{len(paths)} files → {run.path}")


@app.command("import")
@input_errors
def import_cmd(
    files: Annotated[list[Path], typer.Argument(help=".puz or .ipuz files.")],
    out: Annotated[Path, typer.Option("--out", help="The puzzles .jsonl to write.")],
) -> None:
    """Read .puz/.ipuz files into one puzzles .jsonl."""
    from crosswordbench.data import DataError, save_puzzles
    from crosswordbench.export import from_ipuz, from_puz

    puzzles = []
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"file not found: {path}")
        suffix = path.suffix.lower()
        if suffix not in (".puz", ".ipuz"):
            raise DataError(f"{path}: not a .puz or .ipuz file")
        puzzle = from_puz(path) if suffix == ".puz" else from_ipuz(path)
        puzzle.id = puzzle.id or path.stem
        puzzles.append(puzzle)
    save_puzzles(puzzles, out)
    console.print(f"{len(puzzles)} puzzles → {out}")


# ------------------------------------------------------------------------------------------ evaluation


def _generator(config: CrossWordBenchConfig):
    from rlcore.rollout import make_generator

    return make_generator(config.generator_spec())


@app.command("evaluate")
@input_errors
def evaluate_cmd(
    puzzles: PuzzlesOpt = None,
    hf_config: HfConfigOpt = None,
    split: SplitOpt = None,
    model: ModelOpt = None,
    backend: BackendOpt = None,
    base_url: BaseUrlOpt = None,
    template: TemplateOpt = None,
    reflection: Annotated[bool, typer.Option(help="Add the self-reflection round.")] = False,
    limit: LimitOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Zero-shot CoT evaluation → samples.jsonl (resumable), metrics.json, report.md."""
    from crosswordbench.pipeline import evaluate_run, puzzles_for

    config = _config(
        recipe,
        overrides,
        model=model,
        backend=backend,
        base_url=base_url,
        template=template,
        reflection=reflection,
        limit=limit,
        puzzles=puzzles,
        hf_config=hf_config,
        split=split,
    )
    config.generator_spec()  # no model → one error line before anything is loaded
    items = puzzles_for(config)
    generator = _generator(config)
    with _run(out, "evaluate", config) as run, _progress() as bar:
        task = bar.add_task("evaluating", total=len(items) * len(config.templates))
        metrics = evaluate_run(config, run, items, generator, progress=lambda k: bar.advance(task, k))
    for template, summary in metrics.items():
        console.print(
            f"{template}: WCR {summary['wcr']['mean']:.3f}  LCR {summary['lcr']['mean']:.3f}  "
            f"ICR {summary['icr']['mean']:.3f}  (n={summary['wcr']['n']})"
        )
    console.print(f"run directory: {run.path}")


@app.command()
@input_errors
def interactive(
    puzzles: PuzzlesOpt = None,
    hf_config: HfConfigOpt = None,
    split: SplitOpt = None,
    model: ModelOpt = None,
    backend: BackendOpt = None,
    base_url: BaseUrlOpt = None,
    modality: Annotated[str | None, typer.Option(help="image or text.")] = None,
    limit: LimitOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Interactive mode: one clue per turn, stop at the first wrong answer → ISS per puzzle."""
    from crosswordbench.pipeline import interactive_run, puzzles_for

    config = _config(
        recipe,
        overrides,
        model=model,
        backend=backend,
        base_url=base_url,
        modality=modality,
        limit=limit,
        puzzles=puzzles,
        hf_config=hf_config,
        split=split,
    )
    config.generator_spec()
    items = puzzles_for(config)
    generator = _generator(config)
    with _run(out, "interactive", config) as run, _progress() as bar:
        task = bar.add_task("episodes", total=len(items))
        metrics = interactive_run(config, run, items, generator, progress=lambda k: bar.advance(task, k))
    console.print(
        f"mean ISS {metrics['iss']:.3f}, ISS = 0 in {metrics['iss_zero']:.0%}, solved {metrics['solved']:.0%} "
        f"(n={metrics['n']}); run directory: {run.path}"
    )


@app.command()
@input_errors
def score(
    puzzles: PuzzlesOpt = None,
    responses: Annotated[Path | None, typer.Option(help="JSONL of {id, response}.")] = None,
    template: Annotated[
        str, typer.Option(help="Template the replies answered (extraction parses differently).")
    ] = "text_cot",
    think: Annotated[str, typer.Option(help="last or first </think> split.")] = "last",
    out: OutOpt = None,
) -> None:
    """Score saved replies → samples.jsonl, metrics.json, report.md."""
    from crosswordbench.data import DataError
    from crosswordbench.evaluate import evaluate_responses
    from crosswordbench.pipeline import summary_rows
    from rlcore.data import load_records

    items = _read_puzzles(puzzles)
    if responses is None:
        raise ValueError("--responses is required (a JSONL of {id, response})")
    rows = load_records(responses)
    by_id = {}
    for i, row in enumerate(rows):
        if "id" not in row or "response" not in row:
            raise DataError(f"{responses}: record {i} needs id and response")
        by_id[str(row["id"])] = row["response"]
    missing = [p.id for p in items if p.id not in by_id]
    if len(missing) == len(items):
        raise DataError(f"{responses}: no reply matches a puzzle id (e.g. {items[0].id if items else '—'})")
    scored = [p for p in items if p.id in by_id]
    result = evaluate_responses(scored, [by_id[p.id] for p in scored], template=template, think=think)
    with _run(out, "score") as run:
        run.write_jsonl("samples.jsonl", result.records)
        metrics = summary_rows(result.records, "template")
        run.write_json("metrics.json", metrics)
        s = result.summary
        run.write_report(
            f"# Scored replies ({responses})\n\n{len(scored)} puzzles ({len(missing)} without a reply).\n\n"
            "| WCR | LCR | ICR |\n|---|---|---|\n"
            f"| {s['wcr']['mean']:.3f} | {s['lcr']['mean']:.3f} | {s['icr']['mean']:.3f} |\n"
        )
    console.print(
        f"WCR {s['wcr']['mean']:.3f}  LCR {s['lcr']['mean']:.3f}  ICR {s['icr']['mean']:.3f}  "
        f"(n={len(scored)}) → {run.path}"
    )


@app.command()
@input_errors
def correlate(
    img: Annotated[
        list[Path], typer.Option("--img", help="An img_cot evaluate run (repeat, one per model).")
    ],
    parse: Annotated[list[Path], typer.Option("--parse", help="The matching extraction run (same order).")],
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 10000,
    out: OutOpt = None,
) -> None:
    """Image-CoT versus grid-parsing WCR across models: Pearson r with a bootstrap CI, and a scatter plot."""
    from crosswordbench.pipeline import correlate_runs

    for folder in [*img, *parse]:
        if not folder.is_dir():
            raise FileNotFoundError(f"run directory not found: {folder}")
    with _run(out, "correlate") as run:
        result = correlate_runs(img, parse, run, n_boot=n_boot)
    console.print(f"r = {result['r']:.3f} [{result['ci_low']:.3f}, {result['ci_high']:.3f}] → {run.path}")


@app.command("build-wordlist")
@input_errors
def build_wordlist(
    wordnet_dir: Annotated[
        Path, typer.Option(help="WordNet 3.0 dict folder (Debian: /usr/share/wordnet).")
    ] = Path("/usr/share/wordnet"),
    out: Annotated[Path, typer.Option("--out", help="The word list to write.")] = Path("wordnet_en.txt"),
) -> None:
    """Rebuild the bundled word–clue list from WordNet 3.0 (byte-for-byte reproducible)."""
    from crosswordbench.data import build_word_list

    pairs = build_word_list(wordnet_dir, out)
    console.print(f"{len(pairs)} pairs, {len({w for w, _ in pairs})} words → {out}")


@app.command()
@input_errors
def train(
    model: ModelOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """GRPO on generated puzzles with WCR + ICR rewards (an extension, not in the paper)."""
    from crosswordbench.pipeline import train_run

    config = _config(recipe, overrides, model=model)
    with _run(out, "train", config) as run:
        result = train_run(config, run)
    console.print(f"{result['global_step']} GRPO steps → {result['output_dir']}")


@app.command()
@input_errors
def demo(out: OutOpt = None, recipe: RecipeOpt = None, overrides: OverridesArg = None) -> None:
    """The whole pipeline at toy scale on CPU: generate, render, export, evaluate, interactive, oracle/empty."""
    from crosswordbench.demo import TOY_RECIPE, run_demo

    config = load_recipe(CrossWordBenchConfig, recipe or TOY_RECIPE, overrides)
    with _run(out, "demo", config) as run:
        run_demo(config, run, console=console)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
