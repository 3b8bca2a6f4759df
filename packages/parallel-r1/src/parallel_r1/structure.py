"""Parallel-block structure shared by SFT and RL (spec §2.3): tag ids, block detection, structured position ids,
path-isolation masks and the model inputs of the **Unseen** variant.

One construction serves every caller. ``find_blocks`` is a single left-to-right scan (states TOP, BLOCK, PATH,
AFTER, SUMMARY) that never raises; ``structured_position_ids`` and ``path_isolation_mask`` turn its blocks into
positions and a boolean "may attend" matrix with one O(n) pass plus numpy slice assignments per path pair (never a
Python loop over n² entries); ``build_structure`` adds padding; ``unseen_model_inputs`` batches it for a model.

Passing the Unseen structure to a transformers 5 Qwen2/Qwen3 model (checked on transformers 5.x,
``masking_utils._preprocess_mask_arguments`` and ``modeling_qwen2``)::

    extra = unseen_model_inputs(input_ids, attention_mask, response_start, tags, dtype=model.dtype)
    logits = model(input_ids=input_ids, **extra, use_cache=False).logits

- ``attention_mask`` is a **4-D float tensor** ``(B, 1, T, T)``, additive (0.0 = attend,
  ``torch.finfo(dtype).min`` = blocked) and in the **model's compute dtype** (``dtype=model.dtype``; SDPA rejects
  a float mask whose dtype differs from the query's). ``create_causal_mask`` returns any 4-D tensor unchanged,
  so it reaches the attention function as is: ``eager`` adds it to the scores, ``sdpa`` passes it as
  ``attn_mask`` (with ``is_causal=False`` because a mask is present). No dict is needed; a dict
  ``{"full_attention": mask}`` also works (it skips mask creation entirely) but is only required for models with
  sliding-window layers, whose window a custom mask does not apply anyway.
- ``position_ids`` is a ``(B, T)`` long tensor; rotary embeddings use it directly.
- Flash-attention implementations (``flash_attention_2``/``3``, ``flex_attention`` and kernels) cannot take an
  arbitrary dense mask: use ``eager`` or ``sdpa`` for the Unseen variant.
- Blocked entries use the dtype minimum, never ``-inf``, and every row attends at least to itself (padding
  included), so no softmax row is empty and no NaN appears.

Torch and transformers are imported lazily: everything except ``unseen_model_inputs``, ``unseen_forward_logps``
and ``add_parallel_tokens`` works with numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "ParallelBlock",
    "Structure",
    "TagIds",
    "add_parallel_tokens",
    "build_structure",
    "decode_with_tags",
    "find_blocks",
    "path_isolation_mask",
    "structured_position_ids",
    "unseen_forward_logps",
    "unseen_model_inputs",
]

# The six literal tags in the order of ``parallel_r1.prompts.TAGS`` and of the ``TagIds`` fields.
_TAG_TEXTS: tuple[str, ...] = ("<Parallel>", "</Parallel>", "<Path>", "</Path>", "<Summary>", "</Summary>")
_VARIANTS = ("seen", "unseen")


# ---------------------------------------------------------------------------------------------------- tag ids


@dataclass(frozen=True)
class TagIds:
    """Token ids of the six tags, in the order of ``parallel_r1.prompts.TAGS``."""

    parallel_open: int
    parallel_close: int
    path_open: int
    path_close: int
    summary_open: int
    summary_close: int

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> TagIds:
        """Each tag must encode to exactly one id, else ``ValueError`` naming the tag and the fix."""
        ids = []
        for tag in _TAG_TEXTS:
            encoded = list(tokenizer.encode(tag, add_special_tokens=False))
            if len(encoded) != 1:
                raise ValueError(
                    f"tag {tag!r} is not a single token of this tokenizer (it encodes to {len(encoded)} ids); "
                    f"add the tags with `parallel-r1 add-tokens` (or `add_tags: true`)"
                )
            ids.append(int(encoded[0]))
        return cls(*ids)

    def as_tuple(self) -> tuple[int, ...]:
        """The six ids in field order."""
        return tuple(getattr(self, f.name) for f in fields(self))


def _single_token_id(tokenizer: Any, tag: str) -> int | None:
    encoded = list(tokenizer.encode(tag, add_special_tokens=False))
    return int(encoded[0]) if len(encoded) == 1 else None


def add_parallel_tokens(tokenizer: Any, model: Any = None) -> TagIds:
    """Add the tags that are not yet single tokens as **non-special** added tokens (so they survive
    ``skip_special_tokens=True``) and, with a ``model`` whose input embedding is smaller than the tokenizer,
    resize its embeddings with transformers' mean initialisation. Idempotent; returns the tag ids."""
    from tokenizers import AddedToken

    missing = [tag for tag in _TAG_TEXTS if _single_token_id(tokenizer, tag) is None]
    if missing:
        tokenizer.add_tokens(
            [
                AddedToken(
                    tag, special=False, normalized=False, single_word=False, lstrip=False, rstrip=False
                )
                for tag in missing
            ],
            special_tokens=False,
        )
    if model is not None:
        rows = model.get_input_embeddings().weight.shape[0]
        if len(tokenizer) > rows:
            model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return TagIds.from_tokenizer(tokenizer)


def _as_int_list(ids: Any) -> list[int]:
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return [int(i) for i in ids]


def decode_with_tags(tokenizer: Any, ids: Any) -> str:
    """Decode ``ids`` dropping special ids (EOS, padding, chat markers, …) except the tags, which stay even in a
    checkpoint that registered them as special tokens."""
    tag_ids = {i for tag in _TAG_TEXTS if (i := _single_token_id(tokenizer, tag)) is not None}
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    special.update(int(i) for i, token in decoder.items() if getattr(token, "special", False))
    drop = special - tag_ids
    kept = [i for i in _as_int_list(ids) if i not in drop]
    return tokenizer.decode(kept, skip_special_tokens=False)


# ---------------------------------------------------------------------------------------------- block finding


@dataclass
class ParallelBlock:
    """One parallel block: ``open`` is the index of ``<Parallel>``, ``paths`` the half-open spans of its paths
    (each from its ``<Path>``), ``close`` the index of ``</Parallel>`` (None when the sequence ended first)."""

    open: int
    paths: list[tuple[int, int]] = field(default_factory=list)
    close: int | None = None

    def shifted(self, offset: int) -> ParallelBlock:
        """The same block with every index moved by ``offset``."""
        return ParallelBlock(
            self.open + offset,
            [(a + offset, b + offset) for a, b in self.paths],
            None if self.close is None else self.close + offset,
        )


_TOP, _BLOCK, _PATH, _AFTER, _SUMMARY = range(5)


def find_blocks(
    token_ids: Sequence[int] | Any, tags: TagIds, start: int = 0, max_blocks: int | None = None
) -> list[ParallelBlock]:
    """The parallel blocks of ``token_ids`` scanning from ``start`` (spec §2.3). Never raises on data; blocks
    without a path are neither reported nor counted for ``max_blocks``."""
    ids = _as_int_list(token_ids)
    n = len(ids)
    p_open, p_close = tags.parallel_open, tags.parallel_close
    path_open, path_close = tags.path_open, tags.path_close
    s_open, s_close = tags.summary_open, tags.summary_close
    tag_set = set(tags.as_tuple())
    blocks: list[ParallelBlock] = []
    state = _TOP
    block_open = -1
    starts: list[int] = []  # <Path> indices of the open block

    def finish(close: int | None) -> None:
        if starts:
            ends = [*starts[1:], n if close is None else close]
            blocks.append(ParallelBlock(block_open, list(zip(starts, ends, strict=True)), close))

    for i in range(max(0, start), n):
        t = ids[i]
        if state == _PATH:
            if t == path_close:
                state = _BLOCK
        elif state == _BLOCK:
            if t == path_open:
                starts.append(i)
                state = _PATH
            elif t == p_close:
                finish(i)
                state = _AFTER
        elif state == _SUMMARY:
            if t == s_close:
                state = _TOP
        elif t == p_open and (max_blocks is None or len(blocks) < max_blocks):  # TOP or AFTER
            block_open, starts = i, []
            state = _BLOCK
        elif state == _AFTER:
            if t == s_open:
                state = _SUMMARY
            elif t in tag_set:
                state = _TOP
    if state in (_BLOCK, _PATH):
        finish(None)
    return blocks


# ------------------------------------------------------------------------------------ positions and masks


def _positions(n: int, blocks: Sequence[ParallelBlock]) -> np.ndarray:
    pos = np.zeros(n, dtype=np.int64)
    cursor, current = 0, 0  # next index to fill and its position
    for block in blocks:
        if not block.paths:
            continue
        first = block.paths[0][0]
        pos[cursor:first] = current + np.arange(first - cursor)
        current += first - cursor
        q = int(pos[first - 1]) if first > 0 else -1
        longest = 0
        for a, b in block.paths:
            pos[a:b] = q + 1 + np.arange(b - a)
            longest = max(longest, b - a)
        if block.close is None:
            cursor, current = block.paths[-1][1], q + 1 + longest
        else:
            pos[block.close] = q + 1 + longest
            cursor, current = block.close + 1, q + 2 + longest
    pos[cursor:n] = current + np.arange(n - cursor)
    return pos


def structured_position_ids(n: int, blocks: Sequence[ParallelBlock]) -> list[int]:
    """Positions 0, 1, … except inside blocks: token j of every path of a block gets q + 1 + j (q = position of
    the token before the first ``<Path>``), ``</Parallel>`` gets q + 1 + the longest path length, and later tokens
    continue from there."""
    return _positions(n, blocks).tolist()


def _isolate(allowed: np.ndarray, blocks: Sequence[ParallelBlock]) -> None:
    for block in blocks:
        for k, (a, b) in enumerate(block.paths):
            for c, d in block.paths[:k]:  # earlier paths only: later ones are already hidden by causality
                allowed[a:b, c:d] = False


def path_isolation_mask(n: int, blocks: Sequence[ParallelBlock]) -> np.ndarray:
    """Boolean (n, n) "may attend" matrix: causal, except that tokens of different paths of one block never see
    each other (``</Parallel>``, the summary and everything later see every path)."""
    allowed = np.tri(n, n, dtype=bool)
    _isolate(allowed, blocks)
    return allowed


@dataclass
class Structure:
    """Positions (length T), the (T, T) "may attend" matrix and the blocks, all in padded coordinates."""

    position_ids: list[int]
    allowed: np.ndarray
    blocks: list[ParallelBlock]


def _check_variant(variant: str) -> None:
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(_VARIANTS)}, got {variant!r}")


def _fill_row(
    allowed: np.ndarray,
    positions: np.ndarray,
    token_ids: Sequence[int] | Any,
    tags: TagIds,
    *,
    response_start: int,
    variant: str,
    left_pad: int,
    max_blocks: int | None,
) -> list[ParallelBlock]:
    """Write one row's structure into the zeroed (T, T) bool ``allowed`` and length-T ``positions``."""
    ids = _as_int_list(token_ids)
    n, total = len(ids), allowed.shape[0]
    blocks = find_blocks(ids, tags, start=response_start, max_blocks=max_blocks)
    end = left_pad + n
    real = allowed[left_pad:end, left_pad:end]
    real[...] = np.tri(n, n, dtype=bool)
    if variant == "unseen":
        _isolate(real, blocks)
        positions[left_pad:end] = _positions(n, blocks)
    else:
        positions[left_pad:end] = np.arange(n)
    pads = np.r_[0:left_pad, end:total]
    allowed[pads, pads] = True
    return [block.shifted(left_pad) for block in blocks]


def build_structure(
    token_ids: Sequence[int] | Any,
    tags: TagIds,
    *,
    response_start: int = 0,
    variant: str = "unseen",
    left_pad: int = 0,
    total_length: int | None = None,
    max_blocks: int | None = None,
) -> Structure:
    """Structure of one sequence of real tokens placed at ``left_pad`` in a row of ``total_length`` (default
    ``left_pad + n``) columns. Unseen: structured positions and path isolation from ``find_blocks(…,
    start=response_start)``; Seen: positions 0..n−1 and the causal mask (blocks still reported). Padding gets
    position 0 and attends only to itself; real tokens never attend to padding."""
    _check_variant(variant)
    n = len(token_ids)
    if left_pad < 0:
        raise ValueError(f"left_pad must be >= 0, got {left_pad}")
    total = left_pad + n if total_length is None else int(total_length)
    if total < left_pad + n:
        raise ValueError(f"total_length={total} is smaller than left_pad + number of tokens = {left_pad + n}")
    allowed = np.zeros((total, total), dtype=bool)
    positions = np.zeros(total, dtype=np.int64)
    blocks = _fill_row(
        allowed,
        positions,
        token_ids,
        tags,
        response_start=response_start,
        variant=variant,
        left_pad=left_pad,
        max_blocks=max_blocks,
    )
    return Structure(positions.tolist(), allowed, blocks)


# ---------------------------------------------------------------------------------------------- model inputs


def _row_starts(response_start: int | Sequence[int] | Any, batch: int) -> list[int]:
    if hasattr(response_start, "tolist"):
        response_start = response_start.tolist()
    if isinstance(response_start, int):
        return [response_start] * batch
    starts = [int(s) for s in response_start]  # type: ignore[union-attr]
    if len(starts) == 1:
        return starts * batch
    if len(starts) != batch:
        raise ValueError(f"response_start must be one int or one per row ({batch}), got {len(starts)} values")
    return starts


def unseen_model_inputs(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_start: int | Sequence[int] | torch.Tensor,
    tags: TagIds,
    *,
    dtype: torch.dtype | None = None,
    max_blocks: int | None = None,
) -> dict[str, torch.Tensor]:
    """The Unseen forward's ``{"attention_mask": (B, 1, T, T) additive float, "position_ids": (B, T)}``.

    Per row the real tokens are the columns where the 2-D ``attention_mask`` is 1 (they must be contiguous, else
    ``ValueError``); ``response_start`` is a padded column index, one int or one per row. Blocked entries hold
    ``torch.finfo(dtype).min`` (default float32), never −inf. Pass ``dtype=model.dtype`` (see the module
    docstring for how transformers 5 consumes these tensors)."""
    import torch

    if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"input_ids and attention_mask must both be (B, T); got {tuple(input_ids.shape)} and "
            f"{tuple(attention_mask.shape)}"
        )
    dtype = torch.float32 if dtype is None else dtype
    batch, total = input_ids.shape
    starts = _row_starts(response_start, batch)
    ids_np = input_ids.detach().cpu().numpy()
    mask_np = attention_mask.detach().cpu().numpy() != 0
    allowed = np.zeros((batch, total, total), dtype=bool)
    positions = np.zeros((batch, total), dtype=np.int64)
    for row in range(batch):
        cols = np.flatnonzero(mask_np[row])
        if cols.size == 0:
            left, n = 0, 0
        else:
            left, n = int(cols[0]), int(cols.size)
            if int(cols[-1]) - left + 1 != n:
                raise ValueError(
                    f"attention_mask row {row} is not contiguous: real tokens must form one run of 1s "
                    "(left or right padding only)"
                )
        _fill_row(
            allowed[row],
            positions[row],
            ids_np[row, left : left + n],
            tags,
            response_start=max(0, starts[row] - left),
            variant="unseen",
            left_pad=left,
            max_blocks=max_blocks,
        )
    device = input_ids.device
    allowed_t = torch.from_numpy(allowed).to(device)
    additive = torch.zeros((batch, 1, total, total), dtype=dtype, device=device)
    additive.masked_fill_(~allowed_t.unsqueeze(1), torch.finfo(dtype).min)
    return {"attention_mask": additive, "position_ids": torch.from_numpy(positions).to(device)}


def unseen_forward_logps(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_start: int | Sequence[int] | torch.Tensor,
    tags: TagIds,
    *,
    temperature: float = 1.0,
    max_blocks: int | None = None,
) -> torch.Tensor:
    """Per-token log-probs ``(B, T − 1)`` of ``input_ids[:, 1:]`` under the Unseen forward (mask and positions
    from ``unseen_model_inputs`` in the model's dtype); logits are divided by ``temperature``."""
    import torch

    dtype = getattr(model, "dtype", None)
    extra = unseen_model_inputs(
        input_ids,
        attention_mask,
        response_start,
        tags,
        dtype=dtype if isinstance(dtype, torch.dtype) and dtype.is_floating_point else None,
        max_blocks=max_blocks,
    )
    logits = model(input_ids=input_ids, **extra, use_cache=False).logits[:, :-1, :].float()
    if temperature != 1.0:
        logits = logits / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
