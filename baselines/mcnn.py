"""MCNN: Multimodal Consistency Neural Network (Xue et al., Information Processing & Management 58(5),
2021, "Detecting fake news by exploring the consistency of multimodal data"; no public code).

Five sub-networks in the paper: text features (BERT) and visual semantic features (ResNet-50), each
mapped into one shared space; visual tampering features (error-level analysis of the JPEG, then a
CNN); a similarity measurement between the shared text and image vectors (mismatched pairs); and a
fusion module that classifies their combination. Here:

* text and image: pooled frozen features -> two fully connected layers -> the shared space (256-d);
* similarity: ``s = (1 + cos(t, v)) / 2`` in [0, 1];
* fusion: the semantic features weighted by the consistency, ``[s * t, s * v]`` (our reading: a
  mismatched pair lowers the weight of its semantic evidence), then an MLP classifier;
* tampering: **missing**. Error-level analysis needs the image bytes, and the feature cache holds
  one frozen image encoder's output per image; the branch is declared absent (``deviations``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.deviations import NO_CODE, Deviation
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


def consistency(text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """MCNN's similarity measurement mapped to [0, 1]: ``(1 + cos(text, image)) / 2`` per row (B,)."""
    return (1.0 + F.cosine_similarity(text, image, dim=-1, eps=1e-8)) / 2.0


@MODELS.register("mcnn")
class MCNN(DetectorModel):
    config_class = MCNNConfig
    requires = frozenset({"text_pooled", "image_pooled"})
    description = "Shared-space text and image features weighted by their cosine consistency"
    paper = "Xue et al., MCNN, IP&M 2021"
    deviations = (
        Deviation("visual tampering branch (component missing)", "error-level analysis (JPEG re-saved, "
                  "difference image) followed by a CNN, one of the fused features",
                  "absent: the feature cache carries one frozen encoder's features per image, no pixels "
                  "and no ELA map", NO_CODE),
        Deviation("inputs", "BERT text features and ResNet-50 visual semantic features",
                  "pooled frozen features of the run's encoders, two FC layers each to shared_dim (256)",
                  NO_CODE),
        Deviation("fusion", "similarity-aware fusion of text, visual semantic and tampering features",
                  "[s * t, s * v] with s = (1 + cos) / 2, then an MLP (our reading of the weighting)", NO_CODE),
        Deviation("model selection", "not stated", "clean protocol: validation split; test once", NO_CODE),
    )

    def __init__(self, config: MCNNConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        self.text_net = nn.Sequential(nn.Linear(dims.text_dim, c.shared_dim), nn.ReLU(), FastDropout(c.dropout),
                                      nn.Linear(c.shared_dim, c.shared_dim), nn.ReLU())
        self.image_net = nn.Sequential(nn.Linear(dims.image_dim, c.shared_dim), nn.ReLU(), FastDropout(c.dropout),
                                       nn.Linear(c.shared_dim, c.shared_dim), nn.ReLU())
        self.classifier_body = nn.Sequential(nn.Linear(2 * c.shared_dim, c.classifier_hidden), nn.ReLU(),
                                             FastDropout(c.dropout))
        self.classifier_out = nn.Linear(c.classifier_hidden, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        text = self.text_net(batch["text_pooled"])
        image = self.image_net(batch["image_pooled"])
        s = consistency(text, image).unsqueeze(1)
        rep = self.classifier_body(torch.cat([s * text, s * image], dim=1))
        out = classifier_output(self.classifier_out(rep), rep, batch)
        out.diagnostics["consistency"] = s.squeeze(1).detach()
        return out

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
        }
