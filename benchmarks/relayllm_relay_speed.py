"""RelayLLM KV-reuse benchmark (spec §9): relay speed at call ratio 0 against SLM-only ``model.generate``, and
the cost of k scripted ``<call>8</call>`` handoffs with KV reuse and without (``reuse_cache=False``).

Targets: relay >= 0.8x the tokens/s of ``generate``; SLM prefill = P + 9k exactly; LLM prefill <= P + T + 10k;
with reuse, time(k=16)/time(k=0) <= 1.5. The same run is ``relayllm bench``.

    uv run python benchmarks/relayllm_relay_speed.py [--slm SPEC] [--llm SPEC] [--runs 3] [--tokens 256] [--quick]
"""

from __future__ import annotations

import argparse

from relayllm.bench import run_bench

MODEL = "embedded:smollm2-135m-instruct"
QUICK_KS = (0, 4, 16)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slm", default=MODEL, help="small model (a load_model spec)")
    parser.add_argument("--llm", default=MODEL, help="large model (a load_model spec)")
    parser.add_argument("--runs", type=int, default=3, help="median over this many runs")
    parser.add_argument("--tokens", type=int, default=256, help="answer length T")
    parser.add_argument(
        "--quick", action="store_true", help=f"one run and k in {QUICK_KS} only (about a fifth of the time)"
    )
    args = parser.parse_args()
    if args.quick:
        run_bench(args.slm, args.llm, runs=1, tokens=args.tokens, ks=QUICK_KS)
    else:
        run_bench(args.slm, args.llm, runs=args.runs, tokens=args.tokens)


if __name__ == "__main__":
    main()
