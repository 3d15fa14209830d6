"""Commands that drive whole runs: `demo`, `run`, `report`, and `pipeline compile|run-local|submit|upload|schedule`."""

from __future__ import annotations

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
    typer.Option("--image", help="CPU image (default cluster.image / EDTUNE_IMAGE); digest refs ok."),
]
GpuImageOpt = Annotated[
    str | None,
    typer.Option("--gpu-image", help="GPU image (default cluster.gpu_image / the -gpu sibling)."),
]


def _round_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="edtune rounds (validation = diagnosis split; test = held out)")
    columns = list(rows[0]) if rows else []  # the columns are edtune.report.summary_table's keys, in order
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(stderr=False, width=150).print(table)


def register(app: typer.Typer) -> None:
    pipeline_app = typer.Typer(
        help="Compile, run locally, or submit the Kubeflow pipelines.", no_args_is_help=True
    )
    app.add_typer(pipeline_app, name="pipeline")

    @app.command("demo")
    def demo(
        workdir: Annotated[Path, typer.Option("--workdir", help="Where everything is written.")] = Path(
            "./edtune-data/demo"
        ),
        quick: Annotated[
            bool,
            typer.Option(
                "--quick",
                help="Smaller world (pool 5,000), one round of 4 LoRA restarts kept on validation (~3.5 min).",
            ),
        ] = False,
        runner: Annotated[str, typer.Option("--runner", help="kfp-local | inprocess")] = "kfp-local",
        task: Annotated[str, typer.Option("--task", help="Target task of the shapes world.")] = "",
        teacher_noise: Annotated[
            str, typer.Option("--teacher-noise", help="Reference teacher noise profile: realistic | exact.")
        ] = "realistic",
        as_json: JsonOpt = False,
    ) -> None:
        """Run the method end to end on embedded defaults: shapes world, tiny student, reference teacher,
        Milvus Lite, local files, and the KFP local runner."""
        import sys

        from edtune.demo import DEMO_TASK, run_demo
        from edtune.output import emit

        if runner not in ("kfp-local", "inprocess"):
            raise typer.BadParameter("--runner must be kfp-local or inprocess")
        budget = "~3 minutes" if quick else "~7 minutes"
        print(
            f"edtune demo: this takes {budget} on a 2-core CPU machine (progress below, on stderr).",
            file=sys.stderr,
        )
        res = run_demo(
            workdir,
            quick=quick,
            runner=runner,  # type: ignore[arg-type]
            task=task or DEMO_TASK,
            teacher_noise=teacher_noise,
        )
        if as_json:
            emit(res, True)
            return
        _round_table(res.rounds)
        tb = "" if res.test_accuracy_before is None else f"{res.test_accuracy_before:.3f}"
        ta = "" if res.test_accuracy_after is None else f"{res.test_accuracy_after:.3f}"
        print(
            f"task {res.task}: validation {res.val_accuracy_before:.3f} -> {res.val_accuracy_after:.3f}, "
            f"held-out test {tb} -> {ta} (best round {res.best_round})"
        )
        print("seconds per step: " + ", ".join(f"{k} {v:.1f}" for k, v in res.stage_seconds.items()))
        print(f"report: {res.report}\nmanifest: {res.manifest}\ntotal: {res.seconds:.0f} s")

    @app.command("run")
    def run(config: ConfigOpt = None, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
        """Run (or resume) an error-driven tuning run in this process from a RunConfig."""
        from edtune import loop
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.report import summary_table

        cfg = load_config(config, set_ or [])
        res = loop.run(cfg)
        if as_json:
            emit(res, True)
            return
        _round_table(summary_table(res.rounds))
        print(f"stopped: {res.stopped_because}; best round {res.best_round}; report {res.report}")

    @app.command("report")
    def report(config: ConfigOpt = None, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
        """(Re)write final/report.html for a run from what its rounds recorded."""
        from edtune import stages
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.report import write_report

        cfg = load_config(config, set_ or [])
        rounds = stages.round_metrics(cfg)
        uri = write_report(cfg, rounds, stages.best_round(rounds))
        emit({"report": uri}, as_json, human=f"report: {uri}")

    @pipeline_app.command("compile")
    def compile_(
        out: Annotated[
            Path | None, typer.Option("--out", help="Directory (default pipelines/compiled).")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Compile every pipeline to KFP v2 YAML."""
        from edtune.output import emit
        from edtune.pipeline import compile_pipelines

        paths = compile_pipelines(out)
        emit({"compiled": paths}, as_json, human="\n".join(paths))

    @pipeline_app.command("run-local")
    def run_local(
        config: ConfigOpt = None,
        set_: SetOpt = None,
        pipeline_root: Annotated[Path, typer.Option("--pipeline-root")] = Path("./edtune-data/kfp-root"),
        as_json: JsonOpt = False,
    ) -> None:
        """Run the pipeline with the KFP local SubprocessRunner (no cluster, no Docker)."""
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.pipeline import run_local as do_run

        res = do_run(load_config(config, set_ or []), pipeline_root)
        emit(res, as_json)

    def _gpus(*counts: int) -> None:
        for n in counts:
            if n not in (0, 1, 2, 4, 8):
                raise typer.BadParameter("GPU counts must be one of 0, 1, 2, 4, 8")

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
        eval_gpus: Annotated[int, typer.Option("--eval-gpus")] = 1,
        tune_gpus: Annotated[int, typer.Option("--tune-gpus")] = 1,
        image: ImageOpt = None,
        gpu_image: GpuImageOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Submit a run to Kubeflow (recompiled with the config's cluster settings and the chosen images).

        Refuses (exit 2, nothing sent) a config with local paths, loopback URLs or no student. Auth: a bearer
        token from KF_PIPELINES_TOKEN or the file at KF_PIPELINES_SA_TOKEN_PATH; namespace and ServiceAccount
        from cluster.namespace / cluster.service_account. With --wait, exit 1 when the run fails or the gain is
        below --min-gain.
        """
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.pipeline import submit as do_submit

        _gpus(eval_gpus, tune_gpus)
        res = do_submit(
            load_config(config, set_ or []),
            host,
            pipeline=pipeline,
            experiment=experiment,
            wait=wait,
            min_gain=min_gain,
            eval_gpus=eval_gpus,
            tune_gpus=tune_gpus,
            image=image,
            gpu_image=gpu_image,
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
        image: ImageOpt = None,
        gpu_image: GpuImageOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create the pipeline in KFP, or add a new version when it already exists."""
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.pipeline import upload as do_upload

        res = do_upload(
            load_config(config, set_ or []),
            host,
            pipeline=pipeline,
            version=version,
            image=image,
            gpu_image=gpu_image,
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
        eval_gpus: Annotated[int, typer.Option("--eval-gpus")] = 1,
        tune_gpus: Annotated[int, typer.Option("--tune-gpus")] = 1,
        image: ImageOpt = None,
        gpu_image: GpuImageOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Upload/version the pipeline and create a recurring run (each run gets its own run id)."""
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.pipeline import schedule as do_schedule

        _gpus(eval_gpus, tune_gpus)
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
        )
        emit(res, as_json)
