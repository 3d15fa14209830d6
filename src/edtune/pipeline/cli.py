"""The `pipeline` command group: compile, check, run locally, submit, upload and schedule the Kubeflow pipelines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="RunConfig YAML file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: key.sub=value (repeatable).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
HostOpt = Annotated[
    str, typer.Option("--host", help="KFP API endpoint, e.g. https://kubeflow.example.com/pipeline.")
]
PipelineOpt = Annotated[str, typer.Option("--pipeline", help="tuning | index")]
ImageOpt = Annotated[
    str | None,
    typer.Option("--image", help="CPU image by digest (default cluster.image / EDTUNE_IMAGE)."),
]
GpuImageOpt = Annotated[
    str | None,
    typer.Option("--gpu-image", help="GPU image by digest (default cluster.gpu_image / the -gpu sibling)."),
]
EvalGpusOpt = Annotated[
    int, typer.Option("--eval-gpus", help="GPUs per evaluate pod (0, 1, 2, 4, 8); compiled into the spec.")
]
TuneGpusOpt = Annotated[
    int, typer.Option("--tune-gpus", help="GPUs of the tune pod (0, 1, 2, 4, 8); compiled into the spec.")
]
ShardsOpt = Annotated[
    int,
    typer.Option(
        "--eval-shards", help="Evaluate pods per split (1-64), in parallel; compiled into the spec."
    ),
]
UnpinnedOpt = Annotated[
    bool,
    typer.Option("--allow-unpinned", help="Accept tag images (default: digest-pinned images only)."),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend-version", help="KFP backend version to assume when its healthz endpoint reports none."
    ),
]


def register(app: typer.Typer) -> None:
    pipeline_app = typer.Typer(
        help="Compile, check, run locally, or submit the Kubeflow pipelines.", no_args_is_help=True
    )
    app.add_typer(pipeline_app, name="pipeline")

    @pipeline_app.command("compile")
    def compile_(
        out: Annotated[
            Path | None, typer.Option("--out", help="Directory (default pipelines/compiled).")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Compile every pipeline to KFP v2 YAML, then check each spec (exit 2 on a problem)."""
        from edtune.output import emit
        from edtune.pipeline.check import check_spec_file
        from edtune.pipeline.graph import compile_pipelines

        paths = compile_pipelines(out)
        for p in paths:
            check_spec_file(p).raise_for_errors()  # the committed specs name tag images: warnings only
        emit({"compiled": paths}, as_json, human="\n".join(paths))

    @pipeline_app.command("check")
    def check(
        file: Annotated[Path, typer.Argument(help="A compiled pipeline YAML.")],
        strict_images: Annotated[
            bool, typer.Option("--strict-images", help="Tag images are errors (as under submit).")
        ] = False,
        backend: Annotated[
            str | None, typer.Option("--backend-version", help="Also check against this KFP backend.")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Check a compiled spec against the KFP backend driver's rules: exit 2 naming task, input and rule."""
        from edtune.errors import InputError
        from edtune.output import emit
        from edtune.pipeline.check import FEATURES, check_backend, check_spec_file, fmt, parse_version

        report = check_spec_file(file, strict_images=strict_images)
        if backend:
            report.findings += check_backend(report.features, parse_version(backend))
        summary = report.summary()
        warnings = [f"warning: [{w.rule}] {w.task}: {w.input}: {w.message}" for w in report.warnings]
        lines = [
            f"  {k}: KFP >= {fmt(FEATURES[k].runs_from)} ({len(v)} use(s))"
            for k, v in sorted(report.features.items())
        ]
        if report.errors:  # with --json, the CLI prints the error (and each problem) as the one JSON object
            raise InputError(
                f"{file}: the KFP backend would refuse this spec ({len(report.errors)} problem(s))",
                [f.problem(str(file)) for f in report.errors],
            )
        human = f"{file}: OK (needs KFP >= {fmt(report.min_backend)})\n" + "\n".join(lines)
        if warnings and not as_json:
            print("\n".join(warnings), file=sys.stderr)
        emit(summary, as_json, human=human.rstrip())

    @pipeline_app.command("run-local")
    def run_local(
        config: ConfigOpt = None,
        set_: SetOpt = None,
        pipeline_root: Annotated[Path, typer.Option("--pipeline-root")] = Path("./edtune-data/kfp-root"),
        eval_shards: ShardsOpt = 1,
        as_json: JsonOpt = False,
    ) -> None:
        """Run the spec `submit` would send with the KFP local SubprocessRunner (no cluster, no Docker).

        A hub-id `student.base` (ORG/NAME[@REVISION]) resolves to its local HF cache snapshot first.
        """
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.pipeline.local import run_local as do_run

        res = do_run(load_config(config, set_ or []), pipeline_root, eval_shards=eval_shards)
        emit(res, as_json)

    @pipeline_app.command("submit")
    def submit(
        host: HostOpt,
        config: ConfigOpt = None,
        set_: SetOpt = None,
        pipeline: PipelineOpt = "tuning",
        experiment: Annotated[
            str | None, typer.Option("--experiment", help="Default cluster.experiment.")
        ] = None,
        wait: Annotated[bool, typer.Option("--wait", help="Wait for the run and gate on its gain.")] = False,
        min_gain: Annotated[
            float | None,
            typer.Option(
                "--min-gain", help="Gate: fail below this gain; the run publishes only at or above it."
            ),
        ] = None,
        eval_gpus: EvalGpusOpt = 1,
        tune_gpus: TuneGpusOpt = 1,
        eval_shards: ShardsOpt = 1,
        image: ImageOpt = None,
        gpu_image: GpuImageOpt = None,
        allow_unpinned: UnpinnedOpt = False,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="Run every check (config, images, spec, preflight, backend); send nothing.",
            ),
        ] = False,
        backend: BackendOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Submit a run to Kubeflow (recompiled with the config's cluster settings, GPU counts and images).

        Refuses (exit 2, nothing sent) a config with local paths, loopback URLs, no student or a hub-id student
        (stage it: `edtune models stage`); tag images (unless --allow-unpinned); a spec the backend driver would
        refuse; a failed preflight (inputs, the student's config, the output writable); a backend below the floor.
        Auth: a bearer token from KF_PIPELINES_TOKEN or the file at KF_PIPELINES_SA_TOKEN_PATH. With --wait,
        exit 1 when the run fails or the gain is below --min-gain.
        """
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.pipeline.client import submit as do_submit

        res = do_submit(
            load_config(config, set_ or []),
            host,
            pipeline=pipeline,
            experiment=experiment,
            wait=wait,
            min_gain=min_gain,
            eval_gpus=eval_gpus,
            tune_gpus=tune_gpus,
            eval_shards=eval_shards,
            image=image,
            gpu_image=gpu_image,
            allow_unpinned=allow_unpinned,
            dry_run=dry_run,
            backend=backend,
        )
        emit(res, as_json)

    @pipeline_app.command("upload")
    def upload(
        host: HostOpt,
        config: ConfigOpt = None,
        set_: SetOpt = None,
        pipeline: PipelineOpt = "tuning",
        version: Annotated[
            str | None, typer.Option("--version", help="Version name (default <edtune version>-<spec hash>).")
        ] = None,
        eval_gpus: EvalGpusOpt = 1,
        tune_gpus: TuneGpusOpt = 1,
        eval_shards: ShardsOpt = 1,
        image: ImageOpt = None,
        gpu_image: GpuImageOpt = None,
        allow_unpinned: UnpinnedOpt = False,
        backend: BackendOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create the pipeline in KFP, or add a new version (other GPU counts or images = a new version)."""
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.pipeline.client import upload as do_upload

        res = do_upload(
            load_config(config, set_ or []),
            host,
            pipeline=pipeline,
            version=version,
            image=image,
            gpu_image=gpu_image,
            eval_gpus=eval_gpus,
            tune_gpus=tune_gpus,
            eval_shards=eval_shards,
            allow_unpinned=allow_unpinned,
            backend=backend,
        )
        emit(res, as_json)

    @pipeline_app.command("schedule")
    def schedule(
        host: HostOpt,
        cron: Annotated[
            str, typer.Option("--cron", help="KFP cron, 6 fields: '0 0 3 * * 1' = Mondays 03:00.")
        ],
        config: ConfigOpt = None,
        set_: SetOpt = None,
        pipeline: PipelineOpt = "tuning",
        name: Annotated[str | None, typer.Option("--name", help="Recurring run name.")] = None,
        eval_gpus: EvalGpusOpt = 1,
        tune_gpus: TuneGpusOpt = 1,
        eval_shards: ShardsOpt = 1,
        image: ImageOpt = None,
        gpu_image: GpuImageOpt = None,
        allow_unpinned: UnpinnedOpt = False,
        backend: BackendOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Upload/version the pipeline and create a recurring run (each run gets its own run id)."""
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.pipeline.client import schedule as do_schedule

        res = do_schedule(
            load_config(config, set_ or []),
            host,
            cron=cron,
            pipeline=pipeline,
            name=name,
            image=image,
            gpu_image=gpu_image,
            eval_gpus=eval_gpus,
            tune_gpus=tune_gpus,
            eval_shards=eval_shards,
            allow_unpinned=allow_unpinned,
            backend=backend,
        )
        emit(res, as_json)
