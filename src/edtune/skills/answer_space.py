"""A task's answer space, and which support samples answer inside it (the `retrieval.answer_space` option).

Why: a skill can be taught in any answer format, and a tiny student learns the format it is tuned on. On a task
that asks for a colour but fails at telling left from right, the samples tagged "left/right" mostly answer "left"
or "right", and a student tuned on them answers "left" to a colour question (measured on the shapes world: even
tuning on every sample whose true skills include the gap left the colour-by-side task below chance). Keeping only
the matches that answer in the task's own answer space (the colours) teaches the skill where it is asked.

With `retrieval.balance_answers` (off by default) the matches kept are then balanced to the task's answer
distribution: a pool's supply of one skill may lean to one answer by chance (world seed 2 of the shapes world holds
54 "left" and 28 "right" side samples), and a student tuned on two "left" for every "right" learns the prior, not
the skill (it answered "left" to 93% of validation questions there). `drop` (`balance_answers`) keeps each answer's
best-ranked samples, up to its validation share of the largest selection whose shares match the validation split's;
`repeat` (`repeat_answers`) keeps every match and repeats the under-represented answers' samples instead, so no
sample is lost and no new one is drawn (the distinct samples, the data budget, stay the same).

`retrieval.answer_space_turns` says which replies must answer inside the space: the first (about the image) or all
of them, since tuning trains every reply (a colour sample whose second turn answers "small" teaches sizes too).

The space is read from the validation split (its choices and gold answers), which diagnosis reads anyway; the
test split is never read. It exists only for a closed set of answers (at most `MAX_CLOSED` distinct, normalised):
an open-ended task (captions, free text) has none, and the option then changes nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

from edtune.schemas import Selection, SupportSample, TaskSample
from edtune.student.scoring import normalise

MAX_CLOSED = 20  # more distinct answers than this: an open-ended task, no answer space
ANSWER_CUE = "answer:"


def task_answer_space(samples: Iterable[TaskSample]) -> set[str] | None:
    """The normalised choices and gold answers of a split, or None when they are not a closed set."""
    space: set[str] = set()
    for s in samples:
        space.update(normalise(c) for c in s.choices or [])
        space.add(normalise(s.gold_text))
        if len(space) > MAX_CLOSED:
            return None
    space.discard("")
    return space or None


def _reply_answer(reply: str) -> str:
    cut = reply.lower().rfind(ANSWER_CUE)
    return normalise(reply[cut + len(ANSWER_CUE) :] if cut >= 0 else reply)


def support_answer(sample: SupportSample) -> str:
    """The answer of the sample's first reply (the one about its image): the text after its last "Answer:", else
    the whole reply; normalised."""
    return _reply_answer(sample.conversations[1].value)


def support_answers(sample: SupportSample) -> list[str]:
    """The answers of every reply (tuning trains on all of them, so a later turn teaches its format too)."""
    return [_reply_answer(t.value) for t in sample.conversations[1::2]]


def task_answer_shares(samples: Iterable[TaskSample]) -> dict[str, float]:
    """The share of each normalised gold answer in a split (what `balance_answers` matches)."""
    counts = Counter(normalise(s.gold_text) for s in samples)
    total = sum(counts.values())
    return {a: n / total for a, n in counts.items()} if total else {}


def _present_answers(
    selections: list[Selection], answers: Mapping[str, str], shares: Mapping[str, float]
) -> dict[str, int]:
    """How many selected samples answer each answer that has a share (what both balancing modes work from)."""
    held = Counter(answers.get(s.support_id, "") for s in selections)
    return {a: n for a, n in held.items() if shares.get(a, 0) > 0}


def balance_answers(
    selections: list[Selection], answers: Mapping[str, str], shares: Mapping[str, float]
) -> list[Selection]:
    """Drop the lowest-ranked samples of over-represented answers so the selection's answers follow `shares`.

    With n_a selected samples answering a (share s_a > 0), the balanced size is k = min_a n_a / s_a over the answers
    present; answer a keeps its first floor(k * s_a) samples in selection order. Answers absent from the selection
    do not shrink it (a pool may lack one colour), and samples whose answer has no share are kept as they are.
    Ranks are renumbered within each skill."""
    present = _present_answers(selections, answers, shares)
    if len(present) < 2:
        return selections
    k = min(n / shares[a] for a, n in present.items())
    keep = {a: math.floor(k * shares[a] + 1e-9) for a in present}
    out: list[Selection] = []
    ranks: Counter[str] = Counter()
    for s in selections:
        a = answers.get(s.support_id, "")
        if a in keep:
            if keep[a] == 0:
                continue
            keep[a] -= 1
        ranks[s.skill] += 1
        out.append(s.model_copy(update={"rank": ranks[s.skill]}))
    return out


def repeat_answers(
    selections: list[Selection], answers: Mapping[str, str], shares: Mapping[str, float]
) -> list[Selection]:
    """Repeat under-represented answers' samples so the selection's answers follow `shares`; drop none.

    Over the answers present with a share (renormalised among them), the size is the smallest at which no answer
    has too many: k = max_a n_a / s_a; answer a then holds round(k * s_a) entries, its own samples first and then
    copies of them in selection order, cycling. Copies follow the original selection (same skill, score and rank);
    samples whose answer has no share are kept once. Tuning sees a repeated sample once per copy."""
    present = _present_answers(selections, answers, shares)
    if len(present) < 2:
        return selections
    total = sum(shares[a] for a in present)
    norm = {a: shares[a] / total for a in present}
    k = max(n / norm[a] for a, n in present.items())
    extra = {a: max(0, round(k * norm[a]) - n) for a, n in present.items()}
    by_answer: dict[str, list[Selection]] = {a: [] for a in present}
    for s in selections:
        a = answers.get(s.support_id, "")
        if a in by_answer:
            by_answer[a].append(s)
    copies = [by_answer[a][i % len(by_answer[a])] for a in sorted(extra) for i in range(extra[a])]
    return [*selections, *copies]
