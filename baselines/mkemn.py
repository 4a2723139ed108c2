"""MKEMN: Multi-modal Knowledge-aware Event Memory Network for social media rumor detection
(Zhang et al., ACM MM 2019; no public code).

Two building blocks, as the paper describes them:
1. the multi-modal knowledge-aware network (MKN): a post's words, the knowledge-graph entities linked
   to them (and their conceptual contexts) and its image, each mapped to one common width, are
   stacked as aligned channels of a convolutional network (Kim-style windows, max over time), so a
   window reads a word together with its knowledge and the image;
2. the event memory network (EMN): a global memory of event-invariant features; the post's MKN
   representation queries it (``a = softmax(M q)``, ``o = a^T M``) and the read ``o`` is concatenated
   with the query before the classifier.

No knowledge graph can be reached offline and no entity-linked version of the datasets is public:
by default the knowledge channels are absent (declared in ``deviations``), so this row is "component
missing". A user who has linked the posts passes ``bench run --entity-file FILE``
(``benchmark.data.entities``): each post's entities and concepts, each joined into one text and
encoded by the run's text encoder, become two more channels (projected to ``channel_dim`` and
broadcast along the words, like the image; a post without entities gets the null text). The file's
hash is then part of the cell's identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmark.deviations import NO_CODE, Deviation
from benchmark.features import FeatureDims
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput
from benchmark.models.layers import FastDropout, TextCNN
from benchmark.registry import MODELS
from baselines.common import classifier_output


@dataclass
class MKEMNConfig(ModelConfig):
    lr: float = 1e-3
    batch_size: int = 64
    channel_dim: int = 128  # common width of every channel (word, image)
    windows: tuple[int, ...] = (1, 2, 3, 4)
    filters: int = 64
    memory_slots: int = 16  # rows of the global event memory
    dropout: float = 0.5


def memory_read(query: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """EMN read: attention ``a = softmax(query @ memory.T)`` over the slots and ``o = a @ memory``.

    ``query`` (B, D), ``memory`` (K, D); returns ``(o (B, D), a (B, K))``."""
    weights = torch.softmax(query @ memory.T, dim=-1)
    return weights @ memory, weights


@MODELS.register("mkemn")
class MKEMN(DetectorModel):
    config_class = MKEMNConfig
    requires = frozenset({"text_tokens", "text_mask", "image_pooled"})
    optional_inputs = ("entities",)  # --entity-file: the knowledge channels
    description = "Multi-channel CNN over aligned word and image channels, read against a global event memory"
    paper = "Zhang et al., MKEMN, ACM MM 2019"
    deviations = (
        Deviation("knowledge channels (component missing)", "entities linked to the words in a real-world "
                  "knowledge graph (Freebase/Probase-style) and their conceptual contexts, as extra aligned "
                  "CNN channels", "without --entity-file: absent (no knowledge graph offline and no "
                  "entity-linked release of the datasets; the CNN reads the word and image channels only); "
                  "with --entity-file: the post's entities and its concepts, each one text embedded by the run's "
                  "text encoder and broadcast along the words (not aligned word by word)", NO_CODE),
        Deviation("inputs", "word embeddings and VGG-19 image features", "frozen cached token states and "
                  "pooled image features of the run's encoders, each projected to channel_dim (128)", NO_CODE),
        Deviation("image channel", "the image feature aligned with the words as one more channel",
                  "the projected pooled image broadcast along the word positions (our reading)", NO_CODE),
        Deviation("event memory", "global memory of event-invariant features, written from event "
                  "representations during training and read with the post as query",
                  "memory_slots (16) learned rows read by softmax attention (read rule as the paper); "
                  "rows learned by back-propagation, no explicit write step", NO_CODE),
        Deviation("model selection", "not stated", "clean protocol: validation split; test once", NO_CODE),
    )

    def __init__(self, config: MKEMNConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        self.word_proj = nn.Linear(dims.text_dim, c.channel_dim)
        self.image_proj = nn.Linear(dims.image_dim, c.channel_dim)
        # knowledge channels when the run supplies an entity file (--entity-file), else none
        self.knowledge = tuple(name for name in ("entities", "concepts") if f"{name}_pooled" in dims.extras)
        self.knowledge_proj = nn.ModuleDict({name: nn.Linear(dims.text_dim, c.channel_dim) for name in self.knowledge})
        self.requires = self.requires | {f"{name}_pooled" for name in self.knowledge}
        # aligned channels (word, image, knowledge...) stacked along the feature axis of the convolution
        self.cnn = TextCNN((2 + len(self.knowledge)) * c.channel_dim, c.windows, c.filters)
        width = self.cnn.out_dim
        self.memory = nn.Parameter(torch.randn(c.memory_slots, width) / width ** 0.5)
        self.dropout = FastDropout(c.dropout)
        self.classifier = nn.Linear(2 * width, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        mask = batch["text_mask"].bool()
        words = torch.tanh(self.word_proj(batch["text_tokens"]))
        image = torch.tanh(self.image_proj(batch["image_pooled"])).unsqueeze(1).expand_as(words)
        knowledge = [torch.tanh(self.knowledge_proj[name](batch[f"{name}_pooled"].float())).unsqueeze(1).expand_as(words)
                     for name in self.knowledge]
        query = self.cnn(torch.cat([words, image, *knowledge], dim=-1), mask)
        read, _ = memory_read(query, self.memory)
        rep = torch.cat([query, read], dim=1)
        logits = self.classifier(self.dropout(rep))
        return classifier_output(logits, rep, batch)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "memory_slots": trial.suggest_int("memory_slots", 4, 64),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
        }
