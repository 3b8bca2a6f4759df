"""PPO-C's rollout overhead (calibrated-ppo spec §9): ``make_experience`` with ``CalibratedReward(RewardModelScorer)``
against ``RewardModelScorer`` alone on tiny models (16 micro rollout batches x 4 prompts, 32 new tokens), alternating,
median of ``--iters``. Prints t_PPO, t_PPO-C, their ratio (target >= 0.90) and the share of time spent generating.

Run: ``uv run python benchmarks/calibrated_ppo_bench.py [--iters 3] [--threads 2] [--out bench.json]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from calibrated_ppo.bench import benchmark, format_result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the result as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = benchmark(iters=args.iters)
    print(format_result(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
