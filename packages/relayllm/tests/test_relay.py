"""relayllm.relay: the scripted relay state machine, HFRelayModel's KV reuse on tiny:qwen2, the generator
backends, and one GRPO step with the relay rollout (spec §2.2, §8, §10)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import torch

from relayllm import relay as relay_module
from relayllm.config import RelayConfig
from relayllm.prompts import CALL_OPEN, build_messages, format_call, strip_calls
from relayllm.relay import (
    Continuation,
    GeneratorRelayModel,
    HFRelayModel,
    RelayModel,
    RelayResult,
    Segment,
    as_relay_model,
    load_relay_model,
    make_relay_rollout,
    relay_decode,
    relay_generate,
)
from rlcore.models import load_model
from rlcore.rollout import HFGenerator, Sample
from rlcore.testing import free_port

# ------------------------------------------------------------------------------------- scripted fakes


def C(text: str, ids: list[int], finish: str = "length") -> Continuation:
    return Continuation(text, ids, finish)


class Scripted:
    """A fake relay model that returns its scripted continuations in order and records every call."""

    def __init__(self, *replies: Continuation, name: str = "m", fingerprint: str | None = "shared", **extra):
        self.replies = list(replies)
        self.calls: list[dict] = []
        self.name = name
        self.tokenizer_fingerprint = fingerprint
        for key, value in extra.items():
            setattr(self, key, value)

    def continue_text(self, prompt, response, max_new_tokens, stop, response_ids=None):
        self.calls.append(
            {
                "prompt": prompt,
                "response": response,
                "max_new_tokens": max_new_tokens,
                "stop": list(stop),
                "response_ids": response_ids,
            }
        )
        return self.replies.pop(0)

    def format_prompt(self, messages):
        return f"[{self.name}]{messages[-1]['content']}"


def test_scripted_relay_worked_example():
    slm = Scripted(C("Step 1.<call>5</call>", [1, 2, 3], "stop"), C("So \\boxed{3}", [4, 5], "stop"))
    llm = Scripted(C("x=3.", [7, 8], "length"))
    result = relay_decode(slm, llm, "Q")
    assert isinstance(slm, RelayModel)
    assert llm.calls == [
        {"prompt": "Q", "response": "Step 1.", "max_new_tokens": 5, "stop": [], "response_ids": None}
    ]
    assert slm.calls[0] == {
        "prompt": "Q",
        "response": "",
        "max_new_tokens": 8192,
        "stop": ["</call>"],
        "response_ids": [],
    }
    # The SLM resumes after the LLM's span, its ids spliced in (shared tokenizer: tokens handoff).
    assert slm.calls[1]["response"] == "Step 1.<call>5</call>x=3."
    assert slm.calls[1]["response_ids"] == [1, 2, 3, 7, 8]
    assert slm.calls[1]["max_new_tokens"] == 8192 - 5
    assert result.text == "Step 1.<call>5</call>x=3.So \\boxed{3}"
    assert result.call_ratio == pytest.approx(2 / 7)
    assert result.finish == "eos"
    assert result.turns == 2
    assert result.completion_ids == [1, 2, 3, 7, 8, 4, 5]
    assert result.llm_token_mask == [0, 0, 0, 1, 1, 0, 0]
    assert (result.slm_tokens, result.llm_tokens, result.total_tokens, result.num_calls) == (5, 2, 7, 1)
    llm_segment = result.segments[1]
    assert (llm_segment.source, llm_segment.requested, llm_segment.granted) == ("llm", 5, 5)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["call_ratio"] == pytest.approx(2 / 7)
    assert [s["num_tokens"] for s in data["segments"]] == [3, 2, 2]


def test_llm_eos_ends_the_answer():
    slm = Scripted(C("Step 1.<call>5</call>", [1, 2, 3], "stop"))
    llm = Scripted(C("x=3.", [7, 8, 0], "stop"))
    result = relay_decode(slm, llm, "Q")
    assert result.finish == "llm_eos"
    assert len(slm.calls) == 1 and result.turns == 1
    assert result.completion_ids == [1, 2, 3, 7, 8, 0]


def test_call_is_granted_the_remaining_budget():
    slm = Scripted(C("a<call>500</call>", list(range(8000)), "stop"))
    llm = Scripted(C("b" * 192, list(range(192)), "length"))
    result = relay_decode(slm, llm, "Q", RelayConfig(max_tokens=8192))
    assert llm.calls[0]["max_new_tokens"] == 192
    segment = result.segments[1]
    assert (segment.requested, segment.granted) == (500, 192)
    assert result.finish == "budget"
    assert result.total_tokens == 8192


def test_budget_after_a_length_limited_slm_turn():
    slm = Scripted(C("abcde", [1, 2, 3, 4, 5], "length"))
    result = relay_decode(slm, Scripted(), "Q", RelayConfig(max_tokens=5))
    assert slm.calls[0]["max_new_tokens"] == 5
    assert result.finish == "budget" and result.turns == 1


def test_max_turns_leaves_the_last_command_unexecuted():
    slm = Scripted(C("a<call>2</call>", [1, 2], "stop"), C("b<call>3</call>", [3, 4], "stop"))
    llm = Scripted(C("xy", [7, 8]))
    result = relay_decode(slm, llm, "Q", RelayConfig(max_turns=2))
    assert result.finish == "max_turns"
    assert result.turns == 2 and result.num_calls == 1 and len(llm.calls) == 1
    assert result.text.endswith("b<call>3</call>")


def test_max_turns_one_makes_no_llm_call():
    slm = Scripted(C("a<call>2</call>", [1, 2], "stop"))
    result = relay_decode(slm, Scripted(), "Q", RelayConfig(max_turns=1))
    assert (result.finish, result.num_calls) == ("max_turns", 0)


def test_malformed_command_ends_the_answer():
    slm = Scripted(C("a<call>x</call>", [1, 2], "stop"))
    result = relay_decode(slm, Scripted(), "Q")
    assert result.finish == "malformed" and result.num_calls == 0


def test_call_zero_and_teacher_free_never_execute():
    slm = Scripted(C("a<call>0</call>", [1], "stop"), C("b", [2], "stop"))
    result = relay_decode(slm, Scripted(), "Q")
    assert (result.finish, result.num_calls, result.turns) == ("eos", 0, 2)

    slm = Scripted(C("a<call>4</call>", [1], "stop"), C("b", [2], "stop"))
    result = relay_decode(slm, None, "Q")
    assert (result.finish, result.num_calls, result.text) == ("eos", 0, "a<call>4</call>b")
    assert slm.calls[1]["response"] == "a<call>4</call>"


def test_empty_slm_output_with_stop_is_eos():
    result = relay_decode(Scripted(C("", [], "stop")), Scripted(), "Q")
    assert (result.finish, result.call_ratio, result.total_tokens) == ("eos", 0.0, 0)


def test_length_limited_turn_continues_without_command():
    slm = Scripted(C("ab", [1, 2], "length"), C("c", [3], "stop"))
    result = relay_decode(slm, Scripted(), "Q", RelayConfig(max_tokens=10))
    assert result.finish == "eos" and result.turns == 2
    assert slm.calls[1]["max_new_tokens"] == 8 and slm.calls[1]["response_ids"] == [1, 2]


def test_messages_go_through_each_model_template_and_llm_view():
    slm = Scripted(
        C("A<call>3</call>", [1], "stop"), C("B<call>2</call>", [2], "stop"), C("end", [3], "stop"), name="s"
    )
    llm = Scripted(C("xyz", [7]), C("uv", [8]), name="l")
    relay_decode(slm, llm, build_messages("q"), RelayConfig(llm_view="space"))
    assert slm.calls[0]["prompt"].startswith("[s]q\n")
    assert llm.calls[0]["prompt"].startswith("[l]q\n")
    assert [c["response"] for c in llm.calls] == ["A", "A xyzB"]

    slm = Scripted(
        C("A<call>3</call>", [1], "stop"), C("B<call>2</call>", [2], "stop"), C("end", [3], "stop")
    )
    llm = Scripted(C("xyz", [7]), C("uv", [8]))
    relay_decode(slm, llm, "Q", RelayConfig(llm_view="remove"))
    assert [c["response"] for c in llm.calls] == ["A", "AxyzB"]


def _char_encode(text: str) -> list[int]:
    return [100 + ord(ch) for ch in text]


def test_text_handoff_reencodes_and_appends_eos_when_the_llm_stopped():
    slm = Scripted(
        C("a<call>3</call>", [1, 2], "stop"),
        C("b<call>3</call>", [3], "stop"),
        fingerprint="slm",
        encode=_char_encode,
        eos_token_id=99,
    )
    llm = Scripted(C("xy", [555]), C("z", [556], "stop"), fingerprint="llm")
    result = relay_decode(slm, llm, "Q")
    assert [s.token_ids for s in result.segments if s.source == "llm"] == [[220, 221], [222, 99]]
    assert slm.calls[1]["response_ids"] == [1, 2, 220, 221]
    assert result.finish == "llm_eos"

    # An unknown fingerprint on either side also means a text handoff; "tokens" forces the splice.
    slm = Scripted(C("a<call>3</call>", [1, 2], "stop"), fingerprint=None, encode=_char_encode)
    relay_decode(slm, Scripted(C("xy", [555], "stop"), fingerprint=None), "Q")
    slm = Scripted(C("a<call>3</call>", [1, 2], "stop"), fingerprint="slm")
    result = relay_decode(slm, Scripted(C("xy", [555], "stop")), "Q", RelayConfig(handoff="tokens"))
    assert result.completion_ids == [1, 2, 555]


def test_text_handoff_without_encode_is_a_type_error():
    slm = Scripted(C("a<call>3</call>", [1, 2], "stop"), fingerprint="slm")
    with pytest.raises(TypeError, match="encode"):
        relay_decode(slm, Scripted(C("xy", [555]), fingerprint="llm"), "Q")


def test_backend_errors_propagate():
    class Broken(Scripted):
        def continue_text(self, *args, **kwargs):
            raise RuntimeError("backend down")

    with pytest.raises(RuntimeError, match="backend down"):
        relay_decode(Scripted(C("a<call>3</call>", [1], "stop")), Broken(), "Q")


def test_result_logprobs_put_none_at_llm_positions():
    segments = [
        Segment("slm", "a", [1, 2], logprobs=[-0.1, -0.2]),
        Segment("llm", "b", [3], requested=1, granted=1),
        Segment("slm", "c", [4], logprobs=[-0.3]),
    ]
    assert RelayResult("Q", segments, "eos", 2).logprobs == [-0.1, -0.2, None, -0.3]
    segments[2].logprobs = None
    assert RelayResult("Q", segments, "eos", 2).logprobs is None
    assert RelayResult("Q", [], "eos", 1).call_ratio == 0.0


class Rule:
    """A fake non-stateful model answering by rule, counting its continue_batch calls."""

    stateful = False
    tokenizer_fingerprint = "shared"

    def __init__(self, reply):
        self.reply = reply
        self.batches: list[int] = []

    def continue_text(self, prompt, response, max_new_tokens, stop, response_ids=None):
        return self.reply(prompt, response)

    def continue_batch(self, requests):
        self.batches.append(len(requests))
        return [self.reply(p, r) for p, r, _, _ in requests]


def _slm_rule(prompt: str, response: str) -> Continuation:
    calls = int(prompt[1:])  # prompt "p3" asks for 3 calls, so relays finish on different turns
    if response.count("<call>") < calls:
        return C(f"{prompt}<call>2</call>", [1], "stop")
    return C("done", [2], "stop")


def test_relay_generate_keeps_order_on_both_paths():
    prompts = ["p2", "p0", "p3", "p1"]
    batch_slm = Rule(_slm_rule)
    batch_llm = Rule(lambda prompt, response: C("L" + prompt, [9]))
    batched = relay_generate(batch_slm, batch_llm, prompts)
    assert [r.prompt for r in batched] == prompts
    assert [r.num_calls for r in batched] == [2, 0, 3, 1]
    assert batched[2].text == "p3<call>2</call>Lp3p3<call>2</call>Lp3p3<call>2</call>Lp3done"
    # Turn-synchronous: one batch per model per turn, shrinking as relays finish.
    assert batch_slm.batches == [4, 3, 2, 1]
    assert batch_llm.batches == [3, 2, 1]

    # A stateful model makes the prompts run one after another through relay_decode; same answers.
    stateful_slm = Rule(_slm_rule)
    stateful_slm.stateful = True
    sequential = relay_generate(stateful_slm, Rule(batch_llm.reply), prompts, progress=True)
    assert [r.to_dict() for r in sequential] == [r.to_dict() for r in batched]
    assert stateful_slm.batches == []


# ------------------------------------------------------------------------------ factories and servers


class FakeGenerator:
    """An rlcore Generator that echoes and records its params."""

    def __init__(self, token_ids=(5, 6)):
        self.token_ids = list(token_ids)
        self.calls: list[tuple[list[str], object]] = []

    def generate(self, prompts, params=None, n=1):
        self.calls.append((list(prompts), params))
        return [
            [Sample(f"<{p}>", list(self.token_ids), [-1.0] * len(self.token_ids), "length")] for p in prompts
        ]


def test_generator_relay_model_sends_the_spec_params(tiny_lm):
    gen = FakeGenerator()
    model = GeneratorRelayModel(gen, temperature=0.5, top_p=0.9, seed=3)
    assert model.stateful is False and model.tokenizer_fingerprint is None
    c = model.continue_text("P", "R", max_new_tokens=4, stop=["</call>"])
    assert (c.text, c.token_ids, c.finish_reason, c.logprobs) == ("<PR>", [5, 6], "length", [-1.0, -1.0])
    prompts, params = gen.calls[0]
    assert prompts == ["PR"]
    assert (params.max_new_tokens, params.temperature, params.top_p, params.seed) == (4, 0.5, 0.9, 3)
    assert params.stop == ("</call>",) and params.include_stop is True
    assert model.continue_text("P", "R", max_new_tokens=0, stop=[]) == Continuation("", [], "length", [])
    with pytest.raises(TypeError, match="tokenizer"):
        model.encode("x")

    # Requests sharing limit and stops share one generate call; the order of the answers is kept.
    gen = FakeGenerator(token_ids=())
    _, tokenizer = tiny_lm
    model = GeneratorRelayModel(gen, tokenizer)
    out = model.continue_batch(
        [("a", "", 4, ["x"]), ("b", "", 3, ["x"]), ("c", "", 4, ["x"]), ("d", "", 0, [])]
    )
    assert [c.text for c in out] == ["<a>", "<b>", "<c>", ""]
    assert [len(prompts) for prompts, _ in gen.calls] == [2, 1]
    assert out[0].token_ids == tokenizer.encode("<a>", add_special_tokens=False)  # no ids from the backend
    assert model.eos_token_id == tokenizer.eos_token_id
    assert model.format_prompt([{"role": "user", "content": "hi"}]).endswith("<|im_start|>assistant\n")


def test_as_relay_model_normalises(tiny_lm):
    fake = Scripted()
    assert as_relay_model(fake) is fake
    assert isinstance(as_relay_model(tiny_lm), HFRelayModel)
    hf = as_relay_model(HFGenerator(*tiny_lm))
    assert isinstance(hf, HFRelayModel) and hf.model is tiny_lm[0]
    assert isinstance(as_relay_model(FakeGenerator()), GeneratorRelayModel)
    for junk in ("tiny:qwen2", 3, None, (1, 2)):
        with pytest.raises(TypeError):
            as_relay_model(junk)


def test_load_relay_model_specs():
    with pytest.raises(ValueError, match="unknown model scheme"):
        load_relay_model("foo:bar")
    with pytest.raises(ValueError, match="unknown model scheme"):
        load_relay_model("http://localhost:8000/v1")
    for spec in ("tiny:qwen2", "hf:tiny:qwen2"):
        assert isinstance(load_relay_model(spec, temperature=0.7), HFRelayModel)


def test_unreachable_openai_server_is_a_connection_error_naming_the_url():
    port = free_port()  # closed again: nothing listens there
    with pytest.raises(ConnectionError, match=rf"http://127\.0\.0\.1:{port}/v1/models"):
        load_relay_model(f"openai:http://127.0.0.1:{port}/v1#model")


@contextmanager
def _completions_server() -> Iterator[tuple[str, list[dict]]]:
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, payload):
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._reply({"data": [{"id": "teacher"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            self._reply({"choices": [{"index": 0, "text": " x=3.", "finish_reason": "length"}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_openai_teacher_through_a_local_server():
    with _completions_server() as (url, bodies):
        llm = load_relay_model(f"openai:{url}#teacher", temperature=0.0)
        slm = Scripted(
            C("Step 1.<call>5</call>", [1, 2], "stop"), C("done", [3], "stop"), encode=_char_encode
        )
        result = relay_decode(slm, llm, "Q")
    assert bodies[0]["prompt"] == "QStep 1." and bodies[0]["max_tokens"] == 5
    assert result.segments[1].token_ids == _char_encode(" x=3.")  # no tokenizer: text handoff
    assert result.finish == "eos"


# ----------------------------------------------------------------------------------- HFRelayModel


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def lively(seed: int = 0):
    """tiny:qwen2 with larger random weights: the stock init repeats one token forever under greedy
    decoding, which would make every comparison below trivially true."""
    model, tokenizer = load_model(f"tiny:qwen2@{seed}")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model, tokenizer


class Script:
    """Test-only logits processor: suppresses ``suppress`` ids and, whenever the answer (the tokens after the
    first ``prompt_len``) reaches the next position in ``at``, pushes the tokens of ``call_ids`` one by one
    with a large bonus (a bonus rather than a mask, so that a ban still wins)."""

    def __init__(self, prompt_len: int = 0, call_ids=(), at=(), suppress=()):
        self.prompt_len, self.call_ids, self.at = prompt_len, list(call_ids), list(at)
        self.suppress = list(suppress)
        self.started = self.offset = 0

    def __call__(self, input_ids, scores):
        scores = scores.clone()
        scores[..., self.suppress] = -float("inf")
        position = input_ids.shape[1] - self.prompt_len
        if self.offset == 0 and self.started < len(self.at) and position >= self.at[self.started]:
            self.started += 1
            self.offset = 1
        elif self.offset:
            self.offset += 1
        if self.offset:
            scores[..., self.call_ids[self.offset - 1]] += 1e4
            self.offset %= len(self.call_ids)
        return scores


PROMPT_MESSAGES = build_messages("What is 2 + 3?")


@pytest.fixture(scope="module")
def slm_pair():
    return lively(0)


@pytest.fixture(scope="module")
def llm_pair():
    return lively(1)


def test_greedy_equals_generate(slm_pair):
    model, tokenizer = slm_pair
    relay_model = HFRelayModel(model, tokenizer)
    prompt = relay_model.format_prompt(PROMPT_MESSAGES)
    c = relay_model.continue_text(prompt, "", max_new_tokens=40, stop=[])
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=40, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    reference = out[0, enc["input_ids"].shape[1] :].tolist()
    assert c.token_ids == reference
    assert len(set(reference)) > 10
    assert c.text == tokenizer.decode(reference, skip_special_tokens=True)
    assert len(c.logprobs) == len(c.token_ids) and all(lp <= 0 for lp in c.logprobs)
    P = len(relay_model.encode(prompt))
    assert relay_model.stats == {
        "prefill_tokens": P,
        "decode_tokens": len(reference) - 1,
        "forward_calls": len(reference),
        "cache_resets": 0,
    }
    assert relay_model.cached_ids == relay_model.encode(prompt) + c.token_ids[:-1]
    relay_model.reset_stats()
    assert set(relay_model.stats.values()) == {0}


def test_continuing_own_text_reuses_the_cache_and_matches_a_fresh_model(slm_pair):
    model, tokenizer = slm_pair
    reused = HFRelayModel(model, tokenizer)
    prompt = reused.format_prompt(PROMPT_MESSAGES)
    first = reused.continue_text(prompt, "", max_new_tokens=10, stop=[])
    # Continue from the first 6 tokens plus 2 foreign ones: the cache is cropped to P + 6.
    response_ids = [*first.token_ids[:6], 300, 301]
    second = reused.continue_text(prompt, "ignored", max_new_tokens=8, stop=[], response_ids=response_ids)
    P = len(reused.encode(prompt))
    assert reused.stats["prefill_tokens"] == P + 2
    assert reused.stats["cache_resets"] == 0
    fresh = HFRelayModel(model, tokenizer, reuse_cache=False)
    recomputed = fresh.continue_text(prompt, "x", max_new_tokens=8, stop=[], response_ids=response_ids)
    assert (recomputed.token_ids, recomputed.text) == (second.token_ids, second.text)
    assert recomputed.logprobs == pytest.approx(second.logprobs, abs=1e-4)

    # The same target twice: one token is always re-fed to get the next logits.
    reused.reset_stats()
    reused.continue_text(prompt, "", max_new_tokens=1, stop=[], response_ids=response_ids)
    assert reused.stats["prefill_tokens"] == 1
    # A different prompt shares nothing: the cache is thrown away.
    reused.continue_text("Completely different.", "", max_new_tokens=2, stop=[])
    assert reused.stats["cache_resets"] == 1
    naive = HFRelayModel(model, tokenizer, reuse_cache=False)
    for _ in range(3):
        naive.continue_text(prompt, "", max_new_tokens=2, stop=[])
    assert naive.stats["cache_resets"] == 2 and naive.stats["prefill_tokens"] == 3 * P


def test_eos_kept_in_ids_not_text_and_stop_strings_keep_the_token(slm_pair):
    model, tokenizer = slm_pair
    eos = tokenizer.eos_token_id
    m = HFRelayModel(model, tokenizer, logits_processor=Script(0, [eos], at=[0]))
    # Script pushes EOS at the very first step of the call.
    c = m.continue_text("Hello", "", max_new_tokens=5, stop=[])
    assert (c.token_ids, c.text, c.finish_reason) == ([eos], "", "stop")

    free = HFRelayModel(model, tokenizer, logits_processor=Script(suppress=[eos]))
    reference = free.continue_text("Hello", "", max_new_tokens=30, stop=[])
    assert reference.finish_reason == "length"

    # Stop on the last letter of a token past the 8th: generation ends with the token that first completes it.
    def text(ids):
        return tokenizer.decode(ids, skip_special_tokens=True)

    piece = next(
        text([t])[-1]
        for t in reference.token_ids[8:]
        if text([t])[-1:].isascii() and text([t])[-1:].isalpha()
    )
    cut = next(i for i in range(30) if piece in text(reference.token_ids[: i + 1]))
    stopped = HFRelayModel(model, tokenizer, logits_processor=Script(suppress=[eos]))
    c = stopped.continue_text("Hello", "", max_new_tokens=30, stop=[piece])
    assert c.finish_reason == "stop"
    assert c.token_ids == reference.token_ids[: cut + 1]
    assert c.text == text(c.token_ids) and piece in c.text


def test_max_new_tokens_zero_runs_no_forward(slm_pair):
    m = HFRelayModel(*slm_pair)
    for limit in (0, -3):
        assert m.continue_text("Hello", "", max_new_tokens=limit, stop=[]) == Continuation(
            "", [], "length", []
        )
    assert m.stats["forward_calls"] == 0


def test_sampling_is_reproducible_with_a_seed(slm_pair):
    def sample(seed, **kwargs):
        m = HFRelayModel(*slm_pair, temperature=1.0, seed=seed, **kwargs)
        return [m.continue_text("Hello", "", max_new_tokens=20, stop=[]) for _ in range(2)]

    first, again, other = sample(7), sample(7), sample(8)
    assert first == again
    assert first[0].token_ids != first[1].token_ids  # the generator advances between calls
    assert first[0].token_ids != other[0].token_ids
    assert all(math.isfinite(lp) and lp <= 0 for c in first for lp in c.logprobs)
    # A tiny top-p leaves only the most likely token: sampling becomes greedy, with log-prob 0.
    narrow = sample(7, top_p=1e-6)[0]
    greedy = HFRelayModel(*slm_pair).continue_text("Hello", "", max_new_tokens=20, stop=[])
    assert narrow.token_ids == greedy.token_ids and set(narrow.logprobs) == {0.0}


def test_banned_strings_are_never_generated(slm_pair):
    model, tokenizer = slm_pair
    plain = HFRelayModel(model, tokenizer)
    call_ids = plain.encode(format_call(3))
    prompt_len = len(plain.encode("Hello"))

    def run(banned):
        script = Script(prompt_len, call_ids, at=[2, 14], suppress=[tokenizer.eos_token_id])
        m = HFRelayModel(model, tokenizer, banned_strings=banned, logits_processor=script)
        return m.continue_text("Hello", "", max_new_tokens=30, stop=[])

    assert run(()).text.count(CALL_OPEN) == 2  # the script does write commands
    banned = run((CALL_OPEN,))
    assert CALL_OPEN not in banned.text and "<call" in banned.text


def test_fingerprint_encode_and_template(slm_pair):
    a, b = HFRelayModel(*load_model("tiny:qwen2")), HFRelayModel(*slm_pair)
    assert a.tokenizer_fingerprint == b.tokenizer_fingerprint and len(a.tokenizer_fingerprint) == 64
    assert a.eos_token_id == a.tokenizer.eos_token_id
    assert a.encode("<|im_end|>") == [a.eos_token_id]
    assert a.format_prompt([{"role": "user", "content": "hi"}]) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def _forced_relay(slm_pair, llm_pair, reuse_cache: bool):
    slm_model, tokenizer = slm_pair
    eos = tokenizer.eos_token_id
    probe = HFRelayModel(slm_model, tokenizer)
    prompt = probe.format_prompt(PROMPT_MESSAGES)
    script = Script(len(probe.encode(prompt)), probe.encode(format_call(3)), at=[5, 20], suppress=[eos])
    slm = HFRelayModel(slm_model, tokenizer, reuse_cache=reuse_cache, logits_processor=script)
    llm = HFRelayModel(*llm_pair, reuse_cache=reuse_cache, logits_processor=Script(suppress=[eos]))
    result = relay_decode(slm, llm, PROMPT_MESSAGES, RelayConfig(max_tokens=40, max_turns=10))
    return result, slm, llm, len(probe.encode(prompt))


def test_forced_calls_prefill_exactly_p_plus_spans(slm_pair, llm_pair):
    """The SLM, forced by a scripted logits processor to write <call>3</call> at answer positions 5 and 20,
    prefills the prompt once and then only the last token of each command plus the LLM's span."""
    result, slm, llm, P = _forced_relay(slm_pair, llm_pair, reuse_cache=True)
    assert result.num_calls == 2 and result.finish == "budget"
    assert result.segments[-1].source == "slm"
    spans = [s.num_tokens for s in result.segments if s.source == "llm"]
    assert spans == [3, 3]
    assert slm.stats["prefill_tokens"] == P + sum(m + 1 for m in spans)
    assert slm.stats["cache_resets"] == 0

    naive, naive_slm, naive_llm, _ = _forced_relay(slm_pair, llm_pair, reuse_cache=False)
    assert naive.text == result.text and naive.completion_ids == result.completion_ids
    # The naive relay re-reads the whole context at every turn.
    slm_turns = [s for s in result.segments if s.source == "slm"]
    before = 0
    expected = 0
    for segment in result.segments:
        if segment.source == "slm":
            expected += P + before
        before += segment.num_tokens
    assert len(slm_turns) == 3 and naive_slm.stats["prefill_tokens"] == expected
    assert naive_llm.stats["prefill_tokens"] > llm.stats["prefill_tokens"]


def test_generator_relay_model_over_hf_generator(slm_pair):
    model, tokenizer = slm_pair
    hf = HFRelayModel(model, tokenizer)
    over = GeneratorRelayModel(HFGenerator(model, tokenizer), tokenizer)
    assert over.tokenizer_fingerprint == hf.tokenizer_fingerprint
    prompts = ["Q: 1 + 1 =", "Q: 7 + 2 ="]
    assert len({len(hf.encode(p)) for p in prompts}) == 1  # same length: no padding in the batch
    expected = [hf.continue_text(p, "", max_new_tokens=12, stop=[]) for p in prompts]
    batched = over.continue_batch([(p, "", 12, []) for p in prompts])
    assert [c.token_ids for c in batched] == [c.token_ids for c in expected]
    assert [c.text for c in batched] == [c.text for c in expected]
    single = over.continue_text(prompts[1], "", max_new_tokens=12, stop=[])
    assert single.token_ids == expected[1].token_ids


def test_relay_generate_with_tiny_models_keeps_order(slm_pair, llm_pair):
    config = RelayConfig(max_tokens=12, max_turns=3)
    prompts = ["Q: 1 + 1 =", "Q: 7 + 2 =", "Q: 1 + 1 ="]
    hf = HFRelayModel(*slm_pair)
    stateful = relay_generate(hf, HFRelayModel(*llm_pair), prompts, config)
    singles = [relay_decode(HFRelayModel(*slm_pair), HFRelayModel(*llm_pair), p, config) for p in prompts]
    assert [r.to_dict() for r in stateful] == [r.to_dict() for r in singles]
    assert stateful[0].text != stateful[1].text

    over = GeneratorRelayModel(HFGenerator(*slm_pair), slm_pair[1])
    teacher = GeneratorRelayModel(HFGenerator(*llm_pair), llm_pair[1])
    batched = relay_generate(over, teacher, prompts, config)
    assert [r.prompt for r in batched] == prompts
    assert [r.text for r in batched] == [r.text for r in singles]


def test_rollout_func_with_a_stand_in_trainer(slm_pair, llm_pair, monkeypatch):
    """The rollout's output, without TRL: one completion per prompt entry, masks and metrics aligned."""
    model, tokenizer = slm_pair
    _force_calls(monkeypatch)
    trainer = SimpleNamespace(
        model=model,
        processing_class=tokenizer,
        use_vllm=False,
        accelerator=SimpleNamespace(unwrap_model=lambda m: m),
    )
    eos = tokenizer.eos_token_id
    teacher = HFRelayModel(*llm_pair, logits_processor=Script(suppress=[eos]))
    rollout = make_relay_rollout(teacher, RelayConfig(max_turns=3, max_tokens=24), mask_llm_tokens=True)
    model.train()
    prompts = [PROMPT_MESSAGES] * 3 + ["raw text prompt"]
    out = rollout(prompts, trainer)
    assert model.training  # restored after the rollout
    assert all(len(out[key]) == 4 for key in ("prompt_ids", "completion_ids", "logprobs", "env_mask"))
    assert out["prompt_ids"][0] == tokenizer.encode(
        tokenizer.apply_chat_template(PROMPT_MESSAGES, tokenize=False, add_generation_prompt=True),
        add_special_tokens=False,
    )
    assert out["prompt_ids"][3] == tokenizer.encode("raw text prompt", add_special_tokens=False)
    for ids, mask, logprobs, ratio, llm_tokens in zip(
        out["completion_ids"],
        out["env_mask"],
        out["logprobs"],
        out["call_ratio"],
        out["llm_tokens"],
        strict=True,
    ):
        assert len(ids) == len(mask) == len(logprobs)
        assert [lp is None for lp in logprobs] == [m == 0 for m in mask]
        assert mask.count(0) == llm_tokens and ratio == pytest.approx(llm_tokens / len(ids))
    assert all(n >= 1 for n in out["num_calls"])
    assert set(out["relay_finish"]) <= {"eos", "llm_eos", "budget", "max_turns", "malformed"}
    model.eval()

    unmasked = make_relay_rollout(teacher, RelayConfig(max_turns=3, max_tokens=24))(prompts[:1], trainer)
    assert unmasked["env_mask"] == [[1] * len(unmasked["completion_ids"][0])]


def _force_calls(monkeypatch):
    """Make the rollout's SLM (built inside make_relay_rollout) write <call>3</call> early in every answer."""

    class Forced(HFRelayModel):
        def continue_text(self, prompt, response, max_new_tokens, stop=(), response_ids=None):
            if not response_ids:  # a new relay: script its command from its answer's start
                self.logits_processor = Script(len(self.encode(prompt)), self.encode(format_call(3)), at=[0])
            return super().continue_text(prompt, response, max_new_tokens, stop, response_ids)

    monkeypatch.setattr(relay_module, "HFRelayModel", Forced)


# ------------------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_text_handoff_to_a_teacher_with_another_tokenizer(slm_pair):
    slm_model, tokenizer = slm_pair
    probe = HFRelayModel(slm_model, tokenizer)
    prompt = probe.format_prompt(PROMPT_MESSAGES)
    script = Script(
        len(probe.encode(prompt)), probe.encode(format_call(6)), at=[3], suppress=[tokenizer.eos_token_id]
    )
    slm = HFRelayModel(slm_model, tokenizer, logits_processor=script)
    teacher = HFRelayModel(*load_model("embedded:smollm2-135m-instruct"))
    assert teacher.tokenizer_fingerprint != slm.tokenizer_fingerprint
    result = relay_decode(slm, teacher, PROMPT_MESSAGES, RelayConfig(max_tokens=30, max_turns=3))
    llm_segment = next(s for s in result.segments if s.source == "llm")
    assert llm_segment.granted == 6
    expected = slm.encode(llm_segment.text)
    if result.finish == "llm_eos":
        expected.append(slm.eos_token_id)
    assert llm_segment.token_ids == expected
    # The teacher read its own chat template followed by the SLM's text with the command replaced.
    seen = teacher.encode(teacher.format_prompt(PROMPT_MESSAGES)) + teacher.encode(
        strip_calls(result.segments[0].text)
    )
    assert teacher.cached_ids[: len(seen)] == seen


@pytest.mark.slow
def test_one_grpo_step_with_the_relay_rollout(tmp_path, monkeypatch):
    from rlcore.train import grpo_config, run_grpo

    _force_calls(monkeypatch)
    model, tokenizer = load_model("tiny:qwen2")
    frozen, _ = load_model("tiny:qwen2")  # the same weights: a frozen copy of the policy as teacher
    teacher = HFRelayModel(frozen, tokenizer, logits_processor=Script(suppress=[tokenizer.eos_token_id]))
    rollout = make_relay_rollout(teacher, RelayConfig(max_turns=3, max_tokens=16), mask_llm_tokens=True)
    captured: list[dict] = []
    seen: list[dict] = []

    def recording_rollout(prompts, trainer):
        out = rollout(prompts, trainer)
        captured.append(out)
        return out

    def reward(prompts, completions, **kwargs):
        seen.append(kwargs)
        # Varying rewards: a zero advantage everywhere would leave the parameters unchanged.
        return [float(i % 2) + r for i, r in enumerate(kwargs["call_ratio"])]

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    config = grpo_config(
        output_dir=str(tmp_path),
        max_steps=1,
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=16,
        learning_rate=1e-2,
        beta=0.0,
        logging_steps=1,
        save_strategy="no",
    )
    dataset = [{"prompt": build_messages(q), "answer": "2"} for q in ("What is 1 + 1?", "What is 4 - 2?")]
    result = run_grpo((model, tokenizer), reward, dataset, config, rollout_func=recording_rollout)
    assert result.global_step == 1
    assert any(not torch.equal(before[name], p.detach().cpu()) for name, p in model.named_parameters())
    out = captured[0]
    assert any(0 in mask for mask in out["env_mask"])
    assert all(n >= 1 for n in out["num_calls"])
    kwargs = seen[0]
    assert kwargs["call_ratio"] == out["call_ratio"]
    assert kwargs["num_calls"] == out["num_calls"] and kwargs["relay_finish"] == out["relay_finish"]
    assert kwargs["llm_tokens"] == out["llm_tokens"] and all(r > 0 for r in kwargs["call_ratio"])
