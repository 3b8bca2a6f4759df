"""The paper's pipeline, one function per stage (spec §6); the CLI is a thin layer over these.

warm-up data -> warm-up SFT -> teacher filter -> GRPO with the relay rollout -> evaluation -> router.
Every stage writes into a :class:`rlcore.runs.RunDir` and returns what it wrote.
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from relayllm.config import RelayLLMConfig
from rlcore.data import DataError
from rlcore.runs import RunDir

__all__ = [
    "build_warmup_data",
    "evaluate_benchmarks",
    "load_llm",
    "load_slm",
    "read_records",
    "router_from_runs",
    "run_filter",
    "run_train",
    "run_warmup",
    "timed",
]


# -- models and data -------------------------------------------------------------------------------


def load_slm(spec: str, *, temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None, banned=()):
    """The small model as a relay model (always local: it is the policy)."""
    from relayllm.relay import HFRelayModel
    from rlcore.models import load_model

    model, tokenizer = load_model(spec)
    return HFRelayModel(
        model, tokenizer, temperature=temperature, top_p=top_p, seed=seed, banned_strings=tuple(banned)
    )


@functools.lru_cache(maxsize=2)
def _frozen_local_model(spec: str):
    """The large model's weights, loaded once per process: it is never trained, so every stage (filter, GRPO
    rollouts, eval) can share one copy instead of reloading it."""
    from rlcore.models import load_model

    return load_model(spec)


def _is_server(spec: str) -> bool:
    return spec.startswith(("openai:", "vllm:"))


def load_llm(
    config: RelayLLMConfig, *, temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None
):
    """The frozen large model: a local model, an ``openai:`` server or ``vllm:`` (checked once)."""
    from relayllm.relay import HFRelayModel, load_relay_model

    if not _is_server(config.llm) and not config.llm_tokenizer:
        spec = config.llm.removeprefix("hf:")
        return HFRelayModel(*_frozen_local_model(spec), temperature=temperature, top_p=top_p, seed=seed)

    tokenizer = None
    if config.llm_tokenizer:
        from rlcore.models import load_model, tokenizer_of

        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(config.llm_tokenizer)
        except (OSError, ValueError):
            tokenizer = tokenizer_of(load_model(config.llm_tokenizer)[1])
    return load_relay_model(config.llm, tokenizer=tokenizer, temperature=temperature, top_p=top_p, seed=seed)


def read_records(config: RelayLLMConfig, source: str | None = None) -> list[dict]:
    """Question/answer records from ``source`` (default ``data.train``); ``sample:<name>`` reads a bundled file.

    Records without a question or an answer are skipped and counted (``records.skipped`` for files and hub
    sets); none left is a DataError.
    """
    from relayllm import data

    source = source or config.data.train
    if source.startswith("sample:"):
        records = data.load_sample(source.split(":", 1)[1])
        if config.data.limit is not None:
            records = records[: config.data.limit]
    else:
        records = data.load_records(
            source,
            question_field=config.data.question_field,
            answer_field=config.data.answer_field,
            limit=config.data.limit,
        )
    if not records:
        raise DataError(f"no usable records (each needs a question and an answer) ({source})")
    return records


def _gpu_switches(cfg) -> dict:
    """bf16 and gradient checkpointing only when the recipe turns them on: otherwise rlcore's device-aware
    defaults stand (off on a CPU, TRL's own on a GPU)."""
    return {
        **({"bf16": True} if cfg.bf16 else {}),
        **({"gradient_checkpointing": True} if cfg.gradient_checkpointing else {}),
    }


# -- 1. warm-up data ---------------------------------------------------------------------------------


def build_warmup_data(config: RelayLLMConfig, run: RunDir, records: list[dict]) -> dict:
    """SLM self-samples (or the records' ``solution``) with 0..max_commands random calls inserted (paper §3.2).

    Writes ``warmup_data.jsonl`` (prompt–completion rows) and ``warmup_stats.json`` (commands per row, and a
    histogram of the call lengths n actually written).
    """
    from relayllm.data import build_warmup_records
    from relayllm.prompts import build_messages, parse_calls
    from relayllm.rewards import is_correct
    from rlcore.models import load_model, tokenizer_of
    from rlcore.rollout import HFGenerator, SamplingParams

    cfg = config.warmup
    model, processor = load_model(config.slm)
    tokenizer = tokenizer_of(processor)
    if cfg.responses == "solution":
        missing = [r.get("id") for r in records if not r.get("solution")]
        if missing:
            raise DataError(
                f"warmup.responses=solution needs a 'solution' column; {len(missing)} records lack it"
            )
        pairs = [(r, r["solution"]) for r in records]
    else:
        generator = HFGenerator(model, processor)
        params = SamplingParams(
            temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=config.seed
        )
        samples = generator.generate(
            [build_messages(r["question"]) for r in records], params, n=cfg.samples_per_question
        )
        pairs = [(r, s.text) for r, per in zip(records, samples, strict=True) for s in per]
        if cfg.only_correct:
            pairs = [(r, text) for r, text in pairs if is_correct(text, r["answer"], r.get("kind", "math"))]
    rows = build_warmup_records(
        [r for r, _ in pairs],
        [t for _, t in pairs],
        tokenizer,
        seed=config.seed,
        max_commands=cfg.max_commands,
    )
    lengths = Counter(n for row in rows for n in parse_calls(row["completion"][-1]["content"]))
    stats = {
        "rows": len(rows),
        "commands": {str(k): v for k, v in sorted(Counter(row["num_commands"] for row in rows).items())},
        "call_lengths": {str(k): v for k, v in sorted(lengths.items())},
    }
    path = run.write_jsonl("warmup_data.jsonl", rows)
    run.write_json("warmup_stats.json", stats)
    return {"path": path, "stats": stats}


# -- 2. warm-up SFT ----------------------------------------------------------------------------------


def run_warmup(config: RelayLLMConfig, run: RunDir, rows: list[dict]) -> Path:
    """SFT on the warm-up rows with completion-only loss; the model goes to ``checkpoint/``."""
    from rlcore.train import RunDirLogger, run_sft, sft_config

    cfg = config.warmup
    sft = sft_config(
        output_dir=str(run.file("checkpoint")),
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_length=cfg.max_length,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a share of the steps
        logging_steps=1,
        save_strategy="no",
        seed=config.seed,
        **_gpu_switches(cfg),
    )
    rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    result = run_sft(config.slm, rows, sft, callbacks=[RunDirLogger(run)])
    return result.output_dir


# -- 3. teacher filter -------------------------------------------------------------------------------


def run_filter(config: RelayLLMConfig, run: RunDir, records: list[dict]) -> dict:
    """Keep the questions the teacher solves with pass rate >= threshold (paper §3.3).

    Writes ``pass_rates.jsonl`` (every query with its correct count, samples and rate) and ``filtered.jsonl``.
    """
    from relayllm.data import filter_by_teacher
    from rlcore.rollout import make_generator

    if config.llm.startswith("openai:"):
        from relayllm.relay import load_relay_model

        load_relay_model(config.llm)  # reachability check: one clear error before any sampling
    if _is_server(config.llm):
        generator = make_generator(config.llm)
    else:
        from rlcore.rollout import HFGenerator

        generator = HFGenerator(*_frozen_local_model(config.llm.removeprefix("hf:")))
    kept, rates = filter_by_teacher(records, generator, config.filter)
    if not kept:
        raise DataError(
            f"the teacher filter kept 0 of {len(records)} records at filter.threshold={config.filter.threshold}: "
            "lower the threshold or set filter.min_keep"
        )
    run.write_jsonl("pass_rates.jsonl", rates)
    path = run.write_jsonl("filtered.jsonl", kept)
    return {"path": path, "kept": len(kept), "total": len(records)}


# -- 4. GRPO with the relay rollout --------------------------------------------------------------------


def _reward_function(config: RelayLLMConfig):
    from relayllm import rewards

    cfg = config.train
    if cfg.reward == "accuracy":
        return rewards.accuracy_reward
    if cfg.reward == "simple":
        return rewards.make_simple_reward(ratio_source=cfg.ratio_source)
    return rewards.make_difficulty_aware_reward(
        independence_bonus=cfg.independence_bonus,
        stubborn_penalty=cfg.stubborn_penalty,
        exploration_reward=cfg.exploration_reward,
        ratio_source=cfg.ratio_source,
        scope=cfg.scope,
    )


def run_train(config: RelayLLMConfig, run: RunDir, records: list[dict], slm: str | None = None) -> dict:
    """GRPO on the (filtered) questions, rolled out by the relay (paper §3.3, Eq. 1-4)."""
    from relayllm.prompts import build_messages
    from relayllm.relay import make_relay_rollout
    from rlcore.train import RunDirLogger, grpo_batch_args, grpo_config, run_grpo

    cfg = config.train
    llm = load_llm(config, temperature=cfg.llm_temperature, seed=config.seed)
    relay_cfg = replace(config.relay, max_turns=cfg.max_turns, max_tokens=cfg.max_completion_tokens)
    rollout = make_relay_rollout(
        llm, relay_cfg, mask_llm_tokens=cfg.mask_llm_tokens, temperature=cfg.temperature, top_p=cfg.top_p
    )
    batch = grpo_batch_args(
        cfg.prompts_per_step,
        cfg.prompts_per_update,
        cfg.num_generations,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
    )
    grpo = grpo_config(
        output_dir=str(run.file("checkpoints")),
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a share of the steps
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        epsilon_high=cfg.epsilon_high,
        max_grad_norm=cfg.max_grad_norm,
        loss_type=cfg.loss_type,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_completion_length=cfg.max_completion_tokens,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps > 0 else "no",
        **({"save_steps": cfg.save_steps} if cfg.save_steps > 0 else {}),
        seed=config.seed,
        use_vllm=cfg.use_vllm,
        **({"vllm_mode": "colocate"} if cfg.use_vllm else {}),
        **_gpu_switches(cfg),
        **batch,
    )
    rows = [
        {"prompt": build_messages(r["question"]), "answer": r["answer"], "kind": r.get("kind", "math")}
        for r in records
    ]
    last = run.last_checkpoint()
    if last is not None:
        grpo.resume_from_checkpoint = str(last)
    result = run_grpo(
        slm or config.slm,
        _reward_function(config),
        rows,
        grpo,
        rollout_func=rollout,
        callbacks=[RunDirLogger(run)],
    )
    return {"output_dir": result.output_dir, "global_step": result.global_step, "metrics": result.metrics}


# -- 5. evaluation -----------------------------------------------------------------------------------

_REPEATED = {"aime24", "aime25"}


def evaluate_benchmarks(
    config: RelayLLMConfig,
    run: RunDir,
    *,
    slm: str | None = None,
    benchmarks: tuple[str, ...] | None = None,
    mode: str | None = None,
    progress: bool = True,
) -> list:
    """Accuracy and call ratio per benchmark (paper §4) in ``relay``, ``slm`` (teacher-free) or ``llm`` mode.

    Writes ``items/<benchmark>.jsonl`` and ``summary.json``; returns the summary rows.
    """
    from relayllm.data import load_benchmark
    from relayllm.evaluation import EvalItem, summarize
    from relayllm.prompts import CALL_OPEN, build_messages
    from relayllm.relay import relay_generate
    from relayllm.rewards import is_correct

    cfg = config.eval
    mode = mode or cfg.mode
    names = tuple(benchmarks or cfg.benchmarks)
    loaded = {name: load_benchmark(name, limit=cfg.limit, seed=config.seed) for name in names}
    relay_cfg = replace(config.relay, max_turns=cfg.max_turns)
    models: dict[float, Any] = {}

    def policy(temperature: float):
        # One model per temperature: greedy for single-sample sets, sampled for the repeated AIME sets.
        if temperature not in models:
            if mode == "llm":
                models[temperature] = _batched(load_llm(config, temperature=temperature, seed=config.seed))
            else:
                banned = (CALL_OPEN,) if mode == "slm" else ()
                models[temperature] = load_slm(
                    slm or config.slm, temperature=temperature, seed=config.seed, banned=banned
                )
        return models[temperature]

    teacher = load_llm(config, temperature=cfg.llm_temperature, seed=config.seed) if mode == "relay" else None
    items: list[EvalItem] = []
    for name, records in loaded.items():
        repeats = (cfg.repeats or 32) if name in _REPEATED else 1
        temperature = cfg.sampled_temperature if repeats > 1 else cfg.temperature
        prompts = [build_messages(r["question"]) for r in records for _ in range(repeats)]
        results = relay_generate(policy(temperature), teacher, prompts, relay_cfg, progress=progress)
        rows = []
        for index, result in enumerate(results):
            record = records[index // repeats]
            correct = is_correct(result.text, record["answer"], record.get("kind", "math"))
            llm_tokens = result.total_tokens if mode == "llm" else result.llm_tokens
            items.append(EvalItem(name, correct, llm_tokens, result.total_tokens, result.num_calls))
            rows.append(
                {
                    "id": record.get("id"),
                    "answer": record["answer"],
                    "correct": correct,
                    "text": result.text,
                    "finish": result.finish,
                    "llm_tokens": llm_tokens,
                    "total_tokens": result.total_tokens,
                    "num_calls": result.num_calls,
                }
            )
        run.write_jsonl(f"items/{name}.jsonl", rows)
    summary = summarize(items)
    run.write_json("summary.json", {"mode": mode, "rows": [s.__dict__ for s in summary]})
    return summary


def _batched(model):
    """The teacher alone never hands off, so a local model can answer every prompt in one batched
    ``generate`` per turn (a GeneratorRelayModel over an HFGenerator) instead of one prompt at a time."""
    from relayllm.relay import GeneratorRelayModel, HFRelayModel
    from rlcore.rollout import HFGenerator

    if not isinstance(model, HFRelayModel):
        return model
    return GeneratorRelayModel(
        HFGenerator(model.model, model.tokenizer),
        model.tokenizer,
        temperature=model.temperature,
        top_p=model.top_p,
    )


# -- 6. router -----------------------------------------------------------------------------------------


def _average(run_dir: Path) -> dict:
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise FileNotFoundError(f"no summary.json in the eval run directory {run_dir}")
    try:
        rows = json.loads(path.read_text())["rows"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise DataError(f"{path}: not an eval summary") from None
    return next(r for r in rows if r["name"] == "average")


def router_from_runs(relay: Path, slm: Path, llm: Path):
    """The random-router comparison from three eval run directories (relay, slm-only, llm-only)."""
    from relayllm.evaluation import random_router_comparison

    r, s, teacher = _average(relay), _average(slm), _average(llm)
    return random_router_comparison(r["accuracy"], r["call_ratio"], s["accuracy"], teacher["accuracy"])


@contextmanager
def timed(stage_times: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall time of the enclosed stage into ``stage_times[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        stage_times[name] = time.perf_counter() - start
