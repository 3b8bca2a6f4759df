"""Problems and cold-start traces for every stage, the procedural CPU teacher and the bundled toy data
(spec §2.7, §5).

Sources (``source`` arguments): ``sample`` (the bundled files), ``arithmetic[:<difficulty>]``
(``rlcore.data.arithmetic_problems``), ``gsm8k``, ``dapo``, ``apo`` and the hub ids of §5 (bare or with
``hf:``), any other ``hf:<id>[:<config>]``, or a local jsonl/json/parquet/csv file. Rows are mapped to
``problem``/``answer`` (/``response``) from whichever layout they have: ``problem``/``answer``,
``question``/``answer`` (GSM8K, gold after ``####``), verl RL rows (``prompt`` messages and
``reward_model.ground_truth``, ``data_source`` as benchmark), verl SFT rows (``extra_info.question`` /
``extra_info.answer``), Parallel-GSM8K (``problem``/``text``) and ``make-sft`` output.

Regenerate the bundled data with ``python -m parallel_r1.data --regenerate``.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from parallel_r1.prompts import (
    ANSWER_PREFIX,
    PARALLEL_CLOSE,
    PARALLEL_OPEN,
    PATH_CLOSE,
    PATH_OPEN,
    SUMMARY_CLOSE,
    SUMMARY_OPEN,
    build_messages,
    build_prompt,
)
from parallel_r1.rewards import check_format, count_parallel, extract_final_answer, is_correct
from rlcore import data as core_data
from rlcore.data import DataError, regenerate_main

__all__ = [
    "APO_COMBINE",
    "DAPO",
    "GSM8K",
    "PARALLEL_GSM8K",
    "REJECTION_REASONS",
    "SAMPLE_DIR",
    "Teacher",
    "extract_core_question",
    "generate_sft_records",
    "gsm8k_gold",
    "load_problems",
    "load_sft_records",
    "main",
    "make_teacher",
    "template_trace",
    "write_sample_files",
]

logger = logging.getLogger(__name__)

PARALLEL_GSM8K = "TongZheng1999/Deepseek-Qwen-3-8B-GSM8k-Parallel-data-Filtered"
GSM8K = "openai/gsm8k"
DAPO = "Leo-Dai/dapo-math-17k_dedup"
APO_COMBINE = "Leo-Dai/APO_combine"
ARITHMETIC_DEFAULT_N = 1000
"""Problems ``arithmetic`` yields when no ``limit`` is given."""

SAMPLE_DIR = Path(__file__).parent / "data"
_SAMPLE_FILES = {"sft": "sample_sft.jsonl", "rl": "sample_rl.jsonl", "eval": "sample_eval.jsonl"}

Teacher = Callable[[dict[str, Any]], Sequence[str] | str]
"""A cold-start teacher: problem record → its responses."""

# ------------------------------------------------------------------------------------------ small helpers


def extract_core_question(text: str) -> str:
    """The text between the first and the second ``"\\n\\n"``, stripped (DAPO prompts wrap the problem in
    an instruction paragraph and a reminder); the whole text stripped when there are fewer separators."""
    if not isinstance(text, str):
        return ""
    parts = text.split("\n\n")
    return parts[1].strip() if len(parts) >= 3 else text.strip()


def gsm8k_gold(answer_text: str) -> str | None:
    """GSM8K's gold answer (``rlcore.data.gsm8k_answer`` under the official code's name): the text after the
    last ``####``, stripped, without ``,`` and ``$``; None without ``####``."""
    return core_data.gsm8k_answer(answer_text)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _gold(value: Any) -> str | None:
    """A gold answer as a stripped string; GSM8K solutions are reduced to their ``####`` answer."""
    if value is None:
        return None
    text = _text(value)
    if "####" in text:
        return gsm8k_gold(text)
    text = text.strip()
    return text or None


def _first_message(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list | tuple) and prompt:
        first = prompt[0]
        if isinstance(first, dict):
            return _text(first.get("content"))
        return _text(first)
    return ""


def _is_verl_rl(row: dict) -> bool:
    return isinstance(row.get("reward_model"), dict) and "prompt" in row


# ---------------------------------------------------------------------------------------------- sources


def _hub(spec: str) -> str:
    return spec if spec.startswith("hf:") else f"hf:{spec}"


def _canonical(source: str) -> str:
    """The shorthand name of a known source (``gsm8k``, ``dapo``, ``apo``, ``parallel-gsm8k``), else ``source``."""
    bare = source[3:] if source.startswith("hf:") else source
    repo = bare.split(":", 1)[0]  # drop a hub config such as openai/gsm8k:main
    aliases = {
        "gsm8k": "gsm8k",
        GSM8K: "gsm8k",
        "dapo": "dapo",
        DAPO: "dapo",
        "apo": "apo",
        APO_COMBINE: "apo",
        "parallel-gsm8k": "parallel-gsm8k",
        PARALLEL_GSM8K: "parallel-gsm8k",
    }
    return aliases.get(repo, source)


def _problem_fields(row: dict, where: str) -> tuple[str, str | None, str | None]:
    """(problem, gold, benchmark from the row) of one RL/eval row in any supported layout."""
    if _is_verl_rl(row):
        problem = extract_core_question(_first_message(row.get("prompt")))
        gold = _gold(row["reward_model"].get("ground_truth"))
        benchmark = row.get("data_source")
    elif "problem" in row:
        problem, gold, benchmark = _text(row["problem"]), _gold(row.get("answer")), row.get("benchmark")
    elif "question" in row:
        problem, gold, benchmark = _text(row["question"]), _gold(row.get("answer")), row.get("benchmark")
    elif isinstance(row.get("extra_info"), dict) and "question" in row["extra_info"]:
        extra = row["extra_info"]
        problem = _text(extra.get("question"))
        raw = extra.get("answer")
        gold = _gold(raw)
        if gold is not None and "####" not in _text(raw):
            gold = _gold(extract_final_answer(_text(raw), window=None)) or gold
        benchmark = row.get("data_source")
    else:
        raise DataError(
            f"{where}: no column 'problem' (nor 'question', verl 'prompt'/'reward_model' or 'extra_info.question')"
        )
    return problem.strip(), gold, None if benchmark is None else _text(benchmark)


def load_problems(
    source: str | Path, *, split: str = "train", limit: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """Problems as records ``{"problem", "answer", "benchmark", "problem_id", "replicas"}``.

    Rows with the same benchmark and problem text are one problem; ``replicas`` counts them (APO_combine
    repeats AIME/AMC problems 16 times). Empty problems are skipped with a logged count. ``limit`` keeps
    ``random.Random(seed).sample`` of that many problems, in order; for ``arithmetic`` it is the number
    generated (default 1000) and ``seed`` the generator's seed (other splits than ``train`` use seed + 1).
    ``split`` selects the hub split (ignored for local files and APO_combine, which is read whole) and, for
    ``sample``, ``train`` (the 64 RL problems) or any other split (the 16 evaluation problems).
    """
    source_str = str(source)
    if limit is not None and limit < 0:
        raise DataError(f"{source_str}: limit must be >= 0, got {limit}")
    if source_str == "sample":
        name = "rl" if split == "train" else "eval"
        rows = core_data.load_records(SAMPLE_DIR / _SAMPLE_FILES[name])
        default_benchmark = "arith"
    elif source_str == "arithmetic" or source_str.startswith("arithmetic:"):
        difficulty_text = source_str.partition(":")[2] or "1"
        if not difficulty_text.isdigit():
            raise DataError(f"{source_str}: expected arithmetic or arithmetic:<difficulty>")
        n = ARITHMETIC_DEFAULT_N if limit is None else limit
        generated = core_data.arithmetic_problems(
            n, seed=seed if split == "train" else seed + 1, difficulty=int(difficulty_text)
        )
        return [
            {
                "problem": p["question"],
                "answer": p["answer"],
                "benchmark": "arith",
                "problem_id": f"arith-{i}",
                "replicas": 1,
            }
            for i, p in enumerate(generated)
        ]
    else:
        kind = _canonical(source_str)
        if kind == "gsm8k":
            rows, default_benchmark = core_data.load_records(f"hf:{GSM8K}:main", split=split), "gsm8k"
        elif kind == "dapo":
            rows, default_benchmark = core_data.load_records(_hub(DAPO), split=split), "dapo"
        elif kind == "apo":
            rows, default_benchmark = core_data.load_records(_hub(APO_COMBINE)), "apo"
        elif kind == "parallel-gsm8k":
            rows, default_benchmark = (
                core_data.load_records(_hub(PARALLEL_GSM8K), split=split),
                "parallel-gsm8k",
            )
        elif source_str.startswith("hf:"):
            rows = core_data.load_records(source_str, split=split)
            default_benchmark = source_str[3:].split(":", 1)[0].rsplit("/", 1)[-1]
        else:
            rows = core_data.load_records(source_str)
            default_benchmark = Path(source_str).stem
    problems: dict[tuple[str, str], dict[str, Any]] = {}
    empty = 0
    for index, row in enumerate(rows):
        problem, gold, benchmark = _problem_fields(row, f"{source_str}: row {index}")
        if not problem:
            empty += 1
            continue
        benchmark = benchmark or default_benchmark
        key = (benchmark, problem)
        if key in problems:
            problems[key]["replicas"] += 1
            continue
        problems[key] = {
            "problem": problem,
            "answer": gold,
            "benchmark": benchmark,
            "problem_id": _text(row.get("problem_id")) or None,
            "replicas": 1,
        }
    if empty:
        logger.warning("%s: skipped %d empty problem(s)", source_str, empty)
    records = list(problems.values())
    counters: dict[str, int] = {}
    for record in records:
        number = counters.get(record["benchmark"], 0)
        counters[record["benchmark"]] = number + 1
        if record["problem_id"] is None:
            record["problem_id"] = f"{record['benchmark']}-{number}"
    if limit is not None and limit < len(records):
        keep = sorted(random.Random(seed).sample(range(len(records)), limit))
        records = [records[i] for i in keep]
    return records


def _sft_fields(row: dict, where: str) -> tuple[str, str, str | None]:
    """(problem, response, gold) of one cold-start row in any supported layout."""
    if "response" in row:
        problem = _text(row.get("problem", row.get("question")))
        response = _text(row["response"])
    elif "text" in row and "problem" in row:
        problem, response = _text(row["problem"]), _text(row["text"])
    elif isinstance(row.get("extra_info"), dict) and "question" in row["extra_info"]:
        problem = _text(row["extra_info"].get("question"))
        response = _text(row["extra_info"].get("answer"))
    else:
        raise DataError(
            f"{where}: no column 'response' (nor Parallel-GSM8K 'problem'/'text' or verl 'extra_info.question'/'extra_info.answer')"
        )
    gold = _gold(row.get("answer")) if isinstance(row.get("answer"), str | int | float) else None
    if gold is None:
        gold = _gold(extract_final_answer(response, window=None))
    return problem.strip(), response, gold


def load_sft_records(source: str | Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Cold-start traces as records ``{"problem", "response", "answer"}``: ``sample`` (the bundled 64),
    Parallel-GSM8K (its hub id, ``text`` → ``response``, answer from the final-answer line), a verl SFT
    file (``extra_info.question``/``extra_info.answer``) or ``make-sft`` output. Rows with an empty problem
    or response are skipped with a logged count; ``limit`` keeps the first records."""
    source_str = str(source)
    if limit is not None and limit < 0:
        raise DataError(f"{source_str}: limit must be >= 0, got {limit}")
    if source_str == "sample":
        rows = core_data.load_records(SAMPLE_DIR / _SAMPLE_FILES["sft"])
    elif _canonical(source_str) == "parallel-gsm8k":
        rows = core_data.load_records(_hub(PARALLEL_GSM8K), split="train")
    elif source_str.startswith("hf:"):
        rows = core_data.load_records(source_str, split="train")
    elif _canonical(source_str) in ("gsm8k", "dapo", "apo") or source_str.startswith("arithmetic"):
        raise DataError(
            f"{source_str}: holds problems, not traces; make cold-start data with `parallel-r1 make-sft`"
        )
    else:
        rows = core_data.load_records(source_str)
    records: list[dict[str, Any]] = []
    empty = 0
    for index, row in enumerate(rows):
        problem, response, gold = _sft_fields(row, f"{source_str}: row {index}")
        if not problem or not response.strip():
            empty += 1
            continue
        records.append({"problem": problem, "response": response, "answer": gold})
        if limit is not None and len(records) >= limit:
            break
    if empty:
        logger.warning("%s: skipped %d row(s) with an empty problem or response", source_str, empty)
    return records


# ------------------------------------------------------------------------------------- the CPU teacher

_PREAMBLES = (
    "Let me work this out.",
    "Let me solve this step by step.",
    "I will compute the result.",
    "Let me find the answer.",
)
_DIRECT = (
    "Computing directly from the given values, the result is {a}.",
    "Working forward through each step gives {a}.",
    "Carrying out the operations in order yields {a}.",
)
_CHECK = (
    "Checking backwards from {a} recovers the starting values, so {a} holds.",
    "Recomputing every step a second time also gives {a}.",
    "A quick check of each intermediate value confirms {a}.",
)
_SUMMARIES = (
    "Both paths give {a}.",
    "The computation and the check agree on {a}.",
    "Both approaches lead to {a}.",
)


def template_trace(problem: str, answer: Any, seed: int = 0) -> str:
    """A procedural cold-start trace for ``problem`` with gold ``answer``: a short preamble, one parallel
    block with two paths (a direct computation and a check) stating the result, a summary and the line
    ``Final Answer: <answer>``. Phrasing is picked by ``seed``; the same arguments give the same text.
    The trace passes :func:`~parallel_r1.rewards.check_format` and
    :func:`~parallel_r1.rewards.is_correct`. A missing or blank answer is a ``ValueError``."""
    gold = " ".join(_text(answer).split())
    if answer is None or not gold:
        raise ValueError("template_trace needs a non-empty answer")
    rng = random.Random(f"parallel-r1-template:{seed}")

    def pick(options: Sequence[str]) -> str:
        return rng.choice(options).replace("{a}", gold)

    preamble, direct, check, summary = pick(_PREAMBLES), pick(_DIRECT), pick(_CHECK), pick(_SUMMARIES)
    return (
        f"{preamble}\n"
        f"{PARALLEL_OPEN}{PATH_OPEN}{direct}{PATH_CLOSE}{PATH_OPEN}{check}{PATH_CLOSE}{PARALLEL_CLOSE}\n"
        f"{SUMMARY_OPEN}{summary}{SUMMARY_CLOSE}\n"
        f"{ANSWER_PREFIX} {gold}"
    )


# ------------------------------------------------------------------------------------- cold-start data

REJECTION_REASONS = ("empty", "format", "no_block", "wrong_answer", "too_long")
"""Why a teacher response is rejected, in the order checked."""


def _token_count(tokenizer: Any, problem: str, response: str) -> int:
    if getattr(tokenizer, "chat_template", None):
        prompt_ids = tokenizer.apply_chat_template(
            build_messages(problem), add_generation_prompt=True, tokenize=True
        )
        if isinstance(prompt_ids, dict):  # some tokenizers return a BatchEncoding
            prompt_ids = prompt_ids["input_ids"]
    else:
        prompt_ids = tokenizer.encode(build_prompt(problem), add_special_tokens=False)
    return len(prompt_ids) + len(tokenizer.encode(response, add_special_tokens=False))


def _rejection(record: dict[str, Any], response: Any, tokenizer: Any, max_length: int) -> str | None:
    if not isinstance(response, str) or not response.strip():
        return "empty"
    if check_format(response):
        return "format"
    if count_parallel(response) < 1:
        return "no_block"
    if not is_correct(response, record["answer"]):
        return "wrong_answer"
    if tokenizer is not None and _token_count(tokenizer, record["problem"], response) > max_length:
        return "too_long"
    return None


def generate_sft_records(
    problems: Sequence[dict[str, Any]],
    teacher: str | Teacher,
    *,
    tokenizer: Any = None,
    max_length: int = 4096,
    samples: int = 1,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Cold-start records ``{"problem", "response", "answer"}`` (plus ``problem_id`` when the problem has
    one) from a teacher, keeping a response iff it is well formed, has ≥ 1 block, is correct and (with a
    ``tokenizer``) prompt + response fit ``max_length`` tokens (spec §3).

    ``teacher`` is ``"template"`` (``samples`` :func:`template_trace` traces per problem, seeds numbered
    across problems) or a callable problem record → list of responses (called once per problem; it
    decides how many). Problems without text or gold answer are skipped. ``stats`` holds ``problems``,
    ``skipped_problems``, ``generated``, ``accepted``, ``acceptance_rate`` and ``rejections`` (reason →
    count, every reason of :data:`REJECTION_REASONS`).
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if isinstance(teacher, str):
        if teacher != "template":
            raise ValueError(f"teacher must be 'template' or a callable, got {teacher!r}")
        generate: Teacher | None = None
    elif callable(teacher):
        generate = teacher
    else:
        raise ValueError(f"teacher must be 'template' or a callable, got {type(teacher).__name__}")
    records: list[dict[str, Any]] = []
    rejections = dict.fromkeys(REJECTION_REASONS, 0)
    generated = skipped = 0
    for index, problem in enumerate(problems):
        text = _text(problem.get("problem")).strip()
        gold = _gold(problem.get("answer"))
        if not text or gold is None:
            skipped += 1
            continue
        record = {**problem, "problem": text, "answer": gold}
        if generate is None:
            responses: Sequence[Any] = [
                template_trace(text, gold, seed=index * samples + j) for j in range(samples)
            ]
        else:
            produced = generate(record)
            responses = [produced] if isinstance(produced, str) else list(produced or [])
        for response in responses:
            generated += 1
            reason = _rejection(record, response, tokenizer, max_length)
            if reason is not None:
                rejections[reason] += 1
                continue
            kept = {"problem": text, "response": response, "answer": gold}
            if problem.get("problem_id") is not None:
                kept = {"problem_id": problem["problem_id"], **kept}
            records.append(kept)
    stats = {
        "problems": len(problems),
        "skipped_problems": skipped,
        "generated": generated,
        "accepted": len(records),
        "acceptance_rate": len(records) / generated if generated else 0.0,
        "rejections": rejections,
    }
    return records, stats


# ------------------------------------------------------------------------------------------- bundled data

_SAMPLE_SEED = 0
_SAMPLE_SIZES = {"sft": 64, "rl": 64, "eval": 16}


def _sample_sets() -> dict[str, list[dict[str, Any]]]:
    """The three bundled sets, a pure function of the seed: one stream of difficulty-1 arithmetic problems
    cut into disjoint SFT, RL and evaluation parts."""
    total = sum(_SAMPLE_SIZES.values())
    stream = core_data.arithmetic_problems(total, seed=_SAMPLE_SEED, difficulty=1)
    sft_part = stream[: _SAMPLE_SIZES["sft"]]
    rl_part = stream[_SAMPLE_SIZES["sft"] : _SAMPLE_SIZES["sft"] + _SAMPLE_SIZES["rl"]]
    eval_part = stream[_SAMPLE_SIZES["sft"] + _SAMPLE_SIZES["rl"] :]

    def problems(part: list[dict], prefix: str) -> list[dict[str, Any]]:
        return [
            {
                "problem_id": f"{prefix}-{i}",
                "benchmark": "arith",
                "problem": p["question"],
                "answer": p["answer"],
            }
            for i, p in enumerate(part)
        ]

    sft, stats = generate_sft_records(problems(sft_part, "arith-sft"), "template")
    if stats["accepted"] != _SAMPLE_SIZES["sft"]:
        raise RuntimeError(f"the template teacher rejected bundled problems: {stats}")
    return {"sft": sft, "rl": problems(rl_part, "arith-rl"), "eval": problems(eval_part, "arith")}


def write_sample_files(directory: str | Path | None = None) -> list[Path]:
    """Write ``sample_sft.jsonl``, ``sample_rl.jsonl`` and ``sample_eval.jsonl`` (byte-identical on every
    run) into ``directory`` (default: the package's data folder) and return their paths."""
    target = Path(directory) if directory is not None else SAMPLE_DIR
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, records in _sample_sets().items():
        path = target / _SAMPLE_FILES[name]
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        path.write_bytes(lines.encode("utf-8"))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m parallel_r1.data --regenerate [--out DIR]``."""
    return regenerate_main(
        argv,
        prog="python -m parallel_r1.data",
        description=(__doc__ or "").splitlines()[0],
        regenerate=write_sample_files,
    )


if __name__ == "__main__":
    raise SystemExit(main())


def make_teacher(spec: str, datagen: Any = None, *, seed: int = 0) -> str | Teacher:
    """A ``generate_sft_records`` teacher from a spec: ``"template"`` (the procedural CPU teacher), or any
    ``rlcore.rollout.make_generator`` spec (``hf:…``, ``vllm:…``, ``openai:<url>#<model>``, a model path)
    prompted zero-shot with the parallel template, sampled with ``datagen``'s settings (``samples`` per problem)."""
    if spec == "template":
        return "template"
    from parallel_r1.prompts import build_messages
    from rlcore.rollout import SamplingParams, make_generator

    generator = make_generator(spec)
    samples = getattr(datagen, "samples", 1)
    params = SamplingParams(
        max_new_tokens=getattr(datagen, "max_new_tokens", 4096),
        temperature=getattr(datagen, "temperature", 0.6),
        top_p=getattr(datagen, "top_p", 0.95),
        seed=seed,
    )

    def teacher(record: dict) -> list[str]:
        out = generator.generate([build_messages(record["problem"], "parallel")], params, n=samples)
        return [s.text for s in out[0]]

    return teacher
