"""A results file records `git_dirty`: untracked files count (outside ignored paths), the file being written
does not."""

from __future__ import annotations

import subprocess
from pathlib import Path

from benchmarks.bookkeeping import dirty_paths


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_untracked_files_make_the_tree_dirty_except_ignored_ones_and_the_file_being_written(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("cache/\n")
    (repo / "code.py").write_text("x = 1\n")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "init")
    assert dirty_paths(repo=repo) == []

    (repo / "cache").mkdir()
    (repo / "cache" / "big.bin").write_text("ignored")
    assert dirty_paths(repo=repo) == []

    (repo / "results").mkdir()
    (repo / "results" / "study.json").write_text("{}")
    assert dirty_paths(repo=repo) == ["results/study.json"]
    assert dirty_paths([repo / "results" / "study.json"], repo=repo) == []

    (repo / "helper.py").write_text("y = 2\n")  # untracked code the study imports: dirty
    assert dirty_paths([repo / "results" / "study.json"], repo=repo) == ["helper.py"]
    (repo / "code.py").write_text("x = 2\n")
    assert sorted(dirty_paths([repo / "results" / "study.json"], repo=repo)) == ["code.py", "helper.py"]
