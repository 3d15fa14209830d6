"""Skill index at pool scale on Milvus Lite: ingest (embedding, BM25 analyser, insert), index build, query latency
per mode, dense recall@10 against exact search, memory of our process and of milvus-lite's server, disk.

    nice -n 5 python -m benchmarks.retrieval --sizes 100000 1000000      # Milvus Lite in --workdir
    python -m benchmarks.retrieval --sizes 100000 --resume                # continue an interrupted ingest
    python -m benchmarks.retrieval --milvus-uri http://host:19530         # a Milvus server (EDTUNE_MILVUS_TOKEN)

Milvus Lite runs as `python -m milvus_lite server` in a child process here (the same engine a `.db` URI starts
inside the caller), so our RSS and the engine's are measured apart.

The pool is SYNTHETIC, tagged like a teacher-annotated one: each row has 1-3 skill phrases drawn from ~2K distinct
phrases (verb x attribute x object), derived from the row number, so a resumed ingest sees the same rows and
nothing is held in memory. Queries are skill phrases and paraphrases. Recall@10 counts ties by score: a returned
hit is right when its cosine is at least the exact 10th-best cosine (a pool of repeated phrases has thousands of
rows with the same vector; which ids come back among equals is arbitrary). Results:
benchmarks/results/retrieval-<backend>-<rows>.json; the table is in benchmarks/README.md ("Retrieval at scale").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

ROOT = Path(__file__).resolve().parents[1]
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
    *[
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
    ],
    *["tools", "fruits", "shadows", "signs", "people", "birds", "chairs", "cups", "clocks", "boats"],
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
VOCAB = sorted({f"{v} {a} {o}" for v in VERBS for a in ATTRS for o in OBJS})


def row_tags(i: int) -> list[str]:
    """Row i's 1-3 skill phrases, a pure function of i (resume regenerates the same pool)."""
    rng = random.Random(i * 7919 + 17)
    return rng.sample(VOCAB, rng.randint(1, 3))


class SyntheticTags(Mapping[str, list[str]]):
    """pool.skills.jsonl stand-in: id -> tags computed on demand (constant memory at any pool size)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, sid: str) -> list[str]:
        return row_tags(int(sid[1:]))

    def __iter__(self) -> Iterator[str]:
        return (f"p{i:07d}" for i in range(self.n))

    def __len__(self) -> int:
        return self.n


def synthetic_pool(
    n: int, marks: list[tuple[int, float]], every: int = 100_000, budget_s: float | None = None
) -> Iterator[Any]:
    """Stream n support samples; append (rows, seconds) to `marks` every `every` rows (the ingest curve). With
    `budget_s`, stop after that long: the rows so far stay indexed, and `--resume` continues from them."""
    from edtune.schemas import SupportSample

    t0 = time.perf_counter()
    for i in range(n):
        if i and i % every == 0:
            marks.append((i, round(time.perf_counter() - t0, 1)))
        if budget_s is not None and i % 1000 == 0 and time.perf_counter() - t0 > budget_s:
            marks.append((i, round(time.perf_counter() - t0, 1)))
            return
        yield SupportSample.model_validate(
            {
                "id": f"p{i:07d}",
                "image": f"s3://pool/images/{i}.jpg",
                "conversations": [
                    {"from": "human", "value": f"<image>\nQuestion {i}?"},
                    {"from": "gpt", "value": f"Answer {i}."},
                ],
                "source": "synthetic",
            }
        )


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


# ---------------------------------------------------------------- memory and disk


def _proc_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class LiteServer:
    """milvus-lite's engine in its own process (`python -m milvus_lite server`), so that its memory is measured
    apart from ours; the client talks to it over gRPC on loopback exactly as to the in-process server that a
    plain `.db` URI starts (same engine, same protocol)."""

    def __init__(self, data_dir: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        cmd = [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        self.close()
        raise RuntimeError("milvus-lite server did not start")

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


SERVER_PIDS: list[int] = []  # the LiteServer being measured (RssSampler reads it)


class RssSampler:
    """Peak RSS (MB) of this process and of milvus-lite's server, sampled every second while running."""

    def __init__(self) -> None:
        self.ours_mb = 0.0
        self.server_mb = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def sample(self) -> None:
        self.ours_mb = max(self.ours_mb, _proc_kb(os.getpid(), "VmRSS") / 1024)
        srv = sum(_proc_kb(p, "VmRSS") for p in SERVER_PIDS) / 1024
        self.server_mb = max(self.server_mb, srv)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.sample()


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by this process or by `pid`: on a shared machine, rows per CPU
    second says what the code costs, rows per wall second what the machine gave it."""
    if pid is None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def disk_mb(root: Path) -> float:
    """Everything milvus-lite wrote under its data directory."""
    return round(sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**20, 1)


# ---------------------------------------------------------------- the measurements


def bm25_cost(client: Any, n: int = 20_000) -> dict[str, float]:
    """Insert rate of the same rows with and without the BM25 function: the difference is the analyser's cost."""
    import numpy as np
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, 384), dtype=np.float32)
    rows = [{"id": f"b{i}", "skills": "; ".join(row_tags(i)), "dense": vecs[i]} for i in range(n)]
    rates = {}
    for bm25 in (False, True):
        name = f"bench_bm25_{int(bm25)}"
        if client.has_collection(name):
            client.drop_collection(name)
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("skills", DataType.VARCHAR, max_length=2048, enable_analyzer=bm25)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=384)
        ip = client.prepare_index_params()
        ip.add_index(field_name="dense", index_type="FLAT", metric_type="COSINE")
        if bm25:
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(
                    name="f",
                    function_type=FunctionType.BM25,
                    input_field_names=["skills"],
                    output_field_names=["sparse"],
                )
            )
            ip.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection(name, schema=schema, index_params=ip)
        t0 = time.perf_counter()
        for b in range(0, n, 2000):
            client.insert(name, rows[b : b + 2000])
        client.flush(name)
        rates["with_bm25" if bm25 else "without_bm25"] = round(n / (time.perf_counter() - t0), 1)
        client.drop_collection(name)
    per_row_ms = 1000 / rates["with_bm25"] - 1000 / rates["without_bm25"]
    return {
        **{f"insert_rows_per_s_{k}": v for k, v in rates.items()},
        "bm25_ms_per_1000_rows": round(per_row_ms * 1000, 1),
    }


def exact_top(n: int, embedder: Any, queries: Any, k: int = 10, chunk: int = 50_000) -> Any:
    """The exact k-th best cosine per query over all n rows.

    The synthetic pool is a pure function of the row number, so every stored vector is recomputed here exactly as
    ingest computed it (normalised mean of the row's phrase vectors) instead of streamed back out of Milvus:
    reading 1M x 384 floats back through milvus-lite's query iterator took longer than the whole ingest.
    """
    import numpy as np

    pos = {p: i for i, p in enumerate(VOCAB)}
    phrase = embedder.encode(VOCAB)
    best = np.full((len(queries), k), -2.0, dtype=np.float32)
    for start in range(0, n, chunk):
        rows = range(start, min(n, start + chunk))
        vecs = np.zeros((len(rows), phrase.shape[1]), dtype=np.float32)
        for j, i in enumerate(rows):
            vecs[j] = phrase[[pos[t] for t in row_tags(i)]].mean(axis=0)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        sims = vecs @ queries.T  # (rows, q)
        best = np.sort(np.concatenate([best, sims.T], axis=1), axis=1)[:, -k:]
    return best[:, 0]  # k-th best (ascending sort: column 0 of the last k)


def latencies(idx: Any, qs: list[str], mode: str) -> dict[str, float]:
    idx.search(qs[0], mode=mode, k=10)  # warm
    times = []
    for q in qs:
        t0 = time.perf_counter()
        idx.search(q, mode=mode, k=10)
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(pct(times, 0.5), 1), "p99_ms": round(pct(times, 0.99), 1)}


def dense_recall(idx: Any, qs: list[str], kth: Any) -> float:
    recalls = []
    for q, floor in zip(qs, kth, strict=True):
        hits = idx.search(q, mode="dense", k=10)
        recalls.append(sum(1 for _, s in hits if s >= floor - 1e-4) / 10)
    return round(statistics.mean(recalls), 4)


def run_size(n: int, uri: str, args: argparse.Namespace) -> dict[str, Any]:
    from edtune.skills.embed import Embedder
    from edtune.skills.index import SkillIndex

    embedder = Embedder()
    embedder.encode(["warm up"])
    distinct = [f"describing sample number {i} with {OBJS[i % len(OBJS)]}" for i in range(2000)]
    t0 = time.perf_counter()
    Embedder(cache_size=0).encode(distinct)
    raw_embed_rps = len(distinct) / (time.perf_counter() - t0)

    idx = SkillIndex(uri, f"bench_{n}", embedder=embedder, index_type=args.index_type)
    idx.ivf_nlist = args.nlist
    if not args.resume:
        idx.drop()
    before = idx.count()
    marks: list[tuple[int, float]] = []
    srv = SERVER_PIDS[0] if SERVER_PIDS else None
    cpu0 = (cpu_s(), cpu_s(srv) if srv else 0.0)
    with RssSampler() as rss:
        t0 = time.perf_counter()
        pool = synthetic_pool(n, marks, budget_s=args.ingest_budget_s)
        m = idx.ingest(pool, SyntheticTags(n), batch=args.batch, progress=False)
        ingest_wall = time.perf_counter() - t0
    present = m.count  # rows 0..present-1: ingest streams the pool in order, resume continues the prefix
    ingest_cpu = (cpu_s() - cpu0[0], (cpu_s(srv) - cpu0[1]) if srv else None)
    rows = m.inserted or 1

    # index build: drop the dense index and build it again over the sealed segments, then load
    t0 = time.perf_counter()
    idx.client.release_collection(idx.collection)
    idx.client.drop_index(idx.collection, "dense")
    ip = idx.client.prepare_index_params()
    params = {"nlist": args.nlist} if idx.index_type == "IVF_FLAT" else {}
    ip.add_index(field_name="dense", index_type=idx.index_type, metric_type="COSINE", params=params)
    idx.client.create_index(idx.collection, ip)
    idx.client.load_collection(idx.collection)
    build_s = time.perf_counter() - t0

    rng = random.Random(1)
    qs = [QUERIES[i] if i < len(QUERIES) else rng.choice(VOCAB) for i in range(args.queries)]
    with RssSampler() as qrss:
        lat = {mode: latencies(idx, qs, mode) for mode in ("bm25", "dense", "hybrid")}
        t0 = time.perf_counter()
        kth = exact_top(present, embedder, embedder.encode(qs))
        exact_s = time.perf_counter() - t0
        sweep = []
        for nprobe in args.nprobe if idx.index_type == "IVF_FLAT" else [0]:
            idx.ivf_nprobe = nprobe or idx.ivf_nprobe
            sweep.append(
                {
                    "nprobe": nprobe or None,
                    "recall_at_10": dense_recall(idx, qs, kth),
                    "dense": latencies(idx, qs, "dense"),
                    "hybrid": latencies(idx, qs, "hybrid"),
                }
            )
    bm25 = bm25_cost(idx.client) if args.bm25_split else None
    idx.close()
    return {
        "rows": n,
        "rows_present": present,
        "complete": present == n,
        "backend": "lite" if args.lite_dir else "server",
        "index_type": idx.index_type,
        "ivf_nlist": args.nlist if idx.index_type == "IVF_FLAT" else None,
        "distinct_tag_phrases": len(VOCAB),
        "resumed_from_rows": before,
        "ingest": {
            "rows_inserted": m.inserted,
            "wall_s": round(ingest_wall, 1),
            "rows_per_s": round(rows / ingest_wall, 1),
            "embed_s": m.embed_s,
            "embed_rows_per_s": round(rows / m.embed_s, 1) if m.embed_s else None,
            "insert_s": m.insert_s,
            "insert_rows_per_s": round(rows / m.insert_s, 1) if m.insert_s else None,
            "raw_embed_texts_per_s": round(raw_embed_rps, 1),
            "curve_rows_s": marks,
            "cpu_s_ours": round(ingest_cpu[0], 1),
            "cpu_s_milvus_server": None if ingest_cpu[1] is None else round(ingest_cpu[1], 1),
            "rows_per_cpu_s": round(rows / (ingest_cpu[0] + (ingest_cpu[1] or 0.0)), 1),
            "bm25_split": bm25,
        },
        "index_build_s": round(build_s, 1),
        "query_latency_k10": lat,
        "dense_sweep": sweep,
        "exact_search_s": round(exact_s, 1),
        "queries": len(qs),
        "rss_mb": {
            "ours_ingest_peak": round(rss.ours_mb, 1),
            "milvus_server_ingest_peak": round(rss.server_mb, 1),
            "ours_query_peak": round(qrss.ours_mb, 1),
            "milvus_server_query_peak": round(qrss.server_mb, 1),
            "ours_lifetime_peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
        "disk_mb": disk_mb(Path(args.lite_dir)) if args.lite_dir else None,
    }


def provenance(argv: list[str]) -> dict[str, Any]:
    """Commit, whether the measured code differs from it, the command, the machine and its load."""

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    measured = ["src/edtune/skills", "benchmarks/retrieval.py"]
    import milvus_lite
    import pymilvus

    from benchmarks.bookkeeping import dirty_paths

    return {
        "commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(dirty_paths()),  # any modified or untracked file, not only `measured`
        "measured": measured,
        "command": " ".join(["python -m benchmarks.retrieval", *argv]),
        "niceness": os.nice(0),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch_threads": 1,
            "shared": "2 cores shared by 4 engineers; other jobs ran during the measurement",
        },
        "versions": {
            "pymilvus": pymilvus.__version__,
            "milvus_lite": getattr(milvus_lite, "__version__", "?"),
        },
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def table(out_dir: Path) -> str:
    """The benchmarks/README.md rows, from the results files only."""
    head = (
        "| rows | ingest rows/s (wall) | embed rows/s | insert rows/s | BM25 ms/1K rows | index build s "
        "| bm25 p50/p99 ms | dense p50/p99 ms (nprobe) | hybrid p50/p99 ms | dense recall@10 | RSS ours / milvus-lite MB "
        "| disk MB | load avg |\n|" + "---|" * 13
    )
    rows = []
    for f in sorted(out_dir.glob("retrieval-lite-*.json"), key=lambda f: int(f.stem.rsplit("-", 1)[1])):
        r = json.loads(f.read_text())
        if "ingest" not in r:
            continue
        ing, lat, rss = r["ingest"], r["query_latency_k10"], r["rss_mb"]
        best = next((x for x in r["dense_sweep"] if x["recall_at_10"] >= 0.95), r["dense_sweep"][-1])
        split = ing.get("bm25_split") or {}
        bm25_ms = split.get("bm25_ms_per_1000_rows")
        # the split is a difference of two insert rates: a negative one is noise around zero, shown as such
        bm25_cell = "-" if bm25_ms is None else (f"~0 ({bm25_ms})" if bm25_ms < 0 else str(bm25_ms))
        rows.append(
            f"| {r['rows']:,} | {ing['rows_per_s']:,.0f} | {ing['embed_rows_per_s'] or 0:,.0f} "
            f"| {ing['insert_rows_per_s'] or 0:,.0f} | {bm25_cell} "
            f"| {r['index_build_s']} | {lat['bm25']['p50_ms']} / {lat['bm25']['p99_ms']} "
            f"| {best['dense']['p50_ms']} / {best['dense']['p99_ms']} ({best['nprobe']}) "
            f"| {best['hybrid']['p50_ms']} / {best['hybrid']['p99_ms']} | {best['recall_at_10']} "
            f"| {max(rss['ours_ingest_peak'], rss['ours_query_peak']):,.0f} / "
            f"{max(rss['milvus_server_ingest_peak'], rss['milvus_server_query_peak']):,.0f} "
            f"| {r['disk_mb']:,} | {r['loadavg_start'][0]}-{r['loadavg_end'][0]} |"
        )
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument(
        "--milvus-uri", default=None, help="default: milvus-lite's server on <workdir>/lite-<rows>"
    )
    ap.add_argument("--workdir", default="/tmp/edtune-retrieval")
    ap.add_argument("--resume", action="store_true", help="keep rows already ingested (default: start over)")
    ap.add_argument("--index-type", default="IVF_FLAT", help="FLAT | IVF_FLAT (Lite); HNSW on a server")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--ingest-budget-s", type=float, default=None, help="stop ingesting after this long")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--no-bm25-split", dest="bm25_split", action="store_false")
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--table", action="store_true", help="print the README table from the results and exit")
    args = ap.parse_args(argv)
    if args.table:
        print(table(Path(args.out_dir)))
        return 0
    import torch

    torch.set_num_threads(1)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        meta = provenance(argv)
        t0 = time.perf_counter()
        server = None
        args.lite_dir = None
        if not args.milvus_uri:
            args.lite_dir = str(Path(args.workdir) / f"lite-{n}")
            server = LiteServer(Path(args.lite_dir))
            SERVER_PIDS[:] = [server.proc.pid]
        try:
            res = run_size(n, args.milvus_uri or server.uri, args)  # type: ignore[union-attr]
        finally:
            if server:
                server.close()
        res = {
            **meta,
            **res,
            "wall_s": round(time.perf_counter() - t0, 1),
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        }
        path = out / f"retrieval-{res['backend']}-{n}.json"
        path.write_text(json.dumps(res, indent=2) + "\n")
        print(json.dumps(res), flush=True)
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
