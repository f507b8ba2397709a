"""Dynamic prompts ({a|b}, {2$$a|b|c}, __wildcards__) through the dynamicprompts library."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.wildcards import MAX_DEPTH, has_dynamic_syntax, resolve_prompts


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    wildcards = tmp_path / "wildcards"
    (wildcards / "creatures").mkdir(parents=True)
    (wildcards / "colour.txt").write_text("red\ngreen\nblue\n# a comment, not a choice\n", "utf-8")
    (wildcards / "creatures" / "animal.txt").write_text("__colour__ fox\ncat\nowl\n", "utf-8")
    return wildcards


def test_plain_prompts_pass_untouched(folder: Path) -> None:
    text = "a $5 bill, #1 @home (red:1.2) [x] snake_case __init"
    assert not has_dynamic_syntax(text)
    assert resolve_prompts(text, [1, 2], folder) == [text, text]


def test_choices_and_wildcards_follow_the_seed(folder: Path) -> None:
    template = "a {red|green|blue} __creatures/animal__ by {2$$ink|chalk|oil}, (sharp:1.2)"
    seeds = list(range(40))
    first = resolve_prompts(template, seeds, folder)
    assert resolve_prompts(template, seeds, folder) == first  # a seed gives its prompt back
    assert resolve_prompts(template, [seeds[7]], folder) == [first[7]]  # alone, too
    assert len(set(first)) > 5  # each image of a batch its own pick
    for prompt in first:
        assert "{" not in prompt and "__" not in prompt
        assert "(sharp:1.2)" in prompt  # A1111's weights are left for the encoder
        assert sum(medium in prompt for medium in ("ink", "chalk", "oil")) == 2
    nested = [p for p in first if " fox " in p]
    colours = {p.split(" fox ")[0].split()[-1] for p in nested}
    assert nested and colours <= {"red", "green", "blue"}  # the nested wildcard was picked too
    assert not any("comment" in p for p in first)


def test_bad_wildcards_are_sentences(folder: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"no wildcard file for __hat__.*hat\.txt"):
        resolve_prompts("a __hat__", [1], folder)
    (folder / "loop.txt").write_text("x __loop2__\n", "utf-8")
    (folder / "loop2.txt").write_text("y __loop__\n", "utf-8")
    with pytest.raises(InvalidRequest, match="leads back to itself"):
        resolve_prompts("a __loop__", [1], folder)
    for level in range(MAX_DEPTH + 2):
        (folder / f"deep{level}.txt").write_text(f"__deep{level + 1}__\n", "utf-8")
    (folder / f"deep{MAX_DEPTH + 2}.txt").write_text("end\n", "utf-8")
    with pytest.raises(InvalidRequest, match=f"deeper than {MAX_DEPTH}"):
        resolve_prompts("__deep0__", [1], folder)
    with pytest.raises(InvalidRequest, match="could not be read"):
        resolve_prompts("a {red|green", [1], folder)
