"""Pool import streams: peak RSS at 1M records <= 1.5x at 100K, and records/s, for a messages JSONL.

Writes a messages JSONL (ms-swift style: `messages` + `images`) of N records over a fixed set of distinct
images (real PNGs, so the image store reads, hashes and deduplicates them as on a real pool), then imports it
with `edtune.imports.import_pool` in a fresh subprocess per size, so each peak RSS (ru_maxrss) is that size's own.

    nice python benchmarks/pool_import.py [--sizes 100000 1000000] [--images 1000] \
        [--out benchmarks/results/pool_import.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHILD = """
import json, resource, sys, time
from edtune.imports import import_pool
t0 = time.perf_counter()
r = import_pool([sys.argv[1]], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t0, "read": r.read, "imported": r.imported,
                  "refused": r.refused, "duplicates": r.duplicates, "images_written": r.images_written,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "cpu_seconds": sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}))
"""


def write_images(folder: Path, n: int) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i:05d}.png"
        img = Image.new("RGB", (32, 32), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
        img.putpixel((0, 0), (i % 256, i // 256 % 256, 0))  # the index in one pixel: every image is distinct
        img.save(p)
        paths.append(str(p))
    return paths


def write_source(path: Path, n: int, images: list[str]) -> None:
    """N distinct two-turn records (unique ids and texts: nothing is a duplicate), one image each."""
    # one template filled by string formatting: json.dumps per record would make writing the 1M-record file a
    # noticeable share of the run; ids and texts are plain ASCII, each image path is JSON-quoted once
    template = (
        '{{"id": "rec-{i:08d}", "messages": [{{"role": "user", "content": "<image>\\nWhat colour is object '
        'number {i}? Answer in one word."}}, {{"role": "assistant", "content": "The object {i} is colour {c}."}}], '
        '"images": [{img}]}}\n'
    )
    quoted = [json.dumps(p) for p in images]
    with path.open("w") as fh:
        for start in range(0, n, 10_000):
            stop = min(n, start + 10_000)
            fh.write(
                "".join(
                    template.format(i=i, c=i % 7, img=quoted[i % len(quoted)]) for i in range(start, stop)
                )
            )


def measure(source: Path, out: Path) -> dict[str, float]:
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(source), str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=repo,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--out", default="benchmarks/results/pool_import.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edtune-pool-bench-") as tmp:
        root = Path(tmp)
        images = write_images(root / "images", args.images)
        for n in args.sizes:
            src = root / f"messages-{n}.jsonl"
            t0 = time.perf_counter()
            write_source(src, n, images)
            gen_s = time.perf_counter() - t0
            m = measure(src, root / f"pool-{n}")
            m |= {"records": n, "source_mb": src.stat().st_size / 2**20, "generate_s": gen_s}
            m["records_per_s"] = m["read"] / m["seconds"]
            # wall-clock rate depends on what else runs (CI boxes are shared); the CPU-time rate does not
            m["records_per_cpu_s"] = m["read"] / m["cpu_seconds"]
            m["load_average_1m"] = os.getloadavg()[0]
            rows.append(m)
            print(
                f"{n:>9} records: {m['records_per_s']:,.0f} records/s wall, {m['records_per_cpu_s']:,.0f} per CPU second, "
                f"peak RSS {m['peak_rss_mb']:.0f} MB",
                flush=True,
            )
            src.unlink()
    small, large = rows[0], rows[-1]
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    result = {
        "benchmark": "pool_import",
        "format": "messages JSONL (ms-swift style), one image path per record",
        "distinct_images": args.images,
        "rows": rows,
        "rss_ratio": ratio,
        "target": "peak RSS at the largest size <= 1.5x at the smallest",
        "meets_target": ratio <= 1.5,
        "cpu_count": os.cpu_count(),
    }
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.bookkeeping import provenance

    result["provenance"] = provenance(["benchmarks.pool_import", *sys.argv[1:]], writing=[args.out])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"RSS ratio {ratio:.2f} (target <= 1.5): {'OK' if ratio <= 1.5 else 'MISSED'}; wrote {args.out}")


if __name__ == "__main__":
    main()
