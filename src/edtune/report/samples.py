"""The report's per-sample views: framed thumbnails, the gallery of selected support samples grouped by gap,
the before/after of every validation sample, and the diagnosed examples.

Thumbnails are drawn on a framed canvas (a dark border in the pixels themselves), because the shapes world and
many real tasks put light objects on a white background: without a frame a reader cannot tell where the image
ends, so "left" and "right" cannot be checked. Skill names are the grouped ones the charts use; what the
teacher actually wrote is on hover (`title`).
"""

from __future__ import annotations

import base64
import html
import io as _bytesio
from collections.abc import Iterable

from pydantic import BaseModel

from edtune import io
from edtune.datasets import iter_support
from edtune.layout import RunLayout
from edtune.runfiles import read_selections
from edtune.schemas import MistakeReport, Selection, SupportSample, TaskSample, Trace

PER_GAP = 4  # gallery samples shown per gap
MAX_GALLERY = 32
esc = html.escape


def thumb(uri: str | None, side: int = 96) -> str:
    """A framed PNG thumbnail as a data URI (the frame is part of the pixels), or a note saying why there is none."""
    if not uri:
        return "<span class='noimg'>(no image: a text-only sample)</span>"
    try:
        from PIL import ImageOps

        from edtune.io.images import load_image

        img = load_image(uri)
        img.thumbnail((side, side))
        framed = ImageOps.expand(ImageOps.expand(img, border=1, fill="#ffffff"), border=2, fill="#444444")
        buf = _bytesio.BytesIO()
        framed.save(buf, format="PNG")
        data = base64.b64encode(buf.getvalue()).decode()
        return f'<img class="thumb" alt="sample image" src="data:image/png;base64,{data}"/>'
    except Exception as exc:  # a missing or unreadable image must not sink the whole report
        return f"<span class='noimg'>(image unavailable: {esc(type(exc).__name__)})</span>"


def skill_label(raw: str, grouped: dict[str, str]) -> str:
    """The grouped skill name, with the teacher's own wording on hover when it differs."""
    name = grouped.get(raw, raw)
    tip = f"teacher wrote: {raw}" if name != raw else name
    return f"<span class='skill' title='{esc(tip, quote=True)}'>{esc(name)}</span>"


def _question(s: SupportSample) -> str:
    text = s.conversations[0].value.replace("<image>", "").strip()
    return text if len(text) <= 160 else text[:159] + "…"


class _Tags(BaseModel):
    id: str
    skills: list[str] = []


def _find(pool_uri: str, ids: set[str]) -> dict[str, SupportSample]:
    """The pool samples with these ids; the stream stops once all are found (a 1M pool is not read to the end)."""
    out: dict[str, SupportSample] = {}
    for s in iter_support(pool_uri):
        if s.id in ids:
            out[s.id] = s
            if len(out) == len(ids):
                break
    return out


def _tags(skills_uri: str | None, ids: set[str]) -> dict[str, list[str]]:
    if not skills_uri or not io.exists(skills_uri):
        return {}
    return {r.id: r.skills for r in io.iter_jsonl(skills_uri, _Tags) if r.id in ids}


def gallery(layout: RunLayout, r: int, pool_uri: str, skills_uri: str | None) -> list[str]:
    """Selected support samples of round r grouped by gap: up to PER_GAP per gap, and how many there are."""
    uri = layout.selection(r)
    if not io.exists(uri):
        return []
    sel = read_selections(uri)
    if not sel:
        return [
            "<h3>Selected support samples</h3><p class='gallery-count' data-total='0' data-shown='0'>"
            "Nothing was selected in this round (no gap, or the pool had nothing left for it).</p>"
        ]
    by_gap: dict[str, list[Selection]] = {}
    for s in sel:
        by_gap.setdefault(s.skill, []).append(s)
    order = sorted(by_gap, key=lambda g: -len(by_gap[g]))  # the biggest gap first, as in the bar charts
    shown = {gap: by_gap[gap][:PER_GAP] for gap in order}
    while sum(len(v) for v in shown.values()) > MAX_GALLERY:  # many gaps: trim the largest groups first
        biggest = max(shown, key=lambda g: len(shown[g]))
        shown[biggest] = shown[biggest][:-1]
    ids = {s.support_id for rows in shown.values() for s in rows}
    samples, tags = _find(pool_uri, ids), _tags(skills_uri, ids)
    n_shown = sum(len(v) for v in shown.values())
    out = [
        f"<h3>Selected support samples</h3><p class='gallery-count' data-total='{len(sel)}' data-shown='{n_shown}'>"
        f"{len(sel)} selected in {len(by_gap)} gap(s); showing {n_shown} (up to {PER_GAP} per gap, best match first)."
        "</p>"
    ]
    for gap, rows in shown.items():
        out.append(f"<h4>{esc(gap)} <small>({len(by_gap[gap])} selected)</small></h4><div class='gallery'>")
        for s in rows:
            sample = samples.get(s.support_id)
            if sample is None:
                out.append(
                    f"<figure class='sel'><figcaption>{esc(s.support_id)}: not in the pool any more</figcaption></figure>"
                )
                continue
            tag_text = ", ".join(tags.get(s.support_id, [])) or "(no tags: indexed by conversation text)"
            out.append(
                f"<figure class='sel' data-id='{esc(s.support_id, quote=True)}'>{thumb(sample.image)}<figcaption>"
                f"{esc(_question(sample))}<br><small>tags: {esc(tag_text)} · score {s.score:.2f}</small>"
                "</figcaption></figure>"
            )
        out.append("</div>")
    return out


CATEGORIES = ("fixed", "still wrong", "newly wrong", "still right")


def before_after(
    before: Iterable[Trace], after: Iterable[Trace], samples: dict[str, TaskSample], labels: tuple[str, str]
) -> list[str]:
    """Every validation sample in one of four groups (counts add up to the split), fixed and newly wrong shown."""
    b = {t.sample_id: t.correct for t in before}
    a = {t.sample_id: t.correct for t in after}
    groups: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for sid in sorted(b.keys() & a.keys()):
        key = {(False, True): "fixed", (False, False): "still wrong", (True, False): "newly wrong"}.get(
            (b[sid], a[sid]), "still right"
        )
        groups[key].append(sid)
    missing = len(b.keys() ^ a.keys())
    cells = "".join(f"<td class='ba' data-category='{c}'>{len(groups[c])}</td>" for c in CATEGORIES)
    out = [
        f"<h2>Before and after, per validation sample</h2><p>{esc(labels[0])} → {esc(labels[1])}: every sample "
        "scored in both falls in exactly one column.</p>",
        "<table class='before-after'><tr>"
        + "".join(f"<th>{c}</th>" for c in CATEGORIES)
        + "<th>total</th></tr>",
        f"<tr>{cells}<td>{sum(len(v) for v in groups.values())}</td></tr></table>",
    ]
    if missing:
        out.append(
            f"<p>{missing} sample(s) were scored in only one of the two rounds and are not counted.</p>"
        )
    for c in ("fixed", "newly wrong"):
        if groups[c]:
            figs = "".join(
                f"<figure>{thumb(samples[s].image if s in samples else None, 72)}<figcaption>"
                f"{esc(samples[s].question if s in samples else s)}<br><small>gold: "
                f"{esc(samples[s].gold_text if s in samples else '?')}</small></figcaption></figure>"
                for s in groups[c][:8]
            )
            more = f" (first 8 of {len(groups[c])})" if len(groups[c]) > 8 else ""
            out.append(f"<h4>{c}{more}</h4><div class='gallery'>{figs}</div>")
    if groups["still wrong"]:
        out.append(
            f"<details><summary>still wrong: {len(groups['still wrong'])} ids</summary>"
            f"<p>{esc(', '.join(groups['still wrong']))}</p></details>"
        )
    return out


def blame(m: MistakeReport, n_steps: int) -> str:
    """Where the mistake is, worded so it agrees with the teacher's explanation whatever the step number."""
    k = m.erroneous_step or 0
    if m.method == "last-step":
        where = f"no step was found wrong; the last step ({k} of {n_steps}) is blamed by the fallback"
    elif k > n_steps:
        where = "no wrong step: the answer itself is wrong"
    elif k == n_steps:
        where = f"wrong at the last step ({k} of {n_steps}), where the answer is drawn"
    else:
        where = f"first wrong step: {k} of {n_steps}"
    return f"{where}. <i>Teacher:</i> {esc(m.explanation)}"


def examples(
    reports: list[MistakeReport],
    traces: dict[str, Trace],
    samples: dict[str, TaskSample],
    grouped: dict[str, str],
) -> list[str]:
    out = ["<h3>Diagnosed mistakes (examples)</h3>"]
    for m in reports:
        t, s = traces.get(m.sample_id), samples.get(m.sample_id)
        steps = t.steps if t else []
        red = ' style="color:#d62728"'
        items = "".join(
            f"<li{red if i == m.erroneous_step else ''}>{esc(x)}</li>" for i, x in enumerate(steps, start=1)
        )
        skill = skill_label(m.missing_skills[0].name, grouped) if m.missing_skills else ""
        out.append(
            f"<div class='ex'>{thumb(s.image) if s else ''}<div><b>{esc(s.question if s else m.sample_id)}</b>"
            f"<br>gold: {esc(s.gold_text if s else '?')} · student: {esc((t.answer or '(none)') if t else '?')}"
            f"<ol>{items}</ol>{blame(m, len(steps))}<br>missing skill: <b>{skill}</b></div></div>"
        )
    return out
