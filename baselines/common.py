"""Building blocks shared by the re-implemented baselines (MLP heads, text CNN, masked pooling,
gradient reversal, background-knowledge helpers).

Kept in one module so each baseline file holds only what is distinctive about its paper.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.features import FeatureDims
from benchmark.models.base import ModelOutput
from benchmark.models.base import cross_entropy_terms as classification_loss
from benchmark.models.layers import ACTIVATIONS, TextCNN  # noqa: F401  (re-exported for the baselines)

SOURCE_TEXT_KEYS = frozenset({"source_text_tokens", "source_text_mask", "source_text_pooled"})
SOURCE_IMAGE_KEYS = frozenset({"source_image_regions", "source_image_pooled"})


class MLP(nn.Module):
    """Feed-forward network ``in -> hidden... -> out``; ``representation`` is the last hidden layer."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int = 2, activation: str = "tanh",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        layers: list[nn.Module] = []
        width = in_dim
        for size in hidden:
            layers += [nn.Linear(width, int(size)), ACTIVATIONS[activation](), nn.Dropout(dropout)]
            width = int(size)
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(width, out_dim)
        self.hidden_dim = width

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits, representation)``."""
        rep = self.body(x)
        return self.out(rep), rep


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:  # type: ignore[override]
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.lambd * grad_output, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-lambd`` backward (Ganin & Lempitsky 2015)."""
    return _GradientReversal.apply(x, lambd)


class GradientReversal(nn.Module):
    def __init__(self, lambd: float = 1.0) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambd)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid positions; zeros for a row with no valid position."""
    m = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * m).sum(1) / m.sum(1).clamp_min(1.0)


def image_valid_mask(batch: dict[str, torch.Tensor], prefix: str = "") -> torch.Tensor:
    """(B, R) bool: every region is valid when the item has an image (``has_image``/``has_source``).

    Reads B and R from ``image_regions``, or from ``image_regions_unique`` + ``image_row_inverse``."""
    if prefix or "image_regions" in batch:
        regions = batch[f"{prefix}image_regions"]
        n_items, n_regions, device = regions.size(0), regions.size(1), regions.device
    else:
        inverse = batch["image_row_inverse"]
        n_items, n_regions, device = inverse.numel(), batch["image_regions_unique"].size(1), inverse.device
    flag_key = "has_source" if prefix == "source_" else "has_image"
    flag = batch.get(flag_key)
    if flag is None:
        flag = torch.ones(n_items, dtype=torch.bool, device=device)
    return flag.bool().unsqueeze(1).expand(n_items, n_regions)


def check_background(model_name: str, use_background: bool, dims: FeatureDims) -> None:
    """Fail early, with the fix, when background knowledge is asked for on data without a source side."""
    if use_background and not dims.has_source:
        raise ValueError(
            f"model {model_name!r} was configured with use_background=True but the dataset has no "
            "source (background-knowledge) features (FeatureDims.has_source is False); use the "
            "'default' (W/O BG) variant on this dataset or a dataset with source text and images")


def classifier_output(logits: torch.Tensor, representation: torch.Tensor,
                      batch: dict[str, torch.Tensor]) -> ModelOutput:
    """ModelOutput of a model whose only loss is classification (losses only when labels are given)."""
    losses: dict[str, torch.Tensor] = {}
    if "label" in batch:
        cls = classification_loss(logits, batch["label"])
        losses = {"total": cls, "classification": cls}
    return ModelOutput(logits=logits, representation=representation, losses=losses)


def pretrain_on_train_split(params: Sequence[nn.Parameter], loss_fn, table, keys: set[str], *, epochs: int,
                            batch_size: int, lr: float, seed: int, device: torch.device | str = "cpu",
                            log_metrics=None, metric_name: str = "pretrain_loss") -> list[float]:
    """Adam on ``loss_fn(batch) -> scalar`` over shuffled batches of ``table`` (a training split only);
    mean loss per epoch. For a baseline's own first stage (FND-CLIP's projections, CMC's stage 1),
    run from ``prepare`` before the engine trains the rest: ``params`` are trainable during this call
    only and frozen (``requires_grad`` False, no gradient left) afterwards, so the engine's optimiser
    never sees them. Batches of one item are skipped."""
    params = list(params)
    if not params:
        raise ValueError("pretrain_on_train_split: no parameters to train")
    for p in params:
        p.requires_grad_(True)
    try:
        return _adam_epochs(params, loss_fn, table, keys, epochs, batch_size, lr, seed, device, log_metrics,
                            metric_name)
    finally:
        for p in params:
            p.requires_grad_(False)
            p.grad = None


def _adam_epochs(params, loss_fn, table, keys, epochs, batch_size, lr, seed, device, log_metrics,
                 metric_name) -> list[float]:
    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(int(seed))
    n = len(table)
    history: list[float] = []
    for epoch in range(int(epochs)):
        perm = torch.randperm(n, generator=generator)
        total, batches = 0.0, 0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            if len(idx) < 2:
                continue
            loss = loss_fn(table.batch(idx, keys, device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{metric_name}: non-finite loss at epoch {epoch}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        history.append(total / max(batches, 1))
        if log_metrics is not None:
            log_metrics({metric_name: history[-1]}, epoch)
    return history
