"""Versioned teacher prompts: the one place that knows the wire format of every teacher request.

The teacher client builds requests with the `build_*` functions; the reference teacher server reads them back
with the `parse_*` functions (it must not see anything a real TGI-served LMM would not). Every request starts its
system message with a tag `[edtune:<kind>/v<N>]`, which a real LMM reads as harmless text and which tells the
reference server which job it is asked to do. Bump PROMPT_VERSION when any text changes: the version is part of
every cache key and every record.

Kinds:
- answer-switch (paper §3.2): text only, no image. The teacher sees the question, the candidate answers, a prior
  hint toward the gold answer, and a prefix of the student's steps, and answers one option letter; the client
  reads `logprobs.content[0].top_logprobs` to get the distribution over the letters.
- judge: image + all steps (+ the gold answer) -> JSON MistakeReply (first erroneous step, explanation, skill).
- skill: a wrong step -> one missing skill, JSON {name, description}; few-shot.
- tag: a support conversation -> the skills it teaches, JSON {skills: [...]}.
- group: a round's distinct missing-skill names (with descriptions) -> which of them name the same skill, JSON
  {groups: [[1, 3], [2], ...]} (1-based list numbers, each exactly once). Free-text names paraphrase one skill
  ("left/right localisation", "horizontal position of objects"), and a sentence embedding cannot tell those from
  a different skill's paraphrase ("vertical position of objects", cosine 0.86); a language model can.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from edtune.student.prompt import LETTERS

PROMPT_VERSION = "1"
Kind = Literal["answer-switch", "judge", "skill", "tag", "group"]
_TAG = re.compile(r"^\[edtune:([a-z-]+)/v(\d+)\]")


def _tag(kind: Kind) -> str:
    return f"[edtune:{kind}/v{PROMPT_VERSION}]"


SYSTEM = {
    "answer-switch": _tag("answer-switch")
    + " You answer a multiple-choice question about an image you cannot see, using only the hint and the"
    " reasoning given so far. Reply with the letter of one option and nothing else.",
    "judge": _tag("judge")
    + " You check a student's step-by-step reasoning about an image. Find the FIRST step that is wrong, explain"
    " why in one sentence, and name the ONE skill the student lacks to get that step right (a short lower-case"
    " phrase of 2-5 words, and one sentence describing it). Reply with JSON only:"
    ' {"erroneous_step": <int>, "explanation": <str>, "missing_skills": [{"name": <str>, "description": <str>}]}.',
    "skill": _tag("skill")
    + " A student answered a question about an image wrongly. You are told the first wrong step. Name the ONE"
    " skill the student lacks to get that step right: a short lower-case phrase of 2-5 words, and one sentence"
    ' describing it. Reply with JSON only: {"name": <str>, "description": <str>}.',
    "tag": _tag("tag")
    + " You read a training conversation about an image and list the visual skills it teaches (1-3 short"
    ' lower-case phrases of 2-5 words). Reply with JSON only: {"skills": [<str>, ...]}.',
    "group": _tag("group")
    + " You are given a numbered list of skills that a student lacks, each named by a different reviewer in"
    " their own words. Group the numbers whose names mean the SAME skill (synonyms and paraphrases); keep"
    " different skills apart, even related ones (left/right is not above/below). Every number appears in"
    ' exactly one group. Reply with JSON only: {"groups": [[<int>, ...], ...]}.',
}

# Few-shot demonstrations for skill analysis (generic, not from any target task).
SKILL_SHOTS: list[tuple[str, str]] = [
    (
        "Question: How many dogs are in the picture?\nStudent reasoning:\nStep 1: I see two dogs and a cat.\n"
        "Step 2: So there are 3 dogs.\nFirst wrong step: Step 2: So there are 3 dogs.\n"
        "Why it is wrong: the student counted the cat as a dog.",
        '{"name": "counting objects", "description": "Count only the objects of the asked kind."}',
    ),
    (
        "Question: Is the cup to the left of the plate?\nStudent reasoning:\nStep 1: The cup is on the right side."
        "\nFirst wrong step: Step 1: The cup is on the right side.\nWhy it is wrong: the cup is on the left.",
        '{"name": "spatial relations", "description": "Tell where objects are relative to each other."}',
    ),
]


class SkillReply(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    description: str = ""


class TagReply(BaseModel):
    skills: list[str] = Field(min_length=1, max_length=5)


class GroupReply(BaseModel):
    groups: list[list[int]] = Field(min_length=1)


def kind_of(messages: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(kind, version) from the system message tag, or None for an untagged request."""
    if not messages or messages[0].get("role") != "system":
        return None
    content = messages[0].get("content")
    text = content if isinstance(content, str) else _text_of(content)
    m = _TAG.match(text or "")
    return (m.group(1), m.group(2)) if m else None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def image_of(messages: list[dict[str, Any]]) -> str | None:
    """The first image URL (a data: URI or a presigned URL) in the user messages."""
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    url = part.get("image_url", {})
                    return url.get("url") if isinstance(url, dict) else url
    return None


def _options_block(options: list[str]) -> str:
    return "Options:\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))


def _steps_block(steps: list[str]) -> str:
    if not steps:
        return "(no steps yet)"
    return "\n".join(f"Step {i}: {s}" for i, s in enumerate(steps, start=1))


# ---------------------------------------------------------------- answer switch


class AnswerSwitchRequest(BaseModel):
    question: str
    options: list[str]
    hint_letter: str
    hint_prob: float
    steps: list[str]


def build_answer_switch(
    question: str, options: list[str], gold_index: int, prior: float, steps: list[str]
) -> list[dict[str, Any]]:
    user = (
        f"Question: {question}\n{_options_block(options)}\n"
        f"Hint: option {LETTERS[gold_index]} holds a {round(prior * 100)}% probability of being correct.\n"
        f"Reasoning so far:\n{_steps_block(steps)}\n"
        "Which option is correct? Reply with one letter."
    )
    return [{"role": "system", "content": SYSTEM["answer-switch"]}, {"role": "user", "content": user}]


def answer_switch_params(n_options: int) -> dict[str, Any]:
    """Extra request fields: one token, with the top log-probabilities to read the option distribution."""
    return {"max_tokens": 1, "logprobs": True, "top_logprobs": min(20, max(5, n_options)), "temperature": 0.0}


_OPT = re.compile(r"^([A-Z])\. (.*)$")
_HINT = re.compile(r"^Hint: option ([A-Z]) holds a (\d+)% probability of being correct\.$")
_STEPLINE = re.compile(r"^Step (\d+): (.*)$")


def _section(text: str, start: str, end: str) -> list[str]:
    lines = text.split("\n")
    try:
        i = next(k for k, ln in enumerate(lines) if ln.startswith(start))
    except StopIteration:
        return []
    out = []
    for ln in lines[i + 1 :]:
        if ln.startswith(end):
            break
        out.append(ln)
    return out


def _question(text: str) -> str:
    m = re.search(r"^Question: (.*)$", text, re.MULTILINE)
    if not m:
        raise ValueError("no 'Question:' line")
    return m.group(1)


def _parse_options(text: str) -> list[str]:
    opts = []
    for ln in _section(text, "Options:", "Hint:" if "Hint:" in text else "Correct answer:"):
        m = _OPT.match(ln)
        if m:
            opts.append(m.group(2))
        else:
            break
    return opts


def _parse_steps(lines: list[str]) -> list[str]:
    steps = []
    for ln in lines:
        m = _STEPLINE.match(ln)
        if m:
            steps.append(m.group(2))
    return steps


def parse_answer_switch(messages: list[dict[str, Any]]) -> AnswerSwitchRequest:
    text = _text_of(messages[-1].get("content"))
    hint = next((m for ln in text.split("\n") if (m := _HINT.match(ln))), None)
    if hint is None:
        raise ValueError("no 'Hint:' line")
    options = _parse_options(text)
    if len(options) < 2:
        raise ValueError("fewer than 2 options")
    return AnswerSwitchRequest(
        question=_question(text),
        options=options,
        hint_letter=hint.group(1),
        hint_prob=int(hint.group(2)) / 100,
        steps=_parse_steps(_section(text, "Reasoning so far:", "Which option")),
    )


def option_distribution(top_logprobs: list[dict[str, Any]], n_options: int) -> dict[str, float]:
    """Normalise the probability mass the teacher puts on each option letter (tokens ' A', 'A.' count too).

    Letters absent from the top list get 0. Raises ValueError when no option letter is in the list.
    """
    mass = dict.fromkeys(LETTERS[:n_options], 0.0)
    for entry in top_logprobs:
        token = str(entry.get("token", "")).strip().rstrip(".):").upper()
        if token in mass:
            mass[token] += math.exp(float(entry["logprob"]))
    total = sum(mass.values())
    if total <= 0:
        raise ValueError("no option letter among the top log-probabilities")
    return {k: v / total for k, v in mass.items()}


# ---------------------------------------------------------------- judge


class JudgeRequest(BaseModel):
    question: str
    options: list[str] | None
    gold: str
    steps: list[str]
    student_answer: str | None
    image_url: str | None


def build_judge(
    question: str,
    options: list[str] | None,
    gold: str,
    steps: list[str],
    student_answer: str | None,
    image_url: str | None,
) -> list[dict[str, Any]]:
    text = f"Question: {question}\n"
    if options:
        text += _options_block(options) + "\n"
    text += (
        f"Correct answer: {gold}\nStudent reasoning:\n{_steps_block(steps)}\n"
        f"Student answer: {student_answer if student_answer is not None else '(none)'}\n"
        "Which step is the first wrong one, and which skill is missing?"
    )
    content: list[dict[str, Any]] = []
    if image_url:
        content.append({"type": "image_url", "image_url": {"url": image_url}})
    content.append({"type": "text", "text": text})
    return [{"role": "system", "content": SYSTEM["judge"]}, {"role": "user", "content": content}]


def parse_judge(messages: list[dict[str, Any]]) -> JudgeRequest:
    text = _text_of(messages[-1].get("content"))
    gold = re.search(r"^Correct answer: (.*)$", text, re.MULTILINE)
    ans = re.search(r"^Student answer: (.*)$", text, re.MULTILINE)
    if gold is None:
        raise ValueError("no 'Correct answer:' line")
    options = _parse_options(text) or None
    student = ans.group(1) if ans else None
    return JudgeRequest(
        question=_question(text),
        options=options,
        gold=gold.group(1),
        steps=_parse_steps(_section(text, "Student reasoning:", "Student answer:")),
        student_answer=None if student == "(none)" else student,
        image_url=image_of(messages),
    )


# ---------------------------------------------------------------- skill analysis


class SkillRequest(BaseModel):
    question: str
    steps: list[str]
    erroneous_step: int
    explanation: str
    image_url: str | None


def build_skill(
    question: str, steps: list[str], erroneous_step: int, explanation: str, image_url: str | None = None
) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM["skill"]}]
    for shot_in, shot_out in SKILL_SHOTS:
        msgs += [{"role": "user", "content": shot_in}, {"role": "assistant", "content": shot_out}]
    wrong = steps[erroneous_step - 1] if 0 < erroneous_step <= len(steps) else ""
    text = (
        f"Question: {question}\nStudent reasoning:\n{_steps_block(steps)}\n"
        f"First wrong step: Step {erroneous_step}: {wrong}\nWhy it is wrong: {explanation or '(not given)'}"
    )
    content: list[dict[str, Any]] = []
    if image_url:
        content.append({"type": "image_url", "image_url": {"url": image_url}})
    content.append({"type": "text", "text": text})
    msgs.append({"role": "user", "content": content})
    return msgs


def parse_skill(messages: list[dict[str, Any]]) -> SkillRequest:
    text = _text_of(messages[-1].get("content"))
    m = re.search(r"^First wrong step: Step (\d+): (.*)$", text, re.MULTILINE)
    why = re.search(r"^Why it is wrong: (.*)$", text, re.MULTILINE)
    if m is None:
        raise ValueError("no 'First wrong step:' line")
    return SkillRequest(
        question=_question(text),
        steps=_parse_steps(_section(text, "Student reasoning:", "First wrong step:")),
        erroneous_step=int(m.group(1)),
        explanation=why.group(1) if why else "",
        image_url=image_of(messages),
    )


# ---------------------------------------------------------------- support tagging


class TagRequest(BaseModel):
    turns: list[tuple[str, str]]  # (from, value)
    image_url: str | None


def build_tag(turns: list[tuple[str, str]], image_url: str | None = None) -> list[dict[str, Any]]:
    convo = "\n".join(f"{'Human' if who == 'human' else 'Assistant'}: {value}" for who, value in turns)
    text = f"Conversation:\n{convo}\nEnd of conversation. Which skills does it teach?"
    content: list[dict[str, Any]] = []
    if image_url:
        content.append({"type": "image_url", "image_url": {"url": image_url}})
    content.append({"type": "text", "text": text})
    return [{"role": "system", "content": SYSTEM["tag"]}, {"role": "user", "content": content}]


def parse_tag(messages: list[dict[str, Any]]) -> TagRequest:
    text = _text_of(messages[-1].get("content"))
    body = text.split("Conversation:\n", 1)[-1].rsplit("\nEnd of conversation.", 1)[0]
    turns: list[tuple[str, str]] = []
    for ln in body.split("\n"):
        if ln.startswith("Human: "):
            turns.append(("human", ln[len("Human: ") :]))
        elif ln.startswith("Assistant: "):
            turns.append(("gpt", ln[len("Assistant: ") :]))
        elif turns:
            who, value = turns[-1]
            turns[-1] = (who, value + "\n" + ln)
    return TagRequest(turns=turns, image_url=image_of(messages))


# ---------------------------------------------------------------- grouping paraphrased skill names


class GroupRequest(BaseModel):
    skills: list[tuple[str, str]]  # (name, description), numbered from 1 in the prompt


def build_group(skills: list[tuple[str, str]]) -> list[dict[str, Any]]:
    lines = [f"{i}. {name}" + (f" - {desc}" if desc else "") for i, (name, desc) in enumerate(skills, 1)]
    text = "Skills:\n" + "\n".join(lines) + "\nEnd of skills. Which numbers name the same skill?"
    return [{"role": "system", "content": SYSTEM["group"]}, {"role": "user", "content": text}]


def parse_group(messages: list[dict[str, Any]]) -> GroupRequest:
    text = _text_of(messages[-1].get("content"))
    body = text.split("Skills:\n", 1)[-1].rsplit("\nEnd of skills.", 1)[0]
    skills: list[tuple[str, str]] = []
    for ln in body.split("\n"):
        m = re.match(r"^(\d+)\. (.*?)(?: - (.*))?$", ln)
        if m is None or int(m.group(1)) != len(skills) + 1:
            raise ValueError(f"skill line {len(skills) + 1} is malformed: {ln!r}")
        skills.append((m.group(2), m.group(3) or ""))
    if not skills:
        raise ValueError("no skills listed")
    return GroupRequest(skills=skills)


def response_format(schema: dict[str, Any], backend: Literal["tgi", "openai"]) -> dict[str, Any]:
    """Structured-output request field. TGI grammar: {"type": "json", "value": schema}; OpenAI/vLLM:
    json_schema. (huggingface_hub rewrites json_schema to {"type": "json_object", "value": ...} on the wire,
    which TGI and our reference server accept.)"""
    if backend == "tgi":
        return {"type": "json", "value": schema}
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}


# ---------------------------------------------------------------- re-asking after an invalid reply

ERROR_NOTE = "Your previous reply was invalid:"


def with_error_note(messages: list[dict[str, Any]], error: str) -> list[dict[str, Any]]:
    """The same request with the validation error appended to the LAST user text (one re-ask per request).

    The note goes on a new line at the end of the last text part rather than into a new message, so every
    `parse_*` above (which reads `messages[-1]` and stops at known markers) still reads the request unchanged.
    """
    note = f"\n{ERROR_NOTE} {error}. Reply again, exactly in the requested format."
    out = [dict(m) for m in messages]
    last = out[-1]
    content = last.get("content")
    if isinstance(content, str):
        last["content"] = content + note
    elif isinstance(content, list):
        parts = [dict(p) for p in content]
        idx = max((i for i, p in enumerate(parts) if p.get("type") == "text"), default=None)
        if idx is None:
            parts.append({"type": "text", "text": note.lstrip("\n")})
        else:
            parts[idx]["text"] = str(parts[idx].get("text", "")) + note
        last["content"] = parts
    return out


def error_note_of(messages: list[dict[str, Any]]) -> str | None:
    """The validation error a re-ask carries (None for a first ask); lets a server see it was re-asked."""
    text = _text_of(messages[-1].get("content")) if messages else ""
    i = text.rfind(ERROR_NOTE)
    return text[i + len(ERROR_NOTE) :].strip() if i >= 0 else None
