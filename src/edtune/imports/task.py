"""`edtune task import`: a benchmark's file -> edtune's task splits (val.jsonl, test.jsonl) and a card.

Formats:
- `mmbench`: MMBench's TSV (`index, question, hint, A..D, answer, image` as base64, `category`); the hint is put
  before the question (as MMBench's own prompt does), empty options are dropped, and a row whose `image` is
  another row's `index` (MMBench repeats images that way) reuses that row's image.
- `llava`: LLaVA records whose single exchange is the question and the known answer
  (`conversations: [{from: human, value: "<image>\\nQ"}, {from: gpt, value: "A"}]`), optionally with `choices`
  and an explicit `answer`.
How an answer is scored: a multiple-choice answer by option letter or option text; a free-form answer by
normalised match (case, punctuation, articles and number words do not matter). A free-form answer longer than
`max_answer_words` cannot be scored that way (it would need a judge) and is refused, as is a row without an answer.
The split is seeded (same file and seed, same split) and both splits get a card (`edtune.taskcard`).
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from edtune.errors import InputError
from edtune.imports.convert import IMAGE, record_id
from edtune.imports.pool import SHOWN, pydantic_refusal
from edtune.imports.sources import check_source, iter_any
from edtune.imports.store import ImageStore, Refused, SeenSet, check_out, decode_base64
from edtune.io import join, write_json, write_jsonl, write_text
from edtune.schemas import TaskSample
from edtune.taskcard import TaskCard, task_card

Format = Literal["mmbench", "llava"]
SCORING = (
    "multiple choice: the option letter or the option text; free form: normalised match (case, punctuation, "
    "articles and number words ignored); longer free-form answers are refused (they would need a judge)"
)


class TaskImport(BaseModel):
    out: str
    format: str
    read: int
    imported: int
    refused: int
    duplicates: int
    val: int
    test: int
    refused_file: str
    problems: list[str]


def _mmbench(obj: dict[str, Any], where: str, store: ImageStore, by_index: dict[str, str]) -> TaskSample:
    index = str(obj.get("index", "")).strip()
    if not index:
        raise Refused("index", "missing")
    question = (obj.get("question") or "").strip()
    hint = (obj.get("hint") or "").strip()
    if hint and hint.lower() != "nan":
        question = f"{hint}\n{question}"
    choices = [obj[k].strip() for k in "ABCDEFGH" if (obj.get(k) or "").strip() not in ("", "nan")]
    answer = (obj.get("answer") or "").strip()
    if not answer:
        raise Refused("answer", "missing: a row without an answer cannot be scored (MMBench's test split?)")
    raw = (obj.get("image") or "").strip()
    if raw.isdigit() and len(raw) < 16:  # MMBench names another row's image by its index
        if raw not in by_index:
            raise Refused("image", f"refers to row index {raw}, which has no image (yet)")
        ref = by_index[raw]
    else:
        ref, _ = store.put(decode_base64(raw, "image"), "image")
    by_index[index] = ref
    meta = {k: obj[k] for k in ("category", "l2-category", "split", "source") if obj.get(k)}
    fields = {
        "id": f"mmbench-{index}",
        "image": ref,
        "question": question,
        "answer": answer,
        "choices": choices or None,
        "meta": {"index": index, **meta},
    }
    return _task(fields)


def _llava(obj: dict[str, Any], where: str, store: ImageStore, root: str, max_words: int) -> TaskSample:
    turns = obj.get("conversations")
    if not isinstance(turns, list):
        raise Refused("conversations", f"expected a list of turns, got {type(turns).__name__}")
    if len(turns) != 2:
        raise Refused("conversations", f"{len(turns)} turns; a task record is one question and its answer")
    q, a = turns
    if not isinstance(q, dict) or not isinstance(a, dict) or not isinstance(q.get("value"), str):
        raise Refused("conversations.0.value", "expected the question as text")
    answer = obj.get("answer", a.get("value"))
    if not isinstance(answer, str):
        raise Refused("answer", f"expected text, got {type(answer).__name__}")
    choices = obj.get("choices")
    if choices is None and len(answer.split()) > max_words:
        raise Refused(
            "answer",
            f"{len(answer.split())} words; a free-form answer is scored by normalised match"
            f" and must be at most {max_words} words (longer ones would need a judge)",
        )
    image = obj.get("image")
    if image is None:
        raise Refused("image", "missing: a task sample needs an image")
    ref, _ = store.put_value(image, "image", root)
    question = q["value"].replace(IMAGE, "").strip()
    fields = {
        "id": record_id(obj, where),
        "image": ref,
        "question": question,
        "answer": answer.strip(),
        "choices": choices,
    }
    return _task(fields)


def _task(fields: dict[str, Any]) -> TaskSample:
    try:
        return TaskSample.model_validate(fields)
    except ValidationError as exc:
        raise pydantic_refusal(exc) from None


def import_task(
    source: str,
    out: str,
    *,
    fmt: Format,
    val_fraction: float = 0.5,
    seed: int = 0,
    images: str | None = None,
    max_answer_words: int = 5,
) -> TaskImport:
    """Write `out/{val,test}.jsonl`, `out/images/`, `out/card.json`, `out/refused.txt`; see the module docstring."""
    if not 0.0 <= val_fraction <= 1.0:
        raise InputError(f"val fraction {val_fraction} must be between 0 and 1")
    check_out(out)
    check_source(source)
    seen = SeenSet()
    store = ImageStore(out, seen)
    root = images or (source.rsplit("/", 1)[0] if "/" in source else ".")
    samples: list[TaskSample] = []
    problems: list[str] = []
    by_index: dict[str, str] = {}
    read = refused = duplicates = 0
    try:
        for raw in iter_any(source):
            read += 1
            if raw.problem is not None:
                refused += 1
                problems.append(str(raw.problem))
                continue
            assert raw.obj is not None
            try:
                if fmt == "mmbench":
                    s = _mmbench(raw.obj, raw.where, store, by_index)
                else:
                    s = _llava(raw.obj, raw.where, store, root, max_answer_words)
            except Refused as exc:
                refused += 1
                problems.append(
                    f"{raw.where}: {exc.field}: {exc.message}" if exc.field else f"{raw.where}: {exc}"
                )
                continue
            if (first := seen.first("id\0" + s.id, raw.where)) is not None:
                duplicates += 1
                problems.append(f"{raw.where}: id: duplicate id {s.id!r} (first at {first}); skipped")
                continue
            samples.append(s)
    finally:
        seen.close()
    store.close()  # the images are durable before the splits that name them appear
    order = sorted(samples, key=lambda s: s.id)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    val, test = sorted(order[:n_val], key=lambda s: s.id), sorted(order[n_val:], key=lambda s: s.id)
    write_jsonl(join(out, "val.jsonl"), val)
    write_jsonl(join(out, "test.jsonl"), test)
    refused_file = join(out, "refused.txt")
    write_text(refused_file, "".join(p + "\n" for p in problems))
    cards: dict[str, TaskCard] = {"val": task_card(val), "test": task_card(test)}
    card = {
        "format": fmt,
        "source": source,
        "seed": seed,
        "val_fraction": val_fraction,
        "scoring": SCORING,
        **{k: c.model_dump() for k, c in cards.items()},
    }
    write_json(join(out, "card.json"), card)
    return TaskImport(
        out=out,
        format=fmt,
        read=read,
        imported=len(samples),
        refused=refused,
        duplicates=duplicates,
        val=len(val),
        test=len(test),
        refused_file=refused_file,
        problems=problems[:SHOWN],
    )
