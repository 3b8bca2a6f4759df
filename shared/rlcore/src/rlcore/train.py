"""Thin runners over TRL's GRPO and SFT trainers, and the GRPO arithmetic papers share.

TRL changes defaults and renames arguments between minor versions; packages call these functions
instead of building trainers themselves, so one place absorbs the churn:

* :func:`grpo_config` / :func:`sft_config` fill in CPU-safe settings when no GPU is visible
  (``use_cpu`` — required for multi-process gloo runs —, bf16 off, no gradient checkpointing,
  no reporting, no dataloader workers); paper recipes choose GPU settings explicitly.
* :func:`grpo_batch_args` translates the papers' batch sizes, which count prompts, into TRL's
  keywords, which count completions and micro-batches.
* :func:`run_grpo` / :func:`run_sft` accept a model spec or a ``(model, processor)`` pair and a
  list of dicts, apply the workarounds measured in NOTES-stack-probes.md (stop strings, the
  reference model of an in-memory model, vision freezing), and return a :class:`TrainResult`.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcore.errors import ConfigError
from rlcore.models import is_vlm, tokenizer_of

__all__ = [
    "CHATML_TRAINING_TEMPLATE",
    "RunDirLogger",
    "TrainResult",
    "freeze_vision_tower",
    "group_advantages",
    "grpo_batch_args",
    "grpo_config",
    "policy_generator",
    "run_grpo",
    "run_sft",
    "sft_config",
]


# -- pure arithmetic ---------------------------------------------------------------------------------


def group_advantages(
    rewards: Sequence[float], group_size: int, *, scale: str = "group", eps: float = 1e-4
) -> list[float]:
    """GRPO advantages with TRL's convention.

    Consecutive blocks of ``group_size`` rewards are the G completions of one prompt.
    A_i = (r_i - mean_group) / (std + eps), std the Bessel-corrected (n - 1) standard deviation of the
    group (``scale="group"``) or of the whole batch (``scale="batch"``); ``scale="none"`` gives
    r_i - mean_group. A group of one, or whose rewards are all equal, gets 0 for every member.
    """
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards do not split into groups of {group_size}")
    if scale not in ("group", "batch", "none"):
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    values = [float(r) for r in rewards]
    batch_std = statistics.stdev(values) if len(values) > 1 else 0.0
    out: list[float] = []
    for start in range(0, len(values), group_size):
        group = values[start : start + group_size]
        if group_size == 1 or all(r == group[0] for r in group):
            out.extend([0.0] * group_size)
            continue
        mean = math.fsum(group) / group_size
        if scale == "none":
            out.extend(r - mean for r in group)
            continue
        std = statistics.stdev(group) if scale == "group" else batch_std
        out.extend((r - mean) / (std + eps) for r in group)
    return out


def _world_size() -> int:
    try:
        from accelerate import PartialState

        return PartialState().num_processes
    except Exception:  # no accelerate state can be built (unusual env); a single process is the truth then
        return int(os.environ.get("WORLD_SIZE", "1"))


def grpo_batch_args(
    prompts_per_step: int,
    prompts_per_update: int,
    group_size: int,
    *,
    per_device_train_batch_size: int,
    world_size: int | None = None,
) -> dict:
    """The papers' batch sizes (prompts) as ``GRPOConfig`` keywords (completions, micro-batches).

    ``generation_batch_size`` = prompts_per_step · G completions per rollout step (global);
    ``gradient_accumulation_steps`` = prompts_per_update · G / (per_device_train_batch_size · world_size),
    so every rollout step makes prompts_per_step / prompts_per_update optimizer updates.
    """
    world = _world_size() if world_size is None else world_size
    names = {
        "prompts_per_step": prompts_per_step,
        "prompts_per_update": prompts_per_update,
        "group_size": group_size,
        "per_device_train_batch_size": per_device_train_batch_size,
        "world_size": world,
    }
    for name, value in names.items():
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if group_size < 2:
        raise ConfigError(f"group_size must be >= 2 for GRPO (got {group_size})")
    if prompts_per_step % prompts_per_update:
        raise ConfigError(
            f"prompts_per_step ({prompts_per_step}) is not a multiple of prompts_per_update ({prompts_per_update}): "
            "each rollout step must make a whole number of optimizer updates; change one of them"
        )
    completions_per_update = prompts_per_update * group_size
    micro = per_device_train_batch_size * world
    if completions_per_update % micro:
        raise ConfigError(
            f"prompts_per_update·group_size ({prompts_per_update}·{group_size} = {completions_per_update} completions) "
            f"is not a multiple of per_device_train_batch_size·world_size ({per_device_train_batch_size}·{world} = "
            f"{micro}); change per_device_train_batch_size or prompts_per_update"
        )
    return {
        "num_generations": group_size,
        "generation_batch_size": prompts_per_step * group_size,
        "per_device_train_batch_size": per_device_train_batch_size,
        "gradient_accumulation_steps": completions_per_update // micro,
    }


# -- configs ---------------------------------------------------------------------------------------


def _cpu_defaults() -> dict[str, Any]:
    import torch

    defaults: dict[str, Any] = {"report_to": "none", "dataloader_num_workers": 0}
    if not torch.cuda.is_available():
        # use_cpu is what makes `accelerate launch --multi_gpu`/torchrun use gloo: without it every
        # rank silently trains alone (NOTES-stack-probes.md §4).
        defaults.update(use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False)
    return defaults


def grpo_config(**overrides: Any):
    """A ``trl.GRPOConfig`` with CPU-safe defaults when no GPU is visible; ``overrides`` win."""
    from trl import GRPOConfig

    return _build_config(GRPOConfig, overrides)


def sft_config(**overrides: Any):
    """A ``trl.SFTConfig`` with CPU-safe defaults when no GPU is visible; ``overrides`` win."""
    from trl import SFTConfig

    return _build_config(SFTConfig, overrides)


def _build_config(cls, overrides: dict[str, Any]):
    kwargs = {**_cpu_defaults(), **overrides}
    kwargs.setdefault("output_dir", "runs/trl")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # an argument TRL renamed or removed: say which
        raise ConfigError(f"{cls.__name__}: {exc}") from None


# -- the runners -------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Where the final model and processor were saved, the last step, and every logged metric row."""

    output_dir: Path
    global_step: int
    metrics: list[dict] = field(default_factory=list)


def policy_generator(trainer):
    """A Generator over the policy being trained, for use inside a ``rollout_func`` (see rlcore.rollout)."""
    from rlcore.rollout import policy_generator as _policy_generator

    return _policy_generator(trainer)


def _metric_collector():
    from transformers import TrainerCallback

    class _Collect(TrainerCallback):
        def __init__(self) -> None:
            self.rows: list[dict] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                self.rows.append({"step": state.global_step, **logs})

    return _Collect()


def RunDirLogger(run_dir):
    """A ``TrainerCallback`` appending every log row (with its step) to ``run_dir``'s metrics.jsonl."""
    from transformers import TrainerCallback

    class _RunDirLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and state.is_world_process_zero:
                run_dir.log_metrics({"step": state.global_step, **logs})

    return _RunDirLogger()


def _resolve_model(model: Any, task: str = "causal-lm"):
    if isinstance(model, str):
        from rlcore.models import load_model

        return load_model(model, task=task)
    if isinstance(model, tuple) and len(model) == 2:
        return model
    raise TypeError("model must be a load_model spec (str) or a (model, processor) pair")


def freeze_vision_tower(model) -> int:
    """Freeze the vision encoder and the vision-language projector; returns how many tensors were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        # Qwen2.5-VL keeps encoder and merger (its projector) under `visual`; LLaVA-style models use
        # `vision_tower` and `multi_modal_projector`.
        if any(
            part in name for part in ("visual.", "vision_tower.", "vision_model.", "multi_modal_projector.")
        ):
            param.requires_grad_(False)
            frozen += 1
    return frozen


def _to_dataset(dataset: Any):
    import datasets

    from rlcore.data import load_image

    if isinstance(dataset, datasets.Dataset | datasets.IterableDataset):
        return dataset
    rows = list(dataset)
    if not rows:
        raise ConfigError("the training dataset is empty")
    fixed = []
    for row in rows:
        row = dict(row)
        if "image" in row:
            row["image"] = load_image(row["image"])
        if "images" in row and row["images"] is not None:
            row["images"] = [load_image(v) for v in row["images"]]
        fixed.append(row)
    return datasets.Dataset.from_list(fixed)


def _bind_stop_strings(model, tokenizer, generation_kwargs: dict | None) -> None:
    """Make ``stop_strings`` work inside TRL's generate call and keep the text after them out of the loss.

    transformers refuses stop strings without ``tokenizer=`` and TRL does not pass one, so it is bound
    into ``model.generate``; TRL's completion mask cuts only at EOS ids, so the pad id that fills a row
    after its stop string is declared an EOS id too (NOTES-stack-probes.md §3).
    """
    if not generation_kwargs or not generation_kwargs.get("stop_strings"):
        return
    model.generate = functools.partial(model.generate, tokenizer=tokenizer)
    eos = model.generation_config.eos_token_id
    eos_ids = list(eos) if isinstance(eos, list | tuple) else ([eos] if eos is not None else [])
    pad = tokenizer.pad_token_id
    if pad is not None and pad not in eos_ids:
        model.generation_config.eos_token_id = [*eos_ids, pad]


def _ensure_reference_path(model, output_dir: Path) -> None:
    """With beta > 0 TRL rebuilds the reference model from ``config._name_or_path``; a model built in
    memory (``tiny:``) has no such path, so its initial weights are saved once and pointed to."""
    name = getattr(model.config, "_name_or_path", "") or ""
    if name and (Path(name).is_dir() or ("/" in name and not name.startswith(("tiny:", "embedded:")))):
        return
    init_dir = output_dir / "reference-init"
    model.save_pretrained(init_dir)
    model.config._name_or_path = str(init_dir)


def _timed(trainer_cls):
    """A subclass of ``trainer_cls`` that logs each optimizer step's wall time split into
    ``time/generation``, ``time/scoring`` and ``time/update`` (the rest of ``step_time``)."""

    class Timed(trainer_cls):
        def __init__(self, *args, **kwargs):
            self._phase = {"generation": 0.0, "scoring": 0.0, "total": 0.0}
            super().__init__(*args, **kwargs)

        def _generate(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super()._generate(*args, **kwargs)
            finally:
                self._phase["generation"] += time.perf_counter() - start

        def _calculate_rewards(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super()._calculate_rewards(*args, **kwargs)
            finally:
                self._phase["scoring"] += time.perf_counter() - start

        def training_step(self, *args, **kwargs):
            start = time.perf_counter()
            out = super().training_step(*args, **kwargs)
            self._phase["total"] += time.perf_counter() - start
            if self._current_train_step_time == 0.0:  # TRL has just closed an optimizer step
                metrics = self._metrics["train"]
                gen, score, total = self._phase["generation"], self._phase["scoring"], self._phase["total"]
                metrics["time/generation"].append(gen)
                metrics["time/scoring"].append(score)
                metrics["time/update"].append(max(0.0, total - gen - score))
                self._phase = {"generation": 0.0, "scoring": 0.0, "total": 0.0}
            return out

    Timed.__name__ = Timed.__qualname__ = f"Timed{trainer_cls.__name__}"
    return Timed


def _finish(trainer, processor, output_dir: Path, collector) -> TrainResult:
    trainer.save_model(str(output_dir))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(str(output_dir))
    return TrainResult(output_dir=output_dir, global_step=trainer.state.global_step, metrics=collector.rows)


def run_grpo(
    model: Any,
    reward_funcs: Callable | Sequence[Callable],
    dataset: Any,
    config: Any,
    *,
    rollout_func: Callable | None = None,
    trainer_cls: type | None = None,
    trainer_kwargs: dict | None = None,
    freeze_vision: bool = False,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train ``model`` with GRPO on ``dataset`` (rows with ``prompt`` and reward columns).

    ``config`` is a ``trl.GRPOConfig`` (see :func:`grpo_config`); ``trainer_cls`` a ``GRPOTrainer``
    subclass built with ``trainer_kwargs`` where a package changes the loss; ``rollout_func`` a custom
    rollout (TRL's experimental hook) that may return ``env_mask`` (1 = policy token, 0 = external
    token kept out of the loss).
    """
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import GRPOTrainer

    model_obj, processor = _resolve_model(model)
    if freeze_vision and is_vlm(model_obj):
        freeze_vision_tower(model_obj)
    output_dir = Path(config.output_dir)
    _bind_stop_strings(model_obj, tokenizer_of(processor), config.generation_kwargs)
    if config.beta > 0 and not hasattr(model_obj, "peft_config"):
        _ensure_reference_path(model_obj, output_dir)
    base = trainer_cls or GRPOTrainer
    if not issubclass(base, GRPOTrainer):
        raise TypeError(f"trainer_cls must subclass trl.GRPOTrainer, got {base.__name__}")
    collector = _metric_collector()
    funcs = list(reward_funcs) if isinstance(reward_funcs, list | tuple) else [reward_funcs]
    trainer = _timed(base)(
        model=model_obj,
        reward_funcs=funcs,
        args=config,
        train_dataset=_to_dataset(dataset),
        processing_class=processor,
        rollout_func=rollout_func,
        callbacks=[collector, *callbacks],
        **(trainer_kwargs or {}),
    )
    resume = config.resume_from_checkpoint if getattr(config, "resume_from_checkpoint", None) else None
    trainer.train(resume_from_checkpoint=resume)
    return _finish(trainer, processor, output_dir, collector)


CHATML_TRAINING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['content'] is string %}{%- set text = message['content'] %}"
    "{%- else %}{%- set text = namespace(v='') %}"
    "{%- for block in message['content'] %}"
    "{%- if block['type'] == 'text' %}{%- set text.v = text.v + block['text'] %}"
    "{%- elif block['type'] == 'image' %}{%- set text.v = text.v + '<|vision_start|><|image_pad|><|vision_end|>' %}"
    "{%- endif %}{%- endfor %}{%- set text = text.v %}{%- endif %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{%- generation %}{{- text + '<|im_end|>' }}{%- endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' + text + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
"""ChatML with ``{% generation %}`` markers around assistant turns (end-of-turn token included), used for
assistant-only SFT loss when a ChatML model's own template has no markers and TRL has no patch for it."""


def _prepare_sft_template(processor, dataset) -> None:
    """Give a ChatML tokenizer generation markers when TRL cannot, so the loss covers assistant turns only."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    first = dataset[0]
    if "messages" not in first:
        return
    template_owner = processor if getattr(processor, "chat_template", None) else tokenizer_of(processor)
    template = template_owner.chat_template
    if has_generation_markers(template):
        return
    try:
        if get_training_chat_template(template_owner) is not None:
            return  # TRL knows this template and will patch it itself
    except Exception:  # TRL raises for templates it does not know
        pass
    if "<|im_start|>" not in (template or ""):
        raise ConfigError(
            "SFT on `messages` needs a chat template with {% generation %} markers for assistant-only loss; "
            "this model's template has none: pass prompt/completion rows instead"
        )
    template_owner.chat_template = CHATML_TRAINING_TEMPLATE
    tokenizer = tokenizer_of(processor)
    if tokenizer is not template_owner:
        tokenizer.chat_template = CHATML_TRAINING_TEMPLATE


def run_sft(
    model: Any, dataset: Any, config: Any, *, freeze_vision: bool = False, callbacks: Sequence[Any] = ()
) -> TrainResult:
    """Supervised fine-tuning (the papers' warm-up stages) on conversational rows: ``messages`` (loss on
    assistant turns only) or ``prompt`` + ``completion`` (loss on the completion only)."""
    from trl import SFTTrainer

    model_obj, processor = _resolve_model(model)
    if freeze_vision and is_vlm(model_obj):
        freeze_vision_tower(model_obj)
    train_dataset = _to_dataset(dataset)
    first = train_dataset[0]
    if "messages" in first:
        _prepare_sft_template(processor, train_dataset)
        if not config.assistant_only_loss:
            config.assistant_only_loss = True
    elif "prompt" in first and "completion" in first:
        config.completion_only_loss = True
    else:
        raise ConfigError(
            f"SFT rows need `messages`, or `prompt` and `completion`; got columns {', '.join(first)}"
        )
    collector = _metric_collector()
    trainer = SFTTrainer(
        model=model_obj,
        args=config,
        train_dataset=train_dataset,
        processing_class=processor,
        callbacks=[collector, *callbacks],
    )
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint or None)
    return _finish(trainer, processor, Path(config.output_dir), collector)
