"""CMC: Cross-Modal knowledge distillation for multi-modal fake news detection
(Wei et al., ICASSP 2022; code github.com/Doraemonzm/CMC).

Two stages, as in the paper and the released code:
1. a text network and an image network, each with its own classifier, learn together: each from its
   cross-entropy plus ``beta`` times a cross-modal contrastive distillation loss (CRD) between their
   features, embedded to 128-d and L2-normalised, with the other modality's view of the same post as
   the positive and posts of the other class as negatives (released ``train_twitter.py``: gamma 1,
   beta 0.3, the KL term's weight alpha 0, temperature 0.07);
2. both networks frozen, a linear classifier over their concatenated features is trained
   (released ``twitter_stage2_fc.py``).

Stage 1 runs in ``prepare`` on the training split only, for ``stage1_epochs``; the engine then trains
stage 2 (the linear layer) with the clean protocol. The text and image networks here are MLPs over
the frozen cached features; the released code fine-tunes BERT and VGG-19 (declared in
``deviations``).
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
from baselines.common import classification_loss, classifier_output, pretrain_on_train_split

log = logging.getLogger(__name__)


@dataclass
class CMCConfig(ModelConfig):
    lr: float = 1e-3  # stage 2
    batch_size: int = 32  # released stage 2 batch size
    max_epochs: int = 60  # released stage 2 epochs
    hidden_dim: int = 256  # width of each modality network's feature
    dropout: float = 0.5
    feat_dim: int = 128  # CRD embedding width (released --feat_dim)
    temperature: float = 0.07  # released --nce_t
    beta: float = 0.3  # weight of the distillation loss (released --beta)
    alpha: float = 0.0  # weight of the mutual KL term (released --alpha; 0 = off)
    kd_temperature: float = 4.0  # released --kd_T
    stage1_epochs: int = 30  # released train_twitter.py --epochs_num
    stage1_lr: float = 1e-3
    stage1_batch_size: int = 64


def cross_modal_nce(anchor: torch.Tensor, other: torch.Tensor, labels: torch.Tensor,
                    temperature: float) -> torch.Tensor:
    """Contrastive distillation with in-batch negatives of the other class (CRD's choice of negatives).

    ``anchor``, ``other`` (B, D) L2-normalised views of the same posts. For post i:
    ``-log(exp(a_i.o_i / T) / (exp(a_i.o_i / T) + sum_{j: y_j != y_i} exp(a_i.o_j / T)))``, mean over i;
    the loss is the mean of the two directions (anchor = each modality), as CRD sums its two sides."""
    def one_side(a: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        logits = a @ o.T / temperature
        keep = (labels.unsqueeze(0) != labels.unsqueeze(1)) | torch.eye(len(labels), dtype=torch.bool,
                                                                        device=labels.device)
        denominator = torch.logsumexp(logits.masked_fill(~keep, torch.finfo(logits.dtype).min), dim=1)
        return (denominator - logits.diagonal()).mean()
    return (one_side(anchor, other) + one_side(other, anchor)) / 2


def mutual_kl(logits_a: torch.Tensor, logits_b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Deep-mutual-learning KL, symmetric: KL(b || a) + KL(a || b) on softened outputs, times T^2."""
    la, lb = F.log_softmax(logits_a / temperature, -1), F.log_softmax(logits_b / temperature, -1)
    kl = F.kl_div(la, lb, log_target=True, reduction="batchmean") + F.kl_div(lb, la, log_target=True,
                                                                            reduction="batchmean")
    return kl * temperature ** 2


class _ModalityNet(nn.Module):
    def __init__(self, in_dim: int, hidden: int, feat_dim: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), FastDropout(dropout))
        self.classifier = nn.Linear(hidden, 2)
        self.embed = nn.Linear(hidden, feat_dim)  # CRD's Embed (linear + L2 norm)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.body(x)
        return feat, self.classifier(feat)


@MODELS.register("cmc")
class CMC(DetectorModel):
    config_class = CMCConfig
    requires = frozenset({"text_pooled", "image_pooled"})
    description = "Stage 1: text and image networks distil into each other contrastively; stage 2: linear fusion"
    paper = "Wei et al., CMC, ICASSP 2022"
    deviations = (
        Deviation("encoders (substitute encoders)", "BERT and VGG-19, fine-tuned in stage 1",
                  "frozen cached pooled features of the run's encoders, a trainable one-layer MLP (256-d) per "
                  "modality", "multilingual BERT-base (Twitter) and VGG-19 fine-tuned; stage 2 reads "
                  "VGG's flattened 25,088-d conv map and BERT's 768-d [CLS]"),
        Deviation("contrastive distillation", "cross-modal contrastive representation distillation",
                  "in-batch InfoNCE: positive = the other modality of the same post, negatives = the batch's "
                  "posts of the other class, both directions averaged",
                  "CRD with a momentum memory bank over the whole training set (nce_k = 6384 negatives of "
                  "the other class, NCE approximation)"),
        Deviation("stage 1 length", "not stated", "stage1_epochs = 30 fixed, no model selection",
                  "30 epochs, keeping the epoch best on its 'validation' loader, which is the test set"),
        Deviation("stage 1 optimisers", "not stated", "one Adam, lr 1e-3, batch 64",
                  "SGD 3e-4 (image) and Adam 2e-5 (text), batch 16"),
        Deviation("stage 2", "linear classifier on the frozen concatenated features",
                  "as the paper; Adam lr 1e-3, batch 32, up to 60 epochs, selected on validation",
                  "Adam 2e-5, 60 epochs, best epoch on the test set"),
    )

    def __init__(self, config: CMCConfig, dims: FeatureDims) -> None:
        super().__init__(config, dims)
        c = config
        self.text_net = _ModalityNet(dims.text_dim, c.hidden_dim, c.feat_dim, c.dropout)
        self.image_net = _ModalityNet(dims.image_dim, c.hidden_dim, c.feat_dim, c.dropout)
        for p in self._stage1_parameters():
            p.requires_grad_(False)  # trained in prepare (stage 1) only; frozen for stage 2
        self.fc = nn.Linear(2 * c.hidden_dim, 2)
        self._in_stage1 = False

    def train(self, mode: bool = True) -> "CMC":
        """Stage-1 networks stay in evaluation mode (no dropout) outside stage 1, as released."""
        super().train(mode)
        if not self._in_stage1:
            self.text_net.eval()
            self.image_net.eval()
        return self

    def _stage1_parameters(self) -> list[nn.Parameter]:
        return [*self.text_net.parameters(), *self.image_net.parameters()]

    def stage1_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Both networks' cross-entropies plus beta * contrastive distillation (+ alpha * mutual KL)."""
        c = self.config
        t_feat, t_logits = self.text_net(batch["text_pooled"])
        v_feat, v_logits = self.image_net(batch["image_pooled"])
        labels = batch["label"]
        loss = classification_loss(t_logits, labels) + classification_loss(v_logits, labels)
        t_emb = F.normalize(self.text_net.embed(t_feat), dim=-1)
        v_emb = F.normalize(self.image_net.embed(v_feat), dim=-1)
        loss = loss + c.beta * cross_modal_nce(v_emb, t_emb, labels, c.temperature)
        if c.alpha:
            loss = loss + c.alpha * mutual_kl(t_logits, v_logits, c.kd_temperature)
        return loss

    def prepare(self, features: FeatureSplits, context: PrepareContext) -> None:
        c = self.config
        self._in_stage1 = True
        self.train()
        try:
            history = pretrain_on_train_split(
                self._stage1_parameters(), self.stage1_loss, features.train, {"text_pooled", "image_pooled"},
                epochs=c.stage1_epochs, batch_size=c.stage1_batch_size, lr=c.stage1_lr, seed=context.seed,
                device=context.device, log_metrics=context.log_metrics, metric_name="pretrain_stage1_loss")
        finally:
            self._in_stage1 = False
            self.train()
        if history:
            log.info("CMC: stage 1 on %d training items, loss %.4f -> %.4f", len(features.train),
                     history[0], history[-1])

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutput:
        with torch.no_grad():  # frozen stage-1 networks (released: eval mode, no_grad)
            t_feat, _ = self.text_net(batch["text_pooled"])
            v_feat, _ = self.image_net(batch["image_pooled"])
        rep = torch.cat([v_feat, t_feat], dim=1)
        return classifier_output(self.fc(rep), rep, batch)

    @classmethod
    def search_space(cls, trial) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
            "beta": trial.suggest_float("beta", 0.05, 1.0, log=True),
            "stage1_epochs": trial.suggest_int("stage1_epochs", 5, 40),
        }
