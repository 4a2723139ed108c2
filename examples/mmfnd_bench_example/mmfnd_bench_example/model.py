"""A small gated-fusion detector: text and image features projected to one width, mixed by a learned
per-dimension gate, then classified. Small enough to read in one sitting; it uses every part of the
model surface (config dataclass, ``requires``, ``forward`` with logits/representation/losses,
``search_space``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput, cross_entropy_terms
from benchmark.registry import MODELS


@dataclass
class GatedFusionConfig(ModelConfig):
    """Defaults play the role of a paper's stated settings; variants and sweeps override them."""

    hidden: int = 64  # width of both projections and of the fused representation
    use_gate: bool = True  # False: average the modalities (the "w/o gate" variant)
    dropout: float = 0.1
    lr: float = 1e-3
    batch_size: int = 32


@MODELS.register("gated_fusion")
class GatedFusion(DetectorModel):
    description = "Example plugin: gated fusion of pooled text and image features"
    paper = "none (example of the plugin surface)"
    config_class: ClassVar[type[ModelConfig]] = GatedFusionConfig
    requires = frozenset({"text_pooled", "image_pooled"})  # batch keys this model reads

    def __init__(self, config: GatedFusionConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        self.text = nn.Sequential(nn.Linear(dims.text_dim, config.hidden), nn.ReLU(), nn.Dropout(config.dropout))
        self.image = nn.Sequential(nn.Linear(dims.image_dim, config.hidden), nn.ReLU(), nn.Dropout(config.dropout))
        self.gate = nn.Linear(2 * config.hidden, config.hidden)
        self.classifier = nn.Linear(config.hidden, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        t, v = self.text(batch["text_pooled"].float()), self.image(batch["image_pooled"].float())
        g = torch.sigmoid(self.gate(torch.cat([t, v], dim=-1))) if self.config.use_gate else torch.full_like(t, 0.5)
        fused = g * t + (1 - g) * v
        logits = self.classifier(fused)
        losses = {}
        if "label" in batch:  # absent at prediction time
            losses["classification"] = cross_entropy_terms(logits, batch["label"])
            losses["total"] = losses["classification"]
        return ModelOutput(logits=logits, representation=fused, losses=losses)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {"lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
                "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
                "dropout": trial.suggest_float("dropout", 0.0, 0.5)}
