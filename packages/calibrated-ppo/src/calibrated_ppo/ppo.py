"""Our compact PPO (spec §2.4): the maths, an actor-critic trainer on accelerate, and the method wiring.

Semantics follow OpenRLHF 0.3.8, which the paper's official code forks: a per-token KL penalty against a
frozen reference, the clamped sequence score added at the last response token, GAE over response tokens,
advantages whitened over the whole rollout buffer, a clipped surrogate for the actor and a clipped value loss
for the critic.

Array convention (spec §2): a tensor first argument gives tensor results (0-dim for scalars, autograd
kept); anything else (numpy arrays, nested float lists, Python floats) is read as float64 and gives
``numpy.ndarray`` or Python ``float`` results. Per-token arrays are ``[B, T]`` (a 1-D ``[T]`` is read as one
row and given back 1-D), per-sequence ones ``[B]``; ``mask`` rows are ones followed by zero padding.

Symbols: ρ the probability ratio π_θ/π_old, A the advantage, δ the TD error, γ the discount, λ the GAE
trace decay, β the KL coefficient (``kl_coef``), ε the clip range.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from calibrated_ppo.config import CRITIC_INITS, PPOConfig

if TYPE_CHECKING:
    from accelerate import Accelerator
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from rlcore.runs import RunDir

__all__ = [
    "METHODS",
    "Experience",
    "PPOTrainer",
    "check_batch_sizes",
    "filter_prompts",
    "gae",
    "make_critic",
    "masked_mean",
    "policy_loss",
    "token_level_rewards",
    "train_ppo",
    "value_loss",
    "whiten",
]

log = logging.getLogger(__name__)

METHODS = ("ppo", "ppo-m", "ppo-c")
"""The methods :func:`train_ppo` wires (spec §2.4 table)."""

ArrayLike = Any
RewardFn = Callable[..., list]

# ------------------------------------------------------------------------------------- array convention


def _inputs(*args: ArrayLike) -> tuple[bool, list[torch.Tensor]]:
    """(tensor mode, the arguments as tensors). Tensor mode keeps the first tensor's dtype and device (a
    non-floating first tensor computes in float32); otherwise everything becomes a float64 CPU tensor."""
    first = args[0]
    if isinstance(first, torch.Tensor):
        dtype = first.dtype if first.is_floating_point() else torch.float32
        out = []
        for a in args:
            if isinstance(a, torch.Tensor):
                out.append(a.to(device=first.device, dtype=dtype))
            else:
                out.append(torch.as_tensor(np.asarray(a, dtype=np.float64), device=first.device).to(dtype))
        return True, out
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(a.detach().cpu().to(torch.float64))
        else:
            out.append(torch.as_tensor(np.asarray(a, dtype=np.float64)))
    return False, out


def _output(tensor_mode: bool, x: torch.Tensor) -> Any:
    if tensor_mode:
        return x
    return float(x) if x.ndim == 0 else x.numpy()


def _rows(*xs: torch.Tensor) -> tuple[bool, list[torch.Tensor]]:
    """Promote 1-D per-token arrays to one row; returns (was 1-D, the 2-D arrays)."""
    if xs[0].ndim == 1:
        return True, [x.unsqueeze(0) for x in xs]
    if xs[0].ndim != 2:
        raise ValueError(f"per-token arrays must be [B, T] (or [T]), got shape {tuple(xs[0].shape)}")
    return False, list(xs)


def _check_same_shape(names: Sequence[str], xs: Sequence[torch.Tensor]) -> None:
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        listed = ", ".join(f"{n} {tuple(x.shape)}" for n, x in zip(names, xs, strict=True))
        raise ValueError(f"shape mismatch: {listed}")


# ---------------------------------------------------------------------------------------------- maths


def _masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    if dim is None:
        total = mask.sum()
        if float(total) == 0:
            raise ValueError("masked_mean: the mask is all zero")
        return (x * mask).sum() / total
    denom = mask.sum(dim)
    if bool((denom == 0).any()):
        raise ValueError(f"masked_mean: a slice along dim {dim} has an all-zero mask")
    return (x * mask).sum(dim) / denom


def masked_mean(x: ArrayLike, mask: ArrayLike, dim: int | None = None) -> Any:
    """Σ x·mask / Σ mask over everything (``dim=None``) or along ``dim``. An all-zero mask (or slice along
    ``dim``) raises ``ValueError``."""
    tensor_mode, (x, mask) = _inputs(x, mask)
    return _output(tensor_mode, _masked_mean(x, mask, dim))


def _whiten(x: torch.Tensor, mask: torch.Tensor, eps: float) -> torch.Tensor:
    mu = _masked_mean(x, mask)
    var = _masked_mean((x - mu) ** 2, mask)
    return (x - mu) * torch.rsqrt(torch.clamp(var, min=eps)) * mask


def whiten(x: ArrayLike, mask: ArrayLike, *, eps: float = 1e-8) -> Any:
    """(x − μ)/√max(σ², ε) where mask = 1, 0 elsewhere; μ and σ² are the masked mean and masked population
    variance over **all** entries. Zero variance whitens to 0. An all-zero mask raises ``ValueError``."""
    tensor_mode, (x, mask) = _inputs(x, mask)
    if float(mask.sum()) == 0:
        raise ValueError("whiten: the mask is all zero")
    return _output(tensor_mode, _whiten(x, mask, eps))


def _last_index(mask: torch.Tensor) -> torch.Tensor:
    """The index of the last mask = 1 position of every row."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return torch.where(mask > 0, positions, torch.full_like(positions, -1)).max(dim=1).values


def token_level_rewards(
    scores: ArrayLike,
    logprobs: ArrayLike,
    ref_logprobs: ArrayLike,
    mask: ArrayLike,
    *,
    kl_coef: float,
    reward_clip: float | None = 10.0,
) -> Any:
    """Per-token rewards r_t = −β·(log π − log π_ref)_t·mask_t, plus clamp(score, ±``reward_clip``) at the
    last position where mask = 1 (``reward_clip=None``: no clamp). ``scores`` is ``[B]`` (a scalar for one
    1-D row). ``kl_coef`` < 0 or a row with an empty mask raises ``ValueError``.

    Example: mask [1,1,1,0], log-ratios [0.1, 0.2, −0.1, 0], β = 0.01, score 1.48 → [−0.001, −0.002, 1.481, 0].
    """
    if kl_coef < 0:
        raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
    tensor_mode, (scores, logprobs, ref_logprobs, mask) = _inputs(scores, logprobs, ref_logprobs, mask)
    _check_same_shape(("logprobs", "ref_logprobs", "mask"), (logprobs, ref_logprobs, mask))
    one_row, (logprobs, ref_logprobs, mask) = _rows(logprobs, ref_logprobs, mask)
    scores = scores.reshape(-1)
    if scores.shape[0] != mask.shape[0]:
        raise ValueError(f"{scores.shape[0]} scores for {mask.shape[0]} rows")
    if bool((mask.sum(1) == 0).any()):
        raise ValueError("token_level_rewards: a row has an empty mask")
    rewards = -kl_coef * (logprobs - ref_logprobs) * mask
    if reward_clip is not None:
        scores = scores.clamp(-reward_clip, reward_clip)
    rewards = rewards.scatter_add(1, _last_index(mask).unsqueeze(1), scores.unsqueeze(1).to(rewards.dtype))
    return _output(tensor_mode, rewards[0] if one_row else rewards)


def gae(
    rewards: ArrayLike, values: ArrayLike, mask: ArrayLike, *, gamma: float = 1.0, lam: float = 0.95
) -> tuple[Any, Any]:
    """Generalised advantage estimation; returns (advantages, returns).

    Rewards and values are first multiplied by the mask. Backwards over t: δ_t = r_t + γ·v_{t+1} − v_t with
    v_T = 0, A_t = δ_t + γλ·A_{t+1}; returns = A + masked values. Padded positions get A = returns = 0.

    Example: r = [0, 0, 1], v = [0.5]·3 → A = [0.45125, 0.475, 0.5], returns = [0.95125, 0.975, 1.0].
    """
    if not (0 <= gamma <= 1 and 0 <= lam <= 1):
        raise ValueError(f"gamma and lam must be in [0, 1], got gamma={gamma}, lam={lam}")
    tensor_mode, (rewards, values, mask) = _inputs(rewards, values, mask)
    _check_same_shape(("rewards", "values", "mask"), (rewards, values, mask))
    one_row, (rewards, values, mask) = _rows(rewards, values, mask)
    rewards, values = rewards * mask, values * mask
    steps = rewards.shape[1]
    running = torch.zeros_like(rewards[:, 0])
    reversed_adv = []
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        reversed_adv.append(running)
    advantages = torch.stack(reversed_adv[::-1], dim=1)
    returns = advantages + values
    if one_row:
        advantages, returns = advantages[0], returns[0]
    return _output(tensor_mode, advantages), _output(tensor_mode, returns)


def _clip_frac(ratio: torch.Tensor, mask: torch.Tensor, clip_eps: float) -> torch.Tensor:
    return _masked_mean(((ratio - 1).abs() > clip_eps).to(mask.dtype), mask)


def policy_loss(
    logprobs: ArrayLike,
    old_logprobs: ArrayLike,
    advantages: ArrayLike,
    mask: ArrayLike,
    *,
    clip_eps: float = 0.2,
) -> Any:
    """The clipped surrogate: ρ = exp(log π − log π_old), per-token loss −min(ρA, clip(ρ, 1−ε, 1+ε)A),
    masked mean per row, then mean over rows.

    Examples: ρ = 1.5 with A = 1 → −1.2; ρ = 0.5 with A = −1 → 0.8.
    """
    tensor_mode, (logprobs, old_logprobs, advantages, mask) = _inputs(
        logprobs, old_logprobs, advantages, mask
    )
    _check_same_shape(
        ("logprobs", "old_logprobs", "advantages", "mask"), (logprobs, old_logprobs, advantages, mask)
    )
    _, (logprobs, old_logprobs, advantages, mask) = _rows(logprobs, old_logprobs, advantages, mask)
    ratio = torch.exp(logprobs - old_logprobs)
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages)
    return _output(tensor_mode, _masked_mean(-surrogate, mask, dim=-1).mean())


def value_loss(
    values: ArrayLike,
    old_values: ArrayLike,
    returns: ArrayLike,
    mask: ArrayLike,
    *,
    clip_eps: float | None = 0.2,
) -> Any:
    """The clipped value loss: v_clip = v_old + clip(v − v_old, ±ε); per-token max((v_clip − R)², (v − R)²),
    or (v − R)² when ``clip_eps=None``; the result is ½ × (masked mean per row, then mean over rows)."""
    tensor_mode, (values, old_values, returns, mask) = _inputs(values, old_values, returns, mask)
    _check_same_shape(("values", "old_values", "returns", "mask"), (values, old_values, returns, mask))
    _, (values, old_values, returns, mask) = _rows(values, old_values, returns, mask)
    loss = (values - returns) ** 2
    if clip_eps is not None:
        clipped = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
        loss = torch.max((clipped - returns) ** 2, loss)
    return _output(tensor_mode, 0.5 * _masked_mean(loss, mask, dim=-1).mean())


# ------------------------------------------------------------------------------------------ experience


@dataclass
class Experience:
    """One micro rollout batch. ``sequences``/``attention_mask`` are ``[B, P+R]`` (prompts left-padded to P,
    responses right-padded to R); the per-action tensors are ``[B, R]``; ``scores`` ``[B]`` are the scalars
    from ``reward_fn``. ``info`` holds ``prompts``, ``completions``, ``confidences`` (parsed or None),
    ``raw_scores`` (PPO-C: the scorer's scores before the adjustment, else None), ``reward_average`` (r̄ or
    None), ``kl`` and ``response_length`` per row, and ``generate_s``/``total_s`` timings."""

    sequences: torch.Tensor
    attention_mask: torch.Tensor
    action_mask: torch.Tensor
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    scores: torch.Tensor
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.sequences.shape[0])


@dataclass
class _Rollout:
    """A micro rollout batch before its rewards: everything but the reward-dependent tensors."""

    prompts: list[Any]
    completions: list[str]
    sequences: torch.Tensor
    attention_mask: torch.Tensor
    action_mask: torch.Tensor
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    generate_s: float
    start: float


class _RecordingScorer:
    """Wraps the scorer inside PPO-C's ``CalibratedReward`` and keeps its last scores (the raw reward)."""

    def __init__(self, scorer: RewardFn) -> None:
        self.scorer = scorer
        self.last: list[float | None] | None = None
        self.__name__ = getattr(scorer, "__name__", type(scorer).__name__)

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        scores = self.scorer(prompts, completions, **kwargs)
        self.last = list(scores)
        return scores


def _find_recorder(reward_fn: Any) -> _RecordingScorer | None:
    """The raw-score recorder of a PPO-C reward: one already inside it, else its ``scorer`` attribute wrapped."""
    if not hasattr(reward_fn, "average"):
        return None
    for value in vars(reward_fn).values() if hasattr(reward_fn, "__dict__") else ():
        if isinstance(value, _RecordingScorer):
            return value
    for name in ("scorer", "_scorer", "reward_fn"):
        inner = getattr(reward_fn, name, None)
        if callable(inner):
            recorder = _RecordingScorer(inner)
            setattr(reward_fn, name, recorder)
            return recorder
    return None


# --------------------------------------------------------------------------------------------- critic


def _value_head(model: nn.Module) -> nn.Module:
    for name in ("score", "value_head", "classifier"):
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return head
    raise ValueError(f"{type(model).__name__} has no scalar head (score / value_head / classifier)")


def _init_value_head(model: nn.Module, hidden_size: int) -> None:
    """A fresh head: weights ~ N(0, std = 1/(hidden+1)) (OpenRLHF), bias 0."""
    head = _value_head(model)
    with torch.no_grad():
        nn.init.normal_(head.weight, mean=0.0, std=1.0 / (hidden_size + 1))
        if getattr(head, "bias", None) is not None:
            head.bias.zero_()


class _ValueModel(nn.Module):
    """The critic: a sequence-classification model whose scalar head is applied to every hidden state,
    giving V(s_t) at each position, standardised as (v − mean)/std (0/1 unless the reward model's stats)."""

    def __init__(self, model: PreTrainedModel, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(float(mean)), persistent=False)
        self.register_buffer("std", torch.tensor(float(std)), persistent=False)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.model.base_model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        values = _value_head(self.model)(hidden).squeeze(-1).float()
        return (values - self.mean) / self.std


def _same_vocabulary(a: Any, b: Any) -> bool:
    return len(a) == len(b) and a.get_vocab() == b.get_vocab()


def make_critic(
    critic_init: str,
    *,
    policy: PreTrainedModel,
    policy_tokenizer: Any = None,
    reward_model: PreTrainedModel | None = None,
    reward_tokenizer: Any = None,
) -> PreTrainedModel:
    """A trainable sequence-classification critic (spec §2.4 ``critic_init``).

    - ``reward_model``: a copy of the reward model in use; its vocabulary must equal the policy's
      (``ValueError`` otherwise). The trainer standardises its values with the RM's ``mean``/``std``.
    - ``policy``: the policy's backbone plus a fresh head, N(0, 1/(hidden+1)).
    - ``small``: a 2-layer, hidden-64 model of the policy's architecture and vocabulary, fresh head.
    """
    from transformers import AutoModelForSequenceClassification

    from rlcore.models import tokenizer_of

    if critic_init not in CRITIC_INITS:
        raise ValueError(f"unknown critic_init {critic_init!r}; expected one of {', '.join(CRITIC_INITS)}")
    if critic_init == "reward_model":
        if reward_model is None:
            raise ValueError("critic_init='reward_model' needs the reward model")
        if policy_tokenizer is not None and reward_tokenizer is not None:
            ptok, rtok = tokenizer_of(policy_tokenizer), tokenizer_of(reward_tokenizer)
            if not _same_vocabulary(ptok, rtok):
                raise ValueError(
                    f"critic_init='reward_model' needs the policy's vocabulary, but the reward model's "
                    f"tokenizer differs ({len(rtok)} tokens against the policy's {len(ptok)}); use "
                    f"ppo.critic_init=policy or small"
                )
        critic = copy.deepcopy(reward_model)
    else:
        settings = policy.config.to_dict()
        for key in ("architectures", "_name_or_path", "layer_types", "id2label", "label2id", "num_labels"):
            settings.pop(key, None)
        if critic_init == "small":
            settings.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
            if "num_key_value_heads" in settings:
                settings["num_key_value_heads"] = 2
            if "head_dim" in settings:
                settings["head_dim"] = 16
        config = type(policy.config)(**settings, num_labels=1)
        critic = AutoModelForSequenceClassification.from_config(config)
        if critic_init == "policy":
            critic.base_model.load_state_dict(policy.base_model.state_dict())
        _init_value_head(critic, config.hidden_size)
        critic.to(device=policy.device)
    critic.train()
    critic.requires_grad_(True)
    return critic


# ---------------------------------------------------------------------------------------------- trainer


def check_batch_sizes(config: PPOConfig, num_processes: int) -> None:
    """``rollout_batch_size`` must divide by ``micro_rollout_batch_size`` × processes, ``train_batch_size`` by
    ``micro_train_batch_size`` × processes; ``ValueError`` naming them otherwise."""
    for total, micro in (
        ("rollout_batch_size", "micro_rollout_batch_size"),
        ("train_batch_size", "micro_train_batch_size"),
    ):
        t, m = getattr(config, total), getattr(config, micro)
        if t % (m * num_processes):
            raise ValueError(
                f"ppo.{total}={t} is not a multiple of ppo.{micro}={m} × {num_processes} processes"
            )


def _gathered_logprobs(logits: torch.Tensor, targets: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """log softmax(logits)[targets] chunk by chunk over time: logit − logsumexp, never a [B, T, V] log-prob."""
    out = []
    for start in range(0, logits.shape[1], chunk):
        part = logits[:, start : start + chunk].float()
        picked = part.gather(-1, targets[:, start : start + chunk].unsqueeze(-1)).squeeze(-1)
        out.append(picked - torch.logsumexp(part, dim=-1))
    return torch.cat(out, dim=1)


def _position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over attended tokens only, as ``generate`` does with left padding."""
    return (attention_mask.long().cumsum(1) - 1).clamp(min=0)


def _mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


class PPOTrainer:
    """Actor-critic PPO on accelerate (DDP across processes; one process works too).

    ``policy`` is a causal LM (trained), ``critic`` a sequence-classification model (see
    :func:`make_critic`), ``reward_fn`` a TRL-style ``reward_fn(prompts, completions) -> list[float | None]``
    (``None`` counts 0), ``reference`` a frozen model (None: a frozen copy of the policy). ``accelerator``
    defaults to a new ``Accelerator`` (bf16 only on GPU unless ``config.bf16`` says otherwise).
    ``reward_scope`` is ``"micro_batch"`` (one ``reward_fn`` call per micro rollout batch) or
    ``"rollout_batch"`` (one per rollout batch in :meth:`fit`; PPO-C's ``ema_scope``).

    Under PPO-C (a ``reward_fn`` with an ``average`` attribute, r̄) the raw scorer inside is wrapped to record
    the raw scores, and ``reward_average``/``raw_reward`` are logged.
    """

    def __init__(
        self,
        config: PPOConfig,
        *,
        policy: PreTrainedModel,
        tokenizer: Any,
        critic: PreTrainedModel,
        reward_fn: RewardFn,
        reference: PreTrainedModel | None = None,
        accelerator: Accelerator | None = None,
        reward_scope: str = "micro_batch",
    ) -> None:
        from accelerate import Accelerator

        from rlcore.models import eos_token_ids, tokenizer_of

        if reward_scope not in ("micro_batch", "rollout_batch"):
            raise ValueError(f"reward_scope must be 'micro_batch' or 'rollout_batch', got {reward_scope!r}")
        self.config = config
        self.reward_scope = reward_scope
        cuda = torch.cuda.is_available()
        self.bf16 = cuda if config.bf16 is None else bool(config.bf16)
        checkpointing = cuda if config.gradient_checkpointing is None else bool(config.gradient_checkpointing)
        self.accelerator = accelerator or Accelerator(
            cpu=not cuda, mixed_precision="bf16" if self.bf16 else "no"
        )
        check_batch_sizes(config, self.accelerator.num_processes)
        device = self.accelerator.device

        self.tokenizer: PreTrainedTokenizerBase = tokenizer_of(tokenizer)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.eos_ids = sorted(eos_token_ids(policy, self.tokenizer))
        if not self.eos_ids:
            raise ValueError("the policy has no EOS token id (generation_config or tokenizer)")

        reference = copy.deepcopy(policy) if reference is None else reference
        reference.eval().requires_grad_(False)
        self.reference = reference.to(device)
        policy.to(device).train()
        critic.to(device).train()
        if checkpointing:
            for model in (policy, critic):
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        mean, std = 0.0, 1.0
        if config.normalize_reward and getattr(critic.config, "mean", None) is not None:
            mean, std = float(critic.config.mean), float(getattr(critic.config, "std", 1.0) or 1.0)
        value_model = _ValueModel(critic, mean, std).to(device)
        betas = (float(config.adam_betas[0]), float(config.adam_betas[1]))
        actor_opt = torch.optim.AdamW(
            policy.parameters(), lr=config.actor_lr, betas=betas, weight_decay=config.actor_weight_decay
        )
        critic_opt = torch.optim.AdamW(
            value_model.parameters(),
            lr=config.critic_lr,
            betas=betas,
            weight_decay=config.critic_weight_decay,
        )
        self.actor, self.critic, self.actor_opt, self.critic_opt = self.accelerator.prepare(
            policy, value_model, actor_opt, critic_opt
        )
        self._logits_to_keep = "logits_to_keep" in inspect.signature(type(policy).forward).parameters
        self.actor_scheduler: Any = None
        self.critic_scheduler: Any = None
        self.reward_fn = reward_fn
        self._recorder = _find_recorder(reward_fn)
        self.global_step = 0
        self._lrs = (float(config.actor_lr), float(config.critic_lr))

    # -- rollout --------------------------------------------------------------------------------
    def _render(self, prompt: Any) -> str:
        """Chat-template a prompt (messages, or a string as one user turn) with the generation prompt."""
        if isinstance(prompt, str):
            if not self.tokenizer.chat_template:
                return prompt
            prompt = [{"role": "user", "content": prompt}]
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def _logprobs(
        self, model: nn.Module, sequences: torch.Tensor, attention_mask: torch.Tensor, n: int
    ) -> torch.Tensor:
        """log π(a_t | s_t) of the last ``n`` tokens of ``sequences``, gathered."""
        kwargs: dict[str, Any] = {"use_cache": False}
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = n + 1
        with self.accelerator.autocast():
            logits = model(
                input_ids=sequences,
                attention_mask=attention_mask,
                position_ids=_position_ids(attention_mask),
                **kwargs,
            ).logits
        return _gathered_logprobs(logits[:, -(n + 1) : -1], sequences[:, -n:])

    def _values(
        self, critic: nn.Module, sequences: torch.Tensor, attention_mask: torch.Tensor, n: int
    ) -> torch.Tensor:
        """V at the state before each of the last ``n`` actions."""
        with self.accelerator.autocast():
            values = critic(sequences, attention_mask, _position_ids(attention_mask))
        return values[:, -(n + 1) : -1].float()

    @torch.no_grad()
    def _rollout(self, prompts: Sequence[Any]) -> _Rollout:
        cfg, device = self.config, self.accelerator.device
        start = time.perf_counter()
        texts = [self._render(p) for p in prompts]
        enc = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=False, padding_side="left"
        ).to(device)
        # Rollouts use the bare models: no DDP collectives, so processes never wait on each other here.
        actor = self.accelerator.unwrap_model(self.actor)
        critic = self.accelerator.unwrap_model(self.critic)
        actor.eval()
        critic.eval()
        sample = cfg.temperature > 0
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": cfg.max_new_tokens,
            "min_new_tokens": 1,
            "do_sample": sample,
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_ids,
        }
        if sample:
            gen_kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k)
        t0 = time.perf_counter()
        with self.accelerator.autocast():
            out = actor.generate(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **gen_kwargs
            )
        generate_s = time.perf_counter() - t0
        prompt_len = enc["input_ids"].shape[1]
        response = out[:, prompt_len:]
        is_eos = torch.isin(response, torch.tensor(self.eos_ids, device=device))
        after_eos = (is_eos.long().cumsum(1) - is_eos.long()) > 0  # strictly after the first EOS
        action_mask = (~after_eos).long()
        width = max(1, int(action_mask.sum(1).max()))
        response, action_mask = response[:, :width], action_mask[:, :width]
        response = response.masked_fill(action_mask == 0, self.pad_id)
        sequences = torch.cat([enc["input_ids"], response], dim=1)
        attention_mask = torch.cat([enc["attention_mask"], action_mask], dim=1)
        logprobs = self._logprobs(actor, sequences, attention_mask, width)
        ref_logprobs = self._logprobs(self.reference, sequences, attention_mask, width)
        values = self._values(critic, sequences, attention_mask, width)
        lengths = action_mask.sum(1).tolist()
        completions = self.tokenizer.batch_decode(
            [response[i, : lengths[i]] for i in range(len(lengths))], skip_special_tokens=True
        )
        actor.train()
        critic.train()
        return _Rollout(
            list(prompts), completions, sequences, attention_mask, action_mask.float(),
            logprobs, ref_logprobs, values, generate_s, start,
        )  # fmt: skip

    def _score(
        self, prompts: list, completions: list[str]
    ) -> tuple[list[float | None], list[float | None] | None]:
        """One ``reward_fn`` call: (scores, raw scores under PPO-C or None)."""
        scores = list(self.reward_fn(prompts, completions))
        if len(scores) != len(completions):
            raise ValueError(f"reward_fn returned {len(scores)} rewards for {len(completions)} completions")
        raw = (
            list(self._recorder.last)
            if self._recorder is not None and self._recorder.last is not None
            else None
        )
        return scores, raw

    @torch.no_grad()
    def _finish(
        self, rollout: _Rollout, scores: list[float | None], raw: list[float | None] | None
    ) -> Experience:
        from calibrated_ppo.rewards import parse_confidence

        cfg = self.config
        mask = rollout.action_mask
        score_t = torch.tensor([0.0 if s is None else float(s) for s in scores], device=mask.device)
        rewards = token_level_rewards(
            score_t,
            rollout.logprobs,
            rollout.ref_logprobs,
            mask,
            kl_coef=cfg.kl_coef,
            reward_clip=cfg.reward_clip,
        )
        advantages, returns = gae(rewards, rollout.values, mask, gamma=cfg.gamma, lam=cfg.lam)
        confidences = []
        for text in rollout.completions:
            c = parse_confidence(text, default=math.nan)
            confidences.append(None if math.isnan(c) else float(c))
        average = getattr(self.reward_fn, "average", None)
        info = {
            "prompts": rollout.prompts,
            "completions": rollout.completions,
            "confidences": confidences,
            "raw_scores": raw,
            "reward_average": None if average is None else float(average),
            "kl": _masked_mean(rollout.logprobs - rollout.ref_logprobs, mask, dim=1),
            "response_length": mask.sum(1),
            "generate_s": rollout.generate_s,
            "total_s": time.perf_counter() - rollout.start,
        }
        return Experience(
            rollout.sequences, rollout.attention_mask, mask, rollout.logprobs, rollout.ref_logprobs,
            rollout.values, rewards, advantages, returns, score_t, info,
        )  # fmt: skip

    def make_experience(self, prompts: Sequence[Any]) -> Experience:
        """One micro rollout batch: chat-template and left-pad ``prompts``, sample on the live policy, compute
        policy/reference log-probs and critic values, call ``reward_fn`` once on the decoded completions
        (special tokens skipped), then ``token_level_rewards`` and ``gae``."""
        rollout = self._rollout(prompts)
        scores, raw = self._score(rollout.prompts, rollout.completions)
        return self._finish(rollout, scores, raw)

    def make_experiences(self, micro_batches: Sequence[Sequence[Any]]) -> list[Experience]:
        """Several micro rollout batches: one ``reward_fn`` call each (``reward_scope="micro_batch"``) or one
        call for all of them (``"rollout_batch"``)."""
        if self.reward_scope == "micro_batch":
            return [self.make_experience(batch) for batch in micro_batches]
        rollouts = [self._rollout(batch) for batch in micro_batches]
        scores, raw = self._score(
            [p for r in rollouts for p in r.prompts], [c for r in rollouts for c in r.completions]
        )
        out, offset = [], 0
        for rollout in rollouts:
            n = len(rollout.completions)
            out.append(
                self._finish(
                    rollout, scores[offset : offset + n], None if raw is None else raw[offset : offset + n]
                )
            )
            offset += n
        return out

    # -- update ---------------------------------------------------------------------------------
    def _accumulation(self) -> int:
        cfg = self.config
        return max(1, cfg.train_batch_size // (cfg.micro_train_batch_size * self.accelerator.num_processes))

    def _steps_per_update(self, items: int) -> int:
        micro_steps = math.ceil(items / self.config.micro_train_batch_size)
        return self.config.ppo_epochs * math.ceil(micro_steps / self._accumulation())

    def set_total_steps(self, steps: int) -> None:
        """Build the cosine-with-floor schedulers for ``steps`` optimiser steps (warm-up ceil(warmup_ratio·steps))."""
        from transformers import get_scheduler

        cfg = self.config
        steps = max(1, int(steps))
        warmup = math.ceil(cfg.warmup_ratio * steps)
        kwargs = {"scheduler_specific_kwargs": {"min_lr_rate": cfg.min_lr_ratio}}
        self.actor_scheduler = get_scheduler(
            "cosine_with_min_lr", self.actor_opt, num_warmup_steps=warmup, num_training_steps=steps, **kwargs
        )
        self.critic_scheduler = get_scheduler(
            "cosine_with_min_lr", self.critic_opt, num_warmup_steps=warmup, num_training_steps=steps, **kwargs
        )

    def _whitened_advantages(self, buffer: Sequence[Experience]) -> list[torch.Tensor]:
        """Advantages whitened over the whole buffer of every process (sums all-reduced)."""
        acc = self.accelerator
        device = acc.device
        total = torch.stack([
            sum((e.advantages * e.action_mask).sum() for e in buffer).double(),
            sum(e.action_mask.sum() for e in buffer).double(),
        ]).to(device)  # fmt: skip
        total = acc.reduce(total, reduction="sum")
        if float(total[1]) == 0:
            raise ValueError("whiten: the buffer has no action tokens")
        mean = total[0] / total[1]
        squares = sum((((e.advantages.double() - mean) ** 2) * e.action_mask).sum() for e in buffer)
        var = acc.reduce(squares.reshape(1).to(device), reduction="sum")[0] / total[1]
        scale = torch.rsqrt(torch.clamp(var, min=1e-8))
        return [((e.advantages.double() - mean) * scale * e.action_mask).float() for e in buffer]

    def _items(
        self, buffer: Sequence[Experience], advantages: Sequence[torch.Tensor]
    ) -> list[dict[str, torch.Tensor]]:
        items = []
        for exp, adv in zip(buffer, advantages, strict=True):
            width = exp.action_mask.shape[1]
            prompt_len = exp.sequences.shape[1] - width
            for i in range(len(exp)):
                n = int(exp.action_mask[i].sum())
                items.append({
                    "prompt": exp.sequences[i, :prompt_len][exp.attention_mask[i, :prompt_len].bool()],
                    "response": exp.sequences[i, prompt_len : prompt_len + n],
                    "logprobs": exp.logprobs[i, :n],
                    "values": exp.values[i, :n],
                    "returns": exp.returns[i, :n],
                    "advantages": adv[i, :n],
                })  # fmt: skip
        return items

    def _collate(self, items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        device = self.accelerator.device
        p_len = max(len(it["prompt"]) for it in items)
        r_len = max(len(it["response"]) for it in items)
        b = len(items)
        prompt = torch.full((b, p_len), self.pad_id, dtype=torch.long, device=device)
        prompt_mask = torch.zeros((b, p_len), dtype=torch.long, device=device)
        response = torch.full((b, r_len), self.pad_id, dtype=torch.long, device=device)
        action_mask = torch.zeros((b, r_len), device=device)
        arrays = {
            k: torch.zeros((b, r_len), device=device) for k in ("logprobs", "values", "returns", "advantages")
        }
        for i, it in enumerate(items):
            p, n = len(it["prompt"]), len(it["response"])
            prompt[i, p_len - p :] = it["prompt"]
            prompt_mask[i, p_len - p :] = 1
            response[i, :n] = it["response"]
            action_mask[i, :n] = 1
            for k, v in arrays.items():
                v[i, :n] = it[k]
        return {
            "sequences": torch.cat([prompt, response], dim=1),
            "attention_mask": torch.cat([prompt_mask, action_mask.long()], dim=1),
            "action_mask": action_mask,
            **arrays,
        }

    def _step(self) -> None:
        acc, cfg = self.accelerator, self.config
        for model, opt, sched in (
            (self.actor, self.actor_opt, self.actor_scheduler),
            (self.critic, self.critic_opt, self.critic_scheduler),
        ):
            acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
        self.global_step += 1

    def update(self, buffer: Sequence[Experience]) -> dict[str, float | None]:
        """PPO on a rollout buffer: whiten advantages over the whole buffer (all processes), then
        ``ppo_epochs`` passes over shuffled minibatches of ``micro_train_batch_size``, accumulating to
        ``train_batch_size`` (all processes together); each optimiser step clips actor and critic gradients at
        ``max_grad_norm``. Returns the metrics of spec §2.4, averaged over processes."""
        if not buffer:
            raise ValueError("update needs a non-empty buffer")
        acc, cfg = self.accelerator, self.config
        items = self._items(buffer, self._whitened_advantages(buffer))
        if self.actor_scheduler is None:
            self.set_total_steps(self._steps_per_update(len(items)))
        accumulation = self._accumulation()
        sums = {"policy_loss": [0.0, 0], "value_loss": [0.0, 0], "clip_frac": [0.0, 0]}
        self.actor.train()
        self.critic.train()
        for _epoch in range(cfg.ppo_epochs):
            order = torch.randperm(len(items)).tolist()
            batches = [
                order[i : i + cfg.micro_train_batch_size]
                for i in range(0, len(order), cfg.micro_train_batch_size)
            ]
            for k, batch in enumerate(batches):
                sync = (k + 1) % accumulation == 0 or k == len(batches) - 1
                data = self._collate([items[i] for i in batch])
                with contextlib.ExitStack() as stack:
                    if not sync:
                        stack.enter_context(acc.no_sync(self.actor))
                        stack.enter_context(acc.no_sync(self.critic))
                    n = data["action_mask"].shape[1]
                    logprobs = self._logprobs(self.actor, data["sequences"], data["attention_mask"], n)
                    p_loss = policy_loss(
                        logprobs,
                        data["logprobs"],
                        data["advantages"],
                        data["action_mask"],
                        clip_eps=cfg.clip_eps,
                    )
                    acc.backward(p_loss / accumulation)
                    values = self._values(self.critic, data["sequences"], data["attention_mask"], n)
                    v_loss = value_loss(
                        values, data["values"], data["returns"], data["action_mask"], clip_eps=cfg.value_clip
                    )
                    acc.backward(v_loss / accumulation)
                with torch.no_grad():
                    ratio = torch.exp(logprobs.detach() - data["logprobs"])
                    for key, value in (
                        ("policy_loss", p_loss), ("value_loss", v_loss),
                        ("clip_frac", _clip_frac(ratio, data["action_mask"], cfg.clip_eps)),
                    ):  # fmt: skip
                        sums[key][0] += float(value)
                        sums[key][1] += 1
                if sync:
                    self._lrs = (self.actor_opt.param_groups[0]["lr"], self.critic_opt.param_groups[0]["lr"])
                    self._step()
        return self._metrics(buffer, sums)

    def _metrics(self, buffer: Sequence[Experience], sums: dict[str, list]) -> dict[str, float | None]:
        pairs: dict[str, list] = {k: list(v) for k, v in sums.items()}
        scores = torch.cat([e.scores.float().cpu() for e in buffer])
        pairs["reward"] = [float(scores.sum()), len(scores)]
        pairs["kl"] = [float(sum(((e.logprobs - e.ref_logprobs) * e.action_mask).sum() for e in buffer)),
                       float(sum(e.action_mask.sum() for e in buffer))]  # fmt: skip
        pairs["response_length"] = [float(sum(e.action_mask.sum() for e in buffer)), len(scores)]
        confidences = [c for e in buffer for c in e.info["confidences"]]
        stated = [c for c in confidences if c is not None]
        pairs["confidence_rate"] = [float(len(stated)), len(confidences)]
        pairs["mean_confidence"] = [float(sum(stated)), len(stated)]
        ppo_c = self._recorder is not None or any(e.info.get("reward_average") is not None for e in buffer)
        if ppo_c:
            raw = [r for e in buffer for r in (e.info.get("raw_scores") or []) if r is not None]
            pairs["raw_reward"] = [float(sum(raw)), len(raw)]
        names = list(pairs)
        totals = torch.tensor([[float(pairs[k][0]), float(pairs[k][1])] for k in names], dtype=torch.float64)
        totals = self.accelerator.reduce(totals.to(self.accelerator.device), reduction="sum").cpu()
        metrics: dict[str, float | None] = {
            k: (float(totals[i, 0] / totals[i, 1]) if totals[i, 1] > 0 else None) for i, k in enumerate(names)
        }
        actor_lr, critic_lr = self._lrs  # the rates of the last optimiser step
        metrics["actor_lr"], metrics["critic_lr"] = float(actor_lr), float(critic_lr)
        if ppo_c:
            average = getattr(self.reward_fn, "average", None)
            metrics["reward_average"] = None if average is None else float(average)
        return metrics

    # -- loop -----------------------------------------------------------------------------------
    def fit(self, prompts: Sequence[Any], run: RunDir | None = None) -> dict[str, Any]:
        """``num_episodes`` × rollout batches of ``rollout_batch_size`` prompts (shuffled per episode; each
        process takes its share in micro rollout batches of ``micro_rollout_batch_size``), one :meth:`update`
        per rollout batch. Logs each update's metrics to ``run``'s metrics.jsonl and the samples (prompt,
        completion, confidence, raw reward, final reward) to samples.jsonl (main process). Returns the last
        update's metrics with ``step`` and ``updates``."""
        cfg, acc = self.config, self.accelerator
        prompts = list(prompts)
        per_batch = cfg.rollout_batch_size
        n_batches = len(prompts) // per_batch
        if n_batches == 0:
            raise ValueError(f"{len(prompts)} prompts: fewer than ppo.rollout_batch_size={per_batch}")
        world, rank = acc.num_processes, acc.process_index
        per_process = per_batch // world
        self.set_total_steps(cfg.num_episodes * n_batches * self._steps_per_update(per_process))
        last: dict[str, Any] = {}
        updates = 0
        for episode in range(cfg.num_episodes):
            order = list(range(len(prompts)))
            random.Random(episode).shuffle(order)  # the same permutation on every process
            for b in range(n_batches):
                batch = [prompts[i] for i in order[b * per_batch : (b + 1) * per_batch]]
                local = batch[rank * per_process : (rank + 1) * per_process]
                micro = [
                    local[i : i + cfg.micro_rollout_batch_size]
                    for i in range(0, len(local), cfg.micro_rollout_batch_size)
                ]
                buffer = self.make_experiences(micro)
                metrics = self.update(buffer)
                updates += 1
                last = {"step": updates, "episode": episode, **metrics}
                if run is not None and acc.is_main_process:
                    run.log_metrics(last)
                    run.log_samples(self._sample_rows(buffer, updates))
        return {**last, "updates": updates}

    @staticmethod
    def _sample_rows(buffer: Sequence[Experience], step: int) -> list[dict[str, Any]]:
        rows = []
        for exp in buffer:
            raw = exp.info.get("raw_scores")
            for i, completion in enumerate(exp.info["completions"]):
                score = float(exp.scores[i])
                rows.append({
                    "step": step,
                    "prompt": exp.info["prompts"][i],
                    "completion": completion,
                    "confidence": exp.info["confidences"][i],
                    "raw_reward": raw[i] if raw is not None else score,
                    "reward": score,
                })  # fmt: skip
        return rows

    def save(self, path: str | Path) -> Path:
        """Save the policy and tokenizer to ``path`` (and the critic to ``path/critic`` when ``save_critic``)."""
        acc = self.accelerator
        path = Path(path)
        acc.wait_for_everyone()
        if acc.is_main_process:
            acc.unwrap_model(self.actor).save_pretrained(path)
            self.tokenizer.save_pretrained(path)
            if self.config.save_critic:
                acc.unwrap_model(self.critic).model.save_pretrained(path / "critic")
                self.tokenizer.save_pretrained(path / "critic")
        acc.wait_for_everyone()
        return path


# ------------------------------------------------------------------------------------------- wiring


def filter_prompts(prompts: Sequence[Any], tokenizer: Any, max_len: int) -> tuple[list[Any], int]:
    """Drop prompts whose chat-templated text is longer than ``max_len`` tokens; returns (kept, skipped)."""
    from rlcore.models import tokenizer_of

    tok = tokenizer_of(tokenizer)
    kept = []
    for prompt in prompts:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        if tok.chat_template:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            text = prompt if isinstance(prompt, str) else "".join(m["content"] for m in messages)
        if len(tok(text, add_special_tokens=False)["input_ids"]) <= max_len:
            kept.append(prompt)
    return kept, len(prompts) - len(kept)


def train_ppo(config: Any, *, method: str, run_dir: str | Path | RunDir) -> Path:
    """PPO with the reward of ``method`` (spec §2.4): ``ppo`` = ``RewardModelScorer(reward_model)``, ``ppo-m`` =
    ``RewardModelScorer(calibrated_reward_model)``, ``ppo-c`` = ``CalibratedReward(RewardModelScorer(
    reward_model), **calibration)`` with r̄ starting at ``calibration.initial_average``. ``config`` is a
    ``CalibratedPPOConfig``. Writes ``policy/`` (and metrics.jsonl, samples.jsonl) into ``run_dir`` and returns
    the policy path. ``ValueError`` for an unknown method, batch sizes that do not divide by the processes,
    ``critic_init=reward_model`` with another vocabulary, or no prompt left after length filtering."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    from accelerate import Accelerator
    from transformers import set_seed

    from calibrated_ppo.data import load_prompts
    from calibrated_ppo.rewards import CalibratedReward, RewardModelScorer, load_reward_model
    from rlcore.models import load_model
    from rlcore.runs import RunDir

    ppo, calibration = config.ppo, config.calibration
    cuda = torch.cuda.is_available()
    bf16 = cuda if ppo.bf16 is None else bool(ppo.bf16)
    accelerator = Accelerator(cpu=not cuda, mixed_precision="bf16" if bf16 else "no")
    check_batch_sizes(ppo, accelerator.num_processes)
    set_seed(config.seed)

    prompts = load_prompts(ppo.prompts, input_key=ppo.input_key, limit=ppo.max_samples)
    policy, processor = load_model(ppo.policy, device=accelerator.device)
    prompts, skipped = filter_prompts(prompts, processor, ppo.max_prompt_len)
    if skipped:
        log.warning(
            "skipped %d prompts longer than ppo.max_prompt_len=%d tokens", skipped, ppo.max_prompt_len
        )
    if not prompts:
        raise ValueError(
            f"no prompt left from {ppo.prompts} after dropping those over max_prompt_len={ppo.max_prompt_len}"
        )

    rm_spec = ppo.calibrated_reward_model if method == "ppo-m" else ppo.reward_model
    reward_model, reward_tokenizer = load_reward_model(rm_spec)
    critic = make_critic(
        ppo.critic_init, policy=policy, policy_tokenizer=processor,
        reward_model=reward_model, reward_tokenizer=reward_tokenizer,
    )  # fmt: skip
    reward_model.to(accelerator.device).eval().requires_grad_(False)
    scorer = RewardModelScorer(reward_model, reward_tokenizer, normalize=ppo.normalize_reward)
    reward_fn: RewardFn = scorer
    reward_scope = "micro_batch"
    if method == "ppo-c":
        reward_fn = CalibratedReward(
            _RecordingScorer(scorer),
            alpha=calibration.alpha,
            w=calibration.w,
            mode=calibration.mode,
            init_average=calibration.initial_average(
                ppo.normalize_reward, getattr(reward_model.config, "mean", None)
            ),
            reward_clip=ppo.reward_clip,
            default_confidence=calibration.default_confidence,
            which=calibration.which,
        )
        reward_scope = calibration.ema_scope
    reference = load_model(ppo.reference, device=accelerator.device)[0] if ppo.reference else None
    set_seed(
        config.seed + accelerator.process_index
    )  # same weights everywhere, different samples per process
    trainer = PPOTrainer(
        ppo, policy=policy, tokenizer=processor, critic=critic, reward_fn=reward_fn,
        reference=reference, accelerator=accelerator, reward_scope=reward_scope,
    )  # fmt: skip
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir, package="calibrated-ppo")
    trainer.fit(prompts, run=run)
    return trainer.save(run.path / "policy")
