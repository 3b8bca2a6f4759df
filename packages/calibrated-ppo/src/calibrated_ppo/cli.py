"""The ``calibrated-ppo`` command (spec §6): sample data, CRM data, reward-model and CRM training, PPO / PPO-M /
PPO-C, the calibration evaluation, the reward-model bias probe, plots, the benchmark and the demo.

Every command takes ``--recipe FILE`` (default ``recipes/toy.yaml``), trailing ``key=value`` overrides and
``--out DIR``. Bad input is one ``error:`` line naming it, exit code 2, and no half-written run directory.
Sources use ``rlcore.data.load_records`` syntax (``hf:<id>[:<config>]`` or a local file); ``sample:<name>``
names a bundled file.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from calibrated_ppo.config import CalibratedPPOConfig
from calibrated_ppo.crm import BIAS_MODES
from calibrated_ppo.ppo import METHODS
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

T = TypeVar("T")

TOY_RECIPE = package_recipe(__file__)

app = make_app(
    "calibrated-ppo", "PPO-M and PPO-C: reward calibration against verbalised overconfidence in RLHF."
)


def _config(recipe: Path | None, overrides: Sequence[str] | None, **options: Any) -> CalibratedPPOConfig:
    """The recipe (default ``recipes/toy.yaml``), the command's options (dotted keys) and the overrides."""
    return load_recipe(
        CalibratedPPOConfig, recipe, list(overrides or []), default=TOY_RECIPE, options=options
    )


def source(spec: str) -> str:
    """``sample:<name>`` → the bundled file's path; anything else unchanged."""
    if spec.startswith("sample:"):
        from calibrated_ppo.data import sample_data_path

        return str(sample_data_path(spec.removeprefix("sample:")))
    return spec


def _run(out: Path | None, name: str, config: Any):
    """The run directory, removed again (when new) if the command fails on bad input."""
    return run_directory(out, package="calibrated-ppo", name=name, config=config, input_errors=True)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


# ------------------------------------------------------------------------------------------------ data


@app.command("make-sample-data")
@input_errors
def make_sample_data_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the four jsonl files.")] = Path(
        "sample_data"
    ),
    seed: Annotated[int, typer.Option(help="Generator seed (the bundled files use 0).")] = 0,
) -> None:
    """Write the procedurally generated sample data (preference pairs, prompts, two evaluation sets)."""
    from calibrated_ppo.data import make_sample_data

    paths = make_sample_data(out, seed=seed)
    console.print(f"{len(paths)} files → {out}")


@app.command("build-crm-data")
@input_errors
def build_crm_data(
    input: Annotated[str, typer.Option("--input", help="Preference pairs (hf:<id> or a file).")],
    output: Annotated[Path, typer.Option("--output", help="The jsonl to write (six columns).")],
    seed: Annotated[int, typer.Option(help="Seed of the confidence levels.")] = 42,
    limit: Annotated[int | None, typer.Option(help="First N pairs.")] = None,
) -> None:
    """Build the calibrated-reward-model variants (chosen/rejected × high/low confidence) of preference pairs."""
    from calibrated_ppo.data import load_crm_examples

    rows = load_crm_examples(source(input), seed=seed, limit=limit)
    atomic_write(output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    console.print(f"{len(rows)} CRM examples → {output}")


# ------------------------------------------------------------------------------------------ reward models


def _train_rm(calibrated: bool, data: str | None, base_model: str | None, recipe, overrides, out) -> None:
    from calibrated_ppo.crm import train_reward_model

    config = _config(
        recipe, overrides, **{"reward_model.dataset": data, "reward_model.base_model": base_model}
    )
    config.reward_model.dataset = source(config.reward_model.dataset)
    status = "training the calibrated reward model" if calibrated else "training the reward model"
    with _run(out, "train-crm" if calibrated else "train-rm", config) as run, console.status(status):
        path = train_reward_model(config, calibrated=calibrated, run_dir=run.path)
    stats = (
        json.loads((run.path / "reward_stats.json").read_text())
        if (run.path / "reward_stats.json").exists()
        else {}
    )
    console.print(
        f"model → {path}  " + ", ".join(f"{k}={v:.4g}" for k, v in stats.items() if isinstance(v, float))
    )


DataOpt = Annotated[
    str | None, typer.Option("--data", help="Preference data (hf:<id>, a file, or sample:<name>).")
]
BaseOpt = Annotated[str | None, typer.Option("--base-model", help="Model to start from.")]


@app.command("train-rm")
@input_errors
def train_rm(
    data: DataOpt = None,
    base_model: BaseOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Train a reward model on preference pairs (TRL RewardTrainer) → model/, reward_stats.json."""
    _train_rm(False, data, base_model, recipe, overrides, out)


@app.command("train-crm")
@input_errors
def train_crm(
    data: DataOpt = None,
    base_model: BaseOpt = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """Train the calibrated reward model (PPO-M's CRM) on confidence variants → model/, reward_stats.json."""
    _train_rm(True, data, base_model, recipe, overrides, out)


# ------------------------------------------------------------------------------------------------- PPO


@app.command()
@input_errors
def ppo(
    method: Annotated[str, typer.Option(help="ppo, ppo-m or ppo-c.")] = "ppo-c",
    policy: Annotated[str | None, typer.Option(help="Policy to start from.")] = None,
    reward_model: Annotated[str | None, typer.Option(help="Reward model (PPO, PPO-C).")] = None,
    calibrated_reward_model: Annotated[
        str | None, typer.Option(help="Calibrated reward model (PPO-M).")
    ] = None,
    prompts: Annotated[
        str | None, typer.Option(help="Prompt source (hf:<id>, a file, or sample:<name>).")
    ] = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """PPO with the plain reward model, with the CRM (PPO-M), or with the calibrated reward (PPO-C) → policy/."""
    from calibrated_ppo.ppo import train_ppo

    _check_method(method)
    config = _config(
        recipe,
        overrides,
        **{
            "ppo.policy": policy,
            "ppo.reward_model": reward_model,
            "ppo.calibrated_reward_model": calibrated_reward_model,
            "ppo.prompts": prompts,
        },
    )
    config.ppo.prompts = source(config.ppo.prompts)
    with _run(out, method, config) as run, console.status(f"{method.upper()} training"):
        path = train_ppo(config, method=method, run_dir=run.path)
    console.print(f"policy → {path}")


# ------------------------------------------------------------------------------------------ evaluation


def _eval_items(config: CalibratedPPOConfig, names: Sequence[str]) -> dict[str, list[dict]]:
    from calibrated_ppo.data import load_eval_dataset

    items = {}
    for name in names:
        label = name.removeprefix("sample:").removeprefix("eval_")
        items[label] = load_eval_dataset(source(name), limit=config.eval.limit, seed=config.eval.seed)
    return items


def evaluate_models(
    config: CalibratedPPOConfig, models: dict[str, Any], run: RunDir, datasets: Sequence[str]
) -> dict[str, dict[str, dict]]:
    """Evaluate each named model on each dataset into ``run/eval/<model>/``; returns model → dataset → metrics.
    Each model is loaded once for all datasets."""
    from calibrated_ppo.evaluation import evaluate_model, generator_for

    items = _eval_items(config, datasets)
    results: dict[str, dict[str, dict]] = {}
    for label, model in models.items():
        generator = generator_for(model, config.eval)
        results[label] = {}
        for name, rows in items.items():
            folder = run.path / "eval" / label.lower().replace(" ", "_")
            results[label][name] = evaluate_model(generator, rows, config.eval, folder, name=name)
        del generator
    return results


def _report(results: dict[str, dict[str, dict]]) -> str:
    lines = [
        "# Calibration evaluation",
        "",
        "| model | dataset | n | ACC | ECE | AUROC | Brier | conf-rate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, per in results.items():
        for name, m in per.items():
            auroc = "n/a" if m["auroc"] != m["auroc"] else f"{m['auroc']:.3f}"
            lines.append(
                f"| {model} | {name} | {m['n']} | {m['accuracy']:.3f} | {m['ece']:.3f} | {auroc} | {m['brier']:.3f} | "
                f"{m.get('confidence_rate', float('nan')):.2f} |"
            )
    return "\n".join(lines) + "\n"


@app.command()
@input_errors
def evaluate(
    model: Annotated[
        str | None, typer.Option(help="Model spec (hf id, local dir, embedded:…, tiny:…).")
    ] = None,
    datasets: Annotated[
        str | None, typer.Option(help="Comma-separated names or files (sample:<name> too).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Items per dataset.")] = None,
    cot: Annotated[bool, typer.Option("--cot", help="Chain-of-thought prompts.")] = False,
    binning: Annotated[str | None, typer.Option(help="exact or netcal.")] = None,
    backend: Annotated[str | None, typer.Option(help="hf, vllm or openai.")] = None,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """ACC, ECE, AUROC and Brier of verbalised confidence → eval/<ds>.jsonl, eval/metrics.json, PNGs, report.md."""
    extra = {
        "eval.model": model,
        "eval.limit": limit,
        "eval.binning": binning,
        "eval.backend": backend,
        "eval.cot": "true" if cot else None,
    }
    if datasets:
        extra["eval.datasets"] = "[" + datasets + "]"
    config = _config(recipe, overrides, **extra)
    if not config.eval.model:
        raise ValueError("evaluate needs --model SPEC (or eval.model in the recipe)")
    _eval_items(config, config.eval.datasets)  # unknown dataset or bad file: fail before the model loads
    spec = config.eval.model
    with _run(out, "evaluate", config) as run:
        results = evaluate_models(config, {"model": spec}, run, config.eval.datasets)
        run.write_json("eval/metrics.json", results["model"])
        run.write_report(_report(results))
    for name, m in results["model"].items():
        console.print(
            f"{name}: ACC {m['accuracy']:.3f}  ECE {m['ece']:.3f}  AUROC {m['auroc']:.3f}  (n={m['n']})"
        )
    console.print(f"run dir: {run.path}")


# ---------------------------------------------------------------------------------------------- rm-bias


def bias_rate(
    reward_model: str, pairs: Sequence[dict], mode: str, *, seed: int, system_prompt: bool = True
) -> float:
    """The bias probe on a reward model: share of pairs where the first (low-confidence) response wins."""
    from calibrated_ppo.crm import confidence_preference_rate
    from calibrated_ppo.rewards import RewardModelScorer, load_reward_model

    model, tokenizer = load_reward_model(reward_model)
    scorer = RewardModelScorer(model, tokenizer)
    return confidence_preference_rate(
        scorer, pairs, mode=mode, rng=random.Random(seed), system_prompt=system_prompt
    )


@app.command("rm-bias")
@input_errors
def rm_bias(
    reward_model: Annotated[str | None, typer.Option(help="Reward model spec.")] = None,
    data: DataOpt = None,
    mode: Annotated[str, typer.Option(help="chosen, rejected, normal, both_high or both_low.")] = "rejected",
    no_system_prompt: Annotated[
        bool, typer.Option("--no-system-prompt", help="Probe without the system turn.")
    ] = False,
    recipe: RecipeOpt = None,
    out: OutOpt = None,
    overrides: OverridesArg = None,
) -> None:
    """How often the RM prefers the first response of a probe pair (spec §2.3 modes) → bias.json."""
    from calibrated_ppo.data import load_preference_pairs

    if mode not in BIAS_MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(BIAS_MODES)}")
    config = _config(recipe, overrides, **{"ppo.reward_model": reward_model, "reward_model.dataset": data})
    pairs = load_preference_pairs(source(config.reward_model.dataset), limit=config.reward_model.max_samples)
    with _run(out, "rm-bias", config) as run:
        rate = bias_rate(
            config.ppo.reward_model, pairs, mode, seed=config.seed, system_prompt=not no_system_prompt
        )
        run.write_json(
            "bias.json",
            {"reward_model": config.ppo.reward_model, "mode": mode, "rate": rate, "n": len(pairs)},
        )
    console.print(f"{mode}: first response preferred in {rate:.3f} of {len(pairs)} pairs")


# ------------------------------------------------------------------------------------------------- plot


@app.command()
@input_errors
def plot(
    records: Annotated[Path, typer.Option(help="An eval/<ds>.jsonl with conf and correct columns.")],
    out: Annotated[Path, typer.Option("--out", help="The PNG to write.")] = Path("reliability.png"),
    n_bins: Annotated[int, typer.Option(help="Bins.")] = 10,
    binning: Annotated[str, typer.Option(help="exact or netcal.")] = "exact",
) -> None:
    """A reliability diagram from per-item evaluation records."""
    from calibrated_ppo.metrics import reliability_diagram
    from rlcore.data import DataError, load_records

    if not records.is_file():
        raise FileNotFoundError(f"file not found: {records}")
    rows = load_records(records)
    try:
        conf = [float(r["conf"]) for r in rows]
        correct = [int(bool(r["correct"])) for r in rows]
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{records}: records need conf and correct columns") from None
    path = reliability_diagram(conf, correct, out, n_bins=n_bins, binning=binning, title=records.stem)
    console.print(f"→ {path}")


# ------------------------------------------------------------------------------------------------ bench


@app.command()
@input_errors
def bench(iters: Annotated[int, typer.Option(help="Repetitions (median).")] = 3) -> None:
    """make_experience time of PPO-C's calibrated reward against the plain RM scorer (target ratio ≥ 0.90)."""
    from calibrated_ppo.bench import benchmark

    result = benchmark(iters=iters)
    console.print_json(json.dumps(result, default=str))


# ------------------------------------------------------------------------------------------------- demo


def _fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.3f}"


@app.command()
@input_errors
def demo(out: OutOpt = None, recipe: RecipeOpt = None, overrides: OverridesArg = None) -> None:
    """The whole pipeline on CPU: RM and CRM, PPO / PPO-M / PPO-C, evaluation, the bias probe."""
    from calibrated_ppo.crm import train_reward_model
    from calibrated_ppo.data import load_preference_pairs
    from calibrated_ppo.ppo import train_ppo

    config = _config(recipe or TOY_RECIPE, overrides)
    config.reward_model.dataset = source(config.reward_model.dataset)
    config.ppo.prompts = source(config.ppo.prompts)
    start = time.perf_counter()
    times: dict[str, float] = {}
    with _run(out, "demo", config) as run:
        with console.status("1/4 reward model and calibrated reward model"):
            t0 = time.perf_counter()
            rm = train_reward_model(config, calibrated=False, run_dir=run.path / "rm")
            config.reward_model.base_model = str(rm)
            crm = train_reward_model(config, calibrated=True, run_dir=run.path / "crm")
            times["reward models"] = time.perf_counter() - t0
        console.print(f"reward models: {times['reward models']:.0f} s", highlight=False)
        config.ppo.reward_model, config.ppo.calibrated_reward_model = str(rm), str(crm)
        policies = {"SFT": config.ppo.policy}
        for method in METHODS:
            with console.status(f"2/4 {method.upper()}: 2 updates"):
                t0 = time.perf_counter()
                policies[method.upper()] = str(train_ppo(config, method=method, run_dir=run.path / method))
                times[method] = time.perf_counter() - t0
            console.print(f"{method}: {times[method]:.0f} s", highlight=False)
        with console.status("3/4 evaluating SFT, PPO, PPO-M and PPO-C"):
            t0 = time.perf_counter()
            results = evaluate_models(config, policies, run, config.eval.datasets)
            times["evaluation"] = time.perf_counter() - t0
        console.print(f"evaluation: {times['evaluation']:.0f} s", highlight=False)
        with console.status("4/4 reward-model bias probe"):
            pairs = load_preference_pairs(config.reward_model.dataset, limit=16)
            bias = {
                name: bias_rate(str(path), pairs, "rejected", seed=config.seed)
                for name, path in (("RM", rm), ("CRM", crm))
            }
        seconds = time.perf_counter() - start
        names = list(next(iter(results.values())))
        header = "method  " + "  ".join(f"{n} ACC  {n} ECE  {n} AUROC" for n in names) + "  conf-rate"
        lines = ["calibrated-ppo demo (toy scale; not comparable to the paper)", header]
        for label, per in results.items():
            cells = "  ".join(
                f"{_fmt(per[n]['accuracy'])}  {_fmt(per[n]['ece'])}  {_fmt(per[n]['auroc'])}" for n in names
            )
            rate = sum(per[n].get("confidence_rate", 0.0) for n in names) / len(names)
            lines.append(f"{label:<7} {cells}  {rate:.2f}")
        lines.append(
            f"rm-bias (rejected, low-conf slot preferred): RM {bias['RM']:.2f}  CRM {bias['CRM']:.2f}"
        )
        run.write_text("results.md", "```\n" + "\n".join(lines) + "\n```\n\n" + _report(results))
        run.write_json(
            "summary.json",
            {
                **{
                    f"{label.lower()}_{n}_ece": per[n]["ece"] for label, per in results.items() for n in names
                },
                "rm_bias": bias["RM"],
                "crm_bias": bias["CRM"],
                "seconds": round(seconds, 1),
                "stage_seconds": {k: round(v, 1) for k, v in times.items()},
            },
        )
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(f"results: {run.path / 'results.md'}   wall time: {seconds:.0f} s", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
