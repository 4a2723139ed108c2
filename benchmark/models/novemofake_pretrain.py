"""Pre-training of NovEmoFake's novelty and emotion modules, the emotion PCA, and their on-disk cache.

NovEmoFake trains in two stages (paper section 4, 5.1): the novelty module is pre-trained with the
supervised contrastive loss (1000 epochs, LARS, batch 512) and the image-emotion MLP with a
class-weighted cross-entropy (100 epochs, Adam, batch 128); a PCA reduces the emotion features to
128-d; only then is the detector trained on top of the frozen modules. Pre-training is by far the
costliest step and is identical for every cell that shares the training data, config and seed (PMN and
PMNE share the novelty module; PME and PMNE the emotion module), so each product is stored once under
the suite's cache directory, keyed by a content hash of exactly the training tensors it was computed
from, the config fields that affect it and the seed.

Leakage rules kept here: everything is computed from the training split only (the authors' released
notebooks pre-trained the contrastive head and fitted the PCA on all 11,766 pairs, test included, and
put the fake-news label into the emotion scaffold; none of that is reproduced).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from benchmark.features import FeatureTable
from benchmark.models.lars import make_lars
from benchmark.models.supcon import supervised_contrastive_loss

log = logging.getLogger(__name__)

PAPER_PRETRAIN_EPOCHS = 1000  # novelty (SCL) pre-training epochs stated in section 5.1
PAPER_PRETRAIN_BATCH_SIZE = 512
PAPER_EMOTION_EPOCHS = 100  # emotion pre-training: 100 epochs, Adam, batch 128
PAPER_EMOTION_BATCH_SIZE = 128
ARTIFACT_VERSION = 2  # bump when the pre-training code changes what an artifact holds


# ---------------------------------------------------------------------------------------------------
# content hashing and the artifact cache
# ---------------------------------------------------------------------------------------------------

def _update_with_tensor(h: "hashlib._Hash", tensor: torch.Tensor) -> None:
    t = tensor.detach().to("cpu").contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16; hash its bit pattern
        t = t.view(torch.int16)
    h.update(t.numpy().tobytes())


def tensor_digest(*tensors: torch.Tensor) -> str:
    """SHA-256 of the dtypes, shapes and bytes of ``tensors``."""
    h = hashlib.sha256()
    for tensor in tensors:
        _update_with_tensor(h, tensor)
    return h.hexdigest()


def table_digest(table: FeatureTable, keys: Iterable[str]) -> str:
    """SHA-256 of a table's labels and the named feature columns, without materialising shared rows."""
    h = hashlib.sha256()
    _update_with_tensor(h, table.labels)
    for key in sorted(set(keys)):
        h.update(key.encode())
        if key in table.columns:
            _update_with_tensor(h, table.columns[key])
        elif key in table.shared:
            rows, index = table.shared[key]
            _update_with_tensor(h, rows)
            _update_with_tensor(h, index)
        else:
            h.update(b"<absent>")
    return h.hexdigest()


def artifact_key(kind: str, data_digest: str, settings: dict[str, Any], seed: int) -> str:
    """Cache key of one pre-trained product: what it was trained on, how, and with which seed."""
    blob = json.dumps({"kind": kind, "version": ARTIFACT_VERSION, "data": data_digest,
                       "settings": settings, "seed": int(seed)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def load_or_create(cache_dir: Path | str | None, kind: str, key: str,
                   create: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Path | None, bool]:
    """Return ``(payload, path, created)``: the cached payload for ``key`` or a fresh one (then stored).

    Without a cache directory the payload is always created and nothing is written.
    """
    if cache_dir is None:
        return create(), None, True
    path = Path(cache_dir) / "novemofake" / f"{kind}-{key}.pt"
    if path.exists():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            log.info("NovEmoFake: reusing pre-trained %s from %s", kind, path)
            return payload, path, False
        except Exception as exc:  # a truncated file from a killed run: rebuild it
            log.warning("NovEmoFake: could not read cached %s (%s: %s); re-training it",
                        path, type(exc).__name__, exc)
    payload = create()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: a concurrent cell sees the old state or the whole file
    return payload, path, True


# ---------------------------------------------------------------------------------------------------
# PCA (Eq. 5: FE = PCA(FE1)), fitted on training rows only
# ---------------------------------------------------------------------------------------------------

def fit_pca(x: torch.Tensor, n_components: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal axes of ``x`` (N, D): returns ``(mean (D,), components (n_components, D))``.

    Centred explicitly, axes from the SVD of the centred data, each axis signed so its largest-magnitude
    entry is positive (deterministic). When N or D limits the rank below ``n_components``, the missing
    axes are zero rows, so the output width stays fixed (the detector's layers are built before data).
    """
    if x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(f"fit_pca needs a non-empty (N, D) matrix; got shape {tuple(x.shape)}")
    x = x.detach().double()
    mean = x.mean(dim=0)
    centred = x - mean
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    k = min(n_components, vh.shape[0])
    components = vh[:k]
    pivot = components.abs().argmax(dim=1)
    pivot_values = components.gather(1, pivot.view(-1, 1))
    components = torch.where(pivot_values < 0, -components, components)
    if k < n_components:
        components = torch.cat([components, components.new_zeros(n_components - k, x.shape[1])])
    return mean.float(), components.float()


def pca_transform(x: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """Project ``x`` (N, D) on fitted axes: ``(x - mean) @ components.T`` -> (N, n_components)."""
    return (x - mean) @ components.T


# ---------------------------------------------------------------------------------------------------
# emotion pre-training (Eq. 3, weighted cross-entropy)
# ---------------------------------------------------------------------------------------------------

def emotion_class_weights(labels: torch.Tensor, num_classes: int = 2) -> torch.Tensor:
    """Balanced class weights ``N / (K * n_c)`` (0 for a class absent from ``labels``).

    The paper says only that it "optimize[s] the weighted cross-entropy loss" because the emotion
    classes are unbalanced; inverse frequency normalised so a balanced set gets weight 1 is the usual
    choice (scikit-learn's ``class_weight='balanced'``).
    """
    counts = torch.bincount(labels.long(), minlength=num_classes)[:num_classes].double()
    total = counts.sum()
    weights = torch.where(counts > 0, total / (num_classes * counts.clamp_min(1)), torch.zeros_like(counts))
    return weights.float()


def grouped_validation_split(features: torch.Tensor, labels: torch.Tensor, fraction: float, seed: int
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train_idx, validation_idx)`` of an emotion set, whole groups of identical rows on one side.

    Rows with identical features are the same photo (the emotion set is featurised per file content,
    so byte-identical copies give identical rows): grouping by row keeps every copy on one side.
    About ``fraction`` of the groups of each emotion class (the group's first label) go to validation,
    at least one per class that has two or more groups; ``fraction`` 0 gives an empty validation side.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"emotion_validation_fraction must be in [0, 1); got {fraction}")
    n = features.shape[0]
    _, group = torch.unique(features.detach().float().cpu().reshape(n, -1), dim=0, return_inverse=True)
    n_groups = int(group.max()) + 1 if n else 0
    first = torch.full((n_groups,), n, dtype=torch.long).scatter_reduce(0, group, torch.arange(n), "amin")
    group_label = labels.cpu().long()[first]
    generator = torch.Generator().manual_seed(int(seed))
    validation_groups: list[torch.Tensor] = []
    for cls in sorted(set(group_label.tolist())):
        members = (group_label == cls).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        take = int(round(fraction * len(members)))
        if fraction > 0 and take == 0 and len(members) >= 2:
            take = 1
        validation_groups.append(members[:take])
    in_validation = torch.zeros(n_groups, dtype=torch.bool)
    if validation_groups:
        in_validation[torch.cat(validation_groups)] = True
    on_validation = in_validation[group]
    return (~on_validation).nonzero().flatten(), on_validation.nonzero().flatten()


@torch.no_grad()
def emotion_accuracy(module: nn.Module, image_features: torch.Tensor, emotion_labels: torch.Tensor
                     ) -> dict[str, float]:
    """The emotion classifier on held-out photos: accuracy, balanced accuracy, the majority share
    (accuracy of always answering the commoner group) and the number of photos."""
    if image_features.shape[0] == 0:
        return {}
    module.eval()
    device = next(module.parameters()).device
    _, logits = module(image_features.float().to(device))
    pred, y = logits.argmax(-1).cpu(), emotion_labels.long().cpu()
    recalls = [float((pred[y == k] == k).float().mean()) for k in (0, 1) if bool((y == k).any())]
    share = float(y.float().mean())
    return {"accuracy": float((pred == y).float().mean()), "balanced_accuracy": sum(recalls) / len(recalls),
            "majority_share": max(share, 1 - share), "items": float(len(y))}


def pretrain_emotion(module: nn.Module, image_features: torch.Tensor, emotion_labels: torch.Tensor, *,
                     epochs: int, batch_size: int, lr: float, seed: int,
                     device: torch.device | str = "cpu",
                     log_metrics: Callable[[dict, int], None] | None = None) -> list[float]:
    """Train the emotion MLP (module(images) -> (hidden, logits)) with class-weighted CE; mean loss per epoch.

    ``image_features`` (N, Dv) and ``emotion_labels`` (N,) in {0, 1}: 0 = joy/love/sadness,
    1 = fear/surprise/anger. Any emotion image set can be passed (the paper's UnbiasedEmo + ArtPhoto
    once featurised, or the training items that carry an emotion label).
    """
    if image_features.shape[0] != emotion_labels.shape[0] or image_features.shape[0] == 0:
        raise ValueError(f"emotion pre-training needs matching non-empty features and labels; got "
                         f"{tuple(image_features.shape)} and {tuple(emotion_labels.shape)}")
    if bool(((emotion_labels < 0) | (emotion_labels > 1)).any()):
        raise ValueError("emotion labels must be 0 (joy/love/sadness) or 1 (fear/surprise/anger)")
    device = torch.device(device)
    module.to(device).train()
    x = image_features.float().to(device)
    y = emotion_labels.long().to(device)
    weights = emotion_class_weights(y.cpu()).to(device)
    criterion = nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history: list[float] = []
    for epoch in range(int(epochs)):
        perm = torch.randperm(x.shape[0], generator=generator).to(device)
        total, batches = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            idx = perm[start:start + batch_size]
            _, logits = module(x[idx])
            loss = criterion(logits, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        history.append(total / max(batches, 1))
        if log_metrics is not None:
            log_metrics({"pretrain_emotion_loss": history[-1]}, epoch)
    module.eval()
    return history


# ---------------------------------------------------------------------------------------------------
# novelty pre-training (Eq. 2, supervised contrastive loss on target and source views)
# ---------------------------------------------------------------------------------------------------

def warmup_linear_decay(step: int, total_steps: int, warmup_fraction: float) -> float:
    """LR multiplier: linear warm-up over ``warmup_fraction`` of the steps, then linear decay to 0.

    The paper names no schedule; the authors' released pre-training uses transformers'
    ``get_linear_schedule_with_warmup`` with a third of the steps as warm-up.
    """
    warmup = int(math.floor(total_steps * warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def pretrain_novelty(module: nn.Module, table: FeatureTable, keys: set[str], *, epochs: int,
                     batch_size: int, optimizer: str, lr: float, weight_decay: float,
                     lars_eta: float, lars_momentum: float, warmup_fraction: float, temperature: float,
                     seed: int, device: torch.device | str = "cpu",
                     log_metrics: Callable[[dict, int], None] | None = None) -> list[float]:
    """Train the novelty encoder + projection head with the supervised contrastive loss.

    ``module.contrastive_views(batch)`` must return ``(z, labels)``: the L2-normalised 128-d projections
    of every target and of every present source in the batch, with their news labels (the released code
    stacks target and source as the two "views" of SupConLoss). Returns the mean loss per epoch.
    """
    device = torch.device(device)
    module.to(device).train()
    n = len(table)
    if n < 2:
        raise ValueError(f"novelty pre-training needs at least 2 training pairs; got {n}")
    if optimizer == "lars":
        opt: torch.optim.Optimizer = make_lars(module, lr=lr, weight_decay=weight_decay,
                                               momentum=lars_momentum, eta=lars_eta)
    elif optimizer == "adam":
        opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr,
                               weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown pretrain_optimizer {optimizer!r}; choose 'lars' or 'adam'")
    steps_per_epoch = sum(1 for s in range(0, n, batch_size) if min(batch_size, n - s) >= 2)
    total_steps = max(1, steps_per_epoch * int(epochs))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: warmup_linear_decay(step, total_steps, warmup_fraction))
    generator = torch.Generator().manual_seed(seed)
    history: list[float] = []
    for epoch in range(int(epochs)):
        perm = torch.randperm(n, generator=generator)
        total, batches = 0.0, 0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            if len(idx) < 2:
                continue
            batch = table.batch(idx, keys, device)
            z, labels = module.contrastive_views(batch)
            loss = supervised_contrastive_loss(z, labels, temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            scheduler.step()
            total += float(loss.detach())
            batches += 1
        history.append(total / max(batches, 1))
        if log_metrics is not None:
            log_metrics({"pretrain_supcon_loss": history[-1]}, epoch)
    module.eval()
    return history
