"""The two-pass machinery (spec 2.3, 4, 10): extraction, both missing-description modes, the one batched
second-pass call, the re-prompt cut, and both passes through the HF backend on the tiny VLM."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest

from rlcore.models import eos_token_ids
from vision_sr1.config import RLConfig
from vision_sr1.prompts import REPROMPT_INSTRUCTION, first_pass_messages, reprompt_messages
from vision_sr1.rewards import visual_reward
from vision_sr1.selfreward import (
    SelfRewardRollout,
    description_for_reprompt,
    extract_description,
    first_question,
    fit_reprompt,
    self_reward_pass,
)

FIRST = "<description>A red square with side 3.</description> <think>Area = 9.</think> \\boxed{9}"


@pytest.mark.parametrize(
    "text, expected",
    [
        (FIRST, "A red square with side 3."),
        ("< description >  spaced \n body </ description >\\boxed{1}", "spaced \n body"),
        ("<description>first</description><description>second</description>", "first"),
        ("<description></description><think>t</think>", ""),
        ("<description>never closed <think>t</think>", None),
        ("no block at all \\boxed{3}", None),
        ("<DESCRIPTION>caps</DESCRIPTION>", None),
    ],
)
def test_extract_description(text, expected):
    assert extract_description(text) == expected


def test_extract_description_of_odd_types_is_none():
    assert extract_description(None) is None
    assert extract_description(12) is None


def test_strict_mode_skips_missing_and_empty_blocks():
    assert description_for_reprompt(FIRST) == "A red square with side 3."
    assert description_for_reprompt("<think>t</think> \\boxed{9}") is None
    assert description_for_reprompt("<description>   </description><think>t</think>\\boxed{9}") is None
    assert description_for_reprompt("<description></description>", missing_description="strict") is None


def test_official_mode_falls_back_to_the_whole_response():
    whole = "<think>9</think> \\boxed{9}"
    assert description_for_reprompt(whole, missing_description="official") == whole
    assert description_for_reprompt("<description></description>x", missing_description="official") == ""
    assert description_for_reprompt(FIRST, missing_description="official") == "A red square with side 3."


def test_unknown_missing_description_mode():
    with pytest.raises(ValueError, match="missing_description"):
        description_for_reprompt(FIRST, missing_description="lenient")


class FakeGenerate:
    """A scripted second pass: records every call and answers with a fixed text per re-prompt."""

    def __init__(self, reply=lambda messages: "<think>x</think> \\boxed{9}"):
        self.calls: list[list[list[dict]]] = []
        self.reply = reply

    def __call__(self, batch):
        self.calls.append(batch)
        return [self.reply(messages) for messages in batch]


def test_self_reward_pass_one_call_in_order_with_skips():
    completions = [
        "<description>d0</description><think>t</think>\\boxed{1}",
        "<think>no description</think>\\boxed{2}",
        "<description>d2</description><think>t</think>\\boxed{3}",
        "<description> </description>\\boxed{4}",
    ]
    questions = ["q0<image>", "q1", "q2", "q3"]
    fake = FakeGenerate(lambda messages: messages[0]["content"].split("\n")[0])
    out = self_reward_pass(completions, questions, fake)
    assert len(fake.calls) == 1
    assert fake.calls[0] == [reprompt_messages("d0", "q0<image>"), reprompt_messages("d2", "q2")]
    assert out == ["Text description: d0", None, "Text description: d2", None]


def test_worked_reprompt_example():
    fake = FakeGenerate()
    self_reward_pass(
        ["<description> Two cats on a mat. </description><think>t</think>\\boxed{2}"],
        ["How many cats?<image>"],
        fake,
    )
    (messages,) = fake.calls[0]
    assert messages == [
        {
            "role": "user",
            "content": "Text description: Two cats on a mat.\nQuestion: How many cats?\n"
            + REPROMPT_INSTRUCTION,
        }
    ]


def test_official_mode_reprompts_everything():
    fake = FakeGenerate()
    out = self_reward_pass(["\\boxed{9}", FIRST], ["q", "q"], fake, missing_description="official")
    assert len(fake.calls[0]) == 2 and all(o is not None for o in out)
    assert fake.calls[0][0][0]["content"].startswith("Text description: \\boxed{9}\n")


def test_no_description_means_no_generate_call():
    fake = FakeGenerate()
    assert self_reward_pass(["\\boxed{1}", "<think>t</think>"], ["a", "b"], fake) == [None, None]
    assert fake.calls == []
    assert self_reward_pass([], [], fake) == [] and fake.calls == []


def test_self_reward_pass_errors():
    with pytest.raises(ValueError, match="2 completions but 1 questions"):
        self_reward_pass([FIRST, FIRST], ["q"], FakeGenerate())
    with pytest.raises(ValueError, match="returned 1 texts for 2"):
        self_reward_pass([FIRST, FIRST], ["q", "q"], lambda batch: ["only one"])
    with pytest.raises(ValueError, match="expected a string"):
        self_reward_pass([FIRST], ["q"], lambda batch: [None])
    with pytest.raises(ValueError, match="texts for 1"):
        self_reward_pass([FIRST], ["q"], lambda batch: "a string, not a list")


def test_self_reward_texts_feed_the_visual_reward():
    second = self_reward_pass([FIRST, "\\boxed{9}"], ["q", "q"], FakeGenerate())
    assert visual_reward(None, [FIRST, "\\boxed{9}"], second_pass=second, answer=["9", "9"]) == [1.0, 0.0]


def _words(messages):
    return len(messages[0]["content"].split())


def test_fit_reprompt_cuts_the_description_from_the_end():
    description = " ".join(f"w{i}" for i in range(50))
    question = "How many cats?"
    overhead = _words(reprompt_messages("", question))
    messages, used = fit_reprompt(description, question, _words, overhead + 10)
    assert used == " ".join(f"w{i}" for i in range(10))
    assert messages == reprompt_messages(used, question)
    assert messages[0]["content"].endswith("Question: How many cats?\n" + REPROMPT_INSTRUCTION)
    assert fit_reprompt(description, question, _words, 10_000) == (
        reprompt_messages(description, question),
        description,
    )
    assert fit_reprompt(description, question, _words, 1)[1] == ""


def test_first_question_is_the_first_text_block():
    prompt = first_pass_messages("What colour is the circle?<image>", 1)
    assert first_question(prompt) == "What colour is the circle?"
    assert (
        first_question([{"role": "system", "content": "s"}, {"role": "user", "content": "plain"}]) == "plain"
    )
    assert first_question([{"role": "assistant", "content": "a"}]) == ""


# -- both passes through the HF backend ---------------------------------------------------------------------


def _fill(messages, images):
    it = iter(images)
    return [
        {
            **m,
            "content": [
                {"type": "image", "image": next(it)} if b["type"] == "image" else b for b in m["content"]
            ],
        }
        for m in messages
    ]


def _fake_trainer(model, processor, *, max_new_tokens=12):
    metrics = defaultdict(lambda: defaultdict(list))
    pending = defaultdict(list)
    return SimpleNamespace(
        model=model,
        processing_class=processor,
        accelerator=SimpleNamespace(unwrap_model=lambda m: m),
        use_vllm=False,
        args=SimpleNamespace(max_completion_length=max_new_tokens, temperature=1.0, top_p=1.0, top_k=0),
        _metrics=metrics,
        _log_metric=lambda name, value: pending[name].append(value),
        pending=pending,
    )


@pytest.mark.slow
def test_both_passes_through_the_hf_backend_mixed_batch(tiny_vlm, tiny_images):
    model, processor = tiny_vlm
    prompts = [
        _fill(first_pass_messages("How many circles?<image>", 1), tiny_images[:1]),
        _fill(first_pass_messages("Which is larger?", 2), tiny_images[1:3]),
        first_pass_messages("What is 2 + 3?", 0),
    ]
    trainer = _fake_trainer(model, processor)
    rollout = SelfRewardRollout(RLConfig(missing_description="official", second_pass_max_tokens=6))
    out = rollout(prompts, trainer)
    assert len(out["prompt_ids"]) == len(out["completion_ids"]) == len(out["logprobs"]) == 3
    assert len(out["second_pass"]) == 3 and all(isinstance(t, str) for t in out["second_pass"])
    # prompt ids are what the processor gives for the training forward pass (image pad tokens expanded)
    image_id = model.config.image_token_id
    assert [ids.count(image_id) for ids in out["prompt_ids"]] == [4, 8, 0]
    text = processor.apply_chat_template(prompts[1], tokenize=False, add_generation_prompt=True)
    expected = processor(text=[text], images=tiny_images[1:3])["input_ids"][0]
    assert out["prompt_ids"][1] == list(expected)
    for ids, lps in zip(out["completion_ids"], out["logprobs"], strict=True):
        assert 1 <= len(ids) <= 12 and len(lps) == len(ids)
        assert (
            image_id not in ids and processor.tokenizer.pad_token_id not in ids
        )  # suppressed while sampling
    assert model.generation_config.suppress_tokens is None  # restored
    assert trainer.pending["self_reward/skipped_frac"] == [0.0]
    assert trainer._metrics["train"]["time/gen_first"] and trainer._metrics["train"]["time/gen_second"]
    eos = eos_token_ids(model, processor.tokenizer)
    assert out["description"] == [
        description_for_reprompt(
            processor.tokenizer.decode(ids[:-1] if ids[-1] in eos else ids), missing_description="official"
        )
        for ids in out["completion_ids"]
    ]


@pytest.mark.slow
def test_strict_rollout_skips_description_less_samples(tiny_vlm, tiny_images):
    model, processor = tiny_vlm
    prompts = [_fill(first_pass_messages("How many?", 1), tiny_images[:1])] * 2
    trainer = _fake_trainer(model, processor, max_new_tokens=4)
    out = SelfRewardRollout(RLConfig())(prompts, trainer)
    assert out["second_pass"] == [None, None]  # a random tiny model writes no description block
    assert trainer.pending["self_reward/skipped_frac"] == [1.0]


@pytest.mark.slow
def test_second_pass_reprompt_is_cut_to_max_prompt_length(tiny_vlm):
    model, processor = tiny_vlm

    def count(messages):
        rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(processor.tokenizer(rendered)["input_ids"])

    limit = count(reprompt_messages("", "What is 2 + 3?")) + 10
    rollout = SelfRewardRollout(RLConfig(missing_description="official", max_prompt_length=limit))
    # a text-only first prompt; in official mode the whole (long, random) completion is the "description"
    model.generation_config.min_new_tokens = 60  # a fresh fixture per test: no need to restore
    trainer = _fake_trainer(model, processor, max_new_tokens=60)
    out = rollout([first_pass_messages("What is 2 + 3?", 0)], trainer)
    (used,) = out["description"]
    whole = processor.tokenizer.decode([t for t in out["completion_ids"][0] if t != 2])
    assert count(reprompt_messages(used, "What is 2 + 3?")) <= limit
    assert whole.startswith(used) and len(used) < len(whole)
    assert out["second_pass"][0] is not None
