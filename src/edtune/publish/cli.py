"""`edtune publish` and `edtune adapters ...`: the registry, its pointer and rollout from the shell.

Every command prints exactly one JSON object on stdout with `--json`: its result, or (from `edtune.cli.main`)
the error with each bad file in `problems`. Storage failures caused by a 403 say to check credentials.
"""

from __future__ import annotations

from typing import Annotated

import typer

adapters_app = typer.Typer(
    help="The adapter registry: list, latest, verify, sync, roll back, merge.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
RegistryOpt = Annotated[
    str, typer.Option("--registry", help="Registry root URI (s3://bucket/prefix or a path).")
]
TaskOpt = Annotated[str, typer.Option("--task", help="Task name.")]


def publish_cmd(
    adapter: Annotated[str, typer.Option("--adapter", help="Adapter directory URI (safetensors + config).")],
    manifest: Annotated[str, typer.Option("--manifest", help="AdapterManifest JSON URI.")],
    registry: RegistryOpt,
    task: TaskOpt,
    run_id: Annotated[str, typer.Option("--run-id", help="Run id; the version is <run-id>-<hash of files>.")],
    min_gain: Annotated[
        float | None,
        typer.Option(
            "--min-gain",
            help="Quality gate: refuse (exit 1, nothing written) when the manifest's validation gain is below.",
        ),
    ] = None,
    rollout_: Annotated[
        str | None, typer.Option("--rollout", help="Serving Deployment to roll onto the new version.")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="Namespace of the Deployment.")] = "edtune",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --rollout: print the patch, do not contact the cluster.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish an adapter as a new immutable version, verify sha256 of every file, then move latest (CAS)."""
    import json
    import sys

    from edtune.output import emit
    from edtune.publish.errors import credential_hints
    from edtune.publish.lifecycle import terminate_as_interrupt
    from edtune.publish.registry import publish
    from edtune.publish.rollout import rollout

    with credential_hints(), terminate_as_interrupt():
        result = publish(adapter, manifest, registry, task, run_id, min_gain=min_gain)
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    data = result.model_dump(mode="json")
    gain = "-" if result.gain is None else f"{result.gain:+.3f}"
    human = (
        f"{'published' if result.created else 'already published (verified)'} {task} {result.version}"
        f" (gain {gain})\n  at     {result.uri}\n"
        f"  latest {result.latest_uri} #{result.sequence} (was {result.previous_version or '-'})"
    )
    if rollout_:
        roll = rollout(rollout_, namespace, result.version, dry_run=dry_run, task=task)
        data["rollout"] = roll
        verb = "would patch" if dry_run else "patched"
        human += f"\n  rollout: {verb} {namespace}/{rollout_}:\n{json.dumps(roll['patch'], indent=2)}"
    emit(data, as_json, human=human)


@adapters_app.command("latest")
def latest_cmd(registry: RegistryOpt, task: TaskOpt, as_json: JsonOpt = False) -> None:
    """Print the task's latest pointer; exit 2 when nothing is published, 1 when it names a broken version."""
    from edtune.errors import InputError
    from edtune.output import emit
    from edtune.publish.errors import CORRUPT, VersionError, credential_hints
    from edtune.publish.layout import latest_uri
    from edtune.publish.registry import read_latest
    from edtune.publish.verify import as_problem, check_version_at

    with credential_hints():
        pointer = read_latest(registry, task)
        if pointer is None:
            raise InputError(f"{latest_uri(registry, task)}: nothing published for task {task!r}")
        check = check_version_at(pointer.uri, task, pointer.version, hash_files=False)
    check.raise_for_status()
    if check.manifest_sha256 != pointer.manifest_sha256:
        raise VersionError(
            f"{pointer.uri}: latest names {pointer.version}, whose stored manifest is not the one published",
            CORRUPT,
            [as_problem(f"{pointer.uri}/manifest.json: sha256 differs from latest.json's manifest_sha256")],
        )
    emit(
        pointer,
        as_json,
        human=f"{task}: {pointer.version} #{pointer.sequence} ({pointer.uri}, published {pointer.published_at})",
    )


@adapters_app.command("verify")
def verify_cmd(
    registry: RegistryOpt,
    task: TaskOpt,
    version: Annotated[str | None, typer.Option("--version", help="Version (default: latest).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash every file of a version against its manifest: OK, or exit 1 as INCOMPLETE / CORRUPT / ABSENT."""
    from edtune.errors import InputError
    from edtune.output import emit
    from edtune.publish.errors import credential_hints
    from edtune.publish.layout import latest_uri
    from edtune.publish.registry import read_latest
    from edtune.publish.verify import check_version

    with credential_hints():
        if version is None:
            pointer = read_latest(registry, task)
            if pointer is None:
                raise InputError(f"{latest_uri(registry, task)}: nothing published for task {task!r}")
            version = pointer.version
        check = check_version(registry, task, version)
    check.raise_for_status()  # the failure is the one JSON object, its problems naming each file
    emit(
        {**check.model_dump(mode="json"), "ok": True},
        as_json,
        human=f"{task} {version}: OK ({check.uri})",
    )


@adapters_app.command("sync")
def sync_cmd(
    registry: RegistryOpt,
    task: TaskOpt,
    dest: Annotated[str, typer.Option("--dest", help="Local directory to fill (e.g. /adapters/<task>).")],
    version: Annotated[
        str | None, typer.Option("--version", help="Pinned version; empty or absent means latest.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Download and verify a version (default latest) into --dest, atomically: on failure --dest is untouched."""
    from edtune.output import emit
    from edtune.publish.errors import credential_hints
    from edtune.publish.fetch import sync

    with credential_hints():
        pointer = sync(registry, task, dest, version or None)
    emit(pointer, as_json, human=f"synced {task} {pointer.version} -> {dest}")


@adapters_app.command("sync-all")
def sync_all_cmd(
    registry: RegistryOpt,
    dest: Annotated[str, typer.Option("--dest", help="Local directory; each task goes to <dest>/<task>.")],
    tasks: Annotated[
        str,
        typer.Option(
            "--tasks",
            help="Comma-separated task names (one LoRA each); empty: only the tasks the annotations name.",
        ),
    ] = "",
    pins_file: Annotated[
        str | None,
        typer.Option(
            "--pins-file",
            help="Downward-API annotations file: each adapters.edtune.io/<task> adds the task, pinned to its value.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sync every task's pinned (or latest) version and write the server's --lora-modules list (empty: no task).

    A task with no pin and nothing published is skipped with a warning on stderr."""
    import sys

    from edtune.output import emit
    from edtune.publish.errors import credential_hints
    from edtune.publish.serving import parse_tasks, sync_tasks

    def warn(msg: str) -> None:
        print(f"warning: {msg}", file=sys.stderr)

    with credential_hints():
        done = sync_tasks(registry, parse_tasks(tasks), dest, pins_file, warn=warn)
    emit(
        {t: p.model_dump(mode="json") for t, p in done.items()},
        as_json,
        human="\n".join(f"synced {t} {p.version} -> {dest}/{t}" for t, p in done.items())
        or f"no task to serve: {dest}/lora-modules.args is empty",
    )


@adapters_app.command("list")
def list_cmd(
    registry: RegistryOpt,
    task: TaskOpt,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also re-hash every file of every version.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every version of a task: date, gain, state (OK / INCOMPLETE / CORRUPT), and which one is latest."""
    from edtune.output import emit
    from edtune.publish.catalog import list_versions
    from edtune.publish.errors import credential_hints

    with credential_hints():
        listing = list_versions(registry, task, verify=verify)
    lines = [f"{task} ({listing.uri}): {len(listing.versions)} version(s)"]
    if listing.latest_damage:
        lines.append(f"  warning: {listing.latest_damage}")
    for v in listing.versions:
        gain = "-" if v.gain is None else f"{v.gain:+.3f}"
        lines.append(
            f"{'*' if v.latest else ' '} {v.version:<40} {v.status:<10} {v.created_at or '-':<25} gain {gain}"
        )
    emit(listing, as_json, human="\n".join(lines))


@adapters_app.command("rollback")
def rollback_cmd(
    registry: RegistryOpt,
    task: TaskOpt,
    to: Annotated[str, typer.Option("--to", help="The version latest should name (must verify).")],
    as_json: JsonOpt = False,
) -> None:
    """Move latest to an earlier version by compare-and-swap; a version that does not verify is refused (exit 1)."""
    import sys

    from edtune.output import emit
    from edtune.publish.errors import credential_hints
    from edtune.publish.registry import rollback

    with credential_hints():
        res = rollback(registry, task, to)
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    verb = "rolled back to" if res.moved else "already at"
    emit(res, as_json, human=f"{task}: {verb} {to} #{res.sequence} (was {res.previous_version or '-'})")


@adapters_app.command("lifecycle")
def lifecycle_cmd(
    registry: RegistryOpt,
    days: Annotated[
        int, typer.Option("--days", min=1, help="Abort incomplete uploads after this many days.")
    ] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the rule, do not write it.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add the bucket rule that aborts incomplete multipart uploads under the registry (kills leave them)."""
    import json

    from edtune.output import emit
    from edtune.publish.errors import credential_hints
    from edtune.publish.lifecycle import apply_bucket_rule

    with credential_hints():
        res = apply_bucket_rule(registry, days, dry_run=dry_run)
    verb = "would add" if dry_run else "added"
    emit(res, as_json, human=f"{verb} to s3://{res['bucket']}:\n{json.dumps(res['rule'], indent=2)}")


@adapters_app.command("kserve")
def kserve_cmd(
    registry: RegistryOpt,
    task: TaskOpt,
    version: Annotated[str | None, typer.Option("--version", help="Version (default: latest).")] = None,
    name: Annotated[str, typer.Option("--name", help="InferenceService name.")] = "edtune-adapter-kserve",
    namespace: Annotated[str, typer.Option("--namespace")] = "edtune",
    base_model: Annotated[str, typer.Option("--base-model", help="Base model id vLLM serves.")] = (
        "Qwen/Qwen2-VL-7B-Instruct"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Print a KServe InferenceService (YAML, or JSON with --json) whose storageUri is a published version."""
    import sys

    import yaml

    from edtune.output import emit
    from edtune.publish.serving import kserve_inference_service

    isvc = kserve_inference_service(
        registry, task, version, name=name, namespace=namespace, base_model=base_model
    )
    if as_json:
        emit(isvc, True)
    else:
        sys.stdout.write(yaml.safe_dump(isvc, sort_keys=False))


@adapters_app.command("merge")
def merge_cmd(
    student: Annotated[str, typer.Option("--student", help="Base student checkpoint (dir or s3:// prefix).")],
    adapter: Annotated[str, typer.Option("--adapter", help="Adapter dir or URI (with its manifest).")],
    out: Annotated[
        str, typer.Option("--out", help="New directory for the merged checkpoint (must not exist).")
    ],
    family: Annotated[str, typer.Option("--family", help="qwen2-vl | llava | llava-onevision")] = "qwen2-vl",
    cache_dir: Annotated[str, typer.Option("--cache-dir")] = "./edtune-data/cache",
    as_json: JsonOpt = False,
) -> None:
    """Merge a verified LoRA adapter into its base (peft merge_and_unload): a checkpoint plain transformers serves."""
    from edtune.output import emit
    from edtune.publish.merge import merge_adapter

    res = merge_adapter(student, adapter, out, family=family, cache_dir=cache_dir)
    emit(
        res,
        as_json,
        human=f"merged {adapter} into {student} -> {res.out} ({res.files} files, verified manifest)",
    )


def register(app: typer.Typer) -> None:
    """Add `publish` and the `adapters` group to the root app."""
    app.command("publish")(publish_cmd)
    app.add_typer(adapters_app, name="adapters")
