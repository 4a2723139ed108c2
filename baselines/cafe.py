"""CAFE: Cross-modal Ambiguity learning for multimodal Fake nEws detection
(Chen et al., WWW 2022; code github.com/cyxanna/CAFE).

Four parts, as in the paper and the released code:
1. cross-modal alignment: its own text (a fast text CNN, kernels 1/2/4/8, 32 channels) and image
   encoders to 128-d, then aligners to a 64-d common space trained with a cosine-embedding loss on
   matched (+1) and mismatched (-1, the image of the real item 3 places on in the batch) real pairs;
2. cross-modal ambiguity learning: each aligned modality parameterises a diagonal Gaussian
   (a small VAE-style encoder, 2-d latent); the ambiguity is sigmoid of the symmetric KL divergence
   ``(KL(p_t || p_v) + KL(p_v || p_t)) / 2``;
3. cross-modal fusion: the outer product of the aligned vectors scaled by 1/sqrt(d), softmax over its
   last axis and max-pooled over that same axis, gives a 64-d correlation feature;
4. adaptive aggregation: the detection module's own encoders (same architecture as in 1, separate
   weights) give 16-d uni-modal features; ``[(1 - a) * text_uni, (1 - a) * image_uni, a * correlation]``
   with the ambiguity ``a`` is classified by an MLP (96 -> 64 -> 64 -> 2).

The alignment module learns from the alignment loss only and the detection module from the
classification loss only: the aligned vectors enter detection detached, as the released code's
separate optimiser steps leave them. With disjoint parameter sets, one Adam over the sum of the two
losses gives each module the update its released Adam gives it, with one difference: the release
steps the alignment first and then recomputes the aligned vectors for the detection step
(``train.py`` 108-117), so its detection reads the alignment after this batch's update, ours the one
before it (declared). Batch 64, Adam 1e-3, at most 100 epochs: all 100 only under
``--protocol as-released`` (best test epoch, as released); the clean protocol stops early after 5
epochs without validation gain (``benchmark/models/base.py`` patience). Remaining differences are
declared in ``DEVIATIONS`` (docs/deviations.md).
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
from benchmark.models.layers import CAFEEncoding, correlation_matrix_pool, mlp2
from benchmark.registry import MODELS
from baselines.common import classification_loss


@dataclass
class CAFEConfig(ModelConfig):
    lr: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 100  # released train.py NUM_EPOCH
    shared_dim: int = 128
    sim_dim: int = 64
    prime_dim: int = 16
    z_dim: int = 2
    cnn_channels: int = 32
    cnn_kernels: tuple[int, ...] = (1, 2, 4, 8)
    classifier_hidden: int = 64
    dropout: float = 0.5
    alignment_weight: float = 1.0
    mismatch_shift: int = 3  # unmatched pairs: real images rolled by 3 in the batch (released code)


DEVIATIONS = (
    Deviation("inputs", "GloVe word vectors (200-d) and VGG-19 / ResNet image features (512-d)",
              "frozen cached token states and pooled image features of the run's encoders",
              "the precomputed features of the paper"),
    Deviation("batch normalisation", "-", "left out (the engine may evaluate batches of one)",
              "BatchNorm1d after every hidden layer"),
    Deviation("symmetric KL", "KL between the two unimodal distributions",
              "closed form for the two diagonal Gaussians", "one-sample Monte-Carlo estimate"),
    Deviation("matched pairs", "consistent (matched) text-image pairs",
              "real news (label 0) pairs; mismatched = real images rolled by mismatch_shift (3)",
              "pairs of its label-1 class, images rolled by 3"),
    Deviation("model selection", "not stated", "clean protocol: validation split, early stopping after 5 "
              "epochs without gain; test once", "100 epochs, best test epoch"),
    Deviation("step order", "not stated", "one forward: detection reads the aligned vectors computed before "
              "this batch's alignment update", "alignment stepped first, the aligned vectors recomputed for the "
              "detection step (train.py 108-117)"),
)


def diag_gaussian_kl(mu_p: torch.Tensor, sigma_p: torch.Tensor, mu_q: torch.Tensor,
                     sigma_q: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)) for diagonal Gaussians, summed over the last dim."""
    var_p, var_q = sigma_p.pow(2), sigma_q.pow(2)
    return (torch.log(sigma_q / sigma_p) + (var_p + (mu_p - mu_q).pow(2)) / (2.0 * var_q) - 0.5).sum(-1)


def symmetric_ambiguity(mu_t: torch.Tensor, sigma_t: torch.Tensor, mu_v: torch.Tensor,
                        sigma_v: torch.Tensor) -> torch.Tensor:
    """CAFE's ambiguity: sigmoid of the symmetric KL between the text and image distributions."""
    skl = (diag_gaussian_kl(mu_t, sigma_t, mu_v, sigma_v) + diag_gaussian_kl(mu_v, sigma_v, mu_t, sigma_t)) / 2
    return torch.sigmoid(skl)


class GaussianEncoder(nn.Module):
    def __init__(self, in_dim: int, z_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(), nn.Linear(in_dim, 2 * z_dim))
        self.z_dim = z_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.net(x)
        return params[:, : self.z_dim], F.softplus(params[:, self.z_dim:]) + 1e-7


@MODELS.register("cafe")
class CAFE(DetectorModel):
    config_class = CAFEConfig
    requires = frozenset({"text_tokens", "text_mask", "image_pooled"})
    description = "Cross-modal alignment, ambiguity (symmetric KL) and adaptive aggregation"
    paper = "Chen et al., CAFE, WWW 2022"
    deviations = DEVIATIONS
    checked_against = ("cyxanna/CAFE model.py@75610c746982", "cyxanna/CAFE train.py@75610c746982")
    activity_channels = {"ambiguity": ("ambiguity",)}  # the per-item weight a of the aggregation

    def __init__(self, config: CAFEConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        # alignment module (released SimilarityModule): own encoders + aligners
        self.align_encoding = CAFEEncoding(dims.text_dim, dims.image_dim, c.shared_dim, c.cnn_channels,
                                           c.cnn_kernels, c.dropout)
        self.text_aligner = mlp2(c.shared_dim, c.shared_dim, c.sim_dim)
        self.image_aligner = mlp2(c.shared_dim, c.shared_dim, c.sim_dim)
        # detection module (released DetectionModule): own encoders, ambiguity, fusion, classifier
        self.detect_encoding = CAFEEncoding(dims.text_dim, dims.image_dim, c.shared_dim, c.cnn_channels,
                                            c.cnn_kernels, c.dropout)
        self.text_gauss = GaussianEncoder(c.sim_dim, c.z_dim)
        self.image_gauss = GaussianEncoder(c.sim_dim, c.z_dim)
        self.text_uni = mlp2(c.shared_dim, c.shared_dim, c.prime_dim)
        self.image_uni = mlp2(c.shared_dim, c.shared_dim, c.prime_dim)
        self.correlation_fc = nn.Sequential(nn.Linear(c.sim_dim, c.sim_dim), nn.ReLU())
        self.classifier_body = nn.Sequential(
            nn.Linear(2 * c.prime_dim + c.sim_dim, c.classifier_hidden), nn.ReLU(),
            nn.Linear(c.classifier_hidden, c.classifier_hidden), nn.ReLU())
        self.classifier_out = nn.Linear(c.classifier_hidden, 2)

    def correlation(self, text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.correlation_fc(correlation_matrix_pool(text, image))

    def alignment_loss(self, text: torch.Tensor, image: torch.Tensor, labels: torch.Tensor
                       ) -> torch.Tensor:
        real = labels == 0
        if int(real.sum()) < 2:
            return text.sum() * 0.0
        t, v = text[real], image[real]
        mismatched = v.roll(shifts=self.config.mismatch_shift, dims=0)
        target = torch.cat([torch.ones(len(t)), -torch.ones(len(t))]).to(t.device)
        return F.cosine_embedding_loss(torch.cat([t, t]), torch.cat([v, mismatched]), target)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        inputs = (batch["text_tokens"], batch["text_mask"], batch["image_pooled"])
        text_shared, image_shared = self.align_encoding(*inputs)
        text_al, image_al = self.text_aligner(text_shared), self.image_aligner(image_shared)
        # detection reads the aligned vectors without training the alignment module (released code)
        t_al, v_al = text_al.detach(), image_al.detach()
        ambiguity = symmetric_ambiguity(*self.text_gauss(t_al), *self.image_gauss(v_al))
        a = ambiguity.unsqueeze(1)
        text, image = self.detect_encoding(*inputs)
        fused = torch.cat([(1 - a) * self.text_uni(text), (1 - a) * self.image_uni(image),
                           a * self.correlation(t_al, v_al)], dim=1)
        rep = self.classifier_body(fused)
        logits = self.classifier_out(rep)
        losses: dict[str, torch.Tensor] = {}
        if "label" in batch:
            cls = classification_loss(logits, batch["label"])
            align = self.alignment_loss(text_al, image_al, batch["label"])
            losses = {"total": cls + self.config.alignment_weight * align, "classification": cls,
                      "alignment": align}
        diagnostics = {"ambiguity": ambiguity.detach()}
        self.track_activity(diagnostics)
        return ModelOutput(logits=logits, representation=rep, losses=losses, diagnostics=diagnostics)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
            "alignment_weight": trial.suggest_float("alignment_weight", 0.1, 2.0, log=True),
        }
