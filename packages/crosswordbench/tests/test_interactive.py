"""The interactive mode (spec §2.9, §8): ISS, the fixed reference quirks and their switches, history."""

import pytest

from crosswordbench.interactive import InteractiveConfig, run_interactive, trimmed_history
from rlcore.config import ConfigError
from rlcore.rollout import Sample

CAT, COW, TEA, SEA = "Across:\n1: CAT", "Down:\n1: COW", "Down:\n2: TEA", "Down:\n2: SEA"


class Scripted:
    """A callable generator replaying fixed replies and keeping every request it got."""

    def __init__(self, replies):
        self.replies, self.requests = list(replies), []

    def __call__(self, conversations):
        self.requests.extend(conversations)
        return [self.replies.pop(0) if self.replies else "" for _ in conversations]


def run(P, replies, **kw):
    return run_interactive(P, Scripted(replies), InteractiveConfig(modality="text", **kw))


def test_wrong_third_answer(P):
    result = run(P, [CAT, COW, SEA])
    assert result.steps == [True, True, False] and result.iss == 2
    assert result.stop_reason == "incorrect" and result.turns == 3
    assert result.confirmed == {"across 1": "CAT", "down 1": "COW"}


def test_perfect_run_and_the_reference_final_turn(P):
    perfect = run(P, [CAT, COW, TEA])
    assert perfect.steps == [True, True, True] and perfect.iss == 3 and perfect.stop_reason == "solved"
    assert run(P, [CAT, COW, TEA], score_final_turn=False).iss == 2


def test_several_answers_in_one_turn(P):
    result = run(P, ["Across:\n1: CAT\nDown:\n1: COW", TEA])
    assert result.steps == [True, True] and result.turns == 2
    assert run(P, ["Across:\n1: CAT\nDown:\n1: BOW"]).steps == [False]


def test_stagnant_turns(P):
    result = run(P, [CAT, "I am thinking", CAT, "no idea"])
    assert result.stop_reason == "stagnant" and result.steps == [True] and result.turns == 4
    quirky = run(P, [CAT, "hmm", COW, "x", "y", "z"], stagnant_counts_as_step=True)
    # the reference quirk: two stagnant turns count as correct steps, inflating ISS from 2 to 5
    assert quirky.steps == [True, True, True, True, True] and quirky.stop_reason == "stagnant"


def test_membership_check_accepts_answers_in_the_wrong_slot(P):
    wrong_slot = "Down:\n2: COW"
    assert run(P, [wrong_slot]).steps == [False]
    result = run(P, [wrong_slot, CAT, TEA], check="membership")
    assert result.steps == [True, True, True] and result.confirmed["down 1"] == "COW"


def test_followups_show_confirmed_letters(P):
    gen = Scripted([CAT, COW, SEA])
    run_interactive(P, gen, InteractiveConfig(modality="text"))
    second = gen.requests[1]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert "grid = [['C', 'A', 'T', 1, 1]" in second[-1]["content"]
    assert "empty grid = " in second[0]["content"]


def test_image_modality_and_history_limit(P):
    gen = Scripted([CAT, "x", "y", "z"])
    result = run_interactive(P, gen, InteractiveConfig(modality="image", image_limit=2))
    assert result.stop_reason == "stagnant"
    for request in gen.requests:
        images = sum(
            1 for m in request if isinstance(m["content"], list) for b in m["content"] if b["type"] == "image"
        )
        assert images <= 2 and request[0] is gen.requests[0][0]
    assert len(gen.requests[-1]) == 3  # first message + newest pair only


def test_trimmed_history_keeps_first_and_newest():
    img = {"type": "image", "image": None}
    first = {"role": "user", "content": [img]}
    pairs = [({"role": "assistant", "content": str(i)}, {"role": "user", "content": [img]}) for i in range(5)]
    kept = trimmed_history(first, pairs, image_limit=3)
    assert kept[0] is first and [m["content"] for m in kept[1::2]] == ["3", "4"]
    assert len(trimmed_history(first, pairs, image_limit=1)) == 3


def test_rlcore_generators_are_called_with_params(P):
    class Gen:
        def __init__(self):
            self.params = []

        def generate(self, prompts, params=None, n=1):
            self.params.append(params)
            return [[Sample(CAT if len(self.params) == 1 else "Down:\n2: BAD", [1, 2])] for _ in prompts]

    gen = Gen()
    result = run_interactive(P, gen, InteractiveConfig(modality="text"))
    assert result.steps == [True, False]
    assert gen.params[0].temperature == 0.0 and gen.params[0].max_new_tokens == 16384


@pytest.mark.parametrize("kw", [{"modality": "audio"}, {"check": "any"}, {"max_stagnant_turns": 0}])
def test_bad_settings(kw):
    with pytest.raises(ConfigError, match="valid|>="):
        InteractiveConfig(**kw)
