"""Inline SVG charts for the report: no scripts, no network, readable in any browser and as a KFP HTML artifact.

The legend sits in its own column to the right of the plot area (never over a line, never clipped: the column is
as wide as the longest label needs), and every polyline carries `class`/`data-*` attributes so a test — or a
reader's script — can count series and points without guessing from colours.
"""

from __future__ import annotations

import html

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
_CHAR_W = 6.5  # px per character of an 11px sans-serif label: sizes the legend column


def _legend(entries: list[tuple[str, str, bool]], x: float, y: float) -> list[str]:
    """(label, colour, bold) rows in a column starting at (x, y)."""
    out = []
    for i, (name, c, bold) in enumerate(entries):
        yy = y + 16 * i
        width = 3 if bold else 2
        weight = ' font-weight="bold"' if bold else ""
        out.append(
            f'<line x1="{x}" y1="{yy - 4}" x2="{x + 18}" y2="{yy - 4}" stroke="{c}" stroke-width="{width}"/>'
        )
        out.append(f'<text x="{x + 24}" y="{yy}" font-size="11"{weight}>{html.escape(name)}</text>')
    return out


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    title: str,
    *,
    x_label: str = "round",
    y_range: tuple[float, float] | None = (0.0, 1.0),
    marked: str | None = None,
    css_class: str = "series",
    integer_x: bool = True,
    h: int = 240,
) -> str:
    """One polyline per series (points and a circle each when few); `marked` is drawn thicker and bold in the
    legend (the kept restart). `y_range` None scales to the data (a loss)."""
    # a series with nothing to draw is still named, so a reader knows it exists
    labels = {name: name if pts else f"{name} (no points)" for name, pts in series.items()}
    legend_w = 34 + _CHAR_W * max([len(x) for x in labels.values()] or [4])
    plot_w, pad_l, pad = 380, 46, 34
    w = pad_l + plot_w + 16 + legend_w
    xs = [x for pts in series.values() for x, _ in pts] or [0.0, 1.0]
    ys = [y for pts in series.values() for _, y in pts] or [0.0, 1.0]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = y_range if y_range else (min(0.0, min(ys)), max(ys) * 1.05 or 1.0)

    def px(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return h - pad - (y - y0) / ((y1 - y0) or 1) * (h - 2 * pad)

    right = pad_l + plot_w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h}" role="img">']
    parts.append(
        f'<text x="{(pad_l + right) / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>'
    )
    parts.append(f'<line x1="{pad_l}" y1="{h - pad}" x2="{right}" y2="{h - pad}" stroke="#333"/>')
    parts.append(f'<line x1="{pad_l}" y1="{pad}" x2="{pad_l}" y2="{h - pad}" stroke="#333"/>')
    for k in range(5):
        t = y0 + (y1 - y0) * k / 4
        parts.append(
            f'<text x="{pad_l - 4}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="10">{t:.2f}</text>'
        )
        parts.append(f'<line x1="{pad_l}" y1="{py(t):.1f}" x2="{right}" y2="{py(t):.1f}" stroke="#eee"/>')
    if len(set(xs)) <= 12:  # few points: a tick on each, never a rounded label between two of them
        ticks = sorted(set(xs))
    else:
        spread = [x0 + (x1 - x0) * k / 4 for k in range(5)]
        ticks = sorted({float(round(x)) for x in spread}) if integer_x else spread
    for x in ticks:
        parts.append(
            f'<text x="{px(x):.1f}" y="{h - pad + 14}" text-anchor="middle" font-size="10">{x:.4g}</text>'
        )
    parts.append(
        f'<text x="{(pad_l + right) / 2}" y="{h - 4}" text-anchor="middle" font-size="11">{html.escape(x_label)}</text>'
    )
    legend = []
    for i, (name, pts) in enumerate(series.items()):
        c = COLORS[i % len(COLORS)]
        bold = name == marked
        legend.append((labels[name], c, bold))
        if not pts:
            continue
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        kept = ' data-kept="1"' if bold else ""
        parts.append(
            f'<polyline class="{css_class}" data-series="{html.escape(name)}" data-points="{len(pts)}"{kept}'
            f' fill="none" stroke="{c}" stroke-width="{3 if bold else 1.5}" points="{path}"/>'
        )
        if len(pts) <= 20:
            parts.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>' for x, y in pts)
    parts.extend(_legend(legend, right + 16, pad + 8))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(values: dict[str, float], title: str, hover: dict[str, str] | None = None, w: int = 460) -> str:
    """Horizontal bars, largest first (12 at most); `hover` gives a label's tooltip (the merged paraphrases)."""
    items = sorted(values.items(), key=lambda kv: -kv[1])[:12]
    bar_h, pad_l = 18, 190
    h = 30 + bar_h * max(1, len(items))
    vmax = max([v for _, v in items] or [1]) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">']
    parts.append(f'<text x="{w / 2}" y="14" text-anchor="middle" font-size="13">{html.escape(title)}</text>')
    for i, (k, v) in enumerate(items):
        y = 24 + i * bar_h
        bw = (w - pad_l - 40) * v / vmax
        tip = (hover or {}).get(k)
        label = html.escape(k if len(k) <= 30 else k[:29] + "…")
        title_el = f"<title>{html.escape(tip)}</title>" if tip else ""
        parts.append(
            f'<text x="{pad_l - 6}" y="{y + 12}" text-anchor="end" font-size="11">{title_el}{label}</text>'
        )
        parts.append(f'<rect x="{pad_l}" y="{y}" width="{bw:.1f}" height="{bar_h - 4}" fill="#1f77b4"/>')
        parts.append(f'<text x="{pad_l + bw + 4}" y="{y + 12}" font-size="11">{v:g}</text>')
    parts.append("</svg>")
    return "".join(parts)
