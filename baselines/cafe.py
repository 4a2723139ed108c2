"""CAFE: Cross-modal Ambiguity learning for multimodal Fake nEws detection
(Chen et al., WWW 2022; code github.com/cyxanna/CAFE).

Four parts, as in the paper:
1. cross-modal alignment: shared text (a fast text CNN, kernels 1/2/4/8, 32 channels) and image
   encoders to 128-d, then aligners to a 64-d common space trained with a cosine-embedding loss on
   matched (+1) and mismatched (-1, the image of another item in the batch) text-image pairs;
2. cross-modal ambiguity learning: each aligned modality parameterises a diagonal Gaussian
   (a small VAE-style encoder, 2-d latent); the ambiguity is sigmoid of the symmetric KL divergence
   ``(KL(p_t || p_v) + KL(p_v || p_t)) / 2``;
3. cross-modal fusion: the outer product of the aligned vectors, softmax-normalised and max-pooled,
   gives a 64-d correlation feature;
4. adaptive aggregation: ``[(1 - a) * text_uni, (1 - a) * image_uni, a * correlation]`` with the
   ambiguity ``a`` is classified by an MLP (96 -> 64 -> 64 -> 2).

Deviations:
- the released code trains the alignment module with its own optimiser in an inner step; here the
  alignment loss is added to the classification loss (``alignment_weight``) and both train jointly;
  ``losses`` holds ``total``, ``classification`` and ``alignment``.
- matched pairs are taken from real news (label 0): real posts are the ones whose text and image
  are assumed consistent; the released code samples from its own positive class.
- the symmetric KL is computed in closed form for the two diagonal Gaussians instead of the
  released code's one-sample Monte-Carlo estimate (same expectation, no sampling noise).
- BatchNorm layers of the released code are left out (the shared engine may evaluate batches of
  one); inputs are frozen encoder token states and pooled image features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput
from benchmark.registry import MODELS
from baselines.common import TextCNN, classification_loss


@dataclass
class CAFEConfig(ModelConfig):
    shared_dim: int = 128
    sim_dim: int = 64
    prime_dim: int = 16
    z_dim: int = 2
    cnn_channels: int = 32
    cnn_kernels: tuple[int, ...] = (1, 2, 4, 8)
    classifier_hidden: int = 64
    dropout: float = 0.5
    alignment_weight: float = 1.0


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


def _mlp2(in_dim: int, hidden: int, out_dim: int, dropout: float = 0.0) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_dim), nn.ReLU())


@MODELS.register("cafe")
class CAFE(DetectorModel):
    config_class = CAFEConfig
    requires = frozenset({"text_tokens", "text_mask", "image_pooled"})
    description = "Cross-modal alignment, ambiguity (symmetric KL) and adaptive aggregation"
    paper = "Chen et al., CAFE, WWW 2022"

    def __init__(self, config: CAFEConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        self.text_cnn = TextCNN(dims.text_dim, c.cnn_kernels, c.cnn_channels, activation="relu")
        self.text_shared = _mlp2(self.text_cnn.out_dim, 64, c.shared_dim, c.dropout)
        self.image_shared = _mlp2(dims.image_dim, 256, c.shared_dim, c.dropout)
        self.text_aligner = _mlp2(c.shared_dim, c.shared_dim, c.sim_dim)
        self.image_aligner = _mlp2(c.shared_dim, c.shared_dim, c.sim_dim)
        self.text_gauss = GaussianEncoder(c.sim_dim, c.z_dim)
        self.image_gauss = GaussianEncoder(c.sim_dim, c.z_dim)
        self.text_uni = _mlp2(c.shared_dim, c.shared_dim, c.prime_dim)
        self.image_uni = _mlp2(c.shared_dim, c.shared_dim, c.prime_dim)
        self.correlation_fc = nn.Sequential(nn.Linear(c.sim_dim, c.sim_dim), nn.ReLU())
        self.classifier_body = nn.Sequential(
            nn.Linear(2 * c.prime_dim + c.sim_dim, c.classifier_hidden), nn.ReLU(),
            nn.Linear(c.classifier_hidden, c.classifier_hidden), nn.ReLU())
        self.classifier_out = nn.Linear(c.classifier_hidden, 2)

    def correlation(self, text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        outer = torch.softmax(text.unsqueeze(2) * image.unsqueeze(1), dim=-1)  # (B, S, S)
        return self.correlation_fc(outer.max(dim=1).values)

    def alignment_loss(self, text: torch.Tensor, image: torch.Tensor, labels: torch.Tensor
                       ) -> torch.Tensor:
        real = labels == 0
        if int(real.sum()) < 2:
            return text.sum() * 0.0
        t, v = text[real], image[real]
        mismatched = v.roll(shifts=1, dims=0)
        target = torch.cat([torch.ones(len(t)), -torch.ones(len(t))]).to(t.device)
        return F.cosine_embedding_loss(torch.cat([t, t]), torch.cat([v, mismatched]), target)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        text = self.text_shared(self.text_cnn(batch["text_tokens"], batch["text_mask"]))
        image = self.image_shared(batch["image_pooled"])
        text_al, image_al = self.text_aligner(text), self.image_aligner(image)
        ambiguity = symmetric_ambiguity(*self.text_gauss(text_al), *self.image_gauss(image_al))
        a = ambiguity.unsqueeze(1)
        fused = torch.cat([(1 - a) * self.text_uni(text), (1 - a) * self.image_uni(image),
                           a * self.correlation(text_al, image_al)], dim=1)
        rep = self.classifier_body(fused)
        logits = self.classifier_out(rep)
        losses: dict[str, torch.Tensor] = {}
        if "label" in batch:
            cls = classification_loss(logits, batch["label"])
            align = self.alignment_loss(text_al, image_al, batch["label"])
            losses = {"total": cls + self.config.alignment_weight * align, "classification": cls,
                      "alignment": align}
        return ModelOutput(logits=logits, representation=rep, losses=losses)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
            "alignment_weight": trial.suggest_float("alignment_weight", 0.1, 2.0, log=True),
        }
