"""`edtune publish` and `edtune adapters sync|verify|latest`: the registry and rollout from the shell."""

from __future__ import annotations

from typing import Annotated

import typer

adapters_app = typer.Typer(
    help="Read the adapter registry: latest pointer, verify, sync to a local dir.", no_args_is_help=True
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
    rollout_: Annotated[
        str | None, typer.Option("--rollout", help="Serving Deployment to roll onto the new version.")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="Namespace of the Deployment.")] = "edtune",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --rollout: print the patch, do not contact the cluster.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish an adapter as a new immutable version, verify sha256 of every file, then move latest."""
    import json

    from edtune.output import emit
    from edtune.publish.registry import publish
    from edtune.publish.rollout import rollout

    result = publish(adapter, manifest, registry, task, run_id)
    data = result.model_dump(mode="json")
    human = (
        f"{'published' if result.created else 'already published (verified)'} {task} {result.version}\n"
        f"  at     {result.uri}\n  latest {result.latest_uri} (was {result.previous_version or '-'})"
    )
    if rollout_:
        roll = rollout(rollout_, namespace, result.version, dry_run=dry_run, task=task)
        data["rollout"] = roll
        verb = "would patch" if dry_run else "patched"
        human += f"\n  rollout: {verb} {namespace}/{rollout_}:\n{json.dumps(roll['patch'], indent=2)}"
    emit(data, as_json, human=human)


@adapters_app.command("latest")
def latest_cmd(registry: RegistryOpt, task: TaskOpt, as_json: JsonOpt = False) -> None:
    """Print the task's latest pointer (exit 2 when nothing is published)."""
    from edtune.errors import InputError
    from edtune.output import emit
    from edtune.publish.registry import read_latest

    pointer = read_latest(registry, task)
    if pointer is None:
        raise InputError(f"{registry}: nothing published for task {task!r}")
    emit(
        pointer, as_json, human=f"{task}: {pointer.version} ({pointer.uri}, published {pointer.published_at})"
    )


@adapters_app.command("verify")
def verify_cmd(
    registry: RegistryOpt,
    task: TaskOpt,
    version: Annotated[str | None, typer.Option("--version", help="Version (default: latest).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash every file of a published version against its manifest; exit 1 on any mismatch."""
    from edtune.errors import InputError, StorageError
    from edtune.output import emit
    from edtune.publish.registry import read_latest, verify_version

    if version is None:
        pointer = read_latest(registry, task)
        if pointer is None:
            raise InputError(f"{registry}: nothing published for task {task!r}")
        version = pointer.version
    problems = verify_version(registry, task, version)
    emit(
        {"task": task, "version": version, "ok": not problems, "problems": problems},
        as_json,
        human=f"{task} {version}: " + ("OK" if not problems else "CORRUPT\n  " + "\n  ".join(problems)),
    )
    if problems:
        raise StorageError(f"{task} {version}: {len(problems)} file(s) do not match the manifest")


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
    """Download and verify a version (default latest): what the serving initContainer runs."""
    from edtune.output import emit
    from edtune.publish.registry import sync

    pointer = sync(registry, task, dest, version or None)
    emit(pointer, as_json, human=f"synced {task} {pointer.version} -> {dest}")


@adapters_app.command("sync-all")
def sync_all_cmd(
    registry: RegistryOpt,
    tasks: Annotated[str, typer.Option("--tasks", help="Comma-separated task names (one LoRA each).")],
    dest: Annotated[str, typer.Option("--dest", help="Local directory; each task goes to <dest>/<task>.")],
    pins_file: Annotated[
        str | None,
        typer.Option("--pins-file", help="Downward-API annotations file: adapters.edtune.io/<task> pins."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sync every task's pinned (or latest) version and write the server's --lora-modules list."""
    from edtune.output import emit
    from edtune.publish.serving import parse_tasks, sync_tasks

    done = sync_tasks(registry, parse_tasks(tasks), dest, pins_file)
    emit(
        {t: p.model_dump(mode="json") for t, p in done.items()},
        as_json,
        human="\n".join(f"synced {t} {p.version} -> {dest}/{t}" for t, p in done.items()),
    )


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


def register(app: typer.Typer) -> None:
    """Add `publish` and the `adapters` group to the root app."""
    app.command("publish")(publish_cmd)
    app.add_typer(adapters_app, name="adapters")
