"""Relay decoding: the small model (SLM) writes the answer and hands the pen to the large model (LLM) for n
tokens whenever it writes ``<call>n</call>`` (paper §3.1; spec §2.2).

Two kinds of relay model implement :class:`RelayModel`:

- :class:`HFRelayModel` wraps a local transformers causal LM and keeps one KV cache across calls. Each call
  crops the cache to the common prefix of what it holds and the new input, so a relay re-reads only the tokens
  the other model wrote since its last turn: with a shared tokenizer the SLM prefills exactly
  P + Σ(m_j + 1) tokens over a whole answer (P the prompt, m_j the LLM spans), instead of re-reading the whole
  context at every turn.
- :class:`GeneratorRelayModel` wraps any ``rlcore.rollout`` Generator (vLLM, an OpenAI-compatible server);
  reuse then comes from the server's prefix cache, and the relay can run many prompts turn by turn.

:func:`relay_decode` runs the state machine for one prompt, :func:`relay_generate` for many, and
:func:`make_relay_rollout` turns it into a TRL ``rollout_func`` for GRPO. Token counts are always in the SLM
vocabulary with EOS counted, so the call ratio ρ (the share of the answer's tokens written by the LLM) is
comparable across teachers.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from relayllm.config import RelayConfig
from relayllm.prompts import CALL_CLOSE, parse_calls, strip_calls
from rlcore.rollout import eval_no_grad

__all__ = [
    "Continuation",
    "GeneratorRelayModel",
    "HFRelayModel",
    "RelayModel",
    "RelayResult",
    "Segment",
    "as_relay_model",
    "load_relay_model",
    "make_relay_rollout",
    "relay_decode",
    "relay_generate",
]

# Model specs load_model understands besides hub ids and directories, and the relay's own schemes. Anything
# else before a colon that looks like a URL scheme is a mistake (a bare http:// URL, a typo).
_LOAD_MODEL_SCHEMES = ("tiny", "embedded", "gguf")
_RELAY_SCHEMES = ("hf", "openai", "vllm")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


# ------------------------------------------------------------------------------------------ protocol


@dataclass
class Continuation:
    """What one model call wrote: its ``text``, its ``token_ids``, ``finish_reason`` (``"stop"`` for EOS or a
    stop string, ``"length"`` when ``max_new_tokens`` ran out) and the log-prob of each token, if known."""

    text: str
    token_ids: list[int]
    finish_reason: str
    logprobs: list[float] | None = None


@runtime_checkable
class RelayModel(Protocol):
    """A model the relay can hand the pen to.

    Required: ``continue_text(prompt, response, max_new_tokens, stop, response_ids=None)`` continues the raw
    text ``prompt + response`` (no new chat template) by at most ``max_new_tokens`` tokens; ``response_ids``,
    when given, is the tokenisation of ``response`` and must not be re-encoded. The decoder passes ``prompt``
    and ``response`` positionally and everything else by keyword.

    Optional: ``encode(text)`` (no special tokens), ``format_prompt(messages)`` (chat template with the
    generation prompt, thinking off), ``tokenizer_fingerprint``, ``eos_token_id`` and ``stateful`` (True when
    missing: the model keeps state between calls, so prompts are relayed one after another).
    """

    def continue_text(
        self,
        prompt: str,
        response: str,
        max_new_tokens: int,
        stop: Sequence[str],
        response_ids: list[int] | None = None,
    ) -> Continuation: ...


# ---------------------------------------------------------------------------------------- local models


class _StopWatch:
    """Says when the text of the tokens generated so far first holds a stop string, decoding only a short tail
    per token (a full decode per step would make long answers quadratic).

    The text grows by the difference between the decodes of ``ids[prefix:]`` and ``ids[prefix:read]`` (the
    incremental detokenisation of vLLM and TGI): decoding from a token boundary a few tokens back gets
    SentencePiece's leading spaces right, and a tail that ends in an incomplete UTF-8 character (``"\\ufffd"``)
    waits for the next token.
    """

    def __init__(self, decode: Callable[[list[int]], str], stops: Sequence[str]) -> None:
        self.decode = decode
        self.stops = [s for s in stops if s]
        self.longest = max((len(s) for s in self.stops), default=0)
        self.text = ""
        self.prefix = self.read = 0

    def hit(self, ids: list[int]) -> bool:
        """True when the text of ``ids`` (all tokens generated so far) holds a stop string that the previous
        call did not see."""
        if not self.stops:
            return False
        before = self.decode(ids[self.prefix : self.read])
        after = self.decode(ids[self.prefix :])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return False
        # A new match ends in the new characters, so it starts at most `longest - 1` characters before them.
        start = max(0, len(self.text) - self.longest + 1)
        self.text += after[len(before) :]
        self.prefix, self.read = self.read, len(ids)
        window = self.text[start:]
        return any(s in window for s in self.stops)


def _vocab_fingerprint(tokenizer: Any) -> str:
    """sha256 of the id -> token table. Two tokenizers with the same table give every id the same text, which
    is what splicing one model's ids into the other's sequence needs (the tokens handoff)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode("utf-8")).hexdigest()


def _format_chat(tokenizer: Any, messages: list[dict], chat_template_kwargs: dict) -> str:
    # Unknown template variables are ignored by jinja, so enable_thinking=False is safe for every template.
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, **chat_template_kwargs
    )


class HFRelayModel:
    """A local transformers causal LM as a relay model, with its KV cache kept across calls.

    **Sampling.** ``temperature=0`` is greedy; otherwise temperature, then top-p, with a ``torch.Generator``
    seeded by ``seed`` (None: torch's global generator). ``logprobs`` are those of the processed distribution
    the token was drawn from (for greedy decoding: log-softmax of the processed logits at temperature 1).

    **Ends.** An EOS id ends the call with ``"stop"`` and stays in ``token_ids`` but not in ``text``
    (``text = decode(token_ids, skip_special_tokens=True)``). A stop string ends it with ``"stop"`` after the
    token that completes it in this call's text; that whole token is kept.

    **Banned strings.** The token sequences of each string in ``banned_strings``, with and without a leading
    space, are never generated: the last token of a sequence is banned whenever the tokens before it end the
    sequence so far, and a one-token sequence is banned always. Teacher-free evaluation bans ``<call>``.

    **KV reuse.** The model keeps one cache and ``cached_ids``, the ids it holds. A call's target is
    ``encode(prompt) + (response_ids or encode(response))``; the cache is cropped to L, the common prefix of
    ``cached_ids`` and the target (at most ``len(target) − 1``, so there is always a token to feed), ``target[L:]``
    is prefilled in one forward pass and decoding goes one token per step. Afterwards
    ``cached_ids = target + generated[:-1]`` (the last token was chosen but never fed). A cache that cannot be
    cropped (linear attention, a full sliding window) is reset instead; ``reuse_cache=False`` resets it on
    every call, the naive baseline.

    ``stats`` counts ``prefill_tokens`` (tokens fed by the first forward of each call), ``decode_tokens``
    (tokens fed one at a time), ``forward_calls`` and ``cache_resets`` (calls that threw held tokens away);
    :meth:`reset_stats` clears them.

    ``logits_processor`` (an extension of the spec's signature), called as transformers' processors are, with
    ``(input_ids of shape (1, length), scores of shape (1, vocab))``, edits the raw logits before the bans,
    temperature and top-p: the benchmark uses it to suppress EOS and script calls. ``chat_template_kwargs``
    (default ``{"enable_thinking": False}``) goes to the chat template in :meth:`format_prompt`.
    """

    stateful = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        reuse_cache: bool = True,
        chat_template_kwargs: dict | None = None,
        banned_strings: Sequence[str] = (),
        logits_processor: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        import torch

        from rlcore.models import eos_token_ids, tokenizer_of

        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        self.model = model
        self.tokenizer = tokenizer_of(tokenizer)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.reuse_cache = reuse_cache
        self.chat_template_kwargs = (
            {"enable_thinking": False} if chat_template_kwargs is None else dict(chat_template_kwargs)
        )
        self.logits_processor = logits_processor
        self.device = model.device
        self._eos = eos_token_ids(model, self.tokenizer)
        self._generator = None
        if seed is not None:
            self._generator = torch.Generator(device=self.device)
            self._generator.manual_seed(seed)
        self._banned_always, self._banned_after = self._banned_sequences(banned_strings)
        # Prefill computes logits for the last position only when the model allows it (a long prompt times a
        # 150k vocabulary is the largest tensor of a call otherwise).
        self._logits_kwargs = (
            {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
        )
        self._fingerprint: str | None = None
        self.cache: Any = None
        self.cached_ids: list[int] = []
        self.stats: dict[str, int] = {}
        self.reset_stats()

    def _banned_sequences(self, strings: Sequence[str]) -> tuple[set[int], dict[tuple[int, ...], set[int]]]:
        """One-token sequences (always banned) and {preceding tokens: banned last tokens}."""
        always: set[int] = set()
        after: dict[tuple[int, ...], set[int]] = {}
        for string in strings:
            for variant in (string, " " + string):
                ids = self.encode(variant)
                if len(ids) == 1:
                    always.add(ids[0])
                elif ids:
                    after.setdefault(tuple(ids[:-1]), set()).add(ids[-1])
        return always, after

    # -- the optional protocol members

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens added (a chat-templated prompt holds its own)."""
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` without special tokens."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def format_prompt(self, messages: list[dict]) -> str:
        """The chat template with the generation prompt and ``chat_template_kwargs`` (thinking off)."""
        return _format_chat(self.tokenizer, messages, self.chat_template_kwargs)

    @property
    def tokenizer_fingerprint(self) -> str:
        """sha256 of the tokenizer's id -> token table, equal for two loads of the same tokenizer."""
        if self._fingerprint is None:
            self._fingerprint = _vocab_fingerprint(self.tokenizer)
        return self._fingerprint

    @property
    def eos_token_id(self) -> int | None:
        """The tokenizer's EOS id (appended to a text-handoff span when the LLM stopped)."""
        return self.tokenizer.eos_token_id

    def reset_stats(self) -> None:
        """Zero the counters in :attr:`stats`."""
        self.stats = {"prefill_tokens": 0, "decode_tokens": 0, "forward_calls": 0, "cache_resets": 0}

    # -- decoding

    def continue_text(
        self,
        prompt: str,
        response: str,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        response_ids: list[int] | None = None,
    ) -> Continuation:
        """Continue ``prompt + response`` by at most ``max_new_tokens`` tokens (see the class docstring)."""
        if max_new_tokens <= 0:
            return Continuation("", [], "length", [])
        target = self.encode(prompt) + (
            list(response_ids) if response_ids is not None else self.encode(response)
        )
        if not target:
            raise ValueError("HFRelayModel needs a non-empty prompt or response to continue")
        try:
            with eval_no_grad(self.model):
                ids, logprobs, finish = self._decode(target, max_new_tokens, stop)
        except BaseException:
            # The cache may hold a half-fed step: forget it rather than trust it next time.
            self.cache, self.cached_ids = None, []
            raise
        self.cached_ids = target + ids[:-1]
        return Continuation(self.decode(ids), ids, finish, logprobs)

    def _reuse(self, target: list[int]) -> int:
        """Crop the cache to the longest reusable prefix of ``target`` and return its length L."""
        if self.cache is None:
            return 0
        common = 0
        if self.reuse_cache:
            limit = min(len(self.cached_ids), len(target) - 1)
            while common < limit and self.cached_ids[common] == target[common]:
                common += 1
        if common == 0:
            self.cache, self.cached_ids = None, []
            self.stats["cache_resets"] += 1
            return 0
        extra = len(self.cached_ids) - common
        if extra:
            # A negative count removes that many tokens (the positive form is deprecated in transformers 5); a
            # cache that refuses is caught by the length check below and reset.
            with suppress(AttributeError, NotImplementedError, RuntimeError, ValueError):
                self.cache.crop(-extra)
        if self.cache.get_seq_length() != common:
            self.cache, self.cached_ids = None, []
            self.stats["cache_resets"] += 1
            return 0
        return common

    def _forward(self, ids: list[int]) -> Any:
        import torch

        out = self.model(
            input_ids=torch.tensor([ids], device=self.device),
            past_key_values=self.cache,
            use_cache=True,
            **self._logits_kwargs,
        )
        self.cache = out.past_key_values
        self.stats["forward_calls"] += 1
        return out.logits[0, -1].float()

    def _decode(self, target: list[int], max_new_tokens: int, stop: Sequence[str]) -> tuple:
        import torch

        start = self._reuse(target)
        self.stats["prefill_tokens"] += len(target) - start
        logits = self._forward(target[start:])
        context = list(target)  # everything the model has seen or chosen: banned sequences may span turns
        watch = _StopWatch(self.decode, stop)
        ids: list[int] = []
        logprobs: list[float] = []
        while True:
            if self.logits_processor is not None:
                logits = self.logits_processor(torch.tensor([context], device=self.device), logits[None])[0]
            banned = self._banned_now(context)
            if banned:
                logits = logits.index_fill(
                    0, torch.tensor(sorted(banned), device=logits.device), -float("inf")
                )
            token, logprob = self._choose(logits)
            ids.append(token)
            logprobs.append(logprob)
            context.append(token)
            if token in self._eos or watch.hit(ids):
                return ids, logprobs, "stop"
            if len(ids) >= max_new_tokens:
                return ids, logprobs, "length"
            self.stats["decode_tokens"] += 1
            logits = self._forward([token])

    def _banned_now(self, context: list[int]) -> set[int]:
        banned = set(self._banned_always)
        for before, last in self._banned_after.items():
            if len(context) >= len(before) and tuple(context[-len(before) :]) == before:
                banned |= last
        return banned

    def _choose(self, logits: Any) -> tuple[int, float]:
        """The next token and its log-prob under the processed distribution."""
        import torch

        if self.temperature == 0:
            token = int(logits.argmax())
            return token, float(logits.log_softmax(-1)[token])
        scores = logits / self.temperature
        if self.top_p < 1:
            ordered, order = scores.sort(descending=True)
            probs = ordered.softmax(-1)
            # Keep the most likely tokens until their mass reaches top_p; the first one always stays.
            drop = (probs.cumsum(-1) - probs) >= self.top_p
            scores = scores.scatter(0, order[drop], -float("inf"))
        logp = scores.log_softmax(-1)
        token = int(torch.multinomial(logp.exp(), 1, generator=self._generator))
        return token, float(logp[token])


# ---------------------------------------------------------------------------------------- generators


class GeneratorRelayModel:
    """Any ``rlcore.rollout`` Generator (``VLLMGenerator``, ``OpenAIGenerator``, ...) as a relay model.

    Each call is ``generate([prompt + response], SamplingParams(max_new_tokens, temperature, top_p, stop,
    include_stop=True, seed), n=1)[0][0]``; ``response_ids`` are ignored (the backend tokenises the text) and
    reuse comes from the server's prefix cache (on by default in vLLM). ``token_ids`` are the generator's ids,
    else ``tokenizer.encode(text)``, else ``[]``. ``tokenizer`` (optional) gives the model ``encode``, a chat
    template for ``format_prompt`` (with ``chat_template_kwargs``, thinking off by default), a fingerprint and
    an EOS id. Not stateful: :meth:`continue_batch` serves many relays turn by turn.
    """

    stateful = False

    def __init__(
        self,
        generator: Any,
        tokenizer: Any = None,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        chat_template_kwargs: dict | None = None,
    ) -> None:
        from rlcore.models import tokenizer_of

        self.generator = generator
        self.tokenizer = None if tokenizer is None else tokenizer_of(tokenizer)
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.chat_template_kwargs = (
            {"enable_thinking": False} if chat_template_kwargs is None else dict(chat_template_kwargs)
        )
        self._fingerprint: str | None = None

    def _need_tokenizer(self, what: str) -> Any:
        if self.tokenizer is None:
            raise TypeError(
                f"GeneratorRelayModel.{what} needs a tokenizer: pass tokenizer= (for a server LLM, set llm_tokenizer)"
            )
        return self.tokenizer

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens (needs ``tokenizer``)."""
        return list(self._need_tokenizer("encode").encode(text, add_special_tokens=False))

    def format_prompt(self, messages: list[dict]) -> str:
        """The chat template with the generation prompt, thinking off (needs ``tokenizer``)."""
        return _format_chat(self._need_tokenizer("format_prompt"), messages, self.chat_template_kwargs)

    @property
    def tokenizer_fingerprint(self) -> str | None:
        """The tokenizer's fingerprint (as :class:`HFRelayModel`'s), or None without a tokenizer."""
        if self.tokenizer is not None and self._fingerprint is None:
            self._fingerprint = _vocab_fingerprint(self.tokenizer)
        return self._fingerprint

    @property
    def eos_token_id(self) -> int | None:
        return None if self.tokenizer is None else self.tokenizer.eos_token_id

    def continue_text(
        self,
        prompt: str,
        response: str,
        max_new_tokens: int,
        stop: Sequence[str] = (),
        response_ids: list[int] | None = None,
    ) -> Continuation:
        """Continue ``prompt + response`` by at most ``max_new_tokens`` tokens."""
        return self.continue_batch([(prompt, response, max_new_tokens, stop)])[0]

    def continue_batch(self, requests: Sequence[tuple[str, str, int, Sequence[str]]]) -> list[Continuation]:
        """One continuation per ``(prompt, response, max_new_tokens, stop)`` request, in order; requests
        sharing a token limit and stop strings go to the generator in one ``generate`` call."""
        from rlcore.rollout import SamplingParams

        out: list[Continuation | None] = [None] * len(requests)
        groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for i, (_, _, max_new_tokens, stop) in enumerate(requests):
            if max_new_tokens <= 0:
                out[i] = Continuation("", [], "length", [])
            else:
                groups.setdefault((int(max_new_tokens), tuple(stop)), []).append(i)
        for (max_new_tokens, stop), idx in groups.items():
            params = SamplingParams(
                max_new_tokens=max_new_tokens,
                temperature=self.temperature,
                top_p=self.top_p,
                stop=stop,
                include_stop=True,
                seed=self.seed,
            )
            texts = [requests[i][0] + requests[i][1] for i in idx]
            for i, samples in zip(idx, self.generator.generate(texts, params, n=1), strict=True):
                sample = samples[0]
                ids = list(sample.token_ids)
                if not ids and self.tokenizer is not None:
                    ids = self.encode(sample.text)
                logprobs = None if sample.logprobs is None else list(sample.logprobs)
                out[i] = Continuation(sample.text, ids, sample.finish_reason, logprobs)
        return out  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ factories


def as_relay_model(x: Any) -> Any:
    """A relay model from ``x``: an object with ``continue_text`` as is; a ``(model, tokenizer)`` pair (what
    ``rlcore.models.load_model`` returns) or an ``HFGenerator`` as an :class:`HFRelayModel`; any other
    Generator as a :class:`GeneratorRelayModel`. Anything else is a ``TypeError``."""
    if callable(getattr(x, "continue_text", None)):
        return x
    if isinstance(x, tuple) and len(x) == 2 and callable(getattr(x[0], "forward", None)):
        return HFRelayModel(*x)
    from rlcore.rollout import HFGenerator

    if isinstance(x, HFGenerator):
        return HFRelayModel(x.model, x.processor)
    if callable(getattr(x, "generate", None)):
        return GeneratorRelayModel(x)
    raise TypeError(
        f"cannot relay with a {type(x).__name__}: pass an object with continue_text, a (model, tokenizer) pair "
        "or an rlcore.rollout Generator (load_relay_model turns a spec string into one)"
    )


def _check_server(base_url: str, timeout: float = 10.0) -> None:
    """One GET of ``{base}/v1/models``: a clear ``ConnectionError`` naming the URL before any sampling."""
    root = base_url.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    url = f"{root}/v1/models"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            pass
    except urllib.error.HTTPError:
        pass  # the server answered (an auth or routing error will show on the first request)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(f"cannot reach the OpenAI-compatible server at {url}: {reason}") from exc


def _load_tokenizer(tokenizer: Any) -> Any:
    """A tokenizer object, or one loaded from a spec string (hub id, directory or load_model spec)."""
    if not isinstance(tokenizer, str):
        return tokenizer
    from rlcore.models import ModelNotFound, load_model, tokenizer_of

    if tokenizer.partition(":")[0] in _LOAD_MODEL_SCHEMES:
        return tokenizer_of(load_model(tokenizer)[1])
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(tokenizer)
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"tokenizer {tokenizer!r}: could not load it ({exc})") from exc


def load_relay_model(spec: str, *, tokenizer: Any = None, **sampling: Any) -> Any:
    """A relay model from a spec string.

    - Any ``rlcore.models.load_model`` spec, bare or prefixed with ``hf:``: an :class:`HFRelayModel`.
    - ``openai:<base_url>#<model>`` (e.g. ``openai:http://localhost:8000/v1#Qwen/Qwen3-8B``): a
      :class:`GeneratorRelayModel` over ``/v1/completions``. The server is checked once through
      ``GET {base}/v1/models``; an unreachable one is a ``ConnectionError`` naming that URL.
    - ``vllm:<model>``: a :class:`GeneratorRelayModel` over a local vLLM engine (GPU, imported lazily), with
      the engine's tokenizer unless ``tokenizer`` is given.

    ``tokenizer`` (an object or a spec string) gives a server model a fingerprint, so the tokens handoff
    applies when it matches the SLM's, and a chat template. ``sampling`` goes to the model's constructor
    (``temperature``, ``top_p``, ``seed``, and for local models ``reuse_cache``, ``banned_strings``...).
    An unknown scheme is a ``ValueError``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a relay model spec is a non-empty string, got {spec!r}")
    spec = spec.strip()
    scheme, sep, rest = spec.partition(":")
    if sep and _SCHEME.fullmatch(scheme) and scheme not in _RELAY_SCHEMES + _LOAD_MODEL_SCHEMES:
        raise ValueError(
            f"unknown model scheme {scheme!r} in {spec!r}: use a hub id or directory, hf:, tiny:, embedded:, "
            "gguf:, openai:<base_url>#<model> or vllm:<model>"
        )
    if scheme == "openai":
        from rlcore.rollout import make_generator

        generator = make_generator(spec)  # validates the form
        _check_server(generator.base_url)
        return GeneratorRelayModel(generator, _load_tokenizer(tokenizer), **sampling)
    if scheme == "vllm":
        from rlcore.rollout import make_generator

        generator = make_generator(spec)
        tok = _load_tokenizer(tokenizer) if tokenizer is not None else generator.llm.get_tokenizer()
        return GeneratorRelayModel(generator, tok, **sampling)
    from rlcore.models import load_model

    return HFRelayModel(*load_model(rest if scheme == "hf" else spec), **sampling)


# ------------------------------------------------------------------------------------------- results


@dataclass
class Segment:
    """One stretch of the answer, written by ``source`` (``"slm"`` or ``"llm"``).

    ``token_ids`` are always in the SLM vocabulary. On LLM segments ``requested`` is the n of the command and
    ``granted`` the ``max_new_tokens`` actually sent (k = min(n, remaining budget)). ``logprobs`` (an extension
    of the spec) holds the SLM's log-probs of its own tokens on SLM segments, when the backend gave them.
    """

    source: str
    text: str
    token_ids: list[int]
    requested: int | None = None
    granted: int | None = None
    logprobs: list[float] | None = field(default=None, repr=False)

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


@dataclass
class RelayResult:
    """One relay: the prompt, its segments in order, why it ended (``finish``: ``"eos"``, ``"llm_eos"``,
    ``"budget"``, ``"max_turns"`` or ``"malformed"``) and ``turns``, the number of SLM calls."""

    prompt: Any
    segments: list[Segment]
    finish: str
    turns: int

    @property
    def text(self) -> str:
        """The SLM view of the answer, commands kept."""
        return "".join(s.text for s in self.segments)

    @property
    def completion_ids(self) -> list[int]:
        return [t for s in self.segments for t in s.token_ids]

    @property
    def llm_token_mask(self) -> list[int]:
        """1 at positions the LLM wrote, 0 elsewhere, parallel to :attr:`completion_ids`."""
        return [int(s.source == "llm") for s in self.segments for _ in s.token_ids]

    @property
    def logprobs(self) -> list[float | None] | None:
        """The SLM's log-probs with None at LLM positions; None as a whole when an SLM segment has none."""
        out: list[float | None] = []
        for s in self.segments:
            if s.source == "llm":
                out.extend([None] * s.num_tokens)
            elif s.logprobs is None or len(s.logprobs) != s.num_tokens:
                return None
            else:
                out.extend(s.logprobs)
        return out

    @property
    def slm_tokens(self) -> int:
        return sum(s.num_tokens for s in self.segments if s.source == "slm")

    @property
    def llm_tokens(self) -> int:
        return sum(s.num_tokens for s in self.segments if s.source == "llm")

    @property
    def total_tokens(self) -> int:
        return self.slm_tokens + self.llm_tokens

    @property
    def call_ratio(self) -> float:
        """ρ = LLM tokens / all tokens of the answer (0.0 for an empty answer)."""
        total = self.total_tokens
        return self.llm_tokens / total if total else 0.0

    @property
    def num_calls(self) -> int:
        """Executed LLM calls."""
        return sum(s.source == "llm" for s in self.segments)

    def to_dict(self) -> dict:
        """A JSON-ready summary, segments included (their log-probs left out)."""
        return {
            "prompt": self.prompt,
            "text": self.text,
            "finish": self.finish,
            "turns": self.turns,
            "num_calls": self.num_calls,
            "slm_tokens": self.slm_tokens,
            "llm_tokens": self.llm_tokens,
            "total_tokens": self.total_tokens,
            "call_ratio": self.call_ratio,
            "segments": [
                {
                    "source": s.source,
                    "text": s.text,
                    "token_ids": list(s.token_ids),
                    "num_tokens": s.num_tokens,
                    "requested": s.requested,
                    "granted": s.granted,
                }
                for s in self.segments
            ],
        }


# -------------------------------------------------------------------------------------- state machine


class _Call(NamedTuple):
    """One model call the state machine asks for; the driver answers with a :class:`Continuation`."""

    role: str  # "slm" or "llm"
    prompt: str
    response: str
    max_new_tokens: int
    stop: list[str]
    response_ids: list[int] | None


def _render(model: Any, prompt: Any) -> str:
    """A string prompt verbatim; a message list through the model's chat template."""
    if isinstance(prompt, str):
        return prompt
    format_prompt = getattr(model, "format_prompt", None)
    if format_prompt is None:
        raise TypeError(
            f"{type(model).__name__} has no format_prompt, so it cannot take a message list: pass the prompt "
            "as a string"
        )
    return format_prompt(prompt)


def _handoff(config: RelayConfig, slm: Any, llm: Any) -> str:
    """``"tokens"`` or ``"text"``; ``"auto"`` picks tokens when both fingerprints are equal and not None."""
    if config.handoff != "auto":
        return config.handoff
    mine = getattr(slm, "tokenizer_fingerprint", None)
    theirs = getattr(llm, "tokenizer_fingerprint", None)
    return "tokens" if mine is not None and mine == theirs else "text"


def _llm_ids(slm: Any, handoff: str, span: Continuation) -> list[int]:
    """An LLM span's ids in the SLM vocabulary (step 9)."""
    if handoff == "tokens":
        return list(span.token_ids)
    encode = getattr(slm, "encode", None)
    if encode is None:
        raise TypeError(
            f"the text handoff re-encodes the LLM's text with the SLM tokenizer, but the SLM "
            f"({type(slm).__name__}) has no encode(); give it one or use a shared tokenizer (handoff='tokens')"
        )
    ids = list(encode(span.text))
    eos = getattr(slm, "eos_token_id", None)
    if span.finish_reason == "stop" and eos is not None:
        ids.append(eos)  # the teacher's EOS ends the answer, and counts as a token like the SLM's own
    return ids


def _relay_machine(
    slm: Any, prompt: Any, slm_prompt: str, llm_prompt: str | None, config: RelayConfig, handoff: str
) -> Generator[_Call, Continuation, RelayResult]:
    """The relay state machine of spec §2.2 for one prompt. It yields the calls to make and returns the
    result, so that :func:`relay_decode` can run it call by call and :func:`relay_generate` turn by turn.
    ``llm_prompt`` is None in teacher-free mode: commands are then never executed."""
    segments: list[Segment] = []
    text, ids = "", []
    used = turns = 0

    def done(finish: str) -> RelayResult:
        return RelayResult(prompt, segments, finish, turns)

    while True:
        remaining = config.max_tokens - used  # 1
        if remaining <= 0:
            return done("budget")
        c = yield _Call("slm", slm_prompt, text, remaining, [CALL_CLOSE], list(ids))  # 2
        turns += 1
        segments.append(Segment("slm", c.text, list(c.token_ids), logprobs=c.logprobs))
        text, ids = text + c.text, ids + list(c.token_ids)
        used += len(c.token_ids)
        commands = parse_calls(c.text)  # 3
        if not commands and CALL_CLOSE in c.text:
            return done("malformed")
        if not commands and c.finish_reason == "stop":
            return done("eos")
        if turns >= config.max_turns:  # 4: the command stays in the text, unexecuted
            return done("max_turns")
        if not commands:  # 5: cut by the token limit
            continue
        n = commands[-1]  # 6
        if n == 0 or llm_prompt is None:
            continue
        remaining = config.max_tokens - used  # 7
        if remaining <= 0:
            return done("budget")
        k = min(n, remaining)
        span = yield _Call("llm", llm_prompt, strip_calls(text, config.llm_view), k, [], None)  # 8
        span_ids = _llm_ids(slm, handoff, span)  # 9
        segments.append(Segment("llm", span.text, span_ids, requested=n, granted=k))
        text, ids = text + span.text, ids + span_ids
        used += len(span_ids)
        if span.finish_reason == "stop":  # 10: the teacher's EOS ends the answer
            return done("llm_eos")


def _start(
    slm: Any, llm: Any, prompt: Any, config: RelayConfig
) -> Generator[_Call, Continuation, RelayResult]:
    llm_prompt = None if llm is None else _render(llm, prompt)
    handoff = "tokens" if llm is None else _handoff(config, slm, llm)
    return _relay_machine(slm, prompt, _render(slm, prompt), llm_prompt, config, handoff)


def _call(model: Any, call: _Call) -> Continuation:
    return model.continue_text(
        call.prompt,
        call.response,
        max_new_tokens=call.max_new_tokens,
        stop=call.stop,
        response_ids=call.response_ids,
    )


def relay_decode(slm: Any, llm: Any, prompt: Any, config: RelayConfig | None = None) -> RelayResult:
    """One relay (spec §2.2): the SLM writes until it stops, at ``</call>`` or at the end; after a command
    ``<call>n</call>`` the LLM writes k = min(n, remaining budget) tokens of the same answer, then the SLM goes
    on. It ends with ``"eos"`` (the SLM stopped without a command), ``"llm_eos"`` (the LLM stopped),
    ``"budget"`` (``max_tokens`` answer tokens used), ``"max_turns"`` (``max_turns`` SLM calls made; the last
    command stays unexecuted) or ``"malformed"`` (``</call>`` without a well-formed command).

    Both models pass through :func:`as_relay_model`; ``llm=None`` is teacher-free. A string prompt is used
    verbatim by both models, a message list goes through each model's ``format_prompt``. Backend exceptions
    propagate; a text handoff with an SLM that has no ``encode`` is a ``TypeError``.
    """
    config = config or RelayConfig()
    slm = as_relay_model(slm)
    llm = None if llm is None else as_relay_model(llm)
    machine = _start(slm, llm, prompt, config)
    try:
        call = next(machine)
        while True:
            call = machine.send(_call(slm if call.role == "slm" else llm, call))
    except StopIteration as finished:
        return finished.value


def _continue_many(model: Any, calls: list[_Call]) -> list[Continuation]:
    batch = getattr(model, "continue_batch", None)
    if batch is None:
        return [_call(model, call) for call in calls]
    return batch([(c.prompt, c.response, c.max_new_tokens, c.stop) for c in calls])


def relay_generate(
    slm: Any, llm: Any, prompts: Sequence[Any], config: RelayConfig | None = None, *, progress: bool = False
) -> list[RelayResult]:
    """One :class:`RelayResult` per prompt, in the order of ``prompts``.

    If either model is stateful (an :class:`HFRelayModel`), the prompts run one after another, so a shared
    prompt prefix (the G copies of a GRPO prompt) stays cached. Otherwise all relays advance turn by turn,
    with one ``continue_batch`` call per model per turn. ``progress`` shows a rich progress bar.
    """
    config = config or RelayConfig()
    slm = as_relay_model(slm)
    llm = None if llm is None else as_relay_model(llm)
    prompts = list(prompts)
    results: list[RelayResult | None] = [None] * len(prompts)
    with _progress(progress, len(prompts)) as advance:
        if getattr(slm, "stateful", True) or (llm is not None and getattr(llm, "stateful", True)):
            for i, prompt in enumerate(prompts):
                results[i] = relay_decode(slm, llm, prompt, config)
                advance()
            return results  # type: ignore[return-value]
        machines = [_start(slm, llm, prompt, config) for prompt in prompts]
        pending = {i: next(machine) for i, machine in enumerate(machines)}
        while pending:
            for role, model in (("slm", slm), ("llm", llm)):
                idx = [i for i, call in pending.items() if call.role == role]
                if not idx:
                    continue
                for i, continuation in zip(
                    idx, _continue_many(model, [pending[i] for i in idx]), strict=True
                ):
                    try:
                        pending[i] = machines[i].send(continuation)
                    except StopIteration as finished:
                        results[i] = finished.value
                        del pending[i]
                        advance()
    return results  # type: ignore[return-value]


@contextmanager
def _progress(show: bool, total: int) -> Iterator[Callable[[], None]]:
    if not show:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("relay", total=total)
        yield lambda: bar.advance(task)


# ------------------------------------------------------------------------------------------------- GRPO


def make_relay_rollout(
    llm: Any,
    config: RelayConfig | None = None,
    *,
    mask_llm_tokens: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
) -> Callable[[list, Any], dict]:
    """A TRL ``rollout_func(prompts, trainer) -> dict`` that rolls out the policy as the SLM of a relay with
    the frozen ``llm`` (a relay model, a spec string for :func:`load_relay_model`, or None: teacher-free).

    ``prompts`` is this process's slice of the batch, already repeated G times per prompt by TRL; one
    completion comes back per entry. The SLM is an :class:`HFRelayModel` over
    ``trainer.accelerator.unwrap_model(trainer.model)`` and the trainer's tokenizer, sampled at
    ``temperature``/``top_p`` in eval mode without gradients (training mode restored afterwards), with a
    fresh cache every step since the weights change; with ``trainer.use_vllm`` it is a
    :class:`GeneratorRelayModel` over the trainer's colocated vLLM engine. ``config.max_tokens`` is the
    completion budget.

    Returned keys: ``prompt_ids`` (the chat-templated prompt), ``completion_ids``, ``logprobs`` (the SLM's,
    None at LLM positions, which TRL 1.16 reads as NaN and leaves out of its importance-sampling correction;
    None as a whole when the backend gave none), ``env_mask`` (all 1, or 1 − the LLM-token mask with
    ``mask_llm_tokens``, keeping the teacher's tokens out of the loss) and, per completion, ``call_ratio`` (ρ),
    ``llm_tokens``, ``num_calls`` and ``relay_finish``, which TRL passes to the reward functions as kwargs.
    """
    from rlcore.models import tokenizer_of

    config = config or RelayConfig()
    teacher = (
        load_relay_model(llm) if isinstance(llm, str) else (None if llm is None else as_relay_model(llm))
    )

    def rollout_func(prompts: list, trainer: Any) -> dict:
        tokenizer = tokenizer_of(trainer.processing_class)
        if getattr(trainer, "use_vllm", False):
            from rlcore.train import policy_generator

            slm = GeneratorRelayModel(
                policy_generator(trainer), tokenizer, temperature=temperature, top_p=top_p
            )
            guard = nullcontext()
        else:
            model = trainer.accelerator.unwrap_model(trainer.model)
            slm = HFRelayModel(model, tokenizer, temperature=temperature, top_p=top_p)
            guard = eval_no_grad(model)
        with guard:
            results = relay_generate(slm, teacher, prompts, config)
        logprobs = [r.logprobs for r in results]
        return {
            "prompt_ids": [slm.encode(_render(slm, p)) for p in prompts],
            "completion_ids": [r.completion_ids for r in results],
            "logprobs": None if any(lp is None for lp in logprobs) else logprobs,
            "env_mask": [
                [1 - m for m in r.llm_token_mask] if mask_llm_tokens else [1] * r.total_tokens
                for r in results
            ],
            "call_ratio": [r.call_ratio for r in results],
            "llm_tokens": [r.llm_tokens for r in results],
            "num_calls": [r.num_calls for r in results],
            "relay_finish": [r.finish for r in results],
        }

    return rollout_func
