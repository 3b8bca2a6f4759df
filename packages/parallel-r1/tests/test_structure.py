"""parallel_r1.structure (spec §2.3, §8): block finding, positions, masks, padding, Unseen model inputs and the
tag tokens. Structure tests use integer ids; tiny-model tests build a Qwen2 in-process (eager and sdpa)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parallel_r1.structure import (
    ParallelBlock,
    TagIds,
    add_parallel_tokens,
    build_structure,
    decode_with_tags,
    find_blocks,
    path_isolation_mask,
    structured_position_ids,
    unseen_model_inputs,
)

TAGS = TagIds(90, 91, 92, 93, 94, 95)
PO, PC, HO, HC, SO, SC = TAGS.as_tuple()
WORDS = {"<Parallel>": PO, "</Parallel>": PC, "<Path>": HO, "</Path>": HC, "<Summary>": SO, "</Summary>": SC}


def ids_of(text: str) -> list[int]:
    """Whitespace-separated words; tags map to TAGS, other words to small ids (stable per word)."""
    vocab: dict[str, int] = {}
    out = []
    for word in text.split():
        out.append(WORDS[word] if word in WORDS else vocab.setdefault(word, 1 + len(vocab)))
    return out


EXAMPLE = "a b <Parallel> <Path> x1 x2 </Path> <Path> y1 </Path> </Parallel> <Summary> s1 </Summary> c"


# ----------------------------------------------------------------------------------------- exact numbers


def test_spec_example_positions_and_mask():
    ids = ids_of(EXAMPLE)
    blocks = find_blocks(ids, TAGS)
    assert blocks == [ParallelBlock(open=2, paths=[(3, 7), (7, 10)], close=10)]
    assert structured_position_ids(len(ids), blocks) == [0, 1, 2, 3, 4, 5, 6, 3, 4, 5, 7, 8, 9, 10, 11]
    mask = path_isolation_mask(len(ids), blocks)
    assert mask.dtype == np.bool_ and mask.shape == (15, 15)
    assert set(np.flatnonzero(mask[8]).tolist()) == {0, 1, 2, 7, 8}  # y1
    assert np.flatnonzero(mask[10]).tolist() == list(range(11))  # </Parallel>
    assert np.flatnonzero(mask[14]).tolist() == list(range(15))  # c sees everything


def test_spec_left_pad_example():
    ids = [7, 8, *ids_of("<Parallel> <Path> x </Path> <Path> y </Path> </Parallel>")]
    s = build_structure(ids, TAGS, response_start=2, left_pad=2)
    assert s.position_ids == [0, 0, 0, 1, 2, 3, 4, 5, 3, 4, 5, 6]
    assert s.blocks == [ParallelBlock(open=4, paths=[(5, 8), (8, 11)], close=11)]
    assert s.allowed.shape == (12, 12)


# ------------------------------------------------------------------------------------------ find_blocks


def test_prefix_and_separators_belong_where_the_spec_says():
    ids = ids_of("p <Parallel> pre fix <Path> a </Path> sep <Path> b b </Path> tail </Parallel> z")
    (block,) = find_blocks(ids, TAGS)
    assert block == ParallelBlock(open=1, paths=[(4, 8), (8, 13)], close=13)
    pos = structured_position_ids(len(ids), [block])
    # q = position of "fix" (3); path 1 = <Path> a </Path> sep (len 4), path 2 = <Path> b b </Path> tail (len 5)
    assert pos == [0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9, 10]


def test_open_block_keeps_paths_and_close_none():
    ids = ids_of("<Parallel> <Path> a </Path> <Path> b")
    assert find_blocks(ids, TAGS) == [ParallelBlock(open=0, paths=[(1, 4), (4, 6)], close=None)]
    assert structured_position_ids(6, find_blocks(ids, TAGS)) == [0, 1, 2, 3, 1, 2]
    ids = ids_of("<Parallel> <Path> a <Parallel> <Summary>")  # tags inside a path are content
    assert find_blocks(ids, TAGS) == [ParallelBlock(open=0, paths=[(1, 5)], close=None)]


def test_start_ignores_prompt_tags_and_pathless_blocks_do_not_count():
    ids = ids_of(
        "<Parallel> <Path> q </Path> </Parallel> | <Parallel> </Parallel> <Parallel> <Path> a </Path> </Parallel>"
    )
    assert len(find_blocks(ids, TAGS)) == 2
    blocks = find_blocks(ids, TAGS, start=5)
    assert blocks == [ParallelBlock(open=8, paths=[(9, 12)], close=12)]
    assert find_blocks(ids, TAGS, start=5, max_blocks=1) == blocks  # the pathless block was not counted


def test_max_blocks_and_after_state():
    one = "<Parallel> <Path> a </Path> <Path> b </Path> </Parallel> <Summary> s </Summary>"
    ids = ids_of(f"{one} {one} {one}")
    assert len(find_blocks(ids, TAGS)) == 3
    limited = find_blocks(ids, TAGS, max_blocks=2)
    assert [b.open for b in limited] == [0, 11]
    # After </Parallel>: a non-summary tag returns to TOP, so a later </Summary> is plain text;
    # <Parallel> right after </Parallel> opens a block.
    ids = ids_of("<Parallel> <Path> a </Path> </Parallel> <Parallel> <Path> b </Path> </Parallel>")
    assert [b.open for b in find_blocks(ids, TAGS)] == [0, 5]
    # Inside a summary <Parallel> is content.
    ids = ids_of("<Parallel> <Path> a </Path> </Parallel> <Summary> <Parallel> <Path> b </Summary>")
    assert [b.open for b in find_blocks(ids, TAGS)] == [0]


def test_empty_and_odd_inputs():
    assert find_blocks([], TAGS) == []
    assert find_blocks([PC, HC, SC, SO, HO], TAGS) == []
    assert find_blocks(ids_of("<Parallel> <Path>"), TAGS, start=100) == []
    assert find_blocks(np.array(ids_of(EXAMPLE)), TAGS) == find_blocks(ids_of(EXAMPLE), TAGS)


# -------------------------------------------------------------------------------------- build_structure


def test_padding_rules_and_seen_variant():
    ids = ids_of("a <Parallel> <Path> x </Path> <Path> y </Path> </Parallel> b")
    n = len(ids)
    s = build_structure(ids, TAGS, left_pad=2, total_length=n + 5)
    total = n + 5
    pad = [0, 1, *range(n + 2, total)]
    assert [s.position_ids[i] for i in pad] == [0] * len(pad)
    for i in pad:
        assert np.flatnonzero(s.allowed[i]).tolist() == [i]
    real = slice(2, n + 2)
    assert not s.allowed[real][:, pad].any()
    seen = build_structure(ids, TAGS, variant="seen", left_pad=2, total_length=total)
    assert seen.position_ids[2 : n + 2] == list(range(n))
    assert (seen.allowed[real, real] == np.tri(n, dtype=bool)).all()
    assert seen.blocks == s.blocks and s.blocks[0].open == 3


def test_build_structure_errors():
    with pytest.raises(ValueError, match="total_length"):
        build_structure([1, 2, 3], TAGS, left_pad=1, total_length=3)
    with pytest.raises(ValueError, match="variant"):
        build_structure([1, 2, 3], TAGS, variant="sideways")


def test_response_start_in_build_structure():
    prompt = ids_of("<Parallel> <Path> q </Path> <Path> r </Path> </Parallel>")
    s = build_structure([*prompt, 5, 6], TAGS, response_start=len(prompt))
    assert s.blocks == [] and s.position_ids == list(range(len(prompt) + 2))


# --------------------------------------------------------------------------------------- hypothesis


def _reference(ids: list[int], blocks: list[ParallelBlock]) -> tuple[list[int], np.ndarray]:
    n = len(ids)
    path_of: dict[int, tuple[int, int]] = {}
    for b, block in enumerate(blocks):
        for k, (a, e) in enumerate(block.paths):
            for i in range(a, e):
                path_of[i] = (b, k)
    mask = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(i + 1):
            pi, pj = path_of.get(i), path_of.get(j)
            mask[i, j] = not (pi and pj and pi[0] == pj[0] and pi[1] != pj[1])
    pos, current, i = [0] * n, 0, 0
    starts = {block.paths[0][0]: block for block in blocks}
    while i < n:
        if i in starts:
            block = starts.pop(i)
            q = pos[i - 1]
            for a, e in block.paths:
                for j in range(a, e):
                    pos[j] = q + 1 + j - a
            longest = max(e - a for a, e in block.paths)
            if block.close is None:
                break
            pos[block.close] = q + 1 + longest
            current, i = q + 2 + longest, block.close + 1
            continue
        pos[i] = current
        current, i = current + 1, i + 1
    return pos, mask


token = st.sampled_from([PO, PC, HO, HC, SO, SC, 1, 2, 3])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(token, max_size=40),
    st.integers(0, 10),
    st.one_of(st.none(), st.integers(1, 3)),
)
def test_find_blocks_total_and_consistent(ids, start, max_blocks):
    blocks = find_blocks(ids, TAGS, start=start, max_blocks=max_blocks)
    n = len(ids)
    if max_blocks is not None:
        assert len(blocks) <= max_blocks
    last = start - 1
    for block in blocks:
        assert block.open > last and ids[block.open] == PO and block.paths
        prev_end = block.paths[0][0]
        for a, e in block.paths:
            assert a == prev_end and ids[a] == HO and a < e <= n
            prev_end = e
        end = n if block.close is None else block.close
        assert prev_end == end
        if block.close is not None:
            assert ids[block.close] == PC
        last = end
    pos, mask = _reference(ids, blocks)
    assert structured_position_ids(n, blocks) == pos
    assert (path_isolation_mask(n, blocks) == mask).all()
    s = build_structure(
        ids, TAGS, response_start=start, max_blocks=max_blocks, left_pad=1, total_length=n + 2
    )
    assert s.position_ids[1 : n + 1] == pos and (s.allowed[1 : n + 1, 1 : n + 1] == mask).all()
    assert s.allowed.diagonal().all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-5, 200), max_size=30), st.integers(-3, 40))
def test_find_blocks_never_raises(ids, start):
    find_blocks(ids, TAGS, start=start)


# ---------------------------------------------------------------------------------- unseen_model_inputs


def test_unseen_model_inputs_shapes_values_and_errors():
    torch = pytest.importorskip("torch")
    row = ids_of(EXAMPLE)
    n = len(row)
    input_ids = torch.tensor([[0, 0, *row], [*row, 0, 0]])
    attn = torch.tensor([[0, 0] + [1] * n, [1] * n + [0, 0]])
    out = unseen_model_inputs(input_ids, attn, 0, TAGS)
    assert set(out) == {"attention_mask", "position_ids"}
    mask, pos = out["attention_mask"], out["position_ids"]
    assert mask.shape == (2, 1, n + 2, n + 2) and mask.dtype == torch.float32
    assert pos.shape == (2, n + 2) and pos.dtype == torch.long
    expected = [0, 1, 2, 3, 4, 5, 6, 3, 4, 5, 7, 8, 9, 10, 11]
    assert pos[0].tolist() == [0, 0, *expected] and pos[1].tolist() == [*expected, 0, 0]
    minimum = torch.finfo(torch.float32).min
    assert set(mask.unique().tolist()) == {0.0, minimum} and torch.isfinite(mask).all()
    allowed = build_structure(row, TAGS, left_pad=2, total_length=n + 2).allowed
    assert ((mask[0, 0] == 0).numpy() == allowed).all()
    bf16 = unseen_model_inputs(input_ids, attn, [0, 0], TAGS, dtype=torch.bfloat16)["attention_mask"]
    assert bf16.dtype == torch.bfloat16 and bf16.min().item() == torch.finfo(torch.bfloat16).min
    # Per-row response_start in padded columns: row 0's block lies before column 2 + 3 -> ignored there only.
    per_row = unseen_model_inputs(input_ids, attn, torch.tensor([5, 0]), TAGS)["position_ids"]
    assert per_row[0].tolist() == [0, 0, *range(n)] and per_row[1].tolist() == [*expected, 0, 0]
    with pytest.raises(ValueError, match="contiguous"):
        unseen_model_inputs(input_ids, torch.tensor([[1, 0] + [1] * n, [1] * (n + 2)]), 0, TAGS)
    with pytest.raises(ValueError, match="response_start"):
        unseen_model_inputs(input_ids, attn, [0, 0, 0], TAGS)


def test_module_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "import parallel_r1.structure as s\n"
        "t = s.TagIds(1, 2, 3, 4, 5, 6)\n"
        "assert s.build_structure([9, 1, 3, 7, 4, 3, 8, 4, 2], t).position_ids == [0, 1, 2, 3, 4, 2, 3, 4, 5]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------- tiny models

VOCAB = 128


def tiny_qwen2(impl: str):
    torch = pytest.importorskip("torch")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.3,  # large weights: input changes move the logits visibly
        attn_implementation=impl,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(config)
    model.eval()
    assert model.config._attn_implementation == impl
    return model


def unseen_logits(model, input_ids, attn, response_start):
    import torch

    extra = unseen_model_inputs(input_ids, attn, response_start, TAGS, dtype=model.dtype)
    with torch.no_grad():
        return model(input_ids=input_ids, **extra, use_cache=False).logits


def plain_logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]


PROMPT = [11, 12, 13]
PREFIX = [PO, 20]
PATH1 = [HO, 30, 31, 32, HC]
PATH2 = [HO, 40, 41, HC]
TAIL = [PC, SO, 50, 51, SC, 60]


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_path_isolation_matches_shortened_causal_forward(impl):
    torch = pytest.importorskip("torch")
    model = tiny_qwen2(impl)
    ids = PROMPT + PREFIX + PATH1 + PATH2 + TAIL
    input_ids = torch.tensor([ids])
    attn = torch.ones_like(input_ids)
    logits = unseen_logits(model, input_ids, attn, len(PROMPT))[0]
    a = len(PROMPT + PREFIX + PATH1)
    b = a + len(PATH2)
    short = plain_logits(model, PROMPT + PREFIX + PATH2)  # positions 0.. coincide with the structured ones
    torch.testing.assert_close(logits[a:b], short[len(PROMPT + PREFIX) :], atol=1e-5, rtol=1e-5)
    # path 1 too is a plain causal forward of prompt + prefix + path 1
    torch.testing.assert_close(logits[:a], plain_logits(model, PROMPT + PREFIX + PATH1), atol=1e-5, rtol=1e-5)

    altered = PROMPT + PREFIX + [HO, 33, 34, 35, HC] + PATH2 + TAIL
    logits2 = unseen_logits(model, torch.tensor([altered]), attn, len(PROMPT))[0]
    torch.testing.assert_close(logits2[a:b], logits[a:b], atol=1e-5, rtol=1e-5)
    assert (logits2[b:] - logits[b:]).abs().max() > 1e-3  # the summary sees path 1
    # the causal (Seen) forward lets path 2 see path 1
    seen = plain_logits(model, ids)
    assert (seen[a:b] - logits[a:b]).abs().max() > 1e-3


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_left_padded_batch_row_equals_row_alone(impl):
    torch = pytest.importorskip("torch")
    model = tiny_qwen2(impl)
    long_row = PROMPT + PREFIX + PATH1 + PATH2 + TAIL
    short_row = [*PROMPT, PO, HO, 70, HC, HO, 71, 72, HC, PC, 73]
    width = len(long_row)
    pad = width - len(short_row)
    input_ids = torch.tensor([long_row, [0] * pad + short_row])
    attn = torch.tensor([[1] * width, [0] * pad + [1] * len(short_row)])
    batch = unseen_logits(model, input_ids, attn, [len(PROMPT), len(PROMPT) + pad])  # padded columns
    alone_long = unseen_logits(
        model, torch.tensor([long_row]), torch.ones(1, width, dtype=torch.long), len(PROMPT)
    )
    alone_short = unseen_logits(
        model, torch.tensor([short_row]), torch.ones(1, len(short_row), dtype=torch.long), len(PROMPT)
    )
    torch.testing.assert_close(batch[0], alone_long[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch[1, pad:], alone_short[0], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(batch).all()


def test_eager_and_sdpa_agree():
    torch = pytest.importorskip("torch")
    ids = PROMPT + PREFIX + PATH1 + PATH2 + TAIL
    input_ids = torch.tensor([[0, 0, *ids]])
    attn = torch.tensor([[0, 0] + [1] * len(ids)])
    eager = unseen_logits(tiny_qwen2("eager"), input_ids, attn, 5)
    sdpa = unseen_logits(tiny_qwen2("sdpa"), input_ids, attn, 5)
    torch.testing.assert_close(eager[0, 2:], sdpa[0, 2:], atol=1e-4, rtol=1e-4)


def test_unseen_forward_logps_without_blocks_equals_causal():
    torch = pytest.importorskip("torch")
    from parallel_r1.structure import unseen_forward_logps

    model = tiny_qwen2("sdpa")
    ids = torch.tensor([[0, 1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13]])
    attn = torch.tensor([[0, 1, 1, 1, 1, 1, 1], [1] * 7])
    with torch.no_grad():
        got = unseen_forward_logps(model, ids, attn, 3, TAGS)
        logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1]
    want = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
    torch.testing.assert_close(got[0, 1:], want[0, 1:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[1], want[1], atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------- tokenizer


def test_add_parallel_tokens_round_trip_and_idempotence():
    pytest.importorskip("torch")
    from rlcore.models import load_model

    model, tok = load_model("tiny:qwen2")
    with pytest.raises(ValueError, match=r"'<Parallel>'.*parallel-r1 add-tokens"):
        TagIds.from_tokenizer(tok)
    before = len(tok)
    tags = add_parallel_tokens(tok, model)
    assert len(tok) == before + 6
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert tags == TagIds.from_tokenizer(tok) and len(set(tags.as_tuple())) == 6
    text = "Hi <Parallel><Path>a</Path><Path>b</Path></Parallel>\n<Summary>s</Summary>\nFinal Answer: 7"
    ids = tok.encode(text, add_special_tokens=False)
    assert sum(i in tags.as_tuple() for i in ids) == 8
    assert tok.decode(ids, skip_special_tokens=True) == text
    with_eos = [*ids, tok.eos_token_id, tok.pad_token_id]
    assert decode_with_tags(tok, with_eos) == text
    weights = model.get_input_embeddings().weight.detach().clone()
    assert add_parallel_tokens(tok, model) == tags  # idempotent
    assert len(tok) == before + 6
    assert (model.get_input_embeddings().weight == weights).all()
    assert add_parallel_tokens(tok) == tags
    blocks = find_blocks(ids, tags)
    assert len(blocks) == 1 and len(blocks[0].paths) == 2


def test_decode_with_tags_keeps_special_registered_tags():
    pytest.importorskip("torch")
    from tokenizers import AddedToken

    from rlcore.models import tiny_tokenizer

    tok = tiny_tokenizer()
    tok.add_tokens([AddedToken(t, special=True) for t in WORDS], special_tokens=True)  # like some checkpoints
    tags = TagIds.from_tokenizer(tok)
    ids = [*tok.encode("x <Parallel><Path>a</Path></Parallel>", add_special_tokens=False), tok.eos_token_id]
    assert tags.parallel_open in ids
    assert decode_with_tags(tok, ids) == "x <Parallel><Path>a</Path></Parallel>"


def test_trl_layout_single_prompt_width():
    """TRL layout: prompts left-padded to one width, completions right-padded, response_start = prompt width."""
    torch = pytest.importorskip("torch")
    prompts = [[11, 12, 13], [14, 15]]
    completions = [
        ids_of("<Parallel> <Path> a </Path> <Path> b </Path> </Parallel> z"),
        [PO, HO, 3, HC, HO, 4],
    ]
    width = 3
    rows, masks = [], []
    for p, c in zip(prompts, completions, strict=True):
        lp, rp = width - len(p), 10 - len(c)
        rows.append([0] * lp + p + c + [0] * rp)
        masks.append([0] * lp + [1] * (len(p) + len(c)) + [0] * rp)
    out = unseen_model_inputs(torch.tensor(rows), torch.tensor(masks), width, TAGS)
    for r, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        lp = width - len(p)
        alone = build_structure(p + c, TAGS, response_start=len(p), left_pad=lp, total_length=width + 10)
        assert out["position_ids"][r].tolist() == alone.position_ids
        assert ((out["attention_mask"][r, 0] == 0).numpy() == alone.allowed).all()
    assert out["position_ids"][1].tolist()[:9] == [0, 0, 1, 2, 3, 4, 5, 3, 4]
