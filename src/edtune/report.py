"""One self-contained HTML report per run: accuracy per round, mistakes and budget per skill, diagnosed examples
with their images, and lineage (which support samples went into which round). Plots are inline SVG, so the file
opens anywhere (also as a KFP `HTML` artifact) without network access.
"""

from __future__ import annotations

import base64
import html
import io as _bytesio
from typing import Any

from edtune import io
from edtune.config import RunConfig
from edtune.layout import RunLayout
from edtune.runfiles import read_selections, read_training_figures
from edtune.schemas import MistakeReport, RoundMetrics, SkillGap, Trace

_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def _line_chart(series: dict[str, list[tuple[float, float]]], title: str, w: int = 460, h: int = 240) -> str:
    pad = 40
    xs = [x for pts in series.values() for x, _ in pts] or [0.0, 1.0]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)

    def px(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (w - 2 * pad)

    def py(y: float) -> float:
        return h - pad - y * (h - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">']
    parts.append(f'<text x="{w / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>')
    parts.append(f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#333"/>')
    parts.append(f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#333"/>')
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{pad - 4}" y="{py(t) + 4}" text-anchor="end" font-size="10">{t:.2f}</text>')
        parts.append(f'<line x1="{pad}" y1="{py(t)}" x2="{w - pad}" y2="{py(t)}" stroke="#eee"/>')
    for x in sorted(set(xs)):
        parts.append(
            f'<text x="{px(x)}" y="{h - pad + 14}" text-anchor="middle" font-size="10">{int(x)}</text>'
        )
    parts.append(f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle" font-size="11">round</text>')
    for i, (name, pts) in enumerate(series.items()):
        c = _COLORS[i % len(_COLORS)]
        if pts:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{path}"/>')
            for x, y in pts:
                parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>')
        parts.append(
            f'<text x="{w - pad + 2}" y="{pad + 14 * i}" font-size="11" fill="{c}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart(values: dict[str, float], title: str, w: int = 460) -> str:
    items = sorted(values.items(), key=lambda kv: -kv[1])[:12]
    bar_h, pad_l = 18, 190
    h = 30 + bar_h * max(1, len(items))
    vmax = max([v for _, v in items] or [1]) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">']
    parts.append(f'<text x="{w / 2}" y="14" text-anchor="middle" font-size="13">{html.escape(title)}</text>')
    for i, (k, v) in enumerate(items):
        y = 24 + i * bar_h
        bw = (w - pad_l - 40) * v / vmax
        parts.append(
            f'<text x="{pad_l - 6}" y="{y + 12}" text-anchor="end" font-size="11">{html.escape(k[:30])}</text>'
        )
        parts.append(f'<rect x="{pad_l}" y="{y}" width="{bw:.1f}" height="{bar_h - 4}" fill="#1f77b4"/>')
        parts.append(f'<text x="{pad_l + bw + 4}" y="{y + 12}" font-size="11">{v:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _thumb(uri: str, side: int = 96) -> str:
    try:
        from edtune.io.images import load_image

        img = load_image(uri)
        img.thumbnail((side, side))
        buf = _bytesio.BytesIO()
        img.save(buf, format="PNG")
        return f'<img alt="sample image" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'
    except Exception:
        return "<em>(image unavailable)</em>"


def build_report(cfg: RunConfig, rounds: list[RoundMetrics], best: int, max_examples: int = 6) -> str:
    layout = RunLayout(cfg.run_uri)
    esc = html.escape
    val = [(float(m.round), m.val_accuracy) for m in rounds]
    test = [(float(m.round), m.test_accuracy) for m in rounds if m.test_accuracy is not None]
    body: list[str] = [
        f"<h1>edtune run {esc(cfg.run_id)} — task {esc(cfg.task.name)}</h1>",
        f"<p>Student <code>{esc(cfg.student.base)}</code>; teacher <code>{esc(cfg.teacher.model)}</code> "
        f"({esc(cfg.teacher.method)}); selector <code>{esc(cfg.retrieval.selector)}</code> "
        f"({esc(cfg.retrieval.mode)}); budget {cfg.loop.budget_per_round}/round. Best round: <b>{best}</b> "
        "(chosen on the validation split; the test split is held out and never diagnosed).</p>",
        _line_chart({"validation": val, "test": test}, "Accuracy per round"),
        "<h2>Rounds</h2><table><tr><th>round</th><th>val acc (95% CI)</th><th>test acc</th><th>mistakes</th>"
        "<th>diagnosed</th><th>by answer switch</th><th>by judge fallback</th><th>undiagnosed</th><th>selected</th>"
        "<th>train loss</th><th>top missing skills</th><th>seconds</th></tr>",
    ]
    for m in rounds:
        secs = sum(m.stage_seconds.values())
        body.append(
            f"<tr><td>{m.round}</td><td>{m.val_accuracy:.3f} ({m.val_ci95[0]:.2f}–{m.val_ci95[1]:.2f})</td>"
            f"<td>{'' if m.test_accuracy is None else f'{m.test_accuracy:.3f}'}</td><td>{m.mistakes}</td>"
            f"<td>{m.diagnosed}</td><td>{m.by_answer_switch}</td>"
            f"<td>{m.by_judge}{f' (+{m.by_last_step} last step)' if m.by_last_step else ''}</td>"
            f"<td>{m.undiagnosed}</td><td>{m.selected}</td>"
            f"<td>{'' if m.train_loss is None else f'{m.train_loss:.3f}'}</td>"
            f"<td>{esc(', '.join(m.top_skills))}</td><td>{secs:.1f}</td></tr>"
        )
    body.append("</table>")
    body.extend(_training_table(layout, rounds))
    for m in rounds[1:]:
        r = m.round
        gaps_uri = layout.gaps(r)
        if not io.exists(gaps_uri):
            continue
        gaps = [SkillGap.model_validate(g) for g in io.read_json(gaps_uri)]
        body.append(f"<h2>Round {r}</h2><div class='row'>")
        body.append(_bar_chart({g.skill: g.count for g in gaps}, "mistakes per missing skill"))
        body.append(_bar_chart({g.skill: g.budget for g in gaps}, "budget per skill"))
        body.append("</div>")
        body.extend(_examples(cfg, r, max_examples))
        sel_uri = layout.selection(r)
        if io.exists(sel_uri):
            sel = read_selections(sel_uri)
            ids = ", ".join(esc(s.support_id) for s in sel[:40])
            more = f" … (+{len(sel) - 40})" if len(sel) > 40 else ""
            body.append(
                f"<details><summary>lineage: {len(sel)} support samples</summary><p>{ids}{more}</p></details>"
            )
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}.row{display:flex;gap:12px;flex-wrap:wrap}"
        ".ex{display:flex;gap:10px;margin:8px 0;border-bottom:1px solid #eee}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>edtune report {esc(cfg.run_id)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


#: (tune.json key, column heading, format) of the training table, in `TRAINING_FIGURES` order.
_TRAINING_COLUMNS = (
    ("final_loss", "final loss", "{:.4f}"),
    ("samples_per_s", "samples/s", "{:.1f}"),
    ("tokens_per_s", "tokens/s", "{:.0f}"),
    ("peak_rss_mb", "peak RSS (MB)", "{:.0f}"),
    ("peak_gpu_mb", "peak GPU (MB)", "{:.0f}"),
    ("steps", "steps", "{:.0f}"),
    ("seconds", "train seconds", "{:.1f}"),
)


def _training_table(layout: RunLayout, rounds: list[RoundMetrics]) -> list[str]:
    """What each round's tune cost (round-NN/tune.json), so a slow or memory-bound round shows next to its gain.

    Rounds without a tune.json (round 0, a run older than the file) have no row; no row at all, no table. A
    figure the file lacks (peak GPU memory on CPU) is an empty cell.
    """
    rows = []
    for m in rounds:
        figures = read_training_figures(layout, m.round)
        if figures is None:
            continue
        cells = "".join(
            f"<td>{fmt.format(figures[key]) if key in figures else ''}</td>"
            for key, _, fmt in _TRAINING_COLUMNS
        )
        rows.append(f"<tr><td>{m.round}</td>{cells}<td>{_restarts_cell(layout, m.round)}</td></tr>")
    if not rows:
        return []
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in _TRAINING_COLUMNS)
    return [
        "<h2>Training</h2><table class='training'>",
        f"<tr><th>round</th>{head}<th>restarts: validation (kept in bold)</th></tr>",
        *rows,
        "</table>",
    ]


def _restarts_cell(layout: RunLayout, r: int) -> str:
    """Each LoRA restart's validation accuracy, the kept one in bold (`lora.restarts` > 1); empty for one run, so
    a reader sees which draw was published and how far apart the draws were."""
    data = io.read_json(layout.tune_summary(r))
    restarts = data.get("restarts") or []
    return " / ".join(
        f"<b>{x['val_accuracy']:.2f}</b>"
        if x["restart"] == data.get("restart_chosen")
        else f"{x['val_accuracy']:.2f}"
        for x in restarts
    )


def _examples(cfg: RunConfig, r: int, limit: int) -> list[str]:
    from edtune.datasets import load_task

    layout = RunLayout(cfg.run_uri)
    esc = html.escape
    if not io.exists(layout.mistakes(r)) or not io.exists(layout.traces(r - 1)):
        return []
    reports = [
        m
        for m in io.read_jsonl(layout.mistakes(r), MistakeReport, id_field="sample_id")
        if m.status == "diagnosed"
    ][:limit]
    traces = {t.sample_id: t for t in io.read_jsonl(layout.traces(r - 1), Trace, id_field="sample_id")}
    try:
        samples = {s.id: s for s in load_task(cfg.task.val, check_images=False)}
    except Exception:
        samples = {}
    out = ["<h3>Diagnosed mistakes (examples)</h3>"]
    for m in reports:
        t, s = traces.get(m.sample_id), samples.get(m.sample_id)
        red = ' style="color:#d62728"'
        steps = "".join(
            f"<li{red if i == m.erroneous_step else ''}>{esc(x)}</li>"
            for i, x in enumerate(t.steps if t else [], start=1)
        )
        skill = m.missing_skills[0].name if m.missing_skills else ""
        out.append(
            f"<div class='ex'>{_thumb(s.image) if s else ''}<div><b>{esc(s.question if s else m.sample_id)}</b>"
            f"<br>gold: {esc(s.gold_text if s else '?')} · student: {esc((t.answer or '(none)') if t else '?')}"
            f"<ol>{steps}</ol>first wrong step {m.erroneous_step}: {esc(m.explanation)}<br>"
            f"missing skill: <b>{esc(skill)}</b></div></div>"
        )
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
