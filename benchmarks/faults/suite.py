"""The pytest reliability corpus counted per file, and the docs/reliability.md table built from results files."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.faults.common import PY, RESULTS, ROOT


def suite(workdir: Path) -> dict[str, Any]:
    """Run tests/reliability (slow tests included) and count cases per file from the JUnit XML."""
    import xml.etree.ElementTree as ET

    workdir.mkdir(parents=True, exist_ok=True)
    xml = workdir / "reliability.xml"
    cmd = [PY, "-m", "pytest", "tests/reliability", "-m", "slow or not slow", "-q", "-p", "no:cacheprovider"]
    proc = subprocess.run([*cmd, f"--junitxml={xml}"], cwd=ROOT, capture_output=True, text=True)
    per_file: dict[str, dict[str, int]] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("classname", "").split(".")[-1]
        row = per_file.setdefault(name, {"tried": 0, "passed": 0})
        row["tried"] += 1
        row["passed"] += int(not any(c.tag in ("failure", "error", "skipped") for c in case))
    bad = [c for c in ET.parse(xml).getroot().iter("testcase") if "exits_2" in c.get("name", "")]
    canary = [
        c
        for c in ET.parse(xml).getroot().iter("testcase")
        if re.search(r"secret|canary|credential", c.get("name", ""))
    ]
    return {
        "pytest_rc": proc.returncode,
        "per_file": per_file,
        "bad_inputs_tried": len(bad),
        "bad_inputs_refused": sum(1 for c in bad if not list(c)),
        "secret_checks_tried": len(canary),
        "secret_checks_clean": sum(1 for c in canary if not list(c)),
        "summary": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "",
    }


def table() -> str:
    """The docs/reliability.md table, from the results JSON files only."""

    def rd(name: str) -> dict[str, Any]:
        p = RESULTS / f"faults-{name}.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    k, f, ld, t = rd("kills"), rd("flaky"), rd("load"), rd("tests")
    rows = [("guarantee", "result", "source")]
    if k:
        rows.append(
            ("kills survived / tried", f"{k['kills_survived']} / {k['kills_tried']}", "faults-kills.json")
        )
        rows.append(("stages redone after their marker", str(len(k["redone_stages"])), "faults-kills.json"))
        rows.append(("support samples used twice", str(len(k["used_twice"])), "faults-kills.json"))
        rows.append(
            (
                "temp files/dirs left by the kills (open, see §1)",
                str(len(k["leftovers"])),
                "faults-kills.json",
            )
        )
    for side in ("teacher", "s3"):
        for kind, v in (f.get(side) or {}).items():
            rows.append(
                (
                    f"{side} fault `{kind}`: survived / injected",
                    f"{v['survived']} / {v['injected']}",
                    "faults-flaky.json",
                )
            )
    for name, v in (f.get("outage") or {}).items():
        rows.append(
            (
                f"permanent outage `{name}`: clear error naming the endpoint",
                "yes" if v["clear_error"] else "NO",
                "faults-flaky.json",
            )
        )
    if t:
        rows.append(
            (
                "bad inputs refused (exit 2, named, nothing written) / tried",
                f"{t['bad_inputs_refused']} / {t['bad_inputs_tried']}",
                "faults-tests.json",
            )
        )
        leaked = t["secret_checks_tried"] - t["secret_checks_clean"]
        rows.append(
            (
                "secrets leaked (canary checks failing / run)",
                f"{leaked} / {t['secret_checks_tried']}",
                "faults-tests.json",
            )
        )
    if ld:
        rows.append(
            (
                "load: samples lost / duplicated",
                f"{ld['samples_lost']} / {ld['samples_duplicated']} of {ld['traces']}",
                "faults-load.json",
            )
        )
        rows.append(
            (
                f"load: {ld['requests']} requests at concurrency {ld['concurrency']}",
                f"{ld['requests_per_s']} req/s, p50 {ld['latency_p50_ms']} ms, p99 {ld['latency_p99_ms']} ms",
                "faults-load.json",
            )
        )
        rows.append(
            (
                "load: peak RSS client / reference teacher",
                f"{ld['peak_rss_mb']} MB / {ld.get('server_peak_rss_mb')} MB",
                "faults-load.json",
            )
        )
    rows += _registry_rows(rd("registry"))
    return "\n".join(
        [
            "| " + " | ".join(r) + " |" if i else "| " + " | ".join(r) + " |\n|---|---|---|"
            for i, r in enumerate(rows)
        ]
    )


def _registry_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The adapter registry's rows (faults-registry.json), empty when that part was not run."""
    if not r:
        return []
    c, k, bad = r["concurrency"], r["kills"], r["corruption"]
    src = "faults-registry.json"
    trials = len(c["trials"])
    return [
        (
            f"registry: {c['trials'][0]['publishers']} concurrent publishers x {trials} trials: lost pointer updates",
            f"{c['lost_pointer_updates']} of {c['publishes']} publishes ({c['conditional_write_retries']} CAS retries)",
            src,
        ),
        ("registry: every version stored once and verified", f"{c['versions_stored_once']}", src),
        (
            "registry: SIGKILLs mid-publish / `latest` on a partial version",
            f"{k['kills_mid_publish']} / {k['latest_named_a_partial_version']}",
            src,
        ),
        ("registry: incomplete multipart uploads after the reruns", str(k["incomplete_uploads_at_end"]), src),
        (
            "registry: a failed sync left the good copy byte-identical",
            f"{bad['good_destination_byte_identical']}",
            src,
        ),
    ]
