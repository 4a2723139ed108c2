"""LIIMR: Leveraging Intra and Inter Modality Relationship for multimodal fake news detection
(Singhal et al., WWW 2022 Companion; no code found, although the paper announces a release).

The paper's two ideas:
1. intra-modality relationship: fine-grained features of each modality (text tokens; image regions)
   related to each other, beside the global feature of that modality;
2. inter-modality relationship: not every modality is equally reliable for a sample, so the weaker
   one is identified and suppressed per sample. This follows the multiplicative combination of
   Liu et al. (2018, "Learn to combine modalities in multimodal deep learning"): each modality
   predicts on its own and its cross-entropy is down-weighted when the *other* predictors are already
   confident of the true class,
   ``L = - sum_m (prod_{j != m} (1 - p_j))^(beta / (M - 1)) * log p_m``  (p = probability of the label).

Here: a self-attention layer over the projected tokens and one over the projected image regions
(masked means) give the fine-grained vectors, concatenated with the projected global vectors; three
predictors (text, image, joint text+image) are combined by the loss above (weights held constant in
the backward pass, as Liu et al. do); the prediction is the mean of the three probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmark.deviations import NO_CODE, Deviation
from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput
from benchmark.models.layers import FastDropout, per_image, trailing_padding_cut
from benchmark.registry import MODELS
from baselines.common import image_valid_mask, masked_mean


@dataclass
class LIIMRConfig(ModelConfig):
    lr: float = 1e-4
    batch_size: int = 64
    model_dim: int = 256
    num_heads: int = 4
    beta: float = 1.0  # Liu et al.'s boosting exponent; 0 = plain sum of the cross-entropies
    dropout: float = 0.3


def multiplicative_loss(probabilities: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """Liu et al. (2018) multiplicative combination over M predictors, mean over the batch.

    ``probabilities`` (M, B, C) per predictor, ``labels`` (B,). For predictor m the weight is
    ``prod_{j != m} (1 - p_j[y]) ** (beta / (M - 1))``, held constant (detached)."""
    m = probabilities.size(0)
    p_true = probabilities.gather(2, labels.view(1, -1, 1).expand(m, -1, 1)).squeeze(2)  # (M, B)
    miss = (1.0 - p_true).clamp_min(0.0).detach()
    others = torch.stack([torch.cat([miss[:k], miss[k + 1:]]).prod(0) for k in range(m)])
    weight = others.pow(beta / max(m - 1, 1))
    return -(weight * p_true.clamp_min(1e-12).log()).sum(0).mean()


class _SelfRelation(nn.Module):
    """One self-attention layer with add & norm: relates the fine-grained elements of one modality."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attn(x, x, x, key_padding_mask=pad)
        return self.norm(x + attended)


@MODELS.register("liimr")
class LIIMR(DetectorModel):
    config_class = LIIMRConfig
    requires = frozenset({"text_tokens", "text_mask", "text_pooled", "image_regions_unique", "image_pooled",
                          "has_image"})
    description = "Intra-modality self-attention; per-sample modality suppression by multiplicative combination"
    paper = "Singhal et al., LIIMR, WWW 2022 Companion"
    deviations = (
        Deviation("inputs", "fine-grained text (XLNet/BERT tokens) and image (object-region) features beside "
                  "global ones", "frozen cached token states and the image encoder's grid regions (no object "
                  "detector), with the pooled vectors as the global features", NO_CODE),
        Deviation("intra-modality relation", "relations among the fine-grained features of each modality",
                  "one self-attention layer (add & norm) per modality, masked mean (our reading)", NO_CODE),
        Deviation("inter-modality suppression", "identify the weaker modality per sample and suppress it",
                  "Liu et al. (2018) multiplicative combination loss over text, image and joint predictors "
                  "(beta = 1, weights detached); prediction = mean of their probabilities", NO_CODE),
        Deviation("model selection", "not stated", "clean protocol: validation split; test once", NO_CODE),
    )

    def __init__(self, config: LIIMRConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        d = c.model_dim
        self.token_proj = nn.Linear(dims.text_dim, d)
        self.region_proj = nn.Linear(dims.image_dim, d)
        self.text_global = nn.Linear(dims.text_dim, d)
        self.image_global = nn.Linear(dims.image_dim, d)
        self.text_relation = _SelfRelation(d, c.num_heads, c.dropout)
        self.image_relation = _SelfRelation(d, c.num_heads, c.dropout)
        self.dropout = FastDropout(c.dropout)
        self.text_head = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Linear(d, 2))
        self.image_head = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Linear(d, 2))
        self.joint_head = nn.Sequential(nn.Linear(4 * d, d), nn.ReLU(), nn.Linear(d, 2))

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        mask = batch["text_mask"].bool()
        mask = mask[:, :trailing_padding_cut(mask)]
        tokens = torch.relu(self.token_proj(batch["text_tokens"][:, :mask.size(1)]))
        text_pad = ~mask & mask.any(dim=1, keepdim=True)
        text_fine = masked_mean(self.text_relation(tokens, text_pad), ~text_pad)
        regions = torch.relu(per_image(self.region_proj, batch))
        region_mask = image_valid_mask(batch)
        image_pad = ~region_mask & region_mask.any(dim=1, keepdim=True)  # a blank image attends its zeros
        image_fine = masked_mean(self.image_relation(regions, image_pad), ~image_pad)
        text = torch.cat([text_fine, torch.relu(self.text_global(batch["text_pooled"]))], dim=1)
        image = torch.cat([image_fine, torch.relu(self.image_global(batch["image_pooled"]))], dim=1)
        rep = torch.cat([text, image], dim=1)
        logits_each = torch.stack([self.text_head(self.dropout(text)), self.image_head(self.dropout(image)),
                                   self.joint_head(self.dropout(rep))])  # (3, B, 2)
        probs = torch.softmax(logits_each.float(), dim=-1)
        logits = probs.mean(0).clamp_min(1e-12).log()  # softmax of these = the mean probability
        losses: dict[str, torch.Tensor] = {}
        if "label" in batch:
            total = multiplicative_loss(probs, batch["label"], self.config.beta)
            losses = {"total": total, "classification": total}
        return ModelOutput(logits=logits, representation=rep, losses=losses)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-5, 1e-3, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "beta": trial.suggest_float("beta", 0.0, 2.0),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
        }
