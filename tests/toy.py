"""A toy model and toy feature splits for engine/tracking tests (no encoders needed)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from benchmark.features import FeatureDims, FeatureSplits, FeatureTable
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput


@dataclass
class ToyConfig(ModelConfig):
    hidden: int = 8
    batch_size: int = 16
    max_epochs: int = 6
    patience: int = 2
    lr: float = 0.05


class ToyModel(DetectorModel):
    """Logistic regression over text_pooled, with one named auxiliary term."""

    config_class = ToyConfig
    requires = frozenset({"text_pooled"})

    def __init__(self, config: ToyConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        self.body = nn.Linear(dims.text_dim, config.hidden)
        self.head = nn.Linear(config.hidden, 2)

    def forward(self, batch):
        rep = torch.tanh(self.body(batch["text_pooled"]))
        logits = self.head(rep)
        out = ModelOutput(logits=logits, representation=rep)
        if "label" in batch:
            cls = nn.functional.cross_entropy(logits, batch["label"])
            aux = 0.0 * rep.pow(2).mean()
            out.losses = {"total": cls + aux, "cls": cls, "aux": aux}
        return out


def toy_table(n: int, seed: int, dim: int = 4, noise: float = 1.0) -> FeatureTable:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, dim, generator=g) * noise
    x[:, 0] += labels.float() * 2 - 1
    return FeatureTable(item_ids=[f"i{seed}-{k}" for k in range(n)], labels=labels,
                        events=torch.full((n,), -1), columns={"text_pooled": x})


def toy_splits(n: int = 96, dim: int = 4) -> FeatureSplits:
    dims = FeatureDims(text_dim=dim, image_dim=1, text_len=1, image_regions=1)
    return FeatureSplits(train=toy_table(n, 1, dim), validation=toy_table(n // 3, 2, dim),
                         test=toy_table(n // 3, 3, dim), dims=dims)
