"""PPO-C pieces and the reward functions (spec §2.2).

Symbols follow the paper: r is the reward model's score of a response, c the stated confidence (0..10) and
ĉ = c/10, r̄ the exponential moving average (EMA) of past rewards with rate α, and w the adjustment weight.
PPO-C replaces r by

- ``difference``: r + w·(r − r̄)·(ĉ − 0.5), or
- ``threshold``:  r + w·|r|·(ĉ − 0.5) when r ≥ r̄, else r − w·|r|·(ĉ − 0.5).

Reward functions have TRL's signature ``f(prompts, completions, **kwargs) -> list[float | None]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlcore.errors import ModelNotFound
from rlcore.models import load_model, tokenizer_of
from rlcore.rewards import completion_text

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "MODES",
    "CalibratedReward",
    "RewardModelScorer",
    "adjust_reward",
    "ema_update",
    "load_reward_model",
    "parse_confidence",
    "render_reward_text",
    "strip_confidence",
]

MODES = ("difference", "threshold")
"""The PPO-C adjustment formulas."""

_WHICH = ("first", "last")
# `Confidence:`, optional whitespace (newlines included), a number: digits, optionally `.` and more digits.
# No sign is ever part of the number, so "Confidence: -3" does not match.
_CONFIDENCE = re.compile(r"confidence:\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
# The same, then an optional "/digits", optional whitespace, any run of , . ! ? and any run of spaces.
_CONFIDENCE_TAIL = re.compile(r"confidence:\s*\d+(?:\.\d+)?(?:/\d+)?\s*[,.!?]*[ ]*", re.IGNORECASE)


# ------------------------------------------------------------------------------------- parse and strip


def parse_confidence(text: str, *, default: float = 5.0, which: str = "first") -> float:
    """The stated confidence c in ``text``, clamped to [0, 10]; ``default`` when none is stated.

    Matches ``Confidence:`` (any case), optional whitespace, then a number (digits, optionally ``.`` and
    digits); ``which`` picks the ``"first"`` or ``"last"`` match. ``7/10`` reads as 7; a sign is never part of
    the number. Raises ``TypeError`` for a non-string ``text`` and ``ValueError`` for an unknown ``which``.
    """
    if which not in _WHICH:
        raise ValueError(f"which must be one of {', '.join(_WHICH)}, got {which!r}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    matches = _CONFIDENCE.findall(text)
    if not matches:
        return float(default)
    value = float(matches[0] if which == "first" else matches[-1])
    return min(10.0, max(0.0, value))


def strip_confidence(text: str) -> str:
    """``text`` without any stated confidence, so the reward model never sees it.

    Deletes every occurrence (any case) of ``Confidence:``, optional whitespace, the number, an optional
    ``/digits``, optional whitespace, any run of ``, . ! ?`` and any run of spaces, then strips trailing
    whitespace. Text without a match is returned unchanged (not stripped). ``TypeError`` for a non-string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    stripped, count = _CONFIDENCE_TAIL.subn("", text)
    return stripped.rstrip() if count else text


# --------------------------------------------------------------------------------------- EMA and PPO-C


def ema_update(average: float, rewards: Iterable[float], alpha: float = 0.1) -> float:
    """The EMA step r̄ ← α·mean(rewards) + (1 − α)·r̄; empty ``rewards`` leave r̄ unchanged.

    Raises ``ValueError`` when α is outside [0, 1].
    """
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    values = [float(r) for r in _flat(rewards)]
    if not values:
        return float(average)
    return alpha * (math.fsum(values) / len(values)) + (1.0 - alpha) * float(average)


def _flat(rewards: Iterable[float]) -> Iterable[Any]:
    tolist = getattr(rewards, "tolist", None)  # numpy arrays and tensors
    if callable(tolist):
        rewards = tolist()
        if not isinstance(rewards, list):  # a 0-dim array
            return [rewards]
    return rewards


def adjust_reward(
    reward: float, confidence: float, average: float, *, w: float = 2.0, mode: str = "difference"
) -> float:
    """The PPO-C reward for one response, with ĉ = confidence/10 and r̄ = ``average``.

    - ``difference``: r + w·(r − r̄)·(ĉ − 0.5);
    - ``threshold``: r + w·|r|·(ĉ − 0.5) if r ≥ r̄, else r − w·|r|·(ĉ − 0.5).

    Confidence 5 is neutral in both modes. Raises ``ValueError`` for another ``mode``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    r, c_hat, r_bar, w = float(reward), float(confidence) / 10.0, float(average), float(w)
    if mode == "difference":
        return r + w * (r - r_bar) * (c_hat - 0.5)
    sign = 1.0 if r >= r_bar else -1.0
    return r + sign * w * abs(r) * (c_hat - 0.5)


def _completion_text(completion: Any) -> str:
    if not isinstance(completion, str | list | dict):
        raise TypeError(f"a completion must be a string or chat messages, got {type(completion).__name__}")
    return completion_text(completion)


class CalibratedReward:
    """PPO-C: the reward model's score adjusted by the stated confidence and the EMA r̄ of past rewards.

    One call scores one batch:

    1. each completion's text gives c = :func:`parse_confidence` and s = :func:`strip_confidence`;
    2. ``scorer(prompts, [s, ...], **kwargs)`` is called exactly once (prompts and kwargs unchanged), so the
       scorer never sees the confidence;
    3. scores are clamped to ±``reward_clip`` (None: no clamp);
    4. r̄ (``average``) is updated with :func:`ema_update` (rate α) over the clamped scores *before* adjusting,
       so the current batch counts;
    5. each item returns :func:`adjust_reward` (r, c, r̄, w, mode), with no second clamp.

    A ``None`` score gives ``None`` and is left out of the mean (all ``None``: r̄ unchanged); an empty batch
    returns ``[]`` without calling the scorer. After each call ``last_scores`` holds the clamped scores and
    ``last_confidences`` the parsed confidences, for logging.
    """

    def __init__(
        self,
        scorer: Callable[..., Sequence[float | None]],
        *,
        alpha: float = 0.1,
        w: float = 2.0,
        mode: str = "difference",
        init_average: float = 0.0,
        reward_clip: float | None = 10.0,
        default_confidence: float = 5.0,
        which: str = "first",
    ) -> None:
        if not callable(scorer):
            raise TypeError("scorer must be a reward function f(prompts, completions, **kwargs)")
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if which not in _WHICH:
            raise ValueError(f"which must be one of {', '.join(_WHICH)}, got {which!r}")
        if reward_clip is not None and not float(reward_clip) > 0:
            raise ValueError(f"reward_clip must be positive or None, got {reward_clip}")
        self.scorer = scorer
        self.alpha = float(alpha)
        self.w = float(w)
        self.mode = mode
        self.average = float(init_average)
        """r̄, the EMA of the clamped scores of every batch so far."""
        self.reward_clip = None if reward_clip is None else float(reward_clip)
        self.default_confidence = float(default_confidence)
        self.which = which
        self.last_scores: list[float | None] = []
        self.last_confidences: list[float] = []
        self.__name__ = "ppo_c"

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        texts = [_completion_text(c) for c in completions]
        confidences = [parse_confidence(t, default=self.default_confidence, which=self.which) for t in texts]
        if not texts:
            self.last_scores, self.last_confidences = [], []
            return []
        raw = list(self.scorer(prompts, [strip_confidence(t) for t in texts], **kwargs))
        if len(raw) != len(texts):
            raise ValueError(f"the scorer returned {len(raw)} scores for {len(texts)} completions")
        scores = [None if s is None else self._clamp(float(s)) for s in raw]
        self.average = ema_update(self.average, [s for s in scores if s is not None], self.alpha)
        self.last_scores, self.last_confidences = scores, confidences
        return [
            None if s is None else adjust_reward(s, c, self.average, w=self.w, mode=self.mode)
            for s, c in zip(scores, confidences, strict=True)
        ]

    def _clamp(self, score: float) -> float:
        if self.reward_clip is None:
            return score
        return min(self.reward_clip, max(-self.reward_clip, score))

    def __repr__(self) -> str:
        return (
            f"CalibratedReward(alpha={self.alpha}, w={self.w}, mode={self.mode!r}, average={self.average:.6g}, "
            f"reward_clip={self.reward_clip})"
        )


# ------------------------------------------------------------------------------------ reward model scoring


def render_reward_text(tokenizer: PreTrainedTokenizerBase, prompt: Any, completion: Any) -> str:
    """The text a reward model scores for (prompt, completion), ending in EOS.

    A chat prompt (a list of messages) is rendered with the tokenizer's chat template as
    prompt + ``{"role": "assistant", "content": completion}``; a text prompt as prompt + completion. A
    completion may be a string or chat messages (its last assistant text is used). The EOS token is appended
    unless the text already ends with it; whitespace the template writes after a final EOS (ChatML's ``"\\n"``)
    is dropped, so EOS is the last token either way. ``TypeError`` for other prompt or completion types.
    """
    text = _completion_text(completion)
    if isinstance(prompt, str):
        rendered = prompt + text
    elif isinstance(prompt, list | tuple) and all(isinstance(m, dict) for m in prompt):
        rendered = tokenizer.apply_chat_template(
            [*prompt, {"role": "assistant", "content": text}], tokenize=False
        )
    else:
        raise TypeError(f"a prompt must be a string or chat messages, got {type(prompt).__name__}")
    eos = tokenizer.eos_token
    if eos:
        if rendered.rstrip().endswith(eos):
            rendered = rendered.rstrip()
        else:
            rendered += eos
    return rendered


class RewardModelScorer:
    """A sequence-classification reward model as a reward function (PPO and PPO-M).

    Each (prompt, completion) is rendered by :func:`render_reward_text`, tokenized (truncated to
    ``max_length``), right-padded in batches of ``batch_size`` and scored by the model's head on the hidden
    state at the last attended position, attention_mask.sum(-1) − 1. This never uses transformers' pad-id
    pooling, which goes wrong when the pad token equals EOS. With ``normalize`` the score s becomes
    (s − mean)/std, where missing ``mean``/``std`` come from ``model.config.mean``/``std`` (written by
    reward-model training), else 0/1. Scoring runs without gradients in eval mode (the model's training flag
    is restored afterwards).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: Any,
        *,
        normalize: bool = True,
        mean: float | None = None,
        std: float | None = None,
        batch_size: int = 8,
        max_length: int = 4096,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        head = getattr(model, "score", None)
        if head is None or not callable(head):
            raise TypeError(
                f"{type(model).__name__} has no `score` head; pass a sequence-classification reward model"
            )
        self.model = model
        self.tokenizer = tokenizer_of(tokenizer)
        self.normalize = normalize
        config = model.config
        self.mean = float(mean if mean is not None else (getattr(config, "mean", None) or 0.0))
        config_std = getattr(config, "std", None)
        self.std = float(std if std is not None else (config_std if config_std is not None else 1.0))
        if normalize and not self.std > 0:
            raise ValueError(f"std must be positive to normalize rewards, got {self.std}")
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.__name__ = "reward_model"

    def token_ids(self, prompt: Any, completion: Any) -> list[int]:
        """The token ids scored for one (prompt, completion), truncated to ``max_length``."""
        text = render_reward_text(self.tokenizer, prompt, completion)
        bos = self.tokenizer.bos_token
        # A chat template that writes BOS itself must not get a second one.
        add_special = not (bos and text.startswith(bos))
        return self.tokenizer(
            text, add_special_tokens=add_special, truncation=True, max_length=self.max_length
        )["input_ids"]

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        ids = [self.token_ids(p, c) for p, c in zip(prompts, completions, strict=True)]
        scores: list[float | None] = []
        for start in range(0, len(ids), self.batch_size):
            scores.extend(self.score_ids(ids[start : start + self.batch_size]))
        return scores

    def score_ids(self, batch: Sequence[Sequence[int]]) -> list[float]:
        """Raw (un-normalized if ``normalize`` is off) scores of token-id sequences, one forward pass."""
        import torch

        if not batch:
            return []
        if any(len(seq) == 0 for seq in batch):
            raise ValueError("cannot score an empty token sequence")
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        device = next(self.model.parameters()).device
        width = max(len(seq) for seq in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(batch):  # right padding: ones, then zeros
            input_ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
            attention_mask[row, : len(seq)] = 1
        values = self._last_attended_scores(input_ids.to(device), attention_mask.to(device))
        out = values.float().cpu().tolist()
        if self.normalize:
            out = [(s - self.mean) / self.std for s in out]
        return out

    def _last_attended_scores(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        import torch

        model = self.model
        backbone = getattr(model, model.base_model_prefix)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
                states = hidden.last_hidden_state if hasattr(hidden, "last_hidden_state") else hidden[0]
                last = attention_mask.sum(-1) - 1
                rows = torch.arange(states.shape[0], device=states.device)
                return model.score(states[rows, last])[:, 0]
        finally:
            model.train(was_training)

    def __repr__(self) -> str:
        return (
            f"RewardModelScorer({type(self.model).__name__}, normalize={self.normalize}, mean={self.mean:.6g}, "
            f"std={self.std:.6g}, batch_size={self.batch_size}, max_length={self.max_length})"
        )


# ------------------------------------------------------------------------------------ loading a reward model

_VALUE_HEAD = "value_head.weight"  # OpenRLHF's reward head (OpenLLMAI/*, HINT-lab/* checkpoints)


def load_reward_model(
    spec: str, *, dtype: torch.dtype | str | None = None, device: torch.device | str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``(model, tokenizer)`` of a reward model: ``rlcore.models.load_model(spec,
    task="sequence-classification")`` with its head checked.

    A checkpoint (local directory or hub id) must store the head: either the model's own head weights
    (``score.weight``) or OpenRLHF's ``value_head.weight``, which is copied into ``score.weight``. A checkpoint
    without a head raises :class:`~rlcore.errors.ModelNotFound` instead of giving a silently random head; so
    do ``gguf:``/``embedded:`` specs (language models without a reward head) and a ``tiny:`` spec that is not a
    sequence classifier. ``tiny:qwen2-reward`` loads as is.
    """
    kind = spec.strip().partition(":")[0] if isinstance(spec, str) else ""
    if kind in ("gguf", "embedded"):
        raise ModelNotFound(
            f"reward model {spec!r}: a GGUF language model has no reward head (score.weight); "
            f"pass a trained reward-model checkpoint or tiny:qwen2-reward"
        )
    model, processor = load_model(spec, task="sequence-classification", dtype=dtype, device=device)
    tokenizer = tokenizer_of(processor)
    if getattr(model, "score", None) is None:
        raise ModelNotFound(
            f"reward model {spec!r}: {type(model).__name__} is not a sequence classifier with a reward head"
        )
    if kind == "tiny":
        return model, tokenizer
    directory = _checkpoint_dir(spec)
    keys = _checkpoint_keys(directory) if directory is not None else None
    if keys is None:
        raise ModelNotFound(
            f"reward model {spec!r}: could not find its weight files to check for a reward head; "
            f"pass a local checkpoint directory"
        )
    prefix = model.base_model_prefix + "."
    head_keys = [k for k in model.state_dict() if not k.startswith(prefix)]
    if head_keys and all(k in keys for k in head_keys):
        return model, tokenizer
    if _VALUE_HEAD in keys:
        import torch

        weight = _read_tensor(keys[_VALUE_HEAD], _VALUE_HEAD)
        target = model.score.weight
        if tuple(weight.shape) != tuple(target.shape):
            raise ModelNotFound(
                f"reward model {spec!r}: value_head.weight has shape {tuple(weight.shape)}, "
                f"expected {tuple(target.shape)}"
            )
        with torch.no_grad():
            target.copy_(weight.to(dtype=target.dtype, device=target.device))
        return model, tokenizer
    raise ModelNotFound(
        f"reward model {spec!r}: the checkpoint has no reward head (neither {', '.join(head_keys)} nor "
        f"{_VALUE_HEAD}); a sequence classifier loaded from it would score with a random head. "
        f"Pass a trained reward model"
    )


def _checkpoint_dir(spec: str) -> Path | None:
    """The local directory holding the checkpoint's files: the spec itself, or its Hugging Face cache snapshot
    (load_model has just downloaded the weights there)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(spec, "config.json")
    return Path(cached).parent if isinstance(cached, str) else None


def _checkpoint_keys(directory: Path) -> dict[str, Path] | None:
    """Every stored weight name mapped to the file holding it, or None if no weight file is found."""
    import json

    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = directory / index_name
        if index.is_file():
            weight_map = json.loads(index.read_text()).get("weight_map", {})
            return {key: directory / file for key, file in weight_map.items()}
    files = sorted(directory.glob("*.safetensors"))
    if files:
        from safetensors import safe_open

        keys: dict[str, Path] = {}
        for file in files:
            with safe_open(str(file), framework="pt") as handle:
                keys.update(dict.fromkeys(handle.keys(), file))
        return keys
    files = sorted(directory.glob("*.bin"))
    if files:
        import torch

        keys = {}
        for file in files:
            state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
            keys.update(dict.fromkeys(state, file))
        return keys
    return None


def _read_tensor(file: Path, key: str) -> torch.Tensor:
    if file.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(file), framework="pt") as handle:
            return handle.get_tensor(key)
    import torch

    return torch.load(file, map_location="cpu", weights_only=True, mmap=True)[key]
