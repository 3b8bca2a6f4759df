"""Spec §2.2: confidence parsing and stripping, the EMA, PPO-C and the reward-model scorer."""

from __future__ import annotations

import math

import pytest

from calibrated_ppo.rewards import (
    CalibratedReward,
    RewardModelScorer,
    adjust_reward,
    ema_update,
    load_reward_model,
    parse_confidence,
    render_reward_text,
    strip_confidence,
)

# ------------------------------------------------------------------------------------- parse and strip

TABLE = [
    ("The answer is 42.\nConfidence: 8.", 8.0, "The answer is 42."),
    ("x confidence: 7/10", 7.0, "x"),
    ("Confidence: 15", 10.0, ""),
    ("no conf here", 5.0, "no conf here"),
    ("Confidence: 0.5", 0.5, ""),
    ("Answer: B\nConfidence: 9.5!! done", 9.5, "Answer: B\ndone"),
    ("Confidence: 3. Then Confidence: 9", 3.0, "Then"),
]


@pytest.mark.parametrize(("text", "confidence", "stripped"), TABLE)
def test_spec_table(text, confidence, stripped):
    assert parse_confidence(text) == confidence
    assert strip_confidence(text) == stripped


def test_which_last_and_default():
    assert parse_confidence("Confidence: 3. Then Confidence: 9", which="last") == 9.0
    assert parse_confidence("Confidence: 3. Then Confidence: 12", which="last") == 10.0
    assert parse_confidence("nothing", default=2.5) == 2.5
    assert parse_confidence("nothing", default=7, which="last") == 7.0


def test_parse_details():
    assert parse_confidence("CONFIDENCE:\n\n 6") == 6.0  # any case, whitespace includes newlines
    assert parse_confidence("Confidence: -3") == 5.0  # a sign is never part of the number
    assert parse_confidence("Confidence: -3 and Confidence: 4") == 4.0
    assert parse_confidence("Confidence: 8.") == 8.0
    assert parse_confidence("Confidence 8") == 5.0  # the colon is required
    assert parse_confidence("") == 5.0


def test_strip_unchanged_without_match_keeps_trailing_whitespace():
    assert strip_confidence("no conf here  \n") == "no conf here  \n"
    assert strip_confidence("Confidence: -3 \n") == "Confidence: -3 \n"


def test_strip_whitespace_after_number_includes_newline():
    assert strip_confidence("Answer: 4\nConfidence: 8\n\nThanks") == "Answer: 4\nThanks"
    assert strip_confidence("Answer: 4\nConfidence:\n8 \n  tail") == "Answer: 4\ntail"
    assert strip_confidence("A\nconfidence: 7/10 ,.!  \n") == "A"
    assert strip_confidence("A confidence: 7 , . done") == "A . done"  # one run of punctuation only


def test_parse_and_strip_type_and_value_errors():
    for bad in (None, 8, b"Confidence: 8", ["Confidence: 8"]):
        with pytest.raises(TypeError):
            parse_confidence(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            strip_confidence(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_confidence("Confidence: 8", which="middle")


# --------------------------------------------------------------------------------------- EMA and PPO-C


def test_ema_update_examples():
    first = ema_update(0.0, [1, 3])
    assert first == pytest.approx(0.2)
    assert ema_update(first, [-1, -1]) == pytest.approx(0.08)
    assert ema_update(0.7, []) == 0.7
    assert ema_update(1.0, [3.0], alpha=1.0) == 3.0
    assert ema_update(1.0, [3.0], alpha=0.0) == 1.0
    assert isinstance(ema_update(0, [1]), float)


def test_ema_update_accepts_arrays():
    np = pytest.importorskip("numpy")
    assert ema_update(0.0, np.array([1.0, 3.0])) == pytest.approx(0.2)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_ema_update_bad_alpha(alpha):
    with pytest.raises(ValueError):
        ema_update(0.0, [1.0], alpha=alpha)


def test_adjust_reward_examples():
    assert [adjust_reward(r, c, 0.2, w=2) for r, c in [(1, 8), (3, 2)]] == pytest.approx([1.48, 1.32])
    assert [adjust_reward(r, c, 0.2, w=2, mode="threshold") for r, c in [(1, 8), (3, 2)]] == pytest.approx(
        [1.6, 1.2]
    )


def test_adjust_reward_neutral_confidence_and_threshold_sign_flip():
    for mode in ("difference", "threshold"):
        for r in (-3.0, 0.0, 0.5, 4.0):
            assert adjust_reward(r, 5, 1.0, mode=mode) == pytest.approx(r)
    # r < r̄: high confidence is penalised, low confidence rewarded (in both modes here).
    assert adjust_reward(1.0, 8, 2.0, w=2, mode="threshold") == pytest.approx(1.0 - 2 * 1.0 * 0.3)
    assert adjust_reward(1.0, 2, 2.0, w=2, mode="threshold") == pytest.approx(1.0 + 2 * 1.0 * 0.3)
    assert adjust_reward(-1.0, 8, 0.0, w=2, mode="threshold") == pytest.approx(-1.0 - 2 * 1.0 * 0.3)
    # r ≥ r̄ keeps the sign: a negative r above r̄ is still pushed up by high confidence.
    assert adjust_reward(-1.0, 8, -2.0, w=2, mode="threshold") == pytest.approx(-1.0 + 2 * 1.0 * 0.3)
    assert adjust_reward(1.0, 8, 2.0, w=2) == pytest.approx(1.0 + 2 * (1.0 - 2.0) * 0.3)


def test_adjust_reward_bad_mode():
    with pytest.raises(ValueError):
        adjust_reward(1.0, 5, 0.0, mode="ratio")


class SpyScorer:
    """Returns queued scores and records every call."""

    def __init__(self, *batches):
        self.batches = list(batches)
        self.calls = []

    def __call__(self, prompts, completions, **kwargs):
        self.calls.append((prompts, list(completions), kwargs))
        return self.batches.pop(0)


def test_calibrated_reward_spec_example():
    reward = CalibratedReward(SpyScorer([12.0]))
    assert reward.__name__ == "ppo_c"
    assert reward(["p"], ["Right.\nConfidence: 10"]) == pytest.approx([19.0])
    assert reward.average == pytest.approx(1.0)
    assert reward.last_scores == [10.0] and reward.last_confidences == [10.0]


def test_calibrated_reward_passes_stripped_text_and_carries_the_ema():
    spy = SpyScorer([1.0, 3.0], [-1.0, -1.0])
    reward = CalibratedReward(spy, alpha=0.1, w=2.0)
    prompts = [[{"role": "user", "content": "q1"}], [{"role": "user", "content": "q2"}]]
    completions = [
        [{"role": "assistant", "content": "A is 4.\nConfidence: 8."}],
        "B is 5.\nconfidence: 2/10",
    ]
    first = reward(prompts, completions, answer=["4", "5"])
    assert len(spy.calls) == 1
    got_prompts, got_completions, got_kwargs = spy.calls[0]
    assert got_prompts is prompts
    assert got_completions == ["A is 4.", "B is 5."]
    assert got_kwargs == {"answer": ["4", "5"]}
    assert reward.average == pytest.approx(0.2)
    assert first == pytest.approx([1.48, 1.32])
    second = reward(["p", "q"], ["x\nConfidence: 5", "y Confidence: 10"])
    assert len(spy.calls) == 2
    assert spy.calls[1][1] == ["x", "y"]
    assert reward.average == pytest.approx(0.08)
    assert second == pytest.approx([-1.0, -1.0 + 2 * (-1.0 - 0.08) * 0.5])
    assert not any("Confidence" in c for _, comps, _ in spy.calls for c in comps)


def test_calibrated_reward_threshold_mode():
    reward = CalibratedReward(SpyScorer([1.0, 3.0]), mode="threshold", init_average=0.2)
    # r̄ = 0.1·2 + 0.9·0.2 = 0.38 after the update; r = 1 and 3 are both ≥ r̄.
    assert reward(["a", "b"], ["Confidence: 8", "Confidence: 2"]) == pytest.approx([1.6, 1.2])
    assert reward.average == pytest.approx(0.38)


def test_calibrated_reward_threshold_sign_flip_below_average():
    reward = CalibratedReward(SpyScorer([1.0]), mode="threshold", init_average=10.0)
    # r̄ = 0.1·1 + 0.9·10 = 9.1 > r, so high confidence lowers the reward.
    assert reward(["a"], ["Confidence: 8"]) == pytest.approx([1.0 - 2 * 1.0 * 0.3])


def test_calibrated_reward_none_scores_and_empty_batch():
    spy = SpyScorer([None, 2.0], [None, None])
    reward = CalibratedReward(spy, init_average=1.0)
    out = reward(["a", "b"], ["Confidence: 9", "no confidence"])
    assert out[0] is None
    assert reward.average == pytest.approx(0.1 * 2.0 + 0.9 * 1.0)
    assert out[1] == pytest.approx(2.0)  # no stated confidence: default 5 is neutral
    before = reward.average
    assert reward(["a", "b"], ["x", "y"]) == [None, None]
    assert reward.average == before
    assert reward([], []) == []
    assert reward.average == before
    assert len(spy.calls) == 2


def test_calibrated_reward_without_confidence_equals_plain_reward():
    reward = CalibratedReward(SpyScorer([0.3, -2.0, 4.0]))
    assert reward(["a", "b", "c"], ["x", "y", "z"]) == pytest.approx([0.3, -2.0, 4.0])


def test_calibrated_reward_clip_and_options():
    unclipped = CalibratedReward(SpyScorer([12.0]), reward_clip=None)
    assert unclipped(["p"], ["Confidence: 5"]) == pytest.approx([12.0])
    assert unclipped.average == pytest.approx(1.2)
    negative = CalibratedReward(SpyScorer([-30.0]))
    assert negative(["p"], ["Confidence: 5"]) == pytest.approx([-10.0])
    last = CalibratedReward(SpyScorer([1.0]), which="last", default_confidence=0.0, w=1.0, init_average=0.0)
    # c = 10 (the last one): r̄ = 0.1, 1 + 1·0.9·0.5
    assert last(["p"], ["Confidence: 0 ... Confidence: 10"]) == pytest.approx([1.45])
    default = CalibratedReward(SpyScorer([1.0]), default_confidence=0.0, w=1.0)
    assert default(["p"], ["none"]) == pytest.approx([1.0 + 1.0 * 0.9 * -0.5])


def test_calibrated_reward_bad_input():
    with pytest.raises(ValueError):
        CalibratedReward(SpyScorer(), alpha=2.0)
    with pytest.raises(ValueError):
        CalibratedReward(SpyScorer(), mode="ratio")
    with pytest.raises(ValueError):
        CalibratedReward(SpyScorer(), which="any")
    with pytest.raises(ValueError):
        CalibratedReward(SpyScorer(), reward_clip=0.0)
    with pytest.raises(TypeError):
        CalibratedReward("not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CalibratedReward(SpyScorer([1.0]))(["p"], [42])
    with pytest.raises(ValueError):
        CalibratedReward(SpyScorer([1.0]))(["p", "q"], ["a", "b"])  # scorer returned one score for two


# ------------------------------------------------------------------------------------ reward-model smoke


@pytest.fixture(scope="module")
def tiny_rm():
    from rlcore.models import load_model

    return load_model("tiny:qwen2-reward")


def _manual_score(model, ids):
    """One unpadded sequence through the backbone; the head on its final hidden state."""
    import torch

    with torch.no_grad():
        hidden = model.model(input_ids=torch.tensor([ids])).last_hidden_state
        return float(model.score(hidden[0, -1])[0])


@pytest.mark.slow
def test_scorer_reads_last_attended_token_when_pad_is_eos(tiny_rm):
    import torch

    model, tokenizer = tiny_rm
    tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.eos_token_id
    scorer = RewardModelScorer(model, tokenizer, normalize=False, batch_size=3)
    prompts = [
        [{"role": "user", "content": "What is 2 + 2?"}],
        [{"role": "user", "content": "Count the red apples in the picture, please."}],
        "user\nWhat is 7 * 8?\nassistant\n",
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    ]
    completions = ["4", "There are 12 red apples in total.", "56", [{"role": "assistant", "content": "Hi"}]]
    scores = scorer(prompts, completions)
    ids = [scorer.token_ids(p, c) for p, c in zip(prompts, completions, strict=True)]
    assert len({len(i) for i in ids[:3]}) > 1  # the first batch is really padded
    for seq in ids:
        assert seq[-1] == tokenizer.eos_token_id
        assert seq.count(tokenizer.eos_token_id) >= 1
    expected = [_manual_score(model, seq) for seq in ids]
    assert scores == pytest.approx(expected, abs=1e-5)
    # transformers' pad-id pooling reads the wrong token here (pad == EOS); ours does not depend on it.
    with torch.no_grad():
        pooled = model(input_ids=torch.tensor([ids[0]])).logits[0, 0].item()
    assert pooled != pytest.approx(expected[0], abs=1e-6)
    # Text rendering: the chat template's assistant turn ends in EOS, a text prompt gets EOS appended.
    assert render_reward_text(tokenizer, prompts[0], "4").endswith("4" + tokenizer.eos_token)
    assert render_reward_text(tokenizer, "Q: ", "A") == "Q: A" + tokenizer.eos_token
    assert render_reward_text(tokenizer, "Q: ", "A" + tokenizer.eos_token) == "Q: A" + tokenizer.eos_token
    assert model.training is False


@pytest.mark.slow
def test_scorer_normalization_batching_and_bad_input(tiny_rm):
    model, tokenizer = tiny_rm
    prompts, completions = ["a", "bb", "ccc"], ["1", "22", "333"]
    raw = RewardModelScorer(model, tokenizer, normalize=False, batch_size=1)(prompts, completions)
    assert RewardModelScorer(model, tokenizer, normalize=False, batch_size=8)(prompts, completions) == (
        pytest.approx(raw, abs=1e-5)
    )
    scaled = RewardModelScorer(model, tokenizer, mean=0.5, std=2.0)(prompts, completions)
    assert scaled == pytest.approx([(s - 0.5) / 2.0 for s in raw], abs=1e-5)
    model.config.mean, model.config.std = -1.0, 4.0
    try:
        from_config = RewardModelScorer(model, tokenizer)(prompts, completions)
        assert from_config == pytest.approx([(s + 1.0) / 4.0 for s in raw], abs=1e-5)
    finally:
        del model.config.mean, model.config.std
    assert RewardModelScorer(model, tokenizer)(prompts, completions) == pytest.approx(raw, abs=1e-5)
    model.train()
    RewardModelScorer(model, tokenizer)(["a"], ["b"])
    assert model.training is True  # the caller's mode is restored
    model.eval()
    assert RewardModelScorer(model, tokenizer)([], []) == []
    truncated = RewardModelScorer(model, tokenizer, max_length=4)
    assert len(truncated.token_ids("a long prompt with many words", "and a long answer")) == 4
    assert all(math.isfinite(s) for s in truncated(["a long prompt with many words"], ["x"]))
    with pytest.raises(TypeError):
        RewardModelScorer(model, tokenizer)([1], ["x"])
    with pytest.raises(TypeError):
        RewardModelScorer(model, tokenizer)(["p"], [None])
    with pytest.raises(ValueError):
        RewardModelScorer(model, tokenizer)(["p"], ["x", "y"])
    with pytest.raises(ValueError):
        RewardModelScorer(model, tokenizer, batch_size=0)


@pytest.mark.slow
def test_calibrated_reward_over_reward_model(tiny_rm):
    model, tokenizer = tiny_rm
    scorer = RewardModelScorer(model, tokenizer, normalize=False)
    reward = CalibratedReward(scorer)
    out = reward(["Q: 2+2?\n"], ["4\nConfidence: 7."])
    plain = scorer(["Q: 2+2?\n"], ["4"])
    assert out == pytest.approx([adjust_reward(plain[0], 7, reward.average)], abs=1e-5)


def _save_tiny_classifier(tmp_path, transform):
    from safetensors.torch import load_file, save_file

    from rlcore.models import load_model

    model, tokenizer = load_model("tiny:qwen2-reward@3")
    directory = tmp_path / "rm"
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    weights = directory / "model.safetensors"
    state = load_file(str(weights))
    save_file(transform(state), str(weights), metadata={"format": "pt"})
    return directory, model


@pytest.mark.slow
def test_load_reward_model_maps_value_head(tmp_path):
    import torch

    def rename(state):
        state["value_head.weight"] = state.pop("score.weight")
        return state

    directory, original = _save_tiny_classifier(tmp_path, rename)
    model, tokenizer = load_reward_model(str(directory))
    assert torch.equal(model.score.weight, original.score.weight)
    texts = (["Q: 1+1?\n"], ["2"])
    expected = RewardModelScorer(original, tokenizer, normalize=False)(*texts)
    assert RewardModelScorer(model, tokenizer, normalize=False)(*texts) == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_load_reward_model_keeps_a_stored_score_head(tmp_path):
    import torch

    directory, original = _save_tiny_classifier(tmp_path, lambda state: state)
    model, _ = load_reward_model(str(directory))
    assert torch.equal(model.score.weight, original.score.weight)


@pytest.mark.slow
def test_load_reward_model_without_head_is_an_error(tmp_path):
    from rlcore.errors import ModelNotFound

    def drop(state):
        del state["score.weight"]
        return state

    directory, _ = _save_tiny_classifier(tmp_path, drop)
    with pytest.raises(ModelNotFound, match="head"):
        load_reward_model(str(directory))


@pytest.mark.slow
def test_load_reward_model_specs():
    from rlcore.errors import ModelNotFound

    model, tokenizer = load_reward_model("tiny:qwen2-reward")
    assert model.score.weight.shape[0] == 1 and tokenizer.eos_token
    with pytest.raises(ModelNotFound):
        load_reward_model("tiny:qwen2")  # a causal LM has no reward head
    with pytest.raises(ModelNotFound):
        load_reward_model("embedded:smollm2-135m-instruct")
    with pytest.raises(ModelNotFound):
        load_reward_model("/no/such/checkpoint")
