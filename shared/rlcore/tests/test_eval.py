import json

import pytest

from rlcore.eval import evaluate, pass_at_k
from rlcore.rewards import boxed_accuracy_reward
from rlcore.rollout import Sample


def test_pass_at_k_exact():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(4, 2, 3) == 1.0  # n - c < k
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


class Scripted:
    """A generator that answers from a script: prompt -> list of completions (cycled over n)."""

    def __init__(self, script):
        self.script = script
        self.calls = []

    def generate(self, prompts, params=None, n=1):
        self.calls.append((list(prompts), n))
        return [[Sample(self.script[p][i], [], None, "stop") for i in range(n)] for p in prompts]


def test_evaluate_scripted(tmp_path):
    records = [
        {"prompt": "q1", "answer": "4"},
        {"prompt": "q2", "answer": "7"},
        {"prompt": "q3", "answer": "1"},
    ]
    gen = Scripted(
        {
            "q1": ["\\boxed{4}", "\\boxed{4}", "\\boxed{5}", "\\boxed{4}"],  # 3/4, majority right
            "q2": ["\\boxed{1}", "\\boxed{1}", "\\boxed{7}", "no"],  # 1/4, majority wrong
            "q3": ["x", "y", "z", "w"],  # 0/4, no answer
        }
    )
    out = tmp_path / "items.jsonl"
    result = evaluate(gen, records, boxed_accuracy_reward, n=4, k=(1, 2, 8), batch_size=2, out=out)
    assert [len(c[0]) for c in gen.calls] == [2, 1]
    assert result.accuracy == pytest.approx((0.75 + 0.25 + 0) / 3)
    assert result.pass_at_k[1] == pytest.approx((0.75 + 0.25 + 0) / 3)
    assert result.pass_at_k[2] == pytest.approx((pass_at_k(4, 3, 2) + pass_at_k(4, 1, 2)) / 3)
    assert 8 not in result.pass_at_k
    assert result.maj_at_n == pytest.approx(1 / 3)
    assert result.items[1]["answers"] == ["1", "1", "7", None]
    assert result.items[0]["scores"] == [1.0, 1.0, 0.0, 1.0]
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["index"] == 2
    assert result.summary()["maj@4"] == pytest.approx(1 / 3)


def test_evaluate_prompt_callable_and_none_scores():
    records = [{"question": "a", "answer": None}]
    gen = Scripted({"Q: a": ["\\boxed{1}"]})
    result = evaluate(gen, records, boxed_accuracy_reward, prompt=lambda r: "Q: " + r["question"])
    assert result.accuracy == 0.0 and result.items[0]["scores"] == [0.0]
