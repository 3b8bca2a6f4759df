"""The loop's stages on tiny models (spec §8 smoke tests): each GRPO stage logs a loss and changes the
parameters; generation and labelling produce well-formed records; the loop resumes finished stages."""

import json
from pathlib import Path

import pytest

import r_zero.coevolve as coevolve
import r_zero.rewards as rewards
from r_zero.coevolve import (
    build_solver_dataset,
    generate_questions,
    run_iterations,
    train_challenger,
    train_solver,
)
from r_zero.config import load_config
from r_zero.data import sample_solver_records
from rlcore.data import DataError

TOY = Path(__file__).resolve().parents[1] / "recipes" / "toy.yaml"
TINY = [
    "model=tiny:qwen2",
    "grpo.learning_rate=0.01",
    "challenger.max_new_tokens=8",
    "solver.max_new_tokens=8",
    "voting.max_new_tokens=8",
    "curation.max_new_tokens=8",
    "curation.num_questions=4",
    "evaluation.max_new_tokens=8",
    "evaluation.limit=2",
]


@pytest.fixture
def config():
    return load_config(TOY, TINY)


def _weights(spec):
    from rlcore.models import load_model

    model, _ = load_model(str(spec))
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters()}


def _changed(before, after):
    return [n for n in before if not (before[n] == after[n]).all()]


def _metrics(folder):
    return [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]


def test_challenger_step_with_a_scripted_sampler(config, tmp_path, monkeypatch):
    """A random tiny model writes no <question> block, so the test treats each completion as its question and
    scripts the Solver: the share of right answers grows with the question's length, so rewards differ."""
    from r_zero.prompts import ChallengerOutput

    monkeypatch.setattr(rewards, "parse_challenger_output", lambda text: ChallengerOutput(text or "q", None))
    calls = []

    def sampler(questions, m):
        calls.append(list(questions))
        return [["\\boxed{1}" if j < len(q) % (m + 1) else "\\boxed{2}" for j in range(m)] for q in questions]

    monkeypatch.setattr(coevolve, "make_solver_sampler", lambda *a, **k: sampler)
    out = train_challenger(config, "tiny:qwen2", "tiny:qwen2", tmp_path / "challenger")
    assert len(calls) == 1 and len(calls[0]) == 8  # one call per step with the whole batch (2 prompts × 4)
    logged = [row for row in _metrics(tmp_path / "challenger") if "loss" in row]
    assert logged and "rewards/challenger_reward/mean" in logged[0]
    assert len(_changed(_weights("tiny:qwen2"), _weights(out))) == len(_weights("tiny:qwen2"))


def test_challenger_with_no_steps_copies_the_model(config, tmp_path):
    config.challenger.max_steps = 0
    out = train_challenger(config, "tiny:qwen2", "tiny:qwen2", tmp_path / "base")
    assert _changed(_weights("tiny:qwen2"), _weights(out)) == []


def test_solver_step_on_the_bundled_sample(config, tmp_path, monkeypatch):
    # Random tiny-model completions never box the right answer: score by length so that advantages exist.
    from r_zero.rewards import make_solver_reward

    real = make_solver_reward()

    def by_length(prompts, completions, answer=None, **kwargs):
        exact = real(prompts, completions, answer=answer, **kwargs)
        return [e + len(str(c)) / 1000 for e, c in zip(exact, completions, strict=True)]

    by_length.__name__ = "solver_reward"
    monkeypatch.setattr(coevolve, "make_solver_reward", lambda form: by_length)
    out = train_solver(config, "tiny:qwen2", sample_solver_records()[:4], tmp_path / "solver")
    logged = [row for row in _metrics(tmp_path / "solver") if "loss" in row]
    assert logged and "rewards/solver_reward/mean" in logged[0]
    assert len(_changed(_weights("tiny:qwen2"), _weights(out))) == len(_weights("tiny:qwen2"))
    with pytest.raises(DataError, match="no records"):
        train_solver(config, "tiny:qwen2", [], tmp_path / "none")


def test_generate_and_label_on_a_tiny_model(config):
    questions = generate_questions(config, "tiny:qwen2", n=3, seed=5)
    assert [q["id"] for q in questions] == [0, 1, 2]
    assert set(questions[0]) == {"id", "question", "challenger_answer", "valid", "raw"}
    assert questions == generate_questions(config, "tiny:qwen2", n=3, seed=5)
    fake = [
        {"id": 7, "question": "What is 1 + 1?", "valid": True},
        {"id": 8, "question": None, "valid": False},
    ]
    labelled, kept = build_solver_dataset(config, "tiny:qwen2", fake)
    assert len(labelled) == 1 and labelled[0]["id"] == 7 and labelled[0]["num_samples"] == 4
    assert kept == [r for r in labelled if r["answer"]]


@pytest.mark.slow
def test_run_iterations_resumes(config, tmp_path, monkeypatch):
    config.challenger.max_steps = 0  # the Base Challenger: keeps the loop short on CPU
    results = run_iterations(config, tmp_path / "run")
    assert len(results) == 1 and results[0].num_generated == 4
    run = tmp_path / "run"
    for name in (
        "iter_0/eval.json",
        "iter_1/questions.jsonl",
        "iter_1/labelled.jsonl",
        "iter_1/solver_data.jsonl",
        "iter_1/eval.json",
        "metrics.jsonl",
        "report.md",
    ):
        assert (run / name).exists(), name
    assert "arith" in results[0].scores
    monkeypatch.setattr(coevolve, "train_challenger", lambda *a, **k: pytest.fail("finished stage rerun"))
    monkeypatch.setattr(coevolve, "generate_questions", lambda *a, **k: pytest.fail("finished stage rerun"))
    again = run_iterations(config, tmp_path / "run")
    assert again[0].num_kept == results[0].num_kept
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
