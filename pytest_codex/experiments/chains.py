"""The chained-operations probe of the Codex paper (section 6, appendix C).

Each problem chains ``length`` of the paper's 13 string building blocks: the docstring
names them joined with "then", the canonical solution applies their implementations in
order, and the tests compare the candidate against literal outputs of the canonical
solution on fixed strings (the punctuation, hex digits and whitespace sets of the
``string`` module, plus a few sentences) and on strings drawn with hypothesis.

Everything derives from ``(seed, lengths, per_length)``: the same options give the same
suite, byte for byte, in every process.  No code is executed to build it: the expected
outputs come from the building blocks' Python implementations below, which are the
same functions whose source text forms the canonical solution.
"""

from __future__ import annotations

import random
import string
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_codex.core.problems import Problem, Suite
from pytest_codex.experiments.drawing import draw_examples
from pytest_codex.options.experiment import MAX_LENGTH, ChainConfig

ENTRY_POINT = "string_manipulation"
GENERATOR_VERSION = 1
VOWELS = "aeiouAEIOU"


@dataclass(frozen=True)
class Block:
    """One building block: its docstring phrase, its code line(s) on ``s``, and the function."""

    key: str
    phrase: str
    code: str
    apply: Callable[[str], str]


def _every_other_upper(s: str) -> str:
    return "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate(s))


BLOCKS: tuple[Block, ...] = (
    Block(
        "remove_e",
        "remove all instances of the letter e from the string",
        's = s.replace("e", "")',
        lambda s: s.replace("e", ""),
    ),
    Block(
        "spaces_to_bang",
        "replace all spaces with exclamation points",
        's = s.replace(" ", "!")',
        lambda s: s.replace(" ", "!"),
    ),
    Block("lowercase", "convert the string to lowercase", "s = s.lower()", lambda s: s.lower()),
    Block("trim_two", "remove the first and last two characters of the string", "s = s[2:-2]", lambda s: s[2:-2]),
    Block(
        "remove_vowels",
        "remove all vowels from the string",
        f's = "".join(c for c in s if c not in "{VOWELS}")',
        lambda s: "".join(c for c in s if c not in VOWELS),
    ),
    Block(
        "drop_third",
        "remove every third character from the string",
        's = "".join(c for i, c in enumerate(s) if i % 3 != 2)',
        lambda s: "".join(c for i, c in enumerate(s) if i % 3 != 2),
    ),
    Block(
        "first_half_chars",
        "drop the last half of the string, as computed by characters",
        "s = s[: len(s) // 2]",
        lambda s: s[: len(s) // 2],
    ),
    Block(
        "triple_spaces",
        "replace each space with three spaces",
        's = s.replace(" ", "   ")',
        lambda s: s.replace(" ", "   "),
    ),
    Block(
        "reverse_words",
        "reverse the order of the words in the string",
        's = " ".join(reversed(s.split()))',
        lambda s: " ".join(reversed(s.split())),
    ),
    Block(
        "drop_first_half_words",
        "drop the first half of the string, as computed by number of words",
        'words = s.split()\n    s = " ".join(words[len(words) // 2:])',
        lambda s: " ".join(s.split()[len(s.split()) // 2 :]),
    ),
    Block(
        "apples",
        'add the word "apples" after every word in the string',
        's = " ".join(w + " apples" for w in s.split())',
        lambda s: " ".join(w + " apples" for w in s.split()),
    ),
    Block(
        "every_other_upper",
        "make every other character in the string uppercase, starting with the first",
        's = "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate(s))',
        _every_other_upper,
    ),
    Block(
        "delete_punct",
        "delete all exclamation points, question marks, and periods from the string",
        's = "".join(c for c in s if c not in ".!?")',
        lambda s: "".join(c for c in s if c not in ".!?"),
    ),
)

FIXED_STRINGS: tuple[str, ...] = (
    string.punctuation,
    string.hexdigits,
    string.whitespace,
    "",
    "Hello World! How are you?",
    "the quick brown fox jumps over the lazy dog.",
    "Never eat shredded wheat... Ever? Yes!",
)
assert len(BLOCKS) == MAX_LENGTH, "options.experiment.MAX_LENGTH is the number of building blocks"


def describe(config: ChainConfig) -> str:
    return (
        f"generated:chains?seed={config.seed}&lengths={','.join(map(str, config.lengths))}"
        f"&per_length={config.per_length}&drawn={config.drawn}&v={GENERATOR_VERSION}"
    )


def task_id(length: int, index: int) -> str:
    return f"chains/L{length}/{index}"


def chain_length(task: str) -> int | None:
    """The chain length encoded in a chains task id (None for other suites)."""
    parts = task.split("/")
    if len(parts) == 3 and parts[0] == "chains" and parts[1][:1] == "L" and parts[1][1:].isdigit():
        return int(parts[1][1:])
    return None


def prompt_for(blocks: Sequence[Block]) -> str:
    steps = ", then ".join(b.phrase for b in blocks)
    text = (
        "Take the string s and return the result of performing the following sequence "
        f"of manipulations on it, in order: {steps}."
    )
    body = textwrap.fill(text, width=84, initial_indent="    ", subsequent_indent="    ")
    return f'def {ENTRY_POINT}(s: str) -> str:\n    """\n{body}\n    """\n'


def canonical_for(blocks: Sequence[Block]) -> str:
    return "".join(f"    {b.code}\n" for b in blocks) + "    return s\n"


def apply_chain(blocks: Sequence[Block], s: str) -> str:
    for b in blocks:
        s = b.apply(s)
    return s


def _drawn_strings(seed: int, count: int) -> list[str]:
    alphabet = string.ascii_letters + "    .!?," + string.digits

    def strategy(st):
        word = st.text(alphabet=string.ascii_letters, min_size=1, max_size=9)
        sentence = st.lists(word, min_size=1, max_size=8).map(" ".join)
        return st.one_of(
            st.text(alphabet=alphabet, max_size=40), sentence, st.tuples(sentence, st.sampled_from(".!?")).map("".join)
        )

    return draw_examples(strategy, count, seed)


def check_source(blocks: Sequence[Block], inputs: Sequence[str]) -> str:
    lines = ["def check(candidate):"]
    for s in inputs:
        lines.append(f"    assert candidate({s!r}) == {apply_chain(blocks, s)!r}")
    return "\n".join(lines) + "\n"


def generate(config: ChainConfig) -> tuple[Problem, ...]:
    problems = []
    for length in config.lengths:
        if not 1 <= length <= MAX_LENGTH:
            raise ValueError(f"chain length {length} is outside 1..{MAX_LENGTH}")
        rng = random.Random(f"chains:{config.seed}:{length}")
        for index in range(config.per_length):
            blocks = rng.sample(BLOCKS, length)
            drawn = _drawn_strings(rng.randrange(2**32), config.drawn) if config.drawn else []
            inputs = list(dict.fromkeys([*FIXED_STRINGS, *drawn]))
            problems.append(
                Problem(
                    task_id=task_id(length, index),
                    prompt=prompt_for(blocks),
                    canonical_solution=canonical_for(blocks),
                    test=check_source(blocks, inputs),
                    entry_point=ENTRY_POINT,
                )
            )
    return tuple(problems)


def suite_for(config: ChainConfig) -> Suite:
    return Suite.generated("chains", describe(config), generate(config))


def build_suite(experiments) -> Suite:
    """``--codex-suite=chains``: the suite for the session's chain options."""
    return suite_for(experiments.chains)
