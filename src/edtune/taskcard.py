"""A task split's card: counts, answer distribution, chance level and best constant answer.

One helper, so the report, the demo, the studies and `edtune task import` quote the same floor: an accuracy is
only worth reading next to what guessing (chance) and always giving one answer (best constant) would score.

- **chance**: the expected accuracy of a uniform random guess, averaged over samples. A multiple-choice sample
  contributes 1/len(choices); a free-form sample contributes 1/k where k is the number of distinct (normalised)
  gold answers in the split — the guesser knows the answer vocabulary but not the image (a yes/no split gives
  0.5, a counting split with answers 0..9 gives 0.1).
- **best constant**: the highest accuracy one fixed answer string reaches on the split, scored with the product's
  own `is_correct` (so "B" and "left" are scored as the student's answer would be). Candidates are every option
  letter and the most frequent gold answers; ties go to the candidate seen first in frequency order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel

from edtune.datasets import answer_type
from edtune.schemas import TaskSample
from edtune.student.scoring import NUMBER_WORDS, is_correct, normalise, to_number

# the most frequent gold answers tried as constant answers: a constant can only score on samples whose gold
# answer it matches, so the best one is among the most frequent gold answers (and letters); 32 keeps a 100K split
# at a few million `is_correct` calls without changing the result on any split whose top answers are distinct
TOP_CANDIDATES = 32


class AnswerBaselines(BaseModel):
    """The two floors an accuracy on this split must beat to mean anything."""

    n: int
    chance: float
    best_constant: float
    best_constant_answer: str | None


class TaskCard(BaseModel):
    """What a split holds: counts, answer kinds and distribution, and its baselines (written as card.json)."""

    n: int
    answer_types: dict[str, int]
    answers: dict[str, int]  # gold answer text (option letters resolved) -> count, most frequent first
    letters: dict[str, int]  # multiple-choice gold option letter -> count (empty for free-form)
    baselines: AnswerBaselines


def _answer_key(text: str) -> str:
    """One key per answer the scorer treats as the same ("3" and "three"; "Yes" and "yes")."""
    t = normalise(text)
    if t in NUMBER_WORDS or t.replace(".", "", 1).lstrip("-").isdigit():
        num = to_number(text)
        if num is not None:
            return f"#{num:g}"
    return t


def _gold_letter(s: TaskSample) -> str | None:
    if not s.choices:
        return None
    return chr(ord("A") + s.choices.index(s.gold_text))


def answer_baselines(samples: Iterable[TaskSample]) -> AnswerBaselines:
    """Chance level and best constant answer of a split (see the module docstring for the definitions)."""
    items = list(samples)
    n = len(items)
    if n == 0:
        return AnswerBaselines(n=0, chance=0.0, best_constant=0.0, best_constant_answer=None)
    free_vocab = {_answer_key(s.gold_text) for s in items if not s.choices}
    chance = sum(1.0 / len(s.choices) if s.choices else 1.0 / len(free_vocab) for s in items) / n
    texts = Counter(s.gold_text for s in items)
    letters = Counter(letter for s in items if (letter := _gold_letter(s)))
    candidates = [a for a, _ in letters.most_common()] + [a for a, _ in texts.most_common(TOP_CANDIDATES)]
    best, best_answer = -1, None
    for cand in dict.fromkeys(candidates):
        score = sum(is_correct(s, cand) for s in items)
        if score > best:
            best, best_answer = score, cand
    return AnswerBaselines(n=n, chance=chance, best_constant=best / n, best_constant_answer=best_answer)


def task_card(samples: Iterable[TaskSample]) -> TaskCard:
    """The whole card of a split; `baselines` is `answer_baselines` of the same samples."""
    items = list(samples)
    return TaskCard(
        n=len(items),
        answer_types=dict(Counter(answer_type(s) for s in items).most_common()),
        answers=dict(Counter(s.gold_text for s in items).most_common()),
        letters=dict(sorted(Counter(letter for s in items if (letter := _gold_letter(s))).items())),
        baselines=answer_baselines(items),
    )
