"""EANN: Event Adversarial Neural Networks for multi-modal fake news detection
(Wang et al., KDD 2018; code github.com/yaqingwang/EANN-KDD18).

Multi-modal feature extractor -> fake-news detector, plus an event discriminator behind a
gradient-reversal layer so the shared features become event-invariant. Loss = class CE + event CE
(the reversal layer turns the event term into the adversarial minimax of the paper).

As in the released code: text CNN with windows 1-4 and 20 filters each, leaky-ReLU, FC to 32;
image FC to 32 (leaky-ReLU); detector = linear(64 -> 2); discriminator = linear(64 -> 32),
leaky-ReLU, linear(32 -> events); reversal lambda 1; Adam lr 1e-3 (constant: the released epoch loop
sets ``optimizer.lr``, an attribute torch's Adam never reads, so its decay formula changes nothing,
``EANN.py`` 295-297), batch 100, 100 epochs. Two released quirks are the ``as_released`` variant:
both heads end in a Softmax whose output ``CrossEntropyLoss`` softmaxes again (``EANN.py`` 125, 133,
320-322; ``softmax_before_ce``), and the discriminator's ``LeakyReLU(True)`` passes True as the
negative slope, i.e. slope 1: a linear discriminator (``EANN.py`` 131; ``linear_discriminator``).

Event labels come from ``batch["event"]``; items with event -1 (unknown) are ignored. When the
dataset has no events (``FeatureDims.num_events == 0``) the event branch is disabled: no
discriminator is built and ``losses`` holds only ``total`` and ``classification`` (no ``event``).
No dropout by default: the released code builds a dropout layer (0.5) that its forward never applies.
Remaining differences are declared in ``DEVIATIONS`` (docs/deviations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.deviations import Deviation
from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput
from benchmark.registry import MODELS
from baselines.common import TextCNN, check_background, classification_loss, grad_reverse


@dataclass
class EANNConfig(ModelConfig):
    lr: float = 1e-3
    batch_size: int = 100
    max_epochs: int = 100
    filters: int = 20  # per window (released code)
    windows: tuple[int, ...] = (1, 2, 3, 4)
    hidden_dim: int = 32  # text and image feature size (released code --hidden_dim)
    dropout: float = 0.0  # released: Dropout(0.5) is built but never applied in forward
    reversal_lambda: float = 1.0
    event_weight: float = 1.0  # loss = class + event_weight * event (1 in the paper)
    use_background: bool = False
    softmax_before_ce: bool = False  # released: CE over softmax probabilities (a double softmax)
    linear_discriminator: bool = False  # released: LeakyReLU(negative_slope=True) = identity


DEVIATIONS = (
    Deviation("inputs", "trainable word2vec embeddings into the text CNN; VGG-19 image features",
              "the text CNN runs over frozen encoder token states; the image branch is an FC over the "
              "frozen pooled image features", ""),
    Deviation("learning-rate schedule", "-", "constant Adam 1e-3, as the code actually runs",
              "computes lr / (1 + 10 p)^0.75 per epoch but assigns it to optimizer.lr, which Adam never "
              "reads (EANN.py 295-297): the rate stays 1e-3"),
    Deviation("softmax before the loss", "softmax outputs, cross-entropy",
              "cross-entropy on the logits (default); the as_released variant feeds softmax probabilities "
              "to CrossEntropyLoss as the code does", "nn.Softmax then CrossEntropyLoss in both heads "
              "(EANN.py 125, 133, 320-322): a double softmax, gradients shrunk"),
    Deviation("discriminator activation", "LeakyReLU", "LeakyReLU (slope 0.01) by default; as_released: "
              "identity", "nn.LeakyReLU(True): negative_slope=True = 1, a linear discriminator (EANN.py 131)"),
    Deviation("dropout", "not stated", "none by default (dropout=0.0, tunable)",
              "Dropout(0.5) built but never applied in forward"),
    Deviation("background knowledge (WBG variant)", "EANN reads the target only",
              "use_background runs the same branches over the source and concatenates"),
    Deviation("events without labels", "event labels from the dataset",
              "datasets without events get K-Means++ clusters of training features (as the NovEmoFake paper "
              "did for EANN); without any, the discriminator is disabled", ""),
)


def event_loss(logits: torch.Tensor, events: torch.Tensor) -> torch.Tensor:
    """Mean CE over items with a known event; 0 (with graph) when none is known.

    Unknown events are ``-1``; ids outside the discriminator's range (an event first seen in a
    validation or test split) are ignored too.
    """
    known = (events >= 0) & (events < logits.size(1))
    if not bool(known.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[known], events[known].long())


@MODELS.register("eann")
class EANN(DetectorModel):
    config_class = EANNConfig
    requires = frozenset({"text_tokens", "text_mask", "image_pooled", "event"})
    description = "Text CNN + image FC, fake-news detector and adversarial event discriminator"
    paper = "Wang et al., EANN, KDD 2018"
    deviations = DEVIATIONS
    checked_against = ("yaqingwang/EANN-KDD18 src/EANN.py@dc1faf30368a",)

    def __init__(self, config: EANNConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        check_background("eann", config.use_background, dims)
        c = config
        self.text_cnn = TextCNN(dims.text_dim, c.windows, c.filters, activation="leaky_relu")
        self.text_fc = nn.Linear(self.text_cnn.out_dim, c.hidden_dim)
        self.image_fc = nn.Linear(dims.image_dim, c.hidden_dim)
        self.dropout = nn.Dropout(c.dropout)
        sides = 2 if c.use_background else 1
        self.feature_dim = 2 * c.hidden_dim * sides
        self.classifier = nn.Linear(self.feature_dim, 2)
        self.event_enabled = dims.num_events > 0
        self.discriminator: nn.Module | None = None
        if self.event_enabled:
            self.discriminator = nn.Sequential(
                nn.Linear(self.feature_dim, c.hidden_dim),
                nn.LeakyReLU(1.0) if c.linear_discriminator else nn.LeakyReLU(),
                nn.Linear(c.hidden_dim, dims.num_events))
        if c.use_background:
            self.requires = self.requires | {"source_text_tokens", "source_text_mask",
                                             "source_image_pooled"}

    def _side(self, batch: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
        text = self.text_cnn(batch[prefix + "text_tokens"], batch[prefix + "text_mask"])
        text = F.leaky_relu(self.text_fc(self.dropout(text)))
        image = F.leaky_relu(self.image_fc(batch[prefix + "image_pooled"]))
        return torch.cat([text, image], dim=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        feats = self._side(batch, "")
        if self.config.use_background:
            feats = torch.cat([feats, self._side(batch, "source_")], dim=1)
        logits = self.classifier(feats)
        # released: the heads output softmax probabilities and CrossEntropyLoss softmaxes them again
        head = (lambda x: x.softmax(dim=-1)) if self.config.softmax_before_ce else (lambda x: x)
        losses: dict[str, torch.Tensor] = {}
        if "label" in batch:
            cls = classification_loss(head(logits), batch["label"])
            losses = {"classification": cls}
            total = cls
            if self.discriminator is not None and "event" in batch:
                event_logits = head(self.discriminator(grad_reverse(feats, self.config.reversal_lambda)))
                ev = event_loss(event_logits, batch["event"])
                losses["event"] = ev
                total = total + self.config.event_weight * ev
            losses["total"] = total
        return ModelOutput(logits=logits, representation=feats, losses=losses)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 100, 128]),
            "hidden_dim": trial.suggest_categorical("hidden_dim", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
            "reversal_lambda": trial.suggest_float("reversal_lambda", 0.1, 2.0, log=True),
        }
