import pytest

from relayllm.prompts import (
    INSTRUCTION,
    MAX_CALL,
    build_choice_question,
    build_messages,
    build_user_prompt,
    format_call,
    parse_calls,
    strip_calls,
)


def test_instruction_is_verbatim():
    assert INSTRUCTION == "Please reason step by step, and put your final answer within \\boxed{}."
    assert build_user_prompt("1+1?") == "1+1?\n" + INSTRUCTION
    assert build_messages("q") == [{"role": "user", "content": "q\n" + INSTRUCTION}]


def test_format_call():
    assert format_call(0) == "<call>0</call>"
    assert format_call(500) == "<call>500</call>"
    for bad in (-1, True, 2.0, "3", None):
        with pytest.raises(ValueError):
            format_call(bad)


def test_parse_calls_exact():
    assert parse_calls("a<call>5</call>b<call> 20 </call>") == [5, 20]
    assert parse_calls("<call>007</call>") == [7]
    for text in (
        "<call></call>",
        "<call>-5</call>",
        "<call>1a</call>",
        "<call>1.5</call>",
        "<call>+3</call>",
    ):
        assert parse_calls(text) == []
    assert parse_calls(None) == []
    assert parse_calls("<call>3</call") == []
    assert parse_calls("<call>" + "9" * 5000 + "</call>") == [MAX_CALL]
    assert parse_calls("<call>" + "0" * 30 + "12</call>") == [12]


def test_strip_calls_exact():
    text = "A<call>300</call>B<call> 8 </call>"
    assert strip_calls(text) == "A B"
    assert strip_calls(text, "remove") == "AB"
    assert strip_calls("x <call>1a</call>") == "x <call>1a</call>"  # malformed tags stay
    with pytest.raises(ValueError):
        strip_calls(text, "delete")


def test_choice_question():
    assert build_choice_question("Pick one.", ["cat", "dog"]) == "Pick one.\n\nOptions:\nA. cat\nB. dog"
