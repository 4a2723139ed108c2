"""MCNN: Multimodal Consistency Neural Network (Xue et al., Information Processing & Management 58(5),
2021, "Detecting fake news by exploring the consistency of multimodal data"; no public code).

Five sub-networks in the paper: text features (BERT) and visual semantic features (ResNet-50), each
mapped into one shared space; visual tampering features (error-level analysis of the JPEG, then a
CNN); a similarity measurement between the shared text and image vectors (mismatched pairs); and a
fusion module that classifies their combination. Here:

* text and image: pooled frozen features -> two fully connected layers -> the shared space (256-d);
* similarity: ``s = (1 + cos(t, v)) / 2`` in [0, 1];
* tampering: the error-level-analysis map of the image file (``benchmark.encoders.ela``: JPEG
  re-saved at quality 90, absolute difference, averaged to 32 x 32 cells, through the feature cache
  as batch key ``image_ela``), scaled by ``ela_scale`` and read by a two-layer CNN to the shared width;
* fusion: ``[s * t, s * v, tampering]`` (our reading: a mismatched pair lowers the weight of its
  semantic evidence, the tampering evidence is kept), then an MLP classifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.deviations import NO_CODE, Deviation
from benchmark.encoders.ela import GRID as ELA_GRID
from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput
from benchmark.models.layers import FastDropout
from benchmark.registry import MODELS
from baselines.common import classifier_output


@dataclass
class MCNNConfig(ModelConfig):
    lr: float = 1e-3
    batch_size: int = 64
    shared_dim: int = 256
    classifier_hidden: int = 64
    dropout: float = 0.5
    ela_channels: tuple[int, int] = (16, 32)  # the tampering CNN's two conv layers
    ela_scale: float = 10.0  # ELA differences are small (mostly < 0.1 of the range): amplified, as ELA views are


def consistency(text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """MCNN's similarity measurement mapped to [0, 1]: ``(1 + cos(text, image)) / 2`` per row (B,)."""
    return (1.0 + F.cosine_similarity(text, image, dim=-1, eps=1e-8)) / 2.0


@MODELS.register("mcnn")
class MCNN(DetectorModel):
    config_class = MCNNConfig
    requires = frozenset({"text_pooled", "image_pooled", "image_ela"})
    extra_image_features = ("ela",)
    description = "Consistency-weighted text and image features plus an error-level-analysis tampering CNN"
    paper = "Xue et al., MCNN, IP&M 2021"
    deviations = (
        Deviation("visual tampering branch", "error-level analysis (JPEG re-saved, difference image) of the "
                  "image at its resolution, then a CNN", "ELA at quality 90 averaged to a 32 x 32 map (cached per "
                  "image), x10, two conv layers (16, 32 channels) + FC; items without an image read a zero map",
                  NO_CODE),
        Deviation("inputs", "BERT text features and ResNet-50 visual semantic features",
                  "pooled frozen features of the run's encoders, two FC layers each to shared_dim (256)",
                  NO_CODE),
        Deviation("fusion", "similarity-aware fusion of text, visual semantic and tampering features",
                  "[s * t, s * v, tampering] with s = (1 + cos) / 2, then an MLP (our reading of the weighting)",
                  NO_CODE),
        Deviation("model selection", "not stated", "clean protocol: validation split; test once", NO_CODE),
    )

    def __init__(self, config: MCNNConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        self.text_net = nn.Sequential(nn.Linear(dims.text_dim, c.shared_dim), nn.ReLU(), FastDropout(c.dropout),
                                      nn.Linear(c.shared_dim, c.shared_dim), nn.ReLU())
        self.image_net = nn.Sequential(nn.Linear(dims.image_dim, c.shared_dim), nn.ReLU(), FastDropout(c.dropout),
                                       nn.Linear(c.shared_dim, c.shared_dim), nn.ReLU())
        c1, c2 = c.ela_channels
        self.tamper_net = nn.Sequential(
            nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(c2 * (ELA_GRID // 4) ** 2, c.shared_dim), nn.ReLU())
        self.classifier_body = nn.Sequential(nn.Linear(3 * c.shared_dim, c.classifier_hidden), nn.ReLU(),
                                             FastDropout(c.dropout))
        self.classifier_out = nn.Linear(c.classifier_hidden, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        text = self.text_net(batch["text_pooled"])
        image = self.image_net(batch["image_pooled"])
        s = consistency(text, image).unsqueeze(1)
        tamper = self.tamper_net(self.ela_image(batch["image_ela"]) * self.config.ela_scale)
        rep = self.classifier_body(torch.cat([s * text, s * image, tamper], dim=1))
        out = classifier_output(self.classifier_out(rep), rep, batch)
        out.diagnostics["consistency"] = s.squeeze(1).detach()
        return out

    @staticmethod
    def ela_image(cells: torch.Tensor) -> torch.Tensor:
        """(B, GRID*GRID, 3) row-major ELA cells -> (B, 3, GRID, GRID) image for the CNN."""
        return cells.float().transpose(1, 2).reshape(cells.size(0), 3, ELA_GRID, ELA_GRID)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
        }
