"""The student's reasoning format: how a question is asked and how the reply is parsed.

Shared by the student (evaluation and tuning), the shapes world (its rationale conversations use the very same
wording, so a tuned student learns the format it is evaluated in) and the teacher (steps come from here).
The reply format is `Step 1: … Step k: …` then `Answer: …`; the parser is tolerant and says what it could not parse.
"""

from __future__ import annotations

import re

COT_INSTRUCTION = "Think step by step: write 'Step 1:', 'Step 2:', ... then 'Answer:'."
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def format_question(question: str, choices: list[str] | None = None, *, reasoning: bool = True) -> str:
    """The text of a human turn (without the `<image>` marker)."""
    parts = [question.strip()]
    if choices:
        parts.append("Options: " + " ".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices)))
    if reasoning:
        parts.append(COT_INSTRUCTION)
    return "\n".join(parts)


def format_reasoning(steps: list[str], answer: str) -> str:
    """The gold assistant turn for a rationale: numbered steps, then the answer line."""
    lines = [f"Step {i}: {s.strip()}" for i, s in enumerate(steps, start=1)]
    lines.append(f"Answer: {answer.strip()}")
    return "\n".join(lines)


_STEP = re.compile(r"^\s*(?:step\s*(\d+)\s*[:.)-]|(\d+)[.)])\s*(.*)$", re.IGNORECASE)
_ANSWER = re.compile(r"^\s*(?:final\s+)?answer\s*[:\-]\s*(.*)$", re.IGNORECASE)


def parse_reasoning(raw: str) -> tuple[list[str], str | None, list[str]]:
    """Split a reply into (steps, answer, issues). Never raises.

    Issues record what was tolerated: missing answer line, unnumbered text, steps out of order, empty steps.
    """
    steps: list[str] = []
    answer: str | None = None
    issues: list[str] = []
    expected = 1
    for line in raw.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        m_ans = _ANSWER.match(line)
        if m_ans:
            if answer is not None:
                issues.append("more than one Answer line; kept the first")
                continue
            answer = m_ans.group(1).strip()
            if not answer:
                issues.append("empty Answer line")
                answer = None
            continue
        if answer is not None:
            issues.append(f"text after the Answer line ignored: {line.strip()[:40]!r}")
            continue
        m_step = _STEP.match(line)
        if m_step:
            num = int(m_step.group(1) or m_step.group(2))
            if num != expected:
                issues.append(f"step numbered {num}, expected {expected}")
            text = m_step.group(3).strip()
            if not text:
                issues.append(f"step {num} is empty")
            steps.append(text)
            expected += 1
        elif steps:
            steps[-1] = (steps[-1] + " " + line.strip()).strip()
        else:
            issues.append(f"unnumbered text before the first step: {line.strip()[:40]!r}")
            steps.append(line.strip())
            expected += 1
    if answer is None:
        issues.append("no Answer line")
    return steps, answer, issues
