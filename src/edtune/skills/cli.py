"""Commands of the `skills` area (registered by `edtune.cli`): `edtune index`, `edtune retrieve`."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
MilvusOpt = Annotated[
    str,
    typer.Option(
        "--milvus-uri",
        help="Milvus Lite file (./x.db) or http://host:19530 (token from EDTUNE_MILVUS_TOKEN).",
    ),
]
CollectionOpt = Annotated[str, typer.Option("--collection", help="Collection name.")]


def _mode(value: str) -> Literal["bm25", "dense", "hybrid"]:
    if value not in ("bm25", "dense", "hybrid"):
        raise typer.BadParameter("--mode must be bm25, dense or hybrid")
    return value  # type: ignore[return-value]


def index_cmd(
    pool: Annotated[str, typer.Option("--pool", help="Support pool JSONL (LLaVA conversation format).")],
    milvus_uri: MilvusOpt = "./edtune-data/milvus.db",
    collection: CollectionOpt = "support",
    skills: Annotated[
        str | None,
        typer.Option(
            "--skills", help="pool.skills.jsonl from `edtune annotate`; omit to index conversation text."
        ),
    ] = None,
    index_type: Annotated[
        str, typer.Option("--index-type", help="AUTOINDEX | FLAT | IVF_FLAT | HNSW")
    ] = "AUTOINDEX",
    batch: Annotated[int, typer.Option("--batch", min=1, help="Rows per embed+insert batch.")] = 2000,
    as_json: JsonOpt = False,
) -> None:
    """Index the support pool in Milvus (BM25 over skill tags + dense vectors). Resumable: rerun after a crash."""
    from edtune.datasets import iter_support
    from edtune.output import emit
    from edtune.skills.index import SkillIndex
    from edtune.skills.tags import load_skill_tags

    tags = load_skill_tags(skills) if skills else None
    idx = SkillIndex(milvus_uri, collection, index_type=index_type)
    m = idx.ingest(iter_support(pool), tags, batch=batch, progress=not as_json)
    human = (
        f"{m.collection} @ {m.uri}: {m.count} rows ({m.inserted} inserted, {m.skipped} already there), "
        f"mode {m.mode}, embed {m.embed_s:.1f}s, insert {m.insert_s:.1f}s"
    )
    emit(m, as_json, human=human)


def retrieve_cmd(
    mistakes: Annotated[str, typer.Option("--mistakes", help="mistakes.jsonl (MistakeReport per line).")],
    budget: Annotated[int, typer.Option("--budget", min=0, help="Samples to select this round.")],
    out: Annotated[str, typer.Option("--out", help="Where to write selection.jsonl.")],
    milvus_uri: MilvusOpt = "./edtune-data/milvus.db",
    collection: CollectionOpt = "support",
    mode: Annotated[str, typer.Option("--mode", help="bm25 | dense | hybrid")] = "hybrid",
    policy: Annotated[str, typer.Option("--policy", help="proportional | per-mistake")] = "proportional",
    min_per_skill: Annotated[int, typer.Option("--min-per-skill", min=0)] = 1,
    round_: Annotated[
        int, typer.Option("--round", min=0, help="Round number written into each selection.")
    ] = 0,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", help="selection.jsonl of an earlier round (repeatable): never reselect those."
        ),
    ] = None,
    threshold: Annotated[float, typer.Option("--merge-threshold", min=0, max=1)] = 0.85,
    min_score_ratio: Annotated[
        float,
        typer.Option(
            "--min-score-ratio",
            min=0,
            max=0.99,
            help="A hit below this share of its query's best score is no match (0: fill every budget).",
        ),
    ] = 0.5,
    gaps_out: Annotated[
        str | None, typer.Option("--gaps-out", help="Also write the SkillGaps as JSON.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Turn a round's mistakes into skill gaps, split the budget, and select matching support samples."""
    from edtune.io import read_jsonl, write_json, write_jsonl
    from edtune.output import emit
    from edtune.schemas import MistakeReport, Selection
    from edtune.skills.allocate import allocate
    from edtune.skills.embed import Embedder
    from edtune.skills.gaps import merge_gaps
    from edtune.skills.index import SkillIndex
    from edtune.skills.retrieve import retrieve

    if policy not in ("proportional", "per-mistake"):
        raise typer.BadParameter("--policy must be proportional or per-mistake")
    m = _mode(mode)
    reports = read_jsonl(mistakes, MistakeReport, id_field="sample_id")
    used: set[str] = set()
    for uri in exclude or []:
        used.update(s.support_id for s in read_jsonl(uri, Selection, id_field=None))
    embedder = Embedder()
    gaps = merge_gaps(reports, threshold=threshold, embedder=embedder)
    gaps = allocate(gaps, budget, policy=policy, min_per_skill=min_per_skill)  # type: ignore[arg-type]
    idx = SkillIndex(milvus_uri, collection, embedder=embedder)
    sel = retrieve(idx, gaps, mode=m, round=round_, exclude=used, min_score_ratio=min_score_ratio)
    write_jsonl(out, sel)
    if gaps_out:
        write_json(gaps_out, [g.model_dump(mode="json") for g in gaps])
    result = {
        "out": out,
        "selected": len(sel),
        "budget": budget,
        "mode": m,
        "round": round_,
        "gaps": [{"skill": g.skill, "count": g.count, "budget": g.budget} for g in gaps],
        "excluded": len(used),
    }
    lines = [f"{out}: {len(sel)}/{budget} samples selected ({m}, round {round_})"]
    lines += [f"  {g.count:4d} × {g.skill!r}: budget {g.budget}" for g in gaps]
    emit(result, as_json, human="\n".join(lines))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app. Heavy imports stay inside the command bodies."""
    app.command("index")(index_cmd)
    app.command("retrieve")(retrieve_cmd)
