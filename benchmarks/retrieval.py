"""Skill-index benchmark: indexing throughput (embedding and insert apart), query latency per mode, recall@10.

    nice python benchmarks/retrieval.py                   # 10K rows, Milvus Lite in a temp dir
    nice python benchmarks/retrieval.py --sizes 10000 100000
    nice python benchmarks/retrieval.py --full            # adds 1M rows (hours of CPU embedding)
    python benchmarks/retrieval.py --milvus-uri http://host:19530   # a Milvus server (token: EDTUNE_MILVUS_TOKEN)

The pool is synthetic and skill-tagged like a teacher-annotated one: 1–3 tags per sample drawn from a
vocabulary of ~2K distinct phrases (so the embedder's text cache applies, as on a real tagged pool), plus a
"raw embed" measurement on distinct texts. Queries are skill phrases and paraphrases. Recall@10 compares the
index's dense search with exact brute force over every stored vector. Exclusion is timed both ways: a
`id not in [...]` filter expression, and over-fetch + client-side filtering (what SkillIndex does beyond
FILTER_MAX_IDS ids). Results: benchmarks/results/retrieval-<backend>-<rows>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

VERBS = ["counting", "naming", "comparing", "locating", "recognizing", "describing", "reading", "matching"]
ATTRS = [
    "red",
    "blue",
    "green",
    "small",
    "large",
    "striped",
    "shiny",
    "dark",
    "round",
    "tall",
    "wooden",
    "metal",
]
OBJS = [
    "circles",
    "squares",
    "triangles",
    "animals",
    "vehicles",
    "faces",
    "letters",
    "digits",
    "trees",
    "buildings",
    "clouds",
    "tools",
    "fruits",
    "shadows",
    "signs",
    "people",
    "birds",
    "chairs",
    "cups",
    "clocks",
    "boats",
]
QUERIES = [
    "counting objects",
    "color naming",
    "shape recognition",
    "left right relations",
    "size comparison",
    "tallying items",
    "hue identification",
    "reading digits",
    "recognizing faces",
    "locating vehicles",
]


def vocabulary() -> list[str]:
    return sorted({f"{v} {a} {o}" for v in VERBS for a in ATTRS for o in OBJS})


def synthetic_pool(n: int, seed: int = 0):
    from edtune.schemas import SupportSample

    rng = random.Random(seed)
    vocab = vocabulary()
    tags: dict[str, list[str]] = {}

    def gen():
        for i in range(n):
            sid = f"p{i:07d}"
            tags[sid] = rng.sample(vocab, rng.randint(1, 3))
            yield SupportSample.model_validate(
                {
                    "id": sid,
                    "image": f"s3://pool/images/{i}.jpg",
                    "conversations": [
                        {"from": "human", "value": f"<image>\nQuestion {i}?"},
                        {"from": "gpt", "value": f"Answer {i}."},
                    ],
                    "source": "synthetic",
                }
            )

    return gen(), tags


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def run_size(n: int, uri: str, queries: int, batch: int) -> dict:
    import numpy as np

    from edtune.skills.embed import Embedder
    from edtune.skills.index import MAX_LIMIT, SkillIndex

    embedder = Embedder()
    embedder.encode(["warm up"])
    # raw embedding throughput on distinct texts (what a text-mode or fully distinct pool pays per row)
    distinct = [f"describing sample number {i} with {OBJS[i % len(OBJS)]}" for i in range(2000)]
    raw = Embedder(cache_size=0)
    t0 = time.perf_counter()
    raw.encode(distinct)
    raw_embed_rps = len(distinct) / (time.perf_counter() - t0)

    coll = f"bench_{n}"
    idx = SkillIndex(uri, coll, embedder=embedder)
    idx.drop()
    gen, tags = synthetic_pool(n)

    class _Lazy(dict):  # tags are filled while the generator runs
        def get(self, k, default=None):
            return tags.get(k, default)

    t0 = time.perf_counter()
    m = idx.ingest(gen, _Lazy(), batch=batch, progress=False)
    wall = time.perf_counter() - t0
    assert m.count == n, m

    rng = random.Random(1)
    vocab = vocabulary()
    qs = [QUERIES[i % len(QUERIES)] if i < len(QUERIES) else rng.choice(vocab) for i in range(queries)]
    lat: dict[str, dict[str, float]] = {}
    for mode in ("bm25", "dense", "hybrid"):
        idx.search(qs[0], mode=mode, k=10)  # warm
        times = []
        for q in qs:
            t0 = time.perf_counter()
            idx.search(q, mode=mode, k=10)
            times.append((time.perf_counter() - t0) * 1000)
        lat[mode] = {"p50_ms": round(pct(times, 0.5), 2), "p99_ms": round(pct(times, 0.99), 2)}

    # exclusion: filter expression vs over-fetch + client-side, for 1,000 excluded ids (hybrid)
    all_ids = sorted(tags)
    excl = set(rng.sample(all_ids, min(1000, n // 2)))
    expr = f"id not in {json.dumps(sorted(excl))}"
    excl_times = {"filter_expr": [], "client_side": []}
    for q in qs[:20]:
        t0 = time.perf_counter()
        idx._raw_search(q, "hybrid", 10, expr)
        excl_times["filter_expr"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        idx._raw_search(q, "hybrid", min(10 + len(excl), MAX_LIMIT), "")
        excl_times["client_side"].append((time.perf_counter() - t0) * 1000)
    exclusion = {
        "excluded_ids": len(excl),
        **{f"{k}_p50_ms": round(pct(v, 0.5), 2) for k, v in excl_times.items()},
    }

    # recall@10 of the index's dense search vs exact brute force
    ids, mat = idx.dense_matrix()
    recalls = []
    for q in qs:
        got = {i for i, _ in idx.search(q, mode="dense", k=10)}
        sims = mat @ embedder.encode([q])[0]
        top = np.argpartition(-sims, 10)[:10]
        recalls.append(len(got & {ids[i] for i in top}) / 10)
    result = {
        "rows": n,
        "backend": "server" if idx.server else "lite",
        "index_type": idx.index_type,
        "distinct_tag_phrases": len(vocab),
        "embed_s": m.embed_s,
        "insert_s": m.insert_s,
        "ingest_wall_s": round(wall, 2),
        "embed_rows_per_s": round(n / m.embed_s, 1) if m.embed_s else None,
        "raw_embed_texts_per_s": round(raw_embed_rps, 1),
        "insert_rows_per_s": round(n / m.insert_s, 1) if m.insert_s else None,
        "query_latency_k10": lat,
        "exclusion_hybrid_k10": exclusion,
        "dense_recall_at_10_vs_exact": round(statistics.mean(recalls), 4),
        "queries": len(qs),
    }
    idx.drop()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    ap.add_argument("--full", action="store_true", help="also 1,000,000 rows")
    ap.add_argument("--milvus-uri", default=None, help="default: a Milvus Lite file in a temp dir")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--out-dir", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    sizes = list(args.sizes) + ([1_000_000] if args.full else [])
    tmp = tempfile.mkdtemp(prefix="edtune-bench-")
    uri = args.milvus_uri or str(Path(tmp) / "bench.db")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        res = run_size(n, uri, args.queries, args.batch)
        res["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "torch_threads": 1}
        path = out / f"retrieval-{res['backend']}-{n}.json"
        path.write_text(json.dumps(res, indent=2) + "\n")
        print(json.dumps(res), flush=True)
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
