"""PPO-M's calibrated reward model (CRM): its data, loss, accuracies, the RM bias probe and its training.

Notation (paper §4.1). A preference pair is a prompt x with a chosen response y_c ≻ y_r (rejected). Appending a
stated confidence gives four variants, scored by the reward model R:

- r_ch = R(x, y_c ⊕ high), r_cl = R(x, y_c ⊕ low): a good answer should earn more with high confidence;
- r_rh = R(x, y_r ⊕ high), r_rl = R(x, y_r ⊕ low): a bad answer should earn more with low confidence.

The CRM loss is  L = −log σ(r_ch − r_cl) − log σ(r_rl − r_rh)  (``combined`` adds −log σ(r_c − r_r)). Training runs on
TRL's ``RewardTrainer`` over the pairs of :func:`crm_pairs`; its loss, the mean of −log σ(r_chosen − r_rejected) over
rows, is L/2 (``combined``: L/3), which gives near-identical Adam updates.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from calibrated_ppo.prompts import CONFIDENCE_SYSTEM_PROMPT, append_confidence

if TYPE_CHECKING:
    from calibrated_ppo.config import CalibratedPPOConfig
    from calibrated_ppo.rewards import RewardModelScorer

__all__ = [
    "BIAS_MODES",
    "CRM_LOSSES",
    "confidence_preference_rate",
    "crm_accuracy",
    "crm_loss",
    "crm_pairs",
    "make_crm_example",
    "train_reward_model",
]

CRM_LOSSES = ("sigmoid", "combined")
"""``sigmoid``: the paper's two confidence terms; ``combined``: also the original chosen ≻ rejected pair."""

HIGH_LEVELS = (7, 8, 9, 10)
LOW_LEVELS = (0, 1, 2, 3)

BIAS_MODES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "chosen": (("chosen", "low"), ("chosen", "high")),
    "rejected": (("rejected", "low"), ("rejected", "high")),
    "normal": (("chosen", "low"), ("rejected", "high")),
    "both_high": (("chosen", "high"), ("rejected", "high")),
    "both_low": (("chosen", "low"), ("rejected", "low")),
}
"""The bias probe's modes: (response, confidence) of the first and of the second slot (spec §2.3)."""

CRM_COLUMNS = ("chosen", "rejected", "chosen_high", "chosen_low", "rejected_high", "rejected_low")


# ------------------------------------------------------------------------------------------------- data


def _split_pair(conversation: Any, name: str) -> tuple[dict[str, str], str]:
    """(user message, assistant text) of a ``[user, assistant]`` conversation; ``ValueError`` otherwise."""
    if not isinstance(conversation, list | tuple) or len(conversation) != 2:
        raise ValueError(f"{name} must be exactly [user, assistant] messages, got {conversation!r:.200}")
    roles = ("user", "assistant")
    for message, role in zip(conversation, roles, strict=True):
        if (
            not isinstance(message, Mapping)
            or message.get("role") != role
            or not isinstance(message.get("content"), str)
        ):
            raise ValueError(
                f"{name} must be exactly [user, assistant] messages with string content; "
                f"expected a {role} turn, got {message!r:.200}"
            )
    return {"role": "user", "content": conversation[0]["content"]}, conversation[1]["content"]


def make_crm_example(
    chosen: Sequence[Mapping[str, Any]],
    rejected: Sequence[Mapping[str, Any]],
    rng: random.Random,
    *,
    system_prompt: str = CONFIDENCE_SYSTEM_PROMPT,
    high_levels: Sequence[int] = HIGH_LEVELS,
    low_levels: Sequence[int] = LOW_LEVELS,
) -> dict[str, list[dict[str, str]]]:
    """The six CRM columns of one preference pair (y_c ≻ y_r).

    ``rng`` is consumed in the order h1, l1, h2, l2 (one ``rng.choice`` each); the variants are
    ``chosen_high`` = y_c ⊕ h1, ``chosen_low`` = y_c ⊕ l1, ``rejected_high`` = y_r ⊕ h2, ``rejected_low`` = y_r ⊕ l2,
    each ``[system(system_prompt), user, assistant]`` with ``append_confidence``. ``chosen`` and ``rejected`` are
    copies of the inputs. Every list and message is new; the inputs are not mutated.

    Raises ``ValueError`` unless both inputs are exactly ``[user, assistant]`` messages with string content.
    """
    user_c, text_c = _split_pair(chosen, "chosen")
    user_r, text_r = _split_pair(rejected, "rejected")
    h1 = rng.choice(high_levels)
    l1 = rng.choice(low_levels)
    h2 = rng.choice(high_levels)
    l2 = rng.choice(low_levels)

    def variant(user: dict[str, str], text: str, level: int) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": system_prompt},
            dict(user),
            {"role": "assistant", "content": append_confidence(text, level)},
        ]

    return {
        "chosen": [dict(user_c), {"role": "assistant", "content": text_c}],
        "rejected": [dict(user_r), {"role": "assistant", "content": text_r}],
        "chosen_high": variant(user_c, text_c, h1),
        "chosen_low": variant(user_c, text_c, l1),
        "rejected_high": variant(user_r, text_r, h2),
        "rejected_low": variant(user_r, text_r, l2),
    }


def _check_loss(loss: str) -> None:
    if loss not in CRM_LOSSES:
        raise ValueError(f"unknown CRM loss {loss!r}; expected one of {', '.join(CRM_LOSSES)}")


def crm_pairs(examples: Sequence[Mapping[str, Any]], *, loss: str = "sigmoid") -> list[dict[str, Any]]:
    """``RewardTrainer`` rows of CRM examples: per example (y_c⊕high ≻ y_c⊕low), then (y_r⊕low ≻ y_r⊕high);
    ``combined`` adds a third row (y_c ≻ y_r). Missing columns raise ``KeyError``."""
    _check_loss(loss)
    rows: list[dict[str, Any]] = []
    for example in examples:
        rows.append({"chosen": example["chosen_high"], "rejected": example["chosen_low"]})
        rows.append({"chosen": example["rejected_low"], "rejected": example["rejected_high"]})
        if loss == "combined":
            rows.append({"chosen": example["chosen"], "rejected": example["rejected"]})
    return rows


# ------------------------------------------------------------------------------------------------- maths


def _torch_tensor_type() -> type | None:
    torch = sys.modules.get("torch")  # a tensor argument means torch is imported; never import it for numpy
    return None if torch is None else torch.Tensor


def crm_loss(
    r_chosen_high: Any,
    r_chosen_low: Any,
    r_rejected_high: Any,
    r_rejected_low: Any,
    *,
    loss: str = "sigmoid",
    r_chosen: Any = None,
    r_rejected: Any = None,
) -> Any:
    """The CRM loss, the batch mean of −log σ(r_ch − r_cl) − log σ(r_rl − r_rh) (paper Eq. 4).

    ``combined`` adds −log σ(r_c − r_r) and needs ``r_chosen`` and ``r_rejected`` (``ValueError`` without them).
    A tensor first argument gives a 0-dim tensor with autograd kept; otherwise the inputs become float64 and the
    result is a Python ``float``. Example: (2, 1, 0.5, 0.5) → 0.313262 + 0.693147 = 1.006409.
    """
    _check_loss(loss)
    if loss == "combined" and (r_chosen is None or r_rejected is None):
        raise ValueError("crm_loss(loss='combined') needs r_chosen and r_rejected")
    tensor_type = _torch_tensor_type()
    if tensor_type is not None and isinstance(r_chosen_high, tensor_type):
        import torch
        import torch.nn.functional as F

        def as_t(x: Any) -> torch.Tensor:
            return torch.as_tensor(x, dtype=r_chosen_high.dtype, device=r_chosen_high.device)

        terms = -F.logsigmoid(r_chosen_high - as_t(r_chosen_low)) - F.logsigmoid(
            as_t(r_rejected_low) - as_t(r_rejected_high)
        )
        if loss == "combined":
            terms = terms - F.logsigmoid(as_t(r_chosen) - as_t(r_rejected))
        return terms.mean()

    def as_a(x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def neg_log_sigmoid(x: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, -x)  # −log σ(x) = log(1 + e^{−x}), stable for large |x|

    terms = neg_log_sigmoid(as_a(r_chosen_high) - as_a(r_chosen_low)) + neg_log_sigmoid(
        as_a(r_rejected_low) - as_a(r_rejected_high)
    )
    if loss == "combined":
        terms = terms + neg_log_sigmoid(as_a(r_chosen) - as_a(r_rejected))
    if terms.size == 0:
        raise ValueError("crm_loss of an empty batch")
    return float(np.mean(terms))


def _as_float_array(x: Any) -> np.ndarray:
    tensor_type = _torch_tensor_type()
    if tensor_type is not None and isinstance(x, tensor_type):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1)


def crm_accuracy(
    r_chosen: Any,
    r_rejected: Any,
    r_chosen_high: Any,
    r_chosen_low: Any,
    r_rejected_high: Any,
    r_rejected_low: Any,
) -> dict[str, float]:
    """The CRM's accuracies over a batch, with strict comparisons (a tie is wrong).

    - ``preference_acc`` = mean[r_c > r_r];
    - ``confidence_acc`` = (mean[r_ch > r_cl] + mean[r_rl > r_rh]) / 2;
    - ``acc`` = the mean of the three indicators.

    Raises ``ValueError`` on an empty batch or inputs of different lengths.
    """
    c, r, ch, cl, rh, rl = (
        _as_float_array(x)
        for x in (r_chosen, r_rejected, r_chosen_high, r_chosen_low, r_rejected_high, r_rejected_low)
    )
    if c.size == 0:
        raise ValueError("crm_accuracy of an empty batch")
    if not all(x.shape == c.shape for x in (r, ch, cl, rh, rl)):
        raise ValueError("crm_accuracy: all six reward arrays must have the same length")
    preference = float(np.mean(c > r))
    high_chosen = float(np.mean(ch > cl))
    low_rejected = float(np.mean(rl > rh))
    return {
        "preference_acc": preference,
        "confidence_acc": (high_chosen + low_rejected) / 2,
        "acc": (preference + high_chosen + low_rejected) / 3,
    }


# ------------------------------------------------------------------------------------------------- bias probe


def confidence_preference_rate(
    scorer: Callable[..., Sequence[float | None]],
    pairs: Sequence[Mapping[str, Any]],
    *,
    mode: str,
    rng: random.Random,
    system_prompt: bool = True,
) -> float:
    """The RM bias probe: the share of pairs where the **first** response scores strictly higher (spec §2.3).

    ``mode`` picks the (response, confidence) of each slot, see :data:`BIAS_MODES`; e.g. ``rejected`` compares
    y_r ⊕ low (first) against y_r ⊕ high (second), so an unbiased RM gives a high rate and a confidence-biased RM a
    low one. Per pair, the first slot's level is drawn, then the second's, each by ``rng.choice`` from 0–3 (low) or
    7–10 (high), and attached with ``append_confidence``.

    ``pairs`` are ``{"chosen", "rejected"}`` rows of ``[user, assistant]`` messages. ``scorer`` has TRL's reward
    signature and is called once, with the prompts (the ``CONFIDENCE_SYSTEM_PROMPT`` system turn and the user turn
    when ``system_prompt``, else the user turn alone) twice over and the first-slot then second-slot completions as
    assistant messages. A ``None`` score counts as not higher. Raises ``ValueError`` for an unknown mode, no pairs,
    or a malformed pair.
    """
    if mode not in BIAS_MODES:
        raise ValueError(f"unknown bias mode {mode!r}; expected one of {', '.join(BIAS_MODES)}")
    if not pairs:
        raise ValueError("confidence_preference_rate needs at least one pair")
    levels = {"high": HIGH_LEVELS, "low": LOW_LEVELS}
    prompts: list[list[dict[str, str]]] = []
    slots: tuple[list[list[dict[str, str]]], list[list[dict[str, str]]]] = ([], [])
    for index, pair in enumerate(pairs):
        user, texts = None, {}
        for key in ("chosen", "rejected"):
            user, texts[key] = _split_pair(pair[key], f"pairs[{index}][{key!r}]")
        prefix = [{"role": "system", "content": CONFIDENCE_SYSTEM_PROMPT}] if system_prompt else []
        prompts.append([*prefix, dict(user)])
        for slot, (response, confidence) in zip(slots, BIAS_MODES[mode], strict=True):
            level = rng.choice(levels[confidence])
            slot.append([{"role": "assistant", "content": append_confidence(texts[response], level)}])
    scores = list(scorer(prompts + [list(p) for p in prompts], slots[0] + slots[1]))
    if len(scores) != 2 * len(pairs):
        raise ValueError(f"the scorer returned {len(scores)} scores for {2 * len(pairs)} completions")
    first, second = scores[: len(pairs)], scores[len(pairs) :]
    wins = sum(1 for a, b in zip(first, second, strict=True) if a is not None and b is not None and a > b)
    return wins / len(pairs)


# ------------------------------------------------------------------------------------------------- training


def _prompt_and_completion(conversation: Any) -> tuple[list[dict[str, Any]], str]:
    """A conversation ending in an assistant turn as the scorer's (prompt messages, completion text)."""
    if (
        not isinstance(conversation, list | tuple)
        or not conversation
        or not isinstance(conversation[-1], Mapping)
        or conversation[-1].get("role") != "assistant"
        or not isinstance(conversation[-1].get("content"), str)
    ):
        raise ValueError(
            f"a reward row must be chat messages ending in an assistant turn, got {conversation!r:.200}"
        )
    return [dict(m) for m in conversation[:-1]], conversation[-1]["content"]


def _ensure_distinct_pad(model: Any, tokenizer: Any) -> None:
    """Give the tokenizer (and the model config) a pad token different from EOS, adding one if needed: TRL pools
    at the last token that is not pad, so pad = EOS would pool before the EOS the scorer reads."""
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        # Reuse a pad-like special token the vocabulary already has (no resize); add one only as a last resort.
        vocab = tokenizer.get_vocab()
        distinct = [
            tok
            for tok in ("<|endoftext|>", "<|finetune_right_pad_id|>", "<pad>")
            if tok in vocab and vocab[tok] != tokenizer.eos_token_id
        ]
        if distinct:
            tokenizer.pad_token = distinct[0]
        else:
            tokenizer.add_special_tokens({"pad_token": "<|reward_pad|>"})
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id


def _tokenized_rows(
    scorer: RewardModelScorer, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, list[int]]]:
    """Pre-tokenised ``RewardTrainer`` rows: exactly the token ids ``RewardModelScorer`` scores (its
    ``render_reward_text`` and its BOS rule), so TRL never re-renders or adds a second BOS."""
    return [
        {
            "chosen_ids": scorer.token_ids(*_prompt_and_completion(row["chosen"])),
            "rejected_ids": scorer.token_ids(*_prompt_and_completion(row["rejected"])),
        }
        for row in rows
    ]


def _scores(scorer: RewardModelScorer, conversations: Sequence[Any]) -> list[float]:
    """Raw R(x, y) of each conversation, read by the scorer at its last attended token."""
    prompts, completions = zip(*(_prompt_and_completion(c) for c in conversations), strict=True)
    return [float(s) for s in scorer(list(prompts), list(completions))]


def _holdout(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, eval) indices: a seeded shuffle, ceil(fraction·n) held out (at least one train row kept)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_eval = min(math.ceil(fraction * n), n - 1) if fraction > 0 else 0
    return sorted(order[n_eval:]), sorted(order[:n_eval])


def train_reward_model(
    config: CalibratedPPOConfig, *, calibrated: bool, run_dir: str | os.PathLike[str]
) -> Path:
    """Train the RM (preference pairs) or, when ``calibrated``, the CRM (:func:`crm_pairs`) with TRL's
    ``RewardTrainer`` from ``config.reward_model``; save it to ``run_dir/"model"`` and return that directory.

    Rows are rendered as ``RewardModelScorer`` renders them and the pad token is made distinct from EOS, so TRL's
    last-non-pad pooling reads the token the scorer reads. On the seeded ``eval_fraction`` hold-out (the training
    set if the fraction is 0) the trained model scores chosen and rejected (RM) or all six CRM columns; their mean
    and Bessel std (≥ 1e-8) are written as ``mean``/``std`` into the saved config and, with the CRM's
    :func:`crm_accuracy` on the hold-out, into ``run_dir/reward_stats.json``.
    """
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from calibrated_ppo.data import load_crm_examples, load_preference_pairs
    from calibrated_ppo.rewards import RewardModelScorer
    from rlcore.config import check
    from rlcore.errors import DataError
    from rlcore.models import load_model, tokenizer_of
    from rlcore.runs import atomic_write
    from rlcore.train import RunDirLogger, _cpu_defaults, _world_size

    rm = config.reward_model
    out_dir = Path(run_dir)
    world = _world_size()
    check(
        rm.train_batch_size % (rm.micro_batch_size * world) == 0,
        "reward_model.train_batch_size",
        f"{rm.train_batch_size} is not a multiple of micro_batch_size {rm.micro_batch_size} × {world} processes",
    )
    if calibrated:
        examples = list(load_crm_examples(rm.dataset, seed=rm.variant_seed, limit=rm.max_samples))
        columns = CRM_COLUMNS
    else:
        examples = list(load_preference_pairs(rm.dataset, limit=rm.max_samples))
        columns = ("chosen", "rejected")
    if not examples:
        raise DataError(f"{rm.dataset}: no usable preference pairs for reward-model training")
    train_idx, eval_idx = _holdout(len(examples), rm.eval_fraction, config.seed)
    train_examples = [examples[i] for i in train_idx]
    eval_examples = [examples[i] for i in eval_idx] or train_examples

    model, processor = load_model(rm.base_model, task="sequence-classification")
    tokenizer = tokenizer_of(processor)
    _ensure_distinct_pad(model, tokenizer)
    # max_length + 1 keeps over-long rows whole, so that TRL's max_length filter drops them (never truncates).
    reader = RewardModelScorer(model, tokenizer, normalize=False, max_length=rm.max_length + 1)
    rows = crm_pairs(train_examples, loss=rm.loss) if calibrated else train_examples
    dataset = Dataset.from_list(_tokenized_rows(reader, rows))

    args = RewardConfig(
        **{
            **_cpu_defaults(),
            "output_dir": str(out_dir / "trainer"),
            "num_train_epochs": rm.epochs,
            "learning_rate": rm.learning_rate,
            "per_device_train_batch_size": rm.micro_batch_size,
            "gradient_accumulation_steps": rm.train_batch_size // (rm.micro_batch_size * world),
            "warmup_steps": rm.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
            "lr_scheduler_type": "cosine_with_min_lr",
            "lr_scheduler_kwargs": {"min_lr_rate": rm.min_lr_ratio},
            "adam_beta1": rm.adam_betas[0],
            "adam_beta2": rm.adam_betas[1],
            "weight_decay": rm.weight_decay,
            "max_length": rm.max_length,
            "save_strategy": "no",
            "logging_steps": 1,
            "seed": config.seed,
        }
    )
    callbacks = [RunDirLogger(run_dir)] if hasattr(run_dir, "log_metrics") else None
    trainer = RewardTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks
    )
    trainer.train()

    trained = trainer.accelerator.unwrap_model(trainer.model)
    reader = RewardModelScorer(trained, tokenizer, normalize=False, max_length=rm.max_length)
    sets = {col: _scores(reader, [ex[col] for ex in eval_examples]) for col in columns}
    pooled = [s for values in sets.values() for s in values]
    stats: dict[str, Any] = {
        "mean": statistics.fmean(pooled),
        "std": max(statistics.stdev(pooled) if len(pooled) > 1 else 0.0, 1e-8),
        "n_eval": len(eval_idx),
        "n_train": len(train_idx),
        "split": "holdout" if eval_idx else "train",
        "kind": "crm" if calibrated else "rm",
        "loss": rm.loss if calibrated else "sigmoid",
        "set_means": {col: statistics.fmean(values) for col, values in sets.items()},
    }
    if calibrated:
        stats.update(crm_accuracy(*(sets[col] for col in CRM_COLUMNS)))
    trained.config.mean = stats["mean"]
    trained.config.std = stats["std"]
    model_dir = out_dir / "model"
    trainer.save_model(str(model_dir))
    if trainer.is_world_process_zero():
        with contextlib.suppress(OSError):  # TRL's output_dir stays empty with save_strategy="no"
            (out_dir / "trainer").rmdir()
        atomic_write(out_dir / "reward_stats.json", json.dumps(stats, indent=2) + "\n")
    return model_dir
