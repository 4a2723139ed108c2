"""Layers shared by the systems under study and the baselines: a Kim-style text CNN and the encoders,
fusion and SE-ResNet of the released CAFE / COOLANT Twitter code.

They live in ``benchmark`` (not ``baselines``) because COOLANT's as-released variant needs the same
CAFE-style detection encoders the CAFE baseline uses, and ``benchmark`` never imports ``baselines``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU,
}


class FastDropout(nn.Module):
    """Inverted dropout whose keep mask is ``torch.rand(...) < 1 - p``: on CPU 3x faster (forward +
    backward) than ``nn.Dropout``, whose ``bernoulli_`` mask was 23% of an MCAN training step.

    The same distribution as ``nn.Dropout`` (each element kept independently with probability 1 - p,
    to float32 resolution, and scaled by 1 / (1 - p)), drawn from torch's generator so a seed
    repeats; the draws themselves differ from ``nn.Dropout``'s. On CUDA it is ``F.dropout`` (fused).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or self.p == 1.0:
            return F.dropout(x, self.p, True)
        keep = 1.0 - self.p
        mask = torch.rand(x.shape, dtype=torch.float32) < keep
        return x * mask.to(x.dtype).mul_(1.0 / keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def per_image(layer: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``layer`` applied to every item's image regions, (B, R, ...): once per distinct image of the
    batch when it carries ``image_regions_unique`` (``FeatureTable.batch``; about 36 distinct images
    in a MediaEval batch of 64), then gathered per item; else to ``image_regions``. The same values
    either way, for a layer that acts on each image on its own."""
    if "image_regions_unique" in batch:
        return layer(batch["image_regions_unique"])[batch["image_row_inverse"]]
    return layer(batch["image_regions"])


def trailing_padding_cut(mask: torch.Tensor) -> int:
    """Slots to keep of a (B, L) token mask: through the batch's last real token (at least 1, so an
    all-padding batch keeps one slot). Slots after it are padding for every item of the batch."""
    real = mask.any(dim=0).nonzero()
    return int(real[-1]) + 1 if real.numel() else 1


class TextCNN(nn.Module):
    """Kim-style text CNN over token states: one conv per window size, ReLU-family, max over time.

    Padding positions are zeroed before the convolution and excluded from the max (set to -inf): a
    window is valid when it starts on a real token and fits in the ``L`` slots of the batch (a text
    shorter than a window gets the one window at its start, over zeros). ``masked_pool=False`` (the
    released COOLANT code) takes the max over every window, padding included, and ``batch_norm=True``
    adds its per-branch BatchNorm1d between convolution and activation.

    Computed in ``length_groups`` groups of items of similar length (sorted by their last real
    token), each cut after its longest text plus ``max(window) - 1`` zero slots: every valid window
    reads the same inputs as in the full padded batch, so the outputs are the padded computation's
    (``tests/test_baselines_exact_speedups.py`` keeps that reference), while the convolutions skip
    most of the padding (on MediaEval 39 real of 64 slots on average, and nearly every batch of 64
    holds one text that fills all 64, so cutting the batch as a whole saves nothing). 4 groups
    measured fastest for EANN and CAFE (1.4x and 1.1x per training step over one padded batch; 2
    and 8 were slower); ``length_groups=1`` is the padded batch.
    """

    def __init__(self, in_dim: int, windows: Sequence[int], filters: int, activation: str = "relu",
                 length_groups: int = 4, batch_norm: bool = False, masked_pool: bool = True) -> None:
        super().__init__()
        self.length_groups = int(length_groups)
        self.windows = [int(w) for w in windows]
        self.convs = nn.ModuleList([nn.Conv1d(in_dim, filters, w) for w in self.windows])
        # the released COOLANT FastCNN (twitter/mymodel.py 16-24): Conv1d -> BatchNorm1d -> ReLU ->
        # AdaptiveMaxPool1d per branch, the max taken over every slot, zero padding included
        self.norms = nn.ModuleList([nn.BatchNorm1d(filters) for _ in self.windows]) if batch_norm else None
        self.masked_pool = bool(masked_pool)
        self.act = ACTIVATIONS[activation]()
        self.out_dim = filters * len(self.windows)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        n_items, length = mask.shape
        # padding enters the batch-norm statistics and the unmasked max: only the full padded batch is exact
        if n_items <= 1 or self.length_groups <= 1 or self.norms is not None or not self.masked_pool:
            return self._padded(tokens, mask)
        slot = torch.arange(length, device=mask.device)
        last = torch.where(mask, slot + 1, 0).amax(dim=1)  # slots through each item's last real token
        order = torch.argsort(last, stable=True)
        extra = max(self.windows) - 1
        parts = []
        for group in order.chunk(self.length_groups):
            keep = min(length, int(last[group].max()) + extra)
            parts.append(self._padded(tokens[group, :keep], mask[group, :keep]))
        return torch.cat(parts)[torch.argsort(order)]

    def _padded(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = (tokens * mask.unsqueeze(-1)).transpose(1, 2)  # (B, D, L)
        feats = []
        for k, (window, conv) in enumerate(zip(self.windows, self.convs)):
            length = x.size(2)
            xx, mm = x, mask
            if length < window:
                xx = F.pad(x, (0, window - length))
                mm = F.pad(mask, (0, window - length))
            h = conv(xx)  # (B, F, L - w + 1)
            h = self.act(self.norms[k](h) if self.norms is not None else h)
            if not self.masked_pool:  # as released: the max over every window, padding included
                feats.append(h.max(dim=2).values)
                continue
            # a window is valid when it starts on a real token (covers at least one token)
            valid = mm[:, : h.size(2)]
            h = h.masked_fill(~valid.unsqueeze(1), float("-inf"))
            pooled = h.max(dim=2).values
            feats.append(torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled)))
        return torch.cat(feats, dim=1)


def mlp2(in_dim: int, hidden: int, out_dim: int, dropout: float = 0.0, batch_norm: bool = False,
          ) -> nn.Sequential:
    """Linear-(BN)-ReLU-Dropout-Linear-(BN)-ReLU, the released code's two-layer blocks."""
    def norm(width: int) -> list[nn.Module]:
        return [nn.BatchNorm1d(width)] if batch_norm else []
    return nn.Sequential(nn.Linear(in_dim, hidden), *norm(hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_dim), *norm(out_dim), nn.ReLU())


class CAFEEncoding(nn.Module):
    """The released ``EncodingPart``: text CNN (1/2/4/8, 32 ch.) -> 64 -> 128, image -> 256 -> 128."""

    def __init__(self, text_dim: int, image_dim: int, shared_dim: int = 128, channels: int = 32,
                 kernels: Sequence[int] = (1, 2, 4, 8), dropout: float = 0.5, batch_norm: bool = False,
                 released_cnn: bool = False) -> None:
        super().__init__()
        # released_cnn: COOLANT's FastCNN, per-branch batch norm and the max over zero padding too
        self.text_cnn = TextCNN(text_dim, kernels, channels, activation="relu", batch_norm=released_cnn,
                                masked_pool=not released_cnn)
        self.text_shared = mlp2(self.text_cnn.out_dim, 64, shared_dim, dropout, batch_norm)
        self.image_shared = mlp2(image_dim, 256, shared_dim, dropout, batch_norm)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, image: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text_shared(self.text_cnn(tokens, mask)), self.image_shared(image)


def correlation_matrix_pool(text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Released ``CrossModule4Batch`` before its FC: max over j of softmax_j(t_i v_j / sqrt(d)), (B, d)."""
    d = text.shape[-1]
    similarity = text.unsqueeze(2) * image.unsqueeze(1) / math.sqrt(d)  # (B, d, d)
    return torch.softmax(similarity, dim=-1).max(dim=-1).values


class _SEBlock1d(nn.Module):
    """Released ``SEBlock``: its squeeze is computed and then unused (the FC reads x), kept as released."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Conv1d(channels, channels // reduction, 1, bias=False), nn.ReLU(),
                                nn.Conv1d(channels // reduction, channels * 2, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.fc(x).split(x.shape[1], dim=1)
        return x * torch.sigmoid(w) + b


class _ResBlock1d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.path = nn.Sequential(
            nn.Conv1d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm1d(channels),
            _SEBlock1d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.path(x))


class SEResNet1d(nn.Module):
    """Released COOLANT ``Network(in, filters, blocks, classes)``: 1-D SE-ResNet returning LOG-softmax.

    Input (B, in_channel, L): the feature vectors as channels, the modalities as positions.
    """

    def __init__(self, in_channel: int, filters: int = 128, blocks: int = 19, classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(in_channel, filters, 3, padding=1, bias=False),
                                  nn.BatchNorm1d(filters), nn.ReLU())
        self.blocks = nn.Sequential(*[_ResBlock1d(filters) for _ in range(blocks - 1)])
        self.out_conv = nn.Sequential(nn.Conv1d(filters, 128, 1, bias=False), nn.BatchNorm1d(128), nn.ReLU())
        self.fc = nn.Linear(128, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.out_conv(self.blocks(self.stem(x))).mean(dim=-1)
        return F.log_softmax(self.fc(x), dim=-1)
