"""rlcore.rollout: HFGenerator on tiny models, the OpenAI client against a local server, vLLM's mapping."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from rlcore.models import load_model
from rlcore.rollout import (
    Generator,
    HFGenerator,
    OpenAIGenerator,
    Sample,
    SamplingParams,
    VLLMGenerator,
    _vllm_sampling_kwargs,
    make_generator,
    policy_generator,
)

GREEDY = SamplingParams(max_new_tokens=12, temperature=0.0)
CHAT = [{"role": "user", "content": "what is 2 + 3?"}]


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lm():
    return HFGenerator(*load_model("tiny:qwen2"))


@pytest.fixture(scope="module")
def vlm():
    return HFGenerator(*load_model("tiny:qwen2.5-vl"))


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(0)
    pixels = (torch.rand(56, 56, 3) * 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")


def texts(samples: list[list[Sample]]) -> list[list[str]]:
    return [[s.text for s in per_prompt] for per_prompt in samples]


# ----------------------------------------------------------------------------------- SamplingParams


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"top_k": -1}, "top_k"),
        ({"stop": ("",)}, "stop"),
    ],
)
def test_sampling_params_validation_names_the_field(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SamplingParams(**kwargs)


def test_sampling_params_defaults_and_single_stop_string():
    params = SamplingParams()
    assert (params.max_new_tokens, params.temperature, params.top_p, params.top_k) == (256, 1.0, 1.0, 0)
    assert (params.stop, params.include_stop, params.seed) == ((), False, None)
    assert SamplingParams(stop="\n").stop == ("\n",)


# ------------------------------------------------------------------------------------------ HFGenerator


def test_n_samples_per_prompt_and_shapes(lm):
    out = lm.generate(["hello there", CHAT, "abc"], SamplingParams(max_new_tokens=8, seed=0), n=3)
    assert isinstance(lm, Generator)
    assert [len(per_prompt) for per_prompt in out] == [3, 3, 3]
    for sample in (s for per_prompt in out for s in per_prompt):
        assert isinstance(sample.text, str)
        assert 1 <= len(sample.token_ids) <= 8
        assert len(sample.logprobs) == len(sample.token_ids)
        assert all(lp <= 0 for lp in sample.logprobs)
    assert lm.generate([], SamplingParams(max_new_tokens=4)) == []


def test_greedy_is_deterministic_and_n_greedy_samples_identical(lm):
    first = lm.generate(["hello there", CHAT], GREEDY, n=3)
    second = lm.generate(["hello there", CHAT], GREEDY, n=3)
    assert texts(first) == texts(second)
    for per_prompt in first:
        assert len({(s.text, tuple(s.token_ids)) for s in per_prompt}) == 1
    assert first[0][0].token_ids == second[0][0].token_ids


def test_seed_reproducible_and_different_seeds_differ(lm):
    params = SamplingParams(max_new_tokens=16, seed=7)
    rng_before = torch.random.get_rng_state()
    a = lm.generate(["hello there", CHAT], params, n=2)
    assert torch.equal(rng_before, torch.random.get_rng_state())  # the caller's random state is untouched
    b = lm.generate(["hello there", CHAT], params, n=2)
    c = lm.generate(["hello there", CHAT], SamplingParams(max_new_tokens=16, seed=8), n=2)
    assert [[s.token_ids for s in p] for p in a] == [[s.token_ids for s in p] for p in b]
    assert texts(a) != texts(c)
    assert a[0][0].token_ids != a[0][1].token_ids  # the n samples of one prompt are independent draws


def test_logprobs_are_the_models_own(lm):
    sample = lm.generate(["hello there"], SamplingParams(max_new_tokens=6, temperature=0.7, seed=3))[0][0]
    tokenizer = lm.tokenizer
    prompt = tokenizer("hello there", return_tensors="pt", add_special_tokens=False).input_ids
    full = torch.cat([prompt, torch.tensor([sample.token_ids])], dim=1)
    with torch.no_grad():
        logits = lm.model(full).logits.log_softmax(-1)[0, prompt.shape[1] - 1 : -1]
    expected = logits.gather(1, torch.tensor(sample.token_ids)[:, None]).squeeze(1)
    assert sample.logprobs == pytest.approx(expected.tolist(), abs=1e-4)


def test_length_finish(lm):
    sample = lm.generate(["hello there"], SamplingParams(max_new_tokens=5, temperature=0.0))[0][0]
    assert sample.finish_reason == "length"
    assert len(sample.token_ids) == 5


def test_stop_string_cuts_text_even_inside_a_token(lm):
    # Greedy decoding of this prompt repeats the token " there"; the stop "her" ends inside its first one.
    base = lm.generate(["hello there"], GREEDY)[0][0]
    assert base.text.startswith(" there there")
    cut = lm.generate(
        ["hello there"], SamplingParams(max_new_tokens=12, temperature=0.0, stop=("her", "zzz"))
    )[0][0]
    assert (cut.text, cut.finish_reason) == (" t", "stop")
    assert cut.token_ids == base.token_ids[:1]  # up to and including the token that completed the stop
    assert cut.logprobs == pytest.approx(base.logprobs[:1])
    kept = lm.generate(
        ["hello there"], SamplingParams(max_new_tokens=12, temperature=0.0, stop="her", include_stop=True)
    )
    assert (kept[0][0].text, kept[0][0].finish_reason) == (" ther", "stop")


def test_stop_strings_honoured_when_sampling(lm):
    params = SamplingParams(max_new_tokens=24, seed=11, stop=("e", "a"))
    out = lm.generate(["hello there", CHAT], params, n=6)
    kept = lm.generate(["hello there", CHAT], replace(params, include_stop=True), n=6)
    stopped = 0
    for plain, with_stop in zip((s for p in out for s in p), (s for p in kept for s in p), strict=True):
        assert "e" not in plain.text and "a" not in plain.text
        assert plain.token_ids == with_stop.token_ids
        assert with_stop.text.startswith(plain.text)
        if with_stop.text != plain.text:
            stopped += 1
            assert with_stop.text[len(plain.text) :] in ("e", "a")
            assert plain.finish_reason == "stop"
        elif plain.finish_reason == "stop":
            # transformers also matches stop strings in special tokens' text ("<|vision_end|>" holds an
            # "e"), which decoding drops: such a sample ends on that token with no stop in its text.
            last = lm.tokenizer.convert_ids_to_tokens(plain.token_ids[-1])
            assert last in lm.tokenizer.all_special_tokens and ("e" in last or "a" in last)
        else:
            assert len(plain.token_ids) == 24
    assert stopped >= 6  # most of 12 random samples of 24 tokens meet an "e" or an "a"


def test_eos_ends_a_sample_and_is_kept_in_token_ids():
    model, tokenizer = load_model("tiny:qwen2")
    free = HFGenerator(model, tokenizer).generate(["hello there"], GREEDY)[0][0]
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, free.token_ids[0]]
    ended = HFGenerator(model, tokenizer).generate(["hello there"], GREEDY)[0][0]
    assert (ended.text, ended.token_ids, ended.finish_reason) == ("", free.token_ids[:1], "stop")
    assert ended.logprobs == pytest.approx(free.logprobs[:1])


def test_chat_prompt_equals_its_rendered_string(lm):
    rendered = lm.tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    blocks = [{"role": "user", "content": [{"type": "text", "text": "what is 2 + 3?"}]}]
    out = lm.generate([CHAT, rendered, blocks], GREEDY)
    assert out[0][0].token_ids == out[1][0].token_ids == out[2][0].token_ids


def test_batched_greedy_equals_one_at_a_time(lm):
    prompts = ["hi", "a much longer prompt than the first one, to force left padding", CHAT, "1 2 3"]
    params = SamplingParams(max_new_tokens=16, temperature=0.0)
    batched = lm.generate(prompts, params)
    single = [lm.generate([p], params)[0] for p in prompts]
    assert [[s.token_ids for s in p] for p in batched] == [[s.token_ids for s in p] for p in single]
    assert texts(batched) == texts(single)


def test_training_mode_restored(lm):
    model = lm.model
    model.train()
    model.model.layers[0].eval()  # a submodule the caller keeps in eval mode stays so
    try:
        policy = policy_generator(
            SimpleNamespace(
                use_vllm=False,
                model=model,
                processing_class=lm.processor,
                accelerator=SimpleNamespace(unwrap_model=lambda m: m),
            )
        )
        assert isinstance(policy, HFGenerator) and policy.model is model
        policy.generate(["hi"], SamplingParams(max_new_tokens=3))
        assert model.training and model.model.layers[1].training
        assert not model.model.layers[0].training
        assert all(p.grad is None for p in model.parameters())
    finally:
        model.eval()


def test_prompt_validation(lm, vlm):
    with pytest.raises(ValueError, match="fill it first"):
        vlm.generate([[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what?"}]}]])
    with pytest.raises(TypeError, match="list of prompts"):
        lm.generate("hello")
    with pytest.raises(TypeError, match="prompt 1"):
        lm.generate(["ok", 3])
    with pytest.raises(ValueError, match="multimodal processor"):
        lm.generate([[{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (28, 28))}]}]])
    with pytest.raises(ValueError, match="n must be"):
        lm.generate(["ok"], n=0)


# ------------------------------------------------------------------------------------------------- VLM


def image_chat(image, question="what is in the picture?"):
    return [
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": question}]}
    ]


def test_vlm_image_prompt_generates_text(vlm, image, tmp_path):
    out = vlm.generate([image_chat(image)], SamplingParams(max_new_tokens=8, seed=0), n=2)
    assert len(out[0]) == 2 and all(len(s.token_ids) >= 1 and isinstance(s.text, str) for s in out[0])
    path = tmp_path / "picture.png"
    image.save(path)
    from_pil, from_path = vlm.generate([image_chat(image), image_chat(str(path))], GREEDY)
    assert from_pil[0].token_ids == from_path[0].token_ids


def test_vlm_mixed_batch_keeps_order_and_matches_single_prompts(vlm, image):
    other = Image.new("RGB", (100, 80), (200, 30, 30))
    prompts = [image_chat(image), "plain text prompt", image_chat(other, "and this one?"), CHAT]
    batched = vlm.generate(prompts, GREEDY)
    single = [vlm.generate([p], GREEDY)[0] for p in prompts]
    assert [p[0].token_ids for p in batched] == [p[0].token_ids for p in single]


# ------------------------------------------------------------------------------------- OpenAI round trip


def _decode_image(url: str) -> Image.Image:
    header, _, data = url.partition(",")
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def _from_openai_message(message: dict) -> dict:
    content = message["content"]
    if isinstance(content, str):
        return message
    blocks = [
        {"type": "image", "image": _decode_image(part["image_url"]["url"])}
        if part["type"] == "image_url"
        else {"type": "text", "text": part["text"]}
        for part in content
    ]
    return {**message, "content": blocks}


@contextmanager
def serve_openai(generator: HFGenerator) -> Iterator[str]:
    """A minimal OpenAI-compatible server on 127.0.0.1 answering /v1/completions and /v1/chat/completions
    with ``generator``. Like vLLM, it strips the stop string and names it in ``stop_reason``."""
    lock = threading.Lock()  # one generate at a time: HFGenerator toggles model state during a call

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            chat = self.path == "/v1/chat/completions"
            if not chat and self.path != "/v1/completions":
                self.send_error(404, f"no route {self.path}")
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stop = body.get("stop") or ()
            params = SamplingParams(
                max_new_tokens=body.get("max_tokens", 16),
                temperature=body.get("temperature", 1.0),
                top_p=body.get("top_p", 1.0),
                top_k=body.get("top_k", 0),
                stop=(stop,) if isinstance(stop, str) else tuple(stop),
                include_stop=True,
                seed=body.get("seed"),
            )
            prompt = [_from_openai_message(m) for m in body["messages"]] if chat else body["prompt"]
            with lock:
                samples = generator.generate([prompt], params, n=body.get("n", 1))[0]
            choices = []
            for i, s in enumerate(samples):
                matched = next(
                    (x for x in params.stop if s.finish_reason == "stop" and s.text.endswith(x)), None
                )
                text = s.text[: len(s.text) - len(matched)] if matched else s.text
                choice = {"index": i, "finish_reason": s.finish_reason, "stop_reason": matched}
                if chat:
                    choice["message"] = {"role": "assistant", "content": text}
                    if body.get("logprobs"):
                        choice["logprobs"] = {"content": [{"token": "", "logprob": lp} for lp in s.logprobs]}
                else:
                    choice["text"] = text
                    if body.get("logprobs") is not None:
                        choice["logprobs"] = {"token_logprobs": s.logprobs}
                if body.get("return_token_ids"):
                    choice["token_ids"] = s.token_ids
                choices.append(choice)
            payload = json.dumps(
                {"object": "chat.completion" if chat else "text_completion", "choices": choices}
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_openai_round_trip_matches_hf(lm):
    prompts = ["hello there", CHAT, [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]]
    params = SamplingParams(max_new_tokens=12, temperature=0.0)
    expected = lm.generate(prompts, params, n=2)
    with serve_openai(lm) as url:
        client = OpenAIGenerator(url + "/v1", "tiny", logprobs=True, extra_body={"return_token_ids": True})
        got = client.generate(prompts, params, n=2)
        assert texts(got) == texts(expected)
        assert [[s.token_ids for s in p] for p in got] == [[s.token_ids for s in p] for p in expected]
        assert got[0][0].logprobs == pytest.approx(expected[0][0].logprobs)
        assert got[1][0].logprobs == pytest.approx(expected[1][0].logprobs)
        assert [[s.finish_reason for s in p] for p in got] == [["length"] * 2] * 3

        for include in (False, True):
            stop = SamplingParams(max_new_tokens=12, temperature=0.0, stop=("her",), include_stop=include)
            plain = OpenAIGenerator(url, "tiny").generate(["hello there"], stop)[0][0]
            assert (plain.text, plain.finish_reason) == (
                lm.generate(["hello there"], stop)[0][0].text,
                "stop",
            )
            assert plain.token_ids == [] and plain.logprobs is None


def test_openai_round_trip_with_an_image(vlm, image):
    with serve_openai(vlm) as url:
        got = OpenAIGenerator(url, "tiny-vl").generate([image_chat(image)], GREEDY)
    assert texts(got) == texts(vlm.generate([image_chat(image)], GREEDY))


def test_openai_errors_name_the_url(lm):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    with pytest.raises(ConnectionError, match=f"{dead}/v1/completions"):
        OpenAIGenerator(dead, "m", timeout=5).generate(["hi"], GREEDY)
    with serve_openai(lm) as url, pytest.raises(RuntimeError, match="HTTP 404"):
        OpenAIGenerator(url + "/nope", "m").generate([CHAT], GREEDY)


# ------------------------------------------------------------------------------------ vLLM and factories


def test_vllm_sampling_kwargs():
    params = SamplingParams(max_new_tokens=64, temperature=0.7, top_p=0.9, top_k=20, stop=("\n\n",), seed=3)
    assert _vllm_sampling_kwargs(params, 4) == {
        "n": 4,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 20,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "include_stop_str_in_output": False,
        "seed": 3,
        "logprobs": 0,
    }
    greedy = _vllm_sampling_kwargs(SamplingParams(temperature=0.0, include_stop=True), 1)
    assert (greedy["temperature"], greedy["top_k"], greedy["stop"], greedy["include_stop_str_in_output"]) == (
        0.0,
        0,
        [],
        True,
    )


def test_vllm_missing_is_a_clear_import_error():
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed")
    with pytest.raises(ImportError, match=r"pip install 'rlcore\[vllm\]'"):
        VLLMGenerator("Qwen/Qwen3-8B")
    with pytest.raises(ImportError, match=r"rlcore\[vllm\]"):
        make_generator("vllm:Qwen/Qwen3-8B")


def test_make_generator_specs(lm):
    assert make_generator(lm) is lm
    assert isinstance(make_generator("tiny:qwen2"), HFGenerator)
    assert isinstance(make_generator("hf:tiny:qwen2"), HFGenerator)
    client = make_generator("openai:http://127.0.0.1:8000/v1#Qwen/Qwen3-8B")
    assert isinstance(client, OpenAIGenerator)
    assert (client.base_url, client.model) == ("http://127.0.0.1:8000", "Qwen/Qwen3-8B")
    with pytest.raises(ValueError, match="openai:<base_url>#<model>"):
        make_generator("openai:http://127.0.0.1:8000")
    with pytest.raises(TypeError):
        make_generator(42)


def test_policy_generator_needs_a_colocated_single_rank_engine():
    trainer = SimpleNamespace(use_vllm=True, vllm_generation=SimpleNamespace(llm=None))
    with pytest.raises(ValueError, match="colocate"):
        policy_generator(trainer)
    trainer.vllm_generation = SimpleNamespace(llm=object(), tensor_parallel_size=2)
    with pytest.raises(ValueError, match="tensor_parallel_size=1"):
        policy_generator(trainer)
