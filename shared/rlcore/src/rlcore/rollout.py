"""Rollouts: one interface to sample completions from a policy, whatever serves it.

A :class:`Generator` turns prompts into :class:`Sample` lists. Three backends implement it:
:class:`HFGenerator` (batched transformers ``generate``, CPU or GPU), :class:`VLLMGenerator` (a vLLM
engine, GPU only, imported lazily) and :class:`OpenAIGenerator` (any OpenAI-compatible server, stdlib
HTTP only). :func:`make_generator` builds one from a spec string and :func:`policy_generator` wraps the
policy a TRL trainer is training.

Conventions shared by the backends:

- A prompt is a string, used as the exact model input (no chat template and no special tokens added), or
  a list of chat messages, rendered with the model's chat template and the generation prompt. A message's
  content is a string or a list of blocks ``{"type": "text", "text": ...}`` and
  ``{"type": "image", "image": PIL.Image | path}``; a bare ``{"type": "image"}`` placeholder is a
  ``ValueError`` (fill it first).
- ``Sample.text`` is the decoded completion without special tokens, cut right before the first stop
  string (right after it with ``include_stop=True``). ``finish_reason`` is ``"stop"`` when EOS or a stop
  string ended the sample and ``"length"`` when ``max_new_tokens`` did.
- ``Sample.token_ids`` are the generated ids up to and including the one that ended the sample: the EOS
  token, or the token that completed a stop string (a stop can end inside a token, so these ids may decode
  to a little more than ``text``). Padding is never included. ``Sample.logprobs`` runs parallel to them.
- Log-probs are those of the model's own distribution, log-softmax of the logits before temperature,
  top-k and top-p (what an RL loss recomputes at temperature 1), not of the distribution sampled from.
"""

from __future__ import annotations

import base64
import io
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rlcore.data import load_image

__all__ = [
    "ChosenLogprobs",
    "Generator",
    "HFGenerator",
    "OpenAIGenerator",
    "Sample",
    "SamplingParams",
    "VLLMGenerator",
    "eval_no_grad",
    "make_generator",
    "policy_generator",
    "seeded",
]

_VLLM_INSTALL = "pip install 'rlcore[vllm]'"


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature=0`` is greedy decoding (then all n samples of a prompt are identical);
    ``top_k=0`` and ``top_p=1`` disable those filters. ``stop`` is a tuple of stop strings (a single string
    is accepted and wrapped). ``seed`` makes one ``generate`` call reproducible: the same prompts, params
    and seed give the same samples (a different batch composition draws differently)."""

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop: tuple[str, ...] = ()
    include_stop: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        object.__setattr__(self, "stop", stop)
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(
                f"SamplingParams.max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}"
            )
        if not self.temperature >= 0:  # also rejects NaN
            raise ValueError(f"SamplingParams.temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(
                f"SamplingParams.top_k must be an integer >= 0 (0 disables it), got {self.top_k!r}"
            )
        if not all(isinstance(s, str) and s for s in stop):
            raise ValueError(f"SamplingParams.stop must hold non-empty strings, got {self.stop!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"SamplingParams.seed must be an integer or None, got {self.seed!r}")

    @property
    def greedy(self) -> bool:
        """True for greedy decoding (temperature 0)."""
        return self.temperature == 0


@dataclass
class Sample:
    """One completion: its text, generated token ids (see the module docstring), the log-prob of each of
    those tokens (None when the backend gave none) and why it ended, ``"stop"`` or ``"length"``."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    finish_reason: str = "stop"


@runtime_checkable
class Generator(Protocol):
    """Anything that samples completions: one list of ``n`` samples per prompt, in prompt order."""

    def generate(
        self, prompts: Sequence[str | list[dict]], params: SamplingParams | None = None, n: int = 1
    ) -> list[list[Sample]]: ...


# ------------------------------------------------------------------------------------------ prompts


@dataclass
class _Prompt:
    """A validated prompt: ``text`` for a string prompt, else ``messages`` whose image blocks hold loaded
    PIL images, with ``images`` listing them in order."""

    text: str | None = None
    messages: list[dict] | None = None
    images: list[Any] = field(default_factory=list)


def _parse_prompts(prompts: Sequence[str | list[dict]]) -> list[_Prompt]:
    if isinstance(prompts, str | dict):
        raise TypeError("generate() takes a list of prompts; wrap a single prompt or conversation in a list")
    parsed = []
    for i, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            parsed.append(_Prompt(text=prompt))
        elif isinstance(prompt, list | tuple) and all(isinstance(m, dict) for m in prompt):
            parsed.append(_parse_messages(prompt, i))
        else:
            raise TypeError(
                f"prompt {i} is a {type(prompt).__name__}: a prompt is a string or a list of chat messages "
                "(dicts with 'role' and 'content')"
            )
    return parsed


def _parse_messages(messages: Sequence[dict], index: int) -> _Prompt:
    out, images = [], []
    for j, message in enumerate(messages):
        where = f"prompt {index}, message {j}"
        if "role" not in message or "content" not in message:
            raise ValueError(
                f"{where}: a chat message needs 'role' and 'content', got keys {sorted(message)}"
            )
        content = message["content"]
        if isinstance(content, str):
            out.append(dict(message))
            continue
        if not isinstance(content, list | tuple):
            raise ValueError(
                f"{where}: content must be a string or a list of blocks, got {type(content).__name__}"
            )
        blocks = []
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("text"), str):
                blocks.append({"type": "text", "text": block["text"]})
            elif kind == "image":
                if block.get("image") is None:
                    raise ValueError(
                        f"{where}: bare {{'type': 'image'}} placeholder; fill it first with the image "
                        "({'type': 'image', 'image': PIL.Image or path})"
                    )
                image = load_image(block["image"])
                images.append(image)
                blocks.append({"type": "image", "image": image})
            else:
                raise ValueError(
                    f"{where}: unsupported content block {block!r}; expected {{'type': 'text', 'text': str}} "
                    "or {'type': 'image', 'image': PIL.Image or path}"
                )
        out.append({**message, "content": blocks})
    return _Prompt(messages=out, images=images)


def _find_stop(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    """The earliest stop string in ``text`` as (start, stop), the longest one on a tie; None if none."""
    best = None
    for stop in stops:
        at = text.find(stop)
        if at >= 0 and (best is None or at < best[0] or (at == best[0] and len(stop) > len(best[1]))):
            best = (at, stop)
    return best


def _cut_at_stop(text: str, stops: Sequence[str], include: bool) -> tuple[str, bool]:
    """``text`` cut before (or after, with ``include``) its first stop string, and whether one was found."""
    hit = _find_stop(text, stops)
    if hit is None:
        return text, False
    at, stop = hit
    return text[: at + len(stop) if include else at], True


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")


# ------------------------------------------------------------------------------------ transformers


class ChosenLogprobs:
    """A logits processor that records the log-prob of each chosen token under the scores it is given.

    Where it sits in the processor list decides which distribution that is: called before the sampling
    warpers (``HFGenerator``: transformers appends temperature, top-k and top-p after custom processors) it
    sees the model's own logits; placed after explicit warpers it sees the processed distribution actually
    sampled from (vLLM's ``processed_logprobs``). transformers calls it with the scores of step t before the
    token is chosen, so the choice is only known at the next call (the last column of ``input_ids``) or, for
    the last step, from the output sequences; keeping one step's log-softmax at a time costs batch x vocab
    floats, where ``output_logits=True`` would keep every step's. ``result`` gives the (rows, generated length)
    log-probs.
    """

    def __init__(self, prompt_len: int) -> None:
        self.prompt_len = prompt_len
        self._pending: Any = None
        self._steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if input_ids.shape[1] > self.prompt_len and self._pending is not None:
            self._steps.append(self._pending.gather(1, input_ids[:, -1:]).squeeze(1))
        self._pending = scores.float().log_softmax(dim=-1)
        return scores

    def result(self, sequences: Any) -> Any:
        """(rows, generated length) log-probs, given generate's output sequences."""
        import torch

        if self._pending is not None and sequences.shape[1] > self.prompt_len + len(self._steps):
            self._steps.append(self._pending.gather(1, sequences[:, -1:]).squeeze(1))
            self._pending = None
        if not self._steps:
            return torch.zeros(sequences.shape[0], 0)
        return torch.stack(self._steps, dim=1)


@contextmanager
def eval_no_grad(model: Any) -> Iterator[None]:
    """Eval mode and no gradient for the block; each module's own training flag restored afterwards (a
    trainer may keep, say, a frozen vision tower in eval mode while the rest trains)."""
    import torch

    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes:
            module.training = mode


class HFGenerator:
    """Batched sampling with transformers' ``model.generate`` (left padding, KV cache).

    ``tokenizer_or_processor`` is the model's tokenizer or, for a vision-language model, its processor;
    image blocks go through the processor. Each call puts the model in eval mode without gradients and
    restores its training mode afterwards, so a trainer's policy can be sampled mid-training. The sampling
    distribution is exactly what :class:`SamplingParams` says: the model's ``generation_config`` sampling
    defaults (temperature, top-k/p, repetition penalty) do not apply; its EOS ids do.

    All prompts of one call are generated together, with ``num_return_sequences=n``; prompts with images
    and prompts without go in two sub-batches (processors differ in whether they accept a batch where some
    texts have no image), and results come back in prompt order. Split large prompt lists into several calls
    to bound memory: one call holds len(prompts) x n sequences.

    transformers matches stop strings against the text of every token, special ones included, while
    ``Sample.text`` drops special tokens: a special token whose text holds a stop string (``"<|im_end|>"``
    holds ``"e"``) ends the sample with finish_reason ``"stop"`` and no stop string in its text.
    """

    def __init__(self, model: Any, tokenizer_or_processor: Any) -> None:
        from rlcore.models import eos_token_ids, tokenizer_of

        self.model = model
        self.processor = tokenizer_or_processor
        self.tokenizer = tokenizer_of(tokenizer_or_processor)
        self._eos_ids = eos_token_ids(model, self.tokenizer)
        pad = self.tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else (min(self._eos_ids) if self._eos_ids else 0)

    def generate(
        self, prompts: Sequence[str | list[dict]], params: SamplingParams | None = None, n: int = 1
    ) -> list[list[Sample]]:
        """One list of ``n`` samples per prompt, in prompt order."""
        params = params if params is not None else SamplingParams()
        _check_n(n)
        parsed = _parse_prompts(prompts)
        texts = [self._render(p) for p in parsed]
        results: list[list[Sample]] = [[] for _ in parsed]
        with eval_no_grad(self.model):
            for with_images in (False, True):
                idx = [i for i, p in enumerate(parsed) if bool(p.images) == with_images]
                if not idx:
                    continue
                images = [image for i in idx for image in parsed[i].images]
                for i, samples in zip(
                    idx, self._generate_batch([texts[i] for i in idx], images, params, n), strict=True
                ):
                    results[i] = samples
        return results

    def _render(self, prompt: _Prompt) -> str:
        if prompt.text is not None:
            return prompt.text
        if prompt.images and self.processor is self.tokenizer:
            raise ValueError(
                "an image block was given but this model has a tokenizer, not a multimodal processor; "
                "load a vision-language model (task='image-text-to-text') or drop the image"
            )
        messages = [self._template_message(m) for m in prompt.messages]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _template_message(self, message: dict) -> dict:
        content = message["content"]
        if isinstance(content, str):
            return message
        if self.processor is self.tokenizer:
            # Text-only chat templates often print a list content verbatim, so text blocks are joined into
            # one string, with newlines as vLLM does for such templates.
            return {**message, "content": "\n".join(block["text"] for block in content)}
        # The template only needs to know where an image goes; the pixels go to the processor.
        return {**message, "content": [{"type": "image"} if b["type"] == "image" else b for b in content]}

    def _generate_batch(
        self, texts: list[str], images: list[Any], params: SamplingParams, n: int
    ) -> list[list[Sample]]:
        tok = self.tokenizer
        side, tok.padding_side = tok.padding_side, "left"
        try:
            # Special tokens are not added: a string prompt is the exact input and a rendered chat template
            # already holds the ones it needs.
            if images:
                enc = self.processor(
                    text=texts, images=images, padding=True, return_tensors="pt", add_special_tokens=False
                )
            else:
                enc = tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        finally:
            tok.padding_side = side
        device, dtype = self.model.device, self.model.dtype
        inputs = {k: v.to(device, dtype) if v.is_floating_point() else v.to(device) for k, v in enc.items()}
        prompt_len = inputs["input_ids"].shape[1]
        recorder = ChosenLogprobs(prompt_len)  # first: the model's own log-probs
        rows = 1 if params.greedy else n
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "num_return_sequences": rows,
            "pad_token_id": self._pad_id,
            "eos_token_id": sorted(self._eos_ids) or None,
            "use_cache": True,
            "repetition_penalty": 1.0,
            "return_dict_in_generate": True,
            "logits_processor": [recorder],
        }
        if params.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(
                do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k
            )
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        with self._seeded(params.seed):
            out = self.model.generate(**inputs, **kwargs)
        generated = out.sequences[:, prompt_len:].tolist()
        logprobs = recorder.result(out.sequences).tolist()
        samples = [self._finish(ids, lps, params) for ids, lps in zip(generated, logprobs, strict=True)]
        if params.greedy:
            # Greedy decoding gives one answer per prompt: generate it once and copy it n times.
            return [[_copy(s) for _ in range(n)] for s in samples]
        return [samples[i * n : (i + 1) * n] for i in range(len(texts))]

    def _seeded(self, seed: int | None):
        return seeded(seed, self.model.device)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _finish(self, ids: list[int], logprobs: list[float], params: SamplingParams) -> Sample:
        """Trim one generated row to its end (EOS, stop string or length) and decode it."""
        eos_at = next((i for i, t in enumerate(ids) if t in self._eos_ids), None)
        body = ids if eos_at is None else ids[:eos_at]
        text = self._decode(body)
        if params.stop and _find_stop(text, params.stop) is not None:
            # The shortest prefix whose text holds a stop string ends with the token that completed it;
            # prefix texts only grow, so a binary search finds it.
            lo, hi = 1, len(body)
            while lo < hi:
                mid = (lo + hi) // 2
                if _find_stop(self._decode(body[:mid]), params.stop) is None:
                    lo = mid + 1
                else:
                    hi = mid
            cut, _ = _cut_at_stop(self._decode(body[:lo]), params.stop, params.include_stop)
            return Sample(cut, body[:lo], logprobs[:lo], "stop")
        if eos_at is not None:
            return Sample(text, ids[: eos_at + 1], logprobs[: eos_at + 1], "stop")
        end = len(ids)
        while end > 0 and ids[end - 1] == self._pad_id:
            end -= 1
        if end < len(ids):
            # Padded without an EOS or a stop in the decoded text: the row ended on a stop string that
            # matched a special token's text, which decoding skips.
            return Sample(self._decode(ids[:end]), ids[:end], logprobs[:end], "stop")
        return Sample(text, ids, logprobs, "length")


@contextmanager
def seeded(seed: int | None, device: Any = None) -> Iterator[None]:
    """Seed torch (CPU, and ``device`` when it is a CUDA device) for the enclosed sampling without disturbing
    the caller's random state; ``seed=None`` changes nothing."""
    if seed is None:
        yield
        return
    import torch

    device = torch.device(device) if device is not None else torch.device("cpu")
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if device.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _copy(sample: Sample) -> Sample:
    logprobs = None if sample.logprobs is None else list(sample.logprobs)
    return Sample(sample.text, list(sample.token_ids), logprobs, sample.finish_reason)


# ------------------------------------------------------------------------------------------------ vLLM


def _vllm_sampling_kwargs(params: SamplingParams, n: int) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for ``params`` and ``n`` samples per prompt.

    vLLM 0.22+ reads ``top_k=0`` as "disabled", like ours, and ``temperature=0`` as greedy.
    ``logprobs=0`` returns the log-prob of each sampled token and no alternatives.
    """
    return {
        "n": n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "max_tokens": params.max_new_tokens,
        "stop": list(params.stop),
        "include_stop_str_in_output": params.include_stop,
        "seed": params.seed,
        "logprobs": 0,
    }


class VLLMGenerator:
    """Sampling with a vLLM engine (GPU, Linux; ``pip install 'rlcore[vllm]'``).

    ``model_or_engine`` is a model name or path, built into ``vllm.LLM(model, **engine_kwargs)``, or an
    existing ``vllm.LLM`` (engine_kwargs then not allowed). String prompts are tokenized with the engine's
    tokenizer without special tokens, as :class:`HFGenerator` does; chat prompts go through ``LLM.chat``,
    which applies the model's chat template and takes images as ``image_pil`` parts. Log-probs follow the
    engine's ``logprobs_mode``: vLLM's default ``raw_logprobs`` matches the module convention, while TRL's
    colocated engine uses ``processed_logprobs`` (after temperature and filters).
    """

    def __init__(self, model_or_engine: Any, **engine_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(f"VLLMGenerator needs vLLM (GPU, Linux): {_VLLM_INSTALL}") from exc
        self._vllm = vllm
        if isinstance(model_or_engine, str | os.PathLike):
            self.llm = vllm.LLM(model=str(model_or_engine), **engine_kwargs)
        elif engine_kwargs:
            raise TypeError(
                "engine_kwargs are for building an engine from a model name; an existing engine takes none"
            )
        else:
            self.llm = model_or_engine

    def generate(
        self, prompts: Sequence[str | list[dict]], params: SamplingParams | None = None, n: int = 1
    ) -> list[list[Sample]]:
        """One list of ``n`` samples per prompt, in prompt order."""
        params = params if params is not None else SamplingParams()
        _check_n(n)
        parsed = _parse_prompts(prompts)
        sampling = self._vllm.SamplingParams(**_vllm_sampling_kwargs(params, n))
        outputs: list[Any] = [None] * len(parsed)
        text_idx = [i for i, p in enumerate(parsed) if p.text is not None]
        chat_idx = [i for i, p in enumerate(parsed) if p.text is None]
        if text_idx:
            tokenizer = self.llm.get_tokenizer()
            requests = [
                {"prompt_token_ids": tokenizer.encode(parsed[i].text, add_special_tokens=False)}
                for i in text_idx
            ]
            for i, out in zip(
                text_idx, self.llm.generate(requests, sampling_params=sampling, use_tqdm=False), strict=True
            ):
                outputs[i] = out
        if chat_idx:
            conversations = [[_vllm_message(m) for m in parsed[i].messages] for i in chat_idx]
            chat_out = self.llm.chat(
                conversations, sampling_params=sampling, use_tqdm=False, add_generation_prompt=True
            )
            for i, out in zip(chat_idx, chat_out, strict=True):
                outputs[i] = out
        return [[_vllm_sample(c) for c in out.outputs] for out in outputs]


def _vllm_message(message: dict) -> dict:
    content = message["content"]
    if isinstance(content, str):
        return message
    parts = [
        {"type": "image_pil", "image_pil": b["image"]}
        if b["type"] == "image"
        else {"type": "text", "text": b["text"]}
        for b in content
    ]
    return {**message, "content": parts}


def _vllm_sample(completion: Any) -> Sample:
    token_ids = list(completion.token_ids)
    logprobs = None
    if completion.logprobs is not None:
        logprobs = [
            float(step[token].logprob) for step, token in zip(completion.logprobs, token_ids, strict=True)
        ]
    finish = "length" if completion.finish_reason == "length" else "stop"
    return Sample(completion.text, token_ids, logprobs, finish)


class _TRLColocatedGenerator(VLLMGenerator):
    """A :class:`VLLMGenerator` over the engine TRL colocates with the trainer (``trainer.vllm_generation``).

    In TRL's sleep mode the engine sleeps at level 2 between generations, which discards the weights, so
    each call re-pushes the policy's weights if needed, wakes the KV cache, and puts the engine back to sleep
    afterwards, as TRL's own generation does.
    """

    def __init__(self, vllm_generation: Any) -> None:
        super().__init__(vllm_generation.llm)
        self._trl = vllm_generation

    def generate(
        self, prompts: Sequence[str | list[dict]], params: SamplingParams | None = None, n: int = 1
    ) -> list[list[Sample]]:
        trl = self._trl
        if not getattr(trl, "enable_sleep_mode", False):
            return super().generate(prompts, params, n)
        if getattr(trl, "_llm_weights_sleeping", False):
            trl.sync_weights()
        self.llm.wake_up(tags=["kv_cache"])
        try:
            return super().generate(prompts, params, n)
        finally:
            self.llm.sleep(level=2)
            trl._llm_weights_sleeping = True


# ------------------------------------------------------------------------------------ OpenAI servers


class OpenAIGenerator:
    """Sampling through an OpenAI-compatible server (vLLM, SGLang, llama.cpp, TGI...), stdlib HTTP only.

    ``base_url`` is the server root, with or without a trailing ``/v1``. String prompts go to
    ``/v1/completions``, chat prompts to ``/v1/chat/completions`` with images as base64 PNG data-URL
    ``image_url`` parts. One request per prompt asks for its ``n`` samples; up to ``max_workers`` requests
    run at once. ``api_key``, when given, is sent as a bearer token. ``top_k`` (not an OpenAI field) is sent
    only when non-zero; ``extra_body`` is merged into every request for server-specific fields (vLLM's
    ``return_token_ids``, for instance). With ``logprobs=True`` the chosen tokens' log-probs are requested.

    Servers strip the stop string from the text, so ``include_stop=True`` is applied here: the matched stop
    is appended when the server names it (vLLM's ``stop_reason``, SGLang's ``matched_stop``); a server that
    does not say which stop ended a sample cannot tell it from EOS, and its text stays as returned. A stop
    string still present in the returned text is cut here too. ``token_ids`` are ``[]`` unless the server
    returns them. HTTP and connection failures raise a one-line ``RuntimeError`` / ``ConnectionError``
    naming the URL.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 600.0,
        max_workers: int = 8,
        logprobs: bool = False,
        extra_body: dict | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        self.base_url = root[: -len("/v1")] if root.endswith("/v1") else root
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_workers = max_workers
        self.logprobs = logprobs
        self.extra_body = dict(extra_body or {})

    def generate(
        self, prompts: Sequence[str | list[dict]], params: SamplingParams | None = None, n: int = 1
    ) -> list[list[Sample]]:
        """One list of ``n`` samples per prompt, in prompt order."""
        params = params if params is not None else SamplingParams()
        _check_n(n)
        parsed = _parse_prompts(prompts)
        if len(parsed) <= 1:
            return [self._request(p, params, n) for p in parsed]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(parsed))) as pool:
            return list(pool.map(lambda p: self._request(p, params, n), parsed))

    def _request(self, prompt: _Prompt, params: SamplingParams, n: int) -> list[Sample]:
        body: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.top_k:
            body["top_k"] = params.top_k
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        chat = prompt.text is None
        if chat:
            url = f"{self.base_url}/v1/chat/completions"
            body["messages"] = [_openai_message(m) for m in prompt.messages]
            if self.logprobs:
                body["logprobs"] = True
        else:
            url = f"{self.base_url}/v1/completions"
            body["prompt"] = prompt.text
            if self.logprobs:
                body["logprobs"] = 0
        body.update(self.extra_body)
        reply = self._post(url, body)
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or len(choices) != n:
            raise RuntimeError(
                f"POST {url} returned {len(choices or [])} choices, expected {n}: {str(reply)[:200]}"
            )
        choices = sorted(choices, key=lambda c: c.get("index", 0))
        return [_openai_sample(c, chat, params) for c in choices]

    def _post(self, url: str, body: dict) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = " ".join(exc.read().decode("utf-8", "replace").split())[:200]
            raise RuntimeError(f"POST {url} failed with HTTP {exc.code}: {detail or exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:  # refused, unknown host, timeout
            reason = getattr(exc, "reason", exc)
            raise ConnectionError(f"cannot reach the OpenAI-compatible server at {url}: {reason}") from exc
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise RuntimeError(f"POST {url} returned invalid JSON: {payload[:200]!r}") from exc


def _openai_message(message: dict) -> dict:
    content = message["content"]
    if isinstance(content, str):
        return message
    parts = [
        {"type": "image_url", "image_url": {"url": _data_url(b["image"])}}
        if b["type"] == "image"
        else {"type": "text", "text": b["text"]}
        for b in content
    ]
    return {**message, "content": parts}


def _data_url(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _openai_sample(choice: dict, chat: bool, params: SamplingParams) -> Sample:
    text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
    text = text or ""
    finish = "length" if choice.get("finish_reason") == "length" else "stop"
    matched = choice.get("stop_reason", choice.get("matched_stop"))
    if params.include_stop and finish == "stop" and isinstance(matched, str) and matched in params.stop:
        text += matched
    text, cut = _cut_at_stop(text, params.stop, params.include_stop)
    if cut:
        finish = "stop"
    logprobs = None
    raw = choice.get("logprobs")
    if isinstance(raw, dict):
        if chat and isinstance(raw.get("content"), list):
            logprobs = [float(entry["logprob"]) for entry in raw["content"]]
        elif not chat and isinstance(raw.get("token_logprobs"), list):
            logprobs = [float(lp) for lp in raw["token_logprobs"]]
    return Sample(text, list(choice.get("token_ids") or []), logprobs, finish)


# ------------------------------------------------------------------------------------------- factories


def make_generator(spec: Any) -> Generator:
    """A Generator from a spec: ``hf:<model spec>``, ``vllm:<model>``, ``openai:<base_url>#<model>``, or
    any other string as a :func:`rlcore.models.load_model` spec meaning ``hf:``. A Generator is returned
    as is."""
    if not isinstance(spec, str):
        if callable(getattr(spec, "generate", None)):
            return spec
        raise TypeError(f"make_generator takes a spec string or a Generator, got {type(spec).__name__}")
    if spec.startswith("vllm:"):
        return VLLMGenerator(spec[len("vllm:") :])
    if spec.startswith("openai:"):
        url, sep, model = spec[len("openai:") :].rpartition("#")
        if not sep or not url or not model:
            raise ValueError(f"an OpenAI generator spec is 'openai:<base_url>#<model>', got {spec!r}")
        return OpenAIGenerator(url, model)
    from rlcore.models import load_model

    return HFGenerator(*load_model(spec.removeprefix("hf:")))


def policy_generator(trainer: Any) -> Generator:
    """A Generator over the policy a TRL ``GRPOTrainer`` is training, for use inside a ``rollout_func``.

    Without vLLM: an :class:`HFGenerator` over ``trainer.accelerator.unwrap_model(trainer.model)`` and
    ``trainer.processing_class`` (eval mode and no gradient during each call, training mode restored).
    With ``use_vllm``: a :class:`VLLMGenerator` over the trainer's colocated engine
    (``trainer.vllm_generation.llm``), which TRL syncs with the current weights before calling the
    rollout function. A vLLM server (``vllm_mode="server"``) has no engine here, and a tensor-parallel
    engine needs every rank of its group to send the same requests: both are a ``ValueError``.
    """
    if getattr(trainer, "use_vllm", False):
        vllm_generation = getattr(trainer, "vllm_generation", None)
        if getattr(vllm_generation, "llm", None) is None:
            raise ValueError(
                "policy_generator needs the trainer's colocated vLLM engine, but this trainer has none "
                "(vllm_mode='server'?); use vllm_mode='colocate' or use_vllm=False"
            )
        if getattr(vllm_generation, "tensor_parallel_size", 1) > 1:
            # Ranks sharing a tensor-parallel engine must submit identical requests (TRL gathers the
            # prompts of the group first); per-rank calls from a rollout function would deadlock.
            raise ValueError(
                "policy_generator supports a colocated vLLM engine with vllm_tensor_parallel_size=1 only"
            )
        return _TRLColocatedGenerator(vllm_generation)
    model = trainer.accelerator.unwrap_model(trainer.model)
    return HFGenerator(model, trainer.processing_class)
