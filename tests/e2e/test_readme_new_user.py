"""A new user follows the README's "Use it on your own task" section, shell block by shell block.

Only the model id and the URLs are substituted: the 7B hub id becomes the tiny base student laid out in a real
Hugging Face cache on disk (offline), the teacher URL the reference teacher on loopback (it serves `/v1/models`
like vLLM, so the example's `backend: vllm` + `model: auto` are what runs), and the bucket the moto S3 server. The
user's own files are a small shapes world written in the formats the README imports (a LLaVA JSON array, an
MMBench-style TSV). Blocks marked `<!-- readme-test: import -->` run when their commands exist (`edtune pool
import`, `edtune task import`) and are skipped otherwise; blocks marked `<!-- readme-test: cluster -->` need a Kubeflow cluster. Then `run --check` must fail with exit 2, before any
evaluation, for a broken teacher URL, an unindexed pool and a missing setting.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSET = ROOT / "src" / "edtune" / "shapes" / "assets" / "base-student"
MODEL_ID = "Qwen/Qwen2-VL-7B-Instruct"
TINY_ID = "edtune-test/tiny-student"
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
BLOCK = re.compile(r"(?:<!-- readme-test: (\w+) -->\n)?```bash\n(.*?)```", re.S)


def section(title: str) -> tuple[str, str]:
    """(the local part, the Kubeflow part) of a README section."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    local, _, cluster = body.partition("### On Kubeflow")
    return local, cluster


def blocks(text: str) -> list[tuple[str, str]]:
    return [(mark or "run", body) for mark, body in BLOCK.findall(text)]


def lay_out_hub_cache(model_dir: Path, cache: Path, repo: str, commit: str) -> None:
    """The huggingface_hub cache layout: blobs by sha256, snapshot symlinks, refs/main -> commit."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snap, blobs = root / "snapshots" / commit, root / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir()
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)
    for f in sorted(model_dir.iterdir()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copyfile(f, blobs / digest)
        (snap / f.name).symlink_to(Path("..", "..", "blobs", digest))


def write_user_sources(world: Path, root: Path) -> None:
    """The user's files in the formats the README imports: a LLaVA JSON array and an MMBench-style TSV.

    The support pool is the shapes world's pool (its images under `llava-images/`), untagged; the task is the
    world's `left-right` questions with their options as columns A, B and the answer as a letter.
    """
    import base64
    import csv
    import json

    rows = [json.loads(line) for line in (world / "pool.jsonl").read_text().splitlines() if line.strip()]
    for row in rows:
        row.pop("skills", None)
    (root / "llava_v1_5_mix665k.json").write_text(json.dumps(rows))
    (root / "llava-images").symlink_to(world)
    task = world / "tasks" / "left-right"
    with open(root / "my-task.tsv", "w", newline="") as fh:
        out = csv.writer(fh, delimiter="\t")
        out.writerow(["index", "question", "hint", "A", "B", "answer", "image", "category"])
        for split in ("val", "test"):
            for i, line in enumerate((task / f"{split}.jsonl").read_text().splitlines()):
                t = json.loads(line)
                letter = "AB"[t["choices"].index(t["answer"])]
                image = base64.b64encode((task / t["image"]).read_bytes()).decode()
                out.writerow([f"{split}{i}", t["question"], "", *t["choices"], letter, image, "side"])


class Workspace:
    def __init__(self, root: Path, env: dict[str, str], subs: dict[str, str]) -> None:
        self.root, self.env, self.subs = root, env, subs

    def sub(self, text: str) -> str:
        for old, new in self.subs.items():
            text = text.replace(old, new)
        return text

    def bash(self, script: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.sub(script)],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> Workspace:
    from edtune.shapes.world.generate import generate_world

    root = tmp_path_factory.mktemp("new-user")
    world = root / "shapes-world"
    generate_world(str(world), seed=0, pool_size=240, val_size=12, test_size=8, progress=False)
    write_user_sources(world, root)
    lay_out_hub_cache(ASSET, root / "hf-cache", TINY_ID, COMMIT)
    import boto3

    bucket = "edtune-new-user"
    boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    ).create_bucket(Bucket=bucket)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HF_HUB_CACHE": str(root / "hf-cache"),
        "HF_HUB_OFFLINE": "1",
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env = {k: v for k, v in env.items() if not k.startswith("EDTUNE_")}
    # the tiny student stands in for the 7B: its preset sits under the config file (64 new tokens, 112 px, its
    # LoRA); the example's own settings (teacher.backend vllm, model auto, the loop) still apply as written
    env["EDTUNE_PRESET"] = "shapes-tiny"
    return Workspace(root, env, {MODEL_ID: TINY_ID, "s3://edtune/": f"s3://{bucket}/"})


@pytest.fixture(scope="module")
def teacher_url() -> str:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher(host="127.0.0.1", port=0)
    yield url
    server.shutdown()


def test_the_section_names_both_example_configs_and_the_import_commands() -> None:
    local, cluster = section("Use it on your own task")
    assert "examples/local/qwen2-vl-7b.yaml" in local and "examples/local/llava-1.5-7b.yaml" in local
    assert "examples/cluster/config.yaml" in cluster and "docs/pool.md" in local
    marks = [m for m, _ in blocks(local)]
    assert marks.count("import") == 1 and marks.count("run") == 3


def _run_blocks(ws: Workspace, body_filter: str) -> int:
    """Run the local blocks whose text contains `body_filter`, in README order; returns how many ran."""
    local, _ = section("Use it on your own task")
    ran = 0
    for mark, body in blocks(local):
        if body_filter not in body:
            continue
        if mark == "import":
            commands = sorted({" ".join(line.split()[:3]) for line in body.splitlines() if line.strip()})
            if ws.bash("; ".join(f"{c} --help >/dev/null" for c in commands)).returncode != 0:
                continue  # not shipped (yet): the section still reads right without them
        r = ws.bash(body)
        assert r.returncode == 0, (
            f"block failed:\n{body}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
        )
        ran += 1
    return ran


def test_1_the_model_and_data_blocks_stage_tag_and_index(ws: Workspace, teacher_url: str) -> None:
    ws.subs["http://127.0.0.1:8000"] = teacher_url
    cfg_text = (ROOT / "examples" / "local" / "qwen2-vl-7b.yaml").read_text()
    assert MODEL_ID in cfg_text and "http://127.0.0.1:8000" in cfg_text
    # `cp examples/local/qwen2-vl-7b.yaml` copies the example with the model id and URL filled in
    (ws.root / "examples" / "local").mkdir(parents=True)
    (ws.root / "examples" / "local" / "qwen2-vl-7b.yaml").write_text(ws.sub(cfg_text))
    assert _run_blocks(ws, "hf download") == 1
    assert _run_blocks(ws, "edtune pool import") == 1, "the import commands are shipped: their block must run"
    assert (ws.root / "data" / "my-task" / "val.jsonl").is_file() and (
        ws.root / "data" / "pool.jsonl"
    ).is_file()
    assert _run_blocks(ws, "edtune index") == 1
    assert (ws.root / "data" / "pool.skills.jsonl").stat().st_size > 0


def test_2_the_check_and_run_block_tunes_the_hub_id_student(ws: Workspace) -> None:
    assert _run_blocks(ws, "edtune run --check") == 1
    run = ws.root / "edtune-data" / "runs" / "my-task-001"
    assert (run / "final" / "manifest.json").is_file() and (run / "final" / "report.html").is_file()
    assert (
        run / "round-01" / "mistakes.jsonl"
    ).stat().st_size > 0  # the vllm-style teacher, model auto, answered
    assert (
        f"snapshots/{COMMIT}" in (run / "final" / "manifest.json").read_text()
    )  # the base, pinned by commit


def test_3_the_model_staged_for_kubeflow_passes_the_check_from_s3(ws: Workspace) -> None:
    _, cluster = section("Use it on your own task")
    marks = [m for m, _ in blocks(cluster)]
    assert marks == ["run", "cluster"]  # staging runs here; submitting needs a Kubeflow cluster
    r = ws.bash(blocks(cluster)[0][1])
    assert r.returncode == 0, r.stderr[-3000:]
    staged = ws.sub("s3://edtune/models/Qwen2-VL-7B-Instruct")
    check = ws.bash(f"edtune run --check --config my-task.yaml --set student.base={staged}")
    assert check.returncode == 0 and f"student.base: {staged}" in check.stdout, check.stdout + check.stderr


BROKEN = [
    ("a teacher URL nothing listens on", "teacher.url=http://127.0.0.1:9", "teacher.url"),
    ("an unindexed pool", "pool.collection=never_indexed", "pool.collection"),
    ("a missing setting", "task.val=", "task.val: not set"),
]


@pytest.mark.parametrize(("what", "flag", "fragment"), BROKEN, ids=[b[0] for b in BROKEN])
def test_run_check_fails_with_exit_2_before_any_evaluation(
    ws: Workspace, teacher_url: str, what: str, flag: str, fragment: str
) -> None:
    cfg = ws.root / "broken.yaml"
    text = (ROOT / "examples" / "local" / "qwen2-vl-7b.yaml").read_text()
    cfg.write_text(
        ws.sub(text).replace("http://127.0.0.1:8000", teacher_url).replace("my-task-001", "broken")
    )
    # `run` itself runs the same checks first; once (the teacher case) is enough to show it stops there too
    for args in (["run", "--check"], ["run"]) if "teacher" in flag else (["run", "--check"],):
        r = ws.bash(f"edtune {' '.join(args)} --config broken.yaml --set {flag}")
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert fragment in r.stdout + r.stderr and "Traceback" not in r.stderr
    assert not (ws.root / "edtune-data" / "runs" / "broken").exists()  # nothing evaluated, nothing written
