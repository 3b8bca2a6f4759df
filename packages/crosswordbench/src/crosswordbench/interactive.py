"""The interactive mode (spec §2.9; paper §4.4): the model solves one clue per turn, each correct answer is
filled into the grid it sees next, and the episode ends at the first wrong answer. The score is the
Interactive Success Step (ISS): the number of correct turns before the first mistake.

The reference loop had five quirks, each fixed here by default and restorable by a switch:

- it never scored the turn that filled the last word (``score_final_turn=False``: a perfect one-word-per-
  turn run scores n − 1);
- it recorded stagnant turns that did not end the episode as correct steps (``stagnant_counts_as_step``);
- it accepted an answer that belongs to any slot of the puzzle, not the slot it was given for
  (``check="membership"``; the answer is then confirmed in its true slot);
- its history trimming could exceed the image limit or drop the first message (fixed, no switch);
- its prompts gave no answer format (ours do, no switch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crosswordbench.metrics import normalize_answer
from crosswordbench.parsing import parse_answers
from crosswordbench.prompts import interactive_first_message, interactive_followup_message
from crosswordbench.puzzle import Puzzle
from rlcore.config import ConfigError
from rlcore.rollout import SamplingParams

__all__ = ["CHECKS", "MODALITIES", "InteractiveConfig", "InteractiveResult", "run_interactive"]

MODALITIES = ("image", "text")
CHECKS = ("slot", "membership")


@dataclass
class InteractiveConfig:
    """Settings of one interactive episode (spec §2.9)."""

    modality: str = "image"
    """"image": the grid image (with clues) each turn; "text": ``grid_text`` plus the clue lines."""
    check: str = "slot"
    """"slot": an answer is right iff it is the reference answer of its key; "membership" (reference
    code): iff it is any answer of the puzzle, then confirmed in that answer's own slot."""
    max_stagnant_turns: int = 3
    """Turns in a row without a new answer that end the episode ("stagnant")."""
    score_final_turn: bool = True
    """Record the turn that fills the last word (the reference code did not: False)."""
    stagnant_counts_as_step: bool = False
    """Record a stagnant turn that does not end the episode as a correct step (the reference code: True)."""
    image_limit: int = 4
    """Most images sent in one request; older turns are dropped (never the first message)."""

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ConfigError(f"unknown modality {self.modality!r}; valid: {', '.join(MODALITIES)}")
        if self.check not in CHECKS:
            raise ConfigError(f"unknown check {self.check!r}; valid: {', '.join(CHECKS)}")
        if self.max_stagnant_turns < 1:
            raise ConfigError(f"max_stagnant_turns must be >= 1, got {self.max_stagnant_turns}")
        if self.image_limit < 1:
            raise ConfigError(f"image_limit must be >= 1, got {self.image_limit}")


@dataclass
class InteractiveResult:
    """One episode: ``steps`` (True per correct recorded turn, False for the wrong one), ``iss`` (leading
    True steps), ``confirmed`` (key → answer), ``turns`` (model calls), ``stop_reason`` ("solved",
    "incorrect", "stagnant" or "max_turns") and the full transcript ``messages``."""

    steps: list[bool]
    iss: int
    confirmed: dict[str, str]
    turns: int
    stop_reason: str
    messages: list[dict] = field(default_factory=list)


def _user_message(puzzle: Puzzle, confirmed: dict[str, str], modality: str) -> dict:
    """Turn 1 without confirmed answers; later turns show the confirmed words filled in."""
    if not confirmed:
        return interactive_first_message(puzzle, modality)
    mask = [[False] * puzzle.cols for _ in range(puzzle.rows)]
    for key in confirmed:
        for r, c in puzzle.word(key).cells():
            mask[r][c] = True
    return interactive_followup_message(puzzle, mask, modality)


def _images(message: dict) -> int:
    content = message.get("content")
    if isinstance(content, list):
        return sum(1 for block in content if isinstance(block, dict) and block.get("type") == "image")
    return 0


def trimmed_history(first: dict, pairs: list[tuple[dict, dict]], image_limit: int) -> list[dict]:
    """The request: the first message and the newest (assistant, user) pair always, then older pairs
    newest-first while the images stay within ``image_limit``; dropping a pair drops all older ones."""
    kept: list[tuple[dict, dict]] = []
    images = _images(first)
    for i, pair in enumerate(reversed(pairs)):
        cost = _images(pair[0]) + _images(pair[1])
        if i > 0 and images + cost > image_limit:
            break
        kept.append(pair)
        images += cost
    messages = [first]
    for assistant, user in reversed(kept):
        messages += [assistant, user]
    return messages


def run_interactive(
    puzzle: Puzzle,
    generator: Any,
    config: InteractiveConfig | None = None,
    *,
    params: SamplingParams | None = None,
) -> InteractiveResult:
    """Play one interactive episode of ``puzzle`` with ``generator`` (an rlcore Generator or a callable
    ``fn(conversations) -> list[str]``). ``params`` defaults to greedy decoding, 16,384 new tokens, seed 42.
    A guard of 2·#words + ``max_stagnant_turns`` turns ends a run that keeps re-confirming old answers
    ("max_turns"), which only the membership check allows."""
    from crosswordbench.evaluate import generate_texts

    config = config or InteractiveConfig()
    params = params or SamplingParams(max_new_tokens=16384, temperature=0.0, top_p=1.0, seed=42)
    keys = puzzle.keys()
    reference = {w.key: normalize_answer(w.answer) for w in puzzle.words}
    slot_of: dict[str, list[str]] = {}
    for key, answer in reference.items():
        slot_of.setdefault(answer, []).append(key)

    first = _user_message(puzzle, {}, config.modality)
    transcript = [first]
    pairs: list[tuple[dict, dict]] = []
    confirmed: dict[str, str] = {}
    steps: list[bool] = []
    stagnant = turns = 0
    stop_reason = "max_turns"
    for _ in range(2 * len(keys) + config.max_stagnant_turns):
        request = trimmed_history(first, pairs, config.image_limit) if pairs else [first]
        texts, _ = generate_texts(generator, [request], params)
        reply, turns = texts[0], turns + 1
        assistant = {"role": "assistant", "content": reply}
        transcript.append(assistant)
        new = {k: v for k, v in parse_answers(reply, keys).items() if k not in confirmed}
        if not new:
            stagnant += 1
            if stagnant >= config.max_stagnant_turns:
                stop_reason = "stagnant"
                break
            if config.stagnant_counts_as_step:
                steps.append(True)
        else:
            stagnant = 0
            correct, filled = _check(new, reference, slot_of, confirmed, config.check)
            if correct:
                confirmed.update(filled)
            if correct and len(confirmed) == len(keys):
                if config.score_final_turn:
                    steps.append(True)
                stop_reason = "solved"
                break
            steps.append(correct)
            if not correct:
                stop_reason = "incorrect"
                break
        user = _user_message(puzzle, confirmed, config.modality)
        transcript.append(user)
        pairs.append((assistant, user))
    iss = next((i for i, ok in enumerate(steps) if not ok), len(steps))
    return InteractiveResult(steps, iss, dict(confirmed), turns, stop_reason, transcript)


def _check(
    new: dict[str, str],
    reference: dict[str, str],
    slot_of: dict[str, list[str]],
    confirmed: dict[str, str],
    check: str,
) -> tuple[bool, dict[str, str]]:
    """Whether every new answer is right, and the slots they fill (key → answer)."""
    filled: dict[str, str] = {}
    for key, answer in new.items():
        norm = normalize_answer(answer)
        if check == "slot":
            if reference.get(key) != norm:
                return False, {}
            filled[key] = answer
            continue
        slots = slot_of.get(norm)
        if not slots:
            return False, {}
        open_slots = [k for k in slots if k not in confirmed and k not in filled]
        filled[(open_slots or slots)[0]] = answer
    return True, filled
