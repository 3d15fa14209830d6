"""`python -m benchmarks.faults {kills,flaky,load,registry,tests,table}`: run one part, write benchmarks/results/faults-<part>.json."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.faults.common import RESULTS, prepare
from benchmarks.faults.flaky import flaky
from benchmarks.faults.kills import kill_campaigns
from benchmarks.faults.load import load
from benchmarks.faults.suite import suite, table


def _write(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"faults-{name}.json"
    if (
        "provenance" not in data
    ):  # commit and git_dirty (untracked files count), as every results file records
        from benchmarks.bookkeeping import provenance

        data = {**data, "provenance": provenance(["benchmarks.faults", *sys.argv[1:]], writing=[path])}
    data = {"command": " ".join(["python -m benchmarks.faults", *sys.argv[1:]]), **data}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="part", required=True)
    k = sub.add_parser("kills")
    k.add_argument("--n", type=int, default=20)
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--rounds", type=int, default=2)
    k.add_argument("--steps", type=int, default=20)
    k.add_argument("--workdir", default="/tmp/edtune-faults")
    fl = sub.add_parser("flaky")
    fl.add_argument("--rate", type=float, default=0.33)
    fl.add_argument("--seed", type=int, default=0)
    fl.add_argument("--workdir", default="/tmp/edtune-faults")
    sub.add_parser("tests")
    sub.add_parser("table")
    rg = sub.add_parser("registry")
    rg.add_argument("--publishers", type=int, default=8)
    rg.add_argument("--trials", type=int, default=3)
    rg.add_argument("--kills", type=int, default=10)
    rg.add_argument("--sigterms", type=int, default=3)
    rg.add_argument("--seed", type=int, default=0)
    rg.add_argument("--workdir", default="/tmp/edtune-faults")
    ld = sub.add_parser("load")
    ld.add_argument("--requests", type=int, default=10000)
    ld.add_argument("--concurrency", type=int, default=32)
    ld.add_argument("--workdir", default="/tmp/edtune-faults")
    args = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    if args.part == "kills":
        root = Path(args.workdir)
        s = prepare(root / "setup")
        try:
            t0 = time.time()
            rep = kill_campaigns(
                s, root / f"kills-s{args.seed}", args.n, args.seed, rounds=args.rounds, steps=args.steps
            )
            data = {"seconds": round(time.time() - t0, 1), **rep.__dict__}
        finally:
            s.close()
        print(_write("kills", data))
        print(json.dumps({k: v for k, v in data.items() if k != "mismatches"}, indent=1)[:3000])
        return 0 if rep.kills_survived == rep.kills_tried else 1
    if args.part == "registry":
        from benchmarks.bookkeeping import provenance
        from benchmarks.faults.registry import registry_faults

        root = Path(args.workdir) / "registry"
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.time()
        data = registry_faults(
            root, publishers=args.publishers, trials=args.trials, n_kills=args.kills, n_terms=args.sigterms,
            seed=args.seed,
        )  # fmt: skip
        data["seconds"]["total"] = round(time.time() - t0, 1)
        out = RESULTS / "faults-registry.json"
        data["provenance"] = provenance(["benchmarks.faults", *sys.argv[1:]], writing=[out])
        print(_write("registry", data))
        print(json.dumps({k: data[k] for k in ("concurrency", "kills", "corruption")}, indent=1)[:4000])
        c, k, bad = data["concurrency"], data["kills"], data["corruption"]
        ok = c["lost_pointer_updates"] == c["failed_publishes"] == 0 and c["latest_verifies"]
        ok = ok and k["incomplete_uploads_at_end"] == k["latest_named_a_partial_version"] == 0
        ok = ok and k["reruns_ok"] == k["kills_mid_publish"] + k["sigterms_mid_publish"]
        ok = ok and all(v for v in bad.values() if isinstance(v, bool))
        return 0 if ok else 1
    if args.part == "tests":
        data = suite(Path("/tmp/edtune-faults") / "tests")
        print(_write("tests", data))
        print(json.dumps(data, indent=1))
        return 0 if data["pytest_rc"] == 0 else 1
    if args.part == "table":
        print(table())
        return 0
    if args.part == "flaky":
        root = Path(args.workdir) / "flaky"
        shutil.rmtree(root, ignore_errors=True)
        data = flaky(root, args.rate, args.seed)
        print(_write("flaky", data))
        print(json.dumps(data["totals"], indent=1))
        ok = all(v["survived"] == v["injected"] for side in ("teacher", "s3") for v in data[side].values())
        return 0 if ok and all(v["clear_error"] for v in data["outage"].values()) else 1
    if args.part == "load":
        from edtune.shapes.world.generate import generate_world

        root = Path(args.workdir) / "load"
        shutil.rmtree(root, ignore_errors=True)
        generate_world(str(root / "world"), seed=2, pool_size=10, val_size=200, test_size=1, progress=False)
        data = load(root / "world", args.requests, args.concurrency, root)
        print(_write("load", data))
        print(json.dumps(data, indent=1))
        return 0 if data["samples_lost"] == 0 and data["samples_duplicated"] == 0 else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
