"""The stage-by-stage study driver with hooks (see benchmarks.study for why the studies do not call edtune.loop.run)."""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.study import StudyPaths

# ---------------------------------------------------------------- the driver


@dataclass
class RunOutcome:
    run_id: str
    base_test: float
    test_by_round: list[float | None]  # test accuracy after each round (index 0 = base)
    val_by_round: list[float | None]
    selected: list[str] = field(default_factory=list)  # every id selected (all rounds), replay excluded
    replay: int = 0
    steps: int = 0
    seconds: float = 0.0
    note: str | None = None
    pick_by_val: bool = False  # early stopping: the round with the best validation accuracy, not the last
    # choice log-likelihood test accuracy after each round (None: not multiple-choice, or not evaluated)
    test_ll_by_round: list[float | None] = field(default_factory=list)

    def _final_round(self) -> int:
        """The round the study reports: the best on validation when early-stopping, else the last one tested."""
        if self.pick_by_val:
            scored = [(v, -r) for r, v in enumerate(self.val_by_round) if v is not None and r > 0]
            best = -max(scored)[1] if scored else None
            if best is not None and self.test_by_round[best] is not None:
                return best
        done = [r for r, x in enumerate(self.test_by_round) if x is not None]
        return done[-1] if done else 0

    @property
    def final_test(self) -> float:
        t = self.test_by_round[self._final_round()] if self.test_by_round else None
        return t if t is not None else self.base_test

    @property
    def final_test_ll(self) -> float | None:
        """Choice log-likelihood accuracy of the reported round (lm-eval multiple_choice), beside `final_test`."""
        r = self._final_round()
        return self.test_ll_by_round[r] if r < len(self.test_ll_by_round) else None


Hook = Callable[[Any, int], None]


def _share_round0(p: StudyPaths, cfg: Any) -> None:
    """Copy the task's round-0 evaluation (base student, val + test) into this run so it is not recomputed:
    the stage markers key on inputs and config, not on the run directory, so the copy is a valid cache hit."""
    from edtune import stages

    src_cfg = cfg.model_copy(deep=True)
    src_cfg.run_id = f"base-{cfg.task.name}"
    src = Path(stages.layout_of(src_cfg).round_dir(0))
    if not (src / ".done" / "evaluate-test.json").exists():
        stages.evaluate(src_cfg, 0, "val")
        stages.evaluate(src_cfg, 0, "test")
    dst = Path(stages.layout_of(cfg).round_dir(0))
    if not dst.exists():
        shutil.copytree(src, dst)


def _read_acc(cfg: Any, r: int, split: str, key: str = "accuracy") -> float | None:
    """A round's accuracy on a split (`ll_accuracy`: by choice log-likelihood), None where it was not scored."""
    from edtune import io, stages

    uri = stages.layout_of(cfg).eval_summary(r, split)
    value = io.read_json(uri).get(key) if io.exists(uri) else None
    return None if value is None else float(value)


def drive(
    p: StudyPaths,
    cfg: Any,
    *,
    rounds: int = 1,
    steps_per_round: Sequence[int] | None = None,
    budgets_per_round: Sequence[int] | None = None,
    after_diagnose: Hook | None = None,
    after_retrieve: Hook | None = None,
    test_each_round: bool = False,
    early_stop: bool = False,
) -> RunOutcome:
    """Run `rounds` tuning rounds of `cfg` through the stage functions. Round r may use its own budget and LoRA
    step count (equal TOTAL budget and steps across round counts). Diagnosis runs only for error-driven selection;
    validation is evaluated only where a later round's diagnosis needs it."""
    from edtune import stages
    from edtune.errors import StageError

    t0 = time.perf_counter()
    _share_round0(p, cfg)
    base_test = _read_acc(cfg, 0, "test")
    assert base_test is not None
    test_by_round: list[float | None] = [base_test]
    val_by_round: list[float | None] = [_read_acc(cfg, 0, "val")]
    test_ll_by_round: list[float | None] = [_read_acc(cfg, 0, "test", "ll_accuracy")]
    selected: list[str] = []
    replay = steps = 0
    note = None
    error_driven = cfg.retrieval.selector == "error-driven"
    for r in range(1, rounds + 1):
        rcfg = cfg.model_copy(deep=True)
        if budgets_per_round is not None:
            rcfg.loop.budget_per_round = budgets_per_round[r - 1]
        if steps_per_round is not None:
            rcfg.lora.max_steps = steps_per_round[r - 1]
        if error_driven:
            stages.diagnose(rcfg, r)
            if after_diagnose:
                after_diagnose(rcfg, r)
            stages.allocate(rcfg, r)
        stages.retrieve(rcfg, r)
        if after_retrieve:
            after_retrieve(rcfg, r)
        layout = stages.layout_of(rcfg)
        sel = [s.support_id for s in _read_selections(layout.selection(r))]
        if not sel:  # nothing to tune on (e.g. no diagnosed mistake): the round keeps the student
            note = f"round {r}: nothing selected"
            break
        _never_empty_replay(layout, r)
        sel = [s.support_id for s in _read_selections(layout.selection(r))]
        rep = _read_selections(layout.replay(r))
        try:
            stages.tune(rcfg, r)
        except StageError as exc:
            note = f"round {r}: {exc}"
            break
        selected += sel
        replay += len(rep)
        steps += int(rcfg.lora.max_steps or 0)
        last = r == rounds
        if (error_driven and not last) or early_stop:
            stages.evaluate(rcfg, r, "val")
        if last or test_each_round or early_stop:
            stages.evaluate(rcfg, r, "test")
        test_by_round.append(_read_acc(rcfg, r, "test"))
        val_by_round.append(_read_acc(rcfg, r, "val"))
        test_ll_by_round.append(_read_acc(rcfg, r, "test", "ll_accuracy"))
    return RunOutcome(
        run_id=cfg.run_id,
        base_test=base_test,
        test_by_round=test_by_round,
        val_by_round=val_by_round,
        selected=selected,
        replay=replay,
        steps=steps,
        seconds=round(time.perf_counter() - t0, 1),
        note=note,
        pick_by_val=early_stop,
        test_ll_by_round=test_ll_by_round,
    )


def _read_selections(uri: str) -> list[Any]:
    """Selections in a JSONL file; an empty file is an empty list (`read_jsonl` refuses empty files)."""
    from edtune import io
    from edtune.schemas import Selection

    if not io.exists(uri) or not io.read_text(uri).strip():
        return []
    return io.read_jsonl(uri, Selection, id_field=None)


def _never_empty_replay(layout: Any, r: int) -> None:
    """Work around the tune stage refusing an empty replay.jsonl (full-pool selection leaves no pool sample to
    replay): move the last selected sample into replay. The set of samples tuned on is unchanged."""
    from edtune import io

    sel = _read_selections(layout.selection(r))
    if _read_selections(layout.replay(r)) or len(sel) < 2:
        return
    last = sel[-1].model_copy(update={"skill": "replay", "rank": 0})
    io.write_jsonl(layout.selection(r), sel[:-1])
    io.write_jsonl(layout.replay(r), [last])


def _write_selection(cfg: Any, r: int, fitted: list[Any], pool_ids: list[str], used: set[str]) -> None:
    """Write round r's selection and a replay share redrawn for it (never a selected or earlier-used id)."""
    from edtune import io, stages

    layout = stages.layout_of(cfg)
    replay = stages._replay(cfg, r, pool_ids, used | {s.support_id for s in fitted}, len(fitted))
    io.write_jsonl(layout.selection(r), fitted)
    io.write_jsonl(layout.replay(r), replay)


def oracle_selection(cfg: Any, r: int, *, labels: dict[str, dict[str, Any]], gap_skills: set[str]) -> None:
    """Hook: replace round r's selection by what perfect retrieval would pick at the same budget — the pool
    samples whose ground-truth skills (the world's sidecar, never seen by a selector) include one of the task's
    gap skills, in a seeded order, cut to `budget_per_round`; when the pool holds fewer, the rest are drawn at
    random from the other samples, so every selector tunes on the same number of samples and steps. An upper
    bound that separates what selection loses from what tuning cannot learn; not a selector a user has."""
    from edtune import stages
    from edtune.schemas import Selection

    budget = cfg.loop.budget_per_round
    pool_ids = stages._pool_ids(cfg)
    used = stages.used_support_ids(cfg, r)
    rng = random.Random(f"oracle:{cfg.seed}:{r}")
    gap = [i for i in pool_ids if i not in used and set(labels.get(i, {}).get("skills") or []) & gap_skills]
    gap_ids = set(gap)
    rest = [i for i in pool_ids if i not in used and i not in gap_ids]
    rng.shuffle(gap)
    picked = gap[:budget] + rng.sample(rest, max(0, min(budget - len(gap), len(rest))))
    fitted = [
        Selection(support_id=i, skill="oracle", score=0.0, rank=k + 1, round=r) for k, i in enumerate(picked)
    ]
    _write_selection(cfg, r, fitted, pool_ids, used)


def task_family_selection(cfg: Any, r: int, *, labels: dict[str, dict[str, Any]], families: set[str]) -> None:
    """Hook: replace round r's selection by the pool samples that ask the task's own question family (the
    composition a disguised task needs, e.g. `side_color` for `color-by-side`, by the world's sidecar), in a seeded
    order, repeated to `budget_per_round` when the pool holds fewer — the same samples and steps as every other
    selector, all of them the task's composition. An upper bound on what selection from this pool can teach the
    student in the round's steps (where `oracle_selection` asks for the gap skill alone); not a selector a user has.
    """
    from edtune import stages
    from edtune.schemas import Selection

    budget = cfg.loop.budget_per_round
    pool_ids = stages._pool_ids(cfg)
    used = stages.used_support_ids(cfg, r)
    rng = random.Random(f"task-family:{cfg.seed}:{r}")
    own = [i for i in pool_ids if i not in used and set(labels.get(i, {}).get("families") or []) & families]
    if not own:
        raise ValueError(f"the pool holds no unused sample of the families {sorted(families)}")
    rng.shuffle(own)
    picked = [own[k % len(own)] for k in range(budget)]
    fitted = [
        Selection(support_id=i, skill="task-family", score=0.0, rank=k + 1, round=r)
        for k, i in enumerate(picked)
    ]
    _write_selection(cfg, r, fitted, pool_ids, used)


def fit_selection_to_budget(cfg: Any, r: int) -> None:
    """Hook: make round r's selection exactly `budget_per_round` ids (seeded cycle or truncation) and redraw its
    replay share to match — the validation selector otherwise tunes on however many validation samples exist."""
    from edtune import io, stages
    from edtune.schemas import Selection

    layout = stages.layout_of(cfg)
    sel = io.read_jsonl(layout.selection(r), Selection, id_field=None)
    budget = cfg.loop.budget_per_round
    if len(sel) == budget or not sel:
        return
    rng = random.Random(f"fit:{cfg.seed}:{r}")
    order = list(sel)
    rng.shuffle(order)
    out = [order[k % len(order)] for k in range(budget)]
    fitted = [s.model_copy(update={"rank": k}) for k, s in enumerate(out)]
    _write_selection(cfg, r, fitted, stages._pool_ids(cfg), stages.used_support_ids(cfg, r))
