"""How `lora.restarts` chooses and how many run at once (`edtune.stages.restarts`); the training itself is tested
end to end in tests/e2e/test_tune_restarts.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune import io
from edtune.config import load_config
from edtune.stages.restarts import (
    RestartScore,
    best_restart,
    read_score,
    restart_dir,
    restart_processes,
    restart_seed,
)


def _score(k: int, acc: float) -> RestartScore:
    return RestartScore(restart=k, seed=k, job="j", val_accuracy=acc, val_n=100, tune={})


def test_the_best_validation_score_is_kept_and_ties_go_to_the_earliest_restart() -> None:
    assert best_restart([_score(0, 0.74), _score(1, 0.93), _score(2, 0.90)]).restart == 1
    assert best_restart([_score(0, 0.80), _score(1, 0.93), _score(2, 0.93)]).restart == 1
    assert best_restart([_score(0, 0.5)]).restart == 0


def test_a_finished_restart_is_resumed_only_for_the_same_job(tmp_path: Path) -> None:
    round_dir = str(tmp_path / "round-01")
    score = RestartScore(restart=1, seed=2, job="abc", val_accuracy=0.9, val_n=100, tune={})
    io.write_json(io.join(restart_dir(round_dir, 1), "score.json"), score.model_dump(mode="json"))
    assert read_score(round_dir, 1, "abc") == score
    assert read_score(round_dir, 1, "other inputs") is None, "a score of another tune must be retrained"
    assert read_score(round_dir, 0, "abc") is None


def test_restart_k_of_round_r_uses_the_single_run_seed_of_run_seed_plus_k() -> None:
    cfg = load_config(None, env={}, base={"seed": 7})
    assert [restart_seed(cfg, 1, k) for k in range(3)] == [8, 9, 10]
    assert restart_seed(cfg, 2, 0) == 9  # round r of a single run trains with seed + r


@pytest.mark.parametrize(
    ("device", "threads", "asked", "pending", "cores", "expected"),
    [
        ("cpu", 1, 0, 4, 2, 2),  # one per free core
        ("cpu", 1, 0, 1, 8, 1),  # never more than the restarts left
        ("cpu", 2, 0, 4, 8, 4),  # each restart's torch threads count
        ("cpu", 0, 0, 4, 8, 1),  # torch's default threads take every core: one at a time
        ("cuda", 1, 0, 4, 8, 1),  # one GPU: one after another
        ("cpu", 1, 3, 4, 2, 3),  # an explicit setting wins
    ],
)
def test_how_many_restarts_run_at_once(
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    threads: int,
    asked: int,
    pending: int,
    cores: int,
    expected: int,
) -> None:
    import edtune.stages.restarts as restarts

    monkeypatch.setattr(restarts, "_usable_cores", lambda: cores)
    monkeypatch.setattr(restarts, "_cuda", lambda: False)
    cfg = load_config(
        None,
        env={},
        base={
            "student": {"device": device, "torch_threads": threads},
            "lora": {"restarts": 4, "restart_processes": asked},
        },
    )
    assert restart_processes(cfg, pending) == expected
