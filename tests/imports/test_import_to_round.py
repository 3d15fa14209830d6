"""From the formats people hold to a tuned round, through the normal commands (in process: `edtune.cli.main`).

A pool from three formats at once (a LLaVA JSON array, messages JSONL in ms-swift and TRL styles, a Parquet
export with image bytes), a task from an MMBench-style TSV and one from LLaVA records with answers, each with
corrupt records planted; then `data validate` (no --kind), `annotate --estimate`, `annotate`, `index` and one
round of `run`. The corrupt records are refused by file and line; everything else arrives.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edtune.cli import main

from .conftest import (
    mmbench_rows,
    pool_records,
    task_records,
    to_messages,
    write_llava_json,
    write_parquet,
    write_tsv,
)


def cli(capsys: pytest.CaptureFixture[str], *args: str, rc: int = 0) -> dict[str, Any]:
    capsys.readouterr()
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert code == rc, f"{args}: exit {code}\n{out.err[-3000:]}"
    return json.loads(out.out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def teacher_url() -> Iterator[str]:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher(host="127.0.0.1", port=0)
    try:
        yield url
    finally:
        server.shutdown()


def test_three_formats_and_two_task_formats_import_validate_and_tune_one_round(
    tmp_path: Path, world: Path, teacher_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = time.perf_counter()
    recs = pool_records(world)
    third = len(recs) // 3
    src = tmp_path / "src"
    src.mkdir()
    # --- pool sources, each with one planted corrupt record (its line is asserted below)
    llava = [*recs[:third], {**recs[0], "id": "missing-image", "image": "images/no-such.png"}]
    write_llava_json(src / "llava.json", llava, world)
    msgs = [
        json.dumps(to_messages(r, world, parts=i % 2 == 1)) for i, r in enumerate(recs[third : 2 * third])
    ]
    bad_b64 = to_messages(recs[0], world, parts=False) | {
        "id": "bad-b64",
        "images": ["data:image/png;base64,@@@"],
    }
    wrong_type = {
        "id": "wrong-type",
        "messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "x"}],
    }
    lines = [m.encode() for m in msgs] + [
        json.dumps(bad_b64).encode(),
        json.dumps(wrong_type).encode(),
        b'{"id": "latin1", "messages": "caf\xe9"}',
    ]
    (src / "messages.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    write_parquet(src / "export.parquet", recs[2 * third :], world)
    n_msgs = len(msgs)

    pool_dir = tmp_path / "pool"
    r = cli(
        capsys,
        "pool",
        "import",
        str(src / "llava.json"),
        str(src / "messages.jsonl"),
        str(src / "export.parquet"),
        "--images",
        str(world),
        "--out",
        str(pool_dir),
    )
    refused = (pool_dir / "refused.txt").read_text()
    text = (src / "llava.json").read_text().splitlines()
    llava_line = (
        next(i for i, ln in enumerate(text, 1) if '"missing-image"' in ln) - 1
    )  # its element opens a line above
    for fragment in (
        f"{src / 'llava.json'}:{llava_line}: image: image not found",
        f"{src / 'messages.jsonl'}:{n_msgs + 1}: images: not valid base64",
        f"{src / 'messages.jsonl'}:{n_msgs + 2}: messages.0.content: expected text, got int",
        f"{src / 'messages.jsonl'}:{n_msgs + 3}: invalid UTF-8",
    ):
        assert fragment in refused, refused
    assert r["refused"] == 4
    assert r["read"] == r["imported"] + r["refused"] + r["duplicates"] == len(recs) + 4
    assert r["imported"] >= len(recs) - r["duplicates"] > 0

    # --- tasks: MMBench-style TSV (base64 images, letters) and LLaVA records with answers
    val, test = task_records(world, "left-right", "val"), task_records(world, "left-right", "test")
    rows = mmbench_rows(val + test, world, "left-right")
    rows.append({**rows[0], "index": "999", "image": "not*base64"})
    write_tsv(src / "mmbench.tsv", rows)
    task_dir = tmp_path / "task"
    t = cli(capsys, "task", "import", str(src / "mmbench.tsv"), "--format", "mmbench", "--out", str(task_dir))
    assert (t["imported"], t["refused"], t["val"] + t["test"]) == (len(rows) - 1, 1, len(rows) - 1)
    assert f"{src / 'mmbench.tsv'}:{len(rows) + 1}: image: not valid base64" in t["problems"][0]
    card = json.loads((task_dir / "card.json").read_text())
    assert card["val"]["n"] == t["val"] and 0 < card["val"]["baselines"]["chance"] <= 0.5
    count = task_records(world, "count-by-side", "val")
    llava_task = [
        {
            "id": c["id"],
            "image": str(world / "tasks" / "count-by-side" / c["image"]),
            "conversations": [
                {"from": "human", "value": "<image>\n" + c["question"]},
                {"from": "gpt", "value": c["answer"]},
            ],
        }
        for c in count
    ]
    long = {
        **llava_task[0],
        "id": "essay",
        "conversations": [llava_task[0]["conversations"][0], {"from": "gpt", "value": "a long answer " * 5}],
    }
    (src / "llava-task.jsonl").write_text("".join(json.dumps(x) + "\n" for x in [*llava_task, long]))
    lt = cli(
        capsys,
        "task",
        "import",
        str(src / "llava-task.jsonl"),
        "--format",
        "llava",
        "--out",
        str(tmp_path / "task2"),
    )
    assert (lt["imported"], lt["refused"]) == (len(count), 1)
    assert f"{src / 'llava-task.jsonl'}:{len(count) + 1}: answer: 15 words" in lt["problems"][0]

    # --- validate every output without --kind
    for path, kind in (
        (pool_dir / "pool.jsonl", "support"),
        (task_dir / "val.jsonl", "task"),
        (task_dir / "test.jsonl", "task"),
        (tmp_path / "task2" / "val.jsonl", "task"),
    ):
        v = cli(capsys, "data", "validate", str(path))
        assert (v["valid"], v["kind"], v["detected"]) == (True, kind, True)

    # --- annotate (estimate first: the same request count), index, one round
    cfg = {
        "preset": "shapes-tiny",
        "run_id": "imported",
        "output": str(tmp_path / "runs"),
        "cache_dir": str(tmp_path / "cache"),
        "task": {
            "name": "left-right",
            "val": str(task_dir / "val.jsonl"),
            "test": str(task_dir / "test.jsonl"),
        },
        "pool": {
            "uri": str(pool_dir / "pool.jsonl"),
            "skills": str(pool_dir / "pool.skills.jsonl"),
            "milvus_uri": str(tmp_path / "milvus.db"),
            "collection": "imported",
        },
        "student": {"base": _base_student(tmp_path)},
        "teacher": {"url": teacher_url, "model": ""},
        "loop": {"max_rounds": 1, "budget_per_round": 16, "min_gain": -1.0},
        "lora": {"max_steps": 6},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    c = ["-c", str(tmp_path / "run.yaml")]
    skills = str(pool_dir / "pool.skills.jsonl")
    est = cli(capsys, "annotate", "--pool", str(pool_dir / "pool.jsonl"), "--out", skills, "--estimate", *c)
    ann = cli(capsys, "annotate", "--pool", str(pool_dir / "pool.jsonl"), "--out", skills, *c)
    assert est["requests"] == ann["requests"] == r["imported"]
    cli(
        capsys,
        "index",
        "--pool",
        str(pool_dir / "pool.jsonl"),
        "--skills",
        skills,
        "--milvus-uri",
        str(tmp_path / "milvus.db"),
        "--collection",
        "imported",
    )
    run = cli(capsys, "run", *c)
    assert [m["round"] for m in run["rounds"]] == [0, 1]
    _check_report(Path(run["report"]), tmp_path / "runs" / "imported", t["val"])
    assert time.perf_counter() - t0 < 90


def _base_student(tmp_path: Path) -> str:
    from edtune.shapes.student.base import ensure_base_student

    return ensure_base_student(str(tmp_path / "cache"))


def _check_report(report: Path, run_dir: Path, n_val: int) -> None:
    """What the report shows agrees with what the round wrote: loss points, gallery, before/after."""
    import re

    page = report.read_text()
    tune = json.loads((run_dir / "round-01" / "tune.json").read_text())
    points = [int(n) for n in re.findall(r'<polyline class="loss"[^>]*data-points="(\d+)"', page)]
    assert points == [len(tune["loss_curve"])]
    selected = (run_dir / "round-01" / "selection.jsonl").read_text().splitlines()
    count = re.search(r"data-total='(\d+)' data-shown='(\d+)'", page)
    assert count and int(count[1]) == len(selected)
    assert len(re.findall(r"<figure class='sel' data-id='[^']+'><img", page)) == int(count[2]) > 0
    cells = [int(v) for v in re.findall(r"<td class='ba' data-category='[^']+'>(\d+)</td>", page)]
    traces = [json.loads(x) for x in (run_dir / "round-01" / "traces.jsonl").read_text().splitlines()]
    assert sum(cells) == n_val == len(traces)
