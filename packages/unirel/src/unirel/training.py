"""GRPO on the retrieval records (paper §3.3) through ``rlcore.train.run_grpo``: the reward is
R = R_fmt + R_con + ½·(R_ent/x + R_rel/y); its four parts are added with weight 0 so TRL logs them as
``rewards/unirel_fmt/mean`` … without changing the advantage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unirel.config import UniRelConfig

__all__ = ["REWARD_COLUMNS", "build_dataset", "grpo_settings", "train"]

REWARD_COLUMNS = ("seeds", "triples", "entities", "degrees", "relations", "relation_counts", "num_kg_triples")
"""The record columns the reward reads (spec §2.5); the dataset keeps them beside ``prompt``."""


def build_dataset(records: Sequence[dict]) -> Any:
    """A ``datasets.Dataset`` with ``prompt`` (chat messages) and the reward columns of each record."""
    from datasets import Dataset

    rows = [{"prompt": r["prompt"], **{c: r[c] for c in REWARD_COLUMNS}} for r in records]
    return Dataset.from_list(rows)


def grpo_settings(config: UniRelConfig, output_dir: str | Path) -> Any:
    """The ``trl.GRPOConfig``: the paper's batch of 64 *prompts* per optimizer step, so one step uses 64·G
    completions (``rlcore.train.grpo_batch_args`` refuses sizes that do not divide)."""
    from rlcore.train import grpo_batch_args, grpo_config

    t = config.train
    batch = grpo_batch_args(
        t.prompts_per_step,
        t.prompts_per_step,
        t.num_generations,
        per_device_train_batch_size=t.per_device_train_batch_size,
    )
    extra: dict[str, Any] = {}
    if t.bf16 is not None:
        extra["bf16"] = t.bf16
    if t.use_vllm:
        extra |= {"use_vllm": True, "vllm_mode": "colocate"}
    if t.save_steps > 0:
        extra |= {"save_strategy": "steps", "save_steps": t.save_steps}
    else:
        extra["save_strategy"] = "no"
    weights = [1.0, 0.0, 0.0, 0.0, 0.0] if t.log_components else [1.0]
    return grpo_config(
        output_dir=str(output_dir),
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        temperature=t.temperature,
        beta=t.beta,
        epsilon=t.epsilon,
        loss_type=t.loss_type,
        scale_rewards=t.scale_rewards,
        max_completion_length=t.max_completion_length,
        logging_steps=t.logging_steps,
        gradient_checkpointing=t.gradient_checkpointing,
        reward_weights=weights,
        seed=t.seed,
        **extra,
        **batch,
    )


def train(
    config: UniRelConfig, run_dir: Any, *, records: Sequence[dict] | None = None, model: str | None = None
) -> Any:
    """GRPO on ``train.jsonl`` of ``run_dir`` (an ``rlcore.runs.RunDir`` or a path); checkpoints and the final
    model go to ``run_dir/checkpoints`` (a killed run resumes from the last ``checkpoint-N``), the metrics to
    ``run_dir/metrics.jsonl``. Returns ``rlcore.train.TrainResult``."""
    from rlcore.data import DataError
    from rlcore.runs import RunDir
    from rlcore.train import RunDirLogger, run_grpo
    from unirel.data import read_records
    from unirel.rewards import component_rewards, make_unirel_reward

    run = run_dir if isinstance(run_dir, RunDir) else RunDir.resume(run_dir, package="unirel")
    if records is None:
        path = run.file("train.jsonl")
        if not path.exists():
            raise DataError(f"no train.jsonl in {run.path}: run `unirel prepare` first")
        records = read_records(path)
    if not records:
        raise DataError("no training records")
    funcs = [make_unirel_reward(config.reward)]
    if config.train.log_components:
        funcs += list(component_rewards(config.reward))
    output = run.file("checkpoints")
    grpo = grpo_settings(config, output)
    last = run.last_checkpoint()
    if last is not None:
        grpo.resume_from_checkpoint = str(last)
    return run_grpo(
        model or config.train.model, funcs, build_dataset(records), grpo, callbacks=[RunDirLogger(run)]
    )
