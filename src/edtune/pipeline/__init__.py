"""Kubeflow Pipelines: one graph for compile, local runs and submit; the spec checker; the cluster client.

- `graph`: find, build and compile the pipelines (`compile_pipelines`, `compile_run_spec`, image choice);
- `local`: run the compiled spec with kfp.local (`run_local`);
- `validate`: what a cluster run may be given (`validate_for_cluster`) and its pipeline parameters;
- `check`: the backend driver's rules applied to a compiled spec (`check_spec_file`, `FEATURES`, the floor);
- `kfp_api`, `client`: the KFP REST client and `submit` / `upload` / `schedule`;
- `taskenv`: what runs inside task pods (teacher detection, data fingerprint, journals, status, cache check);
- `cli`: the `edtune pipeline` command group.
"""

from edtune.pipeline.check import BACKEND_FLOOR, FEATURES, SpecReport, check_spec_file
from edtune.pipeline.client import schedule, submit, upload
from edtune.pipeline.graph import (
    ALIASES,
    PIPELINES,
    canonical,
    compile_pipelines,
    compile_run_spec,
    compiled_path,
    default_images,
    load_pipeline,
    repo_root,
    resolve_images,
    retarget_images,
)
from edtune.pipeline.kfp_api import Auth, make_client
from edtune.pipeline.local import PipelineRun, run_local
from edtune.pipeline.taskenv import (
    data_fingerprint,
    detect_teacher,
    journal_sync,
    record_run_status,
    require_writable_cache,
    resolve_teacher,
)
from edtune.pipeline.validate import cluster_arguments, is_loopback, pipeline_arguments, validate_for_cluster

__all__ = [
    "ALIASES",
    "BACKEND_FLOOR",
    "FEATURES",
    "PIPELINES",
    "Auth",
    "PipelineRun",
    "SpecReport",
    "canonical",
    "check_spec_file",
    "cluster_arguments",
    "compile_pipelines",
    "compile_run_spec",
    "compiled_path",
    "data_fingerprint",
    "default_images",
    "detect_teacher",
    "is_loopback",
    "journal_sync",
    "load_pipeline",
    "make_client",
    "pipeline_arguments",
    "record_run_status",
    "repo_root",
    "require_writable_cache",
    "resolve_images",
    "resolve_teacher",
    "retarget_images",
    "run_local",
    "schedule",
    "submit",
    "upload",
    "validate_for_cluster",
]
