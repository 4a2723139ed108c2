"""MCAN: Multimodal fusion with Co-Attention Networks for fake news detection
(Wu et al., Findings of ACL 2021; code github.com/wuyang45/MCAN_code).

A co-attention layer holds two parallel blocks: image queries attend to the text and text queries
attend to the image (multi-head attention, add & norm, feed-forward, add & norm); the two outputs
are fused by a linear layer. Layers are stacked, and an MLP (model_dim -> 35 -> 2, as released)
classifies the fused vector. Defaults: model width 256, 8 heads, feed-forward 2048, dropout 0.5.

Differences from the paper and the released code are declared in ``DEVIATIONS`` (docs/deviations.md).
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
from baselines.common import classifier_output, image_valid_mask, masked_mean
from benchmark.models.layers import FastDropout, per_image, trailing_padding_cut


@dataclass
class MCANConfig(ModelConfig):
    lr: float = 1e-4
    model_dim: int = 256
    num_heads: int = 8
    ffn_dim: int = 2048
    num_layers: int = 2
    dropout: float = 0.5
    classifier_hidden: int = 35


class CoAttentionBlock(nn.Module):
    """Queries from one modality attend to the other; add & norm, feed-forward, add & norm."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), FastDropout(dropout),
                                 nn.Linear(ffn_dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = FastDropout(dropout)

    def forward(self, query: torch.Tensor, context: torch.Tensor, context_pad: torch.Tensor,
                query_pad: torch.Tensor | None = None) -> torch.Tensor:
        """``query_pad`` (B, Lq) marks query slots nobody reads (padding): the feed-forward, the costly
        part at width 2048, runs on the other slots only; padded slots keep their post-attention value
        (they are masked wherever they are read), so every read value equals the dense computation."""
        attended, _ = self.attn(query, context, context, key_padding_mask=context_pad)
        x = self.norm1(query + self.dropout(attended))
        if query_pad is None or not bool(query_pad.any()):
            return self.norm2(x + self.dropout(self.ffn(x)))
        keep = ~query_pad
        rows = x[keep]
        out = x.clone()
        out[keep] = self.norm2(rows + self.dropout(self.ffn(rows)))
        return out


class CoAttentionLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.image_to_text = CoAttentionBlock(dim, heads, ffn_dim, dropout)
        self.text_to_image = CoAttentionBlock(dim, heads, ffn_dim, dropout)

    def forward(self, image: torch.Tensor, image_pad: torch.Tensor, text: torch.Tensor,
                text_pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        new_image = self.image_to_text(image, text, text_pad, query_pad=image_pad)
        new_text = self.text_to_image(text, image, image_pad, query_pad=text_pad)
        return new_image, new_text


@MODELS.register("mcan")
class MCAN(DetectorModel):
    config_class = MCANConfig
    requires = frozenset({"text_tokens", "text_mask", "image_regions_unique", "image_pooled", "has_image"})
    description = "Stacked co-attention layers between text tokens and image regions"
    paper = "Wu et al., MCAN, Findings of ACL 2021"
    deviations = (
        Deviation("frequency view (substantially simplified)", "three views: BERT text, VGG-19 spatial image, "
                  "a DCT frequency-domain image CNN", "no frequency branch (no pixels in the feature cache): "
                  "the stack fuses the image with the text only", ""),
        Deviation("attention units", "co-attention over the views", "co-attention over sequences: token states "
                  "(masked) and image regions prefixed by the pooled image; image stream's first element and "
                  "the masked text mean fused after the stack", "attends over the dimensions of single "
                  "feature vectors"),
        Deviation("depth", "stacked co-attention layers", "num_layers = 2 (tunable)",
                  "one layer per fused view, i.e. twice"),
    )

    def __init__(self, config: MCANConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        self.text_proj = nn.Linear(dims.text_dim, c.model_dim)
        self.image_proj = nn.Linear(dims.image_dim, c.model_dim)
        self.layers = nn.ModuleList([CoAttentionLayer(c.model_dim, c.num_heads, c.ffn_dim, c.dropout)
                                     for _ in range(c.num_layers)])
        self.fusion = nn.Linear(2 * c.model_dim, c.model_dim)
        self.classifier_hidden = nn.Linear(c.model_dim, c.classifier_hidden)
        self.classifier_out = nn.Linear(c.classifier_hidden, 2)
        self.dropout = FastDropout(c.dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        text_mask = batch["text_mask"].bool()
        # slots after the batch's longest real text are padding for every item: drop them (exact)
        length = trailing_padding_cut(text_mask)
        text_mask = text_mask[:, :length]
        text = F.relu(self.text_proj(batch["text_tokens"][:, :length]))
        pooled = self.image_proj(batch["image_pooled"]).unsqueeze(1)
        image = F.relu(torch.cat([pooled, per_image(self.image_proj, batch)], dim=1))  # distinct images once
        region_mask = image_valid_mask(batch)
        ones = torch.ones_like(region_mask[:, :1])
        image_mask = torch.cat([ones, region_mask], dim=1)  # pooled slot always attendable
        text_pad = ~text_mask
        # a row with no text token would make attention undefined: let it attend its first slot
        text_pad = text_pad & text_mask.any(dim=1, keepdim=True)
        image_pad = ~image_mask
        for layer in self.layers:
            image, text = layer(image, image_pad, text, text_pad)
        fused = F.relu(self.fusion(torch.cat([image[:, 0], masked_mean(text, text_mask)], dim=1)))
        rep = F.relu(self.classifier_hidden(fused))
        logits = self.classifier_out(self.dropout(rep))
        return classifier_output(logits, fused, batch)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-5, 1e-3, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "num_layers": trial.suggest_int("num_layers", 1, 4),
            "dropout": trial.suggest_float("dropout", 0.1, 0.6),
        }
