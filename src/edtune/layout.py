"""Where a run's files live (DESIGN §3), in one place so stages, the loop, KFP components and reports agree.

`<output>/<run_id>/round-00/` holds the base student's evaluation; `round-NN/` (N >= 1) holds one tuning round:
mistakes.jsonl (diagnosed from the previous round's validation traces), skill-groups.json (the teacher's grouping
of their paraphrased skill names, when asked), gaps.json, selection.jsonl, replay.jsonl,
adapter/, then traces.jsonl + metrics.json (the validation evaluation of this round's adapter), and test-traces.jsonl.
`final/` holds the best adapter, manifest.json and report.html. `.done/<stage>.json` markers make stages skippable.
"""

from __future__ import annotations

from dataclasses import dataclass

from edtune.io import join


@dataclass(frozen=True)
class RunLayout:
    root: str  # <output>/<run_id>

    def round_dir(self, r: int) -> str:
        return join(self.root, f"round-{r:02d}")

    def file(self, r: int, name: str) -> str:
        return join(self.round_dir(r), name)

    def traces(self, r: int, split: str = "val") -> str:
        return self.file(r, "traces.jsonl" if split == "val" else f"{split}-traces.jsonl")

    def eval_summary(self, r: int, split: str = "val") -> str:
        return self.file(r, f"eval-{split}.json")

    def mistakes(self, r: int) -> str:
        return self.file(r, "mistakes.jsonl")

    def skill_groups(self, r: int) -> str:
        return self.file(r, "skill-groups.json")

    def gaps(self, r: int) -> str:
        return self.file(r, "gaps.json")

    def selection(self, r: int) -> str:
        return self.file(r, "selection.jsonl")

    def replay(self, r: int) -> str:
        return self.file(r, "replay.jsonl")

    def adapter(self, r: int) -> str:
        return self.file(r, "adapter")

    def tune_summary(self, r: int) -> str:
        return self.file(r, "tune.json")

    def metrics(self, r: int) -> str:
        return self.file(r, "metrics.json")

    def marker(self, r: int, stage: str) -> str:
        return join(self.round_dir(r), ".done", f"{stage}.json")

    @property
    def final(self) -> str:
        return join(self.root, "final")

    @property
    def state(self) -> str:
        return join(self.root, "state.json")
