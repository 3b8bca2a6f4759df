"""The co-evolution loop (paper §3, spec §6): Challenger phase → dataset phase → Solver phase → evaluation,
repeated for ``config.iterations`` iterations, in one process on TRL (no side servers needed; a served
Solver is optional through ``voting.backend: openai``).

Iteration k starts from Challenger_{k−1} and Solver_{k−1} (both the base model for k = 1):

1. GRPO on Challenger_{k−1} with the uncertainty + repetition reward against the frozen Solver_{k−1};
2. Challenger_k writes N questions (seed = ``seed + k``); Solver_{k−1} answers each valid one m times, the
   majority answer is its pseudo-label and only questions with p̂ in the keep band stay;
3. GRPO on Solver_{k−1} with the binary pseudo-label reward → Solver_k (skipped with a warning when fewer
   than ``solver.min_examples`` records are kept);
4. Solver_k is evaluated (and the base model once, as iteration 0).

Every stage writes into the run directory and is marked done, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import functools
import json
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r_zero.config import RZeroConfig
from r_zero.curation import filter_records, label_questions
from r_zero.data import challenger_prompt_dataset
from r_zero.evaluation import aggregate_scores, evaluate_solver
from r_zero.prompts import challenger_messages, parse_challenger_output, solver_messages
from r_zero.rewards import make_challenger_reward, make_solver_reward, make_solver_sampler
from rlcore.data import DataError
from rlcore.rollout import SamplingParams
from rlcore.runs import RunDir, atomic_write

__all__ = [
    "IterationResult",
    "build_solver_dataset",
    "generate_questions",
    "iteration_history",
    "results_table",
    "run_iterations",
    "train_challenger",
    "train_solver",
]

GENERATION_CHUNK = 128
"""Challenger samples (or Solver questions) per generate call; bounds memory on the HF backend."""


@dataclass
class IterationResult:
    """One iteration's models and numbers (spec §2.5). ``solver_reward_mean`` is None when the Solver phase
    was skipped; ``scores`` holds the benchmark accuracies plus ``math_avg``/``general_avg``/``overall``."""

    iteration: int
    challenger_path: str
    solver_path: str
    num_generated: int
    num_valid: int
    num_kept: int
    challenger_reward_mean: float | None
    p_hat_mean: float | None
    solver_reward_mean: float | None
    scores: dict[str, float] = field(default_factory=dict)


# -- models and generators ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _generator(spec: str) -> Any:
    """One generator per model spec and process: the frozen Solver is loaded once, not once per phase."""
    from rlcore.rollout import make_generator

    return make_generator(spec)


def solver_generator(config: RZeroConfig, solver: str) -> Any:
    """The frozen Solver under ``voting.backend``: in-process transformers, in-process vLLM, or a served
    ``vllm serve`` endpoint (``openai``, the paper's 4 training + 4 serving GPUs)."""
    voting = config.voting
    if voting.backend == "openai":
        return _generator(f"openai:{voting.base_url}#{voting.served_model or solver}")
    return _generator(f"{voting.backend}:{solver}")


def _policy_generator(config: RZeroConfig, model: str) -> Any:
    """A generator for a model being sampled in-process (vLLM when the recipe uses it, else transformers)."""
    return _generator(f"vllm:{model}" if config.voting.backend == "vllm" else f"hf:{model}")


def _copy_model(model: str, out_dir: Path) -> Path:
    """``max_steps == 0``: the input model, unchanged, as this phase's checkpoint."""
    source = Path(model)
    if source.is_dir():
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(source, out_dir)
        return out_dir
    from rlcore.models import load_model

    net, processor = load_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    net.save_pretrained(str(out_dir))
    processor.save_pretrained(str(out_dir))
    return out_dir


def _grpo(config: RZeroConfig, role: str, out_dir: Path) -> Any:
    """The role's ``trl.GRPOConfig``: the paper's batch sizes in prompts, converted by
    ``rlcore.train.grpo_batch_args``; TRL's ``max_steps`` counts optimizer updates, so the paper's rollout
    steps are multiplied by the updates per step (prompts_per_step / global_batch)."""
    from rlcore.train import grpo_batch_args, grpo_config

    g, phase = config.grpo, getattr(config, role)
    batch = grpo_batch_args(
        g.prompts_per_step,
        phase.global_batch,
        phase.group_size,
        per_device_train_batch_size=g.per_device_train_batch_size,
    )
    gpu = {"bf16": g.bf16} if g.bf16 is not None else {}
    if g.use_vllm:
        gpu |= {"use_vllm": True, "vllm_mode": "colocate"}
    return grpo_config(
        output_dir=str(out_dir),
        learning_rate=g.learning_rate,
        weight_decay=g.weight_decay,
        lr_scheduler_type="constant",
        warmup_steps=0,
        beta=g.kl_coef,
        use_bias_correction_kl=False,
        epsilon=g.clip_low,
        epsilon_high=g.clip_high,
        loss_type=g.loss_type,
        max_grad_norm=g.max_grad_norm,
        temperature=g.temperature,
        top_p=g.top_p,
        max_completion_length=phase.max_new_tokens,
        max_steps=phase.max_steps * (g.prompts_per_step // phase.global_batch),
        logging_steps=g.logging_steps,
        gradient_checkpointing=g.gradient_checkpointing,
        save_strategy="no",
        seed=config.seed,
        **gpu,
        **batch,
    )


def _mean_metric(rows: Sequence[dict], key: str) -> float | None:
    values = [float(r[key]) for r in rows if key in r]
    return sum(values) / len(values) if values else None


# -- 1. Challenger phase ------------------------------------------------------------------------------


def train_challenger(
    config: RZeroConfig, challenger: str, solver: str, out_dir: str | Path, *, callbacks: Sequence[Any] = ()
) -> Path:
    """GRPO on the Challenger against the frozen Solver (paper §3.2): reward = uncertainty of the Solver's
    m answers minus the BLEU-cluster repetition penalty. Returns the checkpoint directory (``out_dir``);
    ``challenger.max_steps == 0`` copies the input model unchanged (the "Base Challenger")."""
    from rlcore.train import RunDirLogger, run_grpo

    out_dir = Path(out_dir)
    cfg = config.challenger
    if cfg.max_steps == 0:
        return _copy_model(challenger, out_dir)
    sampler = make_solver_sampler(
        solver_generator(config, solver),
        temperature=config.voting.temperature,
        top_p=config.voting.top_p,
        top_k=config.voting.top_k,
        max_new_tokens=config.voting.max_new_tokens,
        seed=config.seed,
    )
    reward = make_challenger_reward(
        sampler,
        num_samples=config.voting.num_samples,
        tau=cfg.bleu_threshold,
        lam=cfg.penalty_weight,
        scope=cfg.penalty_scope,
        form=cfg.reward_form,
        workers=cfg.bleu_workers,
    )
    rows = challenger_prompt_dataset(config.grpo.prompts_per_step * cfg.max_steps)
    logger = RunDirLogger(RunDir(out_dir, package="r-zero"))
    result = run_grpo(
        challenger, reward, rows, _grpo(config, "challenger", out_dir), callbacks=[logger, *callbacks]
    )
    return Path(result.output_dir)


# -- 2. dataset phase ---------------------------------------------------------------------------------


def generate_questions(
    config: RZeroConfig, challenger: str, n: int | None = None, seed: int | None = None
) -> list[dict]:
    """N Challenger samples → ``{"id", "question", "challenger_answer", "valid", "raw"}`` each. Valid =
    a non-empty ``<question>`` block (and a ``\\boxed{}`` answer when ``curation.require_challenger_answer``)."""
    n = config.curation.num_questions if n is None else n
    seed = config.seed if seed is None else seed
    generator = _policy_generator(config, challenger)
    texts: list[str] = []
    for chunk, start in enumerate(range(0, n, GENERATION_CHUNK)):
        params = SamplingParams(
            max_new_tokens=config.curation.max_new_tokens,
            temperature=config.curation.temperature,
            top_p=config.curation.top_p,
            seed=seed + chunk,
        )
        samples = generator.generate([challenger_messages()], params, n=min(GENERATION_CHUNK, n - start))
        texts += [s.text for s in samples[0]]
    rows = []
    for i, text in enumerate(texts):
        parsed = parse_challenger_output(text)
        valid = parsed.question is not None
        if config.curation.require_challenger_answer:
            valid = valid and parsed.answer is not None
        rows.append(
            {
                "id": i,
                "question": parsed.question,
                "challenger_answer": parsed.answer,
                "valid": valid,
                "raw": text,
            }
        )
    return rows


def build_solver_dataset(
    config: RZeroConfig, solver: str, questions: Sequence[dict]
) -> tuple[list[dict], list[dict]]:
    """Sample the Solver m times per valid question, label by majority vote, keep the band (paper §3.3).
    Returns (every labelled record, the kept records)."""
    valid = [q for q in questions if q.get("valid") and q.get("question")]
    sampler = make_solver_sampler(
        solver_generator(config, solver),
        temperature=config.voting.temperature,
        top_p=config.voting.top_p,
        top_k=config.voting.top_k,
        max_new_tokens=config.voting.max_new_tokens,
        seed=config.seed,
    )
    m = config.dataset_samples
    completions: list[list[str]] = []
    texts = [q["question"] for q in valid]
    for start in range(0, len(texts), GENERATION_CHUNK):
        completions += sampler(texts[start : start + GENERATION_CHUNK], m)
    labelled = label_questions(texts, completions)
    for record, question in zip(labelled, valid, strict=True):
        record["id"] = question.get("id")
    kept = filter_records(
        labelled,
        config.curation.keep_low,
        config.curation.keep_high,
        code_filters=config.curation.code_filters,
    )
    return labelled, kept


# -- 3. Solver phase ----------------------------------------------------------------------------------


def train_solver(
    config: RZeroConfig,
    solver: str,
    records: Sequence[dict],
    out_dir: str | Path,
    *,
    callbacks: Sequence[Any] = (),
) -> Path:
    """GRPO on the Solver with the pseudo-label reward (binary by default, paper §3.3) on ``problem``/
    ``answer`` records. Returns the checkpoint directory. No records → ``DataError``."""
    from rlcore.train import RunDirLogger, run_grpo

    if not records:
        raise DataError("no records to train the Solver on (the curated set is empty)")
    for i, record in enumerate(records):
        if not record.get("problem") or record.get("answer") in (None, ""):
            raise DataError(f"record {i} needs problem and answer")
    out_dir = Path(out_dir)
    if config.solver.max_steps == 0:
        return _copy_model(solver, out_dir)
    rows = [{"prompt": solver_messages(r["problem"]), "answer": str(r["answer"])} for r in records]
    reward = make_solver_reward(config.solver.reward_form)
    logger = RunDirLogger(RunDir(out_dir, package="r-zero"))
    result = run_grpo(solver, reward, rows, _grpo(config, "solver", out_dir), callbacks=[logger, *callbacks])
    return Path(result.output_dir)


# -- 4. the loop --------------------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _evaluate(config: RZeroConfig, model: str, path: Path) -> dict[str, float]:
    """The Solver's benchmark scores plus their averages; ``path`` (``eval.json``) and the per-item files
    beside it are written once and read back on resume."""
    if not path.exists():
        evaluate_solver(
            _policy_generator(config, model), config.evaluation.benchmarks, config.evaluation, out_path=path
        )
    saved = json.loads(path.read_text(encoding="utf-8"))
    return {**saved["scores"], **aggregate_scores(saved["scores"])}


def _phase_metrics(folder: Path) -> list[dict]:
    metrics = folder / "metrics.jsonl"
    return _read_jsonl(metrics) if metrics.exists() else []


def run_iterations(
    config: RZeroConfig,
    run_dir: str | Path | RunDir,
    resume: bool = True,
    *,
    status: Callable[[str], Any] | None = None,
) -> list[IterationResult]:
    """The whole loop of spec §6 into ``run_dir`` (``config.yaml``, ``iter_0/eval.json``, per iteration
    ``challenger/``, ``questions.jsonl``, ``labelled.jsonl``, ``solver_data.jsonl``, ``solver/``,
    ``eval.json``, plus ``metrics.jsonl``, ``samples.jsonl`` and ``report.md``). With ``resume`` a finished
    stage is skipped on rerun; without it the stages run again. ``status`` receives a line per stage."""
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir, package="r-zero", config=config)
    say = status or (lambda line: None)

    def stage(name: str) -> bool:
        return resume and run.done(name)

    say("iteration 0: evaluating the base model")
    base_scores = _evaluate(config, config.model, run.file("iter_0/eval.json"))
    challenger = solver = config.model
    results: list[IterationResult] = []
    for k in range(1, config.iterations + 1):
        folder = run.file(f"iter_{k}")
        c_dir, s_dir = folder / "challenger", folder / "solver"
        if not stage(f"iter_{k}.challenger"):
            say(f"iteration {k}: Challenger GRPO against the frozen Solver")
            train_challenger(config, challenger, solver, c_dir)
            run.mark_done(f"iter_{k}.challenger")
        questions_path = folder / "questions.jsonl"
        if not stage(f"iter_{k}.questions"):
            say(f"iteration {k}: the Challenger writes {config.curation.num_questions} questions")
            _write_jsonl(questions_path, generate_questions(config, str(c_dir), seed=config.seed + k))
            run.mark_done(f"iter_{k}.questions")
        questions = _read_jsonl(questions_path)
        if not stage(f"iter_{k}.dataset"):
            say(f"iteration {k}: the Solver labels the valid questions by majority vote")
            labelled, kept = build_solver_dataset(config, solver, questions)
            _write_jsonl(folder / "labelled.jsonl", labelled)
            _write_jsonl(folder / "solver_data.jsonl", kept)
            run.mark_done(f"iter_{k}.dataset")
        labelled = _read_jsonl(folder / "labelled.jsonl")
        kept = _read_jsonl(folder / "solver_data.jsonl")
        skipped = len(kept) < max(config.solver.min_examples, 1)
        if skipped:
            warnings.warn(
                f"iteration {k}: {len(kept)} records kept (< solver.min_examples {config.solver.min_examples}); "
                "the Solver phase is skipped and Solver_k = Solver_(k-1)",
                stacklevel=2,
            )
            new_solver = solver
        else:
            if not stage(f"iter_{k}.solver"):
                say(f"iteration {k}: Solver GRPO on {len(kept)} pseudo-labelled questions")
                train_solver(config, solver, kept, s_dir)
                run.mark_done(f"iter_{k}.solver")
            new_solver = str(s_dir)
        say(f"iteration {k}: evaluating Solver_{k}")
        scores = _evaluate(config, new_solver, folder / "eval.json")
        c_metrics, s_metrics = _phase_metrics(c_dir), [] if skipped else _phase_metrics(s_dir)
        scored = [r["score"] for r in labelled if r.get("score") is not None]
        result = IterationResult(
            iteration=k,
            challenger_path=str(c_dir),
            solver_path=new_solver,
            num_generated=len(questions),
            num_valid=sum(1 for q in questions if q.get("valid")),
            num_kept=len(kept),
            challenger_reward_mean=_mean_metric(c_metrics, "reward"),
            p_hat_mean=sum(scored) / len(scored) if scored else None,
            solver_reward_mean=None if skipped else _mean_metric(s_metrics, "reward"),
            scores=scores,
        )
        results.append(result)
        if not run.done(f"iter_{k}.logged"):
            run.log_metrics(
                {
                    "iteration": k,
                    **{key: v for key, v in asdict(result).items() if key != "scores"},
                    **{f"eval/{key}": v for key, v in scores.items()},
                }
            )
            run.log_samples([{"iteration": k, **q} for q in questions[:8]])
            run.mark_done(f"iter_{k}.logged")
        challenger, solver = str(c_dir), new_solver
    _write_report(run, config, iteration_history(config, base_scores, results))
    return results


def iteration_history(
    config: RZeroConfig, base_scores: dict, results: Sequence[IterationResult]
) -> list[dict]:
    """Rows for :func:`results_table`: iteration 0 (the base model) and one per :class:`IterationResult`."""
    rows = [{"iter": 0, "scores": base_scores}]
    for result in results:
        skipped = result.num_kept < max(config.solver.min_examples, 1)
        rows.append(
            {
                "iter": result.iteration,
                "scores": result.scores,
                "challenger_reward": result.challenger_reward_mean,
                "valid_rate": result.num_valid / result.num_generated if result.num_generated else 0.0,
                "p_hat": result.p_hat_mean,
                "kept": result.num_kept,
                "generated": result.num_generated,
                "solver_reward": None if skipped else result.solver_reward_mean,
                "skipped": skipped,
            }
        )
    return rows


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def results_table(history: Sequence[dict], accuracy_key: str, label: str | None = None) -> list[str]:
    """The markdown results table of the report and the demo (spec §6): one row per iteration, the
    Solver's ``accuracy_key`` score in the last column (headed ``label``)."""
    lines = [
        f"| iter | challenger reward | valid q | mean p̂ | kept / generated | solver reward | {label or accuracy_key} |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in history:
        acc = row["scores"].get(accuracy_key)
        if row["iter"] == 0:
            lines.append(f"| 0 | - | - | - | - | - | {_fmt(acc)} |")
            continue
        solver = "skipped" if row["skipped"] else _fmt(row["solver_reward"], ".2f")
        lines.append(
            f"| {row['iter']} | {_fmt(row['challenger_reward'])} | {row['valid_rate']:.2f} | {_fmt(row['p_hat'], '.2f')} "
            f"| {row['kept']} / {row['generated']} | {solver} | {_fmt(acc)} |"
        )
    return lines


def _headline(scores: dict) -> str:
    for key in ("overall", "math_avg", "arith"):
        if key in scores:
            return key
    return next(iter(scores), "overall")


def _write_report(run: RunDir, config: RZeroConfig, history: Sequence[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = _headline(history[0]["scores"])
    iters = [row["iter"] for row in history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(iters, [row["scores"].get(key) for row in history], marker="o", label=f"Solver {key}")
    p_hats = [(row["iter"], row.get("p_hat")) for row in history if row.get("p_hat") is not None]
    if p_hats:
        ax.plot(
            [i for i, _ in p_hats], [p for _, p in p_hats], marker="s", label="mean p̂ (labelled questions)"
        )
    ax.set_xlabel("iteration")
    ax.set_xticks(iters)
    ax.legend()
    run.write_report(
        f"# R-Zero: {config.model}, {len(history) - 1} iteration(s)\n\n"
        + "\n".join(results_table(history, key))
        + "\n",
        plots={"iterations": fig},
    )
    plt.close(fig)
