"""Data contracts (DESIGN §3). Every boundary between stages is one of these models.

Records are strict where a typo would silently change meaning (unknown fields are refused in input files),
and JSON-schema exportable: the teacher's structured output is constrained with `MistakeReply.model_json_schema()`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)


def _not_blank(v: str) -> str:
    """Whitespace-only text is as empty as "" for a question, answer or turn: refuse it at the door."""
    if not v.strip():
        raise ValueError("must not be blank (only whitespace)")
    return v


NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=False), AfterValidator(_not_blank)]
SampleId = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_not_blank)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TaskSample(_Strict):
    """One sample of a target task. `image` is a URI, relative to the JSONL file or absolute."""

    id: SampleId
    image: NonEmpty
    question: NonEmpty
    choices: list[NonEmpty] | None = None
    answer: NonEmpty
    meta: dict[str, Any] | None = None

    @field_validator("choices")
    @classmethod
    def _choices_distinct(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if len(v) < 2:
                raise ValueError("a multiple-choice sample needs at least 2 choices")
            if len(set(v)) != len(v):
                raise ValueError("choices must be distinct")
        return v

    @field_validator("answer")
    @classmethod
    def _answer_among_choices(cls, v: str, info: ValidationInfo) -> str:
        # a field validator (not a model one) so the problem is reported on the `answer` field
        choices = info.data.get("choices")
        if choices is not None and v not in choices:
            letters = [chr(ord("A") + i) for i in range(len(choices))]
            if v not in letters:
                raise ValueError(f"answer {v!r} is neither one of the choices nor an option letter")
        return v

    @property
    def gold_text(self) -> str:
        """The answer as text (an option letter is resolved to its choice)."""
        if self.choices and self.answer not in self.choices:
            return self.choices[ord(self.answer) - ord("A")]
        return self.answer


class Turn(_Strict):
    from_: Literal["human", "gpt"] = Field(alias="from")
    value: NonEmpty

    def model_dump(self, **kw: Any) -> dict[str, Any]:  # always write LLaVA's field name
        kw.setdefault("by_alias", True)
        return super().model_dump(**kw)


class SupportSample(_Strict):
    """A task-agnostic support sample in LLaVA conversation format (as LLaVA-665K / Vision-Flan ship)."""

    id: SampleId
    image: NonEmpty | None = None
    conversations: list[Turn] = Field(min_length=2)
    skills: list[NonEmpty] | None = None
    source: str | None = None

    @field_validator("conversations")
    @classmethod
    def _alternating(cls, v: list[Turn]) -> list[Turn]:
        # a field validator so the problem is reported on `conversations`
        for i, turn in enumerate(v):
            expected = "human" if i % 2 == 0 else "gpt"
            if turn.from_ != expected:
                raise ValueError(f"conversations[{i}].from must be {expected!r} (turns alternate human/gpt)")
        if v and v[-1].from_ != "gpt":
            raise ValueError("the last turn must be from 'gpt'")
        return v

    def model_dump(self, **kw: Any) -> dict[str, Any]:
        kw.setdefault("by_alias", True)
        kw.setdefault("exclude_none", True)
        return super().model_dump(**kw)


class Trace(BaseModel):
    """The student's reasoning on one sample: parsed steps, final answer, whether it is correct."""

    sample_id: SampleId
    steps: list[str]
    answer: str | None
    correct: bool
    raw: str
    parse_issues: list[str] = Field(default_factory=list)
    # choice log-likelihood (multiple-choice samples only; edtune.student.choice_ll): the option the student finds
    # most likely after its own steps, whether that is the gold option, and the same directly after the question
    ll_choice: str | None = None
    ll_correct: bool | None = None
    ll_direct_correct: bool | None = None


class MissingSkill(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80, strip_whitespace=True)]
    description: str = ""


class MistakeReply(BaseModel):
    """What a teacher returns for one wrong trace (the structured-output schema sent to TGI/vLLM)."""

    erroneous_step: int = Field(ge=1)
    explanation: str
    missing_skills: list[MissingSkill] = Field(min_length=1, max_length=1)


class MistakeReport(BaseModel):
    """The diagnosis of one sample. Nothing is silently dropped: failures are `undiagnosed` with a reason."""

    sample_id: SampleId
    status: Literal["diagnosed", "undiagnosed"] = "diagnosed"
    erroneous_step: int | None = Field(default=None, ge=1)
    explanation: str = ""
    missing_skills: list[MissingSkill] = Field(default_factory=list)
    method: str = "answer-switch"
    prompt_version: str = ""
    reason: str | None = None

    @model_validator(mode="after")
    def _complete_when_diagnosed(self) -> MistakeReport:
        if self.status == "diagnosed" and (self.erroneous_step is None or not self.missing_skills):
            raise ValueError("a diagnosed report needs erroneous_step and at least one missing skill")
        return self


class SkillGap(BaseModel):
    """A missing skill, merged across reports, with how often it was blamed and its share of the budget."""

    skill: str
    description: str = ""
    count: int = Field(ge=1)
    examples: list[str] = Field(default_factory=list)
    budget: int = Field(default=0, ge=0)
    aliases: list[str] = Field(
        default_factory=list
    )  # other surface forms merged into `skill` (BM25 queries them too)


class Selection(BaseModel):
    """One support sample chosen for tuning in a round, and why (which gap, how well it matched)."""

    support_id: str
    skill: str
    score: float
    rank: int = 0
    round: int = Field(ge=0)


class RoundMetrics(BaseModel):
    round: int = Field(ge=0)
    val_accuracy: float = Field(ge=0, le=1)
    val_ci95: tuple[float, float] = (0.0, 0.0)
    n_val: int = 0
    test_accuracy: float | None = None
    # choice log-likelihood accuracy after the student's own steps (multiple-choice splits only)
    val_ll_accuracy: float | None = None
    test_ll_accuracy: float | None = None
    # the splits' floors (edtune.taskcard): uniform guessing, and the best single answer given every time
    val_chance: float | None = None
    val_best_constant: float | None = None
    test_chance: float | None = None
    test_best_constant: float | None = None
    mistakes: int = 0
    diagnosed: int = 0
    undiagnosed: int = 0
    # how each mistake was diagnosed (issue 13 item 6): the teacher's answer switch found the first wrong step,
    # or the judge fallback did (also when no switch could apply), or the last step was blamed by fallback
    by_answer_switch: int = 0
    by_judge: int = 0
    by_last_step: int = 0
    top_skills: list[str] = Field(default_factory=list)
    selected: int = 0
    train_loss: float | None = None
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    adapter: str | None = None


class AdapterManifest(BaseModel):
    """Everything a platform team needs to trust and serve an adapter, written beside it."""

    base_model: str
    base_sha256: str | None = None
    lora: dict[str, Any]
    rounds: list[RoundMetrics]
    best_round: int
    selected_support_ids: list[str]
    files: dict[str, str]  # relative path -> sha256
    task: str | None = None
    run_id: str | None = None
    edtune_version: str
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
