"""A1111's attention syntax, on the cases its own documentation gives and the edge cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagestudio.core.promptsyntax import WeightedText, parse_attention, plain


def runs(prompt: str) -> list[tuple[str, float]]:
    return [
        ("BREAK", -1.0) if r.is_break else (r.text, round(r.weight, 6))
        for r in parse_attention(prompt)
    ]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("((sharp focus))", [("sharp focus", 1.21)]),
        ("[blurry]", [("blurry", 0.909091)]),
        ("(masterpiece:1.2), cat", [("masterpiece", 1.2), (", cat", 1.0)]),
        ("(a (b:2) c)", [("a ", 1.1), ("b", 2.2), (" c", 1.1)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        ("[also unbalanced", [("also unbalanced", 0.909091)]),
        (r"\(literal\]", [("(literal]", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        ("closing) alone]", [("closing) alone]", 1.0)]),
        ("time: 12:30 (x : 0.5 )", [("time: 12:30 ", 1.0), ("x ", 0.5)]),
        ("no open:1.2)", [("no open:1.2)", 1.0)]),
        (r"back\\slash \x", [("back\\slash \\x", 1.0)]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.573),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641),
                (".", 1.1),
            ],
        ),
        ("a cat BREAK a dog", [("a cat", 1.0), ("BREAK", -1.0), ("a dog", 1.0)]),
        ("(red BREAK blue)", [("red", 1.1), ("BREAK", -1.0), ("blue", 1.1)]),
        ("BREAKFAST break", [("BREAKFAST break", 1.0)]),
        ("", [("", 1.0)]),
        ("()", [("", 1.0)]),
    ],
)
def test_weights_follow_a1111(prompt: str, expected: list[tuple[str, float]]) -> None:
    assert runs(prompt) == expected


def test_plain_drops_the_syntax() -> None:
    assert plain("(masterpiece:1.2), ((sharp focus)), [blurry] BREAK cat") == (
        "masterpiece , sharp focus , blurry cat"
    )


@given(st.text(alphabet="ab ():[]\\.1:BREAK", max_size=60))
def test_any_prompt_parses_and_keeps_its_letters(prompt: str) -> None:
    parsed = parse_attention(prompt)
    assert parsed and all(isinstance(r, WeightedText) for r in parsed)
    assert all(r.weight > -1e9 for r in parsed)
    letters = "".join(r.text for r in parsed)
    # the syntax never invents text; every 'a' and 'b' of the prompt survives
    assert letters.count("a") == prompt.count("a")
    assert letters.count("b") == prompt.count("b")
