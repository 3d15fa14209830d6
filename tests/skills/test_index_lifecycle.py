"""Index lifecycle on real Milvus Lite: resume after SIGKILL, text mode, and errors that name the URI and the fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edtune.errors import InputError, ServiceError
from edtune.skills.embed import Embedder
from edtune.skills.index import SkillIndex

from .conftest import TAGS, pool, sample

N_KILL = 600


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHILD = textwrap.dedent(
    """
    import sys
    from edtune.schemas import SupportSample
    from edtune.skills.index import SkillIndex

    def samples():
        for i in range({n}):
            if i and i % 50 == 0:
                print("consumed", i, flush=True)
            yield SupportSample.model_validate({{
                "id": f"p{{i:05d}}",
                "conversations": [{{"from": "human", "value": f"<image> question {{i}}"}},
                                  {{"from": "gpt", "value": f"answer about topic {{i % 37}}"}}],
            }})

    SkillIndex(sys.argv[1], "support").ingest(samples(), None, batch=50, progress=False)
    print("finished", flush=True)
    """
)


def _pool_ids(n: int) -> list:
    from edtune.schemas import SupportSample

    return [
        SupportSample.model_validate(
            {
                "id": f"p{i:05d}",
                "conversations": [
                    {"from": "human", "value": f"<image> question {i}"},
                    {"from": "gpt", "value": f"answer about topic {i % 37}"},
                ],
            }
        )
        for i in range(n)
    ]


def test_a_killed_ingest_resumes_without_duplicates_or_gaps(tmp_path: Path, embedder: Embedder):
    db = tmp_path / "kill.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(n=N_KILL))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:  # kill once a few batches have been inserted, mid-stream
        if line.startswith("consumed"):
            seen = int(line.split()[1])
            if seen >= 250:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert seen >= 250, "the child finished or died before the kill"

    idx = SkillIndex(str(db), "support", embedder=embedder)
    partial = idx.count()
    assert 0 < partial < N_KILL
    m = idx.ingest(_pool_ids(N_KILL), None, batch=64, progress=False)
    assert m.skipped == partial and m.inserted == N_KILL - partial
    assert m.count == N_KILL == len(idx.ids())
    again = idx.ingest(_pool_ids(N_KILL), None, batch=64, progress=False)
    assert (again.inserted, again.skipped, again.count) == (0, N_KILL, N_KILL)


def test_text_mode_indexes_the_conversation_itself(tmp_path: Path, embedder: Embedder):
    idx = SkillIndex(str(tmp_path / "t.db"), "pool_text", embedder=embedder)
    samples = [
        sample("a", "How many circles are there?", "There are three circles."),
        sample("b", "What colour is the square?", "The square is red."),
    ]
    m = idx.ingest(samples, None, progress=False)
    assert (m.mode, m.count, m.inserted) == ("text", 2, 2)
    assert idx.search("circles", mode="bm25", k=1)[0][0] == "a"
    assert "token" not in m.model_dump_json().lower()


def test_untagged_samples_fall_back_to_their_conversation_text(tmp_path: Path, embedder: Embedder):
    idx = SkillIndex(str(tmp_path / "u.db"), "support", embedder=embedder)
    samples = [*pool(), sample("extra", "Is the moon visible?", "Yes, the moon is up.")]
    m = idx.ingest(samples, TAGS, progress=False)
    assert (m.untagged, m.count) == (1, len(TAGS) + 1)
    assert idx.search("moon", mode="bm25", k=1)[0][0] == "extra"


def test_search_on_a_missing_collection_says_how_to_build_it(tmp_path: Path, embedder: Embedder):
    idx = SkillIndex(str(tmp_path / "m.db"), "nothing_here", embedder=embedder)
    with pytest.raises(InputError, match=r"nothing_here.*does not exist.*edtune index"):
        idx.search("x", mode="bm25", k=1)
    assert idx.count() == 0 and idx.ids() == set()


def test_a_collection_of_another_dimension_is_refused(tmp_path: Path, embedder: Embedder):
    from pymilvus import DataType, MilvusClient

    db = tmp_path / "dim.db"
    c = MilvusClient(str(db))
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("skills", DataType.VARCHAR, max_length=64, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=8)
    ip = c.prepare_index_params()
    ip.add_index(field_name="dense", index_type="FLAT", metric_type="COSINE")
    ip.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    c.create_collection("support", schema=schema, index_params=ip)
    c.close()
    idx = SkillIndex(str(db), "support", embedder=embedder)
    with pytest.raises(InputError, match=r"dim\.db.*dimension mismatch.*dim 8.*384"):
        idx.ingest(pool(), TAGS, progress=False)


BAD_TARGETS = [
    ("parent is a file", lambda tmp: str(tmp / "afile" / "x.db"), InputError, "cannot create the directory"),
    ("not a .db path", lambda tmp: str(tmp / "x.sqlite"), InputError, "must be a file path ending in .db"),
    ("server down", lambda tmp: f"http://127.0.0.1:{free_port()}", ServiceError, "server is running"),
]


@pytest.mark.parametrize(("name", "make", "exc", "fix"), BAD_TARGETS, ids=[b[0] for b in BAD_TARGETS])
def test_unusable_milvus_targets_raise_errors_naming_the_uri_never_the_token(
    tmp_path, embedder, name, make, exc, fix
):
    (tmp_path / "afile").write_text("not a dir")
    uri = make(tmp_path)
    idx = SkillIndex(uri, "support", embedder=embedder, token="sekret-token", timeout_s=2)
    with pytest.raises(exc) as info:
        idx.count()
    msg = str(info.value)
    assert uri in msg and fix in msg
    assert "sekret-token" not in msg


@pytest.mark.parametrize("name", ["", "1abc", "has-dash", "white space"])
def test_invalid_collection_names_are_refused_up_front(name: str, embedder: Embedder):
    with pytest.raises(InputError, match="collection name"):
        SkillIndex("./x.db", name, embedder=embedder)


def test_manifest_uri_drops_credentials(embedder: Embedder):
    idx = SkillIndex("http://user:pw@127.0.0.1:1", "support", embedder=embedder, token="t")
    assert idx.where == "http://127.0.0.1:1"
    assert json.dumps(idx.where).count("pw") == 0
