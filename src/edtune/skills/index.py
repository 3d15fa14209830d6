"""The skill index: the support pool in Milvus, searchable by BM25 over skill tags, by dense vectors, or both.

One collection per pool. Each row is one support sample: its id (primary key), the text we match on (the
teacher's skill tags joined with "; ", or — in the cheap "text" mode — the conversation itself), a BM25
sparse vector computed by Milvus from that text, a 384-d all-MiniLM-L6-v2 vector of the same text, the image
URI and the source. BM25 is the paper's retriever; dense and hybrid (RRF) also find synonyms BM25 misses.

Backends: a Milvus Lite file (a plain path, default ./edtune-data/milvus.db) or a Milvus server by
http(s)://host:19530 with a token from `EDTUNE_MILVUS_TOKEN`. Lite supports FLAT only, a server gets HNSW.

Exclusion of samples used in earlier rounds: up to `FILTER_MAX_IDS` ids go into an `id not in [...]` filter
(measured on Lite, 10K flushed rows, hybrid k=10: 1,000 excluded ids cost 32 ms p50 as a filter vs 84 ms by
over-fetching); beyond that we over-fetch `k + len(exclude)` hits and drop excluded ones client-side — exact,
because at most `len(exclude)` of the hits can be excluded — which also keeps filter expressions bounded.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from edtune.errors import InputError, ServiceError
from edtune.log import kv
from edtune.schemas import SupportSample
from edtune.skills.embed import Embedder

log = logging.getLogger(__name__)

Mode = Literal["bm25", "dense", "hybrid"]
F_ID, F_TEXT, F_SPARSE, F_DENSE, F_IMAGE, F_SOURCE = "id", "skills", "sparse", "dense", "image", "source"
MAX_ID, MAX_TEXT, MAX_IMAGE, MAX_SOURCE = 256, 16384, 2048, 256
FILTER_MAX_IDS = 4096  # longer exclusion lists are applied client-side (see module doc)
MAX_LIMIT = 16384  # Milvus's top-k ceiling
RRF_K = 60
HNSW_PARAMS = {"M": 16, "efConstruction": 200}
HNSW_EF = 128
IVF_NLIST = 1024  # clusters; ~sqrt(rows) at 1M (Milvus guidance: 4*sqrt(n) to 16*sqrt(n) is also fine)
IVF_NPROBE = 32  # clusters searched per query: recall vs latency (benchmarks/README.md "Retrieval at scale")
TEXT_MODE_CHARS = 2000  # MiniLM reads 256 word pieces; the rest of a long conversation only costs BM25 time


class IndexManifest(BaseModel):
    """What an ingest did: the run knows exactly how much of the pool is indexed (count) and what changed."""

    collection: str
    uri: str  # never carries the token
    count: int
    inserted: int
    skipped: int
    mode: Literal["skills", "text"]
    embed_s: float
    insert_s: float
    untagged: int = 0  # skills mode: samples with no tags, indexed by their conversation text instead
    index_type: str = ""


def is_server_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "grpc://"))


def safe_uri(uri: str) -> str:
    """The URI with any user:password@ part removed, for messages and manifests."""
    return re.sub(r"(://)[^/@\s]+@", r"\1", uri)


def conversation_text(sample: SupportSample) -> str:
    """The conversation as one plain string (the `<image>` placeholder dropped), for the cheap text mode."""
    parts = [t.value.replace("<image>", " ").strip() for t in sample.conversations]
    return " ".join(" ".join(p for p in parts if p).split())[:TEXT_MODE_CHARS]


def _clip_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def _batched(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for it in items:
        batch.append(it)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


class SkillIndex:
    """A support pool in one Milvus collection. See the module docstring for the layout and backends."""

    def __init__(
        self,
        uri: str,
        collection: str,
        *,
        token: str | None = None,
        index_type: str = "AUTOINDEX",
        embedder: Embedder | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", collection):
            raise InputError(
                f"collection name {collection!r} is invalid: use letters, digits and underscores, "
                "starting with a letter or underscore"
            )
        self.uri = uri
        self.collection = collection
        self.server = is_server_uri(uri)
        if self.server and token is None:
            from edtune.config import secret_from_env

            token = secret_from_env("EDTUNE_MILVUS_TOKEN")
        self._token = token
        self.timeout_s = timeout_s
        self.index_type = self._resolve_index_type(index_type)
        self.embedder = embedder or Embedder()
        self._client: Any = None
        self._loaded = False
        self.ivf_nlist = IVF_NLIST
        self.ivf_nprobe = IVF_NPROBE

    # ------------------------------------------------------------------ connection and errors

    def _resolve_index_type(self, requested: str) -> str:
        req = requested.upper()
        if req not in ("AUTOINDEX", "FLAT", "IVF_FLAT", "HNSW"):
            raise InputError(f"index_type {requested!r}: expected AUTOINDEX, FLAT, IVF_FLAT or HNSW")
        if self.server:
            return "HNSW" if req == "AUTOINDEX" else req
        if req in ("AUTOINDEX", "HNSW"):
            if req == "HNSW":
                log.warning(kv("milvus_lite_no_hnsw", uri=self.where, using="FLAT"))
            return "FLAT"
        return req

    @property
    def where(self) -> str:
        return safe_uri(self.uri)

    def _where_coll(self) -> str:
        return f"{self.where} (collection {self.collection})"

    def close(self) -> None:
        """Release the connection. Milvus Lite lets one process hold a .db file at a time, so a stage that
        hands the file to another process (the KFP local runner's tasks) must close it first."""
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
                self._loaded = False
                if not self.server:
                    # Closing the client keeps milvus-lite's embedded server (and its file lock) alive until
                    # process exit; release it so the next stage, possibly another process, can open the file.
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(self._lite_path())

    def __enter__(self) -> SkillIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _lite_path(self) -> str:
        return self.uri[len("file://") :] if self.uri.startswith("file://") else self.uri

    def _connect(self) -> Any:
        from pymilvus import MilvusClient

        if not self.server:
            path = Path(self._lite_path())
            if path.suffix != ".db":
                raise InputError(
                    f"{self.uri}: a Milvus Lite URI must be a file path ending in .db "
                    "(or http://host:19530 for a Milvus server)"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(
                    f"{self.uri}: cannot create the directory for the Milvus Lite file ({exc.strerror}); "
                    "choose a writable path with --milvus-uri"
                ) from None
            target = str(path)
        else:
            target = self.uri
        try:
            kw: dict[str, Any] = {"timeout": self.timeout_s}
            if self._token:
                kw["token"] = self._token
            return MilvusClient(target, **kw)
        except Exception as exc:
            fix = (
                "check that the Milvus server is running and reachable, and that EDTUNE_MILVUS_TOKEN is right"
                if self.server
                else "check that the path is a writable file (not a directory) and no other process holds it"
            )
            raise ServiceError(self.where, f"cannot open Milvus: {self._msg(exc)}; {fix}") from None

    def _msg(self, exc: Exception) -> str:
        text = getattr(exc, "message", None) or str(exc)
        if self._token:
            text = text.replace(self._token, "***")
        return text

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except (InputError, ServiceError):
            raise
        except Exception as exc:
            raise ServiceError(self._where_coll(), f"{what} failed: {self._msg(exc)}") from None

    # ------------------------------------------------------------------ schema

    def exists(self) -> bool:
        return bool(self._call("has_collection", self.client.has_collection, self.collection))

    def _load(self) -> None:
        """A collection reopened by a new process is 'released' (not searchable) until loaded."""
        if not self._loaded:
            self._call("load_collection", self.client.load_collection, self.collection)
            self._loaded = True

    def _require(self) -> None:
        if self._loaded:
            return
        if not self.exists():
            raise InputError(
                f"{self._where_coll()}: the collection does not exist; "
                f"build it first: edtune index --pool POOL --milvus-uri {self.where} --collection {self.collection}"
            )
        self._load()

    def _create(self) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(F_ID, DataType.VARCHAR, is_primary=True, max_length=MAX_ID)
        schema.add_field(F_TEXT, DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True)
        schema.add_field(F_SPARSE, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field(F_DENSE, DataType.FLOAT_VECTOR, dim=self.embedder.dim)
        schema.add_field(F_IMAGE, DataType.VARCHAR, max_length=MAX_IMAGE)
        schema.add_field(F_SOURCE, DataType.VARCHAR, max_length=MAX_SOURCE)
        schema.add_function(
            Function(
                name="skills_bm25",
                function_type=FunctionType.BM25,
                input_field_names=[F_TEXT],
                output_field_names=[F_SPARSE],
            )
        )
        ip = self.client.prepare_index_params()
        ip.add_index(field_name=F_SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        params: dict[str, Any] = {}
        if self.index_type == "HNSW":
            params = dict(HNSW_PARAMS)
        elif self.index_type == "IVF_FLAT":
            params = {"nlist": self.ivf_nlist}
        ip.add_index(field_name=F_DENSE, index_type=self.index_type, metric_type="COSINE", params=params)
        self._call(
            "create_collection",
            self.client.create_collection,
            self.collection,
            schema=schema,
            index_params=ip,
            consistency_level="Strong",
        )
        log.info(
            kv("milvus_collection_created", uri=self.where, collection=self.collection, index=self.index_type)
        )

    def _check_schema(self) -> None:
        desc = self._call("describe_collection", self.client.describe_collection, self.collection)
        fields = {f["name"]: f for f in desc.get("fields", [])}
        missing = [f for f in (F_ID, F_TEXT, F_SPARSE, F_DENSE) if f not in fields]
        if missing:
            raise InputError(
                f"{self._where_coll()}: not an edtune skill index (fields {missing} missing); "
                "use another --collection name or drop this collection"
            )
        dim = int(fields[F_DENSE].get("params", {}).get("dim", 0))
        if dim != self.embedder.dim:
            raise InputError(
                f"{self._where_coll()}: dense dimension mismatch: the collection has dim {dim}, "
                f"the embedder gives {self.embedder.dim}; re-index into a new collection "
                "(or drop this one) with the current embedder"
            )

    # ------------------------------------------------------------------ reading

    def count(self) -> int:
        """Rows in the collection (0 if it does not exist yet)."""
        if not self.exists():
            return 0
        self._load()
        res = self._call("count", self.client.query, self.collection, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"]) if res else 0

    def ids(self) -> set[str]:
        """Every id in the collection, streamed in pages (what resume and the manifest rely on)."""
        if not self.exists():
            return set()
        self._load()
        out: set[str] = set()
        it = self._call(
            "query_iterator",
            self.client.query_iterator,
            self.collection,
            batch_size=10000,
            filter="",
            output_fields=[F_ID],
        )
        try:
            while True:
                page = self._call("query_iterator.next", it.next)
                if not page:
                    break
                out.update(str(r[F_ID]) for r in page)
        finally:
            it.close()
        return out

    def drop(self) -> None:
        if self.exists():
            self._call("drop_collection", self.client.drop_collection, self.collection)
        self._loaded = False

    # ------------------------------------------------------------------ writing

    def ingest(
        self,
        samples: Iterable[SupportSample],
        skills: Mapping[str, list[str]] | None,
        *,
        batch: int = 2000,
        progress: bool = True,
    ) -> IndexManifest:
        """Index a pool, streaming; resumable: ids already in the collection are skipped, so a rerun after
        a crash inserts only what is missing and a rerun of a finished ingest inserts nothing.

        `skills` maps sample id → skill phrases (pool.skills.jsonl); None indexes each conversation's text
        (cheap mode). In skills mode a sample with no entry falls back to its own `skills` field, then to its
        conversation text (counted in `untagged`, logged).
        """
        mode: Literal["skills", "text"] = "text" if skills is None else "skills"
        if self.exists():
            self._check_schema()
        else:
            self._create()
        self._load()
        # One paged scan of the ids beats a large `id in [...]` query per batch (long filters are slow on Lite).
        present = self.ids() if self.count() else set()
        inserted = skipped = untagged = 0
        embed_s = insert_s = 0.0
        bar = _Progress(progress, f"index {self.collection}")
        try:
            for chunk in _batched(samples, batch):
                todo = [s for s in chunk if s.id not in present]
                skipped += len(chunk) - len(todo)
                if todo:
                    tag_lists = [self._tags_of(s, skills) for s in todo]
                    untagged += sum(1 for t in tag_lists if t is None) if mode == "skills" else 0
                    texts = [
                        "; ".join(t) if t is not None else conversation_text(s)
                        for s, t in zip(todo, tag_lists, strict=True)
                    ]
                    t0 = time.perf_counter()
                    vecs = self._vectors(texts, tag_lists)
                    embed_s += time.perf_counter() - t0
                    rows = [
                        {
                            F_ID: s.id,
                            F_TEXT: _clip_utf8(text, MAX_TEXT),
                            F_DENSE: vec,
                            F_IMAGE: _clip_utf8(s.image or "", MAX_IMAGE),
                            F_SOURCE: _clip_utf8(s.source or "", MAX_SOURCE),
                        }
                        for s, text, vec in zip(todo, texts, vecs, strict=True)
                    ]
                    t0 = time.perf_counter()
                    self._call("insert", self.client.insert, self.collection, rows)
                    insert_s += time.perf_counter() - t0
                    inserted += len(rows)
                    present.update(s.id for s in todo)
                bar.advance(len(chunk))
        finally:
            bar.close()
        if inserted:
            # Seal the growing segment: on Milvus Lite a FLAT search over unflushed rows took 385 ms at 10K
            # rows vs 28 ms after flush (measured); on a server it makes the rows durable and indexed.
            t0 = time.perf_counter()
            self._call("flush", self.client.flush, self.collection)
            insert_s += time.perf_counter() - t0
        if untagged:
            log.warning(
                kv("index_untagged_samples", collection=self.collection, n=untagged, used="conversation text")
            )
        manifest = IndexManifest(
            collection=self.collection,
            uri=self.where,
            count=self.count(),
            inserted=inserted,
            skipped=skipped,
            mode=mode,
            embed_s=round(embed_s, 3),
            insert_s=round(insert_s, 3),
            untagged=untagged,
            index_type=self.index_type,
        )
        log.info(kv("index_done", **manifest.model_dump(exclude={"uri"})))
        return manifest

    @staticmethod
    def _tags_of(s: SupportSample, skills: Mapping[str, list[str]] | None) -> list[str] | None:
        """The sample's skill phrases (pool.skills.jsonl entry, else its own `skills`); None: index its text."""
        if skills is None:
            return None
        tags = [t.strip() for t in (skills.get(s.id) or s.skills or []) if t.strip()]
        return tags or None

    def _vectors(self, texts: list[str], tag_lists: list[list[str] | None]) -> Any:
        """Dense vectors of one batch. A tagged row's vector is the normalised mean of its tags' vectors, so each
        distinct phrase is embedded once per process (the embedder caches phrases) instead of every distinct
        joined tag string: on a teacher-tagged pool the phrases repeat, their combinations mostly do not
        (measured: 489 rows/s embedding joined strings at 100K, benchmarks/README.md "Retrieval at scale").
        One-tag rows get exactly the phrase's own vector, as before; untagged rows embed their text."""
        import numpy as np

        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        plain = [i for i, t in enumerate(tag_lists) if t is None]
        if plain:
            out[plain] = self.embedder.encode([texts[i] for i in plain])
        tagged = [i for i, t in enumerate(tag_lists) if t is not None]
        if tagged:
            phrases = list(dict.fromkeys(p for i in tagged for p in tag_lists[i] or []))
            pos = {p: j for j, p in enumerate(phrases)}
            emb = self.embedder.encode(phrases)
            for i in tagged:
                v = emb[[pos[p] for p in tag_lists[i] or []]].mean(axis=0)
                out[i] = v / (np.linalg.norm(v) or 1.0)
        return out

    # ------------------------------------------------------------------ searching

    def search(
        self, query: str, *, mode: Mode, k: int, exclude: Collection[str] = ()
    ) -> list[tuple[str, float]]:
        """Top-k (id, score) for a query, higher score = better, ids in `exclude` never returned.

        Scores: bm25 = BM25 score, dense = cosine similarity, hybrid = RRF score (k=60). Ties are broken by
        id so the same inputs give the same list.
        """
        if mode not in ("bm25", "dense", "hybrid"):
            raise InputError(f"retrieval mode {mode!r}: expected bm25, dense or hybrid")
        if k <= 0 or not query.strip():
            return []
        self._require()
        excl = set(exclude)
        use_filter = 0 < len(excl) <= FILTER_MAX_IDS or k + len(excl) > MAX_LIMIT
        expr = f"{F_ID} not in {json.dumps(sorted(excl))}" if use_filter and excl else ""
        limit = k if use_filter else k + len(excl)
        hits = self._raw_search(query, mode, min(limit, MAX_LIMIT), expr)
        out = [(i, s) for i, s in hits if i not in excl]
        out.sort(key=lambda h: (-h[1], h[0]))
        return out[:k]

    def _raw_search(self, query: str, mode: Mode, limit: int, expr: str) -> list[tuple[str, float]]:
        dense_params: dict[str, Any] = {"metric_type": "COSINE"}
        if self.index_type == "HNSW":
            dense_params["params"] = {"ef": max(HNSW_EF, limit)}
        elif self.index_type == "IVF_FLAT":
            dense_params["params"] = {"nprobe": self.ivf_nprobe}
        if mode == "bm25":
            res = self._call(
                "search",
                self.client.search,
                self.collection,
                data=[query],
                anns_field=F_SPARSE,
                limit=limit,
                filter=expr,
                output_fields=[F_ID],
                search_params={"metric_type": "BM25"},
            )
            # Milvus Lite returns BM25 as a negative distance (more negative = better), a server as a
            # positive score; the magnitude is the BM25 score in both.
            return [(str(h["id"]), abs(float(h["distance"]))) for h in res[0]]
        vec = self.embedder.encode([query])[0].tolist()
        if mode == "dense":
            res = self._call(
                "search",
                self.client.search,
                self.collection,
                data=[vec],
                anns_field=F_DENSE,
                limit=limit,
                filter=expr,
                output_fields=[F_ID],
                search_params=dense_params,
            )
            return [(str(h["id"]), float(h["distance"])) for h in res[0]]
        from pymilvus import AnnSearchRequest, RRFRanker

        reqs = [
            AnnSearchRequest(
                data=[query], anns_field=F_SPARSE, param={"metric_type": "BM25"}, limit=limit, expr=expr
            ),
            AnnSearchRequest(data=[vec], anns_field=F_DENSE, param=dense_params, limit=limit, expr=expr),
        ]
        res = self._call(
            "hybrid_search",
            self.client.hybrid_search,
            self.collection,
            reqs,
            RRFRanker(RRF_K),
            limit=limit,
            output_fields=[F_ID],
        )
        return [(str(h["id"]), float(h["distance"])) for h in res[0]]

    def dense_matrix(self) -> tuple[list[str], Any]:
        """Every (id, dense vector), for exact-search baselines in benchmarks (loads the whole column)."""
        import numpy as np

        self._require()
        ids: list[str] = []
        mats: list[Any] = []
        it = self._call(
            "query_iterator",
            self.client.query_iterator,
            self.collection,
            batch_size=10000,
            filter="",
            output_fields=[F_ID, F_DENSE],
        )
        try:
            while True:
                page = self._call("query_iterator.next", it.next)
                if not page:
                    break
                ids.extend(str(r[F_ID]) for r in page)
                mats.append(np.asarray([r[F_DENSE] for r in page], dtype=np.float32))
        finally:
            it.close()
        return ids, (np.concatenate(mats) if mats else np.zeros((0, self.embedder.dim), np.float32))


class _Progress:
    """A rich progress bar with rows/s on stderr, or nothing."""

    def __init__(self, enabled: bool, label: str) -> None:
        self._p: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            class _Rate(TextColumn):
                def __init__(self) -> None:
                    super().__init__("")

                def render(self, task: Any) -> Any:
                    from rich.text import Text

                    speed = task.finished_speed or task.speed
                    return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s")

            self._p = Progress(
                SpinnerColumn(),
                TextColumn(label),
                MofNCompleteColumn(),
                _Rate(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._p.start()
            self._task = self._p.add_task(label, total=None)

    def advance(self, n: int) -> None:
        if self._p is not None:
            self._p.advance(self._task, n)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
