"""Student throughput: evaluation samples/s (batch 1 vs batched) and LoRA training samples/s + peak memory.

Runs each configuration in a fresh subprocess so peak RSS is per configuration. CPU: the tiny families (and
the shipped base student when present), one torch thread. GPU: pass `--model DIR --family F` to time a real
checkpoint (e.g. Qwen2-VL-7B) the same way. The comparison of the tune path with TRL and LLaMA-Factory on the same
work is `python -m benchmarks.tune_throughput` (LLaMA-Factory in its own venv).

    nice python benchmarks/student_throughput.py [--out benchmarks/results/student_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _samples(n: int, root: Path) -> tuple[list[Any], list[Any]]:
    from PIL import Image, ImageDraw

    from edtune.schemas import SupportSample, TaskSample

    colours = ["red", "blue", "green", "yellow"]
    tasks, support = [], []
    for i in range(n):
        c = colours[i % 4]
        img = Image.new("RGB", (112, 112), "white")
        ImageDraw.Draw(img).ellipse([10 + i % 40, 20, 60 + i % 40, 70], fill=c)
        p = root / f"{i}.png"
        img.save(p)
        q = "What colour is the circle?"
        tasks.append(TaskSample(id=f"t{i}", image=str(p), question=q, choices=colours, answer=c))
        support.append(
            SupportSample.model_validate(
                {
                    "id": f"s{i}",
                    "image": str(p),
                    "conversations": [
                        {"from": "human", "value": f"<image>\n{q}"},
                        {"from": "gpt", "value": f"Step 1: The circle is {c}.\nAnswer: {c}"},
                    ],
                }
            )
        )
    return tasks, support


def one(
    family: str, model: str | None, mode: str, batch: int, n: int, steps: int, new_tokens: int
) -> dict[str, Any]:
    """One measurement in this process (called in a subprocess by `main`)."""
    import torch

    from edtune.config import LoraConfig, StudentConfig
    from edtune.shapes.preset import SHAPES_PRESET
    from edtune.shapes.student.tiny import build_tiny
    from edtune.student import load_student

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = model or build_tiny(family, str(root / "m"), seed=0)
        # the tiny student's settings (the shapes-tiny preset: 112 px, 1 torch thread), as every figure here was
        # measured; the product defaults (768 px, torch's threads) suit a 7B student on a GPU, not this table
        tiny = {**SHAPES_PRESET.values["student"], "max_new_tokens": new_tokens}
        cfg = StudentConfig(family=family, batch_size=batch, **tiny)  # type: ignore[arg-type]
        st = load_student(path, cfg)
        tasks, support = _samples(n, root)
        if mode == "eval":
            list(st.answer(tasks[:batch]))  # warm-up
            t0 = time.perf_counter()
            traces = list(st.answer(tasks))
            sec = time.perf_counter() - t0
            out_tokens = sum(len(st.processor.tokenizer(t.raw)["input_ids"]) for t in traces)
            res = {"samples_per_s": n / sec, "gen_tokens_per_s": out_tokens / sec}
        else:
            lora = LoraConfig(max_steps=steps, batch_size=batch, **SHAPES_PRESET.values["lora"])
            r = st.tune(support, str(root / "ad"), lora)
            res = {
                "samples_per_s": r.samples_per_s,
                "tokens_per_s": r.tokens_per_s,
                "peak_gpu_mb": r.peak_gpu_mb,
            }
        import resource

        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        res.update(
            family=family,
            model=model or f"tiny-{family}",
            mode=mode,
            batch=batch,
            n=n,
            device=st.device,
            threads=torch.get_num_threads(),
        )
        return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/student_throughput.json")
    ap.add_argument("--model", default=None, help="a real checkpoint dir (GPU path); default: tiny models")
    ap.add_argument("--family", default=None)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        fam, mode, batch = a.one.split(":")
        print(json.dumps(one(fam, a.model, mode, int(batch), a.n, a.steps, a.new_tokens)))
        return
    configs: list[tuple[str, str | None]] = []
    if a.model:
        configs.append((a.family or "qwen2-vl", a.model))
    else:
        configs += [("qwen2-vl", None), ("llava", None)]
        from edtune.shapes.student.base import shipped_base

        if (b := shipped_base()) is not None:
            configs.append(("qwen2-vl", str(b)))
    rows = []
    for fam, model in configs:
        for mode, batch in (("eval", 1), ("eval", 8), ("tune", 8)):
            cmd = [
                sys.executable,
                __file__,
                "--one",
                f"{fam}:{mode}:{batch}",
                "--n",
                str(a.n),
                "--steps",
                str(a.steps),
                "--new-tokens",
                str(a.new_tokens),
            ]
            if model:
                cmd += ["--model", model]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr)
    lf = "see benchmarks/results/tune_throughput.json (python -m benchmarks.tune_throughput)"
    result = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "llamafactory": lf,
        "rows": rows,
    }
    from benchmarks.bookkeeping import provenance

    result["provenance"] = provenance(["benchmarks.student_throughput", *sys.argv[1:]], writing=[a.out])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| model | mode | batch | samples/s | tokens/s | peak RSS MB | device |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        tps = r.get("tokens_per_s") or r.get("gen_tokens_per_s") or 0
        print(
            f"| {Path(r['model']).name} | {r['mode']} | {r['batch']} | {r['samples_per_s']:.1f} | {tps:.0f} | "
            f"{r['peak_rss_mb']:.0f} | {r['device']} |"
        )


if __name__ == "__main__":
    main()
