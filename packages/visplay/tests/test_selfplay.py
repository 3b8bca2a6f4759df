"""The loop's stages (spec §2.6, §6): pure helpers, scripted generators, and `slow` smoke tests on
tiny:qwen2.5-vl (question generation and labelling shapes, processor rendering of a 56 px image, one GRPO step
per role, the loop on a reduced toy recipe with its run directory, resume and the empty-curated-set skip)."""

import json
import warnings
from pathlib import Path

import pytest

from rlcore.rollout import Sample
from visplay.config import load_config
from visplay.curation import is_valid_candidate
from visplay.selfplay import (
    _fill,
    generate_questions,
    label_questions,
    prepare_image,
    summary_table,
)

TOY = Path(__file__).resolve().parents[1] / "recipes" / "toy.yaml"


class Scripted:
    """A Generator answering prompt p's k-th sample with ``replies(p_index, k)``; records every call."""

    def __init__(self, replies):
        self.replies = replies
        self.calls = []

    def generate(self, prompts, params=None, n=1):
        self.calls.append((len(prompts), params, n))
        base = sum(c[0] for c in self.calls[:-1])
        return [[Sample(self.replies(base + i, k)) for k in range(n)] for i in range(len(prompts))]


def test_fill_cycles_through_reshuffled_copies():
    rows = [{"i": i} for i in range(3)]
    out = _fill(rows, 8, seed=0)
    assert len(out) == 8
    assert sorted(r["i"] for r in out[:3]) == [0, 1, 2] and sorted(r["i"] for r in out[3:6]) == [0, 1, 2]
    assert _fill(rows, 8, seed=0) == out
    assert _fill(rows, 2, seed=0) == out[:2]


def test_prepare_image_fixed_and_pixels(tiny_images):
    cfg = load_config(overrides=["image_size=56"])
    assert prepare_image(tiny_images[0].resize((100, 60)), cfg).size == (56, 56)
    pixels = load_config(overrides=["image_resize=pixels", "min_pixels=3136", "max_pixels=12544"])
    resized = prepare_image(tiny_images[0].resize((300, 150)), pixels)
    assert resized.width % 28 == 0 and resized.height % 28 == 0
    assert 3136 <= resized.width * resized.height <= 12544


def test_generate_questions_order_fields_and_parsing(tiny_images):
    texts = [
        "<question>How many?</question>",
        "no tags",
        "<question> </question>",
        "<question>Why?</question>",
    ]
    gen = Scripted(lambda p, k: texts[(2 * p + k) % 4])
    images = [{"image_id": f"im{i}", "image": img} for i, img in enumerate(tiny_images)]
    out = generate_questions(gen, images, n_per_image=2, max_new_tokens=5, top_p=0.9, seed=3, batch_size=2)
    assert len(out) == 6
    assert [(r["image_id"], r["sample"]) for r in out] == [(f"im{i}", k) for i in range(3) for k in range(2)]
    assert [r["valid"] for r in out] == [True, False, False, True, True, False]
    assert [r["question"] for r in out[:4]] == ["How many?", "", "", "Why?"]
    assert set(out[0]) == {"image_id", "image", "sample", "raw", "question", "type", "answer_hint", "valid"}
    assert [c[0] for c in gen.calls] == [2, 1]  # two generate calls of batch_size images
    assert gen.calls[0][1].seed == 3 and gen.calls[1][1].seed == 4 and gen.calls[0][2] == 2
    typed = Scripted(lambda p, k: "<type>Numerical</type><question>How many?</question><answer>3</answer>")
    row = generate_questions(typed, images[:1], n_per_image=1, question_format="typed")[0]
    assert (row["type"], row["question"], row["answer_hint"], row["valid"]) == (
        "numerical",
        "How many?",
        "3",
        True,
    )


def test_label_questions_votes_and_never_sends_invalid_ones(tiny_images):
    answers = {
        0: ["\\boxed{b}", "\\boxed{(B)}", "none", "\\boxed{}"],
        1: ["\\boxed{2}", "\\boxed{2.0}", "x", "\\boxed{3}"],
    }
    gen = Scripted(lambda p, k: answers[p][k])
    candidates = [
        {"question": "Which?", "image": tiny_images[0], "keep": 1},
        {"question": "", "image": tiny_images[1]},
        {"question": "How many?", "image": tiny_images[2], "valid": True},
        {"question": "Skip?", "image": tiny_images[2], "valid": False},
    ]
    out = label_questions(gen, candidates, m=4, batch_size=8)
    assert gen.calls[0][0] == 2 and gen.calls[0][2] == 4
    assert out[0]["reasoner_answers"] == ["b", "(B)", None, None]
    assert (out[0]["answer"], out[0]["confidence"], out[0]["keep"]) == ("b", 0.5, 1)
    assert (out[2]["answer"], out[2]["confidence"]) == ("2", 0.5)
    assert out[1]["reasoner_answers"] == [] and out[1]["answer"] is None and out[1]["confidence"] == 0.0
    assert out[3]["reasoner_answers"] == []
    assert "reasoner_answers" not in candidates[0]  # inputs are not mutated
    assert [is_valid_candidate(c) for c in candidates] == [True, False, True, False]


def test_summary_table_layout():
    rows = [
        {"model": "base", "q_valid": None, "q_reward": None, "candidates": None, "kept": None, "r_reward": None,
         "reasoner_skipped": None, "subsets": {"shapes": 0.5, "bars": None}, "pooled": 0.25, "macro": 0.5},
        {"model": "iter 1", "q_valid": 0.25, "q_reward": 0.1, "candidates": 32, "kept": 3, "r_reward": None,
         "reasoner_skipped": True, "subsets": {"shapes": 1.0, "bars": 0.0}, "pooled": 0.5, "macro": 0.5},
    ]  # fmt: skip
    lines = summary_table(rows)
    assert [cell.strip() for cell in lines[0].split("|")] == [
        "model", "q_valid", "q_reward", "kept/cand", "r_reward", "shapes", "bars", "pooled", "macro"
    ]  # fmt: skip
    assert [cell.strip() for cell in lines[1].split("|")][1:5] == ["-", "-", "-", "-"]
    assert [cell.strip() for cell in lines[2].split("|")] == [
        "iter 1", "0.25", "0.10", "3/32", "skipped", "1.00", "0.00", "0.50", "0.50"
    ]  # fmt: skip


# -- slow smoke tests on tiny:qwen2.5-vl ---------------------------------------------------------------


@pytest.mark.slow
def test_processor_renders_a_56px_image(tiny_vlm, tiny_images):
    from visplay.prompts import questioner_messages

    _, processor = tiny_vlm
    messages = questioner_messages(tiny_images[0])
    enc = processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
    )
    assert enc["image_grid_thw"].tolist() == [[1, 4, 4]]
    assert tuple(enc["pixel_values"].shape) == (16, 1176)
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((enc["input_ids"] == pad).sum()) == 4
    # One chat layout for Questioner training and generation (spec §3): the TRL rows' block-form system turn
    # renders exactly as the generation prompt's string one.
    from visplay.selfplay import _as_blocks

    def render(messages):
        return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    assert render(_as_blocks(questioner_messages(None))) == render(questioner_messages(None))


@pytest.mark.slow
def test_generate_and_label_with_the_tiny_vlm(tiny_images):
    images = [{"image_id": f"im{i}", "image": img} for i, img in enumerate(tiny_images[:2])]
    out = generate_questions("tiny:qwen2.5-vl", images, n_per_image=3, max_new_tokens=6)
    assert len(out) == 6 and [r["image_id"] for r in out] == ["im0"] * 3 + ["im1"] * 3
    candidates = [
        {"question": "How many shapes?", "image": tiny_images[0]},
        {"question": "", "image": tiny_images[1]},
    ]
    labelled = label_questions("tiny:qwen2.5-vl", candidates, m=3, max_new_tokens=6)
    assert len(labelled[0]["reasoner_answers"]) == 3 and labelled[1]["reasoner_answers"] == []
    assert 0.0 <= labelled[0]["confidence"] <= 1.0


def _spread(rewards, completions):
    """Add a length-based spread: a random tiny model's rewards are constant, so advantages would be 0."""
    from rlcore.rewards import completion_text

    return [r + len(completion_text(c)) / 100 for r, c in zip(rewards, completions, strict=True)]


def _changed(path) -> int:
    from rlcore.models import load_model

    trained, _ = load_model(str(path))
    initial, _ = load_model("tiny:qwen2.5-vl")
    before = dict(initial.named_parameters())
    return sum(not p.detach().equal(before[name].detach()) for name, p in trained.named_parameters())


@pytest.mark.slow
def test_one_grpo_step_per_role(tmp_path, tiny_images, monkeypatch):
    import visplay.rewards as rewards
    from visplay.selfplay import train_questioner, train_reasoner

    seen = {}
    real_from_config = rewards.QuestionerReward.from_config.__func__

    def from_config(cls, cfg, reasoner=None):
        real = real_from_config(cls, cfg, reasoner=reasoner)

        def questioner_reward(prompts, completions, **kwargs):
            seen.update(kwargs)
            return _spread(real(prompts, completions, **kwargs), completions)

        return questioner_reward

    class SpreadReasonerReward(rewards.ReasonerReward):
        def __call__(self, prompts, completions, **kwargs):
            seen["answer"] = kwargs["answer"]
            return _spread([r or 0.0 for r in super().__call__(prompts, completions, **kwargs)], completions)

    monkeypatch.setattr(rewards.QuestionerReward, "from_config", classmethod(from_config))
    monkeypatch.setattr(rewards, "ReasonerReward", SpreadReasonerReward)
    cfg = load_config(
        TOY,
        [
            "questioner.steps=1", "reasoner.steps=1", "optim.learning_rate=0.01", "optim.kl_coef=0.0",
            "questioner.max_new_tokens=8", "reasoner.max_new_tokens=8", "reward.reasoner_max_new_tokens=4",
        ],
    )  # fmt: skip
    images = [{"image_id": f"im{i % 2}", "image": img} for i, img in enumerate(tiny_images[:2])]
    q_path = train_questioner(
        "tiny:qwen2.5-vl", "tiny:qwen2.5-vl", images, config=cfg, run_dir=tmp_path / "q"
    )
    assert set(seen["image_id"]) <= {"im0", "im1"} and len(seen["image_id"]) == 16
    q_rows = [json.loads(line) for line in (tmp_path / "q" / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in row for row in q_rows) and any("questioner/valid_rate" in row for row in q_rows)
    assert _changed(q_path) > 0

    curated = [
        {"question": "How many?", "image": img, "image_id": f"im{i}", "answer": "3"}
        for i, img in enumerate(tiny_images)
    ]
    r_path = train_reasoner("tiny:qwen2.5-vl", curated, config=cfg, run_dir=tmp_path / "r")
    assert seen["answer"] == ["3"] * 16
    r_rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in row for row in r_rows)
    assert _changed(r_path) > 0
    with pytest.raises(ValueError, match="curated"):
        train_reasoner("tiny:qwen2.5-vl", [], config=cfg, run_dir=tmp_path / "none")


REDUCED = [
    "iterations=1", "format_warmup_steps=2", "questioner.steps=1", "reasoner.steps=1", "curation.num_images=2",
    "curation.questions_per_image=2", "evaluation.limit=3", "questioner.max_new_tokens=12",
    "reasoner.max_new_tokens=8", "reward.reasoner_max_new_tokens=8", "evaluation.max_new_tokens=8",
    "curation.tau_low=0.0", "curation.tau_high=1.0",
]  # fmt: skip


@pytest.mark.slow
def test_the_loop_on_a_reduced_toy_recipe_and_resume(tmp_path, monkeypatch):
    import visplay.curation as curation
    import visplay.selfplay as selfplay

    real_curate = curation.curate

    def curate_with_a_fallback(rows, **kwargs):
        # A 2-step warm-up rarely yields a valid question; keep one labelled row so stage 3 has data.
        kept = real_curate(rows, **kwargs)
        return kept or [{**rows[0], "question": "How many shapes?", "answer": "2", "confidence": 0.5}]

    monkeypatch.setattr(curation, "curate", curate_with_a_fallback)
    cfg = load_config(TOY, REDUCED)
    run = tmp_path / "run"
    rows = selfplay.run_selfplay(cfg, run)
    assert [r["model"] for r in rows] == ["base", "iter 1"]
    assert rows[1]["candidates"] == 4 and rows[1]["kept"] >= 1 and rows[1]["reasoner_skipped"] is False
    for name in ("config.yaml", "metrics.jsonl", "report.md", "warmup", "iter_0/eval.json"):
        assert (run / name).exists(), name
    for name in (
        "questioner",
        "candidates.jsonl",
        "labelled.jsonl",
        "curated.jsonl",
        "reasoner",
        "eval.json",
    ):
        assert (run / "iter_1" / name).exists(), name
    candidates = [json.loads(line) for line in (run / "iter_1" / "candidates.jsonl").read_text().splitlines()]
    assert all(c["image"].startswith("images/") and (run / c["image"]).is_file() for c in candidates)
    assert len(list((run / "images").glob("*.png"))) == 2
    summary = json.loads((run / "iter_1" / "eval.json").read_text())["summary"]
    assert summary["n"] == 3 and rows[1]["pooled"] == pytest.approx(summary["pooled"])
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["iteration"] == 1 and logged[-1]["reasoner_skipped"] is False

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished stage ran again on resume")

    for name in (
        "train_questioner",
        "train_reasoner",
        "generate_questions",
        "label_questions",
        "format_warmup",
    ):
        monkeypatch.setattr(selfplay, name, must_not_run)
    again = selfplay.run_selfplay(cfg, run)
    assert [r["pooled"] for r in again] == [r["pooled"] for r in rows]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == len(logged)


@pytest.mark.slow
def test_empty_curated_set_skips_the_reasoner_and_zero_steps_skip_the_questioner(tmp_path, monkeypatch):
    import visplay.curation as curation
    import visplay.selfplay as selfplay

    monkeypatch.setattr(curation, "curate", lambda rows, **kwargs: [])
    cfg = load_config(TOY, [*REDUCED, "format_warmup_steps=0", "questioner.steps=0"])
    run = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = selfplay.run_selfplay(cfg, run)
    assert any("curated set is empty" in str(w.message) for w in caught)
    assert rows[1]["reasoner_skipped"] is True and rows[1]["kept"] == 0 and rows[1]["q_valid"] is None
    assert rows[1]["path"] == rows[0]["path"] == "tiny:qwen2.5-vl"
    assert not (run / "iter_1" / "questioner").exists() and not (run / "iter_1" / "reasoner").exists()
    logged = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert logged["reasoner_skipped"] is True


@pytest.mark.slow
def test_zero_steps_save_the_input_model_unchanged(tmp_path, tiny_images):
    from visplay.selfplay import train_questioner, train_reasoner

    cfg = load_config(TOY, ["questioner.steps=0", "reasoner.steps=0"])
    images = [{"image_id": "im0", "image": tiny_images[0]}]
    q_path = train_questioner(
        "tiny:qwen2.5-vl", "tiny:qwen2.5-vl", images, config=cfg, run_dir=tmp_path / "q"
    )
    curated = [{"question": "How many?", "image": tiny_images[0], "answer": "3"}]
    r_path = train_reasoner("tiny:qwen2.5-vl", curated, config=cfg, run_dir=tmp_path / "r")
    assert _changed(q_path) == 0 and _changed(r_path) == 0
    with pytest.raises(ValueError, match="answer"):
        train_reasoner(
            "tiny:qwen2.5-vl", [{"question": "q", "image": tiny_images[0]}], config=cfg, run_dir=tmp_path
        )


class RoleScripted:
    """Both roles without a model: a Questioner prompt (system turn first) gets ``<question>…</question>``, a
    Reasoner prompt gets ``\\boxed{answers[k % len(answers)]}`` for its k-th sample. Counts the calls per role."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = {"questioner": 0, "reasoner": 0}

    def generate(self, prompts, params=None, n=1):
        out = []
        for prompt in prompts:
            role = "questioner" if prompt[0]["role"] == "system" else "reasoner"
            self.calls[role] += 1
            if role == "questioner":
                out.append([Sample(f"<question>How many shapes, take {k}?</question>") for k in range(n)])
            else:
                out.append([Sample(f"\\boxed{{{self.answers[k % len(self.answers)]}}}") for k in range(n)])
        return out


def _scripted_loop(monkeypatch, answers, overrides=()):
    """Patch the loop's model-running pieces: a scripted Generator for both frozen roles, a Reasoner GRPO that
    only records its data, an evaluation that only records its model. Returns (generator, draws, trained)."""
    import visplay.data as data
    import visplay.selfplay as selfplay
    from visplay.evaluation import aggregate_accuracy

    generator, draws, trained = RoleScripted(answers), [], []
    real_load_images = data.load_images

    def load_images(source, **kwargs):
        draws.append((kwargs["selection"], kwargs["seed"], kwargs["limit"]))
        return real_load_images(source, **kwargs)

    def train_reasoner(reasoner, curated, *, config, run_dir):
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        trained.append((reasoner, len(curated)))
        return str(run_dir)

    monkeypatch.setattr(data, "load_images", load_images)
    monkeypatch.setattr(selfplay, "frozen_generator", lambda config, model: generator)
    monkeypatch.setattr(selfplay, "train_reasoner", train_reasoner)
    monkeypatch.setattr(
        selfplay,
        "evaluate_model",
        lambda config, model, records: {
            "items": [],
            "summary": aggregate_accuracy({"shapes": [True, False]}),
        },
    )
    config = load_config(
        TOY,
        [
            "iterations=2", "format_warmup_steps=0", "questioner.steps=0", "curation.num_images=3",
            "curation.questions_per_image=2", "curation.num_reasoner_samples=2", "evaluation.limit=2",
            *overrides,
        ],
    )  # fmt: skip
    return config, generator, draws, trained


def _jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_the_loop_layout_curation_draws_and_resume_without_models(tmp_path, monkeypatch):
    import visplay.selfplay as selfplay

    config, generator, draws, trained = _scripted_loop(monkeypatch, answers=["1", "2"])
    run = tmp_path / "run"
    rows = selfplay.run_selfplay(config, run)
    # A fresh random draw of curation.num_images images per iteration, seeded seed + iteration.
    assert draws == [("random", 1, 3), ("random", 2, 3)]
    ids = [{c["image_id"] for c in _jsonl(run / f"iter_{i}" / "candidates.jsonl")} for i in (1, 2)]
    assert len(ids[0]) == len(ids[1]) == 3 and ids[0] != ids[1]
    for name in ("config.yaml", "metrics.jsonl", "report.md", "iter_0/eval.json"):
        assert (run / name).is_file(), name
    for i in (1, 2):
        folder = run / f"iter_{i}"
        for name in ("candidates.jsonl", "labelled.jsonl", "curated.jsonl", "eval.json"):
            assert (folder / name).is_file(), name
        for name in ("candidates.jsonl", "labelled.jsonl", "curated.jsonl"):
            images = [row["image"] for row in _jsonl(folder / name)]
            assert images and all(p.startswith("images/") and (run / p).is_file() for p in images)
    # Answers "1", "2": c = 0.5 for every question, so all 3 x 2 are kept; R_1 trains from the base model and
    # R_2 from R_1.
    assert trained == [("tiny:qwen2.5-vl", 6), (str(run / "iter_1" / "reasoner"), 6)]
    assert [(r["candidates"], r["kept"], r["reasoner_skipped"]) for r in rows[1:]] == [(6, 6, False)] * 2

    # A run killed after iter_2's candidates: the rerun starts at iter_2's labelling.
    for stage in ("labelled", "curated", "reasoner", "eval", "logged"):
        (run / "stages" / f"iter_2.{stage}.done").unlink()
    logged = _jsonl(run / "metrics.jsonl")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logged[:-1]))
    generator.calls = {"questioner": 0, "reasoner": 0}
    trained.clear()
    again = selfplay.run_selfplay(config, run)
    assert generator.calls == {"questioner": 0, "reasoner": 6}
    assert trained == [(str(run / "iter_1" / "reasoner"), 6)]
    assert [r["kept"] for r in again] == [r["kept"] for r in rows]
    assert _jsonl(run / "metrics.jsonl") == logged


def test_the_loop_first_image_selection_and_empty_curated_set_without_models(tmp_path, monkeypatch):
    import visplay.selfplay as selfplay

    # Every Reasoner answer agrees: c = 1, nothing is informative, so both Reasoner stages are skipped.
    config, _, draws, trained = _scripted_loop(
        monkeypatch, answers=["1"], overrides=["curation.image_selection=first"]
    )
    run = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = selfplay.run_selfplay(config, run)
    assert draws == [("first", 1, 3), ("first", 2, 3)]
    ids = [[c["image_id"] for c in _jsonl(run / f"iter_{i}" / "candidates.jsonl")] for i in (1, 2)]
    first_three = [f"{kind}-20251119-00{j}" for j, kind in enumerate(("shapes", "bars", "geometry"))]
    assert ids[0] == ids[1] and ids[0][::2] == first_three
    assert trained == [] and sum("curated set is empty" in str(w.message) for w in caught) == 2
    assert [r["reasoner_skipped"] for r in rows[1:]] == [True, True]
    assert [r["path"] for r in rows] == ["tiny:qwen2.5-vl"] * 3
    assert [row["reasoner_skipped"] for row in _jsonl(run / "metrics.jsonl")] == [True, True]
    assert not (run / "iter_1" / "reasoner").exists()
