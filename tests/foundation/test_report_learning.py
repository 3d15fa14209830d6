"""The report shows what was learnt, parsed from its HTML: a loss polyline per restart with every logged point,
the selected samples grouped by gap with their count, the per-sample before/after adding up to the validation
split, framed thumbnails, legends outside the plot, grouped skill names with the teacher's words on hover,
diagnosis text that agrees with itself, and a reason under every empty column."""

from __future__ import annotations

import base64
import io as _bytes
import re
from pathlib import Path

import pytest
from PIL import Image

from edtune import io
from edtune.config import RunConfig, load_config
from edtune.layout import RunLayout
from edtune.report import build_report
from edtune.schemas import MistakeReport, RoundMetrics, SupportSample, TaskSample, Trace

N_VAL = 10
# round 0 -> round 1 correctness per validation sample: 3 fixed, 2 still wrong, 1 newly wrong, 4 still right
BEFORE = [False, False, False, False, False, True, True, True, True, True]
AFTER = [True, True, True, False, False, False, True, True, True, True]
ROUNDS = [RoundMetrics(round=0, val_accuracy=0.5), RoundMetrics(round=1, val_accuracy=0.7, train_loss=0.3)]


def _png(path: Path) -> str:
    img = Image.new("RGB", (64, 64), "white")
    img.paste((250, 250, 250), (4, 20, 20, 36))  # a white-ish shape on white: invisible without a frame
    img.save(path)
    return str(path)


def _run(
    tmp_path: Path, restarts: int, n_pool: int = 30, n_selected: int = 12
) -> tuple[RunConfig, RunLayout]:
    task = [
        TaskSample(
            id=f"v{i}",
            image=_png(tmp_path / f"v{i}.png"),
            question=f"Where is shape {i}?",
            choices=["left", "right"],
            answer="left" if i % 3 else "right",
        )
        for i in range(N_VAL)
    ]
    io.write_jsonl(tmp_path / "val.jsonl", task)
    pool = [
        SupportSample.model_validate(
            {
                "id": f"p{i}",
                "image": _png(tmp_path / f"p{i}.png"),
                "conversations": [
                    {"from": "human", "value": f"<image>\nIs shape {i} on the left?"},
                    {"from": "gpt", "value": "yes"},
                ],
            }
        )
        for i in range(n_pool)
    ]
    io.write_jsonl(tmp_path / "pool.jsonl", pool)
    io.write_jsonl(tmp_path / "pool.skills.jsonl", [{"id": p.id, "skills": [f"tag-{p.id}"]} for p in pool])
    cfg = load_config(
        None,
        env={},
        base={
            "output": str(tmp_path / "runs"),
            "run_id": "learn",
            "task": {
                "name": "left-right",
                "val": str(tmp_path / "val.jsonl"),
                "test": str(tmp_path / "val.jsonl"),
            },
            "pool": {"uri": str(tmp_path / "pool.jsonl"), "skills": str(tmp_path / "pool.skills.jsonl")},
        },
    )
    lay = RunLayout(cfg.run_uri)
    for r, flags in ((0, BEFORE), (1, AFTER)):
        io.write_jsonl(
            lay.traces(r),
            [
                Trace(sample_id=f"v{i}", steps=["Step about the shape."], answer="x", correct=ok, raw="")
                for i, ok in enumerate(flags)
            ],
        )
    io.write_json(
        lay.gaps(1),
        [
            {
                "skill": "spatial relations left right",
                "count": 4,
                "budget": 8,
                "aliases": ["left/right positions"],
            },
            {"skill": "color recognition", "count": 1, "budget": 4},
        ],
    )
    io.write_jsonl(
        lay.mistakes(1),
        [
            MistakeReport(
                sample_id="v0",
                erroneous_step=1,
                explanation="The steps are right but the answer is not.",
                missing_skills=[{"name": "left/right positions", "description": ""}],
            ),
        ],
    )
    io.write_jsonl(
        lay.selection(1),
        [
            {
                "support_id": f"p{i}",
                "skill": "spatial relations left right" if i % 4 else "color recognition",
                "score": 1.0 - i / 100,
                "round": 1,
            }
            for i in range(n_selected)
        ],
    )
    curves = [[2.0 - 0.01 * s - 0.1 * k for s in range(40)] for k in range(max(restarts, 1))]
    tune = {
        "steps": 80,
        "loss_curve": curves[min(1, restarts - 1)] if restarts > 1 else curves[0],
        "final_loss": 0.3,
        "samples_per_s": 5.0,
        "tokens_per_s": 100.0,
        "peak_rss_mb": 900.0,
        "peak_gpu_mb": None,
        "seconds": 3.0,
    }
    if restarts > 1:
        tune |= {
            "restart_chosen": 1,
            "restarts": [
                {"restart": k, "seed": k, "val_accuracy": 0.6 + k / 100, "final_loss": 0.3}
                for k in range(restarts)
            ],
        }
        for k in range(restarts):
            io.write_json(
                io.join(lay.round_dir(1), "restarts", f"restart-{k}", "score.json"),
                {"restart": k, "tune": {"loss_curve": curves[k]}},
            )
    io.write_json(lay.tune_summary(1), tune)
    return cfg, lay


@pytest.mark.parametrize("restarts", [1, 3])
def test_one_loss_polyline_per_restart_with_every_logged_point(tmp_path: Path, restarts: int) -> None:
    cfg, lay = _run(tmp_path, restarts)
    page = build_report(cfg, ROUNDS, best=1)
    lines = re.findall(r'<polyline class="loss"[^>]*data-points="(\d+)"([^>]*)>', page)
    assert len(lines) == restarts
    logged = len(io.read_json(lay.tune_summary(1))["loss_curve"])
    assert all(int(n) == logged for n, _ in lines)
    kept = [rest for _, rest in lines if 'data-kept="1"' in rest]
    assert len(kept) == 1
    for poly in re.findall(r'<polyline class="loss"[^>]*points="([^"]+)"', page):
        assert len(poly.split()) == logged


def test_gallery_shows_one_framed_image_per_shown_sample_and_the_total(tmp_path: Path) -> None:
    cfg, _ = _run(tmp_path, 1, n_selected=12)
    page = build_report(cfg, ROUNDS, best=1)
    count = re.search(r"class='gallery-count' data-total='(\d+)' data-shown='(\d+)'", page)
    assert count and int(count[1]) == 12
    figures = re.findall(r"<figure class='sel' data-id='(p\d+)'>(<img class=\"thumb\"[^>]*>)", page)
    assert len(figures) == int(count[2]) == 4 + 3  # 4 of 9 in the left/right gap, all 3 colour ones
    assert "<h4>spatial relations left right <small>(9 selected)</small></h4>" in page
    assert "tags: tag-p1" in page
    src = re.search(r'src="data:image/png;base64,([^"]+)"', figures[0][1])
    img = Image.open(_bytes.BytesIO(base64.b64decode(src[1]))).convert("RGB")
    assert img.getpixel((0, 0)) == img.getpixel((img.width - 1, img.height // 2)) == (0x44, 0x44, 0x44)


def test_before_and_after_adds_up_to_the_validation_split_as_the_traces_say(tmp_path: Path) -> None:
    cfg, _ = _run(tmp_path, 1)
    page = build_report(cfg, ROUNDS, best=1)
    cells = dict(re.findall(r"<td class='ba' data-category='([^']+)'>(\d+)</td>", page))
    assert {k: int(v) for k, v in cells.items()} == {
        "fixed": 3,
        "still wrong": 2,
        "newly wrong": 1,
        "still right": 4,
    }
    assert sum(int(v) for v in cells.values()) == N_VAL
    assert "<h4>fixed</h4>" in page and "<h4>newly wrong</h4>" in page


def test_skill_names_are_grouped_with_the_teachers_words_on_hover(tmp_path: Path) -> None:
    cfg, _ = _run(tmp_path, 1)
    page = build_report(cfg, ROUNDS, best=1)
    assert "title='teacher wrote: left/right positions'>spatial relations left right</span>" in page
    assert "<title>also written as: left/right positions</title>spatial relations left right" in page
    assert "missing skill: <b><span class='skill'" in page


def test_a_last_step_blame_reads_as_the_last_step_not_a_contradiction(tmp_path: Path) -> None:
    cfg, _ = _run(tmp_path, 1)
    page = build_report(cfg, ROUNDS, best=1)
    assert "first wrong step 1" not in page
    assert (
        "wrong at the last step (1 of 1), where the answer is drawn. <i>Teacher:</i> The steps are right"
        in page
    )


def test_every_empty_column_says_why(tmp_path: Path) -> None:
    cfg, _ = _run(tmp_path, 1)
    page = build_report(cfg, ROUNDS, best=1)
    assert "<td>900</td><td></td><td>80</td>" in page  # peak GPU empty on CPU ...
    assert "peak GPU (MB) is empty for a round trained on CPU" in page  # ... and why
    assert "restarts is empty for a round trained once" in page
    assert "test acc is empty for a round that was not scored" in page
    assert "train loss is empty for round 0" in page


def test_legends_sit_right_of_the_plot_area(tmp_path: Path) -> None:
    cfg, _ = _run(tmp_path, 3)
    page = build_report(cfg, ROUNDS, best=1)
    for svg in re.findall(r"<svg.*?</svg>", page):
        if "<polyline" not in svg:
            continue
        width = float(re.search(r'width="([\d.]+)"', svg)[1])
        axis_right = max(
            float(x) for x in re.findall(r'<line x1="[\d.]+" y1="[\d.]+" x2="([\d.]+)"', svg)[:1]
        )
        xs = [
            float(x)
            for x in re.findall(r'<polyline[^>]*points="([^"]+)"', svg)[0].replace(",", " ").split()[::2]
        ]
        labels = re.findall(
            r'<text x="([\d.]+)" y="[\d.]+" font-size="11"(?: font-weight="bold")?>([^<]+)</text>', svg
        )
        legend = [(float(x), t) for x, t in labels if t not in ("round", "step")]
        assert legend, svg[:200]
        assert all(x > axis_right >= max(xs) for x, _ in legend)
        assert all(x + 6.5 * len(t) <= width + 1 for x, t in legend), "a legend label is clipped"
