"""`edtune pool import`: many source files in the formats people hold -> one support pool edtune reads.

Output under `--out` (a directory URI, local or s3://): `pool.jsonl` (LLaVA conversation format, DESIGN §3),
`images/` (content-addressed), `refused.txt` (every refused or duplicate record as `PATH:LINE: field: message`)
and `import.json` (the counts). The pool is streamed: one record in memory at a time, ids and contents
remembered on disk (`SeenSet`), so a 1M-record source imports in flat memory. Every file is written atomically;
the same sources give the same pool byte for byte (a rerun is idempotent and rewrites no image).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from pydantic import BaseModel, ValidationError

from edtune.errors import InputError
from edtune.imports.convert import support_fields
from edtune.imports.sources import check_source, iter_any
from edtune.imports.store import ImageStore, Refused, SeenSet, check_out
from edtune.io import join, write_json
from edtune.io.storage import open_write
from edtune.schemas import SupportSample

SHOWN = 50  # refused records printed and kept in import.json; all of them are in refused.txt


class PoolImport(BaseModel):
    """What one import did; `read` = `imported` + `refused` + `duplicates`, so nothing goes unaccounted."""

    out: str
    pool: str
    sources: list[str]
    read: int
    imported: int
    refused: int
    duplicates: int
    images_written: int
    images_reused: int
    refused_file: str
    problems: list[str]
    seconds: float
    records_per_s: float


def _source_root(path: str, images: str | None) -> str:
    """The folder a record's relative image path is resolved against."""
    return images or (path.rsplit("/", 1)[0] if "/" in path else ".")


def pydantic_refusal(exc: ValidationError) -> Refused:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    return Refused(field, err["msg"])


class _Importer:
    def __init__(self, out: str, images: str | None, seen: SeenSet) -> None:
        self.images = images
        self.seen = seen
        self.store = ImageStore(out, seen)
        self.duplicates = 0

    def convert(self, path: str, where: str, obj: dict[str, Any]) -> tuple[SupportSample | None, str | None]:
        """(sample, None) to import; (None, message) for a duplicate. Raises Refused."""
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        default_id = f"{stem}-{where.rsplit(':', 1)[-1].replace('row ', 'r')}"
        fields, image = support_fields(obj, default_id)
        fields["source"] = obj.get("source") if isinstance(obj.get("source"), str) else stem
        try:  # validate the text before any image is written: a refused record leaves nothing behind
            sample = SupportSample.model_validate(
                {**fields, "image": "pending" if image is not None else None}
            )
        except ValidationError as exc:
            raise pydantic_refusal(exc) from None
        sha = ""
        if image is not None:
            field = "image" if "conversations" in obj else "images"
            ref, sha = self.store.put_value(image, field, _source_root(path, self.images))
            sample = sample.model_copy(update={"image": ref})
        if (first := self.seen.first("id\0" + sample.id, where)) is not None:
            self.duplicates += 1
            return None, f"{where}: id: duplicate id {sample.id!r} (first at {first}); skipped"
        content = sha + json.dumps(fields["conversations"])  # the turns as converted: {from, value}, in order
        if (first := self.seen.first("content\0" + content, where)) is not None:
            self.duplicates += 1
            return (
                None,
                f"{where}: conversations: same image and conversation as {first}; skipped as a duplicate",
            )
        return sample, None


def import_pool(
    sources: list[str], out: str, *, images: str | None = None, progress: Any = None, limit: int | None = None
) -> PoolImport:
    """Import `sources` (in order) into one pool under `out`; see the module docstring for what is written.

    `images` is the folder relative image paths are resolved against (LLaVA-665K's `coco/train2017/…`);
    by default each source's own folder. `limit` stops after that many records read per source (a slice).
    `progress(n)` is called with the running count. Raises InputError only for an unreadable source.
    """
    check_out(out)
    for src in sources:  # a source that cannot be read at all is refused before anything is written
        check_source(src)
    t0 = time.perf_counter()
    pool_uri, refused_uri = join(out, "pool.jsonl"), join(out, "refused.txt")
    read = imported = refused = 0
    shown: list[str] = []
    seen = SeenSet()
    imp = _Importer(out, images, seen)
    with ExitStack() as stack:
        stack.callback(seen.close)
        pool_fh = stack.enter_context(open_write(pool_uri))
        refused_fh = stack.enter_context(open_write(refused_uri))

        def note(line: str) -> None:
            refused_fh.write(line.encode("utf-8", "backslashreplace") + b"\n")
            if len(shown) < SHOWN:
                shown.append(line)

        for src in sources:
            for n, raw in enumerate(_records(src)):
                if limit is not None and n >= limit:
                    break
                read += 1
                if progress is not None and read % 1000 == 0:
                    progress(read)
                if raw.problem is not None:
                    refused += 1
                    note(str(raw.problem))
                    continue
                assert raw.obj is not None
                try:
                    sample, dup = imp.convert(src, raw.where, raw.obj)
                except Refused as exc:
                    refused += 1
                    note(
                        f"{raw.where}: {exc.field}: {exc.message}"
                        if exc.field
                        else f"{raw.where}: {exc.message}"
                    )
                    continue
                if sample is None:
                    note(dup or "")
                    continue
                pool_fh.write(json.dumps(sample.model_dump(), ensure_ascii=False).encode() + b"\n")
                imported += 1
        imp.store.close()  # every image durable before pool.jsonl is renamed into place (at the end of `with`)
    seconds = time.perf_counter() - t0
    result = PoolImport(
        out=out,
        pool=pool_uri,
        sources=list(sources),
        read=read,
        imported=imported,
        refused=refused,
        duplicates=imp.duplicates,
        images_written=imp.store.written,
        images_reused=imp.store.reused,
        refused_file=refused_uri,
        problems=shown,
        seconds=round(seconds, 3),
        records_per_s=round(read / seconds, 1) if seconds > 0 else 0.0,
    )
    write_json(join(out, "import.json"), result.model_dump())
    return result


def _records(src: str) -> Iterator[Any]:
    try:
        yield from iter_any(src)
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"{src}: cannot read ({exc})") from None
