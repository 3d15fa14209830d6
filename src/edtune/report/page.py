"""The report page: run header, accuracy per round, rounds and training tables, LoRA loss curves, per-sample
before/after, and per round the gaps, the diagnosed examples and the gallery of what was selected.

Every empty cell has a reason printed under its table (a CPU round has no GPU peak; round 0 trains nothing), so
a blank never reads as a bug.
"""

from __future__ import annotations

import html
from typing import Any

from edtune import io
from edtune.config import RunConfig
from edtune.layout import RunLayout
from edtune.report.charts import bar_chart, line_chart
from edtune.report.samples import before_after, examples, gallery
from edtune.runfiles import read_training_figures
from edtune.schemas import MistakeReport, RoundMetrics, SkillGap, TaskSample, Trace
from edtune.taskcard import answer_baselines

esc = html.escape

#: (tune.json key, column heading, format) of the training table, in `TRAINING_FIGURES` order.
TRAINING_COLUMNS = (
    ("final_loss", "final loss", "{:.4f}"),
    ("samples_per_s", "samples/s", "{:.1f}"),
    ("tokens_per_s", "tokens/s", "{:.0f}"),
    ("peak_rss_mb", "peak RSS (MB)", "{:.0f}"),
    ("peak_gpu_mb", "peak GPU (MB)", "{:.0f}"),
    ("steps", "steps", "{:.0f}"),
    ("seconds", "train seconds", "{:.1f}"),
)
STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}.row{display:flex;gap:12px;flex-wrap:wrap}"
    ".ex{display:flex;gap:10px;margin:8px 0;border-bottom:1px solid #eee}.note{color:#555;font-size:12px}"
    ".gallery{display:flex;flex-wrap:wrap;gap:10px}.gallery figure{width:170px;margin:0;font-size:12px}"
    ".thumb{display:block;background:#fff;flex:none;align-self:flex-start}.skill{border-bottom:1px dotted #888;cursor:help}"
)


def _val_samples(cfg: RunConfig) -> dict[str, TaskSample]:
    from edtune.datasets import load_task

    try:
        return {s.id: s for s in load_task(cfg.task.val, check_images=False)}
    except Exception:  # the report still renders from what the run wrote when the split moved
        return {}


def _traces(uri: str) -> list[Trace]:
    return io.read_jsonl(uri, Trace, id_field="sample_id") if io.exists(uri) else []


def _notes(notes: list[str]) -> str:
    return "".join(f"<p class='note'>{esc(n)}</p>" for n in notes)


def _rounds_table(rounds: list[RoundMetrics]) -> list[str]:
    out = [
        "<h2>Rounds</h2><table><tr><th>round</th><th>val acc (95% CI)</th><th>test acc</th><th>mistakes</th>"
        "<th>diagnosed</th><th>by answer switch</th><th>by judge fallback</th><th>undiagnosed</th><th>selected</th>"
        "<th>train loss</th><th>top missing skills</th><th>seconds</th></tr>"
    ]
    for m in rounds:
        secs = sum(m.stage_seconds.values())
        out.append(
            f"<tr><td>{m.round}</td><td>{m.val_accuracy:.3f} ({m.val_ci95[0]:.2f}–{m.val_ci95[1]:.2f})</td>"
            f"<td>{'' if m.test_accuracy is None else f'{m.test_accuracy:.3f}'}</td><td>{m.mistakes}</td>"
            f"<td>{m.diagnosed}</td><td>{m.by_answer_switch}</td>"
            f"<td>{m.by_judge}{f' (+{m.by_last_step} last step)' if m.by_last_step else ''}</td>"
            f"<td>{m.undiagnosed}</td><td>{m.selected}</td>"
            f"<td>{'' if m.train_loss is None else f'{m.train_loss:.3f}'}</td>"
            f"<td>{esc(', '.join(m.top_skills))}</td><td>{secs:.1f}</td></tr>"
        )
    out.append("</table>")
    notes = []
    if any(m.test_accuracy is None for m in rounds):
        notes.append("test acc is empty for a round that was not scored on the held-out test split.")
    if any(m.train_loss is None for m in rounds):
        notes.append(
            "train loss is empty for round 0 (the base student, nothing trained) and for a round that "
            "selected nothing."
        )
    if any(not m.top_skills for m in rounds):
        notes.append("top missing skills is empty where no mistake was diagnosed (round 0 is only scored).")
    out.append(_notes(notes))
    return out


def _training_table(layout: RunLayout, rounds: list[RoundMetrics]) -> list[str]:
    """What each round's tune cost (round-NN/tune.json); rounds that did not tune have no row."""
    rows, no_gpu, single = [], False, False
    for m in rounds:
        figures = read_training_figures(layout, m.round)
        if figures is None:
            continue
        no_gpu |= "peak_gpu_mb" not in figures
        restarts = _restarts_cell(layout, m.round)
        single |= not restarts
        cells = "".join(
            f"<td>{fmt.format(figures[key]) if key in figures else ''}</td>"
            for key, _, fmt in TRAINING_COLUMNS
        )
        rows.append(f"<tr><td>{m.round}</td>{cells}<td>{restarts}</td></tr>")
    if not rows:
        return []
    head = "".join(f"<th>{esc(title)}</th>" for _, title, _ in TRAINING_COLUMNS)
    notes = []
    if no_gpu:
        notes.append("peak GPU (MB) is empty for a round trained on CPU: there was no GPU memory to measure.")
    if single:
        notes.append("restarts is empty for a round trained once (lora.restarts = 1).")
    return [
        "<h2>Training</h2><table class='training'>",
        f"<tr><th>round</th>{head}<th>restarts: validation (kept in bold)</th></tr>",
        *rows,
        "</table>",
        _notes(notes),
    ]


def _restarts_cell(layout: RunLayout, r: int) -> str:
    data = io.read_json(layout.tune_summary(r))
    return " / ".join(
        f"<b>{x['val_accuracy']:.2f}</b>"
        if x["restart"] == data.get("restart_chosen")
        else f"{x['val_accuracy']:.2f}"
        for x in data.get("restarts") or []
    )


def loss_curves(layout: RunLayout, r: int) -> dict[str, Any] | None:
    """{series name: loss values, "_kept": name, "_steps": n} for round r, or None if it did not tune.

    A single run is one series (tune.json's `loss_curve`); with restarts, one series per restart read from its own
    `restarts/restart-K/score.json`, the kept one being exactly tune.json's curve."""
    uri = layout.tune_summary(r)
    if not io.exists(uri):
        return None
    data = io.read_json(uri)
    if data.get("skipped") or not data.get("loss_curve"):
        return None
    kept_curve = list(data["loss_curve"])
    restarts = data.get("restarts") or []
    if not restarts:
        return {"LoRA loss": kept_curve, "_kept": "LoRA loss", "_steps": data.get("steps") or len(kept_curve)}
    out: dict[str, Any] = {"_steps": data.get("steps") or len(kept_curve)}
    for x in restarts:
        k = x["restart"]
        if k == data.get("restart_chosen"):
            name = f"restart {k} (kept)"
            out[name], out["_kept"] = kept_curve, name
            continue
        score_uri = io.join(layout.round_dir(r), "restarts", f"restart-{k}", "score.json")
        curve = io.read_json(score_uri).get("tune", {}).get("loss_curve") if io.exists(score_uri) else None
        out[f"restart {k}" if curve else f"restart {k} (curve not kept)"] = list(curve or [])
    return out


def _loss_chart(r: int, curves: dict[str, Any]) -> str:
    steps = curves["_steps"]
    series = {}
    for name, ys in curves.items():
        if name.startswith("_"):
            continue
        scale = steps / len(ys) if ys else 1
        series[name] = [(float((i + 1) * scale), float(y)) for i, y in enumerate(ys)]
    return line_chart(
        series,
        f"Round {r}: LoRA training loss",
        x_label="step",
        y_range=None,
        marked=curves.get("_kept"),
        css_class="loss",
    )


def build_report(cfg: RunConfig, rounds: list[RoundMetrics], best: int, max_examples: int = 6) -> str:
    layout = RunLayout(cfg.run_uri)
    samples = _val_samples(cfg)
    val = [(float(m.round), m.val_accuracy) for m in rounds]
    test = [(float(m.round), m.test_accuracy) for m in rounds if m.test_accuracy is not None]
    floor = answer_baselines(samples.values())
    body: list[str] = [
        f"<h1>edtune run {esc(cfg.run_id)} — task {esc(cfg.task.name)}</h1>",
        f"<p>Student <code>{esc(cfg.student.base)}</code>; teacher <code>{esc(cfg.teacher.model)}</code> "
        f"({esc(cfg.teacher.method)}); selector <code>{esc(cfg.retrieval.selector)}</code> "
        f"({esc(cfg.retrieval.mode)}); budget {cfg.loop.budget_per_round}/round. Best round: <b>{best}</b> "
        "(chosen on the validation split; the test split is held out and never diagnosed).</p>",
        line_chart({"validation": val, "test": test}, "Accuracy per round", css_class="accuracy"),
    ]
    if floor.n:
        body.append(
            f"<p class='floor'>Validation floor ({floor.n} samples): chance {floor.chance:.2f}; the best constant "
            f"answer {esc(repr(floor.best_constant_answer))} scores {floor.best_constant:.2f}.</p>"
        )
    body += _rounds_table(rounds)
    body += _training_table(layout, rounds)
    for m in rounds[1:]:
        if (curves := loss_curves(layout, m.round)) is not None:
            body.append(_loss_chart(m.round, curves))
    after = best if best > 0 else (rounds[-1].round if rounds else 0)
    if after > 0:
        label = f"round {after} ({'kept adapter' if after == best else 'last round; no round beat the base'})"
        body += before_after(
            _traces(layout.traces(0)),
            _traces(layout.traces(after)),
            samples,
            ("round 0 (base student)", label),
        )
    for m in rounds[1:]:
        body += _round_section(cfg, layout, m.round, samples, max_examples)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>edtune report {esc(cfg.run_id)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>"
    )


def _round_section(
    cfg: RunConfig, layout: RunLayout, r: int, samples: dict[str, TaskSample], max_examples: int
) -> list[str]:
    if not io.exists(layout.gaps(r)):
        return []
    gaps = [SkillGap.model_validate(g) for g in io.read_json(layout.gaps(r))]
    grouped = {alias: g.skill for g in gaps for alias in [g.skill, *g.aliases]}
    hover = {g.skill: "also written as: " + "; ".join(g.aliases) for g in gaps if g.aliases}
    out = [
        f"<h2>Round {r}</h2><div class='row'>",
        bar_chart({g.skill: g.count for g in gaps}, "mistakes per missing skill", hover),
        bar_chart({g.skill: g.budget for g in gaps}, "budget per skill", hover),
        "</div>",
    ]
    if io.exists(layout.mistakes(r)) and io.exists(layout.traces(r - 1)):
        reports = [
            m
            for m in io.read_jsonl(layout.mistakes(r), MistakeReport, id_field="sample_id")
            if m.status == "diagnosed"
        ][:max_examples]
        traces = {t.sample_id: t for t in _traces(layout.traces(r - 1))}
        out += examples(reports, traces, samples, grouped)
    out += gallery(layout, r, cfg.pool.uri, cfg.pool.skills)
    return out


def write_report(cfg: RunConfig, rounds: list[RoundMetrics], best: int) -> str:
    uri = io.join(RunLayout(cfg.run_uri).final, "report.html")
    io.write_text(uri, build_report(cfg, rounds, best))
    return uri


def summary_table(rounds: list[RoundMetrics]) -> list[dict[str, Any]]:
    """Rows for the CLI's per-round table and the demo's JSON (`by_judge` counts every fallback diagnosis:
    the judge's, and the last step blamed under `teacher.fallback=last-step`)."""
    return [
        {
            "round": m.round,
            "val_acc": round(m.val_accuracy, 3),
            "test_acc": None if m.test_accuracy is None else round(m.test_accuracy, 3),
            "test_ll": None if m.test_ll_accuracy is None else round(m.test_ll_accuracy, 3),
            "test_const": None if m.test_best_constant is None else round(m.test_best_constant, 3),
            "mistakes": m.mistakes,
            "diagnosed": m.diagnosed,
            "by_switch": m.by_answer_switch,
            "by_judge": m.by_judge + m.by_last_step,
            "undiagnosed": m.undiagnosed,
            "selected": m.selected,
            "top_skills": ", ".join(m.top_skills[:3]),
            "seconds": round(sum(m.stage_seconds.values()), 1),
        }
        for m in rounds
    ]
