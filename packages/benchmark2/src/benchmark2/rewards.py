"""Per-item scoring of `collect` (spec §2): the last ``\\boxed{}`` against the gold answer."""

from __future__ import annotations

from rlcore.rewards import boxed_accuracy_reward

__all__ = ["exact_match_reward"]

exact_match_reward = boxed_accuracy_reward
"""1.0 if ``answers_match(extract_boxed(text), answer)``, else 0.0; None where the answer is None
(rlcore's ``boxed_accuracy_reward`` under the paper's name)."""
