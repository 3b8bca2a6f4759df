"""The ``unirel`` command (spec §6): ``kg-stats``, ``retrieve``, ``prepare``, ``train``, ``evaluate``,
``bench`` and ``demo``. Every command takes ``--recipe FILE`` (default ``recipes/toy.yaml``) and trailing
``key=value`` overrides. KG and records are validated before any model loads; bad input is one ``error:``
line naming it, exit code 2, and nothing is written.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

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
from rlcore.runs import RunDir, atomic_write
from unirel.config import UniRelConfig

T = TypeVar("T")

TOY_RECIPE = package_recipe(__file__)

app = make_app(
    "unirel", "UniRel: relation-centric KGQA whose answer is a subgraph; retrieval, GRPO, evaluation."
)

KgOpt = Annotated[
    str | None, typer.Option("--kg", help="umls, synthetic[:E:T:R[:SEED]], a file, a dir, hf:<id>.")
]
RunDirOpt = Annotated[Path, typer.Option("--run-dir", help="The run directory.")]


def _config(recipe: Path | None, overrides: Sequence[str] | None, **options: Any) -> UniRelConfig:
    """The recipe (default ``recipes/toy.yaml``), the command's options (dotted keys) and the overrides."""
    return load_recipe(UniRelConfig, recipe, list(overrides or []), default=TOY_RECIPE, options=options)


def _new_run(path: Path | None, config: Any, name: str):
    """A run directory that is removed again (when new) if the command fails on bad input."""
    return run_directory(path, package="unirel", name=name, config=config, input_errors=True)


# ------------------------------------------------------------------------------------------- kg-stats


@app.command("kg-stats")
@input_errors
def kg_stats(kg: KgOpt = None, recipe: RecipeOpt = None, overrides: OverridesArg = None) -> None:
    """Entities, relations, triples, the top relations and the degree spread of a KG."""
    from unirel.data import load_kg

    config = _config(recipe, overrides, **{"data.kg": kg})
    graph = load_kg(config.data.kg)
    print(f"entities {graph.num_entities}")
    print(f"relations {graph.num_relations}")
    print(f"triples {graph.num_triples}")
    top = sorted(graph.relations, key=lambda r: (-graph.relation_count(r), r))[:5]
    print("top relations: " + ", ".join(f"{r} ({graph.relation_count(r)})" for r in top))
    degrees = [graph.degree(e) for e in graph.entities]
    print(f"max degree {max(degrees)}, median degree {statistics.median(degrees):g}")


# ------------------------------------------------------------------------------------------- retrieve


@app.command()
@input_errors
def retrieve(
    kg: KgOpt = None,
    seeds: Annotated[str | None, typer.Option("--seeds", help="Comma-separated seed entities.")] = None,
    seed: Annotated[
        list[str] | None, typer.Option("--seed", help="A seed entity (repeatable; names with commas).")
    ] = None,
    hops: Annotated[int | None, typer.Option(help="k of the k-hop candidate.")] = None,
    rho0: Annotated[float | None, typer.Option(help="First hub threshold ρ₀.")] = None,
    rho_step: Annotated[float | None, typer.Option(help="Threshold step.")] = None,
    target_size: Annotated[int | None, typer.Option(help="Most triples kept.")] = None,
    bridges: Annotated[int | None, typer.Option(help="m₀ bridge entities.")] = None,
    backend: Annotated[str | None, typer.Option(help="csr or networkx.")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Retrieve the pruned subgraph connecting the seeds; print the trace and the textualised triples."""
    from unirel.data import load_kg
    from unirel.prompts import textualize
    from unirel.retrieval import retrieve_subgraph

    options = {
        "hops": hops,
        "rho0": rho0,
        "rho_step": rho_step,
        "target_size": target_size,
        "bridges": bridges,
        "backend": backend,
    }
    config = _config(
        recipe, overrides, **{"data.kg": kg}, **{f"retrieval.{k}": v for k, v in options.items()}
    )
    names = [s for s in (seeds or "").split(",") if s.strip()] + list(seed or [])
    if len(names) < 2:
        raise ValueError("retrieve needs at least 2 seeds: --seeds a,b or --seed a --seed b")
    graph = load_kg(config.data.kg)
    result = retrieve_subgraph(graph, names, config.retrieval)
    sizes = result.sizes
    console.print(
        f"sizes candidate {sizes['candidate']} → hub {sizes['hub']} → leaf {sizes['leaf']} → compact "
        f"{sizes['compact']}; ρ {result.rho:.3f} after {result.rho_steps} step(s); m {result.m}; bridges "
        f"{list(result.bridges)}; connected {result.connected}",
        highlight=False,
    )
    print(textualize(result.triples))


# -------------------------------------------------------------------------------------------- prepare


def _retrieval_summary(records: Sequence[dict], seconds: float) -> dict:
    n = len(records)
    if n == 0:
        return {"n": 0}
    sizes = [r["retrieval"]["sizes"] for r in records]
    return {
        "n": n,
        "mean_candidate": statistics.fmean(s["candidate"] for s in sizes),
        "mean_final": statistics.fmean(s["compact"] for s in sizes),
        "over_target_share": statistics.fmean(float(r["retrieval"]["over_target"]) for r in records),
        "connected_share": statistics.fmean(float(r["retrieval"]["connected"]) for r in records),
        "mean_rho_steps": statistics.fmean(r["retrieval"]["rho_steps"] for r in records),
        "seconds_per_query": seconds / n,
    }


def prepare_run(config: UniRelConfig, run: RunDir, *, anonymize: float | None = None) -> dict:
    """Sample queries on the KG, split them, retrieve a subgraph per query and write the records."""
    from unirel.data import anonymize_kg, build_records, load_kg, rename_query, sample_queries, split_queries

    d = config.data
    graph = load_kg(d.kg)
    total = d.n_train + d.n_test
    queries = sample_queries(
        graph, total, num_seeds=d.num_seeds, max_arm=d.max_arm, min_distance=d.min_distance, seed=d.seed
    )
    fraction = d.n_test / total if d.split == "random" and total else d.test_fraction
    train_q, test_q = split_queries(queries, mode=d.split, test_fraction=fraction, seed=d.seed)
    start = time.perf_counter()
    with console.status(f"retrieving subgraphs for {len(queries)} queries"):
        train_records = build_records(graph, train_q, config.retrieval, style=d.style)
        test_records = build_records(graph, test_q, config.retrieval, style=d.style)
    seconds = time.perf_counter() - start
    atomic_write(
        run.file("kg.json"),
        json.dumps(
            {
                "name": graph.name,
                "entities": graph.num_entities,
                "relations": graph.num_relations,
                "triples": graph.num_triples,
            },
            indent=2,
        ),
    )
    run.write_jsonl("queries.jsonl", [_query_row(q) for q in queries])
    run.write_jsonl("train.jsonl", train_records)
    run.write_jsonl("test.jsonl", test_records)
    if anonymize is not None:
        anon, mapping = anonymize_kg(
            graph, entity_fraction=anonymize, relation_fraction=anonymize, seed=d.seed
        )
        renamed = [rename_query(q, mapping) for q in test_q]
        run.write_jsonl(
            f"test_anon{anonymize:g}.jsonl", build_records(anon, renamed, config.retrieval, style=d.style)
        )
    summary = _retrieval_summary([*train_records, *test_records], seconds)
    run.write_json("retrieval.json", summary)
    return {"train": len(train_records), "test": len(test_records), **summary}


def _query_row(query: Any) -> dict:
    return {
        "id": query.id,
        "seeds": list(query.seeds),
        "gold": [list(t) for t in query.gold],
        "question": query.question,
        "center": query.center,
    }


@app.command()
@input_errors
def prepare(
    run_dir: RunDirOpt,
    kg: KgOpt = None,
    num_seeds: Annotated[int | None, typer.Option(help="Seeds per query (2–4).")] = None,
    n_train: Annotated[int | None, typer.Option(help="Training queries.")] = None,
    n_test: Annotated[int | None, typer.Option(help="Test queries.")] = None,
    split: Annotated[str | None, typer.Option(help="random, unseen_entities or unseen_relations.")] = None,
    anonymize: Annotated[
        float | None, typer.Option(help="Also write test_anon{F}.jsonl on a renamed KG.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Queries → retrieved subgraphs → train.jsonl / test.jsonl records (plus retrieval.json)."""
    config = _config(
        recipe,
        overrides,
        **{
            "data.kg": kg,
            "data.num_seeds": num_seeds,
            "data.n_train": n_train,
            "data.n_test": n_test,
            "data.split": split,
            "data.seed": seed,
        },
    )
    if anonymize is not None and not 0 < anonymize <= 1:
        raise ValueError(f"--anonymize must be in (0, 1], got {anonymize}")
    from unirel.data import load_kg

    load_kg(config.data.kg)  # an unknown source or a bad file fails before the run directory exists
    with _new_run(run_dir, config, "prepare") as run:
        summary = prepare_run(config, run, anonymize=anonymize)
    console.print(
        f"{summary['train']} train / {summary['test']} test records; mean subgraph {summary.get('mean_final', 0):.1f} "
        f"triples (candidate {summary.get('mean_candidate', 0):.0f}) → {run.path}"
    )


# ---------------------------------------------------------------------------------------------- train


@app.command()
@input_errors
def train(
    run_dir: RunDirOpt,
    model: Annotated[str | None, typer.Option(help="Base model (default train.model).")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """GRPO with the UniRel reward on the run's train.jsonl."""
    from rlcore.data import DataError
    from unirel.data import read_records
    from unirel.training import train as run_training

    if not (run_dir / "train.jsonl").is_file():
        raise DataError(f"no train.jsonl in {run_dir}: run `unirel prepare --run-dir {run_dir}` first")
    config = _config(recipe, overrides, **{"train.model": model})
    records = read_records(run_dir / "train.jsonl")
    from rlcore.train import grpo_batch_args

    t = config.train
    grpo_batch_args(
        t.prompts_per_step,
        t.prompts_per_step,
        t.num_generations,
        per_device_train_batch_size=t.per_device_train_batch_size,
    )  # a batch that does not divide fails here
    run = RunDir.resume(run_dir, package="unirel")
    with console.status("GRPO"):
        result = run_training(config, run, records=records)
    console.print(f"{result.global_step} GRPO steps → {result.output_dir}")


# ------------------------------------------------------------------------------------------- evaluate


def _completions(
    method: str, records: Sequence[dict], config: UniRelConfig, generator: Any | None
) -> list[str]:
    from rlcore.rollout import SamplingParams
    from unirel.evaluation import optimal_answer, shortest_path_answer
    from unirel.prompts import build_prompt
    from unirel.rewards import KGStats

    if method == "shortest_path":
        return [shortest_path_answer(r["seeds"], [tuple(t) for t in r["triples"]]) for r in records]
    if method == "optimal":
        out = []
        for r in records:
            best = optimal_answer(
                r["seeds"], [tuple(t) for t in r["triples"]], KGStats.from_record(r), config.reward
            )
            out.append(best.text if best is not None else "PATH: END")
        return out
    if method == "vanilla_criteria":
        prompts = [
            build_prompt(r["question"], [tuple(t) for t in r["triples"]], r["seeds"], style="criteria")
            for r in records
        ]
    else:
        prompts = [r["prompt"] for r in records]
    params = SamplingParams(
        max_new_tokens=config.eval.max_new_tokens, temperature=config.eval.temperature, seed=0
    )
    texts: list[str] = []
    for start in range(0, len(prompts), config.eval.batch_size):
        samples = generator.generate(prompts[start : start + config.eval.batch_size], params, n=1)
        texts += [s[0].text for s in samples]
    return texts


def evaluate_method(
    config: UniRelConfig,
    records: Sequence[dict],
    method: str,
    *,
    model: str | None = None,
    generator: Any | None = None,
) -> tuple[dict, list[dict]]:
    """Completions of one method on the records, their breakdowns and the §7 metrics."""
    from dataclasses import asdict

    from unirel.evaluation import METHODS, evaluate_answers
    from unirel.rewards import KGStats, score_answer

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if generator is None and method not in ("shortest_path", "optimal"):
        from rlcore.rollout import make_generator

        generator = make_generator(model or config.train.model)
    completions = _completions(method, records, config, generator)
    metrics = evaluate_answers(records, completions, config.reward, with_optimal=True)
    predictions = []
    for record, completion in zip(records, completions, strict=True):
        breakdown = score_answer(
            completion,
            record["seeds"],
            [tuple(t) for t in record["triples"]],
            KGStats.from_record(record),
            config.reward,
        )
        predictions.append({"id": record["id"], "completion": completion, "breakdown": asdict(breakdown)})
    return metrics, predictions


def _report(results: dict) -> str:
    lines = [
        "# UniRel evaluation",
        "",
        "| method | records | n | format | connectivity | reward | triples | R*-gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, m in results.items():
        method, _, source = key.partition("@")
        triples = "–" if m.get("answer_triples") is None else f"{m['answer_triples']:.2f}"
        gap = "–" if m.get("optimal_gap") is None else f"{m['optimal_gap']:.3f}"
        lines.append(
            f"| {method} | {source} | {m['n']} | {m['format_accuracy']:.3f} | {m['connectivity']:.3f} | "
            f"{m['reward']:.3f} | {triples} | {gap} |"
        )
    return "\n".join(lines) + "\n"


def results_table(rows: dict[str, dict]) -> Table:
    table = Table()
    for col in ("method", "n", "format", "connect", "reward", "triples", "R*-gap"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, m in rows.items():
        table.add_row(
            name,
            str(m["n"]),
            f"{m['format_accuracy']:.3f}",
            f"{m['connectivity']:.3f}",
            f"{m['reward']:.3f}",
            "–" if m.get("answer_triples") is None else f"{m['answer_triples']:.1f}",
            "–" if m.get("optimal_gap") is None else f"{m['optimal_gap']:.3f}",
        )
    return table


@app.command()
@input_errors
def evaluate(
    run_dir: RunDirOpt,
    method: Annotated[str, typer.Option(help="vanilla, vanilla_criteria, unirel, shortest_path or optimal.")],
    model: Annotated[
        str | None, typer.Option(help="Model for vanilla/vanilla_criteria (default train.model).")
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Trained model for unirel (default the run's).")
    ] = None,
    records: Annotated[
        Path | None, typer.Option(help="Records to evaluate (default the run's test.jsonl).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="First N records.")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Score a method's answers: connectivity, reward, format accuracy, compactness, gap to the optimum."""
    from unirel.data import read_records
    from unirel.evaluation import METHODS

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    config = _config(recipe, overrides)
    source = records or run_dir / "test.jsonl"
    if not Path(source).is_file():
        raise FileNotFoundError(f"records file not found: {source}")
    rows = read_records(source)[: limit if limit is not None else None]
    spec = model
    if method == "unirel":
        trained = checkpoint or run_dir / "checkpoints"
        if not (Path(trained) / "config.json").is_file():
            raise FileNotFoundError(
                f"no trained model at {trained}: run `unirel train` or pass --checkpoint DIR"
            )
        spec = str(trained)
    metrics, predictions = evaluate_method(config, rows, method, model=spec)
    run = RunDir.resume(run_dir, package="unirel") if run_dir.is_dir() else RunDir(run_dir, package="unirel")
    run.write_jsonl(f"predictions_{method}.jsonl", predictions)
    results_path = run.file("results.json")
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results[f"{method}@{Path(source).name}"] = metrics
    run.write_json("results.json", results)
    run.write_report(_report(results))
    console.print(results_table({method: metrics}))


# ---------------------------------------------------------------------------------------------- bench


@app.command()
@input_errors
def bench(
    quick: Annotated[bool, typer.Option(help="A smaller KG (20k entities, 200k triples).")] = False,
    out: Annotated[Path, typer.Option("--out", help="JSON to write.")] = Path("bench.json"),
) -> None:
    """Retrieval speed and memory, CSR against the networkx reference (spec §9)."""
    from unirel.bench import benchmark_retrieval

    result = benchmark_retrieval(quick=quick, console=console)
    atomic_write(out, json.dumps(result, indent=2, default=str))
    console.print(f"→ {out}")


# ----------------------------------------------------------------------------------------------- demo


@app.command()
@input_errors
def demo(
    out: Annotated[Path | None, typer.Option("--out", help="Run directory.")] = None,
    recipe: RecipeOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """The whole pipeline on CPU: UMLS queries, retrieval, baselines, 2 GRPO steps, evaluation."""
    from rlcore.rollout import make_generator
    from unirel.training import train as run_training

    config = _config(recipe or TOY_RECIPE, overrides)
    start = time.perf_counter()
    with _new_run(out, config, "demo") as run:
        summary = prepare_run(config, run)
        test = run.read_jsonl("test.jsonl")
        rows: dict[str, dict] = {}
        with console.status("baselines: shortest path and the optimal answer"):
            for method in ("shortest_path", "optimal"):
                rows[method], predictions = evaluate_method(config, test, method)
                run.write_jsonl(f"predictions_{method}.jsonl", predictions)
        generator = make_generator(config.train.model)
        with console.status(f"vanilla prompting with {config.train.model}"):
            for method in ("vanilla", "vanilla_criteria"):
                rows[method], predictions = evaluate_method(config, test, method, generator=generator)
                run.write_jsonl(f"predictions_{method}.jsonl", predictions)
        with console.status("GRPO with the UniRel reward"):
            result = run_training(config, run)
        label = f"unirel ({result.global_step} steps)"
        with console.status("evaluating the trained model"):
            rows[label], predictions = evaluate_method(config, test, "unirel", model=str(result.output_dir))
            run.write_jsonl("predictions_unirel.jsonl", predictions)
        run.write_json("results.json", rows)
        run.write_report(_report({f"{k}@test.jsonl": v for k, v in rows.items()}))
        seconds = time.perf_counter() - start
        scalars = {f"{k.split(' ')[0]}_reward": v["reward"] for k, v in rows.items()}
        run.write_json(
            "summary.json",
            {
                **scalars,
                "mean_subgraph": summary.get("mean_final"),
                "grpo_steps": result.global_step,
                "seconds": round(seconds, 1),
                "rows": rows,
            },
        )
    console.print(results_table(rows))
    console.print(f"run dir: {run.path}   wall time: {seconds:.0f} s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
