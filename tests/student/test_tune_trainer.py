"""The tune stage on transformers.Trainer: same work as the hand-written loop, reproducible, preemption-safe.

Every test trains the tiny Qwen2-VL on CPU with one torch thread (conftest). A run is identified by the sha256 of
its `adapter_model.safetensors`: equal digests mean bit-identical adapters.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edtune.config import LoraConfig
from edtune.errors import StorageError
from edtune.student import load_student
from edtune.student.tune_checkpoint import POINTER, TunePreempted

from .conftest import cfg_for, support_samples

FAMILY = "qwen2-vl"
LORA = LoraConfig(max_steps=8, batch_size=2, checkpoint_every=2, lr=3e-3, answer_weight=5.0)  # tiny preset


def _sha(res: Any) -> str:
    return hashlib.sha256((Path(res.adapter_dir) / "adapter_model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def student(tiny_dirs: dict[str, Path]) -> Any:
    return load_student(str(tiny_dirs[FAMILY]), cfg_for(FAMILY))


@pytest.fixture(scope="module")
def reference(student: Any, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An uninterrupted Trainer run with no checkpoint store: what every resumed run must end with."""
    return student.tune(support_samples(images), str(tmp_path_factory.mktemp("ref") / "a"), LORA, seed=5)


def test_trainer_path_trains_bit_for_bit_what_the_hand_written_loop_trains(
    student: Any, images: dict[str, str], reference: Any, tmp_path: Path
) -> None:
    loop = student.tune(
        support_samples(images), str(tmp_path / "loop"), LORA.model_copy(update={"trainer": "loop"}), seed=5
    )
    assert reference.trainer == "transformers.Trainer" and loop.trainer == "loop"
    assert _sha(loop) == _sha(reference)
    assert loop.loss_curve == reference.loss_curve and loop.lr_curve == reference.lr_curve


def test_adapter_sha256_is_identical_for_a_seed_and_differs_for_another(
    student: Any, images: dict[str, str], reference: Any, tmp_path: Path
) -> None:
    again = student.tune(support_samples(images), str(tmp_path / "b"), LORA, seed=5)
    other = student.tune(support_samples(images), str(tmp_path / "c"), LORA, seed=6)
    assert _sha(again) == _sha(reference)
    assert _sha(other) != _sha(reference)
    files = sorted(p.name for p in Path(again.adapter_dir).iterdir())
    assert "adapter_model.safetensors" in files and "edtune_adapter.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))]


def test_tune_result_carries_training_metrics_per_step(reference: Any) -> None:
    assert reference.steps == 8 and len(reference.loss_curve) == 8 and len(reference.lr_curve) == 8
    assert reference.lr_curve[0] == pytest.approx(LORA.lr)  # warm-up of one step, then cosine decay
    assert reference.lr_curve[-1] < reference.lr_curve[1]
    assert reference.samples == 16 and reference.samples_per_s > 0 and reference.tokens_per_s > 0
    assert reference.peak_rss_mb > 0 and reference.processes == 1
    assert not reference.bf16 and not reference.gradient_checkpointing  # CPU defaults
    assert reference.resumed_from_step is None and reference.checkpoints_saved == 0


def test_sigterm_saves_a_checkpoint_stops_and_a_rerun_resumes_to_the_same_adapter(
    student: Any, images: dict[str, str], reference: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Trainer

    ckpt = str(tmp_path / "ckpt")
    original = Trainer.training_step
    calls = {"n": 0}

    def term_at_third_step(self: Any, *a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # during step 3 (checkpoint_every=2: step 2 is already in the store)
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, *a, **kw)

    monkeypatch.setattr(Trainer, "training_step", term_at_third_step)
    with pytest.raises(TunePreempted, match="step 3 of 8"):
        student.tune(support_samples(images), str(tmp_path / "a"), LORA, seed=5, checkpoint_uri=ckpt)
    ptr = json.loads((Path(ckpt) / POINTER).read_text())
    assert (
        ptr["step"] == 3
    )  # SIGTERM checkpoints at the end of the step it arrived in, not at the last multiple
    assert sorted(p.name for p in Path(ckpt).iterdir()) == [POINTER, "step-000003"]  # older steps pruned
    assert not any(Path(ckpt).rglob("training_args.bin"))  # no pickles leave the pod
    monkeypatch.setattr(Trainer, "training_step", original)

    resumed = student.tune(support_samples(images), str(tmp_path / "b"), LORA, seed=5, checkpoint_uri=ckpt)
    assert resumed.resumed_from_step == 3
    assert resumed.samples == 10  # only the 5 remaining steps were trained
    assert resumed.loss_curve == reference.loss_curve  # the curve spans the whole run, across the resume
    assert _sha(resumed) == _sha(reference)


def test_a_checkpoint_of_another_job_is_ignored_and_a_corrupt_one_refused(
    student: Any, images: dict[str, str], tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt"
    short = LORA.model_copy(update={"max_steps": 2, "checkpoint_every": 1})
    # the last step saves no checkpoint (the adapter is the result), so a 2-step run leaves step 1 behind
    student.tune(support_samples(images), str(tmp_path / "a"), short, seed=5, checkpoint_uri=str(ckpt))
    assert json.loads((ckpt / POINTER).read_text())["step"] == 1

    other_seed = student.tune(
        support_samples(images), str(tmp_path / "b"), short, seed=9, checkpoint_uri=str(ckpt)
    )
    assert other_seed.resumed_from_step is None

    student.tune(support_samples(images), str(tmp_path / "c"), short, seed=5, checkpoint_uri=str(ckpt))
    ptr = json.loads((ckpt / POINTER).read_text())
    opt = ckpt / ptr["dir"] / "optimizer.pt"
    opt.write_bytes(opt.read_bytes()[:-8] + b"tampered")
    with pytest.raises(StorageError, match="sha256 mismatch"):
        student.tune(support_samples(images), str(tmp_path / "d"), short, seed=5, checkpoint_uri=str(ckpt))


_CHILD = """
import sys, time
import torch
torch.set_num_threads(1)
from transformers import Trainer
from edtune.config import LoraConfig
from edtune.schemas import SupportSample
from edtune.student import load_student
from edtune.config import StudentConfig

model, samples_json, out, ckpt, lora_json = sys.argv[1:6]
original = Trainer.training_step
def slow(self, *a, **kw):  # slow enough that the parent can kill between two checkpoints
    time.sleep(0.25)
    return original(self, *a, **kw)
Trainer.training_step = slow
st = load_student(model, StudentConfig(family="qwen2-vl", max_new_tokens=12, batch_size=4))
samples = [SupportSample.model_validate(s) for s in __import__("json").loads(samples_json)]
st.tune(samples, out, LoraConfig.model_validate_json(lora_json), seed=5, checkpoint_uri=ckpt)
print("FINISHED", flush=True)
"""


def test_sigkill_mid_tune_then_rerun_resumes_to_the_uninterrupted_adapter(
    student: Any, tiny_dirs: dict[str, Path], images: dict[str, str], reference: Any, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt"
    samples = support_samples(images)
    payload = json.dumps([s.model_dump(mode="json", by_alias=True) for s in samples])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(tiny_dirs[FAMILY]),
            payload,
            str(tmp_path / "a"),
            str(ckpt),
            LORA.model_dump_json(),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    step = 0
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if (ckpt / POINTER).is_file():
                step = json.loads((ckpt / POINTER).read_text())["step"]
                if step >= 4:
                    break
            time.sleep(0.05)
        assert child.poll() is None, "the child finished before it could be killed mid-tune"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert 4 <= step < LORA.max_steps and not (tmp_path / "a" / "adapter_model.safetensors").exists()

    resumed = student.tune(samples, str(tmp_path / "b"), LORA, seed=5, checkpoint_uri=str(ckpt))
    assert resumed.resumed_from_step is not None and resumed.resumed_from_step >= step
    assert resumed.loss_curve == reference.loss_curve
    assert _sha(resumed) == _sha(reference)


@pytest.mark.slow
def test_two_gloo_processes_train_the_same_global_batches_as_one(
    student: Any, images: dict[str, str], tmp_path: Path
) -> None:
    """torchrun, 2 CPU processes over gloo, batch 4 = 2 per rank: the same adapter as one process, up to the
    order of float additions in the gradient all-reduce. Slow: two more interpreters import torch and
    transformers and load the student (~25 s idle, 95 s on a loaded 2-core machine)."""
    import torch
    from safetensors.torch import load_file

    lora = LORA.model_copy(update={"max_steps": 2, "batch_size": 4})
    single = student.tune(support_samples(images), str(tmp_path / "one"), lora, seed=5)
    ddp = student.tune(
        support_samples(images), str(tmp_path / "two"), lora.model_copy(update={"processes": 2}), seed=5
    )
    wa, wb = (load_file(str(Path(r.adapter_dir) / "adapter_model.safetensors")) for r in (single, ddp))
    assert ddp.processes == 2 and ddp.samples == single.samples == 8
    assert ddp.loss_curve == pytest.approx(single.loss_curve, rel=1e-4)
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    tuned = load_student(str(student.base_dir), cfg_for(FAMILY), adapter=ddp.adapter_dir)
    assert tuned.model is not None  # loading checks the adapter is active on this base


def test_the_rank_entry_point_rebuilds_the_job_and_trains_the_same_adapter(
    student: Any, images: dict[str, str], reference: Any, tmp_path: Path
) -> None:
    """The fast variant of the multi-process path: the job file the launcher hands torchrun, run by the rank
    entry point in this process (no process group: a world of one), gives the single-process adapter."""
    from edtune.student import tune_worker
    from edtune.student.launch import TuneJob

    samples = support_samples(images)
    data = tmp_path / "samples.jsonl"
    data.write_text("".join(s.model_dump_json(by_alias=True) + "\n" for s in samples))
    job = TuneJob(
        base_dir=str(student.base_dir),
        family=FAMILY,
        student=student.cfg,
        cache_dir=student.cache_dir,
        samples_jsonl=str(data),
        out_dir=str(tmp_path / "a"),
        lora=LORA,
        adapter_in=None,
        seed=5,
        checkpoint_uri=None,
        log_uri=None,
        work_dir=str(tmp_path / "work"),
        result=str(tmp_path / "result.json"),
    )
    (tmp_path / "job.json").write_text(job.model_dump_json())
    tune_worker.main(str(tmp_path / "job.json"))
    from edtune.student.types import TuneResult

    res = TuneResult.model_validate_json((tmp_path / "result.json").read_text())
    assert res.loss_curve == reference.loss_curve
    assert _sha(res) == _sha(reference)


@pytest.mark.parametrize(
    ("setting", "same_adapter"),
    [
        ({"gradient_checkpointing": True}, True),  # recomputation in fp32 on CPU changes nothing
        (
            {"bf16": True, "max_steps": 3},
            False,
        ),  # the GPU path's autocast, run on CPU: trains, LoRA weights stay fp32
    ],
)
def test_gpu_path_settings_train_on_cpu(
    student: Any, images: dict[str, str], reference: Any, tmp_path: Path, setting: dict, same_adapter: bool
) -> None:
    import math

    from safetensors.torch import load_file

    res = student.tune(support_samples(images), str(tmp_path / "a"), LORA.model_copy(update=setting), seed=5)
    assert res.gradient_checkpointing == setting.get("gradient_checkpointing", False)
    assert res.bf16 == setting.get("bf16", False)
    assert all(math.isfinite(x) for x in res.loss_curve) and res.loss_curve[-1] < res.loss_curve[0]
    weights = load_file(str(Path(res.adapter_dir) / "adapter_model.safetensors"))
    assert {str(w.dtype) for w in weights.values()} == {"torch.float32"}
    assert (_sha(res) == _sha(reference)) is same_adapter


def test_tensorboard_events_are_written_to_the_log_uri_when_tensorboard_is_importable(
    student: Any, images: dict[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("tensorboard")
    res = student.tune(
        support_samples(images), str(tmp_path / "a"), LORA, seed=5, log_uri=str(tmp_path / "tb")
    )
    assert res.tensorboard_uri == str(tmp_path / "tb")
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))
