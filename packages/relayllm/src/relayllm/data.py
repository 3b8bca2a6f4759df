"""Data for every stage: warm-up responses with inserted calls, the teacher pass-rate filter, question
loading with field auto-detection, the benchmarks and the bundled toy sets (paper §3.2-3.3, §4; spec §5).

Warm-up (paper §3.2): the SLM's own answers get up to three ``<call>n</call>`` commands at random token
positions, with n = min(d·10^k, tokens left), so supervised fine-tuning teaches the command format before RL.

Teacher filter (paper §3.3): questions the LLM itself solves in fewer than half of 10 samples are dropped,
because a call cannot help where the teacher fails too.

Regenerate the bundled data with ``python -m relayllm.data --regenerate``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relayllm.config import FilterConfig
from relayllm.prompts import build_choice_question, build_messages, format_call
from relayllm.rewards import is_correct
from rlcore import data as core_data
from rlcore.data import DataError, regenerate_main

__all__ = [
    "ANSWER_FIELDS",
    "BENCHMARKS",
    "CALL_LENGTH_CHOICES",
    "QUESTION_FIELDS",
    "SAMPLES",
    "BenchmarkInfo",
    "LoadedRecords",
    "build_warmup_records",
    "build_warmup_response",
    "filter_by_teacher",
    "insert_call_ids",
    "keep_by_pass_rate",
    "load_benchmark",
    "load_records",
    "load_sample",
    "pass_rate",
    "plan_insertions",
    "regenerate_samples",
    "sample_call_length",
    "select_by_pass_rate",
]

# ------------------------------------------------------------------------------------------------- warm-up

CALL_LENGTH_CHOICES: tuple[int, ...] = tuple(sorted(d * 10**k for d in range(1, 10) for k in range(4)))
"""The 36 call lengths d·10^k (d ∈ 1..9, k ∈ 0..3) a warm-up command may request, ascending."""


def sample_call_length(rng: random.Random) -> int:
    """A warm-up call length d·10^k: ``d = rng.randint(1, 9)`` first, then ``k = rng.randint(0, 3)``."""
    d = rng.randint(1, 9)
    k = rng.randint(0, 3)
    return d * 10**k


def plan_insertions(num_tokens: int, rng: random.Random, max_commands: int = 3) -> list[tuple[int, int]]:
    """Where to insert commands into a response of ``num_tokens`` tokens, and what n each requests.

    m ~ U{0..max_commands} distinct gap positions p ∈ [0, num_tokens] (p tokens come before the command),
    ascending; each gets n = min(d·10^k, num_tokens − p), so the LLM is never asked for more than the
    L_rem tokens the response has left (a command at the very end asks for 0). Negative arguments raise
    ``ValueError``.
    """
    if num_tokens < 0 or max_commands < 0:
        raise ValueError(f"num_tokens and max_commands must be >= 0, got {num_tokens} and {max_commands}")
    m = rng.randint(0, max_commands)
    positions = sorted(rng.sample(range(num_tokens + 1), min(m, num_tokens + 1)))
    return [(p, min(sample_call_length(rng), num_tokens - p)) for p in positions]


def insert_call_ids(
    token_ids: Sequence[int], plan: Sequence[tuple[int, int]], encode_call: Callable[[int], list[int]]
) -> list[int]:
    """``token_ids`` with ``encode_call(n)`` inserted right before original token p for each (p, n) of the
    plan (at the end when p = len). The original ids keep their order; duplicate or out-of-range positions
    raise ``ValueError``."""
    positions = [p for p, _ in plan]
    if len(set(positions)) != len(positions):
        raise ValueError(f"duplicate insertion positions in {list(plan)}")
    if any(not 0 <= p <= len(token_ids) for p in positions):
        raise ValueError(f"insertion positions must lie in [0, {len(token_ids)}], got {positions}")
    out: list[int] = []
    previous = 0
    for p, n in sorted(plan):
        out.extend(token_ids[previous:p])
        out.extend(encode_call(n))
        previous = p
    out.extend(token_ids[previous:])
    return out


def _encode(tokenizer: Any, text: str) -> list[int]:
    # The response and the command are spliced into one assistant turn: no BOS or other special tokens.
    return list(tokenizer.encode(text, add_special_tokens=False))


def _insert_calls(
    response: str, tokenizer: Any, rng: random.Random, max_commands: int
) -> tuple[str, list[tuple[int, int]]]:
    ids = _encode(tokenizer, response)
    plan = plan_insertions(len(ids), rng, max_commands)
    text = tokenizer.decode(insert_call_ids(ids, plan, lambda n: _encode(tokenizer, format_call(n))))
    return text, plan


def build_warmup_response(response: str, tokenizer: Any, rng: random.Random, max_commands: int = 3) -> str:
    """``response`` with random commands inserted at token positions (:func:`plan_insertions`), decoded."""
    return _insert_calls(response, tokenizer, rng, max_commands)[0]


def build_warmup_records(
    records: Sequence[dict], responses: Sequence[str], tokenizer: Any, *, seed: int = 0, max_commands: int = 3
) -> list[dict]:
    """TRL conversational prompt–completion rows for the warm-up SFT, one per (record, response) pair.

    Each row has ``prompt`` (:func:`relayllm.prompts.build_messages` of the question), ``completion`` (one
    assistant message: the response with commands inserted), ``question``, ``answer`` and ``num_commands``
    (commands inserted, those with n = 0 included). One ``random.Random(seed)`` stream serves all rows in order.
    """
    if len(records) != len(responses):
        raise ValueError(f"{len(records)} records but {len(responses)} responses")
    rng = random.Random(seed)
    rows = []
    for record, response in zip(records, responses, strict=True):
        content, plan = _insert_calls(response, tokenizer, rng, max_commands)
        rows.append(
            {
                "prompt": build_messages(record["question"]),
                "completion": [{"role": "assistant", "content": content}],
                "question": record["question"],
                "answer": record.get("answer"),
                "num_commands": len(plan),
            }
        )
    return rows


# ------------------------------------------------------------------------------------------ teacher filter


def _check_counts(num_correct: int, num_samples: int) -> None:
    if num_correct < 0 or num_samples < 0:
        raise ValueError(f"counts must be >= 0, got {num_correct} correct of {num_samples}")
    if num_correct > num_samples:
        raise ValueError(f"{num_correct} correct answers out of only {num_samples} samples")


def pass_rate(num_correct: int, num_samples: int) -> float:
    """The teacher's pass rate ``num_correct / num_samples``; 0.0 without samples."""
    _check_counts(num_correct, num_samples)
    return num_correct / num_samples if num_samples else 0.0


# Rates such as 5/10 must clear a threshold of 0.5 despite floating-point rounding.
_RATE_EPS = 1e-12


def keep_by_pass_rate(num_correct: int, num_samples: int, threshold: float = 0.5) -> bool:
    """Whether a question stays: there are samples and the teacher's pass rate is ≥ ``threshold``."""
    _check_counts(num_correct, num_samples)
    return num_samples > 0 and num_correct / num_samples >= threshold - _RATE_EPS


def select_by_pass_rate(
    records: Sequence[dict], pass_rates: Sequence[float], threshold: float = 0.5, min_keep: int = 0
) -> list[dict]:
    """Copies of the records whose teacher pass rate is ≥ ``threshold``, each with ``teacher_pass_rate``.

    When fewer than ``min_keep`` pass, the best remaining records (higher rate, then earlier position) top
    the selection up, marked ``filter_fallback: True``. The output keeps the input order.
    """
    if len(records) != len(pass_rates):
        raise ValueError(f"{len(records)} records but {len(pass_rates)} pass rates")
    rates = [float(r) for r in pass_rates]
    chosen = {i for i, rate in enumerate(rates) if rate >= threshold - _RATE_EPS}
    rest = sorted((i for i in range(len(rates)) if i not in chosen), key=lambda i: (-rates[i], i))
    fallback = set(rest[: max(0, min_keep - len(chosen))])
    out = []
    for i, record in enumerate(records):
        if i in chosen or i in fallback:
            row = {**record, "teacher_pass_rate": rates[i]}
            if i in fallback:
                row["filter_fallback"] = True
            out.append(row)
    return out


def filter_by_teacher(
    records: Sequence[dict], llm: Any, config: FilterConfig | None = None, *, batch_size: int = 16
) -> tuple[list[dict], list[dict]]:
    """Sample ``config.samples`` answers per question from the teacher and keep the questions it solves.

    ``llm`` is an :mod:`rlcore.rollout` Generator or a :func:`rlcore.rollout.make_generator` spec. Prompts
    are :func:`relayllm.prompts.build_messages` chats, sent ``batch_size`` questions at a time; each answer
    is scored with :func:`relayllm.rewards.is_correct` (the record's ``kind``, math by default).

    Returns ``(kept, rates)``: ``kept`` from :func:`select_by_pass_rate` with ``config.threshold`` and
    ``config.min_keep``, and one ``{"id", "question", "answer", "correct", "samples", "rate"}`` row per
    record, in input order.
    """
    from rich.progress import Progress

    from rlcore.rollout import SamplingParams, make_generator

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    config = config or FilterConfig()
    generator = make_generator(llm)
    params = SamplingParams(
        temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens
    )
    rates: list[dict] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("teacher filter", total=len(records))
        for start in range(0, len(records), batch_size):
            batch = records[start : start + batch_size]
            samples = generator.generate(
                [build_messages(r["question"]) for r in batch], params, n=config.samples
            )
            for offset, (record, answers) in enumerate(zip(batch, samples, strict=True)):
                kind = record.get("kind", "math")
                correct = sum(is_correct(s.text, record.get("answer"), kind) for s in answers)
                rates.append(
                    {
                        "id": record.get("id", str(start + offset)),
                        "question": record["question"],
                        "answer": record.get("answer"),
                        "correct": correct,
                        "samples": len(answers),
                        "rate": pass_rate(correct, len(answers)),
                    }
                )
            progress.advance(task, len(batch))
    kept = select_by_pass_rate(records, [r["rate"] for r in rates], config.threshold, config.min_keep)
    return kept, rates


# ------------------------------------------------------------------------------------------------- loading

QUESTION_FIELDS = ("question", "problem", "prompt", "Question")
"""Question columns tried in order when none is named."""
ANSWER_FIELDS = ("answer", "final_answer", "Answer")
"""Answer columns tried in order when none is named."""
# Columns that later stages read and that load_records therefore carries over.
_KEPT_FIELDS = ("solution", "difficulty", "kind", "choices", "benchmark")


class LoadedRecords(list):
    """The records :func:`load_records` returns: a plain list plus ``skipped``, the number of source rows
    dropped for an empty or missing question or answer."""

    skipped: int = 0

    def __init__(self, records: Sequence[dict] = (), skipped: int = 0) -> None:
        super().__init__(records)
        self.skipped = skipped


def _pick(row: dict, explicit: str | None, candidates: Sequence[str]) -> Any:
    if explicit is not None:
        return row.get(explicit)
    for name in candidates:
        if name in row:
            return row[name]
    return None


def _text(value: Any) -> str | None:
    """A question or answer as a non-empty string: a list gives its first element, numbers become text."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or isinstance(value, dict | list | tuple):
        return None
    text = str(value).strip()
    return text or None


def load_records(
    source: str | Path,
    *,
    split: str | None = None,
    question_field: str | None = None,
    answer_field: str | None = None,
    limit: int | None = None,
) -> LoadedRecords:
    """Questions from a local jsonl, json, parquet or csv file or ``hf:<id>[:<config>]``
    (:func:`rlcore.data.load_records`), as ``{"id", "question", "answer"}`` records.

    Without ``question_field`` the question is the first present of :data:`QUESTION_FIELDS`; without
    ``answer_field`` the answer is the first present of :data:`ANSWER_FIELDS`. A list answer becomes its
    first element. Rows with an empty or missing question or answer are skipped and counted in the
    result's ``skipped``. ``id`` is the row's ``id`` or its index; ``solution``, ``difficulty``, ``kind``,
    ``choices`` and ``benchmark`` are carried over when present. ``limit`` keeps the first ``limit`` usable
    records.
    """
    if limit is not None and limit < 0:
        raise DataError(f"{source}: limit must be >= 0, got {limit}")
    rows = core_data.load_records(source, split=split)
    records = LoadedRecords()
    for index, row in enumerate(rows):
        if limit is not None and len(records) >= limit:
            break
        question = _text(_pick(row, question_field, QUESTION_FIELDS))
        answer = _text(_pick(row, answer_field, ANSWER_FIELDS))
        if question is None or answer is None:
            records.skipped += 1
            continue
        row_id = row.get("id")
        record = {"id": str(index if row_id is None else row_id), "question": question, "answer": answer}
        record.update({name: row[name] for name in _KEPT_FIELDS if row.get(name) is not None})
        records.append(record)
    return records


# --------------------------------------------------------------------------------------------- benchmarks


@dataclass(frozen=True)
class BenchmarkInfo:
    """How relayllm evaluates one benchmark.

    ``core`` names the :data:`rlcore.data.BENCHMARKS` entry (None for a bundled set, read from ``sample``);
    ``kind`` is ``"math"`` (boxed answer) or ``"choice"`` (boxed letter); the caller samples each question
    ``repeats`` times (AIME: avg@32); ``subset`` is the size of the seeded subset the paper evaluates.
    """

    core: str | None
    kind: str = "math"
    repeats: int = 1
    subset: int | None = None
    sample: str | None = None


BENCHMARKS: dict[str, BenchmarkInfo] = {
    "math500": BenchmarkInfo("math500"),
    "gsm8k": BenchmarkInfo("gsm8k"),
    "minerva": BenchmarkInfo("minerva"),
    "olympiad": BenchmarkInfo("olympiadbench"),
    "aime24": BenchmarkInfo("aime24", repeats=32),
    "aime25": BenchmarkInfo("aime25", repeats=32),
    "mmlu_pro": BenchmarkInfo("mmlu_pro", kind="choice", subset=1000),
    "supergpqa": BenchmarkInfo("supergpqa", kind="choice", subset=1000),
    "bbeh": BenchmarkInfo("bbeh", subset=1000),
    "toy-easy": BenchmarkInfo(None, sample="toy_easy"),
    "toy-hard": BenchmarkInfo(None, sample="toy_hard"),
}
"""The benchmarks of the paper (six math sets, three OOD sets) and the two bundled toy sets (spec §5)."""


def load_benchmark(
    name: str, *, limit: int | None = None, seed: int = 0, source: str | Path | None = None
) -> list[dict]:
    """Benchmark ``name`` as ``{"id", "question", "answer", "kind", "benchmark", ...}`` records.

    Hub sets come through :func:`rlcore.data.load_benchmark` (``source`` reads the same columns from a local
    file instead). The OOD sets are cut to their ``subset`` with ``seed`` (the paper's 1000 items: seed 0);
    a multiple-choice question gets its options appended (:func:`relayllm.prompts.build_choice_question`).
    ``limit`` then keeps the first ``limit`` items. Repeats are the caller's: see ``BENCHMARKS[name].repeats``.
    """
    if name not in BENCHMARKS:
        raise DataError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    if limit is not None and limit < 0:
        raise DataError(f"{name}: limit must be >= 0, got {limit}")
    info = BENCHMARKS[name]
    if info.sample is not None:
        records = [{**r, "kind": info.kind, "benchmark": name} for r in load_sample(info.sample)]
        return records[:limit]
    records = []
    for row in core_data.load_benchmark(info.core, limit=info.subset, seed=seed, source=source):
        record = {**row, "kind": info.kind, "benchmark": name}
        if info.kind == "choice":
            record["question"] = build_choice_question(
                row["question"], [str(c) for c in row["choices"] or []]
            )
        records.append(record)
    return records[:limit]


# ------------------------------------------------------------------------------------------- bundled data

_SAMPLE_DIR = Path(__file__).parent / "data"
SAMPLES = ("toy_train", "toy_easy", "toy_hard")
"""The bundled sets: ``toy_train`` (64 questions, difficulty 1–2), ``toy_easy`` and ``toy_hard`` (16 each)."""


def load_sample(name: str) -> list[dict]:
    """The records of a bundled set (:data:`SAMPLES`): ``id``, ``question``, ``answer``, ``difficulty``,
    ``solution``."""
    if name not in SAMPLES:
        raise DataError(f"unknown bundled set {name!r}; known: {', '.join(SAMPLES)}")
    return core_data.load_records(_SAMPLE_DIR / f"{name}.jsonl")


_SEED = 1234
_START = re.compile(r"^(\w+) has (\d+) (\w+)\.$")
_ADD = re.compile(r"^Then \w+ gets (\d+) more \w+\.$")
_SUB = re.compile(r"^Then \w+ gives away (\d+) \w+\.$")
_MUL = re.compile(r"^Then \w+ (doubles|triples|quadruples) the number of \w+\.$")
_DIV = re.compile(r"^Then \w+ keeps only (half|a third|a quarter|a fifth) of the \w+\.$")
_FACTORS = {
    "doubles": 2,
    "triples": 3,
    "quadruples": 4,
    "half": 2,
    "a third": 3,
    "a quarter": 4,
    "a fifth": 5,
}
_GERUNDS = {"doubles": "Doubling", "triples": "Tripling", "quadruples": "Quadrupling"}


def _worked_solution(question: str, answer: str) -> str:
    """A templated step-by-step solution of an :func:`rlcore.data.arithmetic_problems` question, ending in
    ``\\boxed{answer}``: the start amount, then one equation per operation."""
    sentences = re.split(r"(?<=[.?])\s+", question)
    start = _START.match(sentences[0])
    if start is None:
        raise ValueError(f"not an arithmetic word problem: {question!r}")
    name, total, items = start.group(1), int(start.group(2)), start.group(3)
    steps = [f"{name} starts with {total} {items}."]
    for sentence in sentences[1:-1]:
        if match := _ADD.match(sentence):
            k = int(match.group(1))
            steps.append(f"After getting {k} more: {total} + {k} = {total + k}.")
            total += k
        elif match := _SUB.match(sentence):
            k = int(match.group(1))
            steps.append(f"After giving away {k}: {total} - {k} = {total - k}.")
            total -= k
        elif match := _MUL.match(sentence):
            k = _FACTORS[match.group(1)]
            steps.append(f"{_GERUNDS[match.group(1)]}: {total} * {k} = {total * k}.")
            total *= k
        elif match := _DIV.match(sentence):
            k = _FACTORS[match.group(1)]
            steps.append(f"Keeping {match.group(1)}: {total} / {k} = {total // k}.")
            total //= k
        else:
            raise ValueError(f"unrecognised step {sentence!r} in {question!r}")
    if str(total) != answer:
        raise ValueError(f"worked solution gives {total}, expected {answer} for {question!r}")
    steps.append(f"So {name} has {total} {items} now. The answer is \\boxed{{{total}}}.")
    return " ".join(steps)


def _toy_sets() -> dict[str, list[dict]]:
    """The three bundled sets, a pure function of the seed. Easy questions come after the training ones in
    the same difficulty-1 stream, so no evaluation question is also a training question."""
    level1 = core_data.arithmetic_problems(48, seed=_SEED, difficulty=1)
    level2 = core_data.arithmetic_problems(32, seed=_SEED, difficulty=2)
    level3 = core_data.arithmetic_problems(16, seed=_SEED, difficulty=3)
    # Alternate the two levels so that any prefix of the training set (the demo uses 8) mixes both.
    train = [problem for pair in zip(level1[:32], level2, strict=True) for problem in pair]
    sets = {"toy_train": train, "toy_easy": level1[32:], "toy_hard": level3}
    out = {}
    for name, problems in sets.items():
        prefix = name.replace("_", "-")
        out[name] = [
            {
                "id": f"{prefix}-{i}",
                "question": p["question"],
                "answer": p["answer"],
                "difficulty": p["difficulty"],
                "solution": _worked_solution(p["question"], p["answer"]),
            }
            for i, p in enumerate(problems)
        ]
    return out


def regenerate_samples(directory: str | Path | None = None) -> list[Path]:
    """Write the bundled jsonl files (byte-identical on every run) into ``directory`` (default: the package's
    data folder) and return their paths."""
    target = Path(directory) if directory is not None else _SAMPLE_DIR
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, records in _toy_sets().items():
        path = target / f"{name}.jsonl"
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        path.write_bytes(lines.encode("utf-8"))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m relayllm.data --regenerate [--out DIR]``."""
    return regenerate_main(
        argv,
        prog="python -m relayllm.data",
        description=__doc__.splitlines()[0],
        regenerate=regenerate_samples,
    )


if __name__ == "__main__":
    raise SystemExit(main())
