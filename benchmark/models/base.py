"""The surface every detector shares, so one engine trains COOLANT, NovEmoFake and every baseline.

A model: builds its layers from ``FeatureDims`` and a config dataclass (paper defaults), maps a batch
(see ``benchmark.features``) to a ``ModelOutput`` with logits, the representation before its
classifier (for t-SNE) and a dict of named loss terms (``total`` plus each component, so MLflow shows
them), declares its Optuna search space, and may need several optimisers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from benchmark.activity import ActivityAccumulator, item_columns
from benchmark.features import FeatureDims, FeatureSplits


@dataclass
class ModelConfig:
    """Training hyper-parameters every model has; models subclass it with their own fields."""

    lr: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 50
    patience: int = 5  # early-stopping patience in epochs on the validation metric (clean protocol)
    weight_decay: float = 0.0
    optimizer: str = "adam"  # adam | adamw | sgd

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


@dataclass
class ModelOutput:
    logits: torch.Tensor  # (B, 2): index 1 = fake
    representation: torch.Tensor  # (B, D) features right before the classifier
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # 'total' + components when labels given
    diagnostics: dict[str, torch.Tensor] = field(default_factory=dict)  # per-item extras (e.g. COOLANT's g)


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Optimiser by name; one place so configs and sweeps share the same choices.

    Adam and AdamW use torch's fused kernel (CPU and CUDA): the same update to float rounding
    (tests/test_engine.py), about 3x faster per step than the per-parameter loop, which was ~10% of a
    COOLANT training step on one core (benchmarks/perf.py)."""
    params = [p for p in params if p.requires_grad]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose adam, adamw or sgd")


class DetectorModel(nn.Module):
    """Base class. Subclasses set ``config_class`` and ``requires`` and implement ``forward``."""

    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    requires: ClassVar[frozenset[str]] = frozenset()  # batch keys the model reads
    # per-image features computed from the image files beside the image encoder's (batch key
    # ``image_<name>``; names of ``benchmark.encoders.ela.EXTRA_IMAGE_ENCODERS``, e.g. MCNN's "ela")
    extra_image_features: ClassVar[tuple[str, ...]] = ()
    # inputs a user may supply and the model then reads (``benchmark.loading.optional_inputs``): "clip"
    # (--clip-path, FND-CLIP's real CLIP), "entities" (--entity-file, MKEMN's knowledge channels)
    optional_inputs: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    # how this implementation differs from its paper and the released code (benchmark.deviations)
    deviations: ClassVar[tuple[Any, ...]] = ()
    # the released files this implementation was last read against line by line ("owner/repo path@commit")
    checked_against: ClassVar[tuple[str, ...]] = ()
    # per-item weights the model puts in ModelOutput.diagnostics, as {key: column names} (a (B,) entry
    # has one name, a (B, k) entry k): their across-item spread is logged (benchmark.activity)
    activity_channels: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, config: ModelConfig, dims: FeatureDims) -> None:
        super().__init__()
        self.config = config
        self.dims = dims
        self._activity = ActivityAccumulator()

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def track_activity(self, diagnostics: dict[str, torch.Tensor]) -> None:
        """In training mode, add this batch's per-item weights (``activity_channels``) to the epoch's sums."""
        if self.training and not getattr(self, "_activity_paused", False):
            self._activity.add_columns(item_columns(diagnostics, self.activity_channels))

    def epoch_diagnostics(self) -> dict[str, float]:
        """Scalars the model gathered over the last training epoch (logged per epoch); then reset.

        Default: ``<name>_mean`` and ``<name>_std`` over the epoch's training items of every weight that
        ``track_activity`` saw. The engine calls it once before training (discarding) and after each epoch.
        """
        return self._activity.summary(prefix="")

    # True: the engine calls ``training_step`` (the model steps its optimisers itself) instead of one
    # forward, one backward of losses["total"] and a step of every optimiser
    steps_itself: ClassVar[bool] = False

    def training_step(self, batch: dict[str, torch.Tensor], optimizers: list[torch.optim.Optimizer],
                      autocast) -> ModelOutput:  # pragma: no cover - only models with steps_itself
        """One training step on ``batch`` (zero_grad, forward under ``autocast()``, backward, step)."""
        raise NotImplementedError(f"{type(self).__name__} sets steps_itself but has no training_step")

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One optimiser by default; models needing several (e.g. COOLANT as released) override."""
        return [make_optimizer(self.config.optimizer, self.parameters(), self.config.lr,
                               self.config.weight_decay)]

    def prepare(self, features: FeatureSplits, context: "PrepareContext") -> None:
        """Hook run once before training with the feature splits (e.g. pre-training, PCA on train only).

        Must never look at ``features.test``.
        """

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        """Optuna search space: returns config overrides sampled from ``trial``."""
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
        }


@dataclass
class PrepareContext:
    """What a model's ``prepare`` hook may use: device, seed and a cache directory for artifacts."""

    device: torch.device
    seed: int
    cache_dir: Any  # pathlib.Path; pre-trained module artifacts are stored here keyed by content
    log_artifact: Any = None  # callable(path) logging to the cell's MLflow run, or None
    log_metrics: Any = None  # callable(dict, step) or None
    # callable(explicit folder or None) -> (image features, emotion labels), or raising
    # benchmark.emotion_set.EmotionSetUnavailable; see benchmark.emotion_set.EmotionSetProvider
    emotion_set: Any = None


def cross_entropy_terms(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over two-way softmax logits (Eq. 17 / Eq. 7 of the papers)."""
    return nn.functional.cross_entropy(logits, labels)
