"""Is an answer right? Option letters or option text for multiple choice, numbers, normalised short answers.

Tolerant on form (case, punctuation, articles, "(B)", "B) red", "three" vs "3"), strict on content: an answer
that names a different option than its letter, or two numbers, is wrong.
"""

from __future__ import annotations

import re

from edtune.schemas import TaskSample

NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_LETTER = re.compile(r"^\(?([A-Za-z])\)?(?:[.):]\s*|\s+|$)(.*)$")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def normalise(text: str) -> str:
    t = text.lower().strip()
    t = re.sub(r"[\"'`.,;:!?()\[\]]", " ", t)
    t = _ARTICLES.sub(" ", t)
    return " ".join(t.split())


def _singular(t: str) -> str:
    return " ".join(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in t.split()
    )


def to_number(text: str) -> float | None:
    """The single number an answer states (digits or a number word), or None if none or several."""
    t = normalise(text)
    nums = [float(m) for m in _NUM.findall(t)] + [
        float(NUMBER_WORDS[w]) for w in t.split() if w in NUMBER_WORDS
    ]
    return nums[0] if len(set(nums)) == 1 else None


def text_match(answer: str, gold: str) -> bool:
    a, g = normalise(answer), normalise(gold)
    return a == g or _singular(a) == _singular(g)


def is_correct(sample: TaskSample, answer: str | None) -> bool:
    if answer is None or not answer.strip():
        return False
    gold = sample.gold_text
    if sample.choices:
        gold_letter = chr(ord("A") + sample.choices.index(gold))
        m = _LETTER.match(answer.strip())
        if (
            m
            and ord(m.group(1).upper()) - ord("A") < len(sample.choices)
            and (m.group(1).isupper() or not m.group(2))
        ):
            letter, rest = m.group(1).upper(), m.group(2).strip()
            if letter != gold_letter:
                return False
            return not rest or not any(text_match(rest, c) for c in sample.choices if c != gold)
        return text_match(answer, gold)
    g = normalise(gold)
    if re.fullmatch(r"-?\d+(?:\.\d+)?", g) or g in NUMBER_WORDS:
        g_num, a_num = to_number(gold), to_number(answer)
        return a_num is not None and g_num is not None and abs(a_num - g_num) < 1e-9
    return text_match(answer, gold)
