"""A byte-level BPE tokenizer trained locally, so a tiny student needs nothing from a model hub.

Trained on text of the shapes world and the student's prompt format: a tiny model then spends its few
embedding rows on words it will actually read and write (colour, shape and count words become single tokens).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from edtune.student.prompt import COT_INSTRUCTION, format_question, format_reasoning

COLOURS = [
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "white",
    "black",
    "gray",
    "pink",
    "brown",
    "cyan",
]
SHAPES = [
    "circle",
    "square",
    "triangle",
    "star",
    "hexagon",
    "diamond",
    "cross",
    "ellipse",
    "rectangle",
    "pentagon",
]
SIZES = ["small", "medium", "large", "big", "tiny"]
WHERE = [
    "left",
    "right",
    "above",
    "below",
    "top",
    "bottom",
    "middle",
    "center",
    "next to",
    "leftmost",
    "rightmost",
]
NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def _builtin_corpus() -> Iterator[str]:
    """Sentences in the world's vocabulary and the prompt/answer format (used when edtune.shapes.world is absent)."""
    yield COT_INSTRUCTION
    for c, s, z, w in itertools.product(COLOURS, SHAPES, SIZES[:3], WHERE[:4]):
        yield f"There is a {z} {c} {s} on the {w} of the image."
        yield f"The {c} {s} is {w} the other shape. The {s} is {c}."
    for i, (c, s) in enumerate(itertools.product(COLOURS, SHAPES)):
        n = i % 10
        q = format_question(f"What colour is the {s}?", [c, COLOURS[(i + 1) % len(COLOURS)]])
        yield q
        yield format_question(f"How many {s}s are there?")
        yield format_question(f"Is the {c} {s} left or right of the other shape?", ["left", "right"])
        yield format_reasoning(
            [f"I look at the {s}.", f"The {s} is {c}.", f"There are {n} {s}s, {NUMBERS[n]} in all."], c
        )
        yield f"Answer: {n}\nAnswer: ({'ABCD'[i % 4]}) {c}\nAnswer: yes\nAnswer: no"
    yield "Describe the image. What shape is it? Which is bigger? Count the objects. Options: (A) (B) (C) (D)"
    yield "0 1 2 3 4 5 6 7 8 9 10 11 12 yes no true false none"


def world_corpus(limit: int = 4000) -> Iterator[str]:
    """Text of the shapes world's pre-training stream, if the world package provides it (best effort)."""
    try:
        from edtune.shapes.world.families import DISTRACTOR_FAMILIES
        from edtune.shapes.world.pretraining import BASE_FAMILIES, GAP_FAMILIES, base_stream
        from edtune.shapes.world.tasks import TASKS, iter_task
    except Exception:
        return
    try:
        fams = BASE_FAMILIES + GAP_FAMILIES + DISTRACTOR_FAMILIES
        for _img, human, assistant in itertools.islice(base_stream(0, fams), limit):
            yield human
            yield assistant
        for spec in TASKS.values():  # the tasks' own wordings: their words get tokens, not byte soup
            for sample, _scene, _fam in iter_task(spec, "tokenizer", 50, 0):
                yield sample.question
    except Exception:  # the world is optional for the tokenizer; the builtin corpus covers the vocabulary
        return


def train_bpe(special_tokens: list[str], vocab_size: int = 1024, extra: Iterable[str] = ()) -> Any:
    """Train a byte-level BPE `tokenizers.Tokenizer` whose first ids are `special_tokens` (in order)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = list(_builtin_corpus()) + list(world_corpus()) + list(extra)
    tok.train_from_iterator(corpus * 3, trainer=trainer)
    return tok
