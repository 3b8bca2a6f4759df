"""Rebuild the bundled word list ``src/crosswordbench/data/wordnet_en.txt`` from Princeton WordNet 3.0
(spec §5). The rules live in :func:`crosswordbench.data.build_word_list`, shared with
``crosswordbench build-wordlist``.

    uv run python packages/crosswordbench/scripts/build_wordlist.py \
        [--wordnet-dir /usr/share/wordnet] [--out packages/crosswordbench/src/crosswordbench/data/wordnet_en.txt]

Debian/Ubuntu: ``apt-get install wordnet-base wordnet-sense-index`` provides the files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crosswordbench.data import build_word_list

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "crosswordbench" / "data" / "wordnet_en.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wordnet-dir", default="/usr/share/wordnet", help="folder with index.sense and data.*"
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="word list to write (WORD clue lines)")
    args = parser.parse_args(argv)
    try:
        pairs = build_word_list(args.wordnet_dir, args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    words = {word for word, _ in pairs}
    short = sum(1 for word in words if len(word) <= 5)
    print(f"{args.out}: {len(pairs)} pairs, {len(words)} words ({short} of <= 5 letters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
