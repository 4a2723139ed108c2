"""VisualBERT baseline (Li et al., 2019, "VisualBERT: A Simple and Performant Baseline for Vision
and Language"), as used by the NovEmoFake paper (Kumari et al., JIIS 2023, section 5.2): the text
and image are encoded jointly by VisualBERT and an MLP (two hidden layers, 512 and 128 tanh units,
like the paper's other baselines) classifies the pooled output.

Inputs (deviations):
- text: the frozen feature cache holds encoder token states, not tokenizer ids, so the text tokens
  (``text_tokens``) are linearly projected to VisualBERT's hidden size and fed as ``inputs_embeds``
  after a learned [CLS]-like vector (whose pooled output feeds the head).
- image: the paper's VisualBERT reads object-detector region features; here the visual embeddings
  are the image encoder's grid regions (``image_regions``; 7x7 EfficientNet-Lite0 cells offline,
  ResNet cells in paper runs). If a pretrained model's ``visual_embedding_dim`` differs from the
  region width, a linear adapter maps the regions to it.
- weights: no pretrained VisualBERT is available offline, so by default a small VisualBERT
  (hidden 256, 2 layers, 4 heads) is trained from scratch on top of the frozen features. Setting
  ``pretrained_path`` to a local folder loads ``VisualBertModel.from_pretrained(path)`` (paper runs:
  768 hidden, 12 layers, 12 heads, 512-d visual embeddings).
- background knowledge (``use_background``): the source tokens are appended to the text sequence
  and the source regions to the visual sequence, with a learned source/target segment vector added
  to each element so the model can tell the two sides apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmark.deviations import Deviation
from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput
from benchmark.registry import MODELS
from baselines.common import MLP, check_background, classifier_output, image_valid_mask
from benchmark.models.layers import trailing_padding_cut


@dataclass
class VisualBERTConfig(ModelConfig):
    lr: float = 1e-4
    batch_size: int = 32
    hidden_size: int = 256
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 512
    dropout: float = 0.1
    pretrained_path: str | None = None  # local folder for VisualBertModel.from_pretrained
    head_hidden: tuple[int, ...] = (512, 128)
    head_activation: str = "tanh"
    use_background: bool = False


def _cls_query_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A VisualBertLayer's output at position 0 only: (B, 1, H). Keys and values come from every
    position; the query, softmax, attention output and feed-forward run for the first position."""
    sa = layer.attention.self
    b, n, _ = hidden.shape
    heads, size = sa.num_attention_heads, sa.attention_head_size
    query = sa.query(hidden[:, :1]).view(b, 1, heads, size).transpose(1, 2)
    key = sa.key(hidden).view(b, n, heads, size).transpose(1, 2)
    value = sa.value(hidden).view(b, n, heads, size).transpose(1, 2)
    scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(size) + mask
    probs = sa.dropout(nn.functional.softmax(scores, dim=-1))
    context = torch.matmul(probs, value).permute(0, 2, 1, 3).reshape(b, 1, heads * size)
    attended = layer.attention.output(context, hidden[:, :1])
    return layer.feed_forward_chunk(attended)


@MODELS.register("visualbert")
class VisualBERT(DetectorModel):
    config_class = VisualBERTConfig
    requires = frozenset({"text_tokens", "text_mask", "image_regions", "has_image"})
    description = "VisualBERT over projected text token states and image regions, MLP head"
    paper = "Li et al., VisualBERT, 2019 (baseline in NovEmoFake, Kumari et al. 2023)"
    deviations = (
        Deviation("weights (substantially simplified)", "pre-trained VisualBERT (768 hidden, 12 layers)",
                  "a small VisualBERT (256 hidden, 2 layers, 4 heads) trained from scratch on frozen features, "
                  "unless pretrained_path names a local checkpoint", ""),
        Deviation("text input", "tokenizer ids", "frozen token states projected to the hidden size as "
                  "inputs_embeds after a learned [CLS]-like vector", ""),
        Deviation("visual input", "object-detector region features", "the image encoder's grid regions "
                  "(7x7 cells), with a linear adapter when widths differ", ""),
        Deviation("background knowledge (WBG variant)", "source and target read jointly (not detailed)",
                  "source tokens and regions appended to the sequences with a learned segment vector", ""),
    )

    cls_only_last_layer = True  # False: the library's full forward (the exactness test compares the two)

    def __init__(self, config: VisualBERTConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        # imported here, not at module level: transformers takes seconds to import, and registering the
        # model (every bench command) must not pay for it
        from transformers import VisualBertConfig, VisualBertModel
        check_background("visualbert", config.use_background, dims)
        c = config
        if c.pretrained_path:
            self.encoder = VisualBertModel.from_pretrained(c.pretrained_path)
        else:
            sides = 2 if c.use_background else 1
            self.encoder = VisualBertModel(VisualBertConfig(
                hidden_size=c.hidden_size, num_hidden_layers=c.num_layers,
                num_attention_heads=c.num_heads, intermediate_size=c.intermediate_size,
                hidden_dropout_prob=c.dropout, attention_probs_dropout_prob=c.dropout,
                visual_embedding_dim=dims.image_dim,
                max_position_embeddings=max(512, sides * (dims.text_len + 1)),
                vocab_size=2,  # unused: text enters as inputs_embeds
            ))
        enc_cfg = self.encoder.config
        hidden, vdim = enc_cfg.hidden_size, enc_cfg.visual_embedding_dim
        self.text_proj = nn.Linear(dims.text_dim, hidden)
        self.region_adapter: nn.Module = (nn.Identity() if vdim == dims.image_dim
                                          else nn.Linear(dims.image_dim, vdim))
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
        nn.init.normal_(self.cls, std=0.02)
        self.text_segment = nn.Embedding(2, hidden)  # 0 = target, 1 = source
        self.visual_segment = nn.Embedding(2, vdim)
        nn.init.zeros_(self.text_segment.weight)
        nn.init.zeros_(self.visual_segment.weight)
        self.head = MLP(hidden, c.head_hidden, 2, c.head_activation, c.dropout)
        if c.use_background:
            self.requires = self.requires | {"source_text_tokens", "source_text_mask",
                                             "source_image_regions", "has_source"}

    def _inputs(self, batch: dict[str, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        prefixes = ["", "source_"] if self.config.use_background else [""]
        texts, text_masks, visuals, visual_masks = [], [], [], []
        for segment, prefix in enumerate(prefixes):
            texts.append(self.text_proj(batch[prefix + "text_tokens"])
                         + self.text_segment.weight[segment])
            text_masks.append(batch[prefix + "text_mask"].bool())
            visuals.append(self.region_adapter(batch[prefix + "image_regions"])
                           + self.visual_segment.weight[segment])
            visual_masks.append(image_valid_mask(batch, prefix))
        text = torch.cat(texts, dim=1)
        bsz = text.size(0)
        text = torch.cat([self.cls.expand(bsz, -1, -1), text], dim=1)
        ones = torch.ones(bsz, 1, dtype=torch.bool, device=text.device)
        text_mask = torch.cat([ones, *text_masks], dim=1)
        # trailing slots that are padding for every item are masked keys whose outputs nobody reads
        # (the pooler reads [CLS]); dropping them is exact and keeps every other position id
        used = trailing_padding_cut(text_mask)
        text, text_mask = text[:, :used], text_mask[:, :used]
        return text, text_mask, torch.cat(visuals, dim=1), torch.cat(visual_masks, dim=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        text, text_mask, visual, visual_mask = self._inputs(batch)
        logits, rep = self.head(self._pooled(text, text_mask, visual, visual_mask))
        return classifier_output(logits, rep, batch)

    def _pooled(self, text: torch.Tensor, text_mask: torch.Tensor, visual: torch.Tensor,
                visual_mask: torch.Tensor) -> torch.Tensor:
        """VisualBertModel's pooled output, with the last layer computed for the [CLS] query only.

        The pooler reads position 0 of the last layer and nothing else, so that layer needs keys and
        values for every position but queries, attention output and feed-forward for [CLS] alone:
        exact (``tests/test_baselines_exact_speedups.py``), about a third of the encoder's FLOPs saved.
        Falls back to the library's forward for configurations this does not cover (bypass_transformer)."""
        from transformers.models.visual_bert.modeling_visual_bert import create_bidirectional_mask
        enc = self.encoder
        if getattr(enc, "bypass_transformer", False) or enc.pooler is None or not self.cls_only_last_layer:
            return enc(inputs_embeds=text, attention_mask=text_mask.long(), visual_embeds=visual,
                       visual_attention_mask=visual_mask.long()).pooler_output
        hidden = enc.embeddings(inputs_embeds=text, visual_embeds=visual)
        mask = create_bidirectional_mask(config=enc.config, inputs_embeds=hidden[:, 0:1, :],
                                         attention_mask=torch.cat([text_mask, visual_mask], dim=1).long(),
                                         allow_is_bidirectional_skip=False)
        *early, last = enc.encoder.layer
        for layer in early:
            hidden = layer(hidden, mask)[0]
        return enc.pooler(_cls_query_layer(last, hidden, mask))

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-5, 1e-3, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
            "num_layers": trial.suggest_int("num_layers", 1, 4),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }
