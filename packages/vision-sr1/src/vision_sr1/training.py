"""Vision-SR1's two training stages on rlcore/TRL (spec sections 3 and 6).

1. **Cold-start SFT** (:func:`sft`): the three response types of the cold-start set (see-think, CoT-only and
   text-only-from-the-description) teach the format and the "answer from a description" skill; vision tower
   and projector frozen, loss on assistant tokens (``rlcore.train.run_sft``).
2. **GRPO** (:func:`train`): per rollout step, ``prompts_per_step`` prompts x G samples from the current
   policy; for ``vision_sr1`` every sample's description is re-read by the same policy without the image
   (:class:`vision_sr1.selfreward.SelfRewardRollout`), rewards come from
   :func:`vision_sr1.rewards.make_reward_funcs`, and

   - ``single_reward`` (paper v1): TRL group-normalises the weighted sum 0.9 r_acc + 0.1 r_fmt + 1.0 r_vis and
     applies the dual-clip PPO loss (TRL's ``delta``);
   - ``multi_reward`` (v2): each channel is group-normalised on its own
     (:func:`vision_sr1.multireward.multi_reward_advantages`) and the clipped loss is computed per channel with
     the same ratio and summed (:func:`channel_clipped_loss`), KL added once, clamped per token to [-10, 10]
     as in the official code.

:class:`VisionSR1GRPOTrainer` (built lazily, it subclasses ``trl.GRPOTrainer``) carries the multi-reward loss and
writes ``samples.jsonl`` rows for both schemes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vision_sr1.config import RLConfig, VisionSR1Config

__all__ = [
    "KL_CLAMP",
    "VisionSR1GRPOTrainer",  # noqa: F822 (built on first access, see __getattr__)
    "build_grpo_config",
    "channel_clipped_loss",
    "fit_pixels",
    "grpo_rows",
    "k3_kl",
    "sft",
    "sft_rows",
    "train",
]

log = logging.getLogger(__name__)

KL_CLAMP = 10.0
"""The official per-token clamp of the k3 ("low_var_kl") estimate (verl ``kl_penalty``)."""


# -- pure pieces -------------------------------------------------------------------------------------------


def fit_pixels(image: Any, min_pixels: int, max_pixels: int) -> Any:
    """``image`` as RGB, resized (aspect ratio kept) so that ``min_pixels <= W·H <= max_pixels`` (spec §5;
    the model's processor then applies its own smart resize to multiples of the patch size)."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    width, height = image.size
    area = width * height
    if min_pixels <= area <= max_pixels:
        return image
    scale = math.sqrt((max_pixels if area > max_pixels else min_pixels) / area)
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    if area < min_pixels:  # rounding down may leave the area just under the floor
        size = (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))
    return image.resize(size)


def channel_clipped_loss(
    ratio: Any, advantages: Any, *, clip_low: float, clip_high: float, dual_clip: float | None
):
    """Per-token multi-reward loss: Σ_c of the dual-clip PPO loss of channel c with the SAME ratio.

    ``ratio`` (B, T) = π_θ/π_old per token; ``advantages`` (B, C), one advantage per sequence and channel,
    applied to every response token. For each channel ``l = max(−A·r, −A·clamp(r, 1−clip_low, 1+clip_high))``,
    and for ``A < 0`` ``l = min(l, −A·dual_clip)`` (the torch form of
    :func:`vision_sr1.multireward.multi_reward_token_loss`). Returns (B, T).
    """
    import torch

    r = ratio.unsqueeze(-1)
    adv = advantages.unsqueeze(1).to(ratio.dtype)
    clipped = torch.clamp(r, 1 - clip_low, 1 + clip_high)
    loss = torch.maximum(-adv * r, -adv * clipped)
    if dual_clip is not None:
        loss = torch.where(adv < 0, torch.minimum(loss, -adv * dual_clip), loss)
    return loss.sum(-1)


def k3_kl(per_token_logps: Any, ref_per_token_logps: Any, *, clamp: float | None = KL_CLAMP):
    """The k3 estimate ``exp(ref − logp) − (ref − logp) − 1`` of KL(π_θ‖π_ref) per token, clamped to
    [−clamp, clamp] as in the official code (None: unclamped, TRL's single-reward path)."""
    import torch

    delta = ref_per_token_logps - per_token_logps
    kl = torch.exp(delta) - delta - 1
    return kl if clamp is None else torch.clamp(kl, -clamp, clamp)


def grpo_rows(records: Sequence[dict], cfg: RLConfig) -> list[dict]:
    """GRPO rows of RL records (``problem``, ``answer``, ``images``): the first-pass chat with one
    ``{"type": "image"}`` placeholder per image (CoT instruction for ``vision_r1``), images resized to the
    pixel bounds, the gold ``answer`` and the record ``id``."""
    from rlcore.data import load_image
    from vision_sr1.prompts import first_pass_messages

    style = "cot" if cfg.method == "vision_r1" else "see_think"
    rows = []
    for index, record in enumerate(records):
        images = [
            fit_pixels(load_image(im), cfg.min_pixels, cfg.max_pixels) for im in record.get("images") or []
        ]
        rows.append(
            {
                "id": str(record.get("id", index)),
                "prompt": first_pass_messages(record["problem"], len(images), style=style),
                "images": images,
                "answer": str(record["answer"]),
            }
        )
    return rows


def _blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [
        {"type": "image"} if b.get("type") == "image" else {"type": "text", "text": b["text"]}
        for b in content
    ]


def sft_rows(records: Sequence[dict], max_pixels: int) -> list[dict]:
    """SFT rows of conversational records: ``prompt`` (the turns before the last), ``completion`` (the final
    assistant turn, the only tokens trained on) and ``images`` bounded by ``max_pixels`` (the cold-start
    recipe's ``image_max_pixels``). Every content becomes a list of blocks, so that text-only re-prompt rows and
    image rows share one dataset schema. (Prompt/completion rows rather than assistant masks: TRL's
    assistant-only loss for vision data needs transformers >= 5.18; for single-turn chats both train on the
    same tokens.)"""
    from rlcore.data import load_image

    rows = []
    for index, record in enumerate(records):
        messages = [{"role": m["role"], "content": _blocks(m["content"])} for m in record["messages"]]
        if len(messages) < 2 or messages[-1]["role"] != "assistant":
            raise ValueError(f"cold-start record {index}: the last message must be the assistant's response")
        images = [fit_pixels(load_image(im), 1, max_pixels) for im in record.get("images") or []]
        rows.append({"prompt": messages[:-1], "completion": messages[-1:], "images": images})
    return rows


def build_grpo_config(
    cfg: VisionSR1Config,
    output_dir: str | Path,
    *,
    world_size: int | None = None,
    has_eval: bool = False,
    **overrides: Any,
):
    """The ``trl.GRPOConfig`` of ``cfg.rl`` (spec section 6's mapping); ``overrides`` win.

    Batch sizes count prompts (``rlcore.train.grpo_batch_args``): generation batch = prompts_per_step·G
    completions, optimizer batch = prompts_per_update·G, so each rollout step makes
    prompts_per_step / prompts_per_update updates. ``rl.max_steps`` / ``save_every`` / ``eval_every`` count
    rollout steps and are converted to optimizer steps.
    """
    from rlcore.train import grpo_batch_args, grpo_config

    rl = cfg.rl
    batch = grpo_batch_args(
        rl.prompts_per_step,
        rl.prompts_per_update,
        rl.group_size,
        per_device_train_batch_size=rl.per_device_train_batch_size,
        world_size=world_size,
    )
    updates = rl.prompts_per_step // rl.prompts_per_update
    extra: dict[str, Any] = {}
    if rl.save_every > 0:
        extra |= {"save_strategy": "steps", "save_steps": rl.save_every * updates}
    else:
        extra["save_strategy"] = "no"
    if has_eval and rl.eval_every > 0:
        extra |= {"eval_strategy": "steps", "eval_steps": rl.eval_every * updates}
    if rl.bf16 is not None:
        extra["bf16"] = rl.bf16
    if rl.generation_backend == "vllm":
        extra |= {
            "use_vllm": True,
            "vllm_mode": "colocate",
            "vllm_gpu_memory_utilization": rl.vllm_gpu_memory_utilization,
        }
    if rl.gradient_checkpointing:
        extra["gradient_checkpointing"] = True
    return grpo_config(
        output_dir=str(output_dir),
        epsilon=rl.clip_low,
        epsilon_high=rl.clip_high,
        delta=rl.dual_clip,
        beta=rl.kl_coef,
        use_bias_correction_kl=False,
        loss_type="dapo",
        scale_rewards="group",
        temperature=rl.temperature,
        top_p=rl.top_p,
        max_completion_length=rl.max_response_length,
        learning_rate=rl.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=rl.weight_decay,
        max_grad_norm=rl.max_grad_norm,
        num_iterations=1,
        num_train_epochs=rl.epochs,
        max_steps=rl.max_steps * updates if rl.max_steps > 0 else -1,
        remove_unused_columns=False,
        logging_steps=1,
        seed=cfg.seed,
        **{**batch, **extra, **overrides},
    )


# -- the trainer ---------------------------------------------------------------------------------------------


def _trainer_class():
    import torch
    from accelerate.utils import gather_object
    from trl import GRPOTrainer

    from rlcore.rewards import completion_text
    from vision_sr1.multireward import multi_reward_advantages

    class _VisionSR1GRPOTrainer(GRPOTrainer):
        """``trl.GRPOTrainer`` with Vision-SR1's bookkeeping and, for ``multi_reward``, its loss.

        Extra kwargs: ``channels`` (reward-function channel names, e.g. ``("accuracy", "visual")``: switches on
        the multi-reward path), ``channel_weights`` (λ_c), ``adv_eps``, ``kl_clamp`` (the per-token k3 clamp of
        the multi-reward loss) and ``sample_sink`` (called on the main process with each rollout step's
        ``samples.jsonl`` rows).
        """

        def __init__(
            self,
            *args: Any,
            channels: Sequence[str] | None = None,
            channel_weights: Sequence[float] | None = None,
            adv_eps: float = 1e-4,
            kl_clamp: float | None = KL_CLAMP,
            sample_sink: Callable[[list[dict]], None] | None = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self.channels = tuple(channels) if channels else None
            if self.channels is not None:
                weights = channel_weights if channel_weights is not None else [1.0] * len(self.channels)
                if len(weights) != len(self.channels) or len(self.channels) != len(self.reward_funcs):
                    raise ValueError(
                        f"multi-reward needs one channel and weight per reward function: channels {self.channels}, "
                        f"weights {list(weights)}, {len(self.reward_funcs)} reward functions"
                    )
                if self.loss_type != "dapo" or self.importance_sampling_level != "token":
                    raise ValueError(
                        "the multi-reward loss is implemented for loss_type='dapo' at token level"
                    )
                self.channel_weights = dict(zip(self.channels, map(float, weights), strict=True))
            self.adv_eps = adv_eps
            self.kl_clamp = kl_clamp
            self.sample_sink = sample_sink
            self._scored: tuple[list, list, Any] | None = None
            self._warned_visual = False

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._scored = (inputs, completions, rewards)
            return rewards

        def _generate_and_score_completions(self, inputs):
            output = super()._generate_and_score_completions(inputs)
            local_inputs, completions, rewards = self._scored
            self._scored = None
            mode = "train" if self.model.training else "eval"
            rank, n_local = self.accelerator.process_index, len(local_inputs)
            local = slice(rank * n_local, (rank + 1) * n_local)
            names = [getattr(f, "__name__", str(f)) for f in self.reward_funcs]
            if "visual_reward" in names:
                visual = rewards[:, names.index("visual_reward")]
                if torch.isnan(visual).all():
                    if not self._warned_visual:
                        log.warning(
                            "visual_reward is not applicable (no `second_pass` or `answer` column): "
                            "the self-reward is not applied (use rl.method=vision_sr1 with gold answers)"
                        )
                        self._warned_visual = True
                else:
                    self._metrics[mode]["self_reward/visual_mean"].append(torch.nanmean(visual).item())
            channel_adv = None
            if self.channels is not None:
                group = self.num_generations if mode == "train" else self.num_generations_eval
                table = {
                    name: [None if math.isnan(v) else v for v in rewards[:, k].tolist()]
                    for k, name in enumerate(self.channels)
                }
                adv = multi_reward_advantages(table, group, weights=self.channel_weights, eps=self.adv_eps)
                full = torch.tensor([adv[c] for c in self.channels], dtype=torch.float32).T
                for k, name in enumerate(self.channels):
                    self._metrics[mode][f"multi_reward/{name}/adv_std"].append(full[:, k].std().item())
                channel_adv = full[local]
                output["channel_advantages"] = channel_adv.to(self.accelerator.device)
            if self.sample_sink is not None and mode == "train":
                rows = self._sample_rows(local_inputs, completions, rewards[local], names, channel_adv)
                rows = gather_object(rows)
                if self.accelerator.is_main_process:
                    self.sample_sink(rows)
            return output

        def _sample_rows(self, inputs, completions, rewards, names, channel_adv) -> list[dict]:
            weights = self.reward_weights.tolist()
            rows = []
            for i, (inp, completion) in enumerate(zip(inputs, completions, strict=True)):
                values = {
                    n: (None if math.isnan(v) else v) for n, v in zip(names, rewards[i].tolist(), strict=True)
                }
                row = {
                    "step": self.state.global_step,
                    "id": inp.get("id"),
                    "completion": completion_text(completion),
                    "description": inp.get("description"),
                    "second_pass": inp.get("second_pass"),
                    "r_acc": values.get("accuracy_reward"),
                    "r_fmt": values.get("format_reward", values.get("cot_format_reward")),
                    "r_vis": values.get("visual_reward"),
                }
                if channel_adv is None:
                    row["R"] = sum(w * (v or 0.0) for w, v in zip(weights, values.values(), strict=True))
                else:
                    row["advantages"] = dict(zip(self.channels, channel_adv[i].tolist(), strict=True))
                rows.append(row)
            return rows

        def _compute_loss(self, model, inputs):
            if "channel_advantages" not in inputs:
                return super()._compute_loss(model, inputs)
            return self._multi_reward_loss(model, inputs)

        def _multi_reward_loss(self, model, inputs):
            """TRL's dapo loss with the per-channel clipped objective (spec §3, v2 code): same ratio for every
            channel, losses summed, KL (k3, clamped) added once, token mean over the generation batch."""
            prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
            completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
            input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
            attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
            mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
            per_token_logps, entropies, _ = self._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                completion_ids.size(1),
                compute_entropy=True,
                **{
                    key: inputs.get(key)
                    for key in (
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
                },
            )
            old = inputs.get("old_per_token_logps")
            old = per_token_logps.detach() if old is None else old
            ratio = torch.exp(per_token_logps - old)
            advantages = inputs["channel_advantages"]
            per_token_loss = channel_clipped_loss(
                ratio,
                advantages,
                clip_low=self.epsilon_low,
                clip_high=self.epsilon_high,
                dual_clip=self.args.delta,
            )
            if self.use_vllm and self.vllm_importance_sampling_correction:
                per_token_loss = per_token_loss * inputs["importance_sampling_ratio"]
            mode = "train" if self.model.training else "eval"
            if self.beta != 0.0:
                per_token_kl = k3_kl(per_token_logps, inputs["ref_per_token_logps"], clamp=self.kl_clamp)
                per_token_loss = per_token_loss + self.beta * per_token_kl
            normalizer = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
            if mode == "train":
                normalizer = (
                    normalizer * self.current_gradient_accumulation_steps / self.args.steps_per_generation
                )
            loss = (per_token_loss * mask).sum() / normalizer

            def global_masked_mean(x):
                totals = self.accelerator.reduce(
                    torch.stack([(x * mask).sum(), mask.sum().float()]), reduction="sum"
                )
                return (totals[0] / totals[1].clamp(min=1.0)).item()

            if self.beta != 0.0:
                self._metrics[mode]["kl"].append(global_masked_mean(per_token_kl))
            self._metrics[mode]["entropy"].append(global_masked_mean(entropies))
            low = (
                ((ratio.unsqueeze(-1) < 1 - self.epsilon_low) & (advantages.unsqueeze(1) < 0))
                .float()
                .mean(-1)
            )
            high = (
                ((ratio.unsqueeze(-1) > 1 + self.epsilon_high) & (advantages.unsqueeze(1) > 0))
                .float()
                .mean(-1)
            )
            self._metrics[mode]["clip_ratio/low_mean"].append(global_masked_mean(low))
            self._metrics[mode]["clip_ratio/high_mean"].append(global_masked_mean(high))
            self._metrics[mode]["clip_ratio/region_mean"].append(global_masked_mean(low + high))
            return loss

    _VisionSR1GRPOTrainer.__name__ = _VisionSR1GRPOTrainer.__qualname__ = "VisionSR1GRPOTrainer"
    return _VisionSR1GRPOTrainer


def __getattr__(name: str) -> Any:
    # VisionSR1GRPOTrainer subclasses trl.GRPOTrainer; building it lazily keeps `import vision_sr1` free of TRL.
    if name == "VisionSR1GRPOTrainer":
        cls = _trainer_class()
        globals()["VisionSR1GRPOTrainer"] = cls
        return cls
    raise AttributeError(name)


# -- the stages ----------------------------------------------------------------------------------------------


def _prompt_fits(processor: Any, row: dict, max_tokens: int) -> bool:
    """Whether a GRPO row's first-pass prompt, image tokens expanded, has at most ``max_tokens`` tokens.

    A cheap upper bound decides most rows without image processing: the templated text's tokens plus, per
    image, ``(H/p + 1)·(W/p + 1)`` tokens for a processor merging ``p × p`` pixels into one token (Qwen2.5-VL:
    14-pixel patches merged 2 × 2, so p = 28; its smart resize rounds each side to a multiple of p). Rows over
    the bound are counted exactly with the processor.
    """
    from trl.data_utils import apply_chat_template

    from rlcore.models import tokenizer_of
    from vision_sr1.prompts import fill_images
    from vision_sr1.selfreward import prompt_token_ids

    text = apply_chat_template({"prompt": row["prompt"]}, processor)["prompt"]
    bound = len(tokenizer_of(processor)(text, add_special_tokens=False)["input_ids"])
    image_processor = getattr(processor, "image_processor", None)
    patch, merge = getattr(image_processor, "patch_size", None), getattr(image_processor, "merge_size", None)
    if row["images"] and isinstance(patch, int) and isinstance(merge, int):
        side = patch * merge
        bound += sum((im.size[0] // side + 2) * (im.size[1] // side + 2) for im in row["images"])
    elif row["images"]:
        bound = max_tokens + 1  # unknown processor: count exactly
    if bound <= max_tokens:
        return True
    prompt = fill_images(row["prompt"], row["images"])
    return len(prompt_token_ids(processor, [prompt])[0]) <= max_tokens


def _validation_callback(cfg: VisionSR1Config, records: Sequence[dict], processor: Any, run: Any):
    """Greedy evaluation (spec section 7's protocol) of the policy on ``records`` every ``rl.eval_every``
    rollout steps, logged as ``val/*`` metrics (main process only)."""
    from transformers import TrainerCallback

    from vision_sr1.evaluation import evaluate_generators

    every = cfg.rl.eval_every * (cfg.rl.prompts_per_step // cfg.rl.prompts_per_update)

    class _Validate(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if every <= 0 or state.global_step % every or not state.is_world_process_zero or model is None:
                return
            from rlcore.rollout import HFGenerator

            policy = getattr(model, "module", model)
            _, summary = evaluate_generators(HFGenerator(policy, processor), records, cfg=cfg.eval)
            row = {"step": state.global_step, **{f"val/{k}": v for k, v in summary.items()}}
            if run is not None:
                run.log_metrics(row)
            log.info("validation at step %d: %s", state.global_step, summary)

    return _Validate()


def train(
    cfg: VisionSR1Config,
    records: Sequence[dict],
    run: Any = None,
    *,
    model: Any = None,
    output_dir: str | Path | None = None,
    validation: Sequence[dict] | None = None,
    reward_funcs: tuple[list[Callable], list[float]] | None = None,
    grpo_overrides: dict | None = None,
):
    """GRPO of ``cfg.rl`` on RL ``records`` (``problem``/``answer``/``images``); returns rlcore's TrainResult.

    ``model``: a load_model spec or a ``(model, processor)`` pair (default ``cfg.rl.model``); ``run``: an
    ``rlcore.runs.RunDir`` receiving metrics.jsonl and samples.jsonl (and, by default, the checkpoints);
    ``validation``: records evaluated every ``rl.eval_every`` rollout steps; ``reward_funcs``: replaces
    :func:`vision_sr1.rewards.make_reward_funcs` (tests).
    """
    from rlcore.models import load_model, tokenizer_of
    from rlcore.train import RunDirLogger, run_grpo
    from vision_sr1.rewards import make_reward_funcs
    from vision_sr1.selfreward import SelfRewardRollout

    rl = cfg.rl
    rows = grpo_rows(records, rl)
    if not rows:
        raise ValueError("the RL data set is empty")
    pair = (
        load_model(model or rl.model, task="image-text-to-text")
        if model is None or isinstance(model, str)
        else model
    )
    processor = pair[1]
    kept = [r for r in rows if _prompt_fits(processor, r, rl.max_prompt_length)]
    if len(kept) < len(rows):
        log.warning(
            "%d of %d prompts exceed max_prompt_length %d and are skipped",
            len(rows) - len(kept),
            len(rows),
            rl.max_prompt_length,
        )
    if not kept:
        raise ValueError(f"every prompt exceeds rl.max_prompt_length ({rl.max_prompt_length} tokens)")
    if output_dir is None:
        output_dir = run.file("checkpoints") if run is not None else Path("runs/vision-sr1/checkpoints")
    config = build_grpo_config(cfg, output_dir, has_eval=False, **(grpo_overrides or {}))
    if run is not None:
        last = run.last_checkpoint()
        if last is not None:
            config.resume_from_checkpoint = str(last)
    funcs, weights = reward_funcs if reward_funcs is not None else make_reward_funcs(rl)
    config.reward_weights = list(weights)
    trainer_kwargs: dict[str, Any] = {"adv_eps": rl.adv_eps}
    if run is not None:
        trainer_kwargs["sample_sink"] = run.log_samples
    if rl.policy_loss == "multi_reward":
        trainer_kwargs["channels"] = [getattr(f, "__name__", "").removesuffix("_reward") for f in funcs]
        trainer_kwargs["channel_weights"] = list(weights)
    callbacks = []
    if run is not None:
        callbacks.append(RunDirLogger(run))
    if validation:
        callbacks.append(_validation_callback(cfg, validation, processor, run))
    tokenizer_of(processor).padding_side = "left"
    return run_grpo(
        pair,
        funcs,
        kept,
        config,
        rollout_func=SelfRewardRollout(rl) if rl.method == "vision_sr1" else None,
        trainer_cls=__getattr__("VisionSR1GRPOTrainer"),
        trainer_kwargs=trainer_kwargs,
        freeze_vision=rl.freeze_vision_tower,
        callbacks=callbacks,
    )


def sft(
    cfg: VisionSR1Config,
    records: Sequence[dict],
    run: Any = None,
    *,
    model: Any = None,
    output_dir: str | Path | None = None,
    sft_overrides: dict | None = None,
):
    """Cold-start SFT of ``cfg.sft`` on conversational records (``messages`` + ``images``: the rows of
    :func:`vision_sr1.data.make_cold_start_records` or :func:`vision_sr1.data.load_sft_records`), vision tower
    and projector frozen, loss on assistant tokens. Saves model and processor to ``output_dir`` (default
    ``run/checkpoints/final``) and returns rlcore's TrainResult. Every ``sft.save_every`` steps a checkpoint is
    kept in ``output_dir`` (the latest only), and a rerun on the same ``output_dir`` resumes from it."""
    from transformers.trainer_utils import get_last_checkpoint

    from rlcore.models import load_model
    from rlcore.train import RunDirLogger, run_sft, sft_config

    s = cfg.sft
    rows = sft_rows(records, s.image_max_pixels)
    if not rows:
        raise ValueError("the cold-start data set is empty")
    pair = (
        load_model(model or s.model, task="image-text-to-text")
        if model is None or isinstance(model, str)
        else model
    )
    if output_dir is None:
        output_dir = run.file("checkpoints/final") if run is not None else Path("runs/vision-sr1/sft")
    extra: dict[str, Any] = {"save_strategy": "no"}
    if s.save_every > 0:
        extra |= {"save_strategy": "steps", "save_steps": s.save_every, "save_total_limit": 1}
    last = get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None
    if last is not None:  # a killed run: continue from its latest checkpoint
        extra["resume_from_checkpoint"] = last
    if s.bf16 is not None:
        extra["bf16"] = s.bf16
    if s.gradient_checkpointing:
        extra["gradient_checkpointing"] = True
    config = sft_config(
        output_dir=str(output_dir),
        learning_rate=s.learning_rate,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps,
        lr_scheduler_type=s.lr_scheduler,
        warmup_steps=s.warmup_ratio,
        per_device_train_batch_size=s.per_device_batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps,
        max_length=s.max_length,
        logging_steps=1,
        seed=cfg.seed,
        **{**extra, **(sft_overrides or {})},
    )
    callbacks = [RunDirLogger(run)] if run is not None else []
    return run_sft(pair, rows, config, freeze_vision=s.freeze_vision_tower, callbacks=callbacks)
