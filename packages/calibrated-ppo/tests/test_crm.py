"""PPO-M's calibrated reward model (spec §2.3): data, loss, accuracies, the bias probe and RM/CRM training."""

from __future__ import annotations

import copy
import importlib
import json
import math
import random
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from calibrated_ppo.crm import (
    confidence_preference_rate,
    crm_accuracy,
    crm_loss,
    crm_pairs,
    make_crm_example,
    train_reward_model,
)
from calibrated_ppo.prompts import CONFIDENCE_SYSTEM_PROMPT, append_confidence


def nls(x: float) -> float:
    """−log σ(x)."""
    return math.log1p(math.exp(-x))


def conv(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def pair(i: int) -> dict[str, list[dict[str, str]]]:
    question = f"What is {i} + {i + 1}?"
    return {
        "chosen": conv(question, f"{i} + {i + 1} = {2 * i + 1}. The answer is {2 * i + 1}."),
        "rejected": conv(question, f"{i} + {i + 1} = {2 * i + 2}. The answer is {2 * i + 2}."),
    }


# ------------------------------------------------------------------------------------------- crm_loss


def test_crm_loss_worked_example() -> None:
    assert crm_loss(2, 1, 0.5, 0.5) == pytest.approx(1.006409, abs=1e-6)
    assert crm_loss(2.0, 1.0, 0.5, 0.5) == pytest.approx(nls(1.0) + nls(0.0), rel=1e-12)
    assert isinstance(crm_loss(2, 1, 0.5, 0.5), float)


def test_crm_loss_is_a_batch_mean() -> None:
    got = crm_loss([2, 0], [1, 0], np.array([0.5, 1.0]), [0.5, 3.0])
    assert isinstance(got, float)
    assert got == pytest.approx(((nls(1) + nls(0)) + (nls(0) + nls(2))) / 2, rel=1e-12)


def test_crm_loss_combined() -> None:
    got = crm_loss(2, 1, 0.5, 0.5, loss="combined", r_chosen=1.0, r_rejected=3.0)
    assert got == pytest.approx(nls(1) + nls(0) + nls(-2), rel=1e-12)
    with pytest.raises(ValueError, match="r_chosen"):
        crm_loss(2, 1, 0.5, 0.5, loss="combined")
    with pytest.raises(ValueError, match="r_chosen"):
        crm_loss(2, 1, 0.5, 0.5, loss="combined", r_chosen=1.0)
    with pytest.raises(ValueError, match="unknown CRM loss"):
        crm_loss(2, 1, 0.5, 0.5, loss="hinge")


def test_crm_loss_tensor_keeps_autograd() -> None:
    torch = pytest.importorskip("torch")
    r_ch = torch.tensor([2.0, 0.0], requires_grad=True)
    got = crm_loss(r_ch, [1.0, 0.0], [0.5, 1.0], torch.tensor([0.5, 3.0]))
    assert isinstance(got, torch.Tensor) and got.dim() == 0
    assert got.item() == pytest.approx(((nls(1) + nls(0)) + (nls(0) + nls(2))) / 2, rel=1e-6)
    got.backward()
    # d/dx −log σ(x) = σ(x) − 1, halved by the batch mean.
    expected = [(1 / (1 + math.exp(-1.0)) - 1) / 2, (0.5 - 1) / 2]
    assert r_ch.grad.tolist() == pytest.approx(expected, rel=1e-6)
    combined = crm_loss(
        r_ch, [1.0, 0.0], [0.5, 1.0], [0.5, 3.0], loss="combined", r_chosen=[1, 1], r_rejected=[0, 0]
    )
    assert isinstance(combined, torch.Tensor) and combined.requires_grad


def test_trl_pairwise_mean_over_crm_pairs_is_crm_loss_over_two_or_three() -> None:
    """TRL's loss is mean over rows of −log σ(r_chosen − r_rejected); over crm_pairs it is L/2 (combined: L/3)."""
    rng = random.Random(3)
    examples = [make_crm_example(p["chosen"], p["rejected"], rng) for p in (pair(i) for i in range(4))]
    score_rng = random.Random(7)
    scores: dict[str, float] = {}

    def score(conversation: list[dict[str, str]]) -> float:
        key = json.dumps(conversation)
        return scores.setdefault(key, score_rng.uniform(-3, 3))

    columns = {
        col: [score(ex[col]) for ex in examples]
        for col in ("chosen", "rejected", "chosen_high", "chosen_low", "rejected_high", "rejected_low")
    }
    for loss, divisor in (("sigmoid", 2), ("combined", 3)):
        rows = crm_pairs(examples, loss=loss)
        trl_loss = float(np.mean([nls(score(row["chosen"]) - score(row["rejected"])) for row in rows]))
        paper = crm_loss(
            columns["chosen_high"],
            columns["chosen_low"],
            columns["rejected_high"],
            columns["rejected_low"],
            loss=loss,
            r_chosen=columns["chosen"],
            r_rejected=columns["rejected"],
        )
        assert trl_loss == pytest.approx(paper / divisor, rel=1e-12)


# ------------------------------------------------------------------------------------------- make_crm_example


def test_make_crm_example_levels_and_layout() -> None:
    chosen = conv("What is 2 + 3?", "2 + 3 = 5.")
    rejected = conv("What is 2 + 3?", "2 + 3 = 6.")
    before = copy.deepcopy((chosen, rejected))
    rng = random.Random(0)
    example = make_crm_example(chosen, rejected, rng)
    # random.Random(0): h1, l1, h2, l2 = 10, 3, 7, 2.
    system = {"role": "system", "content": CONFIDENCE_SYSTEM_PROMPT}
    assert example == {
        "chosen": chosen,
        "rejected": rejected,
        "chosen_high": [system, chosen[0], {"role": "assistant", "content": "2 + 3 = 5.\nConfidence: 10."}],
        "chosen_low": [system, chosen[0], {"role": "assistant", "content": "2 + 3 = 5.\nConfidence: 3."}],
        "rejected_high": [
            system,
            rejected[0],
            {"role": "assistant", "content": "2 + 3 = 6.\nConfidence: 7."},
        ],
        "rejected_low": [system, rejected[0], {"role": "assistant", "content": "2 + 3 = 6.\nConfidence: 2."}],
    }
    assert example["chosen_high"][2]["content"] == append_confidence("2 + 3 = 5.", 10)
    # exactly four draws, in the order h1, l1, h2, l2
    reference = random.Random(0)
    for levels in ((7, 8, 9, 10), (0, 1, 2, 3), (7, 8, 9, 10), (0, 1, 2, 3)):
        reference.choice(levels)
    assert rng.random() == reference.random()
    # inputs untouched, outputs fresh
    assert (chosen, rejected) == before
    assert example["chosen"] is not chosen and example["rejected"] is not rejected
    assert all(a is not b for a, b in zip(example["chosen"], chosen, strict=True))
    example["chosen"][0]["content"] = "changed"
    example["chosen_high"][1]["content"] = "changed"
    assert (chosen, rejected) == before
    assert example["chosen_low"][1]["content"] == "What is 2 + 3?"


def test_make_crm_example_custom_levels_and_system_prompt() -> None:
    example = make_crm_example(
        conv("q", "good"),
        conv("q", "bad"),
        random.Random(1),
        system_prompt="S",
        high_levels=[9],
        low_levels=[1],
    )
    assert example["chosen_high"][0] == {"role": "system", "content": "S"}
    assert [
        example[k][2]["content"] for k in ("chosen_high", "chosen_low", "rejected_high", "rejected_low")
    ] == [
        "good\nConfidence: 9.",
        "good\nConfidence: 1.",
        "bad\nConfidence: 9.",
        "bad\nConfidence: 1.",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        [{"role": "user", "content": "q"}],
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "q2"},
        ],
        [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}],
        [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}],
        [{"role": "user", "content": [{"type": "text", "text": "q"}]}, {"role": "assistant", "content": "a"}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": None}],
        [{"role": "user"}, {"role": "assistant", "content": "a"}],
        "q a",
        None,
    ],
)
def test_make_crm_example_rejects_malformed_pairs(bad) -> None:
    good = conv("q", "a")
    with pytest.raises(ValueError):
        make_crm_example(bad, good, random.Random(0))
    with pytest.raises(ValueError):
        make_crm_example(good, bad, random.Random(0))


# ------------------------------------------------------------------------------------------- crm_pairs


def test_crm_pairs_order_and_combined() -> None:
    examples = [
        {
            col: f"{col}{i}"
            for col in ("chosen", "rejected", "chosen_high", "chosen_low", "rejected_high", "rejected_low")
        }
        for i in range(2)
    ]
    assert crm_pairs(examples) == [
        {"chosen": "chosen_high0", "rejected": "chosen_low0"},
        {"chosen": "rejected_low0", "rejected": "rejected_high0"},
        {"chosen": "chosen_high1", "rejected": "chosen_low1"},
        {"chosen": "rejected_low1", "rejected": "rejected_high1"},
    ]
    assert crm_pairs(examples, loss="combined") == [
        {"chosen": "chosen_high0", "rejected": "chosen_low0"},
        {"chosen": "rejected_low0", "rejected": "rejected_high0"},
        {"chosen": "chosen0", "rejected": "rejected0"},
        {"chosen": "chosen_high1", "rejected": "chosen_low1"},
        {"chosen": "rejected_low1", "rejected": "rejected_high1"},
        {"chosen": "chosen1", "rejected": "rejected1"},
    ]
    assert crm_pairs([]) == []
    with pytest.raises(ValueError):
        crm_pairs(examples, loss="kwise")


# ------------------------------------------------------------------------------------------- crm_accuracy


def test_crm_accuracy_is_strict() -> None:
    got = crm_accuracy(
        [1.0, 2.0, 3.0, 0.0],  # r_c
        [0.0, 2.0, 4.0, -1.0],  # r_r: wins 1, tie, loss, win → 0.5
        [5.0, 1.0, 1.0, 1.0],  # r_ch
        [4.0, 1.0, 1.0, 2.0],  # r_cl: win, tie, tie, loss → 0.25
        [0.0, 0.0, 0.0, 0.0],  # r_rh
        [1.0, 1.0, 0.0, 1.0],  # r_rl: win, win, tie, win → 0.75
    )
    assert got == {"preference_acc": 0.5, "confidence_acc": 0.5, "acc": pytest.approx(0.5)}
    ties = crm_accuracy([1], [1], [1], [1], [1], [1])
    assert ties == {"preference_acc": 0.0, "confidence_acc": 0.0, "acc": 0.0}
    perfect = crm_accuracy(np.array([2.0]), [1], [3], [2], [0], [1])
    assert perfect == {"preference_acc": 1.0, "confidence_acc": 1.0, "acc": 1.0}
    uneven = crm_accuracy([1, 1], [0, 0], [1, 0], [0, 1], [1, 1], [1, 1])
    assert uneven == {"preference_acc": 1.0, "confidence_acc": 0.25, "acc": pytest.approx(0.5)}
    with pytest.raises(ValueError):
        crm_accuracy([], [], [], [], [], [])
    with pytest.raises(ValueError):
        crm_accuracy([1, 2], [1], [1], [1], [1], [1])


# ------------------------------------------------------------------------------------------- bias probe

CONF = re.compile(r"\nConfidence: (\d+)\.$")


class ScriptedScorer:
    """Scores ``quality·100 + stated confidence``: quality 1 for a "correct" answer, 0 otherwise."""

    def __init__(self, confidence_weight: float = 1.0, quality_weight: float = 100.0) -> None:
        self.calls: list[tuple[list, list]] = []
        self.confidence_weight = confidence_weight
        self.quality_weight = quality_weight

    def __call__(self, prompts, completions, **kwargs):
        self.calls.append((prompts, completions))
        scores = []
        for completion in completions:
            assert isinstance(completion, list) and completion[-1]["role"] == "assistant"
            text = completion[-1]["content"]
            level = int(CONF.search(text).group(1))
            quality = 1.0 if "correct" in text and "incorrect" not in text else 0.0
            scores.append(self.quality_weight * quality + self.confidence_weight * level)
        return scores


def probe_pairs(n: int) -> list[dict]:
    return [
        {"chosen": conv(f"q{i}", f"correct answer {i}"), "rejected": conv(f"q{i}", f"incorrect answer {i}")}
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("mode", "first", "second", "biased_rate", "quality_only_rate"),
    [
        ("chosen", ("correct", "low"), ("correct", "high"), 0.0, 0.0),
        ("rejected", ("incorrect", "low"), ("incorrect", "high"), 0.0, 0.0),
        ("normal", ("correct", "low"), ("incorrect", "high"), 1.0, 1.0),
        ("both_high", ("correct", "high"), ("incorrect", "high"), 1.0, 1.0),
        ("both_low", ("correct", "low"), ("incorrect", "low"), 1.0, 1.0),
    ],
)
def test_confidence_preference_rate_modes(mode, first, second, biased_rate, quality_only_rate) -> None:
    pairs = probe_pairs(6)
    before = copy.deepcopy(pairs)
    scorer = ScriptedScorer()
    rng = random.Random(5)
    assert confidence_preference_rate(scorer, pairs, mode=mode, rng=rng) == biased_rate
    assert pairs == before
    assert len(scorer.calls) == 1
    prompts, completions = scorer.calls[0]
    assert len(prompts) == len(completions) == 12
    levels = {"low": (0, 1, 2, 3), "high": (7, 8, 9, 10)}
    reference = random.Random(5)
    for i in range(6):
        expected_prompt = [
            {"role": "system", "content": CONFIDENCE_SYSTEM_PROMPT},
            {"role": "user", "content": f"q{i}"},
        ]
        assert prompts[i] == prompts[6 + i] == expected_prompt
        for slot, (answer, confidence) in ((i, first), (6 + i, second)):
            level = reference.choice(levels[confidence])
            assert completions[slot] == [
                {"role": "assistant", "content": append_confidence(f"{answer} answer {i}", level)}
            ]
    assert rng.random() == reference.random()
    # With confidence ignored, only the answers' quality decides; equal quality never scores strictly higher.
    quality_only = ScriptedScorer(confidence_weight=0.0)
    assert (
        confidence_preference_rate(quality_only, pairs, mode=mode, rng=random.Random(5)) == quality_only_rate
    )


def test_confidence_preference_rate_counts_the_share_and_system_prompt_switch() -> None:
    pairs = probe_pairs(8)
    # Confidence dominates: in "normal" mode the low-confidence chosen answer never wins.
    confident = ScriptedScorer(confidence_weight=100.0, quality_weight=1.0)
    assert confidence_preference_rate(confident, pairs, mode="normal", rng=random.Random(0)) == 0.0
    # A scorer whose first-slot win is scripted per pair gives exactly that share.
    wins = [True, False, True, True, False, False, False, True]

    def scripted(prompts, completions, **kwargs):
        n = len(prompts) // 2
        return [1.0 if wins[i] else 0.0 for i in range(n)] + [0.5] * n

    assert confidence_preference_rate(scripted, pairs, mode="rejected", rng=random.Random(0)) == 0.5
    plain = ScriptedScorer()
    confidence_preference_rate(plain, pairs, mode="chosen", rng=random.Random(0), system_prompt=False)
    assert plain.calls[0][0][0] == [{"role": "user", "content": "q0"}]


def test_confidence_preference_rate_bad_input() -> None:
    with pytest.raises(ValueError, match="mode"):
        confidence_preference_rate(ScriptedScorer(), probe_pairs(2), mode="sideways", rng=random.Random(0))
    with pytest.raises(ValueError):
        confidence_preference_rate(ScriptedScorer(), [], mode="chosen", rng=random.Random(0))
    bad = [{"chosen": conv("q", "a") + conv("q", "b"), "rejected": conv("q", "c")}]
    with pytest.raises(ValueError):
        confidence_preference_rate(ScriptedScorer(), bad, mode="chosen", rng=random.Random(0))


# ------------------------------------------------------------------------------------------- training (slow)

BASE = "tiny:qwen2-reward"


def _patch_loaders(monkeypatch: pytest.MonkeyPatch, pairs: list[dict], seen: dict) -> None:
    """Serve ``pairs`` through calibrated_ppo.data's loaders (a stand-in module if it is not importable)."""
    try:
        data = importlib.import_module("calibrated_ppo.data")
    except ImportError:
        data = types.ModuleType("calibrated_ppo.data")
        monkeypatch.setitem(sys.modules, "calibrated_ppo.data", data)

    def load_preference_pairs(source, limit=None, **kwargs):
        seen["pairs"] = (source, limit)
        return copy.deepcopy(pairs[:limit])

    def load_crm_examples(source, seed=42, limit=None, **kwargs):
        seen["crm"] = (source, seed, limit)
        rng = random.Random(seed)
        return [make_crm_example(p["chosen"], p["rejected"], rng) for p in pairs[:limit]]

    monkeypatch.setattr(data, "load_preference_pairs", load_preference_pairs, raising=False)
    monkeypatch.setattr(data, "load_crm_examples", load_crm_examples, raising=False)


def _config(**reward_model):
    from calibrated_ppo.config import CalibratedPPOConfig, RewardModelConfig

    fields = {
        "base_model": BASE,
        "dataset": "bundled-style-pairs",
        "epochs": 1,
        "learning_rate": 1e-2,
        "train_batch_size": 4,
        "micro_batch_size": 2,
        "warmup_ratio": 0.0,  # with one step, any warm-up step would run at lr 0
        "max_length": 512,
        **reward_model,
    }
    return CalibratedPPOConfig(seed=0, reward_model=RewardModelConfig(**fields))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One RM (5 pairs, 1 held out: one step of 4) and one CRM (3 examples, 1 held out: 4 rows, one step)."""
    pairs = [pair(i) for i in range(5)]
    seen: dict = {}
    out = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        _patch_loaders(monkeypatch, pairs, seen)
        rm_dir = tmp_path_factory.mktemp("rm")
        out["rm"] = (rm_dir, train_reward_model(_config(eval_fraction=0.2), calibrated=False, run_dir=rm_dir))
        crm_dir = tmp_path_factory.mktemp("crm")
        config = _config(eval_fraction=0.3, max_samples=3, variant_seed=42)
        out["crm"] = (crm_dir, train_reward_model(config, calibrated=True, run_dir=crm_dir))
    out["seen"] = seen
    out["pairs"] = pairs
    return out


def _assert_changed_and_stats(run_dir: Path, model_dir: Path, keys: set[str]) -> dict:
    import torch

    from rlcore.models import load_model

    assert model_dir == run_dir / "model" and model_dir.is_dir()
    base, _ = load_model(BASE, task="sequence-classification")
    saved, tokenizer = load_model(str(model_dir), task="sequence-classification")
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    before = dict(base.named_parameters())
    unchanged = [name for name, p in saved.named_parameters() if torch.equal(p, before[name])]
    assert unchanged == []
    stats = json.loads((run_dir / "reward_stats.json").read_text())
    assert keys <= stats.keys()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["mean"] == pytest.approx(stats["mean"]) and config["std"] == pytest.approx(stats["std"])
    assert saved.config.mean == pytest.approx(stats["mean"])
    assert math.isfinite(stats["mean"]) and stats["std"] >= 1e-8
    return stats


@pytest.mark.slow
def test_train_reward_model_rm_step(trained) -> None:
    run_dir, model_dir = trained["rm"]
    stats = _assert_changed_and_stats(run_dir, model_dir, {"mean", "std"})
    assert stats["n_eval"] == 1 and stats["n_train"] == 4
    assert set(stats["set_means"]) == {"chosen", "rejected"}
    # mean/std are those of the two held-out rewards (Bessel std of two numbers = |a − b|/√2)
    a, b = stats["set_means"]["chosen"], stats["set_means"]["rejected"]
    assert stats["mean"] == pytest.approx((a + b) / 2)
    assert stats["std"] == pytest.approx(max(abs(a - b) / math.sqrt(2), 1e-8))
    assert trained["seen"]["pairs"] == ("bundled-style-pairs", None)


@pytest.mark.slow
def test_train_reward_model_crm_step(trained) -> None:
    run_dir, model_dir = trained["crm"]
    stats = _assert_changed_and_stats(
        run_dir, model_dir, {"mean", "std", "preference_acc", "confidence_acc", "acc"}
    )
    assert set(stats["set_means"]) == {
        "chosen",
        "rejected",
        "chosen_high",
        "chosen_low",
        "rejected_high",
        "rejected_low",
    }
    assert stats["n_eval"] == 1 and stats["n_train"] == 2
    assert stats["mean"] == pytest.approx(float(np.mean(list(stats["set_means"].values()))))
    for key in ("preference_acc", "confidence_acc", "acc"):
        assert 0.0 <= stats[key] <= 1.0
    assert trained["seen"]["crm"] == ("bundled-style-pairs", 42, 3)


@pytest.mark.slow
def test_trl_pooling_and_scorer_read_the_same_token(trained) -> None:
    """The trained RM's score under TRL's collation and last-non-pad pooling equals RewardModelScorer's score
    at the last attended token of the same rendered example."""
    import torch
    from trl.trainer.reward_trainer import DataCollatorForPreference

    from calibrated_ppo.rewards import RewardModelScorer
    from rlcore.models import load_model

    _, model_dir = trained["rm"]
    model, tokenizer = load_model(str(model_dir), task="sequence-classification")
    model.eval()
    scorer = RewardModelScorer(model, tokenizer, normalize=False)
    long, short = trained["pairs"][0]["chosen"], conv("Hi", "Yes.")
    ids = [scorer.token_ids(c[:1], c[1]["content"]) for c in (long, short)]
    assert len(ids[0]) > len(ids[1]) and ids[0][-1] == ids[1][-1] == tokenizer.eos_token_id
    batch = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id)(
        [{"chosen_ids": ids[0], "rejected_ids": ids[1]}]
    )
    assert (
        batch["input_ids"][1, -1] == tokenizer.pad_token_id != tokenizer.eos_token_id
    )  # the short row is padded
    with torch.no_grad():
        trl_scores = model(**batch).logits.squeeze(-1).tolist()  # transformers' rightmost-non-pad pooling
        hidden = model.model(input_ids=torch.tensor([ids[1]])).last_hidden_state
        last_token = model.score(hidden[:, -1]).squeeze(-1).item()
    assert trl_scores[1] == pytest.approx(last_token, abs=1e-5)
    got = scorer([long[:1], short[:1]], [long[1]["content"], short[1]["content"]])
    assert got == pytest.approx(trl_scores, abs=1e-5)
    assert scorer([long[:1]], [long[1:]]) == pytest.approx(trl_scores[:1], abs=1e-5)


@pytest.mark.slow
def test_pad_token_made_distinct_from_eos() -> None:
    """pad = EOS would make TRL pool before the final EOS: an existing pad-like token is reused, else one is
    added and the embeddings grow."""
    from calibrated_ppo.crm import _ensure_distinct_pad
    from rlcore.models import load_model

    model, tokenizer = load_model(BASE, task="sequence-classification")
    tokenizer.pad_token = tokenizer.eos_token
    _ensure_distinct_pad(model, tokenizer)
    assert tokenizer.pad_token == "<|endoftext|>" != tokenizer.eos_token
    assert model.config.pad_token_id == tokenizer.pad_token_id

    model, tokenizer = load_model(BASE, task="sequence-classification")
    tokenizer.eos_token = tokenizer.pad_token = "<|endoftext|>"
    rows = model.get_input_embeddings().weight.shape[0]
    _ensure_distinct_pad(model, tokenizer)
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.pad_token_id == tokenizer.pad_token_id == rows
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) == rows + 1
