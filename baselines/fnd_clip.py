"""FND-CLIP: multimodal fake news detection with contrastive language-image pre-training
(Zhou et al., ICME 2023; code github.com/zhouyangming/FND-CLIP-Fake-News-Detection, Weibo only).

As released (``network.py``): text = [BERT text feature, CLIP text feature], image = [ResNet-101
output, CLIP image feature]; each goes through an MLP to 64-d (uni-modal features); the CLIP pair,
concatenated, goes through its own MLP to 64-d (cross-modal feature) and is scaled by the CLIP
similarity, ``w * cos(clip_t, clip_v) + b`` (w, b learned); a squeeze-and-excitation attention over the
three 64-d features (average- and max-pooled over their width, a shared 3 -> 3 -> 3 MLP, sigmoid of the
sum) weights them, their weighted sum is classified by an MLP (64 -> 64 -> 64 -> 2). Adam 1e-3,
batch 64, 100 epochs.

CLIP cannot be installed offline here. Its stand-in: the run's two frozen encoders (text and image
features already cached) with two linear projections to 512-d trained *contrastively on the training
split only* (CLIP's symmetric InfoNCE, learned temperature, identical images or texts in a batch
counted as positives) in ``prepare``, then frozen, as CLIP is frozen in the released code. The
uni-modal branches read the run's encoders; with the paper's encoders
(``--text-encoder bert-base-chinese --image-encoder resnet101``) they match the released inputs up to
the layer weighting declared in ``deviations``.

With real CLIP weights (``bench run --clip-path DIR``, ``benchmark.encoders.clip``) the stand-in is
not built: the CLIP features are the frozen embeddings of that model (batch keys ``text_clip``,
``image_clip``), as released, and ``prepare`` trains nothing. The cell's identity then carries the
CLIP weights' hash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.deviations import Deviation
from benchmark.features import FeatureDims, FeatureSplits
from benchmark.models.base import DetectorModel, ModelConfig, ModelOutput, PrepareContext
from benchmark.models.layers import FastDropout
from benchmark.registry import MODELS
from baselines.common import classifier_output, pretrain_on_train_split

log = logging.getLogger(__name__)


@dataclass
class FNDCLIPConfig(ModelConfig):
    lr: float = 1e-3  # released trainITCN_1010.py
    batch_size: int = 64
    max_epochs: int = 100
    clip_dim: int = 512  # CLIP ViT-B/32 embedding width
    shared_dim: int = 256
    prime_dim: int = 64
    dropout: float = 0.5
    # the CLIP stand-in's contrastive pre-training on the training split
    clip_epochs: int = 20
    clip_lr: float = 1e-3
    clip_batch_size: int = 256


def contrastive_pair_loss(text: torch.Tensor, image: torch.Tensor, positives: torch.Tensor,
                          scale: torch.Tensor | float) -> torch.Tensor:
    """CLIP's symmetric InfoNCE with several positives per row.

    ``text``, ``image`` (B, D) L2-normalised; ``positives`` (B, B) bool with a True diagonal (pairs
    that count as matching, e.g. the same image posted twice); ``scale`` the inverse temperature.
    Each direction: mean over rows of ``-log(sum_pos exp(l) / sum_all exp(l))``, ``l = scale * t @ v.T``.
    With the identity as ``positives`` this is exactly CLIP's loss."""
    logits = scale * text @ image.T
    pos = positives.to(logits.dtype)
    neg_inf = torch.finfo(logits.dtype).min

    def direction(lg: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return (torch.logsumexp(lg, dim=1) - torch.logsumexp(lg.masked_fill(p == 0, neg_inf), dim=1)).mean()

    return (direction(logits, pos) + direction(logits.T, pos.T)) / 2


def modality_attention(features: torch.Tensor, senet: nn.Module) -> torch.Tensor:
    """FND-CLIP's squeeze-and-excitation over K features (B, K, D): per-feature weights (B, K) =
    ``sigmoid(senet(mean over D) + senet(max over D))``."""
    return torch.sigmoid(senet(features.mean(dim=2)) + senet(features.amax(dim=2)))


def _same_rows(x: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: rows ``i`` and ``j`` of ``x`` are identical (the same cached image or text).
    Through ``torch.unique`` over rows: comparing every pair element-wise cost B * B * D."""
    _, inverse = torch.unique(x, dim=0, return_inverse=True)
    return inverse.unsqueeze(1) == inverse.unsqueeze(0)


def _branch(in_dim: int, shared: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, shared), nn.ReLU(), FastDropout(dropout), nn.Linear(shared, out), nn.ReLU())


@MODELS.register("fnd_clip")
class FNDCLIP(DetectorModel):
    config_class = FNDCLIPConfig
    requires = frozenset({"text_pooled", "image_pooled"})
    optional_inputs = ("clip",)  # --clip-path: real CLIP embeddings instead of the stand-in
    description = "Uni-modal and CLIP-space features, similarity-scaled, fused by modality attention"
    paper = "Zhou et al., FND-CLIP, ICME 2023"
    deviations = (
        Deviation("CLIP (substitute encoders)", "frozen CLIP ViT-B/32 text and image encoders",
                  "without --clip-path: the run's frozen text and image encoders with linear projections to "
                  "512-d trained with CLIP's symmetric InfoNCE on the training split only (clip_epochs 20), "
                  "then frozen; with --clip-path DIR: that CLIP's frozen text and image embeddings, as in the "
                  "paper", ""),
        Deviation("text feature", "BERT", "the run's pooled text feature (last layer only)",
                  "frozen bert-base-chinese, its 13 layers' [CLS] mixed by learned softmax weights"),
        Deviation("image feature", "ResNet", "the run's pooled image feature", "ImageNet ResNet-101's 1000 "
                  "class logits, fine-tuned with the detector"),
        Deviation("similarity scaling", "the cross-modal feature scaled by the CLIP similarity",
                  "w * cos + b with learned w, b, as released (the paper's normalisation of the similarity "
                  "could not be checked here)", ""),
        Deviation("batch normalisation", "-", "left out (the engine may evaluate batches of one)",
                  "BatchNorm1d after every hidden layer"),
        Deviation("image choice", "-", "the item's first image", "a random one of the post's images, at test "
                  "time as well"),
        Deviation("model selection", "not stated", "clean protocol: validation split; test once",
                  "best test epoch (the test set is its only held-out split)"),
    )

    def __init__(self, config: FNDCLIPConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        # real CLIP embeddings when the run supplies them (--clip-path), else the trained stand-in
        self.real_clip = "text_clip" in dims.extras and "image_clip" in dims.extras
        if self.real_clip:
            if dims.extras["text_clip"] != dims.extras["image_clip"]:
                raise ValueError(f"CLIP text and image embeddings differ in width ({dims.extras['text_clip']} vs "
                                 f"{dims.extras['image_clip']}): not one CLIP model")
            clip_dim = int(dims.extras["text_clip"])
            self.requires = self.requires | {"text_clip", "image_clip"}
        else:
            clip_dim = c.clip_dim
            self.clip_text = nn.Linear(dims.text_dim, c.clip_dim)
            self.clip_image = nn.Linear(dims.image_dim, c.clip_dim)
            self.logit_scale = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(1 / 0.07)))))
            for p in self._clip_parameters():
                p.requires_grad_(False)  # frozen in the detector, as CLIP is; trained only in prepare
        self.text_uni = _branch(dims.text_dim + clip_dim, c.shared_dim, c.prime_dim, c.dropout)
        self.image_uni = _branch(dims.image_dim + clip_dim, c.shared_dim, c.prime_dim, c.dropout)
        self.cross = _branch(2 * clip_dim, c.shared_dim, c.prime_dim, c.dropout)
        self.sim_w = nn.Parameter(torch.rand(1))
        self.sim_b = nn.Parameter(torch.rand(1))
        self.senet = nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.Linear(3, 3))
        self.classifier_body = nn.Sequential(nn.Linear(c.prime_dim, c.prime_dim), nn.ReLU(),
                                             nn.Linear(c.prime_dim, c.prime_dim), nn.ReLU())
        self.classifier_out = nn.Linear(c.prime_dim, 2)

    def _clip_parameters(self) -> list[nn.Parameter]:
        return [*self.clip_text.parameters(), *self.clip_image.parameters(), self.logit_scale]

    def clip_features(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised CLIP text and image features: the real embeddings, or the stand-in's."""
        if self.real_clip:
            image = batch["image_clip"]
            image = image[:, 0] if image.dim() == 3 else image  # stored as one region
            return F.normalize(batch["text_clip"].float(), dim=-1), F.normalize(image.float(), dim=-1)
        return (F.normalize(self.clip_text(batch["text_pooled"]), dim=-1),
                F.normalize(self.clip_image(batch["image_pooled"]), dim=-1))

    def clip_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Contrastive loss of the CLIP stand-in on the batch's items that have an image."""
        keep = batch["has_image"].bool() if "has_image" in batch else torch.ones_like(batch["label"], dtype=torch.bool)
        text_in, image_in = batch["text_pooled"][keep], batch["image_pooled"][keep]
        if text_in.size(0) < 2:
            return self.logit_scale * 0.0
        same_image, same_text = _same_rows(image_in), _same_rows(text_in)
        t, v = self.clip_features({"text_pooled": text_in, "image_pooled": image_in})
        return contrastive_pair_loss(t, v, same_image | same_text, self.logit_scale.exp().clamp(max=100.0))

    def prepare(self, features: FeatureSplits, context: PrepareContext) -> None:
        c = self.config
        if self.real_clip:
            log.info("FND-CLIP: real CLIP embeddings (--clip-path); no stand-in to train")
            return
        self.train()
        history = pretrain_on_train_split(
            self._clip_parameters(), self.clip_loss, features.train, {"text_pooled", "image_pooled", "has_image"},
            epochs=c.clip_epochs, batch_size=c.clip_batch_size, lr=c.clip_lr, seed=context.seed,
            device=context.device, log_metrics=context.log_metrics, metric_name="pretrain_clip_loss")
        if history:
            log.info("FND-CLIP: CLIP stand-in trained on %d training items, contrastive loss %.4f -> %.4f",
                     len(features.train), history[0], history[-1])

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        clip_t, clip_v = self.clip_features(batch)
        text = self.text_uni(torch.cat([batch["text_pooled"], clip_t], dim=1))
        image = self.image_uni(torch.cat([batch["image_pooled"], clip_v], dim=1))
        sim = F.cosine_similarity(clip_t, clip_v, dim=-1, eps=1e-8)
        cross = self.cross(torch.cat([clip_t, clip_v], dim=1)) * (sim * self.sim_w + self.sim_b).unsqueeze(1)
        stacked = torch.stack([text, image, cross], dim=1)  # (B, 3, prime_dim)
        weights = modality_attention(stacked, self.senet)
        fused = (weights.unsqueeze(2) * stacked).sum(1)
        rep = self.classifier_body(fused)
        return classifier_output(self.classifier_out(rep), rep, batch)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.6),
            "clip_epochs": trial.suggest_int("clip_epochs", 5, 40),
        }
