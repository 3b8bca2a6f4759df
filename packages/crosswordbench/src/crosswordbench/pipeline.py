"""The CLI's stages as functions (spec §6): generate a puzzle set, evaluate or play it interactively with a
model into a run directory, score saved replies, correlate image-CoT with grid parsing, and the GRPO
extension. Each writes its files into an ``rlcore.runs.RunDir``; the CLI only parses options.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from crosswordbench.config import CrossWordBenchConfig, GenerateSettings, parse_size
from crosswordbench.data import bundled_word_list, load_puzzles, load_word_list, save_puzzles
from crosswordbench.evaluate import evaluate
from crosswordbench.interactive import InteractiveResult, run_interactive
from crosswordbench.metrics import aggregate, grid_parsing_correlation
from crosswordbench.puzzle import Puzzle
from rlcore.data import DataError
from rlcore.runs import RunDir

__all__ = [
    "EXPORT_FORMATS",
    "IMAGE_VARIANTS",
    "correlate_runs",
    "evaluate_run",
    "generate_sets",
    "interactive_run",
    "puzzles_for",
    "summary_rows",
    "train_run",
    "word_entries",
    "write_exports",
    "write_images",
]

EXPORT_FORMATS = ("puz", "ipuz")
IMAGE_VARIANTS = ("grid", "grid_only", "key", "partial_0.25", "partial_0.5", "partial_0.75")
"""The images ``generate --images`` writes per puzzle, as ``images/<id>_<variant>.png``."""

Progress = Callable[[int], None]


def word_entries(words: str) -> list[tuple[str, str]]:
    """``"bundled"`` → the bundled WordNet list; else a word-list file (spec §2.3)."""
    return bundled_word_list() if words == "bundled" else load_word_list(words)


def generate_sets(
    settings: GenerateSettings, *, entries: Sequence[tuple[str, str]] | None = None
) -> list[Puzzle]:
    """Puzzles for every size in ``settings.sizes``; a later size excludes the pairs used by earlier ones
    (the paper's 14×14 set shares no clue with its 7×7 set)."""
    from crosswordbench.generate import GenerationConfig, generate_puzzles

    entries = list(entries) if entries is not None else word_entries(settings.words)
    used: list[tuple[str, str]] = []
    puzzles: list[Puzzle] = []
    for size in settings.sizes:
        rows, cols = parse_size(size)
        gen = GenerationConfig(
            rows=rows,
            cols=cols,
            restarts=settings.restarts,
            passes=settings.passes,
            replacement=settings.replacement,
            engine=settings.engine,
            seed=settings.seed,
        )
        made = generate_puzzles(entries, settings.n, gen, exclude=used or None)
        puzzles += made
        used += [(w.answer, w.clue) for p in made for w in p.words]
    return puzzles


def write_images(
    puzzles: Sequence[Puzzle], folder: Path, variants: Sequence[str] = IMAGE_VARIANTS
) -> list[Path]:
    """PNG files ``<id>_<variant>.png``; ``partial_<r>`` uses the puzzle's prefill mask at ratio r."""
    from crosswordbench.prompts import prefill_for
    from crosswordbench.render import render_image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for puzzle in puzzles:
        for variant in variants:
            if variant.startswith("partial_"):
                image = render_image(puzzle, "partial", mask=prefill_for(puzzle, variant.split("_", 1)[1]))
            else:
                image = render_image(puzzle, variant)
            path = folder / f"{puzzle.id}_{variant}.png"
            image.save(path)
            paths.append(path)
    return paths


def write_exports(puzzles: Sequence[Puzzle], folder: Path, formats: Sequence[str]) -> list[Path]:
    """``<id>.puz`` / ``<id>.ipuz`` files that crossword programs open."""
    from crosswordbench.export import to_ipuz, to_puz

    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise ValueError(f"unknown export format {unknown[0]!r}; valid: {', '.join(EXPORT_FORMATS)}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for puzzle in puzzles:
        for fmt in formats:
            path = folder / f"{puzzle.id}.{fmt}"
            (to_puz if fmt == "puz" else to_ipuz)(puzzle, path)
            paths.append(path)
    return paths


def puzzles_for(config: CrossWordBenchConfig) -> list[Puzzle]:
    """The puzzles a recipe evaluates: ``data.puzzles`` (file or hub id), else the first size generated
    from ``generate`` (``data.limit`` applies to both)."""
    if config.data.puzzles:
        return load_puzzles(
            config.data.puzzles,
            hf_config=config.data.hf_config,
            split=config.data.split,
            limit=config.data.limit,
        )
    settings = replace(config.generate, sizes=config.generate.sizes[:1])
    if config.data.limit is not None:
        settings = replace(settings, n=min(settings.n, config.data.limit))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return generate_sets(settings)


def _done(run: RunDir, name: str) -> list[dict]:
    return run.read_jsonl(name) if run.file(name).exists() else []


def summary_rows(records: Sequence[dict], group: str) -> dict[str, dict]:
    """``aggregate`` of the records per value of ``group`` (e.g. template)."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(str(record.get(group)), []).append(record)
    return {name: aggregate(rows) for name, rows in groups.items()}


def _metric_cell(summary: dict, key: str) -> str:
    s = summary.get(key)
    if not s:
        return "–"
    return f"{s['mean']:.3f} ± {s['stderr']:.3f}"


def evaluate_run(
    config: CrossWordBenchConfig,
    run: RunDir,
    puzzles: Sequence[Puzzle],
    generator: Any,
    *,
    progress: Progress | None = None,
) -> dict[str, dict]:
    """Every template of the recipe on every puzzle: ``samples.jsonl`` (appended per batch, so a killed
    run resumes where it stopped), ``metrics.json`` (summary per template) and ``report.md``."""
    done = {(r.get("template"), r.get("id")) for r in _done(run, "samples.jsonl")}
    for template in config.templates:
        todo = [p for p in puzzles if (template, p.id) not in done]
        if progress is not None:
            progress(len(puzzles) - len(todo))
        evaluate(
            todo,
            generator,
            replace(config.eval, template=template),
            on_records=run.log_samples,
            on_progress=progress,
        )
    ids = {p.id for p in puzzles}
    records = [
        r for r in _done(run, "samples.jsonl") if r.get("id") in ids and r.get("template") in config.templates
    ]
    metrics = summary_rows(records, "template")
    run.write_json("metrics.json", metrics)
    lines = [
        f"# CrossWordBench evaluation: {config.model}",
        "",
        f"{len(puzzles)} puzzles; mean ± standard error over puzzles (95% CIs in metrics.json).",
        "",
        "| template | n | WCR | LCR | ICR | completion |",
        "|---|---|---|---|---|---|",
    ]
    for template, summary in metrics.items():
        n = summary.get("wcr", {}).get("n", 0)
        lines.append(
            f"| {template} | {n} | "
            + " | ".join(_metric_cell(summary, k) for k in ("wcr", "lcr", "icr", "completion"))
            + " |"
        )
    run.write_report("\n".join(lines) + "\n")
    return metrics


def _text_only(messages: Sequence[dict]) -> list[dict]:
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(b.get("text", "") if b.get("type") == "text" else "<image>" for b in content)
        out.append({"role": message.get("role"), "content": content})
    return out


def interactive_summary(results: Sequence[InteractiveResult]) -> dict[str, float]:
    """Mean ISS, share of episodes with ISS = 0 (the paper's figure), share solved, mean turns."""
    n = len(results)
    if n == 0:
        return {"n": 0, "iss": 0.0, "iss_zero": 0.0, "solved": 0.0, "turns": 0.0}
    return {
        "n": n,
        "iss": sum(r.iss for r in results) / n,
        "iss_zero": sum(r.iss == 0 for r in results) / n,
        "solved": sum(r.stop_reason == "solved" for r in results) / n,
        "turns": sum(r.turns for r in results) / n,
    }


def interactive_run(
    config: CrossWordBenchConfig,
    run: RunDir,
    puzzles: Sequence[Puzzle],
    generator: Any,
    *,
    progress: Progress | None = None,
) -> dict[str, float]:
    """One interactive episode per puzzle: ``samples.jsonl`` (steps, ISS, transcript as text; resumable),
    ``metrics.json`` and ``report.md``."""
    params = config.eval.sampling()
    done = {r.get("id") for r in _done(run, "samples.jsonl")}
    for puzzle in puzzles:
        if puzzle.id in done:
            if progress is not None:
                progress(1)
            continue
        result = run_interactive(puzzle, generator, config.interactive, params=params)
        run.log_samples(
            [
                {
                    "id": puzzle.id,
                    "steps": result.steps,
                    "iss": result.iss,
                    "confirmed": result.confirmed,
                    "turns": result.turns,
                    "stop_reason": result.stop_reason,
                    "transcript": _text_only(result.messages),
                }
            ]
        )
        if progress is not None:
            progress(1)
    ids = {p.id for p in puzzles}
    rows = [r for r in _done(run, "samples.jsonl") if r.get("id") in ids]
    results = [
        InteractiveResult(r["steps"], r["iss"], r["confirmed"], r["turns"], r["stop_reason"]) for r in rows
    ]
    metrics = interactive_summary(results)
    run.write_json("metrics.json", metrics)
    run.write_report(
        f"# CrossWordBench interactive mode: {config.model}\n\n"
        f"{metrics['n']} episodes ({config.interactive.modality} modality, check {config.interactive.check}).\n\n"
        "| mean ISS | share ISS = 0 | solved | mean turns |\n|---|---|---|---|\n"
        f"| {metrics['iss']:.3f} | {metrics['iss_zero']:.3f} | {metrics['solved']:.3f} | {metrics['turns']:.2f} |\n"
    )
    return metrics


def _run_wcr(folder: Path) -> tuple[str, dict[str, float]]:
    """Model name and per-puzzle WCR of an ``evaluate`` run directory."""
    samples = folder / "samples.jsonl"
    if not samples.is_file():
        raise FileNotFoundError(f"no samples.jsonl in {folder} (an `evaluate` run directory is expected)")
    from rlcore.data import load_records

    rows = load_records(samples)
    name = folder.name
    snapshot = folder / "config.yaml"
    if snapshot.is_file():
        import yaml

        name = (yaml.safe_load(snapshot.read_text(encoding="utf-8")) or {}).get("model") or name
    return str(name), {str(r["id"]): float(r["wcr"]) for r in rows if "id" in r and "wcr" in r}


def correlate_runs(
    img_dirs: Sequence[Path], parse_dirs: Sequence[Path], run: RunDir, *, n_boot: int = 10000
) -> dict:
    """Image-CoT versus grid-parsing WCR across models (paper: r = 0.936). ``img_dirs[i]`` and
    ``parse_dirs[i]`` are one model's two runs; puzzles are matched by id. Writes ``correlation.json``,
    ``correlation.png`` and ``report.md``."""
    if len(img_dirs) != len(parse_dirs):
        raise ValueError(f"give one --parse run per --img run ({len(img_dirs)} vs {len(parse_dirs)})")
    loaded = [(_run_wcr(Path(a)), _run_wcr(Path(b))) for a, b in zip(img_dirs, parse_dirs, strict=True)]
    common = set.intersection(*(set(w) for pair in loaded for _, w in pair))
    if not common:
        raise DataError("the runs share no puzzle ids: every run must cover the same puzzles")
    ids = sorted(common)
    img = {name: [wcr_img[i] for i in ids] for (name, wcr_img), _ in loaded}
    parse = {name: [wcr_parse[i] for i in ids] for (name, _), (_, wcr_parse) in loaded}
    if len(img) != len(loaded):
        raise ValueError("two --img runs have the same model name; give each model its own run")
    result = grid_parsing_correlation(img, parse, n_boot=n_boot)
    result["models"] = {
        m: {"grid_parsing_wcr": sum(parse[m]) / len(parse[m]), "img_cot_wcr": sum(img[m]) / len(img[m])}
        for m in img
    }
    run.write_json("correlation.json", result)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    xs = [v["grid_parsing_wcr"] for v in result["models"].values()]
    ys = [v["img_cot_wcr"] for v in result["models"].values()]
    ax.scatter(xs, ys)
    for name, x, y in zip(result["models"], xs, ys, strict=True):
        ax.annotate(name, (x, y), fontsize=7)
    ax.set_xlabel("grid-parsing WCR")
    ax.set_ylabel("image-CoT WCR")
    ax.set_title(f"r = {result['r']:.3f} [{result['ci_low']:.3f}, {result['ci_high']:.3f}]")
    run.write_report(
        "# Image-CoT versus grid parsing\n\n"
        f"Pearson r = {result['r']:.3f} (95% bootstrap CI [{result['ci_low']:.3f}, {result['ci_high']:.3f}]) over "
        f"{len(img)} models; least-squares line y = {result['slope']:.3f}·x + {result['intercept']:.3f}. "
        "Paper: r = 0.936 [0.916, 0.948] over 15 LVLMs.\n",
        plots={"correlation": fig},
    )
    plt.close(fig)
    return result


def train_rows(config: CrossWordBenchConfig, puzzles: Sequence[Puzzle]) -> list[dict]:
    """GRPO rows: the solve prompt and the puzzle as JSON (the rewards' ``puzzle`` column)."""
    from crosswordbench.prompts import build_messages

    return [
        {
            "prompt": build_messages(p, config.train.template),
            "puzzle": json.dumps(p.to_dict(), ensure_ascii=False),
        }
        for p in puzzles
    ]


def train_run(config: CrossWordBenchConfig, run: RunDir, *, model: str | None = None) -> dict:
    """GRPO on generated puzzles with ``wcr_reward`` and ``icr_reward`` (weights ``train.wcr_weight`` and
    ``train.icr_weight``); an extension, not in the paper. Returns the trainer's output dir, last step and
    logged metrics."""
    from crosswordbench.rewards import icr_reward, wcr_reward
    from rlcore.train import RunDirLogger, grpo_batch_args, grpo_config, run_grpo

    cfg = config.train
    spec = model or config.model
    if not spec:
        raise DataError("train needs a model: --model SPEC or model in the recipe")
    settings = replace(config.generate, sizes=[cfg.size], n=cfg.n_puzzles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        puzzles = generate_sets(settings)
    save_puzzles(puzzles, run.file("train_puzzles.jsonl"))
    batch = grpo_batch_args(
        cfg.prompts_per_step,
        cfg.prompts_per_update,
        cfg.num_generations,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
    )
    grpo = grpo_config(
        output_dir=str(run.file("checkpoints")),
        learning_rate=cfg.learning_rate,
        max_steps=cfg.max_steps,
        beta=cfg.beta,
        temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_tokens,
        logging_steps=cfg.logging_steps,
        reward_weights=[cfg.wcr_weight, cfg.icr_weight],
        save_strategy="no",
        seed=config.generate.seed,
        **batch,
    )
    result = run_grpo(
        spec, [wcr_reward, icr_reward], train_rows(config, puzzles), grpo, callbacks=[RunDirLogger(run)]
    )
    return {
        "output_dir": str(result.output_dir),
        "global_step": result.global_step,
        "metrics": result.metrics,
    }
