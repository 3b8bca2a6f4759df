"""The VisPlay loop (paper §3, spec §2.6, §6): one base VLM, two roles that train each other from images only.

Iteration i starts from the Questioner Q_{i−1} and the Reasoner R_{i−1} (both the base model for i = 1):

1. **Questioner GRPO.** Q_i = GRPO(Q_{i−1}) over the training images. Each sampled question is answered m
   times by the frozen R_{i−1}; the reward favours questions whose majority answer has a confidence near ½
   and penalises near-duplicate questions about one image (:class:`visplay.rewards.QuestionerReward`).
   ``questioner.steps: 0`` skips the stage (Q_i = Q_{i−1}).
2. **Curation.** Q_i writes N questions for each of ``curation.num_images`` images; R_{i−1} answers each valid
   one m times; the majority answer is the silver label ỹ and its share the confidence c; the questions with
   τ_low ≤ c ≤ τ_high are kept (:func:`visplay.curation.curate`).
3. **Reasoner GRPO.** R_i = GRPO(R_{i−1}) on the kept questions, with a binary reward for matching ỹ. An
   empty curated set skips the stage with a warning (R_i = R_{i−1}, ``reasoner_skipped: true``).
4. **Evaluation** of R_i (the base model first, as the "base" row).

Run directory (atomic writes; a rerun resumes at the first unfinished stage)::

    config.yaml  metrics.jsonl  report.md  images/<id>.png
    warmup/                      (only with format_warmup_steps > 0: the toy format warm-up)
    iter_0/eval.json             (the base model)
    iter_<i>/questioner/  candidates.jsonl  labelled.jsonl  curated.jsonl  reasoner/  eval.json

JSONL image fields are paths relative to the run directory (the PNG copies under ``images/``).
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlcore.answers import extract_boxed
from rlcore.data import load_image
from rlcore.rollout import SamplingParams
from rlcore.runs import RunDir, atomic_write
from rlcore.selfplay import pseudo_label
from visplay.config import VisPlayConfig
from visplay.curation import is_valid_candidate
from visplay.prompts import parse_question, questioner_messages, reasoner_messages
from visplay.rewards import reasoner_sampling
from visplay.voting import answers_equivalent

__all__ = [
    "as_generator",
    "evaluate_model",
    "format_warmup",
    "frozen_generator",
    "generate_questions",
    "label_questions",
    "prepare_image",
    "run_selfplay",
    "save_image_copy",
    "summary_table",
    "train_questioner",
    "train_reasoner",
]

log = logging.getLogger(__name__)

PACKAGE = "visplay"


# -- models and images ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _loaded_generator(spec: str, backend: str, gpu_memory_utilization: float) -> Any:
    """One Generator per model spec and process: a frozen model is loaded once, not once per stage."""
    from rlcore.rollout import HFGenerator, VLLMGenerator

    if backend == "vllm":
        return VLLMGenerator(spec, gpu_memory_utilization=gpu_memory_utilization)
    from rlcore.models import load_model

    return HFGenerator(*load_model(spec, task="image-text-to-text"))


def as_generator(model: Any, backend: str = "hf", *, gpu_memory_utilization: float = 0.3) -> Any:
    """``model`` as an ``rlcore.rollout.Generator``: a Generator is returned as is, a spec is loaded
    (transformers in-process, or a vLLM engine holding ``gpu_memory_utilization`` of the GPU with
    ``backend="vllm"``)."""
    if isinstance(model, str | Path):
        return _loaded_generator(str(model), backend, gpu_memory_utilization)
    if callable(getattr(model, "generate", None)):
        return model
    raise TypeError(f"a model is a load_model spec or a Generator, got {type(model).__name__}")


def frozen_generator(config: VisPlayConfig, model: Any) -> Any:
    """A frozen role's Generator under the recipe's ``backend``."""
    return as_generator(model, config.backend, gpu_memory_utilization=config.vllm_gpu_memory_utilization)


def prepare_image(image: Any, config: VisPlayConfig) -> Any:
    """The RGB image the models see: ``image_size`` × ``image_size`` (paper, ``image_resize: fixed``), or the
    reference code's bounds, a multiple of 28 with ``min_pixels`` ≤ h·w ≤ ``max_pixels`` (``pixels``)."""
    from PIL import Image

    image = load_image(image).convert("RGB")
    if config.image_resize == "fixed":
        size = (config.image_size, config.image_size)
    else:
        from qwen_vl_utils import smart_resize

        height, width = smart_resize(
            image.height, image.width, factor=28, min_pixels=config.min_pixels, max_pixels=config.max_pixels
        )
        size = (width, height)
    return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)


def _image_file(image_id: Any) -> str:
    """``images/<id>.png`` with characters outside ``[A-Za-z0-9_.-]`` replaced."""
    return f"images/{re.sub(r'[^A-Za-z0-9_.-]', '_', str(image_id))}.png"


def save_image_copy(run: RunDir, image_id: Any, image: Any) -> str:
    """A PNG copy of ``image`` under the run's ``images/`` (written once); returns its relative path."""
    import io

    relpath = _image_file(image_id)
    target = run.file(relpath)
    if not target.exists():
        buffer = io.BytesIO()
        load_image(image).save(buffer, format="PNG")
        atomic_write(target, buffer.getvalue())
    return relpath


# -- stage 2: questions and silver labels --------------------------------------------------------------


def generate_questions(
    model: Any,
    images: Sequence[dict],
    *,
    n_per_image: int = 8,
    question_format: str = "question",
    max_new_tokens: int = 2048,
    temperature: float = 1.0,
    top_p: float = 0.95,
    seed: int = 0,
    batch_size: int = 16,
) -> list[dict]:
    """The Questioner writes ``n_per_image`` questions about each image (spec §2.6).

    ``images`` holds ``{"image_id", "image"}`` items. Returns ``len(images) · n_per_image`` records, ordered by
    image and then by sample: ``image_id``, ``image``, ``sample`` (0-based), ``raw``, ``question``, ``type``,
    ``answer_hint`` (the Questioner's own answer, ``typed`` format only; never used for rewards) and
    ``valid``. Invalid outputs have ``question == ""``. Each batch of ``batch_size`` images is one generate call
    seeded ``seed + batch index``.
    """
    if n_per_image < 1 or batch_size < 1:
        raise ValueError(f"n_per_image and batch_size must be >= 1, got {n_per_image}, {batch_size}")
    generator = as_generator(model)
    records: list[dict] = []
    for index, start in enumerate(range(0, len(images), batch_size)):
        batch = images[start : start + batch_size]
        prompts = [
            questioner_messages(load_image(item["image"]), question_format=question_format) for item in batch
        ]
        params = SamplingParams(
            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed + index
        )
        for item, samples in zip(batch, generator.generate(prompts, params, n=n_per_image), strict=True):
            for sample_index, sample in enumerate(samples):
                parsed = parse_question(sample.text, question_format=question_format)
                records.append(
                    {
                        "image_id": item["image_id"],
                        "image": item["image"],
                        "sample": sample_index,
                        "raw": sample.text,
                        "question": parsed.question,
                        "type": parsed.type,
                        "answer_hint": parsed.answer,
                        "valid": parsed.valid,
                    }
                )
    return records


def label_questions(
    model: Any,
    candidates: Sequence[dict],
    *,
    m: int = 10,
    style: str = "reasoning",
    max_new_tokens: int = 4096,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 40,
    seed: int = 0,
    batch_size: int = 16,
) -> list[dict]:
    """The frozen Reasoner answers each valid candidate m times; the majority answer is its silver label.

    A candidate is valid as in :func:`visplay.curation.curate` (:func:`visplay.curation.is_valid_candidate`).
    Each valid candidate gets ``reasoner_answers``: the m last-``\\boxed{}`` contents (``None`` where a sample
    has no box or an empty one); an invalid one gets ``[]`` and is never sent. Every record gets ``answer`` =
    ỹ and ``confidence`` = c of ``pseudo_label(reasoner_answers, match=answers_equivalent)`` (missing answers
    count in m). Other keys pass through. All prompts go through one Generator, ``batch_size`` per call.
    """
    if m < 1 or batch_size < 1:
        raise ValueError(f"m and batch_size must be >= 1, got {m}, {batch_size}")
    generator = as_generator(model)
    answers: dict[int, list[str | None]] = {}
    valid = [i for i, c in enumerate(candidates) if is_valid_candidate(c)]
    for index, start in enumerate(range(0, len(valid), batch_size)):
        chunk = valid[start : start + batch_size]
        prompts = [
            reasoner_messages(
                candidates[i]["question"],
                load_image(candidates[i]["image"]),
                style=style,
                question_type=candidates[i].get("type") or None,
            )
            for i in chunk
        ]
        params = SamplingParams(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=seed + index,
        )
        for i, samples in zip(chunk, generator.generate(prompts, params, n=m), strict=True):
            answers[i] = [extract_boxed(s.text) or None for s in samples]
    labelled = []
    for i, candidate in enumerate(candidates):
        reasoner_answers = answers.get(i, [])
        vote = pseudo_label(reasoner_answers, match=answers_equivalent)
        labelled.append(
            {
                **candidate,
                "reasoner_answers": reasoner_answers,
                "answer": vote.label,
                "confidence": vote.p_hat,
            }
        )
    return labelled


# -- GRPO stages -------------------------------------------------------------------------------------


def _as_blocks(messages: list[dict]) -> list[dict]:
    """Every message content as a list of blocks: a dataset column cannot mix strings and lists."""
    return [
        {**m, "content": [{"type": "text", "text": m["content"]}]} if isinstance(m["content"], str) else m
        for m in messages
    ]


def _fill(rows: list[dict], n: int, seed: int) -> list[dict]:
    """``n`` rows from ``rows``, cycling through reshuffled copies (seeded) so that every step has a full
    batch: TRL drops an incomplete batch of prompts."""
    rng = random.Random(seed)
    out: list[dict] = []
    while len(out) < n:
        order = list(rows)
        rng.shuffle(order)
        out.extend(order[: n - len(out)])
    return out


def _grpo_config(config: VisPlayConfig, role: str, out_dir: Path):
    from rlcore.train import grpo_config

    return grpo_config(output_dir=str(out_dir), seed=config.seed, **config.grpo_args(role))


def _copy_model(model: str, out_dir: Path) -> str:
    """A model spec's weights and processor saved into ``out_dir`` (a stage with nothing to train)."""
    from accelerate import PartialState

    from rlcore.models import load_model

    state = PartialState()
    if state.is_main_process:  # one writer under accelerate launch
        net, processor = load_model(model, task="image-text-to-text")
        out_dir.mkdir(parents=True, exist_ok=True)
        net.save_pretrained(str(out_dir))
        processor.save_pretrained(str(out_dir))
    state.wait_for_everyone()
    return str(out_dir)


def _stage_dir(run_dir: Any) -> Path:
    return Path(run_dir.path if isinstance(run_dir, RunDir) else run_dir)


def train_questioner(
    questioner: str,
    reasoner: Any,
    images: Sequence[dict],
    *,
    config: VisPlayConfig,
    run_dir: Any,
    callbacks: Sequence[Any] = (),
) -> str:
    """Stage 1: GRPO on the Questioner against the frozen Reasoner; returns the checkpoint path (``run_dir``).

    Rows are ``prompt = questioner_messages(None)`` (TRL fills the image placeholder) plus ``image`` and
    ``image_id`` (the diversity groups); ``images_per_step · steps`` rows cycle through ``images``. The reward is
    ``QuestionerReward.from_config(config, reasoner=<frozen Reasoner Generator>)``. ``questioner.steps: 0``
    saves the input model unchanged.
    """
    from rlcore.train import RunDirLogger, run_grpo
    from visplay.rewards import QuestionerReward

    out_dir = _stage_dir(run_dir)
    cfg = config.questioner
    if cfg.steps == 0:
        return _copy_model(questioner, out_dir)
    if not images:
        raise ValueError("train_questioner needs at least one image")
    prompt = _as_blocks(questioner_messages(None, question_format=cfg.question_format))
    rows = [{"prompt": prompt, "image": item["image"], "image_id": str(item["image_id"])} for item in images]
    rows = _fill(rows, cfg.images_per_step * cfg.steps, config.seed)
    reward = QuestionerReward.from_config(config, reasoner=frozen_generator(config, reasoner))
    logger = RunDirLogger(RunDir(out_dir, package=PACKAGE))
    result = run_grpo(
        questioner,
        reward,
        rows,
        _grpo_config(config, "questioner", out_dir),
        freeze_vision=config.optim.freeze_vision_tower,
        callbacks=[logger, *callbacks],
    )
    return str(result.output_dir)


def train_reasoner(
    reasoner: str,
    curated: Sequence[dict],
    *,
    config: VisPlayConfig,
    run_dir: Any,
    callbacks: Sequence[Any] = (),
) -> str:
    """Stage 3: GRPO on the Reasoner with the silver labels (``answer``) of the curated questions; returns the
    checkpoint path (``run_dir``).

    Rows are ``prompt = reasoner_messages(question, None)`` plus ``image``, ``image_id`` and ``answer``,
    cycling and reshuffling the curated set to fill ``questions_per_step · steps`` rows. The reward is
    ``ReasonerReward(reasoner.reward_mode)``. An empty set is a ``ValueError`` (the loop skips the stage
    before calling this).
    """
    from rlcore.train import RunDirLogger, run_grpo
    from visplay.rewards import ReasonerReward

    out_dir = _stage_dir(run_dir)
    cfg = config.reasoner
    if not curated:
        raise ValueError("train_reasoner needs at least one curated question")
    for i, record in enumerate(curated):
        missing = [key for key in ("question", "image", "answer") if record.get(key) in (None, "")]
        if missing:
            raise ValueError(f"curated record {i} lacks {', '.join(missing)}")
    if cfg.steps == 0:
        return _copy_model(reasoner, out_dir)
    rows = [
        {
            "prompt": reasoner_messages(str(r["question"]), None, style="reasoning"),
            "image": r["image"],
            "image_id": str(r.get("image_id", i)),
            "answer": str(r["answer"]),
        }
        for i, r in enumerate(curated)
    ]
    rows = _fill(rows, cfg.questions_per_step * cfg.steps, config.seed)
    logger = RunDirLogger(RunDir(out_dir, package=PACKAGE))
    result = run_grpo(
        reasoner,
        ReasonerReward(mode=cfg.reward_mode),
        rows,
        _grpo_config(config, "reasoner", out_dir),
        freeze_vision=config.optim.freeze_vision_tower,
        callbacks=[logger, *callbacks],
    )
    return str(result.output_dir)


def format_warmup(model: str, items: Sequence[dict], *, config: VisPlayConfig, run_dir: Any) -> str:
    """The toy demo's format warm-up (spec §6; not part of the paper): ``format_warmup_steps`` SFT steps of
    ``model`` on labelled sample items, mixing Questioner targets ``<question>{gold question}</question>`` and
    Reasoner targets ``The answer is \\boxed{gold}.``, so that a random tiny model writes tags and boxes and
    every stage of the loop has data. A Questioner target longer than ``questioner.max_new_tokens`` tokens is
    left out: the Questioner could never finish it, and learning it would only teach truncated, invalid
    output. The Questioner rows are repeated to as many as the Reasoner rows, so both roles weigh the same.
    Returns the checkpoint path (``run_dir``)."""
    from rlcore.models import load_model, tokenizer_of
    from rlcore.train import run_sft, sft_config

    out_dir = _stage_dir(run_dir)
    net, processor = load_model(model, task="image-text-to-text")
    tokenizer = tokenizer_of(processor)
    question_prompt = _as_blocks(questioner_messages(None, question_format=config.questioner.question_format))
    questioner_rows, reasoner_rows = [], []
    for item in items:
        target = _warmup_question(item, config)
        if len(tokenizer(target)["input_ids"]) < config.questioner.max_new_tokens:  # room for the end token
            questioner_rows.append(
                {"prompt": question_prompt, "completion": _assistant(target), "image": item["image"]}
            )
        reasoner_rows.append(
            {
                "prompt": reasoner_messages(item["question"], None, style="reasoning"),
                "completion": _assistant(f"The answer is \\boxed{{{item['answer']}}}."),
                "image": item["image"],
            }
        )
    # Both roles weigh the same in the mix, however many Questioner targets fit.
    rows = (
        reasoner_rows + _fill(questioner_rows, len(reasoner_rows), config.seed)
        if questioner_rows
        else reasoner_rows
    )
    sft = sft_config(
        output_dir=str(out_dir),
        max_steps=config.format_warmup_steps,
        per_device_train_batch_size=config.format_warmup_batch_size,
        learning_rate=config.format_warmup_learning_rate,
        lr_scheduler_type="constant",
        logging_steps=config.optim.logging_steps,
        save_strategy="no",
        seed=config.seed,
    )
    result = run_sft((net, processor), rows, sft, freeze_vision=config.optim.freeze_vision_tower)
    return str(result.output_dir)


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def _warmup_question(item: dict, config: VisPlayConfig) -> str:
    if config.questioner.question_format == "typed":
        return f"<type>{item['type']}</type>\n<question>{item['question']}</question>\n<answer>{item['answer']}</answer>"
    return f"<question>{item['question']}</question>"


# -- the loop ----------------------------------------------------------------------------------------


def _metric_values(folder: Path, key: str) -> list[float]:
    """Every logged value of ``key`` in a stage's ``metrics.jsonl``, in order ([] if never logged)."""
    rows = RunDir.resume(folder, package=PACKAGE).read_jsonl("metrics.jsonl") if folder.is_dir() else []
    return [float(row[key]) for row in rows if isinstance(row.get(key), int | float)]


def _last_metric(folder: Path, key: str) -> float | None:
    """The last logged value of ``key`` (None if never logged)."""
    values = _metric_values(folder, key)
    return values[-1] if values else None


def _mean_metric(folder: Path, key: str) -> float | None:
    """The mean of every logged value of ``key`` (None if never logged)."""
    values = _metric_values(folder, key)
    return sum(values) / len(values) if values else None


def _prepared(items: Sequence[dict], config: VisPlayConfig) -> list[dict]:
    return [{**item, "image": prepare_image(item["image"], config)} for item in items]


def _eval_records(config: VisPlayConfig) -> list[dict]:
    """Every record of ``evaluation.benchmarks`` (each record's ``subset`` is its benchmark or kind), with the
    images prepared as for training."""
    from visplay.data import load_benchmark

    records = []
    for name in config.evaluation.benchmarks:
        records += _prepared(load_benchmark(name, limit=config.evaluation.limit), config)
    return records


def _judge(config: VisPlayConfig) -> Any:
    if config.evaluation.judge != "openai":
        return None
    from rlcore.rollout import OpenAIGenerator

    return OpenAIGenerator(config.evaluation.judge_url, config.evaluation.judge_model)


def _fresh(path: Path) -> Path:
    """A stage folder emptied of a killed attempt's leftovers before the stage runs again."""
    if path.exists():
        shutil.rmtree(path)
    return path


class _Stages:
    """Runs the loop's stages once each, across processes.

    A stage is skipped when its ``stages/<name>.done`` marker exists (with ``resume``). Under ``accelerate
    launch`` every rank takes part in the GRPO and SFT stages; generation, labelling, curation and evaluation
    run on the main process only while the others wait, and only the main process writes markers and files.
    """

    def __init__(self, run: RunDir, resume: bool, say: Callable[[str], Any]) -> None:
        import torch
        from accelerate import PartialState

        self.run, self.resume, self.say = run, resume, say
        # On CPU the shared state must say cpu=True, as GRPOConfig(use_cpu=True) does: the first PartialState of a
        # process fixes the distributed type for every later one (gloo ranks otherwise train alone).
        self.state = PartialState(cpu=not torch.cuda.is_available())

    @property
    def main(self) -> bool:
        return self.state.is_main_process

    def __call__(self, name: str, message: str, work: Callable[[], Any], *, everyone: bool = False) -> None:
        todo = not (self.resume and self.run.done(name))
        self.state.wait_for_everyone()  # every rank has decided before the main process marks the stage
        if todo:
            if self.main:
                self.say(message)
            if everyone or self.main:
                work()
            self.state.wait_for_everyone()
            if self.main:
                self.run.mark_done(name)
        self.state.wait_for_everyone()


def _warmup_stage(stage: _Stages, config: VisPlayConfig, out_dir: Path) -> None:
    """The toy format warm-up of the base model on the sample's training split."""
    from visplay.data import load_sample

    if stage.main:
        _fresh(out_dir)
    stage.state.wait_for_everyone()
    format_warmup(config.model, _prepared(load_sample("train"), config), config=config, run_dir=out_dir)


def _questioner_stage(
    stage: _Stages, config: VisPlayConfig, questioner: str, reasoner: str, out_dir: Path, seed: int
) -> None:
    """Stage 1 on a fresh random draw of ``images_per_step · steps`` training images (seed + iteration)."""
    from visplay.data import load_images

    q = config.questioner
    images = load_images(
        config.images,
        column=config.image_column,
        limit=q.images_per_step * q.steps,
        selection="random",
        seed=seed,
    )
    if stage.main:
        _fresh(out_dir)
    stage.state.wait_for_everyone()
    train_questioner(questioner, reasoner, _prepared(images, config), config=config, run_dir=out_dir)


def _candidates_stage(run: RunDir, config: VisPlayConfig, questioner: str, folder: Path, seed: int) -> None:
    """Stage 2a: ``curation.num_images`` images (random with seed + iteration, or the first ones), their PNG
    copies under ``images/``, and N questions about each → ``candidates.jsonl``."""
    from visplay.data import load_images

    c = config.curation
    pool = load_images(
        config.images, column=config.image_column, limit=c.num_images, selection=c.image_selection, seed=seed
    )
    pool = [
        {
            "image_id": item["image_id"],
            "image": str(run.file(save_image_copy(run, item["image_id"], item["image"]))),
        }
        for item in _prepared(pool, config)
    ]
    candidates = generate_questions(
        frozen_generator(config, questioner),
        pool,
        n_per_image=c.questions_per_image,
        question_format=config.questioner.question_format,
        max_new_tokens=config.questioner.max_new_tokens,
        temperature=c.temperature,
        top_p=c.top_p,
        seed=seed,
        batch_size=config.generation_batch_size,
    )
    run.write_jsonl(folder / "candidates.jsonl", _relative(run, candidates))


def _label_stage(
    run: RunDir, config: VisPlayConfig, reasoner: str, candidates: list[dict], folder: Path, seed: int
) -> None:
    """Stage 2b: the frozen Reasoner's m answers and vote for every valid candidate → ``labelled.jsonl``."""
    labelled = label_questions(
        frozen_generator(config, reasoner),
        candidates,
        m=config.curation.num_reasoner_samples,
        style=config.reward.reasoner_prompt,
        batch_size=config.generation_batch_size,
        seed=seed,
        **reasoner_sampling(config.reward),
    )
    run.write_jsonl(folder / "labelled.jsonl", _relative(run, labelled))


def _curate_stage(run: RunDir, config: VisPlayConfig, folder: Path) -> None:
    """Stage 2c: the informative questions of ``labelled.jsonl`` → ``curated.jsonl``."""
    from visplay.curation import curate

    c = config.curation
    labelled = run.read_jsonl(folder / "labelled.jsonl")
    run.write_jsonl(
        folder / "curated.jsonl", curate(labelled, tau_low=c.tau_low, tau_high=c.tau_high, budget=c.budget)
    )


def _reasoner_stage(
    stage: _Stages, config: VisPlayConfig, reasoner: str, curated: list[dict], out_dir: Path
) -> None:
    if stage.main:
        _fresh(out_dir)
    stage.state.wait_for_everyone()
    train_reasoner(reasoner, curated, config=config, run_dir=out_dir)


def run_selfplay(
    config: VisPlayConfig,
    run_dir: Any,
    *,
    resume: bool = True,
    status: Callable[[str], Any] | None = None,
) -> list[dict]:
    """The whole loop of spec §6 into ``run_dir`` (a path or an ``rlcore.runs.RunDir``); returns one summary
    row per evaluated model: the base model (``iteration`` 0), then R_i for each iteration.

    A row holds ``model``, ``iteration``, ``path``, ``q_valid`` and ``q_reward`` (the Questioner's valid rate
    and mean reward at its last step), ``candidates``, ``kept``, ``r_reward`` (the Reasoner's mean training
    reward), ``reasoner_skipped``, ``subsets`` (accuracy per subset), ``pooled`` and ``macro``. With ``resume``
    every finished stage is read back instead of being run again. ``status`` receives a line per stage.
    """
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir, package=PACKAGE, config=config)
    stage = _Stages(run, resume, status or log.info)
    _loaded_generator.cache_clear()  # a checkpoint folder of an earlier run may have been rewritten since

    base = config.model
    if config.format_warmup_steps > 0:
        warm_dir = run.file("warmup")
        stage(
            "warmup",
            f"format warm-up: {config.format_warmup_steps} SFT steps",
            functools.partial(_warmup_stage, stage, config, warm_dir),
            everyone=True,
        )
        base = str(warm_dir)

    records: list[dict] = []

    def evaluated(folder: str, model: str) -> dict:
        def work() -> None:
            if not records:
                records.extend(_eval_records(config))
            run.write_json(f"{folder}/eval.json", {"model": model, **evaluate_model(config, model, records)})

        stage(f"{folder}.eval", f"{folder}: evaluating {model}", work)
        return json.loads(run.file(f"{folder}/eval.json").read_text(encoding="utf-8"))["summary"]

    rows = [_row("base", 0, base, evaluated("iter_0", base))]
    questioner = reasoner = base
    for i in range(1, config.iterations + 1):
        folder = run.file(f"iter_{i}")
        q_dir, r_dir = folder / "questioner", folder / "reasoner"
        seed = config.seed + i
        if config.questioner.steps > 0:
            stage(
                f"iter_{i}.questioner",
                f"iter_{i}: Questioner GRPO against the frozen Reasoner",
                functools.partial(_questioner_stage, stage, config, questioner, reasoner, q_dir, seed),
                everyone=True,
            )
            questioner = str(q_dir)
        stage(
            f"iter_{i}.candidates",
            f"iter_{i}: the Questioner writes {config.curation.questions_per_image} questions per image",
            functools.partial(_candidates_stage, run, config, questioner, folder, seed),
        )
        candidates = _absolute(run, run.read_jsonl(folder / "candidates.jsonl"))
        stage(
            f"iter_{i}.labelled",
            f"iter_{i}: the Reasoner labels {sum(map(is_valid_candidate, candidates))} valid questions",
            functools.partial(_label_stage, run, config, reasoner, candidates, folder, seed),
        )
        stage(
            f"iter_{i}.curated",
            f"iter_{i}: curating the informative questions",
            functools.partial(_curate_stage, run, config, folder),
        )
        curated = _absolute(run, run.read_jsonl(folder / "curated.jsonl"))
        skipped = not curated
        if skipped:
            if stage.main:
                warnings.warn(
                    f"iter_{i}: the curated set is empty (no question with confidence in "
                    f"[{config.curation.tau_low}, {config.curation.tau_high}]); the Reasoner stage is skipped "
                    f"and R_{i} = R_{i - 1}",
                    stacklevel=2,
                )
        else:
            stage(
                f"iter_{i}.reasoner",
                f"iter_{i}: Reasoner GRPO on {len(curated)} curated questions",
                functools.partial(_reasoner_stage, stage, config, reasoner, curated, r_dir),
                everyone=True,
            )
            reasoner = str(r_dir)
        _loaded_generator.cache_clear()  # this iteration's frozen models are not sampled again

        row = _row(f"iter {i}", i, reasoner, evaluated(f"iter_{i}", reasoner))
        row.update(
            q_valid=_last_metric(q_dir, "questioner/valid_rate") if config.questioner.steps else None,
            q_reward=_last_metric(q_dir, "reward") if config.questioner.steps else None,
            candidates=len(candidates),
            kept=len(curated),
            r_reward=None if skipped else _mean_metric(r_dir, "reward"),
            reasoner_skipped=skipped,
        )
        rows.append(row)
        summary_row = {key: value for key, value in row.items() if key != "path"}
        stage(f"iter_{i}.logged", f"iter_{i}: done", functools.partial(run.log_metrics, summary_row))
    if stage.main:
        run.write_report(_report(config, rows))
    return rows


def evaluate_model(config: VisPlayConfig, model: str, records: Sequence[dict]) -> dict:
    """:func:`visplay.evaluation.evaluate` with the recipe's evaluation settings."""
    from visplay.evaluation import evaluate

    ev = config.evaluation
    return evaluate(
        frozen_generator(config, model),
        records,
        max_new_tokens=ev.max_new_tokens,
        batch_size=ev.batch_size,
        scorer=ev.judge,
        judge=_judge(config),
        seed=config.seed,
    )


def _relative(run: RunDir, rows: Sequence[dict]) -> list[dict]:
    """Rows with their ``image`` path written relative to the run directory."""
    root = run.path.resolve()
    out = []
    for row in rows:
        image = row.get("image")
        if isinstance(image, str | Path) and Path(image).is_absolute():
            image = Path(image).resolve().relative_to(root).as_posix()
        out.append({**row, "image": image})
    return out


def _absolute(run: RunDir, rows: Sequence[dict]) -> list[dict]:
    """Rows read back from a JSONL file, their relative ``image`` paths resolved against the run directory."""
    return [
        {**row, "image": str(run.file(row["image"]))}
        if isinstance(row.get("image"), str) and not Path(row["image"]).is_absolute()
        else row
        for row in rows
    ]


def _row(model: str, iteration: int, path: str, summary: dict) -> dict:
    return {
        "model": model,
        "iteration": iteration,
        "path": path,
        "q_valid": None,
        "q_reward": None,
        "candidates": None,
        "kept": None,
        "r_reward": None,
        "reasoner_skipped": None,
        "subsets": {name: sub["accuracy"] for name, sub in summary["subsets"].items()},
        "pooled": summary["pooled"],
        "macro": summary["macro"],
    }


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def summary_table(rows: Sequence[dict]) -> list[str]:
    """The demo's table (spec §6): one line per evaluated model, ``|``-separated, header first.

    Columns: Questioner valid rate and mean reward (last step), kept/candidates, the Reasoner's mean
    training reward (``skipped`` for an empty curated set), accuracy per subset, pooled and macro.
    """
    subsets = list(rows[0]["subsets"]) if rows else []
    header = ["model", "q_valid", "q_reward", "kept/cand", "r_reward", *subsets, "pooled", "macro"]
    table = [header]
    for row in rows:
        kept = "-" if row["candidates"] is None else f"{row['kept']}/{row['candidates']}"
        r_reward = "skipped" if row["reasoner_skipped"] else _cell(row["r_reward"])
        table.append(
            [
                row["model"],
                _cell(row["q_valid"]),
                _cell(row["q_reward"]),
                kept,
                r_reward,
                *(_cell(row["subsets"].get(name)) for name in subsets),
                _cell(row["pooled"]),
                _cell(row["macro"]),
            ]
        )
    widths = [max(len(line[j]) for line in table) for j in range(len(header))]
    return [
        " | ".join(
            cell.ljust(width) if j == 0 else cell.center(width)
            for j, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in table
    ]


def _report(config: VisPlayConfig, rows: Sequence[dict]) -> str:
    lines = summary_table(rows)
    table = [f"| {lines[0]} |", "|" + "---|" * (lines[0].count("|") + 1)]
    table += [f"| {line} |" for line in lines[1:]]
    return (
        f"# VisPlay: {config.model}, {config.iterations} iteration(s)\n\n"
        "Columns: Questioner valid rate and mean reward (last step), kept/candidates of curation, the "
        "Reasoner's mean training reward, evaluation accuracy per subset, pooled and macro.\n\n"
        + "\n".join(table)
        + "\n"
    )
