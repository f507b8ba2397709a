"""Dynamic prompts: ``{red|green|blue}`` picks one, ``{2$$a|b|c}`` picks two, ``__name__`` picks a
line of ``wildcards/name.txt``; picks follow the seed, so a seed gives its prompt back.

The syntax is the A1111 sd-dynamic-prompts extension's, and so is the engine: the
`dynamicprompts` library (MIT, the same project), not a parser of our own. What this module
adds: only prompts that use the syntax go through it (its grammar also claims ``$``, ``#`` and
``@``, which ordinary prompts contain: "a $5 bill"), a seed per image, and refusals in words: a
wildcard with no file, a wildcard that leads back to itself or nests deeper than `MAX_DEPTH`,
a brace that does not parse.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

from imagestudio.core.errors import InvalidRequest

__all__ = [
    "MAX_DEPTH",
    "has_dynamic_syntax",
    "resolve_prompts",
    "wildcard_files",
    "wildcard_names",
]

MAX_DEPTH = 10  # wildcards inside wildcards; more is a loop or a mistake
# __name__, __folder/name__, __colour*__ (a glob); not a plain double underscore in a word
_WILDCARD = re.compile(r"__([A-Za-z0-9*?][\w*?./\- ]*?)__")


def has_dynamic_syntax(prompt: str) -> bool:
    """True if `prompt` has alternatives (a brace) or a wildcard."""
    return "{" in prompt or bool(_WILDCARD.search(prompt))


def wildcard_files(folder: Path) -> list[str]:
    """The wildcards `folder` holds, as a prompt names them: ``__name__``, ``__sub/name__``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = (p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.txt"))
    return sorted(f"__{name}__" for name in names if " " not in name)


def wildcard_names(text: str) -> list[str]:
    """The wildcards `text` names, in order, once each."""
    return list(dict.fromkeys(m[1] for m in _WILDCARD.finditer(text)))


def resolve_prompts(template: str, seeds: Sequence[int], wildcards_dir: Path) -> list[str]:
    """One prompt per seed: `template` with its alternatives and wildcards picked by that seed.

    A template without the syntax comes back as it is, once per seed. Raises InvalidRequest.
    """
    if not has_dynamic_syntax(template):
        return [template] * len(seeds)
    from dynamicprompts.generators import RandomPromptGenerator
    from dynamicprompts.wildcards import WildcardManager

    with warnings.catch_warnings():
        # Its grammar uses names pyparsing 3.3 deprecates, and it warns of a wildcards folder
        # not made yet; neither is for a user (a missing file is said below, in words).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            manager = WildcardManager(Path(wildcards_dir))
            _check_wildcards(template, manager, Path(wildcards_dir))
            generator = RandomPromptGenerator(manager, seed=int(seeds[0]) if seeds else 0)
            prompts = generator.generate(template, len(seeds), seeds=[int(s) for s in seeds])
        except InvalidRequest:
            raise
        except RecursionError as exc:
            raise InvalidRequest(
                f"The prompt's wildcards nest deeper than {MAX_DEPTH} levels or lead back to "
                "themselves; check the wildcard files."
            ) from exc
        except Exception as exc:  # pyparsing's ParseException and kin: a brace that won't parse
            where = getattr(exc, "col", None)
            at = f" near character {where}" if isinstance(where, int) else ""
            raise InvalidRequest(
                f"The prompt's {{...|...}} choices could not be read{at}: check that every '{{' "
                "has its '}' and the choices are separated by '|'."
            ) from exc
    return [" ".join(str(p).split()) for p in prompts]


def _check_wildcards(template: str, manager: object, folder: Path) -> None:
    """Every wildcard has a file, and the files don't nest past MAX_DEPTH or loop. Each file is
    read once, however often it is named."""
    get_values = manager.get_values  # type: ignore[attr-defined]
    depths: dict[str, int] = {}

    def depth(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            chain = " → ".join((*path[path.index(name) :], name))
            raise InvalidRequest(
                f"The wildcard {name!r} leads back to itself ({chain}); remove the loop from "
                f"its file in {folder}."
            )
        if name in depths:
            return depths[name]
        if len(path) >= MAX_DEPTH:
            raise InvalidRequest(
                f"The prompt's wildcards nest deeper than {MAX_DEPTH} levels "
                f"({' → '.join((*path, name))}); check the wildcard files in {folder}."
            )
        values = [str(v) for v in get_values(name)]
        if not values:
            raise InvalidRequest(
                f"There is no wildcard file for __{name}__: put a {name}.txt with one choice per "
                f"line in {folder}."
            )
        inner = wildcard_names("\n".join(values))
        depths[name] = 1 + max((depth(n, (*path, name)) for n in inner), default=0)
        return depths[name]

    for name in wildcard_names(template):
        if depth(name, ()) > MAX_DEPTH:
            raise InvalidRequest(
                f"The prompt's wildcards nest deeper than {MAX_DEPTH} levels (from __{name}__); "
                f"check the wildcard files in {folder}."
            )
