"""A task's answer space, and which support samples answer inside it (the `retrieval.answer_space` option).

Why: a skill can be taught in any answer format, and a tiny student learns the format it is tuned on. On a task
that asks for a colour but fails at telling left from right, the samples tagged "left/right" mostly answer "left"
or "right", and a student tuned on them answers "left" to a colour question (measured on the shapes world: even
tuning on every sample whose true skills include the gap left the colour-by-side task below chance). Keeping only
the matches that answer in the task's own answer space (the colours) teaches the skill where it is asked.

The space is read from the validation split (its choices and gold answers), which diagnosis reads anyway; the
test split is never read. It exists only for a closed set of answers (at most `MAX_CLOSED` distinct, normalised):
an open-ended task (captions, free text) has none, and the option then changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from edtune.schemas import SupportSample, TaskSample
from edtune.student.scoring import normalise

MAX_CLOSED = 20  # more distinct answers than this: an open-ended task, no answer space
ANSWER_CUE = "answer:"


def _key(text: str) -> str:
    return normalise(text)


def task_answer_space(samples: Iterable[TaskSample]) -> set[str] | None:
    """The normalised choices and gold answers of a split, or None when they are not a closed set."""
    space: set[str] = set()
    for s in samples:
        space.update(_key(c) for c in s.choices or [])
        space.add(_key(s.gold_text))
        if len(space) > MAX_CLOSED:
            return None
    space.discard("")
    return space or None


def support_answer(sample: SupportSample) -> str:
    """The answer of the sample's first reply (the one about its image): the text after its last "Answer:", else
    the whole reply; normalised."""
    reply = sample.conversations[1].value
    cut = reply.lower().rfind(ANSWER_CUE)
    return _key(reply[cut + len(ANSWER_CUE) :] if cut >= 0 else reply)


def answering_outside(pool: Iterable[SupportSample], space: set[str]) -> set[str]:
    """Ids of the pool samples whose first answer is not in `space`."""
    return {s.id for s in pool if support_answer(s) not in space}
