"""The Questioner and Reasoner rewards (spec §2.3-2.4, §8 "Diversity and reward", "Scope", "Reasoner
reward", §10)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import accelerate.utils
import pytest

from rlcore.rollout import HFGenerator, Sample, SamplingParams
from visplay import rewards
from visplay.prompts import reasoner_messages
from visplay.rewards import (
    QuestionerReward,
    ReasonerReward,
    questioner_reward,
    questioner_score,
    reasoner_reward,
)

# A question asked three times and five unrelated ones: BLEU clusters {D, D, D} and five singletons.
DUP = "What is the total number of apples shown on the wooden table in this picture?"
OTHERS = [
    "Which animal in the image is closest to the red barn door?",
    "How tall is the building compared with the tree next to it?",
    "Is the traffic light green or red for the cars turning left?",
    "What fraction of the pizza has already been eaten by the kids?",
    "Estimate the distance between the two boats on the lake surface.",
]
QA, QB = OTHERS[0], OTHERS[1]
HALF = ["x", "y"]  # two answers that disagree: confidence 0.5


def tagged(question: str) -> str:
    return f"<question>{question}</question>"


# ------------------------------------------------------------------------------------ questioner_score


def test_questioner_score_paper_numbers() -> None:
    assert questioner_score(0.5, 3 / 8, True) == pytest.approx(0.625, abs=1e-6)
    assert questioner_score(0.5, 1 / 8, True) == pytest.approx(0.875, abs=1e-6)
    assert questioner_score(0.9, 0.375, True) == 0.0  # 1 − |1.8 − 1| − 0.375 < 0, clamped
    assert questioner_score(0.75, 0.25, True) == pytest.approx(0.25, abs=1e-6)
    assert questioner_score(0.0, 0.25, False) == 0.0


def test_questioner_score_code_numbers() -> None:
    assert questioner_score(0.5, 0.375, True, mode="code") == pytest.approx(0.125, abs=1e-6)
    assert questioner_score(0.9, 0.375, True, mode="code") == pytest.approx(-0.275, abs=1e-6)
    assert questioner_score(0.0, 0.25, False, mode="code") == pytest.approx(-1.25, abs=1e-6)


def test_questioner_score_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="form"):
        questioner_score(0.5, 0.0, True, mode="mixed")


# ------------------------------------------------------------------------------------ QuestionerReward


def test_names() -> None:
    assert questioner_reward.__name__ == "questioner_reward"
    assert QuestionerReward().__name__ == "questioner_reward"
    assert reasoner_reward.__name__ == "reasoner_reward"
    assert ReasonerReward("code").__name__ == "reasoner_reward"
    assert questioner_reward.mode == "paper" and questioner_reward.diversity_scope == "image"
    assert questioner_reward.num_reasoner_samples == 10 and questioner_reward.bleu_threshold == 0.5


@pytest.mark.parametrize("scope", ["image", "batch"])
def test_diversity_of_a_group_of_eight(scope) -> None:
    completions = [tagged(DUP)] * 3 + [tagged(q) for q in OTHERS]
    reward = QuestionerReward(diversity_scope=scope)
    got = reward([], completions, reasoner_answers=[HALF] * 8, image_id=["img"] * 8)
    assert got == pytest.approx([0.625] * 3 + [0.875] * 5, abs=1e-6)
    assert [d["penalty"] for d in reward.last_details] == pytest.approx([3 / 8] * 3 + [1 / 8] * 5, abs=1e-6)


def test_scope_image_vs_batch() -> None:
    completions = [tagged(DUP), tagged(QA), tagged(DUP), tagged(QB)]
    kwargs = {"reasoner_answers": [HALF] * 4, "image_id": ["A", "A", "B", "B"]}
    per_image = QuestionerReward(diversity_scope="image")
    per_image([], completions, **kwargs)
    assert [d["penalty"] for d in per_image.last_details] == pytest.approx([0.5, 0.5, 0.5, 0.5], abs=1e-6)
    batch = QuestionerReward(diversity_scope="batch")
    batch([], completions, **kwargs)
    assert [d["penalty"] for d in batch.last_details] == pytest.approx([0.5, 0.25, 0.5, 0.25], abs=1e-6)


def test_image_groups_need_not_be_contiguous() -> None:
    completions = [tagged(DUP), tagged(QA), tagged(DUP), tagged(QB)]
    reward = QuestionerReward()
    reward([], completions, reasoner_answers=[HALF] * 4, image_id=["A", "B", "A", "B"])
    # Image A holds the two copies of DUP: one cluster of 2 of G = 2.
    assert [d["penalty"] for d in reward.last_details] == pytest.approx([1.0, 0.5, 1.0, 0.5], abs=1e-6)


def test_untagged_text_paper_and_code() -> None:
    completions = ["no tags here", tagged(QA), tagged(QB), "<question></question>"]
    kwargs = {"reasoner_answers": [HALF] * 4, "image_id": ["A"] * 4}
    assert QuestionerReward()([], completions, **kwargs) == pytest.approx([0.0, 0.75, 0.75, 0.0], abs=1e-6)
    code = QuestionerReward(mode="code")([], completions, **kwargs)
    assert code == pytest.approx([-1.25, 0.25, 0.25, -1.25], abs=1e-6)


def test_confidence_comes_from_visplay_vote() -> None:
    answers = [["b", "(B)", "B.", "c", " B "], ["2", None, None, "2"], [None, None], []]
    reward = QuestionerReward(diversity_weight=0.0)
    got = reward([], [tagged(q) for q in OTHERS[:4]], reasoner_answers=answers, image_id=[0, 1, 2, 3])
    details = reward.last_details
    assert [d["label"] for d in details] == ["b", "2", None, None]
    assert [d["confidence"] for d in details] == pytest.approx([0.8, 0.5, 0.0, 0.0], abs=1e-6)
    # All answers missing: c = 0, paper reward 0.
    assert got == pytest.approx([0.4, 1.0, 0.0, 0.0], abs=1e-6)


def test_one_question_group_pays_the_full_weight() -> None:
    reward = QuestionerReward(diversity_weight=0.4)
    got = reward([], [tagged(QA), tagged(QB)], reasoner_answers=[HALF, HALF], image_id=["A", "B"])
    assert got == pytest.approx([0.6, 0.6], abs=1e-6)
    assert [d["penalty"] for d in reward.last_details] == pytest.approx([0.4, 0.4], abs=1e-6)


def test_typed_format() -> None:
    typed = "<type>numerical</type><question>How many cars?</question><answer>3</answer>"
    reward = QuestionerReward(question_format="typed")
    got = reward([], [typed, tagged(QA)], reasoner_answers=[HALF, HALF], image_id=["A", "B"])
    assert got == pytest.approx([0.0, 0.0], abs=1e-6)  # c = 0.5 but singleton groups: r_div = 1
    assert [d["valid"] for d in reward.last_details] == [True, False]
    assert reward.last_details[0]["question"] == "How many cars?"


def test_never_raises_on_content() -> None:
    completions = [
        None,
        17,
        "",
        [{"role": "assistant", "content": tagged(QA)}],
        [{"role": "assistant", "content": [{"type": "text", "text": tagged(QB)}]}],
        [],
        {"weird": True},
        "<question>\n</question>",
    ]
    n = len(completions)
    for mode in ("paper", "code"):
        got = QuestionerReward(mode=mode)(
            [None] * n, completions, reasoner_answers=[HALF] * n, image_id=[0] * n
        )
        assert len(got) == n and all(isinstance(r, float) and math.isfinite(r) for r in got)
    reward = QuestionerReward()
    reward([], completions, reasoner_answers=[HALF] * n, image_id=[0] * n)
    assert [d["valid"] for d in reward.last_details] == [False, False, False, True, True, False, False, False]


def test_empty_call() -> None:
    reward = QuestionerReward()
    assert reward([], [], reasoner_answers=[], image_id=[]) == []
    assert reward.last_details == []


def test_last_details_fields() -> None:
    reward = QuestionerReward()
    reward([], [tagged(QA), "junk"], reasoner_answers=[["4", "4", "5", "4"], ["1"]], image_id=["A", "A"])
    assert reward.last_details == [
        {"question": QA, "valid": True, "label": "4", "confidence": 0.75, "penalty": 0.5, "reward": 0.0},
        {"question": "", "valid": False, "label": None, "confidence": 0.0, "penalty": 0.5, "reward": 0.0},
    ]


def test_log_metric_receives_the_three_metrics() -> None:
    logged: dict[str, float] = {}
    completions = [tagged(QA), tagged(QB), "junk", tagged(DUP)]
    answers = [HALF, ["1", "1"], HALF, ["a", "a", "b", "c"]]
    QuestionerReward()(
        [], completions, reasoner_answers=answers, image_id=["A"] * 4, log_metric=logged.__setitem__
    )
    assert logged == pytest.approx(
        {
            "questioner/valid_rate": 0.75,
            "questioner/confidence_mean": (0.5 + 1.0 + 0.5) / 3,
            "questioner/penalty_mean": 0.25,
        },
        abs=1e-6,
    )


def test_log_metric_without_valid_question_skips_confidence() -> None:
    logged: dict[str, float] = {}
    QuestionerReward()(
        [], ["a", "b"], reasoner_answers=[[], []], image_id=[0, 0], log_metric=logged.__setitem__
    )
    assert logged == pytest.approx({"questioner/valid_rate": 0.0, "questioner/penalty_mean": 0.5})


def test_other_kwargs_are_ignored() -> None:
    got = QuestionerReward()(
        [],
        [tagged(QA)],
        reasoner_answers=[HALF],
        image_id=["A"],
        trainer_state=object(),
        completion_ids=[[1]],
    )
    assert got == [0.0]


# ------------------------------------------------------------------------------------ wiring errors


def test_missing_reasoner_answers_without_reasoner() -> None:
    with pytest.raises(ValueError, match="reasoner_answers"):
        questioner_reward([], [tagged(QA)], image_id=["A"])


def test_missing_image_id_in_image_scope() -> None:
    with pytest.raises(ValueError, match="image_id"):
        questioner_reward([], [tagged(QA)], reasoner_answers=[HALF])


def test_batch_scope_ignores_image_id() -> None:
    reward = QuestionerReward(diversity_scope="batch")
    assert reward([], [tagged(QA), tagged(QB)], reasoner_answers=[HALF, HALF]) == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize(
    ("kwargs", "column"),
    [
        ({"reasoner_answers": [HALF], "image_id": ["A", "A"]}, "reasoner_answers"),
        ({"reasoner_answers": [HALF, HALF], "image_id": ["A"]}, "image_id"),
        ({"reasoner_answers": [HALF, HALF, HALF], "image_id": ["A", "A"]}, "reasoner_answers"),
    ],
)
def test_length_mismatch_names_the_column(kwargs, column) -> None:
    with pytest.raises(ValueError, match=column):
        questioner_reward([], [tagged(QA), tagged(QB)], **kwargs)


def test_reasoner_answers_entry_must_be_a_list() -> None:
    with pytest.raises(ValueError, match="reasoner_answers"):
        questioner_reward([], [tagged(QA)], reasoner_answers=["4"], image_id=["A"])


def test_wiring_errors_come_before_the_reasoner_is_sampled() -> None:
    fake = FakeReasoner(["\\boxed{1}"])
    reward = QuestionerReward(reasoner=fake)
    with pytest.raises(ValueError, match="image_id"):
        reward([], [tagged(QA)], image=["img"])
    with pytest.raises(ValueError, match="image_id"):
        reward([], [tagged(QA), tagged(QB)], image=["a", "b"], image_id=["A"])
    assert fake.calls == [] and reward.last_details == []


def test_reasoner_needs_an_image_column() -> None:
    reward = QuestionerReward(reasoner=FakeReasoner([]))
    with pytest.raises(ValueError, match="image"):
        reward([], [tagged(QA)], image_id=["A"])
    with pytest.raises(ValueError, match="'image'"):
        reward([], [tagged(QA), tagged(QB)], image=["img"], image_id=["A", "A"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "mixed"}, "mode"),
        ({"diversity_scope": "group"}, "diversity_scope"),
        ({"question_format": "xml"}, "question_format"),
        ({"reasoner_prompt": "chatty"}, "reasoner_prompt"),
        ({"diversity_weight": -0.1}, "diversity_weight"),
        ({"diversity_weight": float("nan")}, "diversity_weight"),
        ({"bleu_threshold": 0.0}, "bleu_threshold"),
        ({"bleu_threshold": 1.5}, "bleu_threshold"),
        ({"num_reasoner_samples": 0}, "num_reasoner_samples"),
        ({"sampling": {"max_new_tokens": 0}}, "max_new_tokens"),
        ({"sampling": {"beams": 4}}, "sampling"),
    ],
)
def test_constructor_validation(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        QuestionerReward(**kwargs)


# ------------------------------------------------------------------------------------ sampling the Reasoner


class FakeReasoner:
    """A Generator that answers each prompt with the given texts and records every call."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.calls: list[tuple[list, SamplingParams, int]] = []

    def generate(self, prompts, params=None, n=1):
        self.calls.append((list(prompts), params, n))
        return [[Sample(self.texts[j % len(self.texts)]) for j in range(n)] for _ in prompts]


def test_reasoner_gets_valid_questions_once_with_n_m() -> None:
    fake = FakeReasoner(["so \\boxed{4}", "\\boxed{4}", "\\boxed{5}", "no box", "\\boxed{}"])
    reward = QuestionerReward(
        reasoner=fake, num_reasoner_samples=5, sampling={"max_new_tokens": 64, "seed": 3}
    )
    completions = [tagged(QA), "junk", tagged(QB), None]
    got = reward([], completions, image=["i0", "i1", "i2", "i3"], image_id=["A", "A", "B", "B"])
    assert len(fake.calls) == 1
    prompts, params, n = fake.calls[0]
    assert n == 5
    assert prompts == [reasoner_messages(QA, "i0"), reasoner_messages(QB, "i2")]
    assert params == SamplingParams(max_new_tokens=64, temperature=1.0, top_p=1.0, top_k=40, seed=3)
    # Answers 4, 4, 5, missing, missing (an empty box is missing): c = 2/5 = 0.4; G = 2 per image.
    assert [d["confidence"] for d in reward.last_details] == pytest.approx([0.4, 0.0, 0.4, 0.0], abs=1e-6)
    assert got == pytest.approx([0.8 - 0.5, 0.0, 0.8 - 0.5, 0.0], abs=1e-6)


def test_reasoner_default_sampling_and_images_column() -> None:
    fake = FakeReasoner(["\\boxed{1}"])
    reward = QuestionerReward(reasoner=fake, num_reasoner_samples=2, diversity_scope="batch")
    reward([], [tagged(QA)], images=[["first", "second"]])
    prompts, params, n = fake.calls[0]
    assert prompts == [reasoner_messages(QA, "first")]
    assert params == SamplingParams(max_new_tokens=4096, temperature=1.0, top_p=1.0, top_k=40)
    assert n == 2


def test_reasoner_not_called_without_valid_questions() -> None:
    fake = FakeReasoner(["\\boxed{1}"])
    got = QuestionerReward(reasoner=fake)([], ["junk", None], image=["a", "b"], image_id=[0, 0])
    assert fake.calls == [] and got == [0.0, 0.0]


def test_given_reasoner_answers_take_precedence() -> None:
    fake = FakeReasoner(["\\boxed{1}"])
    QuestionerReward(reasoner=fake)([], [tagged(QA)], reasoner_answers=[HALF], image_id=[0])
    assert fake.calls == []


def test_answer_only_prompt_names_the_typed_question_type() -> None:
    fake = FakeReasoner(["\\boxed{3}"])
    reward = QuestionerReward(reasoner=fake, question_format="typed", reasoner_prompt="answer_only")
    typed = "<type>Numerical</type><question>How many cars?</question><answer>3</answer>"
    reward([], [typed], image=["img"], image_id=[0])
    prompts, _, _ = fake.calls[0]
    expected = reasoner_messages("How many cars?", "img", style="answer_only", question_type="numerical")
    assert prompts == [expected]


def test_reasoner_spec_is_built_lazily_once(monkeypatch) -> None:
    built: list[str] = []
    fake = FakeReasoner(["\\boxed{2}"])

    def make(spec):
        built.append(spec)
        return fake

    monkeypatch.setattr(rewards, "make_generator", make)
    reward = QuestionerReward(reasoner="tiny:qwen2.5-vl", num_reasoner_samples=2)
    assert built == []
    for _ in range(2):
        reward([], [tagged(QA)], image=["img"], image_id=[0])
    assert built == ["tiny:qwen2.5-vl"] and len(fake.calls) == 2


def test_from_config_reads_reward_section() -> None:
    cfg = SimpleNamespace(
        questioner=SimpleNamespace(question_format="typed"),
        reward=SimpleNamespace(
            mode="code",
            diversity_scope="batch",
            diversity_weight=0.5,
            bleu_threshold=0.4,
            num_reasoner_samples=6,
            reasoner_prompt="answer_only",
            reasoner_max_new_tokens=128,
            reasoner_temperature=0.7,
            reasoner_top_p=0.9,
            reasoner_top_k=20,
        ),
    )
    fake = FakeReasoner(["\\boxed{1}"])
    reward = QuestionerReward.from_config(cfg, reasoner=fake)
    assert (reward.mode, reward.diversity_scope, reward.question_format) == ("code", "batch", "typed")
    assert (reward.diversity_weight, reward.bleu_threshold, reward.num_reasoner_samples) == (0.5, 0.4, 6)
    assert reward.reasoner_prompt == "answer_only" and reward.reasoner is fake
    assert reward.sampling == SamplingParams(max_new_tokens=128, temperature=0.7, top_p=0.9, top_k=20)
    assert reward.__name__ == "questioner_reward"


def test_multi_process_groups_are_gathered(monkeypatch) -> None:
    """Rank 1 of 2: image A's other copy of DUP lives on rank 0; the group is clustered whole."""
    rank0_rows = [(0, DUP, True, 0.5, "A"), (0, QB, True, 0.5, "B")]

    def gather(rows):
        return rank0_rows + list(rows)

    monkeypatch.setattr(rewards, "rank_and_world", lambda: (1, 2))
    monkeypatch.setattr(accelerate.utils, "gather_object", gather)
    logged: dict[str, float] = {}
    reward = QuestionerReward()
    got = reward(
        [],
        [tagged(DUP), tagged(QA)],
        reasoner_answers=[HALF, HALF],
        image_id=["A", "B"],
        log_metric=logged.__setitem__,
    )
    # Image A: {DUP, DUP} one cluster of G = 2; image B: {QB, QA} two singletons.
    assert got == pytest.approx([0.0, 0.5], abs=1e-6)
    assert [d["penalty"] for d in reward.last_details] == pytest.approx([1.0, 0.5], abs=1e-6)
    assert logged["questioner/penalty_mean"] == pytest.approx(0.75, abs=1e-6)


# ------------------------------------------------------------------------------------ ReasonerReward


def test_reasoner_reward_paper() -> None:
    completions = ["so \\boxed{B}", "\\boxed{b}", "\\boxed{C}", "B, no box", "\\boxed{0.5}"]
    labels = ["B", "B", "B", "B", "\\frac{1}{2}"]
    assert reasoner_reward([], completions, answer=labels) == [1.0, 1.0, 0.0, 0.0, 1.0]


def test_reasoner_reward_uses_last_box_with_nested_braces() -> None:
    got = reasoner_reward(
        [], ["\\boxed{A} then \\boxed{\\frac{3}{4}}", "\\boxed{A} then \\boxed{C}"], answer=["0.75", "A"]
    )
    assert got == [1.0, 0.0]


def test_reasoner_reward_code() -> None:
    code = ReasonerReward("code")
    completions = [
        "<think>look at the bars</think> \\boxed{B}",
        "\\boxed{B}",
        "<think>\nhmm\n</think>\n\\boxed{C}",
        "<think>x</think> \\boxed{B} trailing words",
        "  <think>x</think>\\boxed{b}  ",
    ]
    assert code([], completions, answer=["B"] * 5) == pytest.approx([1.0, 0.9, 0.1, 0.9, 1.0], abs=1e-6)


def test_reasoner_reward_missing_labels_are_not_applicable() -> None:
    got = reasoner_reward([], ["\\boxed{1}"] * 4, answer=[None, "", "  ", 1])
    assert got == [None, None, None, 1.0]


def test_reasoner_reward_never_raises_on_content() -> None:
    completions = [None, 5, "", [{"role": "assistant", "content": "\\boxed{7}"}], "\\boxed{", {"x": 1}]
    for reward in (reasoner_reward, ReasonerReward("code")):
        got = reward([], completions, answer=["7"] * len(completions))
        assert all(isinstance(r, float) for r in got)
    assert reasoner_reward([], completions, answer=["7"] * len(completions)) == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]


def test_reasoner_reward_wiring_errors() -> None:
    with pytest.raises(ValueError, match="answer"):
        reasoner_reward([], ["\\boxed{1}"])
    with pytest.raises(ValueError, match="answer"):
        reasoner_reward([], ["\\boxed{1}", "\\boxed{2}"], answer=["1"])
    with pytest.raises(ValueError, match="mode"):
        ReasonerReward("binary")


# ------------------------------------------------------------------------------------ tiny reasoner (slow)


class CountingGenerator:
    """Wraps a Generator and records the prompts and n of every call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[tuple[list, int]] = []

    def generate(self, prompts, params=None, n=1):
        self.calls.append((list(prompts), n))
        return self.inner.generate(prompts, params, n)


@pytest.mark.slow
def test_questioner_reward_with_tiny_reasoner(tiny_vlm, tiny_images) -> None:
    model, processor = tiny_vlm
    reasoner = CountingGenerator(HFGenerator(model, processor))
    reward = QuestionerReward(
        reasoner=reasoner, num_reasoner_samples=3, sampling={"max_new_tokens": 6, "seed": 0}
    )
    # Two images x G 2; the second output about image 0 is malformed and must never reach the Reasoner.
    completions = [
        tagged("How many shapes?"),
        "no tags",
        tagged("Which colour is left?"),
        tagged("Is it red?"),
    ]
    image_a, image_b = tiny_images[:2]
    logged: dict[str, float] = {}
    got = reward(
        [],
        completions,
        image=[image_a, image_a, image_b, image_b],
        image_id=["a", "a", "b", "b"],
        log_metric=logged.__setitem__,
    )
    assert len(got) == 4 and all(isinstance(r, float) and math.isfinite(r) and 0.0 <= r <= 1.0 for r in got)
    assert got[1] == 0.0
    assert len(reasoner.calls) == 1
    prompts, n = reasoner.calls[0]
    assert n == 3
    assert prompts == [
        reasoner_messages("How many shapes?", image_a),
        reasoner_messages("Which colour is left?", image_b),
        reasoner_messages("Is it red?", image_b),
    ]
    assert [d["valid"] for d in reward.last_details] == [True, False, True, True]
    assert all(0.0 <= d["confidence"] <= 1.0 for d in reward.last_details)
    assert logged["questioner/valid_rate"] == pytest.approx(0.75)


def test_reasoner_sampling_is_the_reward_section() -> None:
    from visplay.config import load_config
    from visplay.rewards import DEFAULT_REASONER_SAMPLING, reasoner_sampling

    assert dict(DEFAULT_REASONER_SAMPLING) == {
        "max_new_tokens": 4096,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 40,
    }
    cfg = load_config(overrides=["reward.reasoner_top_k=5", "reward.reasoner_temperature=0.7"])
    assert reasoner_sampling(cfg.reward) == {
        "max_new_tokens": 4096,
        "temperature": 0.7,
        "top_p": 1.0,
        "top_k": 5,
    }
    assert QuestionerReward.from_config(cfg).sampling == SamplingParams(
        max_new_tokens=4096, temperature=0.7, top_p=1.0, top_k=5
    )
