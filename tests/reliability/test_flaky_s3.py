"""Flaky S3: our own fault proxy in front of the real moto S3 server, driven through edtune.io.

Every object written through the faults reads back identical, or the call fails with StorageError naming the
URI; retries are bounded (botocore's 5 attempts, plus edtune's 3 reads of a body cut short).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edtune.errors import EdtuneError, StorageError

from .fault_proxy import FaultProxy, Plan, always, burst, every
from .test_flaky_teacher import mixed

# ---------------------------------------------------------------- S3 (moto server)

S3_FAULTS = [
    ("refused connections", every(4, "refuse", 1)),
    ("resets mid-body", every(3, "reset", 1)),
    ("5xx burst", burst(2, 3, "503")),
    ("500 on every 4th request", every(4, "500", 1)),
    ("429 with Retry-After", every(4, "429", 1)),
    ("latency past the timeout", every(5, "slow", 1)),
    ("truncated bodies", every(3, "truncate", 1)),
    ("every kind mixed at 25%", mixed(1, 0.25)),
]


@pytest.fixture()
def s3_proxy(
    s3_bucket: str, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, FaultProxy]]:
    host, port = moto_server.removeprefix("http://").rsplit(":", 1)
    proxy = FaultProxy(host, int(port), retry_after=0.1, slow_s=2.0, refuse_s=0.2).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("EDTUNE_S3_TIMEOUT_S", "1")
    yield s3_bucket, proxy
    proxy.close()


@pytest.mark.parametrize(("name", "plan"), S3_FAULTS, ids=[c[0] for c in S3_FAULTS])
def test_storage_through_a_flaky_s3_round_trips_every_object_or_names_the_uri(
    name: str, plan: Plan, s3_proxy: tuple[str, FaultProxy]
) -> None:
    from edtune import io

    bucket, proxy = s3_proxy
    proxy.plan = plan
    objects = {f"s3://{bucket}/run/obj-{i:02d}.json": {"i": i, "pad": "x" * (i * 997)} for i in range(3)}
    failures: list[str] = []
    for uri, obj in objects.items():
        try:
            io.write_json(uri, obj)
        except StorageError as exc:
            assert uri in str(exc)
            failures.append(uri)
    for uri, obj in objects.items():
        if uri in failures:
            continue
        try:
            assert io.read_json(uri) == obj, f"{uri}: read back something else"
        except EdtuneError as exc:
            assert uri in str(exc)
            failures.append(uri)
    assert sum(proxy.injected.values()) > 0, "the plan injected nothing"
    assert not failures, f"bounded retries did not ride out {name}: {failures}"


def test_an_s3_down_for_good_fails_with_a_storage_error_naming_the_uri(
    s3_proxy: tuple[str, FaultProxy],
) -> None:
    from edtune import io

    bucket, proxy = s3_proxy
    proxy.plan = always("503")
    uri = f"s3://{bucket}/run/x.json"
    with pytest.raises(StorageError) as err:
        io.write_json(uri, {"a": 1})
    assert uri in str(err.value)
    assert proxy.requests <= 10, "retries are bounded"
