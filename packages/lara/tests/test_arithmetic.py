"""Spec §2 ``lara.arithmetic`` and §8: exact combination numbers and engine smoke tests on the tiny LM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lara.arithmetic import (
    MIN_LOGPROB,
    EngineStats,
    GenerationOutput,
    GroupedLM,
    combine_logprobs,
    normalize_weights,
    target_nll,
)
from lara.prompts import build_prompt

P1 = [0.7, 0.2, 0.1]
P2 = [0.1, 0.6, 0.3]
LOGS = np.log([P1, P2])


# ------------------------------------------------------------------------------------ normalize_weights


@pytest.mark.parametrize(
    ("weights", "expected"),
    [([1, 3], [0.25, 0.75]), ([2, -1], [2.0, -1.0]), ([-1, -3], [0.25, 0.75]), ([0, 0], [0.0, 0.0])],
)
def test_normalize_weights(weights, expected):
    result = normalize_weights(weights)
    assert result == pytest.approx(expected, abs=1e-12)
    assert all(type(w) is float for w in result)


def test_min_logprob():
    assert MIN_LOGPROB == -1e8


# ------------------------------------------------------------------------------------- combine_logprobs


def test_combine_equal_weights_is_normalised_geometric_mean():
    result = np.exp(combine_logprobs(LOGS, [1, 1]))
    np.testing.assert_allclose(result, [0.337386, 0.441742, 0.220871], atol=1e-6)


def test_combine_negative_weight():
    result = np.exp(combine_logprobs(LOGS, [2, -1]))
    np.testing.assert_allclose(result, [0.98, 0.013333, 0.006667], atol=1e-6)


def test_combine_shift_invariance():
    logits = torch.tensor(LOGS, dtype=torch.float32)
    shifted = logits.clone()
    shifted[1] += 123.0
    torch.testing.assert_close(combine_logprobs(shifted, [0.3, 0.9]), combine_logprobs(logits, [0.3, 0.9]))


@pytest.mark.parametrize("scale", [3.0, -2.0, 0.01])
def test_combine_scale_invariance(scale):
    base = combine_logprobs(LOGS, [2, -1])
    np.testing.assert_allclose(combine_logprobs(LOGS, [2 * scale, -1 * scale]), base, atol=1e-6)


def test_combine_skips_zero_weight_groups_even_with_inf_rows():
    logits = np.stack([LOGS[0], LOGS[1], np.full(3, -np.inf), np.full(3, np.nan)])
    result = combine_logprobs(logits, [1, 1, 0, 0])
    assert np.isfinite(result).all()
    np.testing.assert_allclose(np.exp(result), [0.337386, 0.441742, 0.220871], atol=1e-6)


def test_combine_clamps_minus_inf_entries():
    logits = np.array([[0.0, -np.inf], [0.0, 0.0]])
    result = combine_logprobs(logits, [2, -1])
    assert np.isfinite(result[0])


def test_combine_types_and_shapes():
    out_np = combine_logprobs(LOGS.tolist(), [1, 1])
    assert isinstance(out_np, np.ndarray) and out_np.shape == (3,)
    out_t = combine_logprobs(torch.tensor(LOGS, dtype=torch.bfloat16), [1, 1])
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    batch = torch.randn(4, 2, 5, 7)  # [G, ..., V]
    out = combine_logprobs(batch, [1, 0.5, 0, 2])
    assert out.shape == (2, 5, 7)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(2, 5))


@pytest.mark.parametrize("weights", [[1], [1, 1, 1], [0, 0]])
def test_combine_bad_weights(weights):
    with pytest.raises(ValueError):
        combine_logprobs(LOGS, weights)


# ------------------------------------------------------------------------------------------ target_nll


def test_target_nll_example():
    combined = combine_logprobs(LOGS, [1, 1])[None]
    assert target_nll(combined, [1]) == pytest.approx(0.817028, abs=1e-6)
    assert target_nll(torch.tensor(combined), [1]) == pytest.approx(0.817028, abs=1e-6)


def test_target_nll_mean_over_prefix():
    steps = np.log([[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]])
    assert target_nll(steps, [0, 1]) == pytest.approx((math.log(2) - math.log(0.75)) / 2)


@pytest.mark.parametrize("target", [[], [0, 1, 0, 1]])
def test_target_nll_errors(target):
    with pytest.raises(ValueError):
        target_nll(np.zeros((3, 2)), target)


# -------------------------------------------------------------------------------------- engine (tiny LM)

DEMOS = [{"input": f"what is {i} plus {i + 1}", "target": str(2 * i + 1)} for i in range(8)]
GROUPS = [DEMOS[0:2], DEMOS[2:4], DEMOS[4:6], DEMOS[6:8]]
EXAMPLE = {"input": "what is 3 plus 4", "target": "7"}


@pytest.fixture(scope="module")
def lm():
    from rlcore.models import load_model

    return load_model("tiny:qwen2")


def test_single_group_equals_model_log_softmax(lm):
    model, tok = lm
    engine = GroupedLM(model, tok)
    cont = engine.continuation_ids(EXAMPLE, EXAMPLE["target"])
    prompt = tok(build_prompt(GROUPS[1], EXAMPLE))["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + cont])).logits[0, len(prompt) - 1 :, : len(tok)]
    expected = torch.log_softmax(logits.float(), -1)
    got = engine.group_logprobs([GROUPS[1]], EXAMPLE, cont)
    assert got.shape == (1, len(cont) + 1, len(tok))
    torch.testing.assert_close(got[0], expected, atol=1e-5, rtol=0)
    combined = combine_logprobs(got, [1.0])
    torch.testing.assert_close(combined, expected, atol=1e-5, rtol=0)
    nll = -expected[torch.arange(len(cont)), torch.tensor(cont)].mean().item()
    assert engine.target_nll([GROUPS[1]], [1.0], EXAMPLE) == pytest.approx(nll, abs=1e-5)


def test_single_group_greedy_equals_model_generate(lm):
    model, tok = lm
    engine = GroupedLM(model, tok)
    prompt = tok(build_prompt(GROUPS[0], EXAMPLE), return_tensors="pt")
    with torch.no_grad():
        ref = model.generate(**prompt, max_new_tokens=8, do_sample=False)[0, prompt["input_ids"].shape[1] :]
    ref_ids = [t for t in ref.tolist() if t not in engine.eos_ids]
    out = engine.generate([GROUPS[0]], [1.0], EXAMPLE, max_new_tokens=8)
    assert isinstance(out, GenerationOutput)
    assert out.token_ids == ref_ids
    assert out.text == tok.decode(ref_ids, skip_special_tokens=True)
    assert out.step_logprobs is None


def test_continuation_ids_follow_the_query(lm):
    model, tok = lm
    engine = GroupedLM(model, tok)
    cont = engine.continuation_ids(EXAMPLE, "7")
    query = "Question: what is 3 plus 4\nAnswer:"
    head = tok(query, add_special_tokens=False)["input_ids"]
    assert head + cont == tok(query + " 7", add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(
    "variant", [{"group_batch_size": 1}, {"group_batch_size": 3}, {"prefix_cache": True}]
)
def test_batched_unbatched_and_prefix_cache_agree(lm, variant):
    model, tok = lm
    weights = [0.5, -0.2, 1.0, 0.3]
    base = GroupedLM(model, tok)
    other = GroupedLM(model, tok, **variant)
    for example in (EXAMPLE, {"input": "what is 10 plus 20 plus 30", "target": "60"}):
        ref = base.generate(GROUPS, weights, example, max_new_tokens=6, return_logprobs=True)
        # Twice: the second run of prefix_cache reuses (copies of) the stored prefixes.
        for _ in range(2):
            out = other.generate(GROUPS, weights, example, max_new_tokens=6, return_logprobs=True)
            assert out.token_ids == ref.token_ids and out.text == ref.text
            torch.testing.assert_close(out.step_logprobs, ref.step_logprobs, atol=1e-4, rtol=0)
        cont = base.continuation_ids(example, example["target"])
        torch.testing.assert_close(
            other.group_logprobs(GROUPS, example, cont),
            base.group_logprobs(GROUPS, example, cont),
            atol=1e-4,
            rtol=0,
        )
        assert other.target_nll(GROUPS, weights, example) == pytest.approx(
            base.target_nll(GROUPS, weights, example), abs=1e-4
        )


def test_zero_weight_groups_are_not_run(lm):
    model, tok = lm
    engine = GroupedLM(model, tok)
    out = engine.generate(GROUPS, [1, 0, 1, 0], EXAMPLE, max_new_tokens=4)
    assert engine.stats.group_rows == 2  # one prefill call of 2 rows
    prompts = [tok(build_prompt(GROUPS[i], EXAMPLE))["input_ids"] for i in (0, 2)]
    assert engine.stats.prefill_tokens == sum(len(p) for p in prompts)
    assert len(out.token_ids) <= 4
    engine.stats.reset()
    engine.target_nll(GROUPS, [1, 0, 1, 0], EXAMPLE)
    assert engine.stats.group_rows == 2 and engine.stats.forward_calls == 1
    # Same combined result as running only the two selected groups.
    assert engine.target_nll(GROUPS, [1, 0, 1, 0], EXAMPLE) == pytest.approx(
        engine.target_nll([GROUPS[0], GROUPS[2]], [1, 1], EXAMPLE), abs=1e-6
    )


def test_engine_weight_errors(lm):
    model, tok = lm
    engine = GroupedLM(model, tok)
    with pytest.raises(ValueError):
        engine.generate(GROUPS, [0, 0, 0, 0], EXAMPLE)
    with pytest.raises(ValueError):
        engine.generate(GROUPS, [1, 1], EXAMPLE)
    with pytest.raises(ValueError):
        GroupedLM(model, tok, task_format="nope")


def test_stop_strings(lm):
    model, tok = lm
    engine = GroupedLM(model, tok)
    free = engine.generate(GROUPS, [1, 1, 1, 1], EXAMPLE, max_new_tokens=8)
    assert len(free.text) >= 2
    stop = free.text[1:3]
    first = free.text.find(stop)
    out = engine.generate(GROUPS, [1, 1, 1, 1], EXAMPLE, max_new_tokens=8, stop=[stop], return_logprobs=True)
    assert out.text == free.text[:first]
    assert stop not in out.text
    assert out.token_ids == free.token_ids[: len(out.token_ids)]
    assert out.step_logprobs.shape == (len(out.token_ids), len(tok))


def test_max_new_tokens_and_greedy_argmax(lm):
    model, tok = lm
    engine = GroupedLM(model, tok)
    out = engine.generate(GROUPS, [1, 2, 0, -0.5], EXAMPLE, max_new_tokens=3, return_logprobs=True)
    assert len(out.token_ids) <= 3
    for token, step in zip(out.token_ids, out.step_logprobs, strict=True):
        assert token == int(torch.argmax(step))
        assert math.isclose(float(step.exp().sum()), 1.0, abs_tol=1e-4)


def test_context_length_error_names_the_group(lm):
    model, tok = lm
    engine = GroupedLM(model, tok)
    long_groups = [GROUPS[0], DEMOS * 4]
    limit = len(engine.prompt_ids(long_groups[1], EXAMPLE))
    engine.context_length = limit + 5
    with pytest.raises(ValueError, match="group 1"):
        engine.generate(long_groups, [1, 1], EXAMPLE, max_new_tokens=10)
    engine.generate(long_groups, [1, 1], EXAMPLE, max_new_tokens=5)  # fits exactly
    with pytest.raises(ValueError, match="group 1"):
        engine.group_logprobs(long_groups, EXAMPLE, list(range(6)))
    engine.generate(long_groups, [1, 0], EXAMPLE, max_new_tokens=10)  # the long group does not run


def test_stats_sequential_vs_batched(lm):
    model, tok = lm
    batched = GroupedLM(model, tok)
    sequential = GroupedLM(model, tok, group_batch_size=1)
    for engine in (batched, sequential):
        engine.generate(GROUPS, [1, 1, 1, 1], EXAMPLE, max_new_tokens=4)
    lengths = [len(batched.prompt_ids(g, EXAMPLE)) for g in GROUPS]
    assert batched.stats.group_rows == sequential.stats.group_rows == 4
    assert batched.stats.prefill_tokens == sequential.stats.prefill_tokens == sum(lengths)
    assert sequential.stats.forward_calls == 4 * batched.stats.forward_calls
    assert sequential.stats.peak_kv_tokens <= batched.stats.peak_kv_tokens
    assert sequential.stats.peak_attention_cells <= batched.stats.peak_attention_cells
    # Prefill of the padded batch: 4 rows × max length (the last decode call holds max + steps - 1).
    n_steps = batched.stats.forward_calls
    assert batched.stats.peak_kv_tokens == 4 * (max(lengths) + n_steps - 1)
    assert batched.stats.peak_attention_cells == 4 * max(lengths) ** 2
    assert sequential.stats.peak_attention_cells == max(lengths) ** 2
    batched.stats.reset()
    assert batched.stats == EngineStats()


def test_prefix_cache_is_not_mutated(lm):
    model, tok = lm
    engine = GroupedLM(model, tok, prefix_cache=True)
    engine.generate(GROUPS[:2], [1, 1], EXAMPLE, max_new_tokens=3)
    lengths = {key: cache.get_seq_length() for key, cache in engine._prefixes.items()}
    assert sorted(lengths.values()) == sorted(len(k) for k in lengths)
    engine.generate(GROUPS[:2], [1, 1], {"input": "what is 1 plus 1", "target": "2"}, max_new_tokens=3)
    assert {key: cache.get_seq_length() for key, cache in engine._prefixes.items()} == lengths


def test_greedy_ties_go_to_the_lowest_id(lm):
    import copy

    model, tok = lm
    flat = copy.deepcopy(model)
    with torch.no_grad():
        flat.get_input_embeddings().weight.zero_()  # tied head: every logit is exactly 0
    engine = GroupedLM(flat, tok)
    out = engine.generate(GROUPS, [1, 1, 1, 1], EXAMPLE, max_new_tokens=3)
    lowest = min(set(range(len(tok))) - engine.eos_ids)
    assert lowest == 0 and out.token_ids == [0, 0, 0]


def test_padded_vocabulary_rows_are_cut(lm):
    import copy

    model, tok = lm
    padded = copy.deepcopy(model)
    padded.resize_token_embeddings(len(tok) + 8)
    with torch.no_grad():
        padded.get_input_embeddings().weight[len(tok) :] = 50.0
        padded.get_output_embeddings().weight[len(tok) :] = 50.0
    engine = GroupedLM(padded, tok)
    cont = engine.continuation_ids(EXAMPLE, "7")
    assert engine.group_logprobs(GROUPS, EXAMPLE, cont).shape[-1] == len(tok)
    out = engine.generate(GROUPS, [1, 1, 1, 1], EXAMPLE, max_new_tokens=4, return_logprobs=True)
    assert all(t < len(tok) for t in out.token_ids)
