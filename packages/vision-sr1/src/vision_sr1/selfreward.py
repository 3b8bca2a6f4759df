"""The two-pass self-reward of Vision-SR1 (spec sections 2.3, 4 and 10).

First pass: the policy sees the image and the question and writes
``<description> d </description> <think> t </think> \\boxed{a}``. Second pass: the *same* policy, with the
same weights and no gradient, is re-prompted with only its description ``d`` and the question, without the
image (:func:`vision_sr1.prompts.reprompt_messages`). If that text-only answer is correct, the first-pass
sample earns the visual reward ``r_vis`` (:func:`vision_sr1.rewards.visual_reward`): the description carried
the visual evidence, checked without any outside teacher.

All re-prompts of a rollout step go to ONE batched n = 1 generation (:func:`self_reward_pass`), so the second
pass costs about as much as the first (benchmarks/vision_sr1_second_pass.py). Second-pass tokens are never
trained on: only their text reaches the reward, through the ``second_pass`` column.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

from vision_sr1.config import MISSING_DESCRIPTION_MODES, RLConfig
from vision_sr1.prompts import reprompt_messages

__all__ = [
    "SelfRewardRollout",
    "description_for_reprompt",
    "extract_description",
    "first_question",
    "fit_reprompt",
    "prompt_token_ids",
    "self_reward_pass",
]

_DESCRIPTION = re.compile(r"<\s*description\s*>(.*?)<\s*/\s*description\s*>", re.DOTALL)


def extract_description(text: str) -> str | None:
    """The stripped body of the first complete ``<description>…</description>`` block, or None.

    Whitespace inside the tag brackets is tolerated (``< description >``, ``</ description >``), in agreement
    with :func:`vision_sr1.rewards.normalize_tags`, while the body itself is left unaltered.
    """
    if not isinstance(text, str):
        return None
    match = _DESCRIPTION.search(text)
    return None if match is None else match.group(1).strip()


def description_for_reprompt(text: str, *, missing_description: str = "strict") -> str | None:
    """What the second pass is given as the description of the first-pass response ``text``.

    ``strict`` (default): the extracted description; None (skip the second pass, r_vis = 0) when the block
    is missing or its body is empty. ``official``: the extracted description, even empty, or the whole
    unmodified ``text`` when there is no block (the official code; the response's own boxed answer then
    reaches the second pass, which can copy it). Other modes: ValueError.
    """
    if missing_description not in MISSING_DESCRIPTION_MODES:
        raise ValueError(
            f"unknown missing_description {missing_description!r}; expected one of "
            f"{', '.join(MISSING_DESCRIPTION_MODES)}"
        )
    description = extract_description(text)
    if missing_description == "official":
        if description is not None:
            return description
        return text if isinstance(text, str) else ""
    return description or None


def self_reward_pass(
    completions: Sequence[str],
    questions: Sequence[str],
    generate: Callable[[list[list[dict]]], list[str]],
    *,
    missing_description: str = "strict",
) -> list[str | None]:
    """The second-pass texts of first-pass ``completions`` (None where the pass is skipped).

    ``questions[i]`` is completion i's raw dataset ``problem``. Every completion with a description
    (:func:`description_for_reprompt`) contributes ``reprompt_messages(d_i, questions[i])``; all of them go, in
    input order, to ONE call ``generate(batch) -> list[str]`` and the texts are put back at their positions.
    Without any re-prompt ``generate`` is not called. ValueError when the lengths of ``completions`` and
    ``questions`` differ, or ``generate`` returns another count or a non-string.
    """
    if len(completions) != len(questions):
        raise ValueError(f"{len(completions)} completions but {len(questions)} questions")
    positions, batch = [], []
    for i, (text, question) in enumerate(zip(completions, questions, strict=True)):
        description = description_for_reprompt(text, missing_description=missing_description)
        if description is not None:
            positions.append(i)
            batch.append(reprompt_messages(description, question))
    out: list[str | None] = [None] * len(completions)
    if not batch:
        return out
    texts = generate(batch)
    if not isinstance(texts, list | tuple) or len(texts) != len(batch):
        count = len(texts) if isinstance(texts, list | tuple) else type(texts).__name__
        raise ValueError(f"generate returned {count} texts for {len(batch)} re-prompts")
    for i, text in zip(positions, texts, strict=True):
        if not isinstance(text, str):
            raise ValueError(
                f"generate returned a {type(text).__name__} for re-prompt {i}, expected a string"
            )
        out[i] = text
    return out


def fit_reprompt(
    description: str, question: str, count_tokens: Callable[[list[dict]], int], max_tokens: int
) -> tuple[list[dict], str]:
    """``reprompt_messages(d, question)`` with ``d`` the longest prefix of ``description`` whose re-prompt has
    at most ``max_tokens`` tokens (``count_tokens`` counts a chat), and that ``d``.

    The description is cut from the end so that the question and the instruction survive (spec section 10);
    when not even an empty description fits, the description is emptied and the prompt goes as it is.
    """
    messages = reprompt_messages(description, question)
    if count_tokens(messages) <= max_tokens:
        return messages, description
    lo, hi = 0, len(description)  # the longest fitting prefix length lies in [lo, hi)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if (
            mid < len(description)
            and count_tokens(reprompt_messages(description[:mid].rstrip(), question)) <= max_tokens
        ):
            lo = mid
        else:
            hi = mid - 1
    cut = description[:lo].rstrip()
    return reprompt_messages(cut, question), cut


def first_question(prompt: list[dict]) -> str:
    """The first text block of the first user turn of a first-pass prompt (= ``clean_question(problem)``)."""
    for message in prompt:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        for block in content or ():
            if isinstance(block, dict) and block.get("type") == "text":
                return block.get("text", "")
        return ""
    return ""


@contextmanager
def _suppress_placeholders(model: Any, pad_id: int | None, eos_ids: set[int]):
    """Keep image/video placeholder ids (and a padding id that is not an EOS id) out of sampled text, as TRL's
    own VLM generation does: a sampled ``<|image_pad|>`` would break the training forward pass, whose image
    features must match those ids, and a sampled padding token is indistinguishable from padding."""
    config = getattr(model, "config", None)
    generation_config = getattr(model, "generation_config", None)
    ids = [getattr(config, name, None) for name in ("image_token_id", "video_token_id")]
    if pad_id is not None and pad_id not in eos_ids:
        ids.append(pad_id)
    ids = [i for i in ids if i is not None]
    if generation_config is None or not ids:
        yield
        return
    saved = generation_config.suppress_tokens
    generation_config.suppress_tokens = sorted({*(saved or ()), *ids})
    try:
        yield
    finally:
        generation_config.suppress_tokens = saved


class SelfRewardRollout:
    """TRL's ``rollout_func(prompts, trainer)`` for ``rl.method=vision_sr1``: both passes by the current policy.

    TRL hands over this process's prompts, each already repeated G times and with its image placeholders
    filled. The first pass samples one completion per prompt (through ``rlcore.train.policy_generator``: the
    trainer's HF model or its colocated vLLM engine), then :func:`self_reward_pass` re-prompts the same policy
    in one batched n = 1 generation. Returned: ``prompt_ids`` (what TRL's processor gives for the forward pass,
    image pad tokens expanded), ``completion_ids``, ``logprobs``, and the extra columns ``second_pass`` (the
    self-reward texts, read by ``visual_reward``) and ``description`` (the description used, after any cut).
    Logged: ``self_reward/skipped_frac`` and the time split ``time/gen_first`` / ``time/gen_second``.
    """

    def __init__(self, cfg: RLConfig) -> None:
        self.cfg = cfg

    def _first_pass_params(self, trainer: Any):
        from rlcore.rollout import SamplingParams

        args = trainer.args
        return SamplingParams(
            max_new_tokens=int(args.max_completion_length),
            temperature=float(args.temperature),
            top_p=float(args.top_p if args.top_p is not None else 1.0),
            top_k=int(getattr(args, "top_k", 0) or 0),
        )

    def _second_pass_params(self, first):
        from dataclasses import replace

        cfg = self.cfg
        return replace(
            first,
            temperature=first.temperature
            if cfg.second_pass_temperature is None
            else cfg.second_pass_temperature,
            top_p=first.top_p if cfg.second_pass_top_p is None else cfg.second_pass_top_p,
            max_new_tokens=first.max_new_tokens
            if cfg.second_pass_max_tokens is None
            else cfg.second_pass_max_tokens,
        )

    def __call__(self, prompts: list, trainer: Any) -> dict:
        from rlcore.models import eos_token_ids, tokenizer_of
        from rlcore.train import policy_generator

        generator = policy_generator(trainer)
        processor = trainer.processing_class
        tokenizer = tokenizer_of(processor)
        model = trainer.accelerator.unwrap_model(trainer.model)
        eos = set(eos_token_ids(model, tokenizer))

        first_params = self._first_pass_params(trainer)
        start = time.perf_counter()
        with _suppress_placeholders(model, tokenizer.pad_token_id, eos):
            samples = [group[0] for group in generator.generate(prompts, first_params, n=1)]
        t_first = time.perf_counter() - start
        # Decoded with special tokens kept (only the closing EOS dropped), so that the tags survive even where a
        # tokenizer registers them as special tokens.
        texts = [
            tokenizer.decode(
                s.token_ids[:-1] if s.token_ids[-1] in eos else s.token_ids, skip_special_tokens=False
            )
            if s.token_ids
            else s.text
            for s in samples
        ]
        questions = [first_question(p) for p in prompts]
        descriptions = [
            description_for_reprompt(t, missing_description=self.cfg.missing_description) for t in texts
        ]
        pending = [
            (i, d, q) for i, (d, q) in enumerate(zip(descriptions, questions, strict=True)) if d is not None
        ]
        used: list[str | None] = [None] * len(texts)
        second_params = self._second_pass_params(first_params)

        def count_tokens(messages: list[dict]) -> int:
            rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return len(tokenizer(rendered, add_special_tokens=False)["input_ids"])

        def generate(batch: list[list[dict]]) -> list[str]:
            if len(batch) != len(pending):
                raise ValueError(f"{len(batch)} re-prompts but {len(pending)} descriptions")
            fitted = []
            for messages, (i, description, question) in zip(batch, pending, strict=True):
                if count_tokens(messages) > self.cfg.max_prompt_length:
                    messages, description = fit_reprompt(
                        description, question, count_tokens, self.cfg.max_prompt_length
                    )
                used[i] = description
                fitted.append(messages)
            with _suppress_placeholders(model, tokenizer.pad_token_id, eos):
                out = generator.generate(fitted, second_params, n=1)
            return [group[0].text for group in out]

        start = time.perf_counter()
        second = self_reward_pass(
            texts, questions, generate, missing_description=self.cfg.missing_description
        )
        t_second = time.perf_counter() - start

        skipped = sum(s is None for s in second) / max(1, len(second))
        metrics = getattr(trainer, "_metrics", None)
        if hasattr(trainer, "_log_metric"):  # averaged over processes by TRL
            trainer._log_metric("self_reward/skipped_frac", skipped)
        elif metrics is not None:
            metrics["train"]["self_reward/skipped_frac"].append(skipped)
        if metrics is not None:
            metrics["train"]["time/gen_first"].append(t_first)
            metrics["train"]["time/gen_second"].append(t_second)
        return {
            "prompt_ids": prompt_token_ids(processor, prompts),
            "completion_ids": [list(s.token_ids) for s in samples],
            "logprobs": [
                [float(x) for x in s.logprobs] if s.logprobs is not None else [0.0] * len(s.token_ids)
                for s in samples
            ],
            "second_pass": second,
            "description": used,
        }


def prompt_token_ids(processor: Any, prompts: list) -> list[list[int]]:
    """Prompt ids exactly as TRL's training forward pass tokenizes them: TRL's chat templating, then the
    processor over the text and the prompt's images (image pad tokens expanded to the image's patch count)."""
    from trl.data_utils import apply_chat_template

    texts, images = [], []
    for prompt in prompts:
        texts.append(apply_chat_template({"prompt": prompt}, processor)["prompt"])
        for message in prompt:
            content = message.get("content")
            if isinstance(content, list):
                images.extend(b["image"] for b in content if isinstance(b, dict) and b.get("type") == "image")
    if images:
        encoded = processor(text=texts, images=images, padding=True, return_tensors=None)
    else:
        from rlcore.models import tokenizer_of

        encoded = tokenizer_of(processor)(texts, padding=True)
    return [
        [t for t, m in zip(ids, mask, strict=True) if m]
        for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"], strict=True)
    ]
