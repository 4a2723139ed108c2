"""Shared builder for the pooled-feature MLP baselines of the NovEmoFake paper (section 5.2):
text-only BERT, image-only ResNet18 and BERT+ResNet18.

Each reads pooled encoder features of the target item and, with ``use_background``, the same pooled
features of the source (background-knowledge) side, concatenated before an MLP with two hidden
layers (512 and 128 units, tanh, as the paper states for the text-only model and "the same
feed-forward network" for the others) and a two-way output layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from benchmark.deviations import Deviation
from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput
from baselines.common import MLP, check_background, classifier_output


FROZEN_POOLED = Deviation(
    "encoders", "BERT (768-d [CLS]) and ResNet18 (512-d) representations",
    "pooled features of the run's frozen encoders (offline MiniLM 384-d, EfficientNet-Lite0 1280-d unless "
    "paper encoders are chosen)", "")


@dataclass
class PooledMLPConfig(ModelConfig):
    use_background: bool = False  # also read the source side (NovEmoFake "WBG")
    hidden_sizes: tuple[int, ...] = (512, 128)  # NovEmoFake 5.2: two feed-forward layers, 512 and 128
    activation: str = "tanh"  # NovEmoFake 5.2: tanh
    dropout: float = 0.0  # not stated in the paper


class PooledMLPModel(DetectorModel):
    """MLP over concatenated pooled features; subclasses name which pooled keys they read."""

    config_class: ClassVar[type[ModelConfig]] = PooledMLPConfig
    target_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: PooledMLPConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        check_background(type(self).__name__, config.use_background, dims)
        self.input_keys: tuple[str, ...] = self.target_keys + (
            tuple("source_" + k for k in self.target_keys) if config.use_background else ())
        self.requires = frozenset(self.input_keys)  # instance-level: depends on use_background
        width = sum(self._key_dim(k, dims) for k in self.input_keys)
        self.input_dim = width
        self.head = MLP(width, config.hidden_sizes, 2, config.activation, config.dropout)

    @staticmethod
    def _key_dim(key: str, dims: FeatureDims) -> int:
        return dims.text_dim if "text" in key else dims.image_dim

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        x = torch.cat([batch[k] for k in self.input_keys], dim=-1)
        logits, rep = self.head(x)
        return classifier_output(logits, rep, batch)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }
