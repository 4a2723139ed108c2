"""KMGCN: knowledge-driven multimodal graph convolutional network (Wang et al., ICMR 2020,
"Fake News Detection via Knowledge-driven Multimodal Graph Convolutional Networks").

Re-implemented from the paper: there is no public code. Each post becomes a graph whose nodes are
its words, knowledge concepts and visual objects; a two-layer GCN (Kipf & Welling 2017,
``H' = ReLU(D^-1/2 (A + I) D^-1/2 H W)``) propagates over it, a max-pool readout gives the post
vector and a classifier predicts fake/real.

No knowledge base, object detector or vocabulary is available offline, so the graph is built from
the cached features; every difference is declared in ``DEVIATIONS`` (docs/deviations.md).
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
from baselines.common import MLP, check_background, classifier_output, image_valid_mask
from benchmark.models.layers import per_image


@dataclass
class KMGCNConfig(ModelConfig):
    node_dim: int = 128  # common width nodes are projected to
    gcn_dims: tuple[int, ...] = (128, 128)  # two GCN layers
    num_concepts: int = 16  # learned concept nodes (stand-in for KB concepts)
    edge_threshold: float = 0.5
    edge_top_k: int = 8  # 0 = threshold only
    dropout: float = 0.3
    head_hidden: tuple[int, ...] = ()  # () = linear classifier after the max-pool (paper)
    use_background: bool = False


def normalized_adjacency(adj: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 (A + I) D^-1/2`` for a batch of (B, N, N) weighted adjacency matrices."""
    eye = torch.eye(adj.size(-1), dtype=adj.dtype, device=adj.device)
    a_hat = adj + eye
    d_inv_sqrt = a_hat.sum(-1).clamp_min(1e-12).pow(-0.5)
    return d_inv_sqrt.unsqueeze(-1) * a_hat * d_inv_sqrt.unsqueeze(-2)


@torch.no_grad()
def similarity_graph(nodes: torch.Tensor, node_mask: torch.Tensor, threshold: float, top_k: int
                     ) -> torch.Tensor:
    """(B, N, N) symmetric adjacency: cosine weights kept at >= threshold or within each node's top-k.

    No self-edges (the normalisation adds them); padded nodes have no edges.
    """
    x = F.normalize(nodes, dim=-1)
    cos = x @ x.transpose(1, 2)
    n = cos.size(-1)
    pair_ok = node_mask.unsqueeze(2) & node_mask.unsqueeze(1)
    pair_ok = pair_ok & ~torch.eye(n, dtype=torch.bool, device=cos.device)
    cos = cos.masked_fill(~pair_ok, float("-inf"))
    keep = cos >= threshold
    k = min(top_k, n - 1)
    if k > 0:
        idx = cos.topk(k, dim=-1).indices
        keep = keep | torch.zeros_like(keep).scatter(-1, idx, True)
    keep = keep & pair_ok
    keep = keep | keep.transpose(1, 2)
    weights = cos.clamp_min(0.0).masked_fill(~pair_ok, 0.0)
    weights = torch.maximum(weights, weights.transpose(1, 2))
    return torch.where(keep, weights, torch.zeros_like(weights))


class GCNLayer(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, h: torch.Tensor, norm_adj: torch.Tensor) -> torch.Tensor:
        return F.relu(norm_adj @ self.linear(h))


@MODELS.register("kmgcn")
class KMGCN(DetectorModel):
    config_class = KMGCNConfig
    requires = frozenset({"text_tokens", "text_mask", "image_regions_unique", "has_image"})
    description = "GCN over word, concept and visual-object nodes with max-pool readout"
    paper = "Wang et al., KMGCN, ICMR 2020 (re-implemented from the paper)"
    deviations = (
        Deviation("word nodes", "words of the post", "the frozen encoder's token states (padding excluded)",
                  "no public code"),
        Deviation("visual nodes (substantially simplified)", "YOLOv3 object labels",
                  "the image encoder's regions, only when the item has an image", "no public code"),
        Deviation("knowledge nodes (substantially simplified)", "concepts retrieved from YAGO / Probase per "
                  "entity", "num_concepts learned embeddings shared by all posts", "no public code"),
        Deviation("edges", "positive PMI over a corpus sliding window", "cosine similarity of projected "
                  "nodes (>= edge_threshold or among the edge_top_k nearest), fixed per graph, symmetrised",
                  "no public code"),
        Deviation("background knowledge (WBG variant)", "target only (KMGCN paper); source+target MLP with "
                  "two hidden layers (NovEmoFake paper)", "the source gets its own graph through the same "
                  "GCN; readouts concatenated before the two-hidden-layer MLP", "no public code"),
    )

    def __init__(self, config: KMGCNConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        check_background("kmgcn", config.use_background, dims)
        c = config
        self.word_proj = nn.Linear(dims.text_dim, c.node_dim)
        self.object_proj = nn.Linear(dims.image_dim, c.node_dim)
        self.concepts = nn.Parameter(torch.randn(c.num_concepts, c.node_dim) * 0.1)
        self.type_embedding = nn.Embedding(3, c.node_dim)  # word, concept, object
        widths = [c.node_dim, *c.gcn_dims]
        self.gcn = nn.ModuleList([GCNLayer(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.dropout = nn.Dropout(c.dropout)
        sides = 2 if c.use_background else 1
        self.head = MLP(widths[-1] * sides, c.head_hidden, 2, "relu", c.dropout)
        if c.use_background:
            self.requires = self.requires | {"source_text_tokens", "source_text_mask",
                                             "source_image_regions", "has_source"}

    def build_nodes(self, batch: dict[str, torch.Tensor], prefix: str
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Node features (B, L + K + R, node_dim) and validity mask (words, concepts, objects)."""
        words = self.word_proj(batch[prefix + "text_tokens"])
        word_mask = batch[prefix + "text_mask"].bool()
        # the post's own image: projected once per distinct image of the batch (exact, fewer FLOPs)
        objects = (self.object_proj(batch[prefix + "image_regions"]) if prefix
                   else per_image(self.object_proj, batch))
        object_mask = image_valid_mask(batch, prefix)
        bsz = words.size(0)
        concepts = self.concepts.unsqueeze(0).expand(bsz, -1, -1)
        concept_mask = torch.ones(bsz, concepts.size(1), dtype=torch.bool, device=words.device)
        types = self.type_embedding.weight
        nodes = torch.cat([words + types[0], concepts + types[1], objects + types[2]], dim=1)
        mask = torch.cat([word_mask, concept_mask, object_mask], dim=1)
        return nodes, mask

    def encode(self, batch: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
        nodes, mask = self.build_nodes(batch, prefix)
        adj = similarity_graph(nodes.detach(), mask, self.config.edge_threshold,
                               self.config.edge_top_k)
        norm = normalized_adjacency(adj)
        h = nodes
        for layer in self.gcn:
            h = layer(self.dropout(h), norm)
        return h.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        feats = self.encode(batch, "")
        if self.config.use_background:
            feats = torch.cat([feats, self.encode(batch, "source_")], dim=1)
        logits, rep = self.head(feats)
        rep = rep if self.config.head_hidden else feats
        return classifier_output(logits, rep, batch)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "edge_threshold": trial.suggest_float("edge_threshold", 0.2, 0.8),
            "edge_top_k": trial.suggest_categorical("edge_top_k", [0, 4, 8, 16]),
            "num_concepts": trial.suggest_categorical("num_concepts", [8, 16, 32]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }
