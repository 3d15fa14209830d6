"""record_status: the exit task of the pipeline's ExitHandler — records how the run ended, success or failure."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="100m", memory="256Mi", retries=2, cache=False)


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def record_status_op(output_uri: str, run_id: str, status: dsl.PipelineTaskFinalStatus) -> str:
    """Run `edtune.pipeline.record_run_status`: write `<output>/<run_id>/status.json` with the final state.

    Returns:
        The URI of the status file.
    """
    from edtune import log
    from edtune.pipeline.taskenv import record_run_status

    log.setup()
    return record_run_status(
        output_uri,
        run_id,
        {
            "state": status.state,
            "pipeline_job": status.pipeline_job_resource_name,
            "failed_task": status.pipeline_task_name,
            "error_code": status.error_code,
            "error_message": status.error_message,
        },
    )
