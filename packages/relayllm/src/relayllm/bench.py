"""The KV-reuse benchmark of spec §9, shared by ``relayllm bench`` and ``benchmarks/relayllm_relay_speed.py``.

Setup: an SLM and an LLM (by default both the embedded SmolLM2-135M-Instruct, on the CPU), greedy, one math
prompt of about P = 100 tokens, answers of exactly T tokens with EOS suppressed on both models. Every figure is
the median of ``runs`` runs, all cases interleaved within each run so that a noisy neighbour slows every case
alike.

1. **Speed at call ratio 0.** A relay whose SLM never calls, against SLM-only ``model.generate`` on the same
   model, prompt and token count. Target: at least 0.8x the baseline's tokens/s.
2. **Cost versus the number of calls k.** A logits processor makes the SLM itself write ``<call>8</call>`` k
   times, splitting its own text into k + 1 equal stretches (about every T/(k+1) answer tokens); the LLM then
   writes n = 8 tokens each time. Each k runs with KV reuse and with ``reuse_cache=False`` (the naive relay,
   which re-reads the whole context at every turn). Targets: SLM prefill = P + (n + 1)k = P + 9k exactly,
   LLM prefill ≤ P + T + 10k, and with reuse time(k=16)/time(k=0) ≤ 1.5.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from relayllm.config import RelayConfig
from relayllm.prompts import build_messages, format_call
from relayllm.relay import HFRelayModel, _eos_ids, relay_decode

__all__ = ["CALL_LENGTH", "QUESTION", "ScriptedCalls", "call_starts", "run_bench"]

CALL_LENGTH = 8
"""n of every scripted command: the LLM writes 8 tokens per call."""

QUESTION = (
    "A bakery sells muffins for 3 dollars and cookies for 2 dollars. On Monday it sold 45 muffins and twice as "
    "many cookies. On Tuesday it sold 12 fewer muffins and half as many cookies as on Monday. How much money "
    "did it make over the two days?"
)
"""The benchmark question: with the instruction and SmolLM2's chat template, a prompt of about 100 tokens."""

SPEED_TARGET = 0.8
SLOWDOWN_TARGET = 1.5


class ScriptedCalls:
    """A logits processor that makes the SLM write ``call_ids`` starting at each answer position in
    ``starts`` (positions count every answer token, the LLM's included) and never write an EOS id.

    Forcing is a mask: every other token gets -inf, so the command is written whatever the model prefers.
    A relay that resumes the SLM mid-schedule picks up where it left off (the state lives here, so use one
    processor per relay).
    """

    def __init__(
        self, prompt_len: int, call_ids: Sequence[int], starts: Sequence[int], suppress: Sequence[int]
    ):
        self.prompt_len = prompt_len
        self.call_ids = list(call_ids)
        self.starts = list(starts)
        self.suppress = sorted(suppress)
        self.started = 0
        self.offset = 0  # index in call_ids of the next token to force; 0 when not writing a command

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        position = input_ids.shape[1] - self.prompt_len
        if self.offset == 0 and self.started < len(self.starts) and position >= self.starts[self.started]:
            self.started += 1
        elif self.offset == 0:
            scores[..., self.suppress] = -float("inf")
            return scores
        forced = self.call_ids[self.offset]
        self.offset = (self.offset + 1) % len(self.call_ids)
        value = scores[..., forced].clone()
        scores.fill_(-float("inf"))
        scores[..., forced] = value
        return scores


def call_starts(tokens: int, k: int, call_tokens: int, n: int = CALL_LENGTH) -> list[int] | None:
    """Answer positions of the k commands in an answer of ``tokens`` tokens: each command plus the LLM's
    span takes ``call_tokens + n`` positions, and the SLM's own text in between is split into k + 1
    stretches as equal as integers allow, the last one non-empty (so the answer ends with the SLM and
    every LLM span is prefilled by it). None when the answer is too short for k full calls."""
    free = tokens - k * (call_tokens + n)
    if free < 1:
        return None
    return [j * free // (k + 1) + (j - 1) * (call_tokens + n) for j in range(1, k + 1)]


class _Suppress:
    """A logits processor that never lets an EOS id through (the LLM writes its whole grant)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = sorted(ids)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        scores[..., self.ids] = -float("inf")
        return scores


def run_bench(
    slm: str,
    llm: str,
    *,
    runs: int = 3,
    tokens: int = 256,
    ks: Sequence[int] = (0, 1, 2, 4, 8, 16),
    console: Any = None,
) -> dict:
    """Run the benchmark (module docstring), print rich tables to ``console`` and return the numbers.

    ``slm`` and ``llm`` are ``rlcore.models.load_model`` specs (the same spec loads one model, used by both
    sides: the LLM is frozen, so sharing weights changes nothing but memory). The models go to the GPU when
    one is visible. A k whose calls do not fit in ``tokens`` is skipped and listed under ``skipped``.
    """
    import torch
    from rich.console import Console

    from rlcore.models import load_model

    console = console or Console()
    if runs < 1 or tokens < 1:
        raise ValueError(f"runs and tokens must be >= 1, got runs={runs}, tokens={tokens}")
    device = "cuda" if torch.cuda.is_available() else None
    with console.status(f"loading {slm}" + ("" if llm == slm else f" and {llm}")):
        slm_model, slm_tok = load_model(slm, device=device)
        llm_model, llm_tok = (slm_model, slm_tok) if llm == slm else load_model(llm, device=device)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    probe = HFRelayModel(slm_model, slm_tok)
    prompt = probe.format_prompt(build_messages(QUESTION))
    prompt_ids = probe.encode(prompt)
    P = len(prompt_ids)
    call_ids = probe.encode(format_call(CALL_LENGTH))
    slm_eos, llm_eos = _eos_ids(slm_model, probe.tokenizer), _eos_ids(llm_model, llm_tok)
    plan = {k: call_starts(tokens, k, len(call_ids)) for k in ks}
    skipped = [k for k, starts in plan.items() if starts is None]
    ks = [k for k in ks if plan[k] is not None]

    def generate() -> tuple[float, list[int]]:
        enc = {"input_ids": torch.tensor([prompt_ids], device=slm_model.device)}
        sync()
        start = time.perf_counter()
        with torch.no_grad():
            out = slm_model.generate(
                **enc,
                max_new_tokens=tokens,
                do_sample=False,
                suppress_tokens=sorted(slm_eos),
                pad_token_id=probe.tokenizer.pad_token_id,
            )
        sync()
        return time.perf_counter() - start, out[0, P:].tolist()

    def relay(k: int, reuse: bool, answer_tokens: int = tokens) -> dict:
        script = ScriptedCalls(P, call_ids, call_starts(answer_tokens, k, len(call_ids)) or [], slm_eos)
        slm_side = HFRelayModel(slm_model, slm_tok, reuse_cache=reuse, logits_processor=script)
        llm_side = HFRelayModel(llm_model, llm_tok, reuse_cache=reuse, logits_processor=_Suppress(llm_eos))
        config = RelayConfig(max_turns=k + 2, max_tokens=answer_tokens)
        sync()
        start = time.perf_counter()
        result = relay_decode(slm_side, llm_side, prompt, config)
        sync()
        return {
            "time_s": time.perf_counter() - start,
            "slm": dict(slm_side.stats),
            "llm": dict(llm_side.stats),
            "calls": result.num_calls,
            "call_ratio": result.call_ratio,
            "total_tokens": result.total_tokens,
            "finish": result.finish,
            "ids": result.completion_ids,
        }

    with console.status("warming up"):
        # The first forward passes of a process pay for page faults and allocator growth.
        slm_model.generate(
            input_ids=torch.tensor([prompt_ids], device=slm_model.device),
            max_new_tokens=8,
            do_sample=False,
            pad_token_id=probe.tokenizer.pad_token_id,
        )
        relay(0, True, answer_tokens=8)

    baseline: list[float] = []
    baseline_ids: list[int] = []
    cases: dict[tuple[int, bool], list[dict]] = {(k, reuse): [] for k in ks for reuse in (True, False)}
    for run in range(runs):
        with console.status(f"run {run + 1}/{runs}: model.generate"):
            seconds, baseline_ids = generate()
            baseline.append(seconds)
        for k in ks:
            for reuse in (True, False):
                label = "reuse" if reuse else "naive"
                with console.status(f"run {run + 1}/{runs}: relay k={k} ({label})"):
                    cases[k, reuse].append(relay(k, reuse))

    generate_s = statistics.median(baseline)
    rows = []
    for k in ks:
        row: dict[str, Any] = {"k": k}
        for reuse, label in ((True, "reuse"), (False, "naive")):
            measured = cases[k, reuse]
            last = measured[-1]
            row[label] = {
                "time_s": statistics.median([m["time_s"] for m in measured]),
                "slm_prefill": last["slm"]["prefill_tokens"],
                "llm_prefill": last["llm"]["prefill_tokens"],
                "slm_forward_calls": last["slm"]["forward_calls"],
                "llm_forward_calls": last["llm"]["forward_calls"],
            }
            row["calls"], row["call_ratio"] = last["calls"], last["call_ratio"]
            row["total_tokens"], row["finish"] = last["total_tokens"], last["finish"]
        row["same_answer"] = cases[k, True][-1]["ids"] == cases[k, False][-1]["ids"]
        row["slm_prefill_target"] = P + (CALL_LENGTH + 1) * k
        row["llm_prefill_bound"] = P + tokens + 10 * k
        rows.append(row)

    by_k = {row["k"]: row for row in rows}
    speed: dict[str, Any] = {"generate_s": generate_s, "generate_tps": tokens / generate_s}
    if 0 in by_k:
        relay_s = by_k[0]["reuse"]["time_s"]
        speed.update(
            relay_s=relay_s,
            relay_tps=tokens / relay_s,
            ratio=generate_s / relay_s,
            same_tokens=cases[0, True][-1]["ids"] == baseline_ids,
        )
    targets: dict[str, Any] = {
        "speed": speed.get("ratio", 0.0) >= SPEED_TARGET if 0 in by_k else None,
        "slm_prefill": all(r["reuse"]["slm_prefill"] == r["slm_prefill_target"] for r in rows),
        "llm_prefill": all(r["reuse"]["llm_prefill"] <= r["llm_prefill_bound"] for r in rows),
        "calls_made": all(r["calls"] == r["k"] and r["total_tokens"] == tokens for r in rows),
    }
    if 0 in by_k and max(by_k) > 0:
        top = max(by_k)
        targets["slowdown"] = by_k[top]["reuse"]["time_s"] / by_k[0]["reuse"]["time_s"]
        targets["slowdown_k"] = top
        targets["flat_in_k"] = targets["slowdown"] <= SLOWDOWN_TARGET
    report = {
        "slm": slm,
        "llm": llm,
        "device": torch.cuda.get_device_name()
        if device == "cuda"
        else f"cpu, {torch.get_num_threads()} threads",
        "runs": runs,
        "P": P,
        "T": tokens,
        "n": CALL_LENGTH,
        "call_tokens": len(call_ids),
        "speed": speed,
        "sweep": rows,
        "skipped": skipped,
        "targets": targets,
    }
    _print(console, report)
    return report


def _mark(ok: bool | None) -> str:
    return "[green]yes[/]" if ok else "[red]no[/]"


def _print(console: Any, report: dict) -> None:
    from rich.table import Table

    P, T = report["P"], report["T"]
    where = f"{report['slm']} -> {report['llm']}, {report['device']}, median of {report['runs']}"
    speed = report["speed"]
    table = Table(title=f"Speed at call ratio 0 (P = {P}, T = {T} tokens, EOS suppressed; {where})")
    for column in ("method", "seconds", "tokens/s"):
        table.add_column(column, justify="left" if column == "method" else "right")
    table.add_row("SLM-only model.generate", f"{speed['generate_s']:.2f}", f"{speed['generate_tps']:.1f}")
    if "relay_s" in speed:
        table.add_row("relay, SLM never calls", f"{speed['relay_s']:.2f}", f"{speed['relay_tps']:.1f}")
    console.print(table)
    if "ratio" in speed:
        console.print(
            f"relay / generate throughput {speed['ratio']:.2f}x (target >= {SPEED_TARGET}x: "
            f"{_mark(report['targets']['speed'])}); identical tokens: {_mark(speed['same_tokens'])}"
        )

    n = report["n"]
    table = Table(
        title=f"Cost versus calls k: the SLM writes <call>{n}</call> ({report['call_tokens']} tokens), the LLM "
        f"{n} tokens per call; prefill targets in brackets"
    )
    for column in ("k", "ρ", "time s", "x k=0", f"SLM prefill [P+{n + 1}k]", "LLM prefill [<=P+T+10k]"):
        table.add_column(column, justify="right")
    for column in ("naive s", "naive SLM/LLM prefill"):
        table.add_column(column, justify="right", style="dim")
    base = next((r["reuse"]["time_s"] for r in report["sweep"] if r["k"] == 0), None)
    for r in report["sweep"]:
        reuse, naive = r["reuse"], r["naive"]
        slm_style = "green" if reuse["slm_prefill"] == r["slm_prefill_target"] else "red"
        llm_style = "green" if reuse["llm_prefill"] <= r["llm_prefill_bound"] else "red"
        table.add_row(
            str(r["k"]),
            f"{100 * r['call_ratio']:.1f}%",
            f"{reuse['time_s']:.2f}",
            "-" if base is None else f"{reuse['time_s'] / base:.2f}",
            f"[{slm_style}]{reuse['slm_prefill']}[/] [{r['slm_prefill_target']}]",
            f"[{llm_style}]{reuse['llm_prefill']}[/] [{r['llm_prefill_bound']}]",
            f"{naive['time_s']:.2f}",
            f"{naive['slm_prefill']}/{naive['llm_prefill']}",
        )
    console.print(table)
    targets = report["targets"]
    if "slowdown" in targets:
        console.print(
            f"with reuse, time(k={targets['slowdown_k']})/time(k=0) = {targets['slowdown']:.2f} "
            f"(target <= {SLOWDOWN_TARGET}: {_mark(targets['flat_in_k'])}); SLM prefill exact: "
            f"{_mark(targets['slm_prefill'])}; LLM prefill within bound: {_mark(targets['llm_prefill'])}; "
            f"every relay made k calls and T tokens: {_mark(targets['calls_made'])}; naive relay, same answers: "
            f"{_mark(all(r['same_answer'] for r in report['sweep']))}"
        )
    if report["skipped"]:
        console.print(
            f"skipped k = {report['skipped']}: k calls of {report['call_tokens']} + {n} tokens do not fit in T"
        )
