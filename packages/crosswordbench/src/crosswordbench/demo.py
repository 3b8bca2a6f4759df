"""``crosswordbench demo`` (spec §6): the whole pipeline at toy scale on CPU, offline, in under 2 minutes.

4 bundled 7×7 puzzles (seed 1234) → images and ``.puz``/``.ipuz`` of the first → ``text_cot`` with
SmolLM2-135M-Instruct (128 greedy tokens) → one text-modality interactive episode (64 tokens per turn) →
the ``oracle`` (reference answers in the final format) and ``empty`` solvers as bounds. The toy numbers show
that the pipeline runs end to end; a 135M model is not expected to solve crosswords.
"""

from __future__ import annotations

import time
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from crosswordbench.config import CrossWordBenchConfig
from crosswordbench.data import save_puzzles
from crosswordbench.evaluate import evaluate_responses
from crosswordbench.interactive import run_interactive
from crosswordbench.pipeline import evaluate_run, generate_sets, write_exports, write_images
from crosswordbench.prompts import format_solution
from crosswordbench.puzzle import Puzzle
from rlcore.cli import package_recipe
from rlcore.rollout import make_generator
from rlcore.runs import RunDir

__all__ = ["INTERACTIVE_TOKENS", "TOY_RECIPE", "oracle_interactive", "run_demo"]

TOY_RECIPE = package_recipe(__file__)
INTERACTIVE_TOKENS = 64
"""New tokens per interactive turn in the demo (spec §6)."""


def oracle_interactive(puzzle: Puzzle):
    """A perfect interactive player: turn t answers the t-th clue, so its ISS is the number of words."""

    def reply(conversations: list[list[dict]]) -> list[str]:
        turn = sum(m["role"] == "assistant" for m in conversations[0])
        word = puzzle.words[min(turn, len(puzzle.words) - 1)]
        return [format_solution(puzzle, {word.key: word.answer})]

    return reply


def run_demo(config: CrossWordBenchConfig, run: RunDir, *, console: Console) -> dict:
    """Run the toy pipeline into ``run``; returns (and writes) ``summary.json``."""
    times: dict[str, float] = {}

    def tick(name: str, start: float) -> None:
        times[name] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    with console.status("1/5 generating puzzles"):
        puzzles = generate_sets(replace(config.generate, sizes=config.generate.sizes[:1]))
    save_puzzles(puzzles, run.file("puzzles.jsonl"))
    tick("generate", start)

    start = time.perf_counter()
    with console.status("2/5 images and .puz/.ipuz of the first puzzle"):
        write_images(puzzles[:1], run.file("images"))
        write_exports(puzzles[:1], run.file("export"), ["puz", "ipuz"])
    tick("render+export", start)

    start = time.perf_counter()
    with console.status(f"3/5 loading {config.model} and solving {len(puzzles)} puzzles (text_cot)"):
        generator = make_generator(config.generator_spec())
        model_run = RunDir(run.path / "evaluate", package="crosswordbench", config=config)
        metrics = evaluate_run(config, model_run, puzzles, generator)
    tick("evaluate", start)

    start = time.perf_counter()
    params = replace(config.eval, max_new_tokens=INTERACTIVE_TOKENS).sampling()
    with console.status("4/5 one interactive episode"):
        episode = run_interactive(puzzles[0], generator, config.interactive, params=params)
    tick("interactive", start)

    start = time.perf_counter()
    with console.status("5/5 oracle and empty solvers"):
        oracle = evaluate_responses(puzzles, [format_solution(p) for p in puzzles])
        empty = evaluate_responses(puzzles, [""] * len(puzzles))
        oracle_iss = run_interactive(puzzles[0], oracle_interactive(puzzles[0]), config.interactive).iss
        empty_iss = run_interactive(puzzles[0], lambda convs: [""], config.interactive).iss
    tick("bounds", start)

    model_summary = metrics[config.templates[0]]
    rows = [
        _row(config.model or "model", model_summary, episode.iss),
        _row("oracle", oracle.summary, oracle_iss),
        _row("empty", empty.summary, empty_iss),
    ]
    summary = {
        "model_wcr": rows[0]["wcr"],
        "model_lcr": rows[0]["lcr"],
        "model_icr": rows[0]["icr"],
        "model_iss": rows[0]["iss"],
        "oracle_wcr": rows[1]["wcr"],
        "seconds_total": round(sum(times.values()), 1),
        "puzzles": [p.id for p in puzzles],
        "words": [len(p.words) for p in puzzles],
        "rows": rows,
        "interactive": {"steps": episode.steps, "stop_reason": episode.stop_reason, "turns": episode.turns},
        "seconds": times,
    }
    run.write_json("summary.json", summary)
    table = Table(title=f"CrossWordBench demo: {len(puzzles)} bundled 7x7 puzzles")
    for name in ("solver", "WCR", "LCR", "ICR", "ISS"):
        table.add_column(name, justify="left" if name == "solver" else "right")
    for row in rows:
        table.add_row(
            row["solver"], f"{row['wcr']:.3f}", f"{row['lcr']:.3f}", f"{row['icr']:.3f}", str(row["iss"])
        )
    console.print(table)
    console.print(f"run directory: {run.path}")
    return summary


def _row(name: str, summary: dict, iss: int) -> dict:
    return {"solver": name, **{k: summary[k]["mean"] for k in ("wcr", "lcr", "icr")}, "iss": iss}
