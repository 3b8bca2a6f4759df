"""The parallel rollout engine (spec §2.4): main chain → paths → forced summary, repeated.

A rollout alternates three phases. The **main** chain is sampled until it opens a block (``<Parallel>``), ends
(an EOS id) or runs out of budget. When it opens a block, ``num_paths`` **paths** are sampled independently from
the same context followed by ``<Path>``; the engine closes each path, the block and opens the summary itself
(``</Path>``, ``</Parallel>``, the separator and ``<Summary>`` are *forced* tokens). The **summary** is then
sampled from the whole response (every path visible) and closed with ``</Summary>``; the block is complete and
the main chain resumes. After ``max_blocks`` blocks the rollout stops (official) or, with
``stop_after_max_blocks=False``, the main chain resumes with branching off.

Sampling is delegated to a *segment generator*: any callable ``list[SegmentRequest] -> list[Segment |
list[int]]``. :class:`HFSegmentGenerator` (transformers ``generate``) and :class:`VLLMSegmentGenerator` (a vLLM
``LLM``) are provided. :func:`run_parallel_rollouts` makes one generator call per phase across all active
rollouts, and the result does not depend on that batching for a deterministic generator.

Budget: segments are capped by the remaining budget B − len(response); forced tokens may overshoot it, and the
response is finally cut to B with its blocks clipped so that ``find_blocks(completion_ids, tags,
max_blocks=config.max_blocks) == blocks`` always holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from parallel_r1.config import EngineConfig
from parallel_r1.structure import ParallelBlock, TagIds

__all__ = [
    "EngineConfig",
    "FinishReason",
    "HFSegmentGenerator",
    "ParallelRollout",
    "Segment",
    "SegmentGenerator",
    "SegmentKind",
    "SegmentRequest",
    "VLLMSegmentGenerator",
    "derive_seed",
    "run_parallel_rollouts",
]

SegmentKind = Literal["main", "path", "summary"]
FinishReason = Literal["eos", "length", "max_blocks"]


@dataclass(frozen=True)
class SegmentRequest:
    """One segment to sample: continue ``context`` until a token of ``stop_ids`` (included in the segment) or
    ``max_new_tokens`` tokens. ``temperature == 0`` is greedy decoding; ``seed`` None means unseeded.

    ``block_index`` counts the blocks completed before this request (a block completes after its summary
    step); ``path_index`` is the 0-based path number for ``kind == "path"``, else None.
    """

    rollout_index: int
    kind: SegmentKind
    block_index: int
    path_index: int | None
    context: list[int]
    stop_ids: tuple[int, ...]
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None = None


@dataclass
class Segment:
    """Sampled token ids and, optionally, the log-prob of each (same length)."""

    token_ids: list[int]
    logprobs: list[float] | None = None


SegmentGenerator = Callable[[list[SegmentRequest]], Sequence[Segment | Sequence[int]]]
"""What :func:`run_parallel_rollouts` samples with: one result per request, in request order."""


@dataclass
class ParallelRollout:
    """One finished rollout. ``completion_ids``, ``forced_mask`` (1 = inserted by the engine) and ``logprobs``
    (None on forced tokens and where the generator gave none) have the same length, at most
    ``max_response_tokens``. ``blocks`` are in completion coordinates and equal
    ``find_blocks(completion_ids, tags, max_blocks=config.max_blocks)``; ``num_blocks == len(blocks)``."""

    prompt_ids: list[int]
    completion_ids: list[int]
    forced_mask: list[int]
    logprobs: list[float | None]
    blocks: list[ParallelBlock]
    num_blocks: int
    finish_reason: FinishReason


# ------------------------------------------------------------------------------------------- helpers


def derive_seed(
    seed: int | None, rollout_index: int, kind: str, block_index: int, path_index: int | None
) -> int | None:
    """A 63-bit seed that is a stable function of the base ``seed`` and the request's coordinates (None when
    ``seed`` is None): distinct requests get distinct seeds, the same request the same seed across runs."""
    if seed is None:
        return None
    key = f"{seed}/{rollout_index}/{kind}/{block_index}/{path_index}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") & (2**63 - 1)


def _stop_tuple(ids: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted({int(i) for i in ids}))


def _as_segment(result: Any, request: SegmentRequest) -> Segment:
    """Normalise one generator result and cut it after its first stop id and to ``max_new_tokens``."""
    if isinstance(result, Segment):
        ids, logprobs = [int(t) for t in result.token_ids], result.logprobs
    else:
        ids, logprobs = [int(t) for t in result], None
    if logprobs is not None:
        logprobs = [float(x) for x in logprobs]
        if len(logprobs) != len(ids):
            raise ValueError(
                f"generate: segment for request {request.kind!r} of rollout {request.rollout_index} has "
                f"{len(ids)} tokens but {len(logprobs)} log-probs"
            )
    stops = set(request.stop_ids)
    end = next((i + 1 for i, t in enumerate(ids) if t in stops), len(ids))
    end = min(end, max(request.max_new_tokens, 0))
    return Segment(ids[:end], None if logprobs is None else logprobs[:end])


def _call(generate: SegmentGenerator, requests: list[SegmentRequest]) -> list[Segment]:
    if not requests:
        return []
    results = list(generate(requests))
    if len(results) != len(requests):
        raise ValueError(f"generate: returned {len(results)} segments for {len(requests)} requests")
    return [_as_segment(r, q) for r, q in zip(results, requests, strict=True)]


@dataclass
class _State:
    index: int
    prompt: list[int]
    resp: list[int] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)
    logprobs: list[float | None] = field(default_factory=list)
    blocks: list[ParallelBlock] = field(default_factory=list)
    completed: int = 0
    finish: FinishReason | None = None

    def add(
        self, ids: Sequence[int], logprobs: Sequence[float] | None = None, *, forced: bool = False
    ) -> None:
        self.resp.extend(ids)
        self.forced.extend([1 if forced else 0] * len(ids))
        self.logprobs.extend(list(logprobs) if logprobs is not None and not forced else [None] * len(ids))

    def add_closed(self, seg: Segment, close_id: int, eos: frozenset[int]) -> None:
        """Append a path or summary segment ending with ``close_id``: a final EOS id is replaced by it, a
        segment ending otherwise gets it appended (forced either way)."""
        ids, lps = seg.token_ids, seg.logprobs
        if ids and ids[-1] == close_id:
            self.add(ids, lps)
            return
        if ids and ids[-1] in eos:
            ids, lps = ids[:-1], None if lps is None else lps[:-1]
        self.add(ids, lps)
        self.add([close_id], forced=True)


def _clip_blocks(blocks: list[ParallelBlock], limit: int) -> list[ParallelBlock]:
    out: list[ParallelBlock] = []
    for block in blocks:
        if block.open >= limit:
            continue
        paths = [(s, min(e, limit)) for s, e in block.paths if s < limit]
        if not paths:
            continue
        close = block.close if block.close is not None and block.close < limit else None
        out.append(ParallelBlock(open=block.open, paths=paths, close=close))
    return out


# ------------------------------------------------------------------------------------------- engine


def run_parallel_rollouts(
    prompts: Sequence[Sequence[int]],
    generate: SegmentGenerator,
    tags: TagIds,
    config: EngineConfig | None = None,
    *,
    eos_ids: int | Iterable[int],
    separator_ids: Sequence[int] = (),
) -> list[ParallelRollout]:
    """One :class:`ParallelRollout` per prompt (token ids), sampled with ``generate`` (spec §2.4).

    Each round makes at most three generator calls across all active rollouts: the main chains, then every
    path of every rollout that opened a block (rollout-major, path-minor order), then the summaries.
    """
    cfg = config if config is not None else EngineConfig()
    eos = frozenset([int(eos_ids)] if isinstance(eos_ids, int) else (int(i) for i in eos_ids))
    separator = [int(t) for t in separator_ids]
    budget = cfg.max_response_tokens
    states = [_State(i, [int(t) for t in p]) for i, p in enumerate(prompts)]

    def request(
        state: _State,
        kind: SegmentKind,
        stops: Iterable[int],
        context: list[int],
        max_new: int,
        temperature: float,
        path: int | None = None,
    ) -> SegmentRequest:
        return SegmentRequest(
            rollout_index=state.index,
            kind=kind,
            block_index=state.completed,
            path_index=path,
            context=context,
            stop_ids=_stop_tuple(stops),
            max_new_tokens=max_new,
            temperature=temperature,
            top_p=cfg.top_p,
            seed=derive_seed(cfg.seed, state.index, kind, state.completed, path),
        )

    active = list(states)
    while active:
        # 1. main chain
        mains: list[tuple[_State, bool]] = []
        for state in active:
            if len(state.resp) >= budget:
                state.finish = "length"
            else:
                branching = cfg.max_blocks is None or state.completed < cfg.max_blocks
                mains.append((state, branching))
        main_requests = [
            request(
                s,
                "main",
                ({tags.parallel_open} if br else set()) | eos,
                s.prompt + s.resp,
                budget - len(s.resp),
                cfg.temperature,
            )
            for s, br in mains
        ]
        branched: list[_State] = []
        for (state, branching), seg in zip(mains, _call(generate, main_requests), strict=True):
            state.add(seg.token_ids, seg.logprobs)
            last = seg.token_ids[-1] if seg.token_ids else None
            if not (branching and last == tags.parallel_open):
                state.finish = "eos" if last is not None and last in eos else "length"
            elif len(state.resp) >= budget:
                state.finish = "length"
            else:
                branched.append(state)

        # 2. paths
        path_requests = [
            request(
                s,
                "path",
                {tags.path_close} | eos,
                s.prompt + s.resp + [tags.path_open],
                min(cfg.max_path_tokens, budget - len(s.resp)),
                cfg.path_temperature,
                k,
            )
            for s in branched
            for k in range(cfg.num_paths)
        ]
        path_segments = _call(generate, path_requests)
        for i, state in enumerate(branched):
            open_at = len(state.resp) - 1
            spans: list[tuple[int, int]] = []
            for seg in path_segments[i * cfg.num_paths : (i + 1) * cfg.num_paths]:
                start = len(state.resp)
                state.add([tags.path_open], forced=True)
                state.add_closed(seg, tags.path_close, eos)
                spans.append((start, len(state.resp)))
            close_at = len(state.resp)
            state.add([tags.parallel_close, *separator, tags.summary_open], forced=True)
            state.blocks.append(ParallelBlock(open=open_at, paths=spans, close=close_at))

        # 3. summaries
        summarized = [s for s in branched if len(s.resp) < budget]
        summary_requests = [
            request(
                s,
                "summary",
                {tags.summary_close} | eos,
                s.prompt + s.resp,
                budget - len(s.resp),
                cfg.temperature,
            )
            for s in summarized
        ]
        for state, seg in zip(summarized, _call(generate, summary_requests), strict=True):
            state.add_closed(seg, tags.summary_close, eos)

        # 4. block complete
        for state in branched:
            state.completed += 1
            if len(state.resp) >= budget:
                state.finish = "length"
            elif (
                cfg.stop_after_max_blocks and cfg.max_blocks is not None and state.completed >= cfg.max_blocks
            ):
                state.finish = "max_blocks"
        active = [s for s in states if s.finish is None]

    rollouts: list[ParallelRollout] = []
    for state in states:
        blocks = _clip_blocks(state.blocks, budget)
        assert state.finish is not None
        rollouts.append(
            ParallelRollout(
                prompt_ids=state.prompt,
                completion_ids=state.resp[:budget],
                forced_mask=state.forced[:budget],
                logprobs=state.logprobs[:budget],
                blocks=blocks,
                num_blocks=len(blocks),
                finish_reason=state.finish,
            )
        )
    return rollouts


# ------------------------------------------------------------------------------------ transformers


class HFSegmentGenerator:
    """A segment generator over a transformers causal LM (``model.generate``, left padding, KV cache).

    Requests are grouped by stop set and sampling parameters (temperature, top-p) and generated in batches of
    at most ``batch_size``, each with ``max_new_tokens`` = the largest of the batch (every row is then cut to
    its own). The stop ids are passed as ``eos_token_id``; the model's ``generation_config`` sampling defaults
    do not apply. Log-probs are those of the processed distribution (after temperature and top-p, as vLLM's
    ``processed_logprobs``); temperature 0 is greedy decoding with log-probs of the raw logits. When requests
    carry seeds, each batch is seeded with its first request's seed (torch's global generator, forked so the
    caller's random state is untouched): reproducible for the same batches, but not per request.
    """

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        pad = getattr(tokenizer, "pad_token_id", None)
        if pad is None:
            eos = getattr(tokenizer, "eos_token_id", None)
            pad = eos if isinstance(eos, int) else 0
        self.pad_id = int(pad)

    def __call__(self, requests: list[SegmentRequest]) -> list[Segment]:
        from rlcore.rollout import eval_no_grad

        groups: dict[tuple[tuple[int, ...], float, float], list[int]] = {}
        for i, req in enumerate(requests):
            greedy = req.temperature <= 0
            key = (
                _stop_tuple(req.stop_ids),
                0.0 if greedy else float(req.temperature),
                1.0 if greedy else float(req.top_p),
            )
            groups.setdefault(key, []).append(i)
        results: list[Segment | None] = [None] * len(requests)
        with eval_no_grad(self.model):
            for (stops, temperature, top_p), idx in groups.items():
                for lo in range(0, len(idx), self.batch_size):
                    chunk = idx[lo : lo + self.batch_size]
                    batch = [requests[i] for i in chunk]
                    for i, seg in zip(chunk, self._generate(batch, stops, temperature, top_p), strict=True):
                        results[i] = seg
        return [r if r is not None else Segment([], []) for r in results]

    def _generate(
        self, batch: list[SegmentRequest], stops: tuple[int, ...], temperature: float, top_p: float
    ) -> list[Segment]:
        import torch
        from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

        from rlcore.rollout import ChosenLogprobs

        width = max(1, max(len(r.context) for r in batch))
        rows = [[self.pad_id] * (width - len(r.context)) + list(r.context) for r in batch]
        mask = [[0] * (width - len(r.context)) + [1] * len(r.context) for r in batch]
        device = self.model.device
        input_ids = torch.tensor(rows, dtype=torch.long, device=device)
        attention_mask = torch.tensor(mask, dtype=torch.long, device=device)
        max_new = max(r.max_new_tokens for r in batch)
        if max_new < 1:
            return [Segment([], []) for _ in batch]
        greedy = temperature <= 0
        recorder = ChosenLogprobs(width)  # last: log-probs of the processed distribution
        processors: list[Any] = []
        if not greedy:
            if temperature != 1.0:
                processors.append(TemperatureLogitsWarper(temperature))
            if top_p < 1.0:
                processors.append(TopPLogitsWarper(top_p))
        processors.append(recorder)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "pad_token_id": self.pad_id,
            # No stop set: an id no model has, so only max_new_tokens ends the rows.
            "eos_token_id": list(stops) if stops else [2**31 - 1],
            "use_cache": True,
            "return_dict_in_generate": True,
            "logits_processor": LogitsProcessorList(processors),
            "repetition_penalty": 1.0,
        }
        if greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            # Default warpers off: ours run before the recorder, which must see the final scores.
            kwargs.update(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, min_p=None, typical_p=1.0)
        seed = next((r.seed for r in batch if r.seed is not None), None)
        with self._seeded(seed):
            out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        generated = out.sequences[:, width:].tolist()
        logprobs = recorder.result(out.sequences).tolist()
        stop_set = set(stops)
        segments = []
        for req, ids, lps in zip(batch, generated, logprobs, strict=True):
            end = next((i + 1 for i, t in enumerate(ids) if t in stop_set), len(ids))
            end = min(end, req.max_new_tokens)
            segments.append(Segment([int(t) for t in ids[:end]], [float(x) for x in lps[:end]]))
        return segments

    def _seeded(self, seed: int | None):
        from rlcore.rollout import seeded

        return seeded(seed, self.model.device)


# ------------------------------------------------------------------------------------------------ vLLM


class VLLMSegmentGenerator:
    """A segment generator over a vLLM ``LLM`` (or anything with its ``generate``): token prompts
    (``{"prompt_token_ids": ...}``), one ``SamplingParams`` per request with ``stop_token_ids``, the request's
    seed (exact per request, unlike the HF generator) and ``logprobs=0`` (the sampled token's log-prob).

    ``sampling_params_cls`` defaults to ``vllm.SamplingParams``, imported on first use.
    """

    def __init__(self, llm: Any, *, sampling_params_cls: Any = None) -> None:
        self.llm = llm
        self._sampling_params_cls = sampling_params_cls

    def _params_cls(self) -> Any:
        if self._sampling_params_cls is None:
            try:
                from vllm import SamplingParams
            except ImportError as exc:  # pragma: no cover - GPU only
                raise ImportError("VLLMSegmentGenerator needs vLLM: pip install 'parallel-r1[vllm]'") from exc
            self._sampling_params_cls = SamplingParams
        return self._sampling_params_cls

    def sampling_params(self, request: SegmentRequest) -> Any:
        """The ``SamplingParams`` of one request."""
        return self._params_cls()(
            n=1,
            temperature=float(request.temperature),
            top_p=float(request.top_p),
            max_tokens=int(request.max_new_tokens),
            stop_token_ids=list(request.stop_ids),
            seed=request.seed,
            logprobs=0,
        )

    def __call__(self, requests: list[SegmentRequest]) -> list[Segment]:
        if not requests:
            return []
        live = [i for i, r in enumerate(requests) if r.max_new_tokens >= 1]
        results = [Segment([], []) for _ in requests]
        if not live:
            return results
        prompts = [{"prompt_token_ids": list(requests[i].context)} for i in live]
        params = [self.sampling_params(requests[i]) for i in live]
        outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        for i, out in zip(live, outputs, strict=True):
            completion = out.outputs[0]
            ids = [int(t) for t in completion.token_ids]
            logprobs = None
            if getattr(completion, "logprobs", None) is not None:
                logprobs = [
                    float(step[tok].logprob) for step, tok in zip(completion.logprobs, ids, strict=True)
                ]
            results[i] = _as_segment(Segment(ids, logprobs), requests[i])
        return results
