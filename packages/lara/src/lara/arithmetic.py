"""Logit arithmetic (spec §2 ``lara.arithmetic``): the combination rule and the multi-group decoding engine.

LARA splits N demonstrations into G groups of k, runs the model once per group g_i on the prompt
``group_prefix(g_i) + format_query(x)`` and combines the G next-token distributions as a weighted product of
experts. With ℓ_i = log_softmax(logits_i) (clamped below at :data:`MIN_LOGPROB`) and the normalised weights
w̃ = w / Σ w, the combined distribution is

    s = Σ_i w̃_i ℓ_i,        log p = s − logsumexp_V(s).

Groups with w̃_i = 0 are never run (B-LARA's saving). :class:`GroupedLM` does this on any Hugging Face causal
LM: left-padded batched prefill, incremental decoding with a KV cache, optional per-group prefix KV caching,
and exact counters of the work done (:class:`EngineStats`, spec §9).
"""

from __future__ import annotations

import copy
import inspect
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lara.prompts import format_query, group_prefix

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "MIN_LOGPROB",
    "PREFIX_CACHE_SIZE",
    "EngineStats",
    "GenerationOutput",
    "GroupedLM",
    "combine_logprobs",
    "normalize_weights",
    "target_nll",
]

MIN_LOGPROB = -1e8
"""Floor for every ℓ_i: a −inf log-prob times a negative weight would otherwise give +inf (or NaN)."""

PREFIX_CACHE_SIZE = 64
"""LRU capacity of :class:`GroupedLM`'s prefix KV cache (entries = distinct group prefixes)."""

Example = Mapping[str, Any]
Group = Sequence[Mapping[str, Any]]


# ------------------------------------------------------------------------------------------ arithmetic


def normalize_weights(weights: Sequence[float]) -> list[float]:
    """w̃_i = w_i / Σ_j w_j as plain floats; a sum of exactly 0 returns the weights unchanged.

    A negative sum flips every sign ([−1, −3] → [0.25, 0.75]), which is what makes the combination invariant to
    scaling the weights by any c ≠ 0.
    """
    values = [float(w) for w in weights]
    total = math.fsum(values)
    if total == 0:
        return values
    return [w / total for w in values]


def _as_tensor(values: Any) -> tuple[torch.Tensor, bool]:
    """``(float tensor of at least float32, was_tensor)``: the combination never runs below float32."""
    if isinstance(values, torch.Tensor):
        tensor = values
        is_tensor = True
    else:
        tensor = torch.from_numpy(np.asarray(values, dtype=np.float64))
        is_tensor = False
    if tensor.dtype != torch.float64:
        tensor = tensor.to(torch.float32)
    return tensor, is_tensor


def combine_logprobs(logprobs: Any, weights: Sequence[float]) -> Any:
    """The LARA product of experts over the group axis.

    ``logprobs`` has shape [G, ..., V] (group axis first, vocabulary last; raw logits are fine). With
    ℓ_i = max(log_softmax_V(logprobs[i]), MIN_LOGPROB) and w̃ = :func:`normalize_weights` (weights), returns
    log p = s − logsumexp_V(s) for s = Σ_{i: w̃_i ≠ 0} w̃_i ℓ_i, shape [..., V]. Groups with w̃_i = 0 are
    skipped entirely, so their rows may hold anything (even −inf or NaN). A tensor input gives a tensor
    (float32, or float64 for float64 input, on the input's device); anything else gives a ``numpy.ndarray``.

    Raises ``ValueError`` when ``len(weights) != G`` or every weight is zero.
    """
    tensor, is_tensor = _as_tensor(logprobs)
    w = [float(x) for x in weights]
    if tensor.dim() < 1 or len(w) != tensor.shape[0]:
        groups = tensor.shape[0] if tensor.dim() >= 1 else 0
        raise ValueError(f"got {len(w)} weights for {groups} groups; need one weight per group")
    if all(x == 0 for x in w):
        raise ValueError("all weights are zero: at least one group must have a non-zero weight")
    total: torch.Tensor | None = None
    for i, wi in enumerate(normalize_weights(w)):
        if wi == 0:
            continue  # never touched: 0·(−inf) cannot occur
        # Log-softmax first, so a constant added to one group's logits changes nothing.
        ell = torch.log_softmax(tensor[i], dim=-1).clamp_min(MIN_LOGPROB)
        total = wi * ell if total is None else total + wi * ell
    assert total is not None  # some w̃_i ≠ 0 because some w_i ≠ 0
    result = total - torch.logsumexp(total, dim=-1, keepdim=True)
    return result if is_tensor else result.numpy()


def target_nll(step_logprobs: Any, target_ids: Sequence[int]) -> float:
    """Mean teacher-forced negative log-likelihood: (1/T') Σ_{j<T'} −step_logprobs[j, target_ids[j]].

    ``step_logprobs`` is [T, V] (already combined); ``target_ids`` has length T' ≤ T. Raises ``ValueError`` for
    an empty target or T' > T.
    """
    tensor, _ = _as_tensor(step_logprobs)
    ids = [int(t) for t in target_ids]
    if not ids:
        raise ValueError("empty target: target_nll needs at least one target token")
    if tensor.dim() != 2:
        raise ValueError(f"step_logprobs must be [T, V], got shape {tuple(tensor.shape)}")
    if len(ids) > tensor.shape[0]:
        raise ValueError(f"target has {len(ids)} tokens but step_logprobs only {tensor.shape[0]} steps")
    index = torch.tensor(ids, dtype=torch.long, device=tensor.device)
    picked = tensor[torch.arange(len(ids), device=tensor.device), index]
    return float(-picked.to(torch.float64).mean())


# -------------------------------------------------------------------------------------------- engine


@dataclass
class EngineStats:
    """Exact work counters of a :class:`GroupedLM` (spec §2, §9).

    Every forward call counts in ``forward_calls``. A *prefill* call is any call that feeds prompt tokens
    (including the one-off run of a group prefix in ``prefix_cache`` mode); a *decode* call feeds one
    generated token per row.

    - ``group_rows``: batch rows summed over prefill calls (how many group prompts were run).
    - ``prefill_tokens``: non-pad tokens fed in prefill calls.
    - ``peak_kv_tokens``: max over calls of rows × (cached + new length), padding counted: the size of the KV
      cache a call holds, in token slots.
    - ``peak_attention_cells``: max over calls of rows × new length × (cached + new length): the size of the
      attention-score matrix a call would materialise.
    """

    forward_calls: int = 0
    group_rows: int = 0
    prefill_tokens: int = 0
    peak_kv_tokens: int = 0
    peak_attention_cells: int = 0

    def reset(self) -> None:
        """Zero every counter."""
        for f in fields(self):
            setattr(self, f.name, 0)

    def record(self, rows: int, cached: int, new: int, *, prefill: bool, real_tokens: int = 0) -> None:
        """Account one forward call of ``rows`` rows, ``cached`` cached and ``new`` fed positions per row."""
        self.forward_calls += 1
        if prefill:
            self.group_rows += rows
            self.prefill_tokens += real_tokens
        self.peak_kv_tokens = max(self.peak_kv_tokens, rows * (cached + new))
        self.peak_attention_cells = max(self.peak_attention_cells, rows * new * (cached + new))


@dataclass
class GenerationOutput:
    """A greedy completion: decoded ``text`` (cut before a stop string), the generated ``token_ids`` (EOS not
    included) and, with ``return_logprobs=True``, ``step_logprobs`` [len(token_ids), V], the combined
    log p at each step (float32, CPU); else None."""

    text: str
    token_ids: list[int]
    step_logprobs: torch.Tensor | None = None


@dataclass
class _Chunk:
    """Rows that run together: their KV cache and the attention mask over cached positions ([rows, L])."""

    cache: Any
    mask: torch.Tensor


class GroupedLM:
    """The multi-group LARA engine on a Hugging Face causal LM (spec §2).

    For an example x and groups g_1..g_G, group i's prompt is ``group_prefix(g_i, task_format, subject) +
    format_query(x, task_format)`` tokenised with the tokenizer's default special tokens; every group gets the
    same continuation ids after its prompt. Only groups with w̃_i ≠ 0 run.

    ``group_batch_size``: None runs all active groups in one left-padded batch; b runs at most b per forward
    call (1 = one at a time, the lowest peak memory). ``prefix_cache=True`` runs each distinct group prefix once,
    keeps its KV cache (LRU, :data:`PREFIX_CACHE_SIZE` entries) and reuses a copy of it for every prompt whose
    ids start with the prefix ids; in this mode each group runs in its own forward calls.

    ``context_length`` (from the model config's ``max_position_embeddings``, settable) bounds prompt +
    generated/continuation tokens; a longer request is a ``ValueError`` naming the group.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        task_format: str = "bbh",
        subject: str | None = None,
        group_batch_size: int | None = None,
        prefix_cache: bool = False,
    ) -> None:
        from rlcore.models import eos_token_ids, tokenizer_of

        if group_batch_size is not None and group_batch_size < 1:
            raise ValueError(f"group_batch_size must be None or >= 1, got {group_batch_size}")
        format_query({"input": "", "target": ""}, task_format)  # unknown task_format → ValueError now
        self.model = model
        self.tokenizer = tokenizer_of(tokenizer)
        self.task_format = task_format
        self.subject = subject
        self.group_batch_size = group_batch_size
        self.prefix_cache = prefix_cache
        self.stats = EngineStats()
        self.eos_ids: set[int] = eos_token_ids(model, self.tokenizer)
        self.vocab_size = len(self.tokenizer)
        config = getattr(model, "config", None)
        context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        self.context_length: int | None = int(context) if context else None
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0
        self._prefixes: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        try:
            self._keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        except (TypeError, ValueError):
            self._keeps_logits = False

    @classmethod
    def from_spec(cls, model_spec: str, *, dtype: str = "auto", device: str = "auto", **kw: Any) -> GroupedLM:
        """Load ``model_spec`` with ``rlcore.models.load_model`` and wrap it. ``device="auto"``: CUDA when
        available, else CPU; ``dtype="auto"``: bfloat16 on CUDA, float32 on CPU. Other keywords go to
        :class:`GroupedLM`."""
        from rlcore.models import load_model

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if torch.device(device).type == "cuda" else "float32"
        model, processor = load_model(model_spec, dtype=dtype, device=device)
        model.eval()
        return cls(model, processor, **kw)

    # ------------------------------------------------------------------------------------ tokenisation

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _ids(self, text: str, special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def _prefix_text(self, group: Group) -> str:
        return group_prefix(list(group), self.task_format, self.subject)

    def prompt_ids(self, group: Group, example: Example) -> list[int]:
        """Token ids of group g's prompt for x (default special tokens)."""
        return self._ids(self._prefix_text(group) + format_query(example, self.task_format), True)

    def continuation_ids(self, example: Example, target: str) -> list[int]:
        """Ids of ``" " + target`` as they follow the query: the tail of tok(query + " " + target) after
        tok(query) when the latter is a prefix of the former (no special tokens), else tok(" " + target)."""
        query = format_query(example, self.task_format)
        head = self._ids(query, False)
        full = self._ids(query + " " + str(target), False)
        if full[: len(head)] == head:
            return full[len(head) :]
        return self._ids(" " + str(target), False)

    # ------------------------------------------------------------------------------------- the engine

    def _active(self, weights: Sequence[float], n_groups: int) -> list[int]:
        """Indices i with w̃_i ≠ 0 (only these run)."""
        if len(weights) != n_groups:
            raise ValueError(f"got {len(weights)} weights for {n_groups} groups; need one weight per group")
        active = [i for i, w in enumerate(normalize_weights(weights)) if w != 0]
        if not active:
            raise ValueError("all weights are zero: at least one group must have a non-zero weight")
        return active

    def _check_length(self, index: int, prompt_len: int, extra: int) -> None:
        if self.context_length is not None and prompt_len > self.context_length - extra:
            raise ValueError(
                f"group {index}: prompt of {prompt_len} tokens is longer than the model's context "
                f"({self.context_length}) minus {extra} tokens to generate/score; use fewer or shorter "
                f"demonstrations per group"
            )

    def _forward(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: Any,
        keep: int,
        *,
        prefill: bool,
    ) -> tuple[torch.Tensor, Any]:
        """One forward call; returns log-softmaxed float32 logits of the last ``keep`` positions, cut to
        ``len(tokenizer)`` (so padded vocabulary rows never win), and the updated cache."""
        rows, new = ids.shape
        cached = mask.shape[1] - new
        real = int(mask[:, cached:].sum()) if prefill else 0
        self.stats.record(rows, cached, new, prefill=prefill, real_tokens=real)
        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": mask,
            "position_ids": positions,
            "past_key_values": cache,
            "use_cache": cache is not None,
        }
        if self._keeps_logits:
            kwargs["logits_to_keep"] = keep  # never materialise [rows, L, V] logits for the whole prompt
        out = self.model(**kwargs)
        logits = out.logits[:, -keep:, : self.vocab_size].float()
        return torch.log_softmax(logits, dim=-1), out.past_key_values if cache is not None else None

    def _prefix_entry(self, prefix: tuple[int, ...]) -> Any:
        """The KV cache of a group prefix, run once and kept in the LRU."""
        entry = self._prefixes.get(prefix)
        if entry is not None:
            self._prefixes.move_to_end(prefix)
            return entry
        from transformers import DynamicCache

        ids = torch.tensor([prefix], dtype=torch.long, device=self.device)
        mask = torch.ones_like(ids)
        positions = torch.arange(len(prefix), device=self.device).unsqueeze(0)
        _, cache = self._forward(ids, mask, positions, DynamicCache(), 1, prefill=True)
        self._prefixes[prefix] = cache
        if len(self._prefixes) > PREFIX_CACHE_SIZE:
            self._prefixes.popitem(last=False)
        return cache

    def _prefill(
        self,
        groups: Sequence[Group],
        prompts: Mapping[int, list[int]],
        tails: Sequence[int],
        keep: int,
        use_cache: bool,
    ) -> tuple[list[_Chunk], torch.Tensor]:
        """Run the prompt ids ``prompts[i]`` of ``groups[i]`` (in ``prompts`` order), each followed by ``tails``.

        Returns the chunks (for decoding) and ℓ for the last ``keep`` positions of every row, [len(prompts),
        keep, V], in ``prompts`` order.
        """
        from transformers import DynamicCache

        example_rows = [list(ids) + list(tails) for ids in prompts.values()]
        chunks: list[_Chunk] = []
        outputs: list[torch.Tensor] = []
        device = self.device
        if self.prefix_cache:
            for i, row in zip(prompts, example_rows, strict=True):
                prefix = tuple(self._ids(self._prefix_text(groups[i]), True))
                # Reuse only when the full ids extend the prefix ids (tokenisation may merge across the seam).
                if 0 < len(prefix) < len(row) and tuple(row[: len(prefix)]) == prefix:
                    # A copy: the decode/suffix calls extend the cache, the stored prefix stays as it was.
                    cache = copy.deepcopy(self._prefix_entry(prefix))
                    start = len(prefix)
                else:
                    cache, start = DynamicCache(), 0
                ids = torch.tensor([row[start:]], dtype=torch.long, device=device)
                mask = torch.ones((1, len(row)), dtype=torch.long, device=device)
                positions = torch.arange(start, len(row), device=device).unsqueeze(0)
                logp, cache = self._forward(ids, mask, positions, cache, keep, prefill=True)
                chunks.append(_Chunk(cache, mask))
                outputs.append(logp)
            return chunks, torch.cat(outputs, dim=0)
        size = self.group_batch_size or len(example_rows)
        for start in range(0, len(example_rows), size):
            batch = example_rows[start : start + size]
            width = max(len(r) for r in batch)
            # Left padding keeps every row's last token in the last column, so one slice serves all rows.
            ids = torch.tensor(
                [[self.pad_id] * (width - len(r)) + r for r in batch], dtype=torch.long, device=device
            )
            mask = torch.tensor(
                [[0] * (width - len(r)) + [1] * len(r) for r in batch], dtype=torch.long, device=device
            )
            # Positions count real tokens only, so a padded row sees the same positions as it would alone.
            positions = (mask.cumsum(-1) - 1).clamp_min(0)
            logp, cache = self._forward(
                ids, mask, positions, DynamicCache() if use_cache else None, keep, prefill=True
            )
            chunks.append(_Chunk(cache, mask))
            outputs.append(logp)
        return chunks, torch.cat(outputs, dim=0)

    def _decode(self, chunks: list[_Chunk], token: int) -> torch.Tensor:
        """Feed ``token`` to every row of every chunk; returns ℓ at the new position, [rows, V]."""
        outputs = []
        for chunk in chunks:
            rows = chunk.mask.shape[0]
            positions = chunk.mask.sum(-1, keepdim=True)  # real tokens so far = the new token's position
            chunk.mask = torch.cat([chunk.mask, chunk.mask.new_ones((rows, 1))], dim=1)
            ids = torch.full((rows, 1), token, dtype=torch.long, device=chunk.mask.device)
            logp, chunk.cache = self._forward(ids, chunk.mask, positions, chunk.cache, 1, prefill=False)
            outputs.append(logp[:, -1])
        return torch.cat(outputs, dim=0)

    def _prompts(
        self, groups: Sequence[Group], indices: Sequence[int], example: Example, extra: int
    ) -> dict[int, list[int]]:
        """Prompt ids of ``groups[indices]`` for x, each checked against the context (``extra`` more tokens)."""
        prompts: dict[int, list[int]] = {}
        for i in indices:
            ids = self.prompt_ids(groups[i], example)
            self._check_length(i, len(ids), extra)
            prompts[i] = ids
        return prompts

    @torch.no_grad()
    def group_logprobs(
        self, groups: Sequence[Group], example: Example, continuation_ids: Sequence[int]
    ) -> torch.Tensor:
        """ℓ_i for every group passed, [G, T+1, V] (float32, CPU): the log-softmax at the position before each
        of the T continuation tokens and after the last one. One prefill, no decoding."""
        tails = [int(t) for t in continuation_ids]
        indices = list(range(len(groups)))
        if not indices:
            raise ValueError("group_logprobs needs at least one group")
        prompts = self._prompts(groups, indices, example, len(tails))
        _, logp = self._prefill(groups, prompts, tails, len(tails) + 1, use_cache=self.prefix_cache)
        return logp.cpu()

    def target_nll(self, groups: Sequence[Group], weights: Sequence[float], example: Example) -> float:
        """Teacher-forced loss of ``" " + example["target"]`` under the combined model: the mean of
        −log p(t_j | x, t_<j) with p = :func:`combine_logprobs` over the groups with w̃_i ≠ 0."""
        active = self._active(weights, len(groups))
        target = self.continuation_ids(example, str(example["target"]))
        if not target:
            raise ValueError("empty target: the example's target tokenises to no ids")
        logp = self.group_logprobs([groups[i] for i in active], example, target)
        combined = combine_logprobs(logp, [float(weights[i]) for i in active])
        return target_nll(combined[: len(target)], target)

    @torch.no_grad()
    def generate(
        self,
        groups: Sequence[Group],
        weights: Sequence[float],
        example: Example,
        *,
        max_new_tokens: int = 10,
        stop: Sequence[str] = (),
        return_logprobs: bool = False,
        ignore_eos: bool = False,
    ) -> GenerationOutput:
        """Greedy decoding over the combined distribution log p (argmax, ties to the lowest id).

        Stops at EOS (not included), after ``max_new_tokens`` tokens, or once the decoded text contains a stop
        string (the text is cut before it; ``token_ids`` keep the token that completed it). ``ignore_eos``
        decodes exactly ``max_new_tokens`` tokens whatever they are (the benchmark's equal-work rule; stop
        strings are then ignored too).
        """
        active = self._active(weights, len(groups))
        active_weights = [float(weights[i]) for i in active]
        prompts = self._prompts(groups, active, example, max_new_tokens)
        stops = [s for s in stop if s]
        tokens: list[int] = []
        steps: list[torch.Tensor] = []
        text = ""
        if max_new_tokens < 1:
            return GenerationOutput("", [], torch.empty(0, self.vocab_size) if return_logprobs else None)
        chunks, logp = self._prefill(groups, prompts, [], 1, use_cache=True)
        logp = logp[:, -1]
        while True:
            combined = combine_logprobs(logp, active_weights)
            # Ties go to the lowest id: the first index holding the maximum.
            token = int((combined == combined.max()).nonzero()[0, 0])
            if token in self.eos_ids and not ignore_eos:
                break
            tokens.append(token)
            if return_logprobs:
                steps.append(combined.cpu())
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            hits = [] if ignore_eos else [text.find(s) for s in stops if s in text]
            if hits:
                text = text[: min(hits)]
                break
            if len(tokens) >= max_new_tokens:
                break
            logp = self._decode(chunks, token)
        step_logprobs = None
        if return_logprobs:
            step_logprobs = torch.stack(steps) if steps else torch.empty(0, self.vocab_size)
        return GenerationOutput(text, tokens, step_logprobs)

    def predict(self, ensemble: Any, examples: Sequence[Example], **gen_kwargs: Any) -> list[str]:
        """:meth:`generate` with ``ensemble.groups`` / ``ensemble.weights`` for each example (rich progress
        bar); returns the completions' text."""
        from rich.progress import Progress

        texts: list[str] = []
        with Progress(transient=True) as progress:
            task = progress.add_task(f"{getattr(ensemble, 'method', 'predict')}", total=len(examples))
            for example in examples:
                out = self.generate(ensemble.groups, ensemble.weights, example, **gen_kwargs)
                texts.append(out.text)
                progress.advance(task)
        return texts
