"""Zero-shot evaluation against any rlcore generator (spec §2.10): messages, batched generation, parsing,
scoring and aggregation; optional self-reflection round and model-based answer rewriting.

A generator is an rlcore ``Generator`` (local HF, vLLM or an OpenAI-compatible server, see
``rlcore.rollout.make_generator``) or a plain callable ``fn(conversations) -> list[str]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crosswordbench.metrics import aggregate, score_answers
from crosswordbench.parsing import THINK_MODES, parse_answers, strip_reasoning
from crosswordbench.prompts import (
    LLM_PARSER_PROMPT,
    TEMPLATES,
    build_messages,
    reflection_message,
    system_messages,
)
from crosswordbench.puzzle import Puzzle
from crosswordbench.render import RenderConfig
from rlcore.config import ConfigError
from rlcore.rollout import SamplingParams

__all__ = [
    "IMAGE_SOURCES",
    "PARSERS",
    "EvalConfig",
    "EvalResult",
    "evaluate",
    "evaluate_responses",
    "generate_texts",
    "released_images",
    "score_record",
]

PARSERS = ("rule", "llm")
IMAGE_SOURCES = ("dataset", "render")


@dataclass
class EvalConfig:
    """How a model is evaluated (spec §2.10 and §3). Sampling defaults are the paper's for non-reasoning
    models; reasoning models used temperature 0.6 and 100,000 new tokens (see recipes/paper.yaml)."""

    template: str = "text_cot"
    """One of ``TEMPLATES``: text_cot, text_cot_prefilled, text_shot, img_cot, img_cot_prefilled,
    img_shot, img_cot_grid_only, extraction (grid parsing)."""
    max_new_tokens: int = 16384
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 42
    batch_size: int = 8
    """Puzzles per generate call."""
    reflection: bool = False
    """Add a self-reflection turn after the first answer, sent even when it was right (paper §4.3)."""
    think: str = "last"
    """Where the answer starts: after the last ``</think>`` ("last") or between the first two ("first",
    the reference code)."""
    parser: str = "rule"
    """"rule": our parser; "llm": ``parser_model`` first rewrites the reply into the answer format
    (the reference code used o3-mini)."""
    parser_model: Any = None
    """Generator spec (``hf:…``, ``vllm:…``, ``openai:URL#MODEL``) or a Generator, for ``parser="llm"``."""
    images: str = "dataset"
    """"dataset": released images where a puzzle carries them, else rendered; "render": always render."""
    no_stop_system_prompt: bool = False
    """Add a system message asking for the complete answer in one response."""
    render: RenderConfig | None = None
    """Renderer settings for image templates (None: defaults)."""

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ConfigError(f"unknown template {self.template!r}; valid: {', '.join(TEMPLATES)}")
        if self.think not in THINK_MODES:
            raise ConfigError(f"unknown think split {self.think!r}; valid: {', '.join(THINK_MODES)}")
        if self.parser not in PARSERS:
            raise ConfigError(f"unknown parser {self.parser!r}; valid: {', '.join(PARSERS)}")
        if self.parser == "llm" and self.parser_model is None:
            raise ConfigError("parser='llm' needs parser_model (a generator spec such as openai:URL#MODEL)")
        if self.images not in IMAGE_SOURCES:
            raise ConfigError(f"unknown image source {self.images!r}; valid: {', '.join(IMAGE_SOURCES)}")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ConfigError("max_new_tokens and batch_size must be >= 1")

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p, seed=self.seed
        )


@dataclass
class EvalResult:
    """Per-puzzle ``records`` and their ``summary`` (:func:`crosswordbench.metrics.aggregate`)."""

    records: list[dict]
    summary: dict = field(default_factory=dict)


def generate_texts(
    generator: Any, conversations: Sequence[list[dict]], params: SamplingParams
) -> tuple[list[str], list[int]]:
    """The first sample's text and token count for each conversation. A plain callable gets the
    conversations only and reports no token counts (0)."""
    if callable(getattr(generator, "generate", None)):
        samples = generator.generate(list(conversations), params, n=1)
        return [s[0].text for s in samples], [len(s[0].token_ids) for s in samples]
    if callable(generator):
        texts = list(generator(list(conversations)))
        if len(texts) != len(conversations):
            raise ValueError(
                f"the generator returned {len(texts)} replies for {len(conversations)} conversations"
            )
        return ["" if t is None else str(t) for t in texts], [0] * len(texts)
    raise TypeError(f"a generator is an rlcore Generator or a callable, got {type(generator).__name__}")


RELEASED_IMAGE_NAMES = {
    "empty_grid_image": "grid",
    "key_image": "key",
    "partial_0.25": "partial_0.25",
    "partial_0.5": "partial_0.5",
    "partial_0.75": "partial_0.75",
}
"""Released dataset image columns → our render variants. ``grid_image`` is not mapped: which layout it
holds is not documented, so the grid-only view is always rendered."""


def released_images(puzzle: Puzzle) -> dict[str, Any] | None:
    """The released images of a loaded dataset puzzle (``meta["images"]``) under our variant names."""
    images = puzzle.meta.get("images") or {}
    mapped = {
        ours: images[theirs]
        for theirs, ours in RELEASED_IMAGE_NAMES.items()
        if images.get(theirs) is not None
    }
    return mapped or None


def _parser_generator(config: EvalConfig) -> Any:
    if not isinstance(config.parser_model, str):
        return config.parser_model
    from rlcore.rollout import make_generator

    return make_generator(config.parser_model)


def _rewrite(parser: Any, puzzle: Puzzle, reply: str, config: EvalConfig) -> str:
    """``parser="llm"``: ask the parser model to restate the reply's answers in the final format."""
    prompt = LLM_PARSER_PROMPT.format(
        keys=", ".join(puzzle.keys()), reply=strip_reasoning(reply, config.think)
    )
    params = SamplingParams(max_new_tokens=2048, temperature=0.0, seed=config.seed)
    texts, _ = generate_texts(parser, [[{"role": "user", "content": prompt}]], params)
    return texts[0]


def score_record(puzzle: Puzzle, template: str, response: str, answers: dict, tokens: int = 0) -> dict:
    """One result row: ``id``, ``template``, ``response``, ``answers``, the scores and ``completion_tokens``."""
    return {
        "id": puzzle.id,
        "template": template,
        "response": response,
        "answers": answers,
        **score_answers(puzzle, answers),
        "completion_tokens": tokens,
    }


def _chunks(items: Sequence[Puzzle], size: int) -> Iterable[list[Puzzle]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def evaluate(
    puzzles: Iterable[Puzzle],
    generator: Any,
    config: EvalConfig | None = None,
    *,
    on_records: Callable[[list[dict]], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Solve every puzzle zero-shot with ``generator`` and score it (spec §2.10).

    ``on_records`` receives each finished batch of records (the CLI appends them to ``samples.jsonl``, so
    an interrupted run resumes); ``on_progress`` the number of puzzles just finished. Generator exceptions
    propagate.
    """
    config = config or EvalConfig()
    puzzles = list(puzzles)
    params = config.sampling()
    mode = "extraction" if config.template == "extraction" else "solve"
    parser = _parser_generator(config) if config.parser == "llm" else None
    records: list[dict] = []
    for batch in _chunks(puzzles, config.batch_size):
        conversations = []
        for puzzle in batch:
            images = released_images(puzzle) if config.images == "dataset" else None
            messages = build_messages(puzzle, config.template, render=config.render, images=images)
            conversations.append(system_messages(config.no_stop_system_prompt) + messages)
        texts, tokens = generate_texts(generator, conversations, params)
        answers = [_answers(p, t, parser, mode, config) for p, t in zip(batch, texts, strict=True)]
        rows = [
            score_record(p, config.template, t, a, n)
            for p, t, a, n in zip(batch, texts, answers, tokens, strict=True)
        ]
        if config.reflection:
            followups = [
                [
                    *conv,
                    {"role": "assistant", "content": strip_reasoning(t, config.think)},
                    reflection_message(config.template),
                ]
                for conv, t in zip(conversations, texts, strict=True)
            ]
            texts2, tokens2 = generate_texts(generator, followups, params)
            for i, (p, t2) in enumerate(zip(batch, texts2, strict=True)):
                final = {**answers[i], **_answers(p, t2, parser, mode, config)}
                rows[i] = score_record(p, config.template, texts[i], final, tokens[i] + tokens2[i])
                rows[i]["first_answers"] = answers[i]
                rows[i]["reflection_response"] = t2
        records.extend(rows)
        if on_records is not None:
            on_records(rows)
        if on_progress is not None:
            on_progress(len(batch))
    return EvalResult(records, aggregate(records))


def _answers(puzzle: Puzzle, text: str, parser: Any, mode: str, config: EvalConfig) -> dict[str, str]:
    if parser is not None and mode == "solve":
        text = _rewrite(parser, puzzle, text, config)
        return parse_answers(text, puzzle.keys(), mode=mode, think="last")
    return parse_answers(text, puzzle.keys(), mode=mode, think=config.think)


def evaluate_responses(
    puzzles: Sequence[Puzzle],
    responses: Sequence[str | None],
    *,
    template: str = "text_cot",
    think: str = "last",
) -> EvalResult:
    """Score saved replies, one per puzzle in order; a length mismatch → ``ValueError``."""
    puzzles, responses = list(puzzles), list(responses)
    if len(puzzles) != len(responses):
        raise ValueError(f"{len(responses)} responses for {len(puzzles)} puzzles: give one reply per puzzle")
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; valid: {', '.join(TEMPLATES)}")
    mode = "extraction" if template == "extraction" else "solve"
    records = [
        score_record(p, template, r or "", parse_answers(r, p.keys(), mode=mode, think=think))
        for p, r in zip(puzzles, responses, strict=True)
    ]
    return EvalResult(records, aggregate(records))
