"""`--adapter NAME=URI` parsing: what `edtune serve` accepts, and the InputError (exit 2) for the rest."""

from __future__ import annotations

import pytest

from edtune.errors import InputError
from edtune.serve.api import ChatRequest, parse_adapter_spec

ADAPTER_SPECS = [
    ("left-right=./a", ("left-right", "./a")),
    ("x=s3://bucket/adapters/x/v1", ("x", "s3://bucket/adapters/x/v1")),
    ("org/name:v2=/tmp/a=b", ("org/name:v2", "/tmp/a=b")),
]


@pytest.mark.parametrize(("text", "expected"), ADAPTER_SPECS)
def test_adapter_specs_parse_name_and_uri(text: str, expected: tuple[str, str]) -> None:
    spec = parse_adapter_spec(text)
    assert (spec.name, spec.uri) == expected


@pytest.mark.parametrize("text", ["noequals", "=./a", "name=", "base=./a", "bad name=./a"])
def test_bad_adapter_specs_are_input_errors(text: str) -> None:
    with pytest.raises(InputError):
        parse_adapter_spec(text)


# (request body, the adapter it picks): TGI's adapter_id wins over model; nothing named is the base
TARGETS = [
    ({"model": "a", "messages": [{"role": "user", "content": "x"}]}, "a"),
    ({"model": "tgi", "adapter_id": "a", "messages": [{"role": "user", "content": "x"}]}, "a"),
    ({"messages": [{"role": "user", "content": "x"}]}, "base"),
    (
        {
            "model": "a",
            "temperature": 0,
            "top_p": 1,
            "seed": 3,
            "messages": [{"role": "user", "content": "x"}],
        },
        "a",
    ),
]


@pytest.mark.parametrize(("body", "target"), TARGETS)
def test_the_request_names_its_adapter_by_model_or_adapter_id(body: dict, target: str) -> None:
    assert ChatRequest.model_validate(body).target() == target
