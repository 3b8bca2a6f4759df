# The workspace's commands. Run them through uv so the locked environment is used:
#   uv run just demo        every package's demo, one after another, then a summary table
#   uv run just test-all    every test not marked gpu

set shell := ["bash", "-euo", "pipefail", "-c"]

export HF_HUB_OFFLINE := "1"
export TRANSFORMERS_OFFLINE := "1"
export HF_DATASETS_OFFLINE := "1"
export TOKENIZERS_PARALLELISM := "false"
export TRL_EXPERIMENTAL_SILENCE := "1"

default:
    @just --list

# Run every package's demo (or only <pkg>'s), then print one summary table.
demo pkg="":
    python tests/workspace.py demo {{ pkg }}

# Every test not marked gpu: rlcore's, each package's, and the cross-package ones.
test-all:
    python -m pytest -m "not gpu" $(ls -d shared packages tests 2>/dev/null) -q

# One package's tests (rlcore, or a package's distribution name).
test pkg:
    python -m pytest -m "not gpu" $(python tests/workspace.py path {{ pkg }}) -q

# Tests marked gpu (needs CUDA).
test-gpu:
    python -m pytest -m gpu $(ls -d shared packages tests 2>/dev/null) -q

lint:
    ruff check .
    ruff format --check .

fmt:
    ruff check --fix .
    ruff format .

# Performance scripts (each prints ratios against a named baseline).
bench:
    for f in benchmarks/*.py; do echo "== $f"; python "$f"; done

# Wheels and sdists of every workspace member into dist/.
build:
    uv build --all-packages -o dist
