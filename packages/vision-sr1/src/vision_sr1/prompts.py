"""Prompts and output formats of Vision-SR1 (spec sections 2.1 and 4), in one place.

The policy answers a visual question in three parts (first pass)::

    <description> visual description </description> <think> reasoning </think> \\boxed{answer}

During GRPO the same policy is then re-prompted *without the image*, given only its own description and the
question (second pass, :func:`build_reprompt`); a correct text-only answer is the "visual" self-reward. The
Vision-R1 baseline uses the CoT format ``<think> ... </think> \\boxed{...}`` without a description.

The three instructions are paraphrases of the official prompts; they keep the official tags exactly, because
released checkpoints and the cold-start data expect them.
"""

from __future__ import annotations

__all__ = [
    "COT_INSTRUCTION",
    "PROMPT_STYLES",
    "REPROMPT_INSTRUCTION",
    "SEE_THINK_INSTRUCTION",
    "build_reprompt",
    "clean_question",
    "fill_images",
    "first_pass_messages",
    "instruction_for",
    "reprompt_messages",
]

SEE_THINK_INSTRUCTION = (
    "You are given an image and a question about it. First, describe the image inside "
    "<description> </description>: make the description detailed and self-contained, so that someone who "
    "cannot see the image could answer the question from your description alone. Then reason step by step "
    "inside <think> </think>, checking your reasoning as you go. Finally, give your answer as a single word "
    "or phrase in \\boxed{}. Use exactly this layout: "
    "<description> ... </description> <think> ... </think> \\boxed{...}"
)
"""First-pass instruction of Vision-SR1 and of the see-think ablation: see (describe), think, answer."""

COT_INSTRUCTION = (
    "Think about the question as an internal monologue, reasoning step by step inside <think> </think>. "
    "Then give the final answer in \\boxed{}."
)
"""First-pass instruction of the Vision-R1 chain-of-thought baseline: no description block."""

REPROMPT_INSTRUCTION = (
    "You are given a text description of a problem and a question. Answer the question using the "
    "description. Reason step by step inside <think> </think>, then give your answer as a single word or "
    "phrase in \\boxed{}."
)
"""Second-pass (self-reward) instruction: answer from the text description alone."""

PROMPT_STYLES: dict[str, str] = {"see_think": SEE_THINK_INSTRUCTION, "cot": COT_INSTRUCTION}
"""First-pass prompt styles and their instructions."""


def instruction_for(style: str) -> str:
    """The first-pass instruction of ``style`` (``"see_think"`` or ``"cot"``); ValueError otherwise."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {', '.join(PROMPT_STYLES)}")
    return PROMPT_STYLES[style]


def clean_question(problem: str) -> str:
    """The dataset ``problem`` without any literal ``<image>`` placeholder, outer whitespace stripped."""
    return problem.replace("<image>", "").strip()


def first_pass_messages(problem: str, num_images: int = 1, *, style: str = "see_think") -> list[dict]:
    """The first-pass user turn: question text, ``num_images`` image placeholders, then the instruction.

    The placeholders are ``{"type": "image"}`` blocks that TRL (or the caller, for an ``rlcore.rollout``
    Generator) fills in order from the record's ``images`` column. ``num_images=0`` gives a text-only prompt.
    """
    instruction = instruction_for(style)
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    blocks: list[dict] = [{"type": "text", "text": clean_question(problem)}]
    blocks.extend({"type": "image"} for _ in range(num_images))
    blocks.append({"type": "text", "text": instruction})
    return [{"role": "user", "content": blocks}]


def fill_images(messages: list[dict], images: list) -> list[dict]:
    """A copy of ``messages`` whose ``{"type": "image"}`` placeholders carry ``images`` in order
    (``{"type": "image", "image": images[k]}``), as an ``rlcore.rollout`` Generator needs them; TRL fills the
    placeholders of training rows itself. ValueError when the counts differ."""
    placeholders = sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for b in m["content"]
        if b.get("type") == "image"
    )
    if placeholders != len(images):
        raise ValueError(f"{placeholders} image placeholder(s) but {len(images)} image(s)")
    it = iter(images)
    return [
        {
            **m,
            "content": [
                {"type": "image", "image": next(it)} if b.get("type") == "image" else b for b in m["content"]
            ],
        }
        if isinstance(m.get("content"), list)
        else dict(m)
        for m in messages
    ]


def build_reprompt(description: str, question: str) -> str:
    """The second-pass user text: ``Text description: …`` / ``Question: …`` / the re-prompt instruction.

    ``question`` is the raw dataset ``problem`` (so multiple-choice options must already be in it); the
    first-pass instruction is not repeated.
    """
    return (
        "Text description: "
        + description
        + "\n"
        + "Question: "
        + clean_question(question)
        + "\n"
        + REPROMPT_INSTRUCTION
    )


def reprompt_messages(description: str, question: str) -> list[dict]:
    """The second-pass chat: one user turn whose content is the plain string :func:`build_reprompt` (no image)."""
    return [{"role": "user", "content": build_reprompt(description, question)}]
