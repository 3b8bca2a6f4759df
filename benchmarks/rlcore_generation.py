"""HFGenerator throughput against a one-prompt-at-a-time ``model.generate`` loop (spec §12: at least 3x).

Both sides decode the same chat-templated arithmetic questions greedily on the embedded
SmolLM2-135M-Instruct, on the CPU. Throughput counts generated tokens up to and including EOS (padding
excluded), so the batch pays for its padding in time but gets no credit for it.

    uv run python benchmarks/rlcore_generation.py [--prompts 16] [--max-new-tokens 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from rich.console import Console
from rich.table import Table

from rlcore.data import arithmetic_problems
from rlcore.models import load_model
from rlcore.rollout import HFGenerator, SamplingParams

MODEL = "embedded:smollm2-135m-instruct"
TARGET = 3.0


def loop_baseline(model, tokenizer, chats: list[list[dict]], max_new_tokens: int) -> tuple[list[str], int]:
    """Plain transformers: one ``generate`` per prompt. Returns the texts and the generated token count."""
    eos = model.generation_config.eos_token_id
    eos_ids = {eos} if isinstance(eos, int) else set(eos or ()) | {tokenizer.eos_token_id}
    texts, tokens = [], 0
    with torch.no_grad():
        for chat in chats:
            prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
            ids = out[0, enc["input_ids"].shape[1] :].tolist()
            end = next((i + 1 for i, t in enumerate(ids) if t in eos_ids), len(ids))
            tokens += end
            texts.append(tokenizer.decode(ids[:end], skip_special_tokens=True))
    return texts, tokens


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()

    with console.status(f"loading {MODEL}"):
        model, tokenizer = load_model(MODEL)
    model.eval()
    chats = [
        [{"role": "user", "content": p["question"] + " Answer with the number."}]
        for p in arithmetic_problems(args.prompts, seed=0)
    ]
    generator = HFGenerator(model, tokenizer)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0)
    # Warm both paths up first: the first forward passes of a fresh process pay for page faults and
    # allocator growth, which would otherwise land on whichever side runs first.
    with console.status("warming up"):
        loop_baseline(model, tokenizer, chats[:2], 8)
        generator.generate(chats, SamplingParams(max_new_tokens=8, temperature=0.0))

    start = time.perf_counter()
    loop_texts, loop_tokens = loop_baseline(model, tokenizer, chats, args.max_new_tokens)
    loop_s = time.perf_counter() - start

    start = time.perf_counter()
    samples = generator.generate(chats, params)
    ours_s = time.perf_counter() - start
    ours_tokens = sum(len(per_prompt[0].token_ids) for per_prompt in samples)
    same = sum(per_prompt[0].text == text for per_prompt, text in zip(samples, loop_texts, strict=True))

    loop_rate, ours_rate = loop_tokens / loop_s, ours_tokens / ours_s
    ratio = ours_rate / loop_rate
    table = Table(
        title=f"Greedy generation, {args.prompts} prompts x {args.max_new_tokens} new tokens, {MODEL}"
    )
    for column in ("method", "generated tokens", "seconds", "tokens/s"):
        table.add_column(column, justify="left" if column == "method" else "right")
    table.add_row(
        "model.generate, one prompt at a time", str(loop_tokens), f"{loop_s:.2f}", f"{loop_rate:.1f}"
    )
    table.add_row("HFGenerator, one batched call", str(ours_tokens), f"{ours_s:.2f}", f"{ours_rate:.1f}")
    console.print(table)
    verdict = "[green]meets[/]" if ratio >= TARGET else "[red]misses[/]"
    console.print(
        f"throughput ratio {ratio:.2f}x ({verdict} the {TARGET:.0f}x target), {torch.get_num_threads()} threads"
    )
    console.print(f"identical greedy texts: {same}/{len(chats)} (batched fp32 kernels may round differently)")


if __name__ == "__main__":
    main()
