"""Training and evaluation stages (spec §2.5): the SFT collator and the GRPO trainer subclass for both variants,
and the stage runners used by the CLI.

**Seen** trains with the ordinary causal mask and positions. **Unseen** gives every forward that computes
log-probs (SFT's loss; GRPO's policy, old and reference log-probs) the path-isolated 4-D mask and the structured
position ids of :func:`parallel_r1.structure.unseen_model_inputs`. Both sample with the parallel engine (main
chain → independent paths → forced summary); the sequential baseline uses TRL's own generation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from parallel_r1.config import EngineConfig, ParallelR1Config, RLStage

__all__ = [
    "ParallelGRPOTrainer",  # noqa: F822 (built on first access, see __getattr__)
    "ParallelSFTCollator",
    "make_parallel_rollout",
    "prepare_model",
    "run_eval",
    "run_pipeline",
    "run_rl",
    "run_sft",
]

_MULTIMODAL = (
    "pixel_values",
    "image_grid_thw",
    "num_images",
    "pixel_attention_mask",
    "spatial_shapes",
    "num_tiles",
    "image_sizes",
    "token_type_ids",
    "mm_token_type_ids",
    "image_position_ids",
)


def _chat_ids(tokenizer: Any, prompt: Any, max_tokens: int | None = None) -> list[int]:
    """Prompt ids with the chat template and generation prompt; over-long prompts keep their end
    (left truncation, as the official code)."""
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    if hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    ids = list(ids)
    if max_tokens is not None and len(ids) > max_tokens:
        ids = ids[-max_tokens:]
    return ids


# -- SFT ----------------------------------------------------------------------------------------------


class ParallelSFTCollator:
    """Batches SFT records (``prompt`` text or messages, else ``problem`` under the parallel template, and
    ``response``): ids = prompt + response + EOS,
    right-padded; ``labels`` −100 on the prompt and padding. Seen → a 2-D ``attention_mask``; Unseen → the
    4-D path-isolated mask and structured ``position_ids``. ``truncation``: "drop" (skip and count in
    ``dropped``), "error" or "right"."""

    def __init__(
        self, tokenizer: Any, tags: Any, *, variant: str, max_length: int = 4096, truncation: str = "drop"
    ):
        if variant not in ("seen", "unseen"):
            raise ValueError(f"unknown variant {variant!r}; valid: seen, unseen")
        if truncation not in ("drop", "error", "right"):
            raise ValueError(f"unknown truncation {truncation!r}; valid: drop, error, right")
        self.tokenizer, self.tags, self.variant = tokenizer, tags, variant
        self.max_length, self.truncation = max_length, truncation
        self.dropped = 0

    def encode(self, record: dict) -> tuple[list[int], int] | None:
        """(ids, prompt length) of one record, or None when it is too long and dropped."""
        prompt = record.get("prompt")
        if prompt is None:  # load_sft_records rows: the problem under the parallel template
            from parallel_r1.prompts import build_messages

            prompt = build_messages(record["problem"], "parallel")
        prompt_ids = _chat_ids(self.tokenizer, prompt)
        response_ids = self.tokenizer.encode(record["response"], add_special_tokens=False)
        ids = prompt_ids + response_ids + [self.tokenizer.eos_token_id]
        if len(ids) > self.max_length:
            if self.truncation == "error":
                raise ValueError(f"an SFT record has {len(ids)} tokens > max_length {self.max_length}")
            if self.truncation == "drop":
                self.dropped += 1
                return None
            ids = ids[: self.max_length]
        return ids, min(len(prompt_ids), len(ids))

    def __call__(self, records: Sequence[dict]) -> dict:
        import torch

        encoded = [e for e in (self.encode(r) for r in records) if e is not None]
        if not encoded:
            raise ValueError("every record of this batch is longer than max_length (truncation: drop)")
        width = max(len(ids) for ids, _ in encoded)
        pad = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.tokenizer.eos_token_id
        )
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        labels = torch.full((len(encoded), width), -100, dtype=torch.long)
        for row, (ids, prompt_len) in enumerate(encoded):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
            labels[row, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
        batch = {"input_ids": input_ids, "labels": labels}
        if self.variant == "seen":
            batch["attention_mask"] = mask
            return batch
        from parallel_r1.structure import unseen_model_inputs

        starts = [prompt_len for _, prompt_len in encoded]
        batch.update(unseen_model_inputs(input_ids, mask, starts, self.tags))
        return batch


def prepare_model(spec: str, *, add_tags: bool, out_dir: Path | None = None) -> tuple[Any, Any, Any]:
    """(model, tokenizer, tags) of a spec; ``add_tags`` adds the six tags first (and saves the result to
    ``out_dir`` when given, so TRL can load it by path)."""
    from parallel_r1.structure import TagIds, add_parallel_tokens
    from rlcore.models import load_model, tokenizer_of

    model, processor = load_model(spec)
    tokenizer = tokenizer_of(processor)
    tags = add_parallel_tokens(tokenizer, model) if add_tags else TagIds.from_tokenizer(tokenizer)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))
    return model, tokenizer, tags


def run_sft(
    cfg: ParallelR1Config, run_dir: Any, *, model: str | None = None, records: Sequence[dict] | None = None
) -> Path:
    """Cold-start SFT with :class:`ParallelSFTCollator` on a ``transformers.Trainer`` (TRL's SFTTrainer assumes
    2-D masks). Returns ``run_dir/checkpoints/final``."""
    from transformers import Trainer

    from parallel_r1.data import load_sft_records
    from rlcore.runs import RunDir
    from rlcore.train import RunDirLogger, sft_config

    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir, package="parallel-r1")
    s = cfg.sft
    if records is None:
        records = load_sft_records(s.data, limit=s.limit)
    net, tokenizer, tags = prepare_model(model or cfg.model, add_tags=cfg.add_tags)
    collator = ParallelSFTCollator(
        tokenizer, tags, variant=cfg.variant, max_length=s.max_length, truncation=s.truncation
    )
    rows = [r for r in records if collator.encode(r) is not None]
    if not rows:
        raise ValueError(f"no SFT record fits max_length {s.max_length} ({collator.dropped} dropped)")
    args = sft_config(
        output_dir=str(run.file("checkpoints")),
        per_device_train_batch_size=s.micro_batch_size,
        gradient_accumulation_steps=max(1, s.batch_size // s.micro_batch_size),
        num_train_epochs=s.epochs,
        max_steps=s.max_steps,
        learning_rate=s.learning_rate,
        adam_beta1=s.adam_betas[0],
        adam_beta2=s.adam_betas[1],
        weight_decay=s.weight_decay,
        warmup_steps=s.warmup_ratio,
        lr_scheduler_type=s.lr_scheduler,
        max_grad_norm=s.max_grad_norm,
        logging_steps=1,
        save_strategy="no",
        remove_unused_columns=False,
        seed=cfg.seed,
        **({"bf16": cfg.bf16} if cfg.bf16 is not None else {}),
    )
    trainer = Trainer(
        model=net, args=args, train_dataset=rows, data_collator=collator, callbacks=[RunDirLogger(run)]
    )
    trainer.train()
    final = run.file("checkpoints/final")
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    run.write_json(
        "sft_stats.json",
        {
            "records": len(records),
            "trained_on": len(rows),
            "dropped": collator.dropped,
            "global_step": trainer.state.global_step,
        },
    )
    return final


# -- GRPO ---------------------------------------------------------------------------------------------


def make_parallel_rollout(
    engine_config: EngineConfig,
    tags: Any,
    *,
    segment_generator: Any = None,
    max_prompt_tokens: int | None = 2000,
):
    """The TRL ``rollout_func`` of the parallel engine (chat template → engine) returning ``prompt_ids``,
    ``completion_ids``, ``logprobs``, ``env_mask``, ``tagged_completions``, ``num_blocks`` and
    ``rollout_step``, and logging ``parallel/*`` into the trainer's metrics."""
    from parallel_r1.engine import HFSegmentGenerator, run_parallel_rollouts
    from parallel_r1.rewards import is_format_correct
    from parallel_r1.structure import decode_with_tags
    from rlcore.models import eos_token_ids
    from rlcore.rollout import eval_no_grad

    def rollout(prompts: list, trainer: Any) -> dict:
        tokenizer = trainer.processing_class
        prompt_ids = [_chat_ids(tokenizer, p, max_prompt_tokens) for p in prompts]
        model = trainer.accelerator.unwrap_model(trainer.model)
        generate = segment_generator
        if generate is None and getattr(trainer, "use_vllm", False):
            from parallel_r1.engine import VLLMSegmentGenerator

            generate = VLLMSegmentGenerator(trainer.vllm_generation.llm)
        if generate is None:
            generate = HFSegmentGenerator(model, tokenizer)
        separator = tokenizer.encode(engine_config.summary_separator, add_special_tokens=False)
        with eval_no_grad(model):
            rollouts = run_parallel_rollouts(
                prompt_ids,
                generate,
                tags,
                engine_config,
                eos_ids=sorted(eos_token_ids(model, tokenizer)),
                separator_ids=separator,
            )
        texts = [decode_with_tags(tokenizer, r.completion_ids) for r in rollouts]
        steps_per_rollout = max(
            1,
            trainer.args.steps_per_generation
            * trainer.num_iterations
            // trainer.args.gradient_accumulation_steps,
        )
        step = trainer.state.global_step // steps_per_rollout + 1
        metrics = trainer._metrics["train"]
        n = max(1, len(rollouts))
        metrics["parallel/ratio"].append(sum(r.num_blocks > 0 for r in rollouts) / n)
        metrics["parallel/blocks_mean"].append(sum(r.num_blocks for r in rollouts) / n)
        metrics["parallel/format_ok"].append(sum(is_format_correct(t) for t in texts) / n)
        for reason in ("eos", "length", "max_blocks"):
            metrics[f"parallel/finish_{reason}"].append(sum(r.finish_reason == reason for r in rollouts) / n)
        out = {
            "prompt_ids": [list(r.prompt_ids) for r in rollouts],
            "completion_ids": [list(r.completion_ids) for r in rollouts],
            "logprobs": [
                [0.0 if lp is None else float(lp) for lp in (r.logprobs or [None] * len(r.completion_ids))]
                for r in rollouts
            ],
            "tagged_completions": texts,
            "num_blocks": [r.num_blocks for r in rollouts],
            "rollout_step": [step] * len(rollouts),
        }
        if engine_config.mask_forced_tokens:
            out["env_mask"] = [[1 - int(f) for f in r.forced_mask] for r in rollouts]
        return out

    return rollout


def _grpo_trainer_class():
    from trl import GRPOTrainer

    class _ParallelGRPOTrainer(GRPOTrainer):
        """``trl.GRPOTrainer`` with the parallel engine as rollout and, for **Unseen**, path-isolated log-prob
        forwards. Extra kwargs: ``variant``, ``engine_config``, ``tags``, ``segment_generator``,
        ``prompt_style`` ("sequential": TRL's own generation, the GRPO baseline)."""

        def __init__(
            self,
            *args: Any,
            variant: str = "unseen",
            engine_config: EngineConfig | None = None,
            tags: Any = None,
            segment_generator: Any = None,
            prompt_style: str = "parallel",
            max_prompt_tokens: int | None = 2000,
            **kwargs: Any,
        ) -> None:
            if variant not in ("seen", "unseen"):
                raise ValueError(f"unknown variant {variant!r}; valid: seen, unseen")
            self.variant = variant
            self.engine_config = engine_config or EngineConfig()
            model = kwargs.get("model", args[0] if args else None)
            grpo_args = kwargs.get("args")
            if variant == "unseen":
                attn = getattr(getattr(model, "config", None), "_attn_implementation", "sdpa")
                if attn not in ("eager", "sdpa"):
                    raise ValueError(
                        f"the Unseen variant needs attn_implementation eager or sdpa (4-D masks), got {attn!r}"
                    )
                if grpo_args is not None and (
                    getattr(grpo_args, "padding_free", False) or getattr(grpo_args, "use_liger_kernel", False)
                ):
                    raise ValueError(
                        "the Unseen variant cannot run with padding_free or Liger kernels (4-D masks)"
                    )
                if (
                    grpo_args is not None
                    and getattr(grpo_args, "use_vllm", False)
                    and getattr(grpo_args, "vllm_importance_sampling_correction", False)
                ):
                    warnings.warn(
                        "vLLM importance-sampling correction is turned off for parallel rollouts",
                        stacklevel=2,
                    )
                    grpo_args.vllm_importance_sampling_correction = False
            if prompt_style == "parallel" and kwargs.get("rollout_func") is None:
                if tags is None:
                    from parallel_r1.structure import TagIds
                    from rlcore.models import tokenizer_of

                    tags = TagIds.from_tokenizer(tokenizer_of(kwargs["processing_class"]))
                kwargs["rollout_func"] = make_parallel_rollout(
                    self.engine_config,
                    tags,
                    segment_generator=segment_generator,
                    max_prompt_tokens=max_prompt_tokens,
                )
            self.tags = tags
            super().__init__(*args, **kwargs)

        def _get_per_token_logps_and_entropies(
            self,
            model,
            input_ids,
            attention_mask,
            logits_to_keep,
            batch_size=None,
            compute_entropy=False,
            compute_aux_loss=False,
            **kwargs,
        ):
            if self.variant == "seen" or self.tags is None:
                return super()._get_per_token_logps_and_entropies(
                    model,
                    input_ids,
                    attention_mask,
                    logits_to_keep,
                    batch_size=batch_size,
                    compute_entropy=compute_entropy,
                    compute_aux_loss=compute_aux_loss,
                    **kwargs,
                )
            import torch

            from parallel_r1.structure import unseen_model_inputs

            if any(kwargs.get(name) is not None for name in _MULTIMODAL):
                raise ValueError("the Unseen variant supports text models only")
            batch_size = batch_size or input_ids.size(0)
            prompt_width = input_ids.size(1) - logits_to_keep
            dtype = next(model.parameters()).dtype
            logps, entropies, aux = [], [], []
            for start in range(0, input_ids.size(0), batch_size):
                ids = input_ids[start : start + batch_size]
                mask = attention_mask[start : start + batch_size]
                extra = unseen_model_inputs(
                    ids, mask, prompt_width, self.tags, dtype=dtype, max_blocks=self.engine_config.max_blocks
                )
                extra = {k: v.to(ids.device) for k, v in extra.items()}
                labels = ids.masked_fill(mask == 0, -100)
                labels[:, :-logits_to_keep] = -100
                inputs = {"input_ids": ids, **extra}
                if compute_aux_loss:
                    inputs["output_router_logits"] = True
                with self.accelerator.autocast():
                    outputs = model(**inputs, labels=labels, fused_lm_head=True)
                logps.append(outputs.log_probs[:, -logits_to_keep:])
                if compute_entropy:
                    entropies.append(outputs.entropy[:, -logits_to_keep:])
                if compute_aux_loss:
                    aux.append(outputs.aux_loss)
            return (
                torch.cat(logps, dim=0),
                torch.cat(entropies, dim=0) if compute_entropy else None,
                torch.stack(aux).mean() if compute_aux_loss else None,
            )

    _ParallelGRPOTrainer.__name__ = _ParallelGRPOTrainer.__qualname__ = "ParallelGRPOTrainer"
    return _ParallelGRPOTrainer


def __getattr__(name: str) -> Any:
    # ParallelGRPOTrainer subclasses trl.GRPOTrainer; building it lazily keeps `import parallel_r1` free of TRL.
    if name == "ParallelGRPOTrainer":
        cls = _grpo_trainer_class()
        globals()["ParallelGRPOTrainer"] = cls
        return cls
    raise AttributeError(name)


def run_rl(
    cfg: ParallelR1Config,
    stage: RLStage,
    run_dir: Any,
    *,
    model: str | None = None,
    records: Sequence[dict] | None = None,
) -> Path:
    """One GRPO stage with the parallel engine (or TRL's generation for ``prompt_style: sequential``).
    Returns the saved model directory (``run_dir/checkpoints``)."""
    from parallel_r1.data import load_problems
    from parallel_r1.prompts import build_messages
    from parallel_r1.rewards import make_reward
    from rlcore.runs import RunDir
    from rlcore.train import RunDirLogger, grpo_batch_args, grpo_config, run_grpo

    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir, package="parallel-r1")
    if records is None:
        records = load_problems(stage.data, split=stage.split, limit=stage.limit, seed=cfg.seed)
    rows = [
        {"prompt": build_messages(r["problem"], stage.prompt_style), "answer": r["answer"]} for r in records
    ]
    if not rows:
        raise ValueError(f"no problems in {stage.data}")
    spec = model or cfg.model
    if cfg.add_tags:
        _, _, _ = prepare_model(spec, add_tags=True, out_dir=run.file("base-with-tags"))
        spec = str(run.file("base-with-tags"))
    batch = grpo_batch_args(
        stage.prompts_per_step,
        stage.prompts_per_step // stage.updates_per_step,
        stage.num_generations,
        per_device_train_batch_size=stage.per_device_train_batch_size,
    )
    extra: dict[str, Any] = {}
    if stage.save_steps > 0:
        extra |= {"save_strategy": "steps", "save_steps": stage.save_steps * stage.updates_per_step}
    else:
        extra["save_strategy"] = "no"
    if stage.delta is not None:
        extra["delta"] = stage.delta
    if cfg.bf16 is not None:
        extra["bf16"] = cfg.bf16
    if stage.use_vllm:
        extra |= {"use_vllm": True, "vllm_mode": "colocate"}
    grpo = grpo_config(
        output_dir=str(run.file("checkpoints")),
        learning_rate=stage.learning_rate,
        weight_decay=stage.weight_decay,
        warmup_steps=0,
        beta=stage.beta,
        epsilon=stage.epsilon,
        epsilon_high=stage.epsilon_high,
        loss_type=stage.loss_type,
        temperature=stage.temperature,
        max_completion_length=cfg.engine.max_response_tokens,
        max_steps=stage.max_steps * stage.updates_per_step,
        logging_steps=1,
        gradient_checkpointing=cfg.gradient_checkpointing,
        seed=cfg.seed,
        **extra,
        **batch,
    )
    last = run.last_checkpoint()
    if last is not None:
        grpo.resume_from_checkpoint = str(last)
    reward = make_reward(
        stage.reward,
        window=cfg.reward.window,
        matcher=cfg.reward.matcher,
        period=cfg.reward.period,
        parallel_steps=cfg.reward.parallel_steps,
        extractor=cfg.reward.extractor,
    )
    trainer_kwargs = {
        "variant": cfg.variant,
        "engine_config": cfg.engine,
        "prompt_style": stage.prompt_style,
        "max_prompt_tokens": cfg.max_prompt_tokens,
    }
    result = run_grpo(
        spec,
        reward,
        rows,
        grpo,
        trainer_cls=__getattr__("ParallelGRPOTrainer"),
        trainer_kwargs=trainer_kwargs,
        callbacks=[RunDirLogger(run)],
    )
    return Path(result.output_dir)


# -- evaluation ---------------------------------------------------------------------------------------


def run_eval(
    cfg: ParallelR1Config,
    run_dir: Any,
    *,
    model: str | None = None,
    records: Sequence[dict] | None = None,
    samples: int | None = None,
) -> dict:
    """Sample every problem with the parallel engine (k samples per problem) and score it: ``samples.jsonl``
    and ``eval.json`` (:func:`parallel_r1.metrics.summarize_eval`)."""
    from parallel_r1.data import load_problems
    from parallel_r1.engine import HFSegmentGenerator, run_parallel_rollouts
    from parallel_r1.metrics import summarize_eval
    from parallel_r1.prompts import build_messages
    from parallel_r1.rewards import count_parallel, extract_final_answer, is_correct, is_format_correct
    from parallel_r1.structure import decode_with_tags
    from rlcore.models import eos_token_ids
    from rlcore.rollout import eval_no_grad
    from rlcore.runs import RunDir

    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir, package="parallel-r1")
    if records is None:
        records = load_problems(cfg.eval.data, split="test", limit=cfg.eval.limit, seed=cfg.seed)
    k = samples or cfg.eval.samples or 1
    net, tokenizer, tags = prepare_model(model or cfg.model, add_tags=False)
    engine = replace(
        cfg.engine,
        temperature=cfg.eval.temperature,
        top_p=cfg.eval.top_p,
        path_temperature=cfg.eval.temperature,
    )
    prompts, owners = [], []
    for record in records:
        ids = _chat_ids(tokenizer, build_messages(record["problem"], "parallel"), cfg.max_prompt_tokens)
        for _ in range(k):
            prompts.append(ids)
            owners.append(record)
    separator = tokenizer.encode(engine.summary_separator, add_special_tokens=False)
    with eval_no_grad(net):
        rollouts = run_parallel_rollouts(
            prompts,
            HFSegmentGenerator(net, tokenizer),
            tags,
            engine,
            eos_ids=sorted(eos_token_ids(net, tokenizer)),
            separator_ids=separator,
        )
    rows = []
    for record, rollout in zip(owners, rollouts, strict=True):
        text = decode_with_tags(tokenizer, rollout.completion_ids)
        rows.append(
            {
                "benchmark": record.get("benchmark", "eval"),
                "problem_id": record.get("problem_id"),
                "response": text,
                "answer": extract_final_answer(text, window=cfg.reward.window),
                "gold": record["answer"],
                "correct": is_correct(
                    text, record["answer"], window=cfg.reward.window, matcher=cfg.reward.matcher
                ),
                "num_blocks": count_parallel(text),
                "format_ok": is_format_correct(text),
                "finish_reason": rollout.finish_reason,
            }
        )
    summary = summarize_eval(rows)
    run.write_jsonl("samples.jsonl", rows)
    run.write_json("eval.json", summary)
    return summary


def run_pipeline(cfg: ParallelR1Config, run_dir: Any) -> dict:
    """The recipe's stages in order, each from the previous checkpoint, resumable per stage: SFT (when the
    recipe has one), every RL stage, evaluation."""
    from rlcore.runs import RunDir

    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir, package="parallel-r1", config=cfg)
    model = cfg.model
    if cfg.sft is not None:
        stage_dir = RunDir(run.path / "sft", package="parallel-r1")
        if not run.done("sft"):
            run_sft(cfg, stage_dir)
            run.mark_done("sft")
        model = str(stage_dir.file("checkpoints/final"))
        cfg = replace(cfg, add_tags=False)  # the SFT checkpoint already holds the tags
    for stage in cfg.rl:
        stage_dir = RunDir(run.path / f"rl-{stage.name}", package="parallel-r1")
        if not run.done(f"rl-{stage.name}"):
            run_rl(cfg, stage, stage_dir, model=model)
            run.mark_done(f"rl-{stage.name}")
        model = str(stage_dir.file("checkpoints"))
    return run_eval(cfg, RunDir(run.path / "eval", package="parallel-r1"), model=model)
