"""The one prompt of the package: `collect` asks a model a benchmark question (spec §4)."""

from __future__ import annotations

__all__ = ["INSTRUCTION", "build_messages"]

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def build_messages(question: str) -> list[dict]:
    """One user message: the question, then the instruction to reason and box the final answer."""
    return [{"role": "user", "content": f"{question}\n{INSTRUCTION}"}]
