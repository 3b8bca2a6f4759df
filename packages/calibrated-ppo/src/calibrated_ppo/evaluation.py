"""The paper's verbalised-confidence evaluation (spec §2.5): generation with retries, the official output
parser, confidence normalisation and filling, answer matching, and per-dataset records, metrics and plots.

The parser reproduces ``parse_eval.py`` of ``SeanLeng1/Reward-Calibration`` branch by branch; the generation
loop reproduces ``query/query.py`` (up to ``max_retries`` regenerations of outputs lacking ``Confidence:`` and
digits, then 16 tokens continued from prompt + output + ``" Confidence: "``).
"""

from __future__ import annotations

import json
import logging
import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from calibrated_ppo.config import EvalConfig
from calibrated_ppo.metrics import calibration_summary, reliability_diagram

__all__ = [
    "KINDS",
    "MATCH_MODES",
    "cut_after_confidence",
    "evaluate_model",
    "fill_missing_confidences",
    "generator_for",
    "has_confidence",
    "is_correct",
    "normalize_confidence",
    "parse_eval_output",
]

logger = logging.getLogger(__name__)

KINDS = ("mc", "numeric")
MATCH_MODES = ("numeric", "exact")

# -- the official parser (parse_eval.py) ----------------------------------------------------------------------

_MC_DIRECT = re.compile(r"Answer:\s*?\n?\(?([A-Z])\)?")
_NUMERIC_DIRECT = re.compile(r"Answer:\s*?\n?([-+]?\$?\d{1,3}(?:,\d{3})*\.?\d*)")
_FALLBACK_SPAN = re.compile(r"(?:Answer:\s*(?:\n)?)?(.*?)(Confidence:|$)", re.DOTALL)
_FALLBACK_NUMBER = re.compile(r"[-+]?\$?\d+(?:,\d{3})*(?:\.\d+)?")
_BRACKET_LETTER = re.compile(r"\(([A-Z])\)")
_RIGHT_BRACKET_LETTER = re.compile(r"\b([A-Z])\)")
_STANDALONE_LETTER = re.compile(r"(?<![\(\)])\b([A-Z])\b")
_CONFIDENCE = re.compile(r"Confidence:[:]*\s*(\d+(?:\.\d+)?)")
_LAST_LINE_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_HAS_CONFIDENCE = re.compile(r"Confidence:\s*\d+")
"""The official retry test: an output without this match is regenerated."""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def _check_text(text: Any) -> None:
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")


def _valid_fallback_confidence(value: float) -> float | None:
    """The official ``is_valid_confidence``: > 100 or a fractional part other than .0/.5 is invalid; a valid
    value above 10 is divided by 10."""
    if value > 100:
        return None
    text = str(value)
    if "." in text and text.split(".")[1] not in ("5", "0"):
        return None
    if value > 10:
        return value / 10
    return value


def _fallback_answer(text: str, kind: str) -> str | None:
    match = _FALLBACK_SPAN.search(text)
    if match is None:  # the pattern always matches; kept for parity with the official guard
        return None
    content = match.group(1).strip()
    if kind == "numeric":
        numbers = _FALLBACK_NUMBER.findall(content)
        return numbers[-1].replace(",", "").replace("$", "") if numbers else None
    for pattern in (_BRACKET_LETTER, _RIGHT_BRACKET_LETTER, _STANDALONE_LETTER):
        letters = pattern.findall(content)
        if letters:
            return letters[-1]
    return None


def _parse_confidence(text: str) -> float | None:
    match = _CONFIDENCE.search(text)
    if match:
        return float(match.group(1))
    lines = text.split("\n")
    if len(lines) > 1:
        numbers = _LAST_LINE_NUMBER.findall(lines[-1].strip())
        if numbers:
            return _valid_fallback_confidence(float(numbers[-1]))
    return None


def parse_eval_output(text: str, kind: str) -> tuple[str | None, float | None]:
    """``(answer, raw_confidence)`` from a model output, exactly as the official parser reads it.

    ``kind`` is ``"mc"`` (an option letter) or ``"numeric"``. The raw confidence is on the model's own scale
    (0-10, sometimes a percentage); see :func:`normalize_confidence`.
    """
    _check_text(text)
    _check_kind(kind)
    direct = (_MC_DIRECT if kind == "mc" else _NUMERIC_DIRECT).search(text)
    if direct:
        answer: str | None = direct.group(1).replace(",", "").replace("$", "")
    else:
        answer = _fallback_answer(text, kind)
    return answer, _parse_confidence(text)


def has_confidence(text: str) -> bool:
    """Whether ``text`` states ``Confidence:`` followed by digits (the official retry test)."""
    _check_text(text)
    return _HAS_CONFIDENCE.search(text) is not None


def cut_after_confidence(text: str) -> str:
    """``text`` cut right after its first confidence number (``Confidence:``, more ``:``, whitespace and a
    number); unchanged when there is none."""
    _check_text(text)
    match = _CONFIDENCE.search(text)
    return text[: match.end()] if match else text


# -- confidences and correctness -----------------------------------------------------------------------------


def normalize_confidence(x: float | None) -> float | None:
    """A raw confidence on [0, 1]: x ≤ 10 → x/10; 10 < x ≤ 100 → x/100 (a percentage); x > 100 → 1.0; then
    clamped to [0, 1] (a negative value becomes 0). ``None`` stays ``None``; NaN gives 0.5 (the official
    "invalid score")."""
    if x is None:
        return None
    value = float(x)
    if math.isnan(value):
        return 0.5
    if value <= 10:
        value = value / 10
    elif value <= 100:
        value = value / 100
    else:
        value = 1.0
    return min(1.0, max(0.0, value))


def fill_missing_confidences(raw: Sequence[float | None]) -> list[float]:
    """Every raw confidence normalised; each ``None`` becomes ``normalize_confidence(m)`` with m the most
    frequent raw value (ties: the first seen; no values at all: m = 5)."""
    present = [float(v) for v in raw if v is not None]
    mode = Counter(present).most_common(1)[0][0] if present else 5.0
    fill = normalize_confidence(mode)
    assert fill is not None
    out = []
    for value in raw:
        normalised = normalize_confidence(value)
        out.append(fill if normalised is None else normalised)
    return out


_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _exact_key(text: str) -> str:
    return text.lower().translate(_PUNCTUATION).strip()


def _numeric_key(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("$", "").replace(",", ""))


def _as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def is_correct(pred: str | None, gold: str, kind: str, *, match: str = "numeric") -> bool:
    """Whether a parsed answer matches the gold one.

    ``None`` is never correct. With ``match="exact"`` (the official rule) both sides are lowercased, stripped
    of ASCII punctuation and trimmed ("3.0" ≠ "3", "12.5" = "125"). With ``match="numeric"``: multiple choice
    compares case-insensitively after trimming; numeric answers drop ``$``, ``,`` and whitespace and compare
    as floats (|a − b| ≤ 1e-6) when both parse, else as the cleaned strings, case-insensitively.
    """
    _check_kind(kind)
    if match not in MATCH_MODES:
        raise ValueError(f"match must be one of {', '.join(MATCH_MODES)}, got {match!r}")
    if pred is None:
        return False
    pred, gold = str(pred), str(gold)
    if match == "exact":
        return _exact_key(pred) == _exact_key(gold)
    if kind == "mc":
        return pred.strip().lower() == gold.strip().lower()
    p, g = _numeric_key(pred), _numeric_key(gold)
    a, b = _as_float(p), _as_float(g)
    if a is not None and b is not None:
        return abs(a - b) <= 1e-6
    return p.lower() == g.lower()


# -- generation ----------------------------------------------------------------------------------------------


def generator_for(model: Any, config: EvalConfig) -> Any:
    """The Generator of a model spec under ``config.backend`` (a Generator object is returned as is)."""
    from rlcore.rollout import make_generator

    if not isinstance(model, str):
        return make_generator(model)
    spec = model
    if config.backend == "vllm" and not spec.startswith("vllm:"):
        spec = "vllm:" + spec
    elif config.backend == "openai" and not spec.startswith("openai:"):
        spec = "openai:" + spec
    return make_generator(spec)


def _sampling(config: EvalConfig, *, seed: int, max_new_tokens: int) -> Any:
    from rlcore.rollout import SamplingParams

    return SamplingParams(
        max_new_tokens=max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        seed=seed,
    )


def _generate(generator: Any, prompts: list[Any], params: Any, batch_size: int) -> list[str]:
    texts: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        results = generator.generate(batch, params, 1)
        if len(results) != len(batch):
            raise RuntimeError(f"the generator returned {len(results)} results for {len(batch)} prompts")
        texts.extend(samples[0].text for samples in results)
    return texts


def _render_continuation(generator: Any, prompt: list[dict], output: str) -> str | None:
    """The text prompt ``chat-rendered prompt + output + " Confidence: "``, or None when the generator exposes
    no chat template to render with (then the continuation fallback is skipped)."""
    tokenizer = getattr(generator, "tokenizer", None)
    template = getattr(tokenizer, "apply_chat_template", None)
    if template is None or not getattr(tokenizer, "chat_template", None):
        return None
    try:
        rendered = template(prompt, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # a template that rejects the conversation: skip the fallback, count it missing
        logger.warning("cannot render the chat template for the continuation fallback: %s", exc)
        return None
    return rendered + output + " Confidence: "


def _item_messages(item: dict, config: EvalConfig) -> list[dict]:
    from calibrated_ppo.prompts import eval_messages

    return eval_messages(
        item["question"], item.get("options"), item["kind"], cot=config.cot, system_role=config.system_role
    )


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_items(items: Sequence[dict]) -> None:
    if not items:
        raise ValueError("no evaluation items")
    for i, item in enumerate(items):
        missing = [key for key in ("question", "answer", "kind") if key not in item]
        if missing:
            raise ValueError(f"evaluation item {i} lacks {', '.join(missing)}")
        _check_kind(item["kind"])


def evaluate_model(
    model: Any, items: Sequence[dict], config: EvalConfig, run_dir: str | Path, *, name: str
) -> dict[str, Any]:
    """Evaluate ``model`` on canonical ``items`` (``load_eval_dataset``) and write the results.

    ``model`` is a generator spec for :func:`rlcore.rollout.make_generator` (a plain spec is prefixed with
    ``config.backend``) or a Generator object. Outputs lacking ``Confidence:`` plus digits are regenerated up
    to ``max_retries`` times (seed ``seed + attempt``); any still missing get 16 more tokens from the
    chat-rendered prompt + output + ``" Confidence: "`` (when the generator exposes a tokenizer with a chat
    template; otherwise they stay missing). Outputs are cut after the first confidence number, parsed,
    filled and scored.

    Writes into ``run_dir/eval/``: ``<name>.jsonl`` (id, output, answer, gold, raw_conf, conf, correct,
    attempts), ``reliability_<name>.png`` and ``metrics.json`` (a mapping name → metrics, merged with what is
    there; a NaN AUROC is written as null). Returns :func:`calibration_summary` plus
    ``n_missing_confidence`` and ``confidence_rate`` (shares before filling).
    """
    from rlcore.runs import atomic_write

    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ValueError(f"name must be a plain file-name stem (letters, digits, . _ -), got {name!r}")
    items = list(items)
    _check_items(items)
    generator = generator_for(model, config)
    prompts = [_item_messages(item, config) for item in items]

    outputs = _generate(
        generator,
        prompts,
        _sampling(config, seed=config.seed, max_new_tokens=config.new_tokens),
        config.batch_size,
    )
    attempts = [1] * len(items)
    for attempt in range(1, config.max_retries + 1):
        pending = [i for i, text in enumerate(outputs) if not has_confidence(text)]
        if not pending:
            break
        logger.info("retry %d: %d outputs without a confidence", attempt, len(pending))
        params = _sampling(config, seed=config.seed + attempt, max_new_tokens=config.new_tokens)
        for i, text in zip(
            pending,
            _generate(generator, [prompts[i] for i in pending], params, config.batch_size),
            strict=True,
        ):
            outputs[i] = text
            attempts[i] += 1

    pending = [i for i, text in enumerate(outputs) if not has_confidence(text)]
    continuations = {i: _render_continuation(generator, prompts[i], outputs[i]) for i in pending}
    fallback = [i for i in pending if continuations[i] is not None]
    if fallback:
        params = _sampling(config, seed=config.seed + config.max_retries + 1, max_new_tokens=16)
        texts = _generate(generator, [continuations[i] for i in fallback], params, config.batch_size)
        for i, text in zip(fallback, texts, strict=True):
            outputs[i] = outputs[i] + " Confidence: " + text
            attempts[i] += 1

    outputs = [cut_after_confidence(text) for text in outputs]
    parsed = [parse_eval_output(text, item["kind"]) for text, item in zip(outputs, items, strict=True)]
    raw = [conf for _, conf in parsed]
    confidences = fill_missing_confidences(raw)
    correct = [
        is_correct(answer, str(item["answer"]), item["kind"], match=config.match)
        for (answer, _), item in zip(parsed, items, strict=True)
    ]
    n_missing = sum(conf is None for conf in raw)

    eval_dir = Path(run_dir) / "eval"
    records = [
        {
            "id": item.get("id", f"{name}-{i}"),
            "output": outputs[i],
            "answer": parsed[i][0],
            "gold": str(item["answer"]),
            "raw_conf": raw[i],
            "conf": confidences[i],
            "correct": correct[i],
            "attempts": attempts[i],
        }
        for i, item in enumerate(items)
    ]
    atomic_write(
        eval_dir / f"{name}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    )

    summary: dict[str, Any] = calibration_summary(
        confidences, correct, n_bins=config.n_bins, binning=config.binning
    )
    summary["n_missing_confidence"] = n_missing
    summary["confidence_rate"] = 1.0 - n_missing / len(items)

    metrics_path = eval_dir / "metrics.json"
    existing: dict[str, Any] = {}
    if metrics_path.is_file():
        try:
            loaded = json.loads(metrics_path.read_text(encoding="utf-8"))
            existing = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            existing = {}
    existing[name] = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
    atomic_write(metrics_path, json.dumps(existing, indent=2, sort_keys=True) + "\n")

    reliability_diagram(
        confidences,
        correct,
        eval_dir / f"reliability_{name}.png",
        n_bins=config.n_bins,
        binning=config.binning,
        title=name,
    )
    return summary
