"""`components.resources.apply` runs kfp's resource setters without their source reads, and changes nothing else.

kfp's setters call `inspect.stack()` only to name themselves in an error; apply swaps in a stack that reads the
frames without opening source files (a minute per compile in a process that has imported torch). The compiled
YAML is checked against the committed one elsewhere (test_compiled_pipeline); here: the error still names the
setter, and kfp's module gets its `inspect` back afterwards, on success and on failure.
"""

# no `from __future__ import annotations`: kfp reads the component's return annotation as a type
import inspect
from pathlib import Path

import pytest
from kfp import dsl
from kfp.dsl import pipeline_task

from components.resources import Resources, apply
from edtune.pipeline import compile_pipelines


@dsl.component(base_image="python:3.11-slim")
def _step() -> str:
    return "x"


@dsl.pipeline(name="inner")
def _inner() -> None:
    _step()


def test_a_setter_on_a_pipeline_task_still_names_itself_and_kfp_gets_inspect_back() -> None:
    with pytest.raises(ValueError, match=r"^set_cpu_request can only be used on single-step components"):

        @dsl.pipeline(name="outer")
        def _outer() -> None:
            apply(_inner(), Resources(cpu="1", memory="1Gi"))

    assert pipeline_task.inspect is inspect


def test_compiling_every_pipeline_leaves_kfp_its_own_inspect(tmp_path: Path) -> None:
    compile_pipelines(tmp_path)
    assert pipeline_task.inspect is inspect
    assert any(tmp_path.glob("*.yaml"))
