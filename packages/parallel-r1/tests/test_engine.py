"""The parallel rollout engine (spec §2.4): scripted generators, the find_blocks invariant, HF and vLLM back ends."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parallel_r1.engine import (
    EngineConfig,
    HFSegmentGenerator,
    ParallelRollout,
    Segment,
    SegmentRequest,
    VLLMSegmentGenerator,
    derive_seed,
    run_parallel_rollouts,
)
from parallel_r1.structure import ParallelBlock, TagIds, find_blocks

TAGS = TagIds(100, 101, 102, 103, 104, 105)
P, CP, PA, CPA, S, CS = 100, 101, 102, 103, 104, 105
EOS = 0
PROMPT = [50, 51]

Key = tuple[int, str, int, int | None]


@dataclass
class Scripted:
    """Returns the scripted segment for (rollout, kind, block, path); unscripted requests get ``default[kind]``."""

    script: dict[Key, Any] = field(default_factory=dict)
    default: dict[str, list[int]] = field(
        default_factory=lambda: {"main": [EOS], "path": [9, CPA], "summary": [8, CS]}
    )
    calls: list[list[SegmentRequest]] = field(default_factory=list)

    def __call__(self, requests: list[SegmentRequest]) -> list[Any]:
        self.calls.append(list(requests))
        out = []
        for r in requests:
            key = (r.rollout_index, r.kind, r.block_index, r.path_index)
            out.append(self.script.get(key, self.default[r.kind]))
        return out

    @property
    def requests(self) -> list[SegmentRequest]:
        return [r for call in self.calls for r in call]


def run(
    gen: Any, config: EngineConfig | None = None, prompts: Sequence[Sequence[int]] = (PROMPT,), **kw: Any
) -> list[ParallelRollout]:
    kw.setdefault("eos_ids", [EOS])
    return run_parallel_rollouts([list(p) for p in prompts], gen, TAGS, config or EngineConfig(), **kw)


def check_invariants(r: ParallelRollout, cfg: EngineConfig) -> None:
    assert find_blocks(r.completion_ids, TAGS, max_blocks=cfg.max_blocks) == r.blocks
    assert r.num_blocks == len(r.blocks)
    assert len(r.completion_ids) == len(r.forced_mask) == len(r.logprobs) <= cfg.max_response_tokens
    assert all(lp is None for lp, f in zip(r.logprobs, r.forced_mask, strict=True) if f)


# ------------------------------------------------------------------------------------------ scripted cases


def test_eos_in_path_is_replaced_by_path_close() -> None:
    gen = Scripted(
        {
            (0, "main", 0, None): [1, 2, P],
            (0, "path", 0, 0): [3, 4, CPA],
            (0, "path", 0, 1): [5, EOS],
            (0, "summary", 0, None): [6, CS],
            (0, "main", 1, None): [7, EOS],
        }
    )
    cfg = EngineConfig()
    (r,) = run(gen, cfg, separator_ids=[])
    assert r.prompt_ids == PROMPT
    assert r.completion_ids == [1, 2, P, PA, 3, 4, CPA, PA, 5, CPA, CP, S, 6, CS, 7, EOS]
    assert r.forced_mask == [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0]
    assert r.blocks == [ParallelBlock(2, [(3, 7), (7, 10)], 10)]
    assert r.num_blocks == 1 and r.finish_reason == "eos"
    check_invariants(r, cfg)
    # Requests: main, two paths, summary, main; contexts and stop sets per §2.4.
    kinds = [[q.kind for q in call] for call in gen.calls]
    assert kinds == [["main"], ["path", "path"], ["summary"], ["main"]]
    main, p0, p1, summ, main2 = gen.requests
    assert main.context == PROMPT and set(main.stop_ids) == {P, EOS} and main.max_new_tokens == 3000
    assert p0.context == [*PROMPT, 1, 2, P, PA] == p1.context
    assert set(p0.stop_ids) == {CPA, EOS} and (p0.path_index, p1.path_index) == (0, 1)
    assert p0.max_new_tokens == min(4096, 3000 - 3)
    assert summ.context == PROMPT + r.completion_ids[:12] and set(summ.stop_ids) == {CS, EOS}
    assert summ.max_new_tokens == 3000 - 12 and summ.block_index == 0
    assert main2.block_index == 1 and main2.context == PROMPT + r.completion_ids[:14]
    assert all(q.seed is None for q in gen.requests)


def test_eos_in_summary_replaced_and_missing_summary_close_forced() -> None:
    gen = Scripted(
        {(0, "main", 0, None): [P], (0, "summary", 0, None): [6, EOS], (0, "summary", 1, None): [6, 7]}
    )
    gen.script[(0, "main", 1, None)] = [P]
    (r,) = run(gen, EngineConfig(max_blocks=2), separator_ids=[])
    block = [PA, 9, CPA, PA, 9, CPA, CP, S]
    assert r.completion_ids == [P, *block, 6, CS, P, *block, 6, 7, CS]
    assert r.forced_mask[10] == 1 and r.forced_mask[-1] == 1 and r.forced_mask[-2] == 0
    assert r.finish_reason == "max_blocks" and r.num_blocks == 2


def test_over_long_path_gets_forced_close() -> None:
    gen = Scripted(
        {(0, "main", 0, None): [P], (0, "path", 0, 0): [3, 4, 5, 6, 7, CPA], (0, "main", 1, None): [EOS]}
    )
    cfg = EngineConfig(max_path_tokens=3)
    (r,) = run(gen, cfg)
    assert r.completion_ids[:10] == [P, PA, 3, 4, 5, CPA, PA, 9, CPA, CP]
    assert r.forced_mask[:10] == [0, 1, 0, 0, 0, 1, 1, 0, 0, 1]
    assert all(q.max_new_tokens == 3 for q in gen.requests if q.kind == "path")
    assert r.finish_reason == "eos"
    check_invariants(r, cfg)


def test_budget_cut_gives_length_and_clips_blocks() -> None:
    # Budget 10: the paths get min(max_path, 10 - 2) = 8 tokens; the long first path is cut to 8 and closed.
    gen = Scripted({(0, "main", 0, None): [1, P], (0, "path", 0, 0): list(range(10, 30))})
    cfg = EngineConfig(max_response_tokens=10)
    (r,) = run(gen, cfg)
    assert [q.max_new_tokens for q in gen.requests] == [10, 8, 8]  # no summary: budget exhausted
    assert r.completion_ids == [1, P, PA, 10, 11, 12, 13, 14, 15, 16]
    assert r.blocks == [ParallelBlock(1, [(2, 10)], None)]
    assert r.finish_reason == "length"
    check_invariants(r, cfg)


def test_budget_exhausted_by_main_chain_and_by_parallel_open() -> None:
    cfg = EngineConfig(max_response_tokens=4)
    (r,) = run(Scripted({(0, "main", 0, None): [1, 2, 3, 4, 5]}), cfg)
    assert r.completion_ids == [1, 2, 3, 4] and r.finish_reason == "length" and r.blocks == []
    gen = Scripted({(0, "main", 0, None): [1, 2, 3, P]})
    (r,) = run(gen, cfg)
    assert r.completion_ids == [1, 2, 3, P] and r.finish_reason == "length" and r.blocks == []
    assert [q.kind for q in gen.requests] == ["main"]
    check_invariants(r, cfg)


def test_summary_cut_by_budget() -> None:
    gen = Scripted({(0, "main", 0, None): [P], (0, "summary", 0, None): [1, 2, 3, 4, 5, 6]})
    cfg = EngineConfig(max_response_tokens=12)
    (r,) = run(gen, cfg, separator_ids=[7])
    # [P, PA 9 CPA, PA 9 CPA, CP, 7, S] = 10 tokens, then 2 summary tokens; the forced </Summary> is cut.
    assert r.completion_ids == [P, PA, 9, CPA, PA, 9, CPA, CP, 7, S, 1, 2]
    assert gen.requests[-1].max_new_tokens == 2
    assert r.finish_reason == "length" and r.blocks == [ParallelBlock(0, [(1, 4), (4, 7)], 7)]
    check_invariants(r, cfg)


def test_stops_after_four_blocks() -> None:
    gen = Scripted(default={"main": [1, P], "path": [9, CPA], "summary": [8, CS]})
    cfg = EngineConfig()
    (r,) = run(gen, cfg)
    assert r.finish_reason == "max_blocks" and r.num_blocks == 4
    assert r.completion_ids.count(P) == 4 and r.completion_ids[-1] == CS
    assert len(gen.calls) == 12  # main, paths, summary per block; no main after the 4th
    check_invariants(r, cfg)


def test_resumes_after_max_blocks_with_branching_off() -> None:
    gen = Scripted(default={"main": [1, P], "path": [9, CPA], "summary": [8, CS]})
    gen.script[(0, "main", 2, None)] = [P, PA, 3, CPA, 4, EOS]  # tags after the last block are plain content
    cfg = EngineConfig(max_blocks=2, stop_after_max_blocks=False)
    (r,) = run(gen, cfg)
    mains = [q for q in gen.requests if q.kind == "main"]
    assert [set(q.stop_ids) for q in mains] == [{P, EOS}, {P, EOS}, {EOS}]
    assert r.finish_reason == "eos" and r.num_blocks == 2
    assert r.completion_ids[-6:] == [P, PA, 3, CPA, 4, EOS]
    check_invariants(r, cfg)


def test_unlimited_blocks_until_eos() -> None:
    gen = Scripted(default={"main": [1, P], "path": [9, CPA], "summary": [8, CS]})
    gen.script[(0, "main", 6, None)] = [EOS]
    cfg = EngineConfig(max_blocks=None)
    (r,) = run(gen, cfg)
    assert r.num_blocks == 6 and r.finish_reason == "eos"
    check_invariants(r, cfg)


def test_separator_ids_between_parallel_close_and_summary() -> None:
    gen = Scripted({(0, "main", 0, None): [P]})
    cfg = EngineConfig(num_paths=3)
    (r,) = run(gen, cfg, separator_ids=[7, 7])
    block = [P, PA, 9, CPA, PA, 9, CPA, PA, 9, CPA, CP, 7, 7, S, 8, CS]
    assert r.completion_ids == [*block, EOS]
    assert r.forced_mask[10:14] == [1, 1, 1, 1]
    assert r.blocks == [ParallelBlock(0, [(1, 4), (4, 7), (7, 10)], 10)]
    check_invariants(r, cfg)


def test_logprobs_none_on_forced_tokens_and_without_generator_logprobs() -> None:
    gen = Scripted(
        {
            (0, "main", 0, None): Segment([1, P], [-0.1, -0.2]),
            (0, "path", 0, 0): Segment([3, EOS], [-0.3, -0.4]),
            (0, "path", 0, 1): Segment([4, 5], [-0.5, -0.6]),
            (0, "summary", 0, None): Segment([6, CS], [-0.7, -0.8]),
            (0, "main", 1, None): [7, EOS],  # a plain list: no log-probs
        }
    )
    (r,) = run(gen, EngineConfig(max_path_tokens=2), separator_ids=[])
    assert r.completion_ids == [1, P, PA, 3, CPA, PA, 4, 5, CPA, CP, S, 6, CS, 7, EOS]
    assert r.logprobs == [
        -0.1,
        -0.2,
        None,
        -0.3,
        None,
        None,
        -0.5,
        -0.6,
        None,
        None,
        None,
        -0.7,
        -0.8,
        None,
        None,
    ]
    assert r.forced_mask == [0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0]


def test_segments_cut_after_first_stop_and_to_max_new() -> None:
    gen = Scripted(
        {
            (0, "main", 0, None): Segment([1, P, 2, 3], [-1.0, -2.0, -3.0, -4.0]),
            (0, "path", 0, 1): [4, CPA, 5],
        }
    )
    (r,) = run(gen, EngineConfig(max_blocks=1))
    assert r.completion_ids[:9] == [1, P, PA, 9, CPA, PA, 4, CPA, CP]
    assert r.logprobs[:2] == [-1.0, -2.0]
    with pytest.raises(ValueError, match="log-probs"):
        run(Scripted({(0, "main", 0, None): Segment([1, 2], [-1.0])}))
    with pytest.raises(ValueError, match="segments"):
        run(lambda reqs: [])


def hashed_generator(requests: list[SegmentRequest]) -> list[list[int]]:
    """Deterministic in the context (not the rollout index): a pseudo-random continuation."""
    out = []
    for r in requests:
        h = hashlib.sha256(repr((r.context, r.kind, r.path_index)).encode()).digest()
        alphabet = {"main": [1, 2, 3, P, P, EOS], "path": [4, 5, CPA, EOS, P], "summary": [6, 7, CS, EOS]}[
            r.kind
        ]
        out.append([alphabet[b % len(alphabet)] for b in h[: 2 + h[0] % 6]])
    return out


def test_batching_does_not_change_results() -> None:
    prompts = [[50 + i, 60 + i * 3] for i in range(7)]
    cfg = EngineConfig(max_response_tokens=40, max_path_tokens=5, max_blocks=3)
    calls: list[int] = []

    def counting(requests: list[SegmentRequest]) -> list[list[int]]:
        calls.append(len(requests))
        kinds = {r.kind for r in requests}
        assert len(kinds) == 1  # one call per phase
        return hashed_generator(requests)

    batched = run(counting, cfg, prompts, separator_ids=[7])
    single = [run(hashed_generator, cfg, [p], separator_ids=[7])[0] for p in prompts]
    assert batched == single
    assert max(calls) > 1 and len(calls) <= 3 * (cfg.max_blocks + 1)
    assert any(r.num_blocks for r in batched)  # the scripts exercise blocks
    for r in batched:
        check_invariants(r, cfg)


def test_seeds_distinct_per_path_and_reproducible() -> None:
    gen = Scripted(default={"main": [1, P], "path": [9, CPA], "summary": [8, CS]})
    cfg = EngineConfig(seed=7, num_paths=3)
    run(gen, cfg, [PROMPT, PROMPT])
    seeds = [q.seed for q in gen.requests]
    assert all(isinstance(s, int) and 0 <= s < 2**63 for s in seeds)
    assert len(set(seeds)) == len(seeds)  # every request (rollout, kind, block, path) has its own seed
    gen2 = Scripted(default=gen.default)
    run(gen2, cfg, [PROMPT, PROMPT])
    assert [q.seed for q in gen2.requests] == seeds
    gen3 = Scripted(default=gen.default)
    run(gen3, EngineConfig(seed=8, num_paths=3), [PROMPT, PROMPT])
    assert [q.seed for q in gen3.requests] != seeds
    assert derive_seed(None, 0, "path", 0, 0) is None


def test_temperatures_and_top_p_per_kind() -> None:
    gen = Scripted({(0, "main", 0, None): [P]})
    run(gen, EngineConfig(temperature=0.7, path_temperature=1.3, top_p=0.9, max_blocks=1))
    assert [(q.kind, q.temperature, q.top_p) for q in gen.requests] == [
        ("main", 0.7, 0.9),
        ("path", 1.3, 0.9),
        ("path", 1.3, 0.9),
        ("summary", 0.7, 0.9),
    ]


# ------------------------------------------------------------------------------------- hypothesis invariant

TOKENS = st.sampled_from([1, 2, 3, EOS, P, CP, PA, CPA, S, CS, 7])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    num_paths=st.integers(2, 3),
    max_blocks=st.one_of(st.none(), st.integers(1, 4)),
    budget=st.integers(1, 60),
    max_path=st.integers(1, 8),
    stop_after=st.booleans(),
    separator=st.lists(st.sampled_from([7, 8]), max_size=2),
    n_prompts=st.integers(1, 3),
)
def test_find_blocks_invariant_on_random_scripts(
    data: st.DataObject,
    num_paths: int,
    max_blocks: int | None,
    budget: int,
    max_path: int,
    stop_after: bool,
    separator: list[int],
    n_prompts: int,
) -> None:
    cfg = EngineConfig(
        num_paths=num_paths,
        max_blocks=max_blocks,
        max_response_tokens=budget,
        max_path_tokens=max_path,
        stop_after_max_blocks=stop_after,
    )

    def segment(r: SegmentRequest) -> st.SearchStrategy[list[int]]:
        # Arbitrary token lists (cut by the engine), or a short body ending in one of the request's stop ids
        # (mostly the tag, the largest id here, so that rollouts open several blocks).
        stopped = st.builds(
            lambda body, stop: [*body, stop],
            st.lists(TOKENS, max_size=4),
            st.sampled_from([max(r.stop_ids)] * 3 + list(r.stop_ids)),
        )
        return st.one_of(st.lists(TOKENS, max_size=r.max_new_tokens + 2), stopped, stopped)

    def gen(requests: list[SegmentRequest]) -> list[list[int]]:
        return [data.draw(segment(r)) for r in requests]

    rollouts = run(gen, cfg, [[50, P, CP]] * n_prompts, separator_ids=separator)
    for r in rollouts:
        check_invariants(r, cfg)
        assert r.finish_reason in ("eos", "length", "max_blocks")
        if r.finish_reason == "eos":
            assert r.completion_ids[-1] == EOS
        if r.finish_reason == "max_blocks":
            assert r.num_blocks == max_blocks


# ------------------------------------------------------------------------------------------- HF back end


def _requests(
    contexts: list[list[int]],
    stops: list[tuple[int, ...]],
    max_new: list[int],
    temperature: float = 0.0,
    seed: int | None = None,
) -> list[SegmentRequest]:
    return [
        SegmentRequest(i, "main", 0, None, c, s, m, temperature, 1.0, seed)
        for i, (c, s, m) in enumerate(zip(contexts, stops, max_new, strict=True))
    ]


@pytest.fixture(scope="module")
def hf() -> tuple[Any, Any]:
    from rlcore.models import load_model

    return load_model("tiny:qwen2")


def test_hf_generator_honours_stop_sets_and_max_new(hf: tuple[Any, Any]) -> None:
    model, tok = hf
    gen = HFSegmentGenerator(model, tok, batch_size=2)
    contexts = [tok.encode("12 + 7 = "), tok.encode("a longer prompt, with words: "), tok.encode("3")]
    unused = 511
    free = gen(_requests(contexts, [(unused,)] * 3, [12, 12, 12]))  # greedy, nothing stops them
    assert all(len(s.token_ids) == 12 and len(s.logprobs) == 12 for s in free)
    assert all(lp <= 0 for s in free for lp in s.logprobs)
    # For each context pick a stop id whose first occurrence is at position 3 (or the last token) and give each
    # request its own stop set: every request stops right after the first stop id, within one call.
    stops, expect = [], []
    for s in free:
        j = next((j for j in range(3, 12) if s.token_ids[j] not in s.token_ids[:j]), None)
        if j is None:
            stops.append((unused,))
            expect.append(s.token_ids[:12])
        else:
            stops.append((s.token_ids[j], unused))
            expect.append(s.token_ids[: j + 1])
    assert any(len(e) < 12 for e in expect)
    stopped = gen(_requests(contexts, stops, [12, 12, 12]))
    assert [s.token_ids for s in stopped] == expect
    for s, f in zip(stopped, free, strict=True):
        assert s.logprobs == pytest.approx(f.logprobs[: len(s.token_ids)], abs=1e-4)
    # Different max_new_tokens in one batch.
    short = gen(_requests(contexts, [(unused,)] * 3, [1, 5, 3]))
    assert [s.token_ids for s in short] == [f.token_ids[:m] for f, m in zip(free, [1, 5, 3], strict=True)]
    assert [len(s.logprobs) for s in short] == [1, 5, 3]
    # An empty stop set: only max_new_tokens ends the segment.
    (unstopped,) = gen(_requests(contexts[:1], [()], [7]))
    assert unstopped.token_ids == free[0].token_ids[:7]


def test_hf_generator_batch_equals_single_and_logprobs_match_forward(hf: tuple[Any, Any]) -> None:
    import torch

    model, tok = hf
    gen = HFSegmentGenerator(model, tok, batch_size=16)
    contexts = [tok.encode("x = 4"), tok.encode("the quick brown fox jumps over"), tok.encode("9 9")]
    reqs = _requests(contexts, [(511,)] * 3, [6, 6, 6])
    batched = gen(reqs)
    for req, seg in zip(reqs, batched, strict=True):
        (alone,) = gen([req])
        assert alone.token_ids == seg.token_ids
        assert alone.logprobs == pytest.approx(seg.logprobs, abs=1e-4)
    # Sampled with temperature 0.5: log-probs of the processed (tempered) distribution.
    (sampled,) = gen(_requests(contexts[:1], [(511,)], [5], temperature=0.5, seed=3))
    ids = torch.tensor([contexts[0] + sampled.token_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(contexts[0]) - 1 : -1].float()
    expected = (logits / 0.5).log_softmax(-1).gather(1, torch.tensor(sampled.token_ids)[:, None]).squeeze(1)
    assert sampled.logprobs == pytest.approx(expected.tolist(), abs=1e-4)
    # Seeded sampling is reproducible and leaves the global random state alone.
    state = torch.random.get_rng_state()
    (again,) = gen(_requests(contexts[:1], [(511,)], [5], temperature=0.5, seed=3))
    assert again.token_ids == sampled.token_ids
    assert torch.equal(state, torch.random.get_rng_state())


def test_hf_generator_runs_the_engine(hf: tuple[Any, Any]) -> None:
    model, tok = hf
    # Tags are ids the tiny model can emit; greedy decoding makes the run deterministic.
    tags = TagIds(*range(300, 306))
    cfg = EngineConfig(
        max_response_tokens=24, max_path_tokens=6, temperature=0.0, path_temperature=0.0, seed=1
    )
    prompts = [tok.encode("1 + 1 = "), tok.encode("solve: ")]
    gen = HFSegmentGenerator(model, tok)
    eos = [tok.eos_token_id]
    rollouts = run_parallel_rollouts(prompts, gen, tags, cfg, eos_ids=eos, separator_ids=tok.encode("\n"))

    # Force a block by scripting the main chain to open one, then let the model write paths and summary.
    def forced_main(requests: list[SegmentRequest]) -> list[Any]:
        return [
            Segment([5, tags.parallel_open], [-1.0, -1.0]) if r.kind == "main" and r.block_index == 0 else seg
            for r, seg in zip(requests, gen(requests), strict=True)
        ]

    rollouts += run_parallel_rollouts(prompts, forced_main, tags, cfg, eos_ids=eos)
    for r in rollouts:
        assert find_blocks(r.completion_ids, tags, max_blocks=cfg.max_blocks) == r.blocks
        assert len(r.completion_ids) <= 24
        assert all((lp is None) == bool(f) for lp, f in zip(r.logprobs, r.forced_mask, strict=True))
    assert all(r.num_blocks >= 1 for r in rollouts[2:])


# ------------------------------------------------------------------------------------------ vLLM back end


class FakeSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class FakeLLM:
    """Shaped like vllm.LLM.generate: RequestOutput-like objects with ``outputs[0].token_ids`` and per-step
    ``logprobs`` dicts {token_id: Logprob}. Emits ``script`` (ignoring stops, to check the cut)."""

    def __init__(self, script: list[list[int]]) -> None:
        self.script = script
        self.seen: list[tuple[list[Any], list[Any]]] = []

    def generate(self, prompts: list[Any], sampling_params: list[Any], use_tqdm: bool = True) -> list[Any]:
        self.seen.append((prompts, sampling_params))
        outs = []
        for ids in self.script[: len(prompts)]:
            logprobs = [{t: SimpleNamespace(logprob=-0.5 * (k + 1), rank=1)} for k, t in enumerate(ids)]
            outs.append(
                SimpleNamespace(outputs=[SimpleNamespace(token_ids=tuple(ids), logprobs=logprobs, text="")])
            )
        return outs


def test_vllm_generator_with_fake_llm() -> None:
    llm = FakeLLM([[1, 2, 9, 3], [4, 5, 6, 7, 8]])
    gen = VLLMSegmentGenerator(llm, sampling_params_cls=FakeSamplingParams)
    reqs = [
        SegmentRequest(0, "path", 1, 0, [10, 11], (9, 0), 10, 1.0, 0.95, 123),
        SegmentRequest(1, "main", 0, None, [12], (P,), 3, 0.0, 1.0, None),
    ]
    segs = gen(reqs)
    assert segs[0] == Segment([1, 2, 9], [-0.5, -1.0, -1.5])
    assert segs[1] == Segment([4, 5, 6], [-0.5, -1.0, -1.5])
    prompts, params = llm.seen[0]
    assert prompts == [{"prompt_token_ids": [10, 11]}, {"prompt_token_ids": [12]}]
    assert params[0].kwargs == {
        "n": 1,
        "temperature": 1.0,
        "top_p": 0.95,
        "max_tokens": 10,
        "stop_token_ids": [9, 0],
        "seed": 123,
        "logprobs": 0,
    }
    assert params[1].kwargs["seed"] is None and params[1].kwargs["temperature"] == 0.0
    assert gen([]) == []


def test_vllm_generator_drives_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(SamplingParams=FakeSamplingParams))

    class ScriptLLM:
        def generate(
            self, prompts: list[Any], sampling_params: list[Any], use_tqdm: bool = True
        ) -> list[Any]:
            outs = []
            for _p, sp in zip(prompts, sampling_params, strict=True):
                stops = sp.kwargs["stop_token_ids"]
                ids = [1, P] if P in stops else ([3, EOS] if CPA in stops else [6, CS])
                lps = [{t: SimpleNamespace(logprob=-1.0)} for t in ids]
                outs.append(SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, logprobs=lps)]))
            return outs

    cfg = EngineConfig(max_blocks=2, seed=5)
    rollouts = run(
        VLLMSegmentGenerator(ScriptLLM()), cfg, [PROMPT, PROMPT]
    )  # vllm.SamplingParams via sys.modules
    for r in rollouts:
        assert r.finish_reason == "max_blocks" and r.num_blocks == 2
        check_invariants(r, cfg)
        assert r.completion_ids[:11] == [1, P, PA, 3, CPA, PA, 3, CPA, CP, S, 6]
