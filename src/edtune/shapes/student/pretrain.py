"""The shapes-world base student: a tiny Qwen2-VL trained fully on the world's generic pre-training stream.

Recipe (FACTS.md "Best recipe measured"): AdamW lr 1e-3, wd 0.01, 100 warm-up steps, cosine to 1e-4, batch 16,
grad clip 1.0, a fresh image every sample, 112 px, one torch thread. The stream asks only the base question
families (gap families appear in captions only), so the result follows the `Step … Answer:` format and knows
colour/shape/count but not the gap skills: a generic LMM with gaps, which the error-driven loop then fills.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from edtune.student.checkpoint import write_manifest

RECIPE = {
    "lr": 1e-3,
    "final_lr": 1e-4,
    "weight_decay": 0.01,
    "warmup": 100,
    "batch_size": 16,
    "clip": 1.0,
    "image_side": 112,
}
# World v2: 8,000 steps is where pick-one-out binding clears 0.90 (docs/student.md "Pre-training curve").
DEFAULT_STEPS = 8000
# Easy warm-up steps of `edtune student pretrain` (0 = off); see `pretrain_base(curriculum=...)`.
DEFAULT_CURRICULUM = 0


def pretrain_base(
    out_dir: str,
    *,
    seed: int = 0,
    seconds: float | None = None,
    steps: int | None = None,
    log_every: int = 100,
    families: tuple[str, ...] | None = None,
    lr: float | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    scene_sizes: tuple[float, ...] | None = None,
    curriculum: int = 0,
    init: str | None = None,
    note_share: float = 0.0,
    guess_share: float = 0.0,
    lookup_share: float = 0.0,
) -> dict[str, Any]:
    """Build a tiny Qwen2-VL in `out_dir` and train it on `base_stream(seed)`; returns the training record.

    `steps` fixes the schedule length; with only `seconds`, the step count is set from the speed of the first
    20 steps so the cosine schedule ends on time. `curriculum` = W > 0 trains the first W steps on
    giant single objects (`easy_stream`), the next W on one large object at a fixed spot, then mixes one-object
    scenes into `base_stream` at a share falling from 1/2 to 0 by the end (the tiny model otherwise never learns
    to read the image: docs/student.md "The blind base"); 0 is the plain stream. Writes `manifest.json` (sha256 of every file + the record).

    `init` continues pre-training from a base directory (its weights and tokenizer) instead of a fresh model: a
    fresh optimizer, the same warm-up and cosine schedule over `steps`, the current stream. The shipped base is
    made this way (docs/student.md): the binding of one object out of two forms in the first 8,000 steps on
    plain descriptions, and the descriptions by side/size and step by step are added on top; the same mix from
    scratch left the binding at chance. The record keeps the init's own record (`init.record`).

    `note_share` mixes that share of note-copy exercises into the stream (`edtune.shapes.world.pretraining.note_sample`:
    the answer repeats the step's last word, side and size words included); 0 leaves the stream unchanged.
    `guess_share` mixes that share of guessed gap questions (`guess_sample`: answers of a misperceived scene, so the
    base answers gap questions inside their answer space at chance); 0 leaves the stream unchanged.
    `lookup_share` mixes that share of look-up exercises (one object of two described after being referred to by
    its side or size); 0 leaves the stream unchanged.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    from edtune.shapes.student.tiny import build_tiny_into
    from edtune.shapes.world.pretraining import BASE_FAMILIES, SCENE_SIZE_WEIGHTS, base_stream, easy_stream
    from edtune.student.families import get_family
    from edtune.student.inputs import build_example, collate

    torch.set_num_threads(1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fam = get_family("qwen2-vl")
    init_record = None
    if init:
        src = Path(init)
        init_record = (
            json.loads((src / "pretrain.json").read_text()) if (src / "pretrain.json").is_file() else {}
        )
        if src.resolve() != out.resolve():
            for (
                f
            ) in src.iterdir():  # weights, tokenizer, processor, chat template (the manifest is rewritten)
                if f.is_file() and f.name not in ("manifest.json", "pretrain.json"):
                    shutil.copy2(f, out / f.name)
        weights_from = src
    else:
        build_tiny_into("qwen2-vl", out, seed, overrides)
        weights_from = out
    proc = fam.load_processor(out)
    model = AutoModelForImageTextToText.from_pretrained(str(weights_from), dtype=torch.float32)
    model.train()
    torch.manual_seed(seed)
    recipe = {**RECIPE, **({"lr": lr} if lr else {})}
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    total = steps or DEFAULT_STEPS
    warm = RECIPE["warmup"]
    floor = recipe["final_lr"] / recipe["lr"]

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        frac = min(1.0, (step - warm) / max(1, total - warm))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    sizes = tuple(scene_sizes) if scene_sizes else SCENE_SIZE_WEIGHTS
    stream = base_stream(seed, families or BASE_FAMILIES, sizes, note_share, guess_share, lookup_share)
    giant = easy_stream(seed, families or BASE_FAMILIES)
    large = easy_stream(seed + 1_000_003, families or BASE_FAMILIES, side=0)
    one = base_stream(seed + 1_000_003, families or BASE_FAMILIES, (1.0,))
    mix_rng = random.Random(f"curriculum:{seed}")
    pad = proc.tokenizer.pad_token_id
    curve: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    step = 0
    running = 0.0
    while step < total:
        if curriculum:
            draws = [
                next(_curriculum_pick(step, curriculum, total, mix_rng, giant, large, one, stream))
                for _ in range(RECIPE["batch_size"])
            ]
        else:
            draws = list(itertools.islice(stream, RECIPE["batch_size"]))
        batch = [build_example(fam, proc, [h], [a], img) for img, h, a in draws]
        loss = model(**collate(batch, pad, with_mm=True)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), RECIPE["clip"])
        opt.step()
        sched.step()
        step += 1
        running += float(loss.detach())
        if step == 20 and steps is None and seconds is not None:
            rate = step / (time.perf_counter() - t0)
            total = max(warm + 50, int(rate * seconds))
        if step % log_every == 0 or step == total:
            n = log_every if step % log_every == 0 else step % log_every
            curve.append((step, running / n))
            running = 0.0
            print(
                f"pretrain step={step}/{total} loss={curve[-1][1]:.4f} t={time.perf_counter() - t0:.0f}s",
                file=sys.stderr,
            )
    elapsed = time.perf_counter() - t0
    model.save_pretrained(str(out))
    record = {
        "command": "edtune student pretrain "
        + " ".join(
            shlex.quote(a)
            for a in _cli_args(
                out_dir, seed, total, curriculum, lr, init, note_share, guess_share, lookup_share
            )
        ),
        "family": "qwen2-vl",
        "seed": seed,
        "steps": total,
        "train_seconds": round(elapsed, 1),
        "steps_per_s": round(total / elapsed, 2),
        "recipe": recipe,
        "overrides": overrides or {},
        "families": list(families) if families else "BASE_FAMILIES",
        "scene_size_weights": list(sizes),
        "curriculum_steps": curriculum,
        "note_share": note_share,
        "guess_share": guess_share,
        "lookup_share": lookup_share,
        "params": sum(p.numel() for p in model.parameters()),
        "loss_curve": curve,
        "torch_threads": 1,
        **({"init": {"path": init, "record": init_record}} if init else {}),
    }
    (out / "pretrain.json").write_text(json.dumps(record, indent=2) + "\n")
    write_manifest(
        out, {"kind": "edtune-base-student", **{k: record[k] for k in ("command", "seed", "steps")}}
    )
    return record


def _curriculum_pick(
    step: int, warm: int, total: int, rng: random.Random, giant: Any, large: Any, one: Any, stream: Any
) -> Any:
    """The stream the next sample of `step` comes from under a curriculum of `warm` steps per easy stage."""
    if step < warm:
        return giant
    if step < 2 * warm:
        return large
    share = 0.5 * (1 - (step - 2 * warm) / max(1, total - 2 * warm))
    return one if rng.random() < share else stream


def _cli_args(
    out_dir: str,
    seed: int,
    steps: int,
    curriculum: int = 0,
    lr: float | None = None,
    init: str | None = None,
    note_share: float = 0.0,
    guess_share: float = 0.0,
    lookup_share: float = 0.0,
) -> list[str]:
    args = ["--out", out_dir, "--seed", str(seed), "--steps", str(steps), "--curriculum", str(curriculum)]
    args = [*args, "--lr", str(lr)] if lr else args
    args = [*args, "--note-share", str(note_share)] if note_share else args
    args = [*args, "--guess-share", str(guess_share)] if guess_share else args
    args = [*args, "--lookup-share", str(lookup_share)] if lookup_share else args
    return [*args, "--init", init] if init else args
