"""Rewards score any completion against the puzzle column and never raise (spec §2.8)."""

import json

from crosswordbench.rewards import icr_reward, lcr_reward, wcr_reward

REPLY = "Across:\n1: CAT\nDown:\n1: COW\n2: SEA"


def test_rewards_on_text_and_chat(P):
    puzzles = [P, P.to_dict(), json.dumps(P.to_dict())]
    completions = [REPLY, [{"role": "assistant", "content": REPLY}], REPLY]
    assert wcr_reward(None, completions, puzzle=puzzles) == [2 / 3] * 3
    assert lcr_reward(None, completions, puzzle=puzzles) == [8 / 9] * 3
    assert icr_reward(None, completions, puzzle=puzzles) == [0.5] * 3


def test_bad_rows_give_none_and_garbage_gives_zero(P):
    completions = [None, "", 42, REPLY, REPLY]
    puzzles = [P, P, P, "{not json", {"words": []}]
    assert wcr_reward([], completions, puzzle=puzzles) == [0.0, 0.0, 0.0, None, None]
    assert icr_reward([], [REPLY], puzzle=None) == [None]
    assert wcr_reward.__name__ == "wcr_reward"
